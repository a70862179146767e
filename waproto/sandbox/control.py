"""The sandbox's control API: JSON over HTTP under ``/sandbox``, for tests, scripts and demos.

Routes (bodies and answers are JSON objects):

- ``GET /sandbox`` → ``{root_public_key, accounts, connections}``: what is running;
- ``POST /sandbox/accounts {phone, name?, bot?: "echo"}`` → 201 ``{phone, jid, lid, name, bot}``;
- ``GET /sandbox/accounts`` → ``{accounts: [{phone, jid, lid, name, bot, devices: [{jid, lid, device,
  platform, connected}]}]}``;
- ``POST /sandbox/accounts/{phone}/scan {qr}`` → ``{jid}``: the phone scans a QR (either format) and
  links that companion; answers once the companion countersigned;
- ``POST /sandbox/accounts/{phone}/link-code {code}`` → ``{jid}``: the phone enters a pairing code;
- ``POST /sandbox/accounts/{phone}/send {to, text}`` → ``{id}``: the simulated phone sends a text to ``to``
  (a phone number, a group id or a JID); answers once it was delivered (or queued). With media instead of
  text: ``{to, image|video|audio|document|sticker: <base64>, mimetype?, caption?, file_name?}`` (the file is
  encrypted and stored on the media server, which must be running);
- ``GET /sandbox/accounts/{phone}/messages`` → ``{messages: [...]}``: the phone's log, decrypted, with receipt
  states;
- ``POST /sandbox/groups {subject, participants: [phone, ...]}`` → 201 ``{jid, subject, participants}`` (the first
  participant creates it);
- ``POST /sandbox/devices/{jid}/disconnect`` → ``{disconnected}``: drop the device's socket;
- ``POST /sandbox/devices/{jid}/logout`` → ``{unlinked: true}``: unlink the device (it gets 401).

Bad requests get 4xx with ``{"error": "<code>", "message": "..."}`` naming the field or the problem;
nothing here answers with a traceback (a failure of the sandbox itself is a logged 500 with a generic
message). Other modules add their routes to the same app.

This module is not the server (``server``) or the linking logic (``linking``), only their HTTP face.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import TYPE_CHECKING, Any

from quart import request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from waproto.errors import LocalProtocolError
from waproto.jid import DEFAULT_USER_SERVER, GROUP_SERVER, HIDDEN_USER_SERVER, JID
from waproto.sandbox.linking import LinkError
from waproto.sandbox.phone import MEDIA_KINDS
from waproto.sandbox.state import AccountState, StateError, valid_phone

if TYPE_CHECKING:
    from waproto.sandbox.server import Sandbox

__all__ = ["error_response", "json_body", "register_control_routes"]

log = logging.getLogger(__name__)

Response = tuple[dict[str, Any], int]

_DEFAULT_MIMETYPES = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/ogg; codecs=opus",
    "document": "application/octet-stream",
    "sticker": "image/webp",
}


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    """A JSON error answer."""
    return {"error": code, "message": message, **extra}, status


async def json_body() -> dict[str, Any] | None:
    """The request's JSON object, or None when the body is not one."""
    body = await request.get_json(force=True, silent=True)
    return body if isinstance(body, dict) else None


