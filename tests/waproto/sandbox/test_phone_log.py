"""Log entries: kinds, summaries, receipt states that only move forward, readable lines and JSON."""

from __future__ import annotations

from waproto.jid import JID
from waproto.proto import Message
from waproto.sandbox.phone_log import LogEntry, kind_of, media_fields

CHAT = JID("15550002222", "s.whatsapp.net")


def _entry(message: Message) -> LogEntry:
    return LogEntry.make("ID", "out", CHAT, JID("15550001111", "s.whatsapp.net"), 10, message, "pending")


def test_kinds_and_summaries() -> None:
    ext = Message()
    ext.extended_text_message.text = "long"
    image = Message()
    image.image_message.caption = "cap"
    image.image_message.mimetype = "image/jpeg"
    reaction = Message()
    reaction.reaction_message.text = "👍"
    location = Message()
    location.location_message.degrees_latitude = 1.0
    cases = [
        (Message(conversation="hi"), "text", "hi"),
        (ext, "text", "long"),
        (image, "image", "cap"),
        (reaction, "reaction", "👍"),
        (location, "location", None),
        (Message(), "other", None),
    ]
    for message, kind, text in cases:
        entry = _entry(message)
        assert (kind_of(message), entry.kind, entry.text) == (kind, kind, text)
    assert media_fields(image) is not None
    assert media_fields(ext) is None
    sticker = Message()
    sticker.sticker_message.mimetype = "image/webp"
    assert _entry(sticker).text is None


def test_states_move_forward_only() -> None:
    entry = _entry(Message(conversation="x"))
    entry.advance("server")
    entry.advance("read", by="b:1")
    entry.advance("delivered", by="b:1")
    entry.advance("delivered", by="b:2")
    assert entry.state == "read"
    assert entry.receipts == {"b:1": "read", "b:2": "delivered"}
    failed = _entry(Message(conversation="y"))
    failed.advance("failed", detail="404")
    failed.advance("server")
    assert (failed.state, failed.detail) == ("failed", "404")
    assert failed.to_json()["error"] == "404"


def test_line_and_json() -> None:
    document = Message()
    document.document_message.file_name = "a.pdf"
    document.document_message.mimetype = "application/pdf"
    document.document_message.file_length = 3
    document.document_message.file_sha256 = b"\x00" * 32
    entry = _entry(document)
    entry.media_bytes = b"abc"
    assert entry.line() == (
        "10 → 15550002222@s.whatsapp.net (15550001111@s.whatsapp.net) document [a.pdf] (3 bytes decrypted) [pending]"
    )
    data = entry.to_json()
    assert data["file_name"] == "a.pdf"
    assert data["mimetype"] == "application/pdf"
    assert data["decrypted"] is True
    assert "media_key" not in data


def test_state_round_trip_and_garbage() -> None:
    import pytest

    from waproto.errors import DecodeError

    entry = _entry(Message(conversation="keep me"))
    entry.advance("delivered", by="x")
    again = LogEntry.from_state(entry.to_state())
    assert (again.text, again.state, again.receipts, again.chat) == (
        "keep me",
        "delivered",
        {"x": "delivered"},
        CHAT,
    )
    good = entry.to_state()
    for bad in (
        {},
        {**good, "direction": "sideways"},
        {**good, "state": "lost"},
        {**good, "message": "!!"},
        {**good, "message": "AQ=="},  # not a Message protobuf
        {**good, "chat": "no jid"},
        {**good, "receipts": {"x": "nope"}},
        {**good, "timestamp": "soon"},
        "not even a dict",
    ):
        with pytest.raises(DecodeError):
            LogEntry.from_state(bad)
