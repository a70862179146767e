"""Built-in plugin: WhatsApp sessions over REST, under ``/api/whatsapp`` (the original gateway's contract).

- ``GET /sessions`` → every session ``{id, status, jid, lid, reason}``, by id;
- ``POST /sessions/<sessionId>`` → start linking (201; 200 with the session when it already runs);
- ``POST /sessions/<sessionId>/pairing-code {phoneNumber}`` → ``{code}`` to type on the phone;
- ``GET /sessions/<sessionId>`` → the session;
- ``GET /sessions/<sessionId>/qr`` → ``{qr, image}``: the raw QR string and an SVG data URL of it;
- ``DELETE /sessions/<sessionId>`` → logout (the device is unlinked) and every WhatsApp row wiped.

Errors are JSON (``waporta.app``): a bad session id or phone number is 400 naming the field, an unknown
session 404, a QR or pairing code asked in the wrong state 409 (``no_qr``, ``session_already_linked``,
``session_logged_out``), a session that cannot reach the server now 503 ``session_unavailable``.
In sandbox mode (``[whatsapp] sandbox``) the sandbox's control API is also served, at ``/sandbox``.

This plugin does NOT run sessions (``waporta.sessions`` does) and does NOT send messages.
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any, Final

import qrcode
import qrcode.image.svg
import trio
from quart import Response, jsonify

from waporta import hookimpl
from waporta.app import ApiError, current_hub, json_object
from waporta.openapi import doc
from waporta.sessions import STATUSES, Session, Sessions, UnknownSession
from waporta.webhooks import SESSION_ID_RE, InvalidSessionId, validate_session_id
from waproto.client import ClientError

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from waporta.hub import Hub

__all__ = ["PHONE_RE", "SESSION_RECORD", "qr_data_url", "register_routes"]

#: A phone number as the API takes it: digits with the country code, no ``+``.
PHONE_RE: Final = re.compile(r"\A[0-9]{5,20}\Z")
#: Seconds a pairing-code request may wait for the session to reach the server.
PAIRING_PATIENCE: Final = 30.0

#: JSON schema of a session as the API returns it.
SESSION_RECORD: dict[str, Any] = {
    "type": "object",
    "required": ["id", "status", "jid", "lid", "reason"],
    "properties": {
        "id": {"type": "string", "example": "sales-bot"},
        "status": {"type": "string", "enum": list(STATUSES), "example": "connected"},
        "jid": {"type": ["string", "null"], "example": "15550002222:1@s.whatsapp.net"},
        "lid": {"type": ["string", "null"], "example": "123456789012345:1@lid"},
        "reason": {
            "type": ["string", "null"],
            "description": "why the session last disconnected or logged out (`connection_lost`, "
            "`device_removed`, `deleted`, ...)",
        },
    },
}

_SESSION_PATTERN = SESSION_ID_RE.pattern.replace("\\A", "^").replace("\\Z", "$")
_SESSION_PARAM: dict[str, Any] = {"type": "string", "pattern": _SESSION_PATTERN, "example": "sales-bot"}
_BASE = "/api/whatsapp/sessions"
_TAGS = ["Sessions"]


def qr_data_url(qr: str) -> str:
    """An SVG image of ``qr`` as a ``data:image/svg+xml;base64,...`` URL."""
    svg = qrcode.make(qr, image_factory=qrcode.image.svg.SvgPathImage).to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def _sessions() -> Sessions:
    sessions = current_hub().sessions
    if sessions is None:
        raise ApiError(503, "session_unavailable", "the session supervisor is not running")
    return sessions


def _session_id(session_id: str) -> str:
    try:
        return validate_session_id(session_id)
    except InvalidSessionId as exc:
        raise ApiError(400, "invalid_session_id", str(exc), field="sessionId") from None


def _known(session_id: str) -> Session:
    try:
        return _sessions().get(_session_id(session_id))
    except UnknownSession:
        raise ApiError(404, "session_not_found", f"no session {session_id}") from None


@hookimpl
def register_routes(hub: Hub, app: QuartTrio) -> None:
    """Add the session routes (and, in sandbox mode, the sandbox control API at ``/sandbox``)."""
    if hub.sandbox is not None:
        from waproto.sandbox.control import register_control_routes

        register_control_routes(app, hub.sandbox)

    @app.get(_BASE, endpoint="rest_sessions.list")
    @doc(
        "List the sessions",
        tags=_TAGS,
        responses={200: ("every session, by id", {"type": "array", "items": SESSION_RECORD})},
    )
    async def list_sessions() -> list[dict[str, object]]:
        return [session.to_json() for session in _sessions().all()]

    @app.post(_BASE + "/<sessionId>", endpoint="rest_sessions.create")
    @doc(
        "Create a session and start linking it",
        description="The session connects to WhatsApp and shows a QR code (`GET .../qr`), or links with "
        "a pairing code (`POST .../pairing-code`). Creating a session that already runs returns it "
        "unchanged (200); a logged-out one starts linking again.",
        tags=_TAGS,
        path_params={"sessionId": _SESSION_PARAM},
        responses={
            201: ("created", SESSION_RECORD),
            200: ("the session existed already", SESSION_RECORD),
            400: ("invalid sessionId", None),
        },
    )
    async def create_session(sessionId: str) -> Response:
        session_id = _session_id(sessionId)
        sessions = _sessions()
        try:
            before: Session | None = sessions.get(session_id)
        except UnknownSession:
            before = None
        session = await sessions.create(session_id)
        response = jsonify(session.to_json())
        response.status_code = 200 if session is before else 201
        return response

    @app.post(_BASE + "/<sessionId>/pairing-code", endpoint="rest_sessions.pairing_code")
    @doc(
        "Link a session with a pairing code instead of a QR",
        description="Type the returned code on the phone: Linked devices → Link with phone number.",
        tags=_TAGS,
        path_params={"sessionId": _SESSION_PARAM},
        request={
            "type": "object",
            "required": ["phoneNumber"],
            "properties": {
                "phoneNumber": {
                    "type": "string",
                    "pattern": "^[0-9]{5,20}$",
                    "description": "digits with the country code, no `+`",
                    "example": "15550002222",
                }
            },
        },
        responses={
            200: (
                "the code",
                {"type": "object", "required": ["code"], "properties": {"code": {"type": "string", "example": "ABCD-EFGH"}}},
            ),
            400: ("invalid sessionId or phoneNumber", None),
            404: ("no such session", None),
            409: ("the session is linked already, or logged out", None),
            503: ("the session cannot reach WhatsApp now; retry", None),
        },
    )
    async def pairing_code(sessionId: str) -> dict[str, str]:
        session = _known(sessionId)
        body = await json_object()
        phone = body.get("phoneNumber")
        if not isinstance(phone, str) or not PHONE_RE.match(phone):
            raise ApiError(
                400,
                "invalid_phone_number",
                "phoneNumber must be 5 to 20 digits with the country code, no '+'",
                field="phoneNumber",
            )
        if session.status == "logged_out":
            raise ApiError(409, "session_logged_out", "the session is logged out; create it again")
        if session.client.credentials.is_paired:
            raise ApiError(409, "session_already_linked", "the session is linked already")
        try:
            with trio.fail_after(PAIRING_PATIENCE):
                code = await _sessions().request_pairing_code(session.id, phone)
        except (trio.TooSlowError, ClientError) as exc:
            raise ApiError(
                503, "session_unavailable", f"the pairing code could not be requested: {type(exc).__name__}"
            ) from None
        return {"code": code}

    @app.get(_BASE + "/<sessionId>", endpoint="rest_sessions.get")
    @doc(
        "Get a session's status",
        tags=_TAGS,
        path_params={"sessionId": _SESSION_PARAM},
        responses={200: ("the session", SESSION_RECORD), 400: ("invalid sessionId", None), 404: ("no such session", None)},
    )
    async def get_session(sessionId: str) -> dict[str, object]:
        return _known(sessionId).to_json()

    @app.get(_BASE + "/<sessionId>/qr", endpoint="rest_sessions.qr")
    @doc(
        "Get the session's current QR code",
        description="The QR rotates (about every 20 s); scan it with WhatsApp → Linked devices.",
        tags=_TAGS,
        path_params={"sessionId": _SESSION_PARAM},
        responses={
            200: (
                "the raw QR string and an SVG data URL of it",
                {
                    "type": "object",
                    "required": ["qr", "image"],
                    "properties": {
                        "qr": {"type": "string"},
                        "image": {"type": "string", "example": "data:image/svg+xml;base64,PHN2Zy..."},
                    },
                },
            ),
            400: ("invalid sessionId", None),
            404: ("no such session", None),
            409: ("no QR now (`sessionStatus` says why: linked, pairing by code, connecting ...)", None),
        },
    )
    async def get_qr(sessionId: str) -> dict[str, str]:
        session = _known(sessionId)
        qr = session.qr
        if qr is None or session.status != "qr":
            raise ApiError(409, "no_qr", f"the session has no QR code now (status {session.status})", sessionStatus=session.status)
        return {"qr": qr, "image": qr_data_url(qr)}

    @app.delete(_BASE + "/<sessionId>", endpoint="rest_sessions.delete")
    @doc(
        "Log a session out and delete it",
        description="The device is unlinked from the phone when connected, and every WhatsApp key and "
        "record of the session is wiped. The session's webhooks are kept.",
        tags=_TAGS,
        path_params={"sessionId": _SESSION_PARAM},
        responses={200: ("deleted", SESSION_RECORD), 400: ("invalid sessionId", None), 404: ("no such session", None)},
    )
    async def delete_session(sessionId: str) -> dict[str, object]:
        session = _known(sessionId)
        try:
            deleted = await _sessions().delete(session.id)
        except UnknownSession:
            raise ApiError(404, "session_not_found", f"no session {session.id}") from None
        return deleted.to_json()
