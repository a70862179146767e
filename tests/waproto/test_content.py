"""waproto.content: unwrapping, classification, the ``mediatype`` attribute, ``describe`` and the builders.

The interop tests hand the bytes of messages we build to Baileys 6 and 7 (``content.inspect`` in
``tests/interop/ops/content.mjs``): its ``normalizeMessageContent`` + ``getContentType`` must find the
content field that our ``unwrap`` + ``classify`` found, with the fields we set.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.interop.harness import Harness
from tests.waproto.proto.samples import random_messages
from waproto.content import (
    MAX_DEPTH,
    WRAPPERS,
    MessageKind,
    UploadedMedia,
    audio_message,
    classify,
    describe,
    document_message,
    image_message,
    media_part,
    media_type_attr,
    unwrap,
    video_message,
    wrappers_of,
)
from waproto.errors import LocalProtocolError
from waproto.media import MediaType
from waproto.proto import Message, decode

KEY = bytes(range(32))
PLAIN_SHA = bytes([0xAB]) * 32
ENC_SHA = bytes([0xCD]) * 32


def uploaded(media_type: MediaType = MediaType.IMAGE) -> UploadedMedia:
    return UploadedMedia(
        url="https://mmg.example/v/t62.7118-24/x.enc?ccb=11-4",
        direct_path="/v/t62.7118-24/x.enc?ccb=11-4",
        media_key=KEY,
        file_sha256=PLAIN_SHA,
        file_enc_sha256=ENC_SHA,
        file_length=1234,
        media_key_timestamp=1_700_000_000,
        media_type=media_type,
    )


def wrap(message: Message, *names: str) -> Message:
    """``message`` inside the wrappers ``names`` (the first is the outermost)."""
    for name in reversed(names):
        outer = Message()
        getattr(outer, name).message.CopyFrom(message)
        message = outer
    return message


def text(value: str = "hi") -> Message:
    return Message(conversation=value)


# ---------------------------------------------------------------------------------------------- unwrap


@pytest.mark.parametrize("name", WRAPPERS)
def test_unwrap_peels_each_wrapper(name: str) -> None:
    wrapped = wrap(text(), name)
    assert wrappers_of(wrapped) == (name,)
    assert unwrap(wrapped) == text()


def test_unwrap_peels_nested_wrappers_and_keeps_the_outer_context_info() -> None:
    wrapped = wrap(text(), "ephemeral_message", "view_once_message_v2", "edited_message")
    wrapped.message_context_info.message_secret = b"s" * 32
    before = wrapped.SerializeToString()
    inner = unwrap(wrapped)
    assert inner.conversation == "hi"
    assert inner.message_context_info.message_secret == b"s" * 32
    assert wrapped.SerializeToString() == before  # the argument is untouched


def test_unwrap_prefers_the_inner_context_info() -> None:
    inner = text()
    inner.message_context_info.message_secret = b"i" * 32
    wrapped = wrap(inner, "ephemeral_message")
    wrapped.message_context_info.message_secret = b"o" * 32
    assert unwrap(wrapped).message_context_info.message_secret == b"i" * 32


def test_unwrap_returns_an_unwrapped_message_itself() -> None:
    message = text()
    assert unwrap(message) is message
    assert wrappers_of(message) == ()


def test_unwrap_leaves_device_sent_and_empty_wrappers_alone() -> None:
    device_sent = Message()
    device_sent.device_sent_message.destination_jid = "1@s.whatsapp.net"
    device_sent.device_sent_message.message.conversation = "x"
    assert unwrap(device_sent) is device_sent
    empty = Message()
    empty.ephemeral_message.SetInParent()  # a wrapper with no message inside
    assert unwrap(empty) is empty
    assert classify(empty) == "unknown"


def test_unwrap_stops_at_max_depth() -> None:
    deep = wrap(text(), *(["ephemeral_message"] * (MAX_DEPTH + 1)))
    assert len(wrappers_of(deep)) == MAX_DEPTH
    left = unwrap(deep)
    assert left.HasField("ephemeral_message")
    assert unwrap(left).conversation == "hi"


# ---------------------------------------------------------------------------------------------- classify


def _media(field_name: str, /, **fields: Any) -> Message:
    message = Message()
    part = getattr(message, field_name)
    part.SetInParent()
    for key, value in fields.items():
        setattr(part, key, value)
    return message


def _contacts() -> Message:
    message = Message()
    message.contacts_array_message.contacts.add(display_name="A", vcard="BEGIN:VCARD")
    return message


def _reaction() -> Message:
    message = Message()
    message.reaction_message.text = "👍"
    message.reaction_message.key.id = "3EB0AA"
    return message


def _protocol() -> Message:
    message = Message()
    message.protocol_message.type = Message.ProtocolMessage.REVOKE
    message.protocol_message.key.id = "3EB0BB"
    return message


def _with_skdm(message: Message) -> Message:
    out = Message()
    out.sender_key_distribution_message.group_id = "1-2@g.us"
    out.MergeFrom(message)
    return out


# (message, kind, <enc mediatype>, Baileys' content field name)
CASES: list[tuple[str, Message, MessageKind, str | None, str]] = [
    ("conversation", text(), "text", None, "conversation"),
    ("extended", _media("extended_text_message", text="see https://x"), "text", None, "extendedTextMessage"),
    ("image", _media("image_message", caption="c"), "image", "image", "imageMessage"),
    ("document", _media("document_message", file_name="a.pdf"), "document", "document", "documentMessage"),
    ("video", _media("video_message", seconds=3), "video", "video", "videoMessage"),
    ("gif", _media("video_message", gif_playback=True), "video", "gif", "videoMessage"),
    ("ptv", _media("ptv_message", seconds=2), "video", "video", "ptvMessage"),
    ("audio", _media("audio_message", seconds=4), "audio", "audio", "audioMessage"),
    ("ptt", _media("audio_message", ptt=True), "audio", "ptt", "audioMessage"),
    ("sticker", _media("sticker_message", is_animated=True), "sticker", "sticker", "stickerMessage"),
    ("location", _media("location_message", degrees_latitude=52.5, degrees_longitude=13.4), "location", None,
     "locationMessage"),
    ("live_location", _media("live_location_message", degrees_latitude=1.5), "location", None,
     "liveLocationMessage"),
    ("contact", _media("contact_message", display_name="Bob", vcard="BEGIN:VCARD"), "contact", "vcard",
     "contactMessage"),
    ("contacts", _contacts(), "contact", "contact_array", "contactsArrayMessage"),
    ("reaction", _reaction(), "reaction", None, "reactionMessage"),
    ("protocol", _protocol(), "unknown", None, "protocolMessage"),
    ("poll", _media("poll_creation_message", name="?"), "unknown", None, "pollCreationMessage"),
    ("skdm_and_text", _with_skdm(text()), "text", None, "conversation"),
    ("view_once_image", wrap(_media("image_message", caption="v"), "view_once_message"), "image", "image",
     "imageMessage"),
    ("view_once_v2_video", wrap(_media("video_message"), "view_once_message_v2"), "video", "video",
     "videoMessage"),
    ("view_once_v2_ext_ptt", wrap(_media("audio_message", ptt=True), "view_once_message_v2_extension"),
     "audio", "ptt", "audioMessage"),
    ("ephemeral_text", wrap(text(), "ephemeral_message"), "text", None, "conversation"),
    ("document_with_caption", wrap(_media("document_message", caption="c"), "document_with_caption_message"),
     "document", "document", "documentMessage"),
    ("edited_text", wrap(text("new"), "edited_message"), "text", None, "conversation"),
    ("ephemeral_view_once_image",
     wrap(_media("image_message"), "ephemeral_message", "view_once_message"), "image", "image", "imageMessage"),
]
# Baileys 6's normalizeMessageContent knows no lottie / associated-child / group-status wrappers; 7 does
# the latter two (and whatsmeow the lottie one), so these are checked against ourselves only.
OWN_CASES: list[tuple[str, Message, MessageKind, str | None]] = [
    ("lottie_sticker", wrap(_media("sticker_message"), "lottie_sticker_message"), "sticker", "sticker"),
    ("bot_invoke", wrap(text(), "bot_invoke_message"), "text", None),
    ("associated_child", wrap(_media("image_message"), "associated_child_message"), "image", "image"),
    ("group_status", wrap(text(), "group_status_message"), "text", None),
    ("empty", Message(), "unknown", None),
    ("skdm_only", _with_skdm(Message()), "unknown", None),
]


@pytest.mark.parametrize(("message", "kind", "mediatype"),
                         [pytest.param(m, k, t, id=i) for i, m, k, t, _ in CASES]
                         + [pytest.param(m, k, t, id=i) for i, m, k, t in OWN_CASES])
def test_classify_and_mediatype(message: Message, kind: MessageKind, mediatype: str | None) -> None:
    assert classify(message) == kind
    assert media_type_attr(message) == mediatype


def test_the_first_content_field_decides() -> None:
    both = Message(conversation="t")
    both.image_message.caption = "c"
    assert classify(both) == "text"  # field 1 before field 3, as Baileys' getContentType


def test_media_part() -> None:
    assert media_part(text()) is None
    found = media_part(wrap(_media("ptv_message", seconds=1), "view_once_message"))
    assert found is not None
    name, media_type, part = found
    assert (name, media_type, part.seconds) == ("ptv_message", MediaType.VIDEO, 1)
    sticker = media_part(_media("sticker_message"))
    assert sticker is not None
    assert sticker[1] is MediaType.STICKER


# ---------------------------------------------------------------------------------------------- describe


def test_describe_image_has_no_key_material() -> None:
    message = image_message(uploaded(), mimetype="image/jpeg", caption="cap", width=640, height=480,
                            jpeg_thumbnail=b"\xff\xd8thumb")
    out = describe(wrap(message, "view_once_message_v2"))
    assert out == {
        "viewOnce": True,
        "caption": "cap",
        "mimetype": "image/jpeg",
        "fileLength": 1234,
        "fileSha256": PLAIN_SHA.hex(),
        "width": 640,
        "height": 480,
        "mediaType": "image",
    }
    dumped = json.dumps(out)
    for secret in (KEY.hex(), ENC_SHA.hex(), base64.b64encode(KEY).decode(), "mmg.example", "/v/t62"):
        assert secret not in dumped


def test_describe_document_video_audio_sticker() -> None:
    doc = document_message(uploaded(MediaType.DOCUMENT), mimetype="application/pdf", file_name="a.pdf",
                           caption="read")
    assert describe(doc) == {
        "fileName": "a.pdf", "caption": "read", "mimetype": "application/pdf", "fileLength": 1234,
        "fileSha256": PLAIN_SHA.hex(), "mediaType": "document",
    }
    gif = video_message(uploaded(MediaType.GIF), mimetype="video/mp4", seconds=3, gif_playback=True)
    assert describe(gif) == {
        "mimetype": "video/mp4", "fileLength": 1234, "fileSha256": PLAIN_SHA.hex(), "seconds": 3,
        "gifPlayback": True, "mediaType": "gif",
    }
    note = audio_message(uploaded(MediaType.PTT), mimetype="audio/ogg; codecs=opus", seconds=7, ptt=True)
    assert describe(note) == {
        "mimetype": "audio/ogg; codecs=opus", "fileLength": 1234, "fileSha256": PLAIN_SHA.hex(), "seconds": 7,
        "ptt": True, "mediaType": "ptt",
    }
    ptv = describe(_media("ptv_message", seconds=2))
    assert ptv == {"ptv": True, "seconds": 2, "mediaType": "video"}
    sticker = describe(_media("sticker_message", is_animated=True, width=512, mimetype="image/webp"))
    assert sticker == {"mimetype": "image/webp", "width": 512, "animated": True, "mediaType": "sticker"}


def test_describe_text_with_context() -> None:
    message = Message()
    ext = message.extended_text_message
    ext.text = "hello @1"
    ext.context_info.stanza_id = "3EB0QUOTED"
    ext.context_info.participant = "1@s.whatsapp.net"
    ext.context_info.mentioned_jid.append("1@s.whatsapp.net")
    ext.context_info.is_forwarded = True
    ext.context_info.expiration = 86400
    assert describe(wrap(message, "ephemeral_message")) == {
        "ephemeral": True,
        "text": "hello @1",
        "quotedMessageId": "3EB0QUOTED",
        "quotedParticipant": "1@s.whatsapp.net",
        "mentions": ["1@s.whatsapp.net"],
        "forwarded": True,
        "expiration": 86400,
    }
    assert describe(text("plain")) == {"text": "plain"}


def test_describe_location_contact_reaction() -> None:
    place = _media("location_message", degrees_latitude=52.5, degrees_longitude=13.4, name="Home",
                   address="Street 1", jpeg_thumbnail=b"jpg")
    assert describe(place) == {"latitude": 52.5, "longitude": 13.4, "name": "Home", "address": "Street 1"}
    live = describe(_media("live_location_message", degrees_latitude=1.0, caption="moving"))
    assert live == {"latitude": 1.0, "caption": "moving", "live": True}
    contact = describe(_media("contact_message", display_name="Bob", vcard="BEGIN:VCARD"))
    assert contact == {"displayName": "Bob", "vcard": "BEGIN:VCARD"}
    assert describe(_contacts()) == {"contacts": [{"displayName": "A", "vcard": "BEGIN:VCARD"}]}
    reaction = _reaction()
    reaction.reaction_message.key.remote_jid = "2@s.whatsapp.net"
    reaction.reaction_message.key.from_me = True
    assert describe(reaction) == {
        "text": "👍", "targetId": "3EB0AA", "targetChat": "2@s.whatsapp.net", "targetFromMe": True,
    }


def test_describe_protocol_poll_and_others() -> None:
    assert describe(_protocol()) == {"protocolType": "revoke", "targetId": "3EB0BB"}
    edit = Message()
    edit.protocol_message.type = Message.ProtocolMessage.MESSAGE_EDIT
    edit.protocol_message.key.id = "3EB0CC"
    edit.protocol_message.edited_message.conversation = "fixed"
    assert describe(wrap(edit, "edited_message")) == {
        "edited": True, "protocolType": "message_edit", "targetId": "3EB0CC", "editedContent": {"text": "fixed"},
    }
    unknown_type = Message()
    unknown_type.protocol_message.type = 999  # type: ignore[assignment]
    assert describe(unknown_type) == {"protocolType": 999}
    poll = Message()
    poll.poll_creation_message_v3.name = "Lunch?"
    poll.poll_creation_message_v3.options.add(option_name="yes")
    poll.poll_creation_message_v3.options.add(option_name="no")
    poll.poll_creation_message_v3.selectable_options_count = 1
    assert describe(poll) == {"poll": {"name": "Lunch?", "options": ["yes", "no"], "selectableCount": 1}}
    history = Message()
    history.fast_ratchet_key_sender_key_distribution_message.group_id = "g"
    history.message_context_info.message_secret = b"x"
    assert describe(history) == {}
    assert describe(Message()) == {}


def test_describe_names_content_it_does_not_summarise() -> None:
    message = Message()
    message.device_sent_message.destination_jid = "1@s.whatsapp.net"
    assert describe(message) == {"contentField": "device_sent_message"}


def test_describe_drops_non_finite_floats() -> None:
    place = _media("location_message", degrees_latitude=float("nan"), degrees_longitude=float("inf"), name="x")
    assert json.dumps(describe(place), allow_nan=False) == '{"name": "x"}'


@settings(max_examples=60, deadline=None)
@given(random_messages(Message.DESCRIPTOR, depth=2))
def test_describe_is_json_and_never_leaks_media_keys(message: Any) -> None:
    out = describe(message)
    dumped = json.dumps(out, allow_nan=False)
    inner = unwrap(message)
    found = media_part(inner)
    if found is not None and len(found[2].media_key) >= 4:
        assert found[2].media_key.hex() not in dumped
        assert base64.b64encode(found[2].media_key).decode() not in dumped
    assert classify(message) in MessageKind.__args__  # type: ignore[attr-defined]
    # classification and the summary survive a serialisation round trip
    again = decode(Message, message.SerializeToString())
    assert classify(again) == classify(message)
    assert describe(again) == out


_PARTS = ("image_message", "video_message", "ptv_message", "audio_message", "document_message", "sticker_message")


@st.composite
def wrapped_media(draw: st.DrawFn) -> Message:
    name = draw(st.sampled_from(_PARTS))
    field = Message.DESCRIPTOR.fields_by_name[name]
    part = draw(random_messages(field.message_type, depth=1))
    message = Message()
    getattr(message, name).CopyFrom(part)
    getattr(message, name).media_key = draw(st.binary(min_size=32, max_size=32))
    return wrap(message, *draw(st.lists(st.sampled_from(WRAPPERS), max_size=MAX_DEPTH)))


@settings(max_examples=150, deadline=None)
@given(wrapped_media())
def test_wrapped_media_is_found_and_its_key_never_described(message: Message) -> None:
    found = media_part(message)
    assert found is not None
    assert classify(message) in ("image", "video", "audio", "document", "sticker")
    assert media_type_attr(message) is not None
    dumped = json.dumps(describe(message), allow_nan=False)
    key = found[2].media_key
    assume(key != found[2].file_sha256)  # a digest may be described, so it must not equal the key here
    assert key.hex() not in dumped
    assert base64.b64encode(key).decode() not in dumped


# ---------------------------------------------------------------------------------------------- builders


def test_image_message_carries_the_upload() -> None:
    message = image_message(uploaded(), mimetype="image/png", caption="c", width=1, height=2)
    part = message.image_message
    assert (part.url, part.direct_path) == (uploaded().url, uploaded().direct_path)
    assert (part.media_key, part.file_sha256, part.file_enc_sha256) == (KEY, PLAIN_SHA, ENC_SHA)
    assert (part.file_length, part.media_key_timestamp, part.mimetype) == (1234, 1_700_000_000, "image/png")
    assert (part.caption, part.width, part.height) == ("c", 1, 2)
    assert not part.HasField("jpeg_thumbnail")
    bare = image_message(uploaded(), mimetype="image/png").image_message
    assert not bare.HasField("caption")
    assert not bare.HasField("width")


def test_document_message_carries_name_and_caption() -> None:
    part = document_message(uploaded(MediaType.DOCUMENT), mimetype="text/plain", file_name="n.txt").document_message
    assert (part.file_name, part.HasField("caption"), part.media_key) == ("n.txt", False, KEY)


def test_video_and_audio_messages() -> None:
    video = video_message(uploaded(MediaType.VIDEO), mimetype="video/mp4", caption="v", seconds=1, width=2,
                          height=3).video_message
    assert (video.caption, video.seconds, video.width, video.height, video.gif_playback) == ("v", 1, 2, 3, False)
    audio = audio_message(uploaded(MediaType.AUDIO), mimetype="audio/mpeg").audio_message
    assert (audio.ptt, audio.HasField("seconds"), audio.mimetype) == (False, False, "audio/mpeg")


@pytest.mark.parametrize(
    ("build", "media_type"),
    [
        (lambda u: image_message(u, mimetype="image/png"), MediaType.DOCUMENT),
        (lambda u: image_message(u, mimetype="image/png"), MediaType.STICKER),
        (lambda u: document_message(u, mimetype="a/b", file_name="f"), MediaType.IMAGE),
        (lambda u: video_message(u, mimetype="video/mp4"), MediaType.AUDIO),
        (lambda u: audio_message(u, mimetype="audio/ogg"), MediaType.VIDEO),
    ],
)
def test_builders_refuse_uploads_of_another_type(build: Any, media_type: MediaType) -> None:
    with pytest.raises(LocalProtocolError, match="expand the key differently"):
        build(uploaded(media_type))


def test_builders_refuse_an_empty_mimetype() -> None:
    with pytest.raises(LocalProtocolError, match="mimetype"):
        image_message(uploaded(), mimetype="")


def test_uploaded_media_repr_hides_the_key() -> None:
    assert KEY.hex() not in repr(uploaded())
    assert repr(KEY) not in repr(uploaded())


# ---------------------------------------------------------------------------------------------- interop

_FIELD_NAMES = {
    "conversation": "conversation",
    "extended_text_message": "extendedTextMessage",
    "image_message": "imageMessage",
    "document_message": "documentMessage",
    "video_message": "videoMessage",
    "ptv_message": "ptvMessage",
    "audio_message": "audioMessage",
    "sticker_message": "stickerMessage",
}


def _built() -> list[tuple[str, Message]]:
    image = image_message(uploaded(), mimetype="image/jpeg", caption="cap", width=10, height=20)
    doc = document_message(uploaded(MediaType.DOCUMENT), mimetype="application/pdf", file_name="r.pdf",
                           caption="see")
    video = video_message(uploaded(MediaType.VIDEO), mimetype="video/mp4", caption="v", seconds=5)
    audio = audio_message(uploaded(MediaType.PTT), mimetype="audio/ogg; codecs=opus", seconds=2, ptt=True)
    return [
        ("image", image),
        ("document", doc),
        ("video", video),
        ("ptt", audio),
        ("view_once_image", wrap(image, "view_once_message_v2")),
        ("document_with_caption", wrap(doc, "document_with_caption_message")),
        ("ephemeral_video", wrap(video, "ephemeral_message")),
    ]


@pytest.mark.interop
@pytest.mark.parametrize("lib", ["v6", "v7"])
@pytest.mark.parametrize(("message", "kind", "field"),
                         [pytest.param(m, k, f, id=i) for i, m, k, _, f in CASES])
def test_baileys_finds_the_content_we_classify(baileys: Harness, lib: str, message: Message, kind: str,
                                               field: str) -> None:
    answer = baileys.call("content.inspect", lib=lib, data=message.SerializeToString())
    assert answer["type"] == field
    assert classify(message) == kind


@pytest.mark.interop
@pytest.mark.parametrize(("message", "field", "kind"), [
    pytest.param(wrap(_media("image_message"), "associated_child_message"), "imageMessage", "image",
                 id="associated_child"),
    pytest.param(wrap(text(), "group_status_message"), "conversation", "text", id="group_status"),
])
def test_baileys_7_unwraps_the_newer_wrappers_as_we_do(baileys: Harness, message: Message, field: str,
                                                        kind: str) -> None:
    assert baileys.call("content.inspect", lib="v7", data=message.SerializeToString())["type"] == field
    # Baileys 6 does not know them: it stops at the wrapper, where we go on.
    assert baileys.call("content.inspect", lib="v6", data=message.SerializeToString())["type"] != field
    assert classify(message) == kind


@pytest.mark.interop
@pytest.mark.parametrize("lib", ["v6", "v7"])
@pytest.mark.parametrize(("name", "message"), _built())
def test_messages_we_build_decode_in_baileys(baileys: Harness, lib: str, name: str, message: Message) -> None:
    answer = baileys.call("content.inspect", lib=lib, data=message.SerializeToString())
    found = media_part(message)
    assert found is not None
    field, _, part = found
    assert answer["type"] == _FIELD_NAMES[field]
    obj = answer["object"]
    assert obj["mediaKey"] == base64.b64encode(KEY).decode()
    assert obj["fileSha256"] == base64.b64encode(PLAIN_SHA).decode()
    assert obj["fileEncSha256"] == base64.b64encode(ENC_SHA).decode()
    assert obj["fileLength"] == "1234"
    assert obj["mediaKeyTimestamp"] == "1700000000"
    assert obj["directPath"] == uploaded().direct_path
    assert obj["url"] == uploaded().url
    assert obj["mimetype"] == part.mimetype
    if "caption" in part.DESCRIPTOR.fields_by_name:
        assert obj["caption"] == part.caption
    if field == "document_message":
        assert obj["fileName"] == "r.pdf"
    if field == "audio_message":
        assert obj["ptt"] is True
    if field == "image_message":
        assert (obj["width"], obj["height"]) == (10, 20)
