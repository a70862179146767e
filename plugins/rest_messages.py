"""Built-in plugin: send messages and check numbers over REST, under ``/api/whatsapp`` (the original contract).

- ``POST /send/text {sessionId, to, text, isGroup?}``
- ``POST /send/image {sessionId, to, media, text?, isGroup?}`` (``text`` is the caption)
- ``POST /send/document {sessionId, to, media, filename, text?, mimetype?, isGroup?}``

answer ``200 {status: "sent", messageId, to, timestamp}`` once WhatsApp's server acked the message;
``GET /check?sessionId=&to=`` answers ``200 {exists, jid, lid}``.

``to`` is a phone number (digits with the country code, no ``+``) or a user JID (``…@s.whatsapp.net``,
``…@lid``); with ``isGroup: true`` a group id (``123-456`` or ``…@g.us``). ``media`` is an http(s) URL, a
``data:`` URL or plain base64, taken in by :func:`waporta.media_fetch.fetch_media` (its errors keep their
status: 400, 413, 422). A bad field is ``400 {"error": "invalid_field", "field", "message"}``.

Each send runs through :class:`waporta.sessions.Sessions` (``upload``, ``send``, ``check``). Errors: an
unknown session is 404 ``session_not_found``; a logged-out one 409 ``session_logged_out`` and one still
linking 409 ``session_not_linked``, both at once; a number without WhatsApp 422 ``recipient_not_found``.
Other failures are retried as the ``send_retry_policy`` hook says (the built-in
``waporta_plugins.send_retry``: only an unavailable session or a timeout, with backoff); when the policy
gives up (or the server refused the message) the answer is
``502 {"error": "delivery_failed", "message", "attempts"}`` and the ``delivery_failed`` hook has been
called, before the answer, with a :func:`send_failure` dict.

This plugin does NOT hold sessions, encrypt or upload anything itself (``waporta.sessions`` and
``waproto`` do), and does NOT receive messages.
"""

from __future__ import annotations

import mimetypes
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

import trio
from quart import request

from waporta import hookimpl
from waporta.app import ApiError, current_hub, json_object
from waporta.media_fetch import FetchedMedia, MediaInputError, fetch_media
from waporta.openapi import doc
from waporta.sessions import (
    SessionLoggedOut,
    SessionNotLinked,
    Sessions,
    SessionUnavailable,
    UnknownSession,
)
from waporta.storage import format_iso, from_posix
from waporta.webhooks import SESSION_ID_RE
from waproto.client import ClientError
from waproto.client.messaging import SentMessage
from waproto.content import document_message, image_message
from waproto.errors import MessageRefused, NotOnWhatsApp, WAProtoError
from waproto.jid import DEFAULT_USER_SERVER, GROUP_SERVER, HIDDEN_USER_SERVER, JID
from waproto.media import MediaType
from waproto.proto.e2e_pb2 import Message

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from waporta.hub import Hub

__all__ = [
    "MAX_TEXT",
    "MessageType",
    "image_info",
    "parse_recipient",
    "register_routes",
    "send_failure",
]

MessageType = Literal["text", "image", "document"]

#: The longest ``text`` (message or caption), in characters.
MAX_TEXT: Final = 65536
#: The longest document ``filename``, in characters.
MAX_FILENAME: Final = 255
#: Seconds one send attempt may take before it counts as a (retryable) timeout.
ATTEMPT_TIMEOUT: Final = 120.0
#: Seconds a number check may take.
CHECK_TIMEOUT: Final = 30.0

_PHONE = re.compile(r"\A[0-9]{5,20}\Z")
_PN_JID = re.compile(r"\A([0-9]{5,20})@s\.whatsapp\.net\Z")
_LID_JID = re.compile(r"\A([0-9]{1,20})@lid\Z")
_GROUP = re.compile(r"\A([0-9]{5,20}(?:-[0-9]{5,20})?)(?:@g\.us)?\Z")
_MIMETYPE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\Z")
_GENERIC_MIMETYPE: Final = "application/octet-stream"
_TRY_AGAIN: Final = (SessionUnavailable, TimeoutError, trio.TooSlowError, WAProtoError, ClientError)


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_field", message, field=field)


# ---------------------------------------------------------------- fields


def _session_id(value: object) -> str:
    if value is None:
        raise _invalid("sessionId", "`sessionId` is required")
    if not isinstance(value, str) or SESSION_ID_RE.match(value) is None:
        raise _invalid("sessionId", "`sessionId` must be 1 to 64 letters, digits, '_' or '-', starting with a letter or digit")
    return value