def _string_field(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise LinkError(400, "invalid_field", f"'{name}' must be a non-empty string")
    return value


def _account_json(state: AccountState) -> dict[str, Any]:
    return {"phone": state.phone, "jid": str(state.jid), "lid": str(state.lid_jid), "name": state.name, "bot": state.bot}


def register_control_routes(app: QuartTrio, sandbox: Sandbox) -> None:
    """Add the routes of the module docstring to ``app`` for ``sandbox``."""

    def phone_of(phone: str) -> AccountState:
        state = sandbox.network.accounts.get(phone)
        if state is None:
            raise LinkError(404, "unknown_account", f"no account {phone}")
        return state

    def device_of(text: str) -> JID:
        try:
            jid = JID.parse(text)
        except LocalProtocolError as exc:
            raise LinkError(400, "invalid_jid", "the device must be a JID like 15550001111:1@s.whatsapp.net") from exc
        state = sandbox.network.account_of(jid)
        if state is None or jid.server not in (DEFAULT_USER_SERVER, HIDDEN_USER_SERVER) or jid.device not in state.companions:
            raise LinkError(404, "unknown_device", f"{text} is not a linked companion device")
        return JID(state.phone, DEFAULT_USER_SERVER, device=jid.device)

    @app.errorhandler(LinkError)
    async def link_error(exc: LinkError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        return error_response(status, (exc.name or "error").lower().replace(" ", "_"), exc.description or "")

    @app.errorhandler(Exception)
    async def internal_error(exc: Exception) -> Response:
        log.exception("control API failure")
        return error_response(500, "internal_error", "the sandbox failed; see its log")

    @app.get("/sandbox")
    async def info() -> dict[str, Any]:
        return {
            "root_public_key": sandbox.root_public_key.hex(),
            "accounts": len(sandbox.network.accounts),
            "connections": len(sandbox.all_connections),
        }

    @app.post("/sandbox/accounts")
    async def create_account() -> Response:
        body = await json_body()
        if body is None:
            return error_response(400, "invalid_json", "the body must be a JSON object")
        phone = body.get("phone")
        if not valid_phone(phone):
            return error_response(400, "invalid_field", "'phone' must be 5 to 20 digits without a leading 0", field="phone")
        name = body.get("name", "")
        if not isinstance(name, str) or len(name) > 100:
            return error_response(400, "invalid_field", "'name' must be a string of at most 100 characters", field="name")
        bot = body.get("bot")
        if bot not in (None, "echo"):
            return error_response(400, "invalid_field", "'bot' must be \"echo\" or absent", field="bot")
        assert isinstance(phone, str)
        if phone in sandbox.network.accounts:
            return error_response(409, "account_exists", f"account {phone} already exists", field="phone")
        try:
            state = sandbox.network.create_account(phone, rng=sandbox.rng, now=sandbox.now(), name=name, bot=bot)
        except StateError as exc:
            return error_response(400, "invalid_field", str(exc))
        log.info("account %s created (lid %s)", state.phone, state.lid)
        return _account_json(state), 201

    @app.get("/sandbox/accounts")
    async def list_accounts() -> dict[str, Any]:
        accounts = []
        for state in sandbox.network.accounts.values():
            item = _account_json(state)
            item["devices"] = [
                {
                    "jid": str(state.device_jid(c.device)),
                    "lid": str(state.device_lid(c.device)),
                    "device": c.device,
                    "platform": c.platform,
                    "connected": state.device_jid(c.device) in sandbox.connections,
                }
                for c in sorted(state.companions.values(), key=lambda c: c.device)
            ]
            accounts.append(item)
        return {"accounts": accounts}

    @app.post("/sandbox/accounts/<phone>/scan")
    async def scan(phone: str) -> Response:
        phone_of(phone)
        body = await json_body()
        if body is None:
            return error_response(400, "invalid_json", "the body must be a JSON object")
        qr = _string_field(body, "qr")
        assert qr is not None
        jid = await sandbox.linker.scan(phone, qr)
        return {"jid": str(jid)}, 200

    @app.post("/sandbox/accounts/<phone>/link-code")
    async def link_code(phone: str) -> Response:
        phone_of(phone)
        body = await json_body()
        if body is None:
            return error_response(400, "invalid_json", "the body must be a JSON object")
        code = _string_field(body, "code")
        assert code is not None
        jid = await sandbox.linker.enter_code(phone, code)
        return {"jid": str(jid)}, 200

    def recipient(text: str) -> JID:
        network = sandbox.network
        if "@" in text:
            try:
                jid = JID.parse(text)
            except LocalProtocolError as exc:
                raise LinkError(400, "invalid_field", "'to' is not a JID") from exc
            if network.group(jid.to_non_ad()) is not None or network.account_of(jid) is not None:
                return jid.to_non_ad()
        elif valid_phone(text) and text in network.accounts:
            return network.accounts[text].jid
        elif network.group(JID(text, GROUP_SERVER)) is not None:
            return JID(text, GROUP_SERVER)
        raise LinkError(404, "unknown_recipient", f"'to' names no account or group: {text[:40]!r}")

    @app.post("/sandbox/accounts/<phone>/send")
    async def send(phone: str) -> Response:
        phone_of(phone)
        body = await json_body()
        if body is None:
            return error_response(400, "invalid_json", "the body must be a JSON object")
        to = recipient(_string_field(body, "to") or "")
        kinds = [kind for kind in MEDIA_KINDS if kind in body]
        try:
            if not kinds:
                text = _string_field(body, "text")
                assert text is not None
                message_id = await sandbox.messaging.send_text(phone, to, text)
            else:
                if len(kinds) > 1 or "text" in body:
                    return error_response(400, "invalid_field", "give one of text or a single media field")
                kind = kinds[0]
                try:
                    data = base64.b64decode(str(body[kind]), validate=True)
                except (binascii.Error, ValueError):
                    return error_response(400, "invalid_field", f"'{kind}' must be base64", field=kind)
                extra = {name: _string_field(body, name, required=False) for name in ("mimetype", "caption", "file_name")}
                message_id = await sandbox.messaging.send_media(
                    phone,
                    to,
                    kind,
                    data,
                    mimetype=extra["mimetype"] or _DEFAULT_MIMETYPES[kind],
                    caption=extra["caption"],
                    file_name=extra["file_name"],
                )
        except LocalProtocolError as exc:
            return error_response(409, "cannot_send", str(exc))
        return {"id": message_id}, 200

    @app.get("/sandbox/accounts/<phone>/messages")
    async def messages(phone: str) -> Response:
        phone_of(phone)
        sim = await sandbox.messaging.phone(phone)
        return {"messages": [entry.to_json() for entry in sim.log]}, 200

    @app.post("/sandbox/groups")
    async def create_group() -> Response:
        body = await json_body()
        if body is None:
            return error_response(400, "invalid_json", "the body must be a JSON object")
        subject = _string_field(body, "subject")
        participants = body.get("participants")
        if not isinstance(participants, list) or not participants or not all(isinstance(p, str) for p in participants):
            return error_response(400, "invalid_field", "'participants' must be a non-empty list of phone numbers", field="participants")
        unknown = [p for p in participants if p not in sandbox.network.accounts]
        if unknown:
            return error_response(404, "unknown_account", f"no account {unknown[0][:40]!r}", field="participants")
        assert subject is not None
        try:
            jid = sandbox.messaging.create_group(subject, participants)
        except LocalProtocolError as exc:
            return error_response(400, "invalid_field", str(exc))
        group = sandbox.network.groups[jid]
        return {"jid": str(jid), "subject": group.subject, "participants": [str(p) for p in group.participants]}, 201

    @app.post("/sandbox/devices/<device>/disconnect")
    async def disconnect(device: str) -> Response:
        jid = device_of(device)
        return {"disconnected": await sandbox.disconnect(jid)}, 200

    @app.post("/sandbox/devices/<device>/logout")
    async def logout(device: str) -> Response:
        jid = device_of(device)
        await sandbox.unlink(jid)
        return {"unlinked": True}, 200
