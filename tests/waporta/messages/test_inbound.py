"""waporta.messages.inbound: the InboundMessage payload (text, group, LID sender, from_me, media, wrapped
content, redaction, immutability, JSON record round trip, garbage records)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.waporta.messages.helpers import (
    GROUP,
    ME,
    PAYLOAD_KEYS,
    PEER,
    PEER_LID,
    inbound,
    received,
)
from waporta.messages import (
    EVENT,
    REDACTED,
    InboundMessage,
    redact,
)
from waproto.proto import Message


def test_text_payload() -> None:
    payload = inbound().as_payload()
    assert set(payload) == PAYLOAD_KEYS
    assert payload == {
        "event": EVENT,
        "sessionId": "sales",
        "messageId": "3EB0AAAAAAAAAAAAAAAAAA",
        "sender": "15550002222@s.whatsapp.net",
        "recipient": "15550001111@s.whatsapp.net",  # our account, without our device
        "timestamp": 1_760_000_000,
        "messageType": "text",
        "content": {"text": "hello"},
        "raw": {
            "key": {
                "remoteJid": "15550002222@s.whatsapp.net",
                "fromMe": False,
                "id": "3EB0AAAAAAAAAAAAAAAAAA",
            },
            "message": {"conversation": "hello"},
            "messageTimestamp": 1_760_000_000,
            "pushName": "Bob",
        },
    }
    assert json.loads(json.dumps(payload)) == payload


def test_group_payload() -> None:
    message = inbound(chat=GROUP, sender=PEER.with_device(3), group=True, text="hi all")
    assert message.is_group
    assert message.recipient == GROUP
    assert message.sender == PEER
    assert message.sender_device == PEER.with_device(3)
    payload = message.as_payload()
    assert (payload["sender"], payload["recipient"]) == (
        "15550002222@s.whatsapp.net",
        "120363000000000001@g.us",
    )
    assert payload["raw"]["key"] == {
        "remoteJid": "120363000000000001@g.us",
        "fromMe": False,
        "id": "3EB0AAAAAAAAAAAAAAAAAA",
        "participant": "15550002222:3@s.whatsapp.net",
    }


def test_lid_sender_with_its_phone_number() -> None:
    message = inbound(chat=PEER_LID, sender=PEER_LID.with_device(2), sender_alt=PEER)
    assert message.sender == PEER  # the phone number wins when the stanza named both
    assert message.sender_alt == PEER_LID
    assert message.sender_device == PEER_LID.with_device(2)
    payload = message.as_payload()
    assert payload["sender"] == "15550002222@s.whatsapp.net"
    assert payload["raw"]["key"]["remoteJid"] == "123456789012345@lid"
    assert payload["raw"]["key"]["remoteJidAlt"] == "15550002222@s.whatsapp.net"


def test_lid_sender_without_its_phone_number() -> None:
    message = inbound(chat=PEER_LID, sender=PEER_LID.with_device(2))
    assert (message.sender, message.sender_alt) == (PEER_LID, None)
    assert message.as_payload()["sender"] == "123456789012345@lid"


def test_pn_sender_keeps_its_lid_as_alt() -> None:
    message = inbound(sender_alt=PEER_LID)
    assert (message.sender, message.sender_alt) == (PEER, PEER_LID)


def test_from_me_is_addressed_to_the_chat() -> None:
    message = inbound(sender=ME, from_me=True, push_name=None, text="sent from my phone")
    assert message.from_me
    assert message.sender == ME.to_non_ad()
    payload = message.as_payload()
    assert payload["recipient"] == "15550002222@s.whatsapp.net"
    assert payload["raw"]["key"]["fromMe"] is True
    assert "pushName" not in payload["raw"]


def test_media_content_is_described_and_raw_keeps_base64_bytes() -> None:
    message = Message()
    message.image_message.mimetype = "image/jpeg"
    message.image_message.caption = "a cat"
    message.image_message.media_key = b"\x01\x02\x03"
    message.image_message.file_length = 5
    payload = inbound(message=message, kind="unknown", text=None).as_payload()
    assert payload["messageType"] == "image"  # waproto.content.classify, not the Messenger's own guess
    assert payload["content"] == {
        "caption": "a cat",
        "mimetype": "image/jpeg",
        "fileLength": 5,
        "mediaType": "image",
    }
    image = payload["raw"]["message"]["imageMessage"]
    assert image["mediaKey"] == base64.b64encode(b"\x01\x02\x03").decode()  # raw is the whole message
    assert image["fileLength"] == "5"  # protobuf's JSON: 64-bit integers as strings
    json.dumps(payload)


def test_wrapped_content_is_unwrapped_for_the_kind_and_content() -> None:
    message = Message()
    message.ephemeral_message.message.extended_text_message.text = "vanishing"
    payload = inbound(message=message).as_payload()
    assert payload["messageType"] == "text"
    assert payload["content"] == {"ephemeral": True, "text": "vanishing"}
    assert payload["raw"]["message"] == {
        "ephemeralMessage": {"message": {"extendedTextMessage": {"text": "vanishing"}}}
    }


def test_given_kind_and_content_replace_the_default() -> None:
    message = InboundMessage.from_received("s", received(), me=ME, kind="reaction", content={"text": "👍"})
    assert (message.kind, dict(message.content)) == ("reaction", {"text": "👍"})


def test_secret_named_keys_are_redacted_at_any_depth() -> None:
    content = {
        "text": "hi",
        "Authorization": "Bearer x",
        "nested": [{"token": "t", "ok": 1}, {"deeper": {"PASSWORD": "p", "x-api-key": "k"}}],
        "apikey": {"even": "a mapping"},
        "secretive": "kept: only whole names count",
    }
    raw = {"key": {"id": "1"}, "secret": "s"}
    message = InboundMessage.from_received("s", received(), me=ME)
    message = InboundMessage(
        **{**{f: getattr(message, f) for f in message.__slots__}, "content": content, "raw": raw}
    )
    payload = message.as_payload()
    assert payload["content"] == {
        "text": "hi",
        "Authorization": REDACTED,
        "nested": [{"token": REDACTED, "ok": 1}, {"deeper": {"PASSWORD": REDACTED, "x-api-key": REDACTED}}],
        "apikey": REDACTED,
        "secretive": "kept: only whole names count",
    }
    assert payload["raw"] == {"key": {"id": "1"}, "secret": REDACTED}
    assert dict(message.content)["Authorization"] == "Bearer x"  # the message itself keeps them
    assert redact([{"Token": 1}, "x"]) == [{"Token": REDACTED}, "x"]


def test_the_message_is_immutable_and_payloads_are_fresh() -> None:
    message = inbound()
    with pytest.raises(AttributeError):
        message.kind = "image"  # type: ignore[misc]
    with pytest.raises(TypeError):
        message.content["text"] = "changed"  # type: ignore[index]
    first = message.as_payload()
    first["content"]["text"] = "changed"
    first["raw"]["key"]["id"] = "changed"
    assert message.as_payload()["content"] == {"text": "hello"}
    assert message.as_payload()["raw"]["key"]["id"] == "3EB0AAAAAAAAAAAAAAAAAA"
    assert hash(message) == hash(inbound())
    assert message == inbound()


def test_record_round_trip_and_the_protobuf_back() -> None:
    original = inbound(chat=GROUP, sender=PEER_LID.with_device(1), sender_alt=PEER, group=True)
    again = InboundMessage.from_record(json.loads(json.dumps(original.to_record())))
    assert again == original
    assert again.as_payload() == original.as_payload()
    assert again.message() == Message(conversation="hello")
    with pytest.raises(ValueError, match="not an inbound message record"):
        InboundMessage.from_record({"session_id": "s"})
    with pytest.raises(ValueError, match="not an inbound message record"):
        InboundMessage.from_record({**original.to_record(), "chat": "not a jid@@"})


def test_record_json_is_the_record() -> None:
    message = inbound(chat=GROUP, sender=PEER_LID.with_device(1), sender_alt=PEER, group=True, text="ü")
    assert message.to_record_json() == json.dumps(message.to_record(), ensure_ascii=False, separators=(",", ":"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150)
@given(
    st.dictionaries(
        st.sampled_from(sorted(inbound().to_record())) | st.text(max_size=8), json_values, max_size=16
    ),
    st.booleans(),
)
def test_from_record_of_garbage_raises_only_value_error(garbage: dict[str, Any], start_valid: bool) -> None:
    record = {**inbound().to_record(), **garbage} if start_valid else garbage
    try:
        message = InboundMessage.from_record(record)
    except ValueError:
        return
    json.dumps(message.as_payload())