def _is_group(body: Mapping[str, Any]) -> bool:
    value = body.get("isGroup")
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid("isGroup", "`isGroup` must be true or false")
    return value


def parse_recipient(to: object, *, is_group: bool) -> JID:
    """The JID to send to: a phone number or user JID, or (``is_group``) a group id; else ApiError 400."""
    if to is None or to == "":
        raise _invalid("to", "`to` is required")
    if not isinstance(to, str):
        raise _invalid("to", "`to` must be a string")
    group = _GROUP.match(to)
    if is_group:
        if group is None:
            raise _invalid("to", "with isGroup, `to` must be a group id such as 120363012345678901 or 123-456 (optionally @g.us)")
        return JID(group.group(1), GROUP_SERVER)
    if to.endswith("@g.us") and group is not None:
        return JID(group.group(1), GROUP_SERVER)
    if _PHONE.match(to):
        return JID(to, DEFAULT_USER_SERVER)
    if pn := _PN_JID.match(to):
        return JID(pn.group(1), DEFAULT_USER_SERVER)
    if lid := _LID_JID.match(to):
        return JID(lid.group(1), HIDDEN_USER_SERVER)
    if group is not None:
        raise _invalid("to", "`to` looks like a group id: set isGroup to true")
    raise _invalid("to", "`to` must be 5 to 20 digits with the country code (no '+'), or a JID ending in @s.whatsapp.net or @lid")


def _text(body: Mapping[str, Any], *, required: bool) -> str | None:
    value = body.get("text")
    if value is None:
        if required:
            raise _invalid("text", "`text` is required")
        return None
    if not isinstance(value, str):
        raise _invalid("text", "`text` must be a string")
    if not value and required:
        raise _invalid("text", "`text` must not be empty")
    if len(value) > MAX_TEXT:
        raise _invalid("text", f"`text` must be at most {MAX_TEXT} characters")
    return value or None


def _media(body: Mapping[str, Any]) -> str:
    value = body.get("media")
    if value is None or value == "":
        raise _invalid("media", "`media` is required: an http(s) URL, a data: URL or base64")
    if not isinstance(value, str):
        raise _invalid("media", "`media` must be a string: an http(s) URL, a data: URL or base64")
    return value


def _filename(body: Mapping[str, Any]) -> str:
    value = body.get("filename")
    if value is None or value == "":
        raise _invalid("filename", "`filename` is required")
    if not isinstance(value, str):
        raise _invalid("filename", "`filename` must be a string")
    if len(value) > MAX_FILENAME:
        raise _invalid("filename", f"`filename` must be at most {MAX_FILENAME} characters")
    if "/" in value or "\\" in value or any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
        raise _invalid("filename", "`filename` must not contain '/', '\\' or control characters")
    if not value.strip(" ."):
        raise _invalid("filename", "`filename` must name a file")
    return value


def _mimetype(body: Mapping[str, Any]) -> str | None:
    value = body.get("mimetype")
    if value is None:
        return None
    if not isinstance(value, str) or _MIMETYPE.match(value) is None:
        raise _invalid("mimetype", "`mimetype` must be a media type such as application/pdf")
    return value.lower()


# ---------------------------------------------------------------- media


def image_info(data: bytes) -> tuple[str, int | None, int | None] | None:
    """``(mimetype, width, height)`` of a JPEG, PNG, GIF or WebP image (sizes None when not found), else None."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) >= 24 and data[12:16] == b"IHDR":
            return "image/png", int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return "image/png", None, None
    if data[:6] in (b"GIF87a", b"GIF89a"):
        if len(data) >= 10:
            return "image/gif", int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
        return "image/gif", None, None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", None, None
    if data[:3] == b"\xff\xd8\xff":
        width, height = _jpeg_size(data)
        return "image/jpeg", width, height
    return None


def _jpeg_size(data: bytes) -> tuple[int | None, int | None]:
    """Width and height from a JPEG's first SOF segment (None, None when it is not found)."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > len(data):
                break
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return (width or None), (height or None)
        if length < 2:
            break
        i += 2 + length
    return None, None


def _document_mimetype(explicit: str | None, fetched: str, filename: str) -> str:
    if explicit is not None:
        return explicit
    if fetched and fetched != _GENERIC_MIMETYPE:
        return fetched
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or _GENERIC_MIMETYPE


async def _fetch(hub: Hub, spec: str) -> FetchedMedia:
    try:
        return await fetch_media(spec, hub.config.media, field="media")
    except MediaInputError as exc:
        error = ApiError(exc.status, exc.code, exc.message, field=exc.field)
        error.extra.update({key: value for key, value in exc.details.items() if key not in ("error", "message", "field")})
        raise error from None


