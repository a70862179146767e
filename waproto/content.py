"""What a decrypted ``Message`` holds: unwrapping, classification, a JSON summary, and builders for media.

A ``Message`` (``waproto.proto``) normally carries one content field (``conversation``, ``image_message``,
...) beside bookkeeping (``message_context_info``, a sender-key distribution). Several kinds of message
put the content one or more levels down, inside a ``FutureProofMessage`` wrapper: ephemeral
(disappearing), view-once v1/v2/v2-extension, document-with-caption, edited, lottie sticker, bot invoke,
associated child and group status. :func:`unwrap` peels those (at most :data:`MAX_DEPTH` levels, as Baileys
and whatsmeow do), keeping the outer ``message_context_info`` when the inner message has none.

- :func:`classify` names the content: ``text`` (``conversation``, ``extended_text_message``), ``image``,
  ``document``, ``video`` (``gif_playback`` videos and ``ptv`` round videos too), ``audio`` (voice notes,
  ``ptt``, too), ``location`` (also live), ``contact`` (also arrays), ``reaction``, ``sticker`` or
  ``unknown`` (protocol messages, polls, anything else). Like Baileys' ``getContentType``, the first
  content field in field-number order decides.
- :func:`media_type_attr` is the ``mediatype`` attribute a sender puts on each ``<enc>`` (image, video,
  gif, ptt, audio, document, sticker, vcard, contact_array; None for non-media), as whatsmeow and Baileys
  name them.
- :func:`describe` is a JSON-able summary for webhooks, camelCase keys, never key material: no media keys,
  no urls or direct paths, no thumbnails; digests only as hex (``fileSha256``).
- :func:`image_message`, :func:`document_message`, :func:`video_message`, :func:`audio_message` build
  the content for media that was encrypted and uploaded (an :class:`UploadedMedia`, which
  ``waproto.client.media.MediaClient.upload`` returns).

This module is pure (no I/O, no clock, no randomness). It is NOT the device-sent unwrapping (the messaging
layer does that, since it changes who the message is for), NOT media transfer (``waproto.client.media``)
and NOT media crypto (``waproto.media``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from waproto.errors import LocalProtocolError
from waproto.media import MediaType
from waproto.proto import ContextInfo, Message

__all__ = [
    "MAX_DEPTH",
    "WRAPPERS",
    "MessageKind",
    "UploadedMedia",
    "audio_message",
    "classify",
    "describe",
    "document_message",
    "image_message",
    "media_part",
    "media_type_attr",
    "unwrap",
    "video_message",
    "wrappers_of",
]

#: What a message is, for the hub and its webhooks.
MessageKind = Literal[
    "text", "image", "document", "video", "audio", "location", "contact", "reaction", "sticker", "unknown"
]

#: The ``FutureProofMessage`` wrapper fields :func:`unwrap` peels, in the order they are looked for.
WRAPPERS: Final[tuple[str, ...]] = (
    "bot_invoke_message",
    "ephemeral_message",
    "view_once_message",
    "view_once_message_v2",
    "view_once_message_v2_extension",
    "lottie_sticker_message",
    "document_with_caption_message",
    "edited_message",
    "associated_child_message",
    "group_status_message",
)
#: At most this many wrapper levels are peeled (a deeper nesting is left as it is).
MAX_DEPTH: Final = 5
_WRAPPER_SET: Final = frozenset(WRAPPERS)

# Fields that are never "the content" (Baileys' getContentType skips them too).
_NOT_CONTENT: Final = frozenset(
    {"sender_key_distribution_message", "fast_ratchet_key_sender_key_distribution_message", "message_context_info"}
)
_KINDS: Final[dict[str, MessageKind]] = {
    "conversation": "text",
    "extended_text_message": "text",
    "image_message": "image",
    "contact_message": "contact",
    "contacts_array_message": "contact",
    "location_message": "location",
    "live_location_message": "location",
    "document_message": "document",
    "audio_message": "audio",
    "video_message": "video",
    "ptv_message": "video",
    "sticker_message": "sticker",
    "reaction_message": "reaction",
}
# The media parts a message may carry, and the key-expansion type of each.
_MEDIA_PARTS: Final[tuple[tuple[str, MediaType], ...]] = (
    ("image_message", MediaType.IMAGE),
    ("video_message", MediaType.VIDEO),
    ("ptv_message", MediaType.VIDEO),
    ("audio_message", MediaType.AUDIO),
    ("document_message", MediaType.DOCUMENT),
    ("sticker_message", MediaType.STICKER),
)
# Which uploads each builder accepts: the key expansion (HKDF info) must be the one the receiver uses.
_IMAGE_KEYS: Final = frozenset({MediaType.IMAGE})
_VIDEO_KEYS: Final = frozenset({MediaType.VIDEO, MediaType.GIF, MediaType.PTV})
_AUDIO_KEYS: Final = frozenset({MediaType.AUDIO, MediaType.PTT})
_DOCUMENT_KEYS: Final = frozenset({MediaType.DOCUMENT})


@dataclass(frozen=True, slots=True)
class UploadedMedia:
    """A media file encrypted and uploaded: everything a media message must carry to be downloadable.

    ``media_key`` is the secret that decrypts the file; it is left out of ``repr``.
    """

    #: Full download URL the media server answered with.
    url: str
    #: The server's ``direct_path`` (``/v/...?...``), downloadable from any media host.
    direct_path: str
    #: The 32-byte media key (secret).
    media_key: bytes = field(repr=False)
    #: SHA-256 of the plaintext.
    file_sha256: bytes
    #: SHA-256 of the uploaded (encrypted) file.
    file_enc_sha256: bytes
    #: Length of the plaintext, in bytes.
    file_length: int
    #: Unix seconds when the media key was made.
    media_key_timestamp: int
    #: The type the file was encrypted (keys expanded) and uploaded as.
    media_type: MediaType = MediaType.IMAGE


# ---------------------------------------------------------------------------------------------- unwrap


def wrappers_of(message: Message) -> tuple[str, ...]:
    """The wrapper fields :func:`unwrap` would peel from ``message``, outermost first."""
    seen: list[str] = []
    current = message
    for _ in range(MAX_DEPTH):
        name = _wrapper(current)
        if name is None:
            break
        seen.append(name)
        current = getattr(current, name).message
    return tuple(seen)


def _wrapper(message: Message) -> str | None:
    # ListFields names the few fields that are set: most messages have no wrapper field among them.
    if _WRAPPER_SET.isdisjoint([descriptor.name for descriptor, _ in message.ListFields()]):
        return None
    for name in WRAPPERS:
        if message.HasField(name) and getattr(message, name).HasField("message"):
            return name
    return None


def unwrap(message: Message) -> Message:
    """The content inside any ephemeral / view-once / document-with-caption / edited / ... wrappers.

    A message without wrappers is returned as it is. Otherwise the innermost message is returned as a copy,
    carrying the outermost ``message_context_info`` when it has none of its own. ``device_sent_message`` is
    NOT unwrapped here. The argument is never modified.
    """
    names = wrappers_of(message)
    if not names:
        return message
    inner = message
    for name in names:
        inner = getattr(inner, name).message
    result = Message()
    result.CopyFrom(inner)
    if not result.HasField("message_context_info") and message.HasField("message_context_info"):
        result.message_context_info.CopyFrom(message.message_context_info)
    return result


# ---------------------------------------------------------------------------------------------- classify


def _content_field(message: Message) -> str | None:
    for descriptor, _ in message.ListFields():  # set fields, in field-number order
        if descriptor.name not in _NOT_CONTENT:
            return str(descriptor.name)
    return None


def classify(message: Message) -> MessageKind:
    """The kind of content ``message`` carries (after :func:`unwrap`); see the module docstring."""
    name = _content_field(unwrap(message))
    return "unknown" if name is None else _KINDS.get(name, "unknown")


def media_part(message: Message) -> tuple[str, MediaType, Any] | None:
    """``(field name, key-expansion type, submessage)`` of the media ``message`` carries after
    :func:`unwrap` (image, video, ptv, audio, document, sticker), or None."""
    inner = unwrap(message)
    for name, media_type in _MEDIA_PARTS:
        if inner.HasField(name):
            return name, media_type, getattr(inner, name)
    return None


def media_type_attr(message: Message) -> str | None:
    """The ``<enc mediatype>`` value for ``message`` (after :func:`unwrap`), or None when it is not media."""
    inner = unwrap(message)
    if inner.HasField("image_message"):
        return "image"
    if inner.HasField("sticker_message"):
        return "sticker"
    if inner.HasField("document_message"):
        return "document"
    if inner.HasField("audio_message"):
        return "ptt" if inner.audio_message.ptt else "audio"
    if inner.HasField("video_message"):
        return "gif" if inner.video_message.gif_playback else "video"
    if inner.HasField("ptv_message"):
        return "video"
    if inner.HasField("contact_message"):
        return "vcard"
    if inner.HasField("contacts_array_message"):
        return "contact_array"
    return None


# ---------------------------------------------------------------------------------------------- describe

_FLAGS: Final[dict[str, str]] = {
    "ephemeral_message": "ephemeral",
    "view_once_message": "viewOnce",
    "view_once_message_v2": "viewOnce",
    "view_once_message_v2_extension": "viewOnce",
    "edited_message": "edited",
}


def _put(out: dict[str, object], sub: Any, pairs: tuple[tuple[str, str], ...]) -> None:
    """Copy the fields of ``sub`` that are set, under their camelCase names."""
    for proto_name, key in pairs:
        if sub.HasField(proto_name):
            value = getattr(sub, proto_name)
            if isinstance(value, float) and not math.isfinite(value):
                continue  # NaN and infinities have no JSON form
            out[key] = value.hex() if isinstance(value, bytes) else value


def _context(out: dict[str, object], sub: Any) -> None:
    if not sub.HasField("context_info"):
        return
    info: ContextInfo = sub.context_info
    if info.HasField("stanza_id"):
        out["quotedMessageId"] = info.stanza_id
    if info.HasField("participant"):
        out["quotedParticipant"] = info.participant
    if info.mentioned_jid:
        out["mentions"] = list(info.mentioned_jid)
    if info.is_forwarded:
        out["forwarded"] = True
    if info.HasField("expiration") and info.expiration:
        out["expiration"] = info.expiration


_FILE: Final = (("mimetype", "mimetype"), ("file_length", "fileLength"), ("file_sha256", "fileSha256"))


def _text(out: dict[str, object], m: Message) -> None:
    if m.HasField("conversation"):
        out["text"] = m.conversation
        return
    ext = m.extended_text_message
    out["text"] = ext.text
    _put(out, ext, (("matched_text", "matchedText"), ("title", "title"), ("description", "description")))
    _context(out, ext)


def _image(out: dict[str, object], m: Message) -> None:
    part = m.image_message
    _put(out, part, (("caption", "caption"), *_FILE, ("width", "width"), ("height", "height")))
    if part.view_once:
        out["viewOnce"] = True
    _context(out, part)


def _document(out: dict[str, object], m: Message) -> None:
    part = m.document_message
    _put(out, part, (("file_name", "fileName"), ("caption", "caption"), ("title", "title"), *_FILE,
                     ("page_count", "pageCount")))
    _context(out, part)


def _video_part(out: dict[str, object], part: Any) -> None:
    _put(out, part, (("caption", "caption"), *_FILE, ("seconds", "seconds"), ("width", "width"),
                     ("height", "height")))
    if part.gif_playback:
        out["gifPlayback"] = True
    if part.view_once:
        out["viewOnce"] = True
    _context(out, part)


def _video(out: dict[str, object], m: Message) -> None:
    _video_part(out, m.video_message)


def _ptv(out: dict[str, object], m: Message) -> None:
    out["ptv"] = True
    _video_part(out, m.ptv_message)


def _audio(out: dict[str, object], m: Message) -> None:
    part = m.audio_message
    _put(out, part, (*_FILE, ("seconds", "seconds")))
    out["ptt"] = bool(part.ptt)
    _context(out, part)


def _sticker(out: dict[str, object], m: Message) -> None:
    part = m.sticker_message
    _put(out, part, (*_FILE, ("width", "width"), ("height", "height")))
    if part.is_animated:
        out["animated"] = True
    _context(out, part)


_PROTOCOL_TYPES: Final = Message.ProtocolMessage.DESCRIPTOR.enum_types_by_name["Type"]
_PLACE: Final = (("degrees_latitude", "latitude"), ("degrees_longitude", "longitude"))


def _location(out: dict[str, object], m: Message) -> None:
    part = m.location_message
    _put(out, part, (*_PLACE, ("name", "name"), ("address", "address"), ("url", "url"), ("comment", "comment")))
    if part.is_live:
        out["live"] = True
    _context(out, part)


def _live_location(out: dict[str, object], m: Message) -> None:
    part = m.live_location_message
    _put(out, part, (*_PLACE, ("caption", "caption"), ("accuracy_in_meters", "accuracyInMeters")))
    out["live"] = True
    _context(out, part)


def _contact(out: dict[str, object], m: Message) -> None:
    part = m.contact_message
    _put(out, part, (("display_name", "displayName"), ("vcard", "vcard")))
    _context(out, part)


def _contacts(out: dict[str, object], m: Message) -> None:
    part = m.contacts_array_message
    _put(out, part, (("display_name", "displayName"),))
    cards: list[dict[str, object]] = []
    for card in part.contacts:
        one: dict[str, object] = {}
        _put(one, card, (("display_name", "displayName"), ("vcard", "vcard")))
        cards.append(one)
    out["contacts"] = cards
    _context(out, part)


def _reaction(out: dict[str, object], m: Message) -> None:
    part = m.reaction_message
    out["text"] = part.text  # empty: the reaction was removed
    key = part.key
    _put(out, key, (("id", "targetId"), ("remote_jid", "targetChat"), ("participant", "targetParticipant")))
    if key.HasField("from_me"):
        out["targetFromMe"] = key.from_me


def _protocol(out: dict[str, object], m: Message) -> None:
    part = m.protocol_message
    if part.HasField("type"):
        value = _PROTOCOL_TYPES.values_by_number.get(part.type)
        out["protocolType"] = value.name.lower() if value is not None else part.type
    if part.HasField("key") and part.key.HasField("id"):
        out["targetId"] = part.key.id
    if part.HasField("edited_message"):
        out["editedContent"] = describe(part.edited_message)


def _poll(out: dict[str, object], m: Message) -> None:
    for name in ("poll_creation_message", "poll_creation_message_v2", "poll_creation_message_v3"):
        if m.HasField(name):
            part = getattr(m, name)
            out["poll"] = {
                "name": part.name,
                "options": [option.option_name for option in part.options],
                "selectableCount": part.selectable_options_count,
            }
            return


_DESCRIBERS: Final[dict[str, Callable[[dict[str, object], Message], None]]] = {
    "conversation": _text,
    "extended_text_message": _text,
    "image_message": _image,
    "document_message": _document,
    "video_message": _video,
    "ptv_message": _ptv,
    "audio_message": _audio,
    "sticker_message": _sticker,
    "location_message": _location,
    "live_location_message": _live_location,
    "contact_message": _contact,
    "contacts_array_message": _contacts,
    "reaction_message": _reaction,
    "protocol_message": _protocol,
    "poll_creation_message": _poll,
    "poll_creation_message_v2": _poll,
    "poll_creation_message_v3": _poll,
}


def describe(message: Message) -> dict[str, object]:
    """A JSON-able summary of ``message``'s content (after :func:`unwrap`) for webhooks.

    Keys are camelCase: ``text`` (texts and reactions), ``caption``, ``mimetype``, ``fileName``,
    ``fileLength``, ``fileSha256`` (hex), ``width``/``height``, ``seconds``, ``ptt``, ``gifPlayback``,
    ``latitude``/``longitude``/``name``/``address``, ``displayName``/``vcard``/``contacts``, ``targetId``
    (reactions, revokes, edits), ``quotedMessageId``, ``mentions``; ``viewOnce``/``ephemeral``/``edited``
    when those wrappers were peeled; ``mediaType`` (the ``<enc mediatype>``) for media. Media keys, urls,
    direct paths, thumbnails and other bytes are never included.
    """
    out: dict[str, object] = {}
    for name in wrappers_of(message):
        flag = _FLAGS.get(name)
        if flag is not None:
            out[flag] = True
    inner = unwrap(message)
    content = _content_field(inner)
    describer = None if content is None else _DESCRIBERS.get(content)
    if describer is not None:
        describer(out, inner)
    elif content is not None:
        out["contentField"] = content
    media = media_type_attr(inner)
    if media is not None and media_part(inner) is not None:
        out["mediaType"] = media
    return out


# ---------------------------------------------------------------------------------------------- builders


def _check(uploaded: UploadedMedia, allowed: frozenset[MediaType], what: str) -> None:
    if uploaded.media_type not in allowed:
        names = ", ".join(sorted(t.value for t in allowed))
        raise LocalProtocolError(
            f"{what} needs media uploaded as {names}, not {uploaded.media_type.value}: "
            "the receiver would expand the key differently"
        )


def _fill(part: Any, uploaded: UploadedMedia, mimetype: str, **optional: object) -> None:
    """Set the upload's fields and ``mimetype`` on ``part``, then each of ``optional`` that is not None
    (or False)."""
    if not mimetype:
        raise LocalProtocolError("mimetype must not be empty")
    part.url = uploaded.url
    part.direct_path = uploaded.direct_path
    part.media_key = uploaded.media_key
    part.file_sha256 = uploaded.file_sha256
    part.file_enc_sha256 = uploaded.file_enc_sha256
    part.file_length = uploaded.file_length
    part.media_key_timestamp = uploaded.media_key_timestamp
    part.mimetype = mimetype
    for name, value in optional.items():
        if value is not None and value is not False:
            setattr(part, name, value)


def image_message(
    uploaded: UploadedMedia,
    *,
    mimetype: str,
    caption: str | None = None,
    width: int | None = None,
    height: int | None = None,
    jpeg_thumbnail: bytes | None = None,
) -> Message:
    """An image message for an upload made as ``image``."""
    _check(uploaded, _IMAGE_KEYS, "an image message")
    message = Message()
    _fill(
        message.image_message, uploaded, mimetype,
        caption=caption, width=width, height=height, jpeg_thumbnail=jpeg_thumbnail,
    )
    return message


def document_message(
    uploaded: UploadedMedia,
    *,
    mimetype: str,
    file_name: str,
    caption: str | None = None,
) -> Message:
    """A document message for an upload made as ``document`` (the caption goes in the document itself)."""
    _check(uploaded, _DOCUMENT_KEYS, "a document message")
    message = Message()
    _fill(message.document_message, uploaded, mimetype, file_name=file_name, caption=caption)
    return message


def video_message(
    uploaded: UploadedMedia,
    *,
    mimetype: str,
    caption: str | None = None,
    seconds: int | None = None,
    width: int | None = None,
    height: int | None = None,
    gif_playback: bool = False,
) -> Message:
    """A video message (``gif_playback`` for a looping GIF) for an upload made as video, gif or ptv."""
    _check(uploaded, _VIDEO_KEYS, "a video message")
    message = Message()
    _fill(
        message.video_message, uploaded, mimetype,
        caption=caption, seconds=seconds, width=width, height=height, gif_playback=gif_playback,
    )
    return message


def audio_message(
    uploaded: UploadedMedia,
    *,
    mimetype: str,
    seconds: int | None = None,
    ptt: bool = False,
) -> Message:
    """An audio message (``ptt`` for a voice note) for an upload made as audio or ptt."""
    _check(uploaded, _AUDIO_KEYS, "an audio message")
    message = Message()
    _fill(message.audio_message, uploaded, mimetype, seconds=seconds, ptt=ptt)
    return message
