"""Linking companions to sandbox accounts (QR and pairing code) and logging linked devices in.

PROTOCOL.md §4.2–4.5, played as the server and the primary phone at once:

- **registration**: a client without credentials gets ``<iq xmlns="md"><pair-device>`` with six fresh refs
  (:data:`REFS_PER_OFFER`); each stays valid while that connection lives (the client shows them in turn);
- **QR**: :meth:`Linker.scan` is the phone scanning a QR (either format): it finds the connection that was
  offered the ref, checks the QR names that connection's Noise and identity keys, and links it;
- **pairing code**: the companion's ``companion_hello`` iq is answered with a ref and remembered;
  :meth:`Linker.enter_code` is the user typing the code on the phone: the phone's ``primary_hello`` goes to
  the companion, its ``companion_finish`` is checked (``primary_finish``) and gives the adv secret;
- **linking** (both ways): the phone issues a device identity for the next device number, the server sends
  ``<pair-success>``, expects ``<pair-device-sign>`` (checked with ``verify_pair_device_sign``), records the
  companion, and restarts the stream (``<stream:error code="515">``);
- **login**: a ClientPayload with username and device must come from a linked companion with the Noise key
  it linked with; it gets ``<success lid=…>`` and then ``<ib><offline count=N/>``, otherwise
  ``<failure reason="401">`` (logged out). A second login of the same device replaces the first, which gets
  ``<stream:error><conflict type="replaced"/>`` (Baileys' 440).

Failures that the control API reports are :class:`LinkError` (an HTTP status, a code and a message).

This module is not the connection's transport (``connection``) or the control API (``control``); the
pairing crypto itself is ``waproto.pairing``'s.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import trio

from waproto.binary import Node
from waproto.errors import DecodeError, LocalProtocolError, PairingError, RemoteProtocolError
from waproto.jid import JID, SERVER_JID
from waproto.pairing import (
    issue_device_identity,
    normalize_pairing_code,
    pair_device_node,
    pair_success_node,
    parse_companion_finish,
    parse_companion_hello,
    parse_qr,
    primary_finish,
    primary_hello_node,
    unwrap_ephemeral_key,
    verify_pair_device_sign,
    wrap_ephemeral_key,
)
from waproto.pairing.link_code_nodes import LINK_CODE_TAG, CompanionFinishRequest
from waproto.proto import ClientPayload, DeviceProps, decode
from waproto.sandbox.iqs import IqTable, error_iq, result_iq
from waproto.sandbox.registry import SignedPreKey
from waproto.sandbox.state import AccountState, Companion
from waproto.signal import curve

if TYPE_CHECKING:
    from waproto.sandbox.connection import Connection
    from waproto.sandbox.server import Sandbox

__all__ = ["LINK_TIMEOUT", "REFS_PER_OFFER", "LinkError", "Linker", "Registration"]

log = logging.getLogger(__name__)

#: Refs in one ``<pair-device>`` offer (what the real server sends).
REFS_PER_OFFER: Final = 6
#: Seconds the phone waits for the companion's part of a link (pair-device-sign, companion_finish).
LINK_TIMEOUT: Final = 20.0


class LinkError(Exception):
    """A link or control request could not be done: ``status`` (HTTP), ``code`` and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(slots=True)
class Registration:
    """An unlinked client waiting to be linked: its connection and what its ClientPayload registered."""

    connection: Connection
    refs: list[str]
    identity: bytes = field(repr=False)
    registration_id: int
    signed_pre_key: SignedPreKey = field(repr=False)
    platform: str
    #: Pairing code flow: the companion_hello, the phone's ephemeral, the companion's finish.
    hello_ref: bytes | None = None
    hello_phone: str | None = None
    wrapped_companion_ephemeral: bytes = field(default=b"", repr=False)
    finished: trio.MemorySendChannel[CompanionFinishRequest] | None = field(default=None, repr=False)
    linking: bool = False