# ---------------------------------------------------------------- sending


def _sessions() -> Sessions:
    sessions = current_hub().sessions
    if sessions is None:
        raise ApiError(503, "session_unavailable", "the session supervisor is not running")
    return sessions


def _ready(sessions: Sessions, session_id: str) -> None:
    """404/409 at once for a session that is unknown, logged out or not linked yet."""
    try:
        status = sessions.get(session_id).status
    except UnknownSession:
        raise ApiError(404, "session_not_found", f"no session {session_id}") from None
    if status == "logged_out":
        raise ApiError(409, "session_logged_out", "the session is logged out; link it again")
    if status in ("qr", "pairing"):
        raise ApiError(409, "session_not_linked", f"the session is not linked yet (status {status})")


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def send_failure(
    session_id: str, to: JID, message_type: MessageType, attempts: int, error: BaseException, *, now: float
) -> dict[str, Any]:
    """The ``failure`` the ``delivery_failed`` hook gets for a send given up (JSON-able, no secrets)::

        {"kind": "send", "sessionId", "to", "messageType", "attempts", "error", "timestamp"}
    """
    return {
        "kind": "send",
        "sessionId": session_id,
        "to": str(to),
        "messageType": message_type,
        "attempts": attempts,
        "error": _describe(error),
        "timestamp": format_iso(from_posix(now)),
    }


async def _give_up(hub: Hub, session_id: str, to: JID, message_type: MessageType, attempts: int, error: BaseException) -> ApiError:
    failure = send_failure(session_id, to, message_type, attempts, error, now=time.time())
    await hub.plugins.delivery_failed(hub, failure)
    plural = "attempt" if attempts == 1 else "attempts"
    return ApiError(
        502,
        "delivery_failed",
        f"the {message_type} message could not be delivered after {attempts} {plural}: {failure['error']}",
        attempts=attempts,
    )


async def _deliver(
    session_id: str, to: JID, message_type: MessageType, attempt: Callable[[str | None], Awaitable[SentMessage]]
) -> dict[str, Any]:
    """Run ``attempt(message_id)`` until it succeeds, a final error, or the retry policy gives up; the 200 body.

    ``message_id`` is None at first; after a :class:`SessionUnavailable` that says which id the failed
    attempt used, the next attempt reuses it (so WhatsApp can drop a duplicate if the first one did arrive).
    """
    hub = current_hub()
    attempts = 0
    message_id: str | None = None
    while True:
        attempts += 1
        try:
            with trio.fail_after(ATTEMPT_TIMEOUT):
                sent = await attempt(message_id)
            break
        except UnknownSession:
            raise ApiError(404, "session_not_found", f"no session {session_id}") from None
        except SessionLoggedOut:
            raise ApiError(409, "session_logged_out", "the session is logged out; link it again") from None
        except SessionNotLinked:
            raise ApiError(409, "session_not_linked", "the session is not linked yet") from None
        except NotOnWhatsApp:
            raise ApiError(422, "recipient_not_found", f"{to} is not on WhatsApp", to=str(to)) from None
        except MessageRefused as exc:
            raise await _give_up(hub, session_id, to, message_type, attempts, exc) from None
        except _TRY_AGAIN as exc:
            if isinstance(exc, SessionUnavailable) and exc.message_id is not None:
                message_id = exc.message_id
            delay = hub.plugins.send_retry_policy(hub, session_id, attempts, exc)
            if delay is None:
                raise await _give_up(hub, session_id, to, message_type, attempts, exc) from None
            await trio.sleep(delay)
    moment = sent.timestamp if sent.timestamp is not None else time.time()
    return {"status": "sent", "messageId": sent.id, "to": str(sent.to), "timestamp": format_iso(from_posix(moment))}


async def send_text() -> dict[str, Any]:
    """``POST /api/whatsapp/send/text``."""
    body = await json_object()
    session_id = _session_id(body.get("sessionId"))
    to = parse_recipient(body.get("to"), is_group=_is_group(body))
    text = _text(body, required=True)
    sessions = _sessions()
    _ready(sessions, session_id)
    message = Message(conversation=text)
    return await _deliver(
        session_id, to, "text", lambda message_id: sessions.send(session_id, to, message, message_id=message_id)
    )


async def send_image() -> dict[str, Any]:
    """``POST /api/whatsapp/send/image``."""
    body = await json_object()
    session_id = _session_id(body.get("sessionId"))
    to = parse_recipient(body.get("to"), is_group=_is_group(body))
    spec = _media(body)
    caption = _text(body, required=False)
    sessions = _sessions()
    _ready(sessions, session_id)
    media = await _fetch(current_hub(), spec)
    info = image_info(media.data)
    if info is None:
        raise ApiError(400, "invalid_media", "`media` is not a JPEG, PNG, GIF or WebP image", field="media")
    mimetype, width, height = info
    uploaded: list[Any] = []

    async def attempt(message_id: str | None) -> SentMessage:
        if not uploaded:  # an upload that worked is kept for the next attempt
            uploaded.append(await sessions.upload(session_id, media.data, MediaType.IMAGE))
        message = image_message(uploaded[0], mimetype=mimetype, caption=caption, width=width, height=height)
        return await sessions.send(session_id, to, message, media_type="image", message_id=message_id)

    return await _deliver(session_id, to, "image", attempt)


async def send_document() -> dict[str, Any]:
    """``POST /api/whatsapp/send/document``."""
    body = await json_object()
    session_id = _session_id(body.get("sessionId"))
    to = parse_recipient(body.get("to"), is_group=_is_group(body))
    spec = _media(body)
    filename = _filename(body)
    caption = _text(body, required=False)
    explicit = _mimetype(body)
    sessions = _sessions()
    _ready(sessions, session_id)
    media = await _fetch(current_hub(), spec)
    mimetype = _document_mimetype(explicit, media.mimetype, filename)
    uploaded: list[Any] = []

    async def attempt(message_id: str | None) -> SentMessage:
        if not uploaded:
            uploaded.append(await sessions.upload(session_id, media.data, MediaType.DOCUMENT))
        message = document_message(uploaded[0], mimetype=mimetype, file_name=filename, caption=caption)
        return await sessions.send(session_id, to, message, media_type="document", message_id=message_id)

    return await _deliver(session_id, to, "document", attempt)


async def check_number() -> dict[str, Any]:
    """``GET /api/whatsapp/check?sessionId=&to=``."""
    args = request.args
    session_id = _session_id(args.get("sessionId"))
    if args.get("isGroup", "false") not in ("false", ""):
        raise _invalid("isGroup", "`check` looks up phone numbers only; isGroup must be false or absent")
    to = args.get("to")
    if not to:
        raise _invalid("to", "`to` is required")
    pn = _PN_JID.match(to)
    phone = pn.group(1) if pn else to
    if _PHONE.match(phone) is None:
        raise _invalid("to", "`to` must be 5 to 20 digits with the country code (no '+'), or a JID ending in @s.whatsapp.net")
    sessions = _sessions()
    _ready(sessions, session_id)
    try:
        with trio.fail_after(CHECK_TIMEOUT):
            result = await sessions.check(session_id, phone)
    except UnknownSession:
        raise ApiError(404, "session_not_found", f"no session {session_id}") from None
    except SessionLoggedOut:
        raise ApiError(409, "session_logged_out", "the session is logged out; link it again") from None
    except SessionNotLinked:
        raise ApiError(409, "session_not_linked", "the session is not linked yet") from None
    except _TRY_AGAIN as exc:
        raise ApiError(503, "session_unavailable", f"the number could not be checked now ({_describe(exc)}); retry") from None
    return {
        "exists": bool(result.exists),
        "jid": None if result.jid is None else str(result.jid),
        "lid": None if result.lid is None else str(result.lid),
    }


# ---------------------------------------------------------------- OpenAPI and routes