def _registration_data(connection: Connection, payload: ClientPayload) -> Registration:
    data = payload.device_pairing_data
    try:
        identity = curve.strip_key_type(data.e_ident)
        skey_public = curve.strip_key_type(data.e_skey_val)
    except DecodeError as exc:
        raise DecodeError(f"device pairing data: {exc}") from exc
    if len(data.e_regid) != 4 or len(data.e_skey_id) != 3 or len(data.e_skey_sig) != 64:
        raise DecodeError("device pairing data: registration id, signed prekey id or signature has a bad length")
    platform = "companion"
    if data.HasField("device_props"):
        try:
            props = decode(DeviceProps, data.device_props)
            platform = props.os or platform
        except DecodeError:
            pass
    return Registration(
        connection=connection,
        refs=[],
        identity=identity,
        registration_id=int.from_bytes(data.e_regid, "big"),
        signed_pre_key=SignedPreKey(int.from_bytes(data.e_skey_id, "big"), skey_public, bytes(data.e_skey_sig)),
        platform=platform,
    )


class Linker:
    """Registrations waiting for a phone, and the flows of the module docstring."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._by_ref: dict[str, Registration] = {}
        self._by_connection: dict[Connection, Registration] = {}
        self._by_hello_ref: dict[bytes, Registration] = {}

    def register_iqs(self, table: IqTable) -> None:
        """Add the pairing-code iq handlers (``md`` ``link_code_companion_reg``)."""
        table.register("md", LINK_CODE_TAG, self._link_code_iq, type="set")

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{self.sandbox.rng(6).hex()}"

    # ----------------------------------------------------------------- registration

    async def start_registration(self, connection: Connection, payload: ClientPayload) -> None:
        """Offer QR refs to an unlinked client."""
        registration = _registration_data(connection, payload)
        registration.refs = [
            "2@" + base64.b64encode(self.sandbox.rng(33)).decode("ascii") for _ in range(REFS_PER_OFFER)
        ]
        self._by_connection[connection] = registration
        for ref in registration.refs:
            self._by_ref[ref] = registration
        connection.name += " (registering)"
        await connection.send_node(pair_device_node(iq_id=self._new_id("pair"), refs=registration.refs))

    def forget(self, connection: Connection) -> None:
        """Drop what a closed connection registered."""
        registration = self._by_connection.pop(connection, None)
        if registration is None:
            return
        for ref in registration.refs:
            self._by_ref.pop(ref, None)
        if registration.hello_ref is not None:
            self._by_hello_ref.pop(registration.hello_ref, None)
        if registration.finished is not None:
            registration.finished.close()

    # ----------------------------------------------------------------- QR

    async def scan(self, phone: str, qr: str) -> JID:
        """The phone of account ``phone`` scans ``qr``; returns the new device's JID once linked."""
        state = self._account(phone)
        try:
            data = parse_qr(qr)
        except DecodeError as exc:
            raise LinkError(400, "bad_qr", f"qr is not a WhatsApp linking QR: {exc}") from exc
        registration = self._by_ref.get(data.ref)
        if registration is None or registration.connection.closed:
            raise LinkError(404, "unknown_qr", "no connected companion shows this QR (expired or never offered)")
        if data.noise_public != registration.connection.client_static or data.identity_public != registration.identity:
            raise LinkError(409, "qr_mismatch", "the QR's keys are not those of the companion it was offered to")
        return await self._link(state, registration, registration.identity, data.adv_secret)

    # ----------------------------------------------------------------- pairing code

    async def _link_code_iq(self, connection: Connection, iq: Node) -> Node | None:
        reg = iq.child(LINK_CODE_TAG)
        stage = None if reg is None else reg.attrs.get("stage")
        registration = self._by_connection.get(connection)
        if registration is None:
            return error_iq(iq, 401, "not-authorized")
        if stage == "companion_hello":
            hello = parse_companion_hello(iq)
            if hello.noise_public != connection.client_static:
                return error_iq(iq, 400, "bad-request")
            if self.sandbox.network.accounts.get(hello.phone.user) is None:
                return error_iq(iq, 404, "item-not-found")
            if registration.hello_ref is not None:
                self._by_hello_ref.pop(registration.hello_ref, None)
            registration.hello_ref = base64.b64encode(self.sandbox.rng(24))
            registration.hello_phone = hello.phone.user
            registration.wrapped_companion_ephemeral = hello.wrapped_ephemeral
            self._by_hello_ref[registration.hello_ref] = registration
            log.info("%s: asks for a pairing code for %s", connection.name, hello.phone.user)
            return result_iq(iq, [Node(LINK_CODE_TAG, {}, [Node("link_code_pairing_ref", {}, registration.hello_ref)])])
        if stage == "companion_finish":
            finish = parse_companion_finish(iq)
            if registration.finished is None or finish.ref != registration.hello_ref:
                return error_iq(iq, 400, "bad-request")
            registration.finished.send_nowait(finish)
            registration.finished = None
            return result_iq(iq)
        return error_iq(iq, 400, "bad-request")

    async def enter_code(self, phone: str, code: str) -> JID:
        """The user types ``code`` on the phone of account ``phone``; returns the new device's JID once linked."""
        state = self._account(phone)
        try:
            code = normalize_pairing_code(code)
        except LocalProtocolError as exc:
            raise LinkError(400, "bad_code", "code must be 8 letters or digits (XXXX-XXXX)") from exc
        waiting = [
            r
            for r in self._by_hello_ref.values()
            if r.hello_phone == phone and not r.connection.closed and not r.linking and r.finished is None
        ]
        if not waiting:
            raise LinkError(404, "no_pending_code", f"no companion is waiting for a pairing code for {phone}")
        registration = waiting[-1]
        rng = self.sandbox.rng
        companion_ephemeral = await trio.to_thread.run_sync(
            unwrap_ephemeral_key, code, registration.wrapped_companion_ephemeral
        )
        ephemeral = curve.generate_key_pair(rng)
        wrapped = await trio.to_thread.run_sync(wrap_ephemeral_key, code, ephemeral.public, rng)
        assert registration.hello_ref is not None
        send, receive = trio.open_memory_channel[CompanionFinishRequest](1)
        registration.finished = send
        connection = registration.connection
        await self._send(
            connection,
            primary_hello_node(
                notification_id=self._new_id("code"),
                ref=registration.hello_ref,
                wrapped_ephemeral=wrapped,
                primary_identity=state.identity.public,
                server_time=self.sandbox.now(),
            ),
        )
        with trio.move_on_after(LINK_TIMEOUT) as timer:
            try:
                finish = await receive.receive()
            except trio.EndOfChannel as exc:
                raise LinkError(410, "companion_gone", "the companion disconnected before finishing") from exc
        if timer.cancelled_caught:
            registration.finished = None
            raise LinkError(504, "companion_timeout", "the companion did not finish the pairing-code exchange")
        try:
            adv_secret = primary_finish(
                ephemeral=ephemeral,
                identity=state.identity,
                companion_ephemeral=companion_ephemeral,
                companion_identity=finish.companion_identity,
                wrapped_key_bundle=finish.wrapped_key_bundle,
            )
        except (PairingError, DecodeError) as exc:
            log.info("%s: pairing code refused: %s", connection.name, exc)
            raise LinkError(409, "wrong_code", "the companion's key bundle does not open: wrong code?") from exc
        if finish.companion_identity != registration.identity:
            raise LinkError(409, "identity_mismatch", "the companion names another identity key than it registered")
        return await self._link(state, registration, finish.companion_identity, adv_secret)

    # ----------------------------------------------------------------- linking

    def _account(self, phone: str) -> AccountState:
        state = self.sandbox.network.accounts.get(phone)
        if state is None:
            raise LinkError(404, "unknown_account", f"no account {phone}")
        return state

    async def _send(self, connection: Connection, node: Node) -> None:
        try:
            await connection.send_node(node)
        except Exception as exc:
            raise LinkError(410, "companion_gone", "the companion disconnected") from exc

    async def _link(self, state: AccountState, registration: Registration, identity: bytes, adv_secret: bytes) -> JID:
        if registration.linking:
            raise LinkError(409, "already_linking", "this companion is being linked already")
        registration.linking = True
        connection = registration.connection
        now = self.sandbox.now()
        device = state.next_device
        key_index = state.next_key_index
        device_identity = issue_device_identity(
            account=state.identity,
            companion_identity=identity,
            adv_secret=adv_secret,
            raw_id=state.raw_id,
            key_index=key_index,
            timestamp=now,
        )
        jid = state.device_jid(device)
        node = pair_success_node(
            iq_id=self._new_id("pair-success"),
            device_identity=device_identity,
            jid=jid,
            lid=state.device_lid(device),
            platform="android",
            server_time=now,
        )
        try:
            reply = await connection.request(node, patience=LINK_TIMEOUT)
        except trio.TooSlowError as exc:
            await connection.close("no pair-device-sign in time")
            raise LinkError(504, "companion_timeout", "the companion did not answer pair-success") from exc
        except Exception as exc:
            raise LinkError(410, "companion_gone", "the companion disconnected during linking") from exc
        try:
            verify_pair_device_sign(reply, device_identity=device_identity, companion_identity=identity)
        except (RemoteProtocolError, LocalProtocolError) as exc:
            await connection.close(f"pair-device-sign refused: {exc}")
            raise LinkError(502, "link_refused", f"the companion refused or mis-signed the link: {exc}") from exc
        assert connection.client_static is not None
        self.sandbox.network.add_companion(
            state.phone,
            Companion(
                device=device,
                noise_public=connection.client_static,
                identity=identity,
                registration_id=registration.registration_id,
                signed_pre_key=registration.signed_pre_key,
                key_index=key_index,
                platform=registration.platform,
                linked_at=now,
            ),
        )
        log.info("%s: linked as %s", connection.name, jid)
        await self.sandbox.announce_devices(state.phone, device, "add")
        await connection.stream_error("515", reason=f"linked as {jid}; restart required")
        return jid

    # ----------------------------------------------------------------- login

    async def login(self, connection: Connection, payload: ClientPayload) -> None:
        """Answer a login: ``<success>`` and the offline marker, or ``<failure reason="401">``."""
        sandbox = self.sandbox
        phone = str(payload.username)
        device = payload.device if payload.HasField("device") else 0
        state = sandbox.network.accounts.get(phone)
        companion = None if state is None or device == 0 else state.companions.get(device)
        if state is None or companion is None or companion.noise_public != connection.client_static:
            await connection.send_last(
                Node("failure", {"reason": "401", "location": "sandbox"}),
                reason=f"login refused: {phone}:{device} is not a linked device",
            )
            return
        jid = state.device_jid(device)
        connection.name += f" {jid}"
        previous = sandbox.connections.get(jid)
        if previous is not None and previous is not connection:
            await previous.stream_error(None, [Node("conflict", {"type": "replaced"})], reason="replaced by a new login")
        sandbox.connections[jid] = connection
        connection.device = jid
        now = sandbox.now()
        await connection.send_node(
            Node(
                "success",
                {
                    "t": str(now),
                    "props": "1",
                    "abprops": "1",
                    "location": "sandbox",
                    "lid": state.device_lid(device),
                    "creation": str(companion.linked_at),
                },
            )
        )
        log.info("%s: logged in", connection.name)
        count = 0
        for hook in sandbox.login_hooks:
            count += await hook(connection)
        await connection.send_node(Node("ib", {"from": SERVER_JID}, [Node("offline", {"count": str(count)})]))