_TAGS = ["Messaging"]
_SESSION_PATTERN = SESSION_ID_RE.pattern.replace("\\A", "^").replace("\\Z", "$")
_COMMON: dict[str, Any] = {
    "sessionId": {"type": "string", "pattern": _SESSION_PATTERN, "example": "sales-bot"},
    "to": {
        "type": "string",
        "description": "digits with the country code, no `+` (or a JID `…@s.whatsapp.net` / `…@lid`); "
        "with `isGroup` a group id (`120363012345678901`, `123-456` or `…@g.us`)",
        "example": "15550002222",
    },
    "isGroup": {"type": "boolean", "default": False},
}
_MEDIA = {"type": "string", "description": "an http(s) URL, a `data:` URL or plain base64", "example": "https://example.com/cat.jpg"}
_CAPTION = {"type": "string", "maxLength": MAX_TEXT, "description": "caption"}
_SENT: dict[str, Any] = {
    "type": "object",
    "required": ["status", "messageId", "to", "timestamp"],
    "properties": {
        "status": {"const": "sent"},
        "messageId": {"type": "string", "example": "3EB0A1B2C3D4E5F6A7B8C9"},
        "to": {"type": "string", "example": "15550002222@s.whatsapp.net"},
        "timestamp": {"type": "string", "format": "date-time", "description": "when the server accepted it"},
    },
}
_DELIVERY_FAILED: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message", "attempts"],
    "properties": {"error": {"const": "delivery_failed"}, "message": {"type": "string"}, "attempts": {"type": "integer"}},
}
_SEND_ERRORS: dict[int, tuple[str, Mapping[str, Any] | None]] = {
    400: ("a field is invalid (`field` names it) or the body is not a JSON object", None),
    404: ("no such session (`session_not_found`)", None),
    409: ("the session is logged out (`session_logged_out`) or not linked yet (`session_not_linked`)", None),
    422: ("the number is not on WhatsApp (`recipient_not_found`)", None),
    502: ("not delivered: the retry policy gave up or the server refused it (`delivery_failed`)", _DELIVERY_FAILED),
}
_MEDIA_ERRORS: dict[int, tuple[str, Mapping[str, Any] | None]] = {
    400: ("a field is invalid (`field` names it), `invalid_media` or `media_host_not_allowed`", None),
    413: ("the media is larger than `[media] max_bytes` (`media_too_large`)", None),
    422: ("the number is not on WhatsApp (`recipient_not_found`) or the media URL failed (`media_unreachable`)", None),
}


def _request(required: list[str], extra: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["sessionId", "to", *required], "properties": {**_COMMON, **extra}}


@hookimpl
def register_routes(hub: Hub, app: QuartTrio) -> None:
    """Add ``/api/whatsapp/send/{text,image,document}`` and ``/api/whatsapp/check``."""
    base = "/api/whatsapp"
    routes: list[tuple[str, str, str, Callable[[], Awaitable[dict[str, Any]]], Callable[[Any], Any]]] = [
        (
            "POST",
            "/send/text",
            "rest_messages.text",
            send_text,
            doc(
                "Send a text message",
                description="Answers once WhatsApp's server acked the message.",
                tags=_TAGS,
                request=_request(["text"], {"text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "example": "Hello!"}}),
                responses={200: ("sent", _SENT), **_SEND_ERRORS},
            ),
        ),
        (
            "POST",
            "/send/image",
            "rest_messages.image",
            send_image,
            doc(
                "Send an image (JPEG, PNG, GIF or WebP), with an optional caption",
                tags=_TAGS,
                request=_request(["media"], {"media": _MEDIA, "text": _CAPTION}),
                responses={200: ("sent", _SENT), **_SEND_ERRORS, **_MEDIA_ERRORS},
            ),
        ),
        (
            "POST",
            "/send/document",
            "rest_messages.document",
            send_document,
            doc(
                "Send a document",
                description="`mimetype` defaults to the media's own type, else a guess from `filename`.",
                tags=_TAGS,
                request=_request(
                    ["media", "filename"],
                    {
                        "media": _MEDIA,
                        "filename": {"type": "string", "maxLength": MAX_FILENAME, "example": "invoice.pdf"},
                        "mimetype": {"type": "string", "example": "application/pdf"},
                        "text": _CAPTION,
                    },
                ),
                responses={200: ("sent", _SENT), **_SEND_ERRORS, **_MEDIA_ERRORS},
            ),
        ),
        (
            "GET",
            "/check",
            "rest_messages.check",
            check_number,
            doc(
                "Check whether a phone number is on WhatsApp",
                tags=_TAGS,
                parameters=[
                    {"name": "sessionId", "in": "query", "required": True, "schema": _COMMON["sessionId"]},
                    {"name": "to", "in": "query", "required": True, "schema": {"type": "string", "example": "15550002222"}},
                ],
                responses={
                    200: (
                        "the answer; `jid` and `lid` are null when the number is not on WhatsApp",
                        {
                            "type": "object",
                            "required": ["exists", "jid", "lid"],
                            "properties": {
                                "exists": {"type": "boolean"},
                                "jid": {"type": ["string", "null"], "example": "15550002222@s.whatsapp.net"},
                                "lid": {"type": ["string", "null"], "example": "123456789012345@lid"},
                            },
                        },
                    ),
                    400: ("a field is invalid (`field` names it)", None),
                    404: ("no such session (`session_not_found`)", None),
                    409: ("the session is logged out or not linked yet", None),
                    503: ("the session cannot reach WhatsApp now (`session_unavailable`); retry", None),
                },
            ),
        ),
    ]
    for method, path, endpoint, view, documented in routes:
        app.add_url_rule(base + path, endpoint=endpoint, view_func=documented(view), methods=[method])
