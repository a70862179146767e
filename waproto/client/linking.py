"""Linking a new companion device: QR rotation and the pairing-code exchange, for one :class:`Client`.

A :class:`Linker` is held by a :class:`~waproto.client.client.Client` (``client._linking``) and runs
while its credentials are unpaired:

- the ``<pair-device>`` refs become rotating :class:`QRCode` events (``qr_first_valid`` seconds for the
  first, ``qr_valid`` for each next one); when they run out the connection restarts for new refs;
- :meth:`Linker.request_pairing_code` (behind :meth:`Client.request_pairing_code`) stops the QR rotation,
  sends ``companion_hello`` and emits :class:`PairingCode`; the phone's ``link_code_companion_reg``
  notification then finishes the exchange (``companion_finish``) with the adv secret it yields;
- a verified pair-success (from either way) saves the new credentials *before* the countersignature goes
  out and emits :class:`Paired`; the server's 515 then restarts the connection (the client's business).

The linker keeps the per-connection linking state (the QR rotation's cancel scope, the pending pairing
code), which :meth:`Linker.reset` forgets when a connection ends.

This module is not the pairing crypto or its stanzas (``waproto.pairing``), nor the connection life
(``waproto.client.client``: reconnects, login, the ``registering`` event, iqs); it reaches into its
client for the credentials, the connection, the nursery and the event channel.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from waproto.binary import Node
from waproto.client.errors import IqError, IqTimeout, NotConnected
from waproto.client.events import Paired as PairedEvent
from waproto.client.events import PairingCode, QRCode
from waproto.errors import DecodeError, LocalProtocolError, PairingError
from waproto.events import Paired
from waproto.jid import DEFAULT_USER_SERVER, JID
from waproto.pairing import (
    QRData,
    companion_finish,
    companion_finish_node,
    companion_hello_node,
    format_pairing_code,
    generate_pairing_code,
    normalize_pairing_code,
    parse_companion_hello_result,
    parse_primary_hello,
    wrap_ephemeral_key,
)
from waproto.signal import curve

if TYPE_CHECKING:
    from waproto.client.client import Client

__all__ = ["Linker"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _PendingCode:
    code: str
    phone: str
    ephemeral: curve.KeyPair = field(repr=False)
    ref: bytes | None = None


class Linker:
    """The linking half of one :class:`Client`: QR codes and the pairing-code exchange; see the module
    docstring."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._qr_scope: trio.CancelScope | None = None
        self._pairing: _PendingCode | None = None

    def reset(self) -> None:
        """Forget this connection's linking state (its QR rotation and pending pairing code)."""
        self._qr_scope = None
        self._pairing = None

    def _stop_qr(self) -> None:
        if self._qr_scope is not None:
            self._qr_scope.cancel()

    def on_refs(self, refs: tuple[str, ...]) -> None:
        """The server's ``<pair-device>`` refs: the connection is registering; show them as QR codes unless
        a pairing code is under way."""
        client = self._client
        client._registering.set()
        self._stop_qr()
        if self._pairing is None and client._nursery is not None:
            client.status = "qr"
            client._nursery.start_soon(self._rotate_qr, refs)

    async def _rotate_qr(self, refs: tuple[str, ...]) -> None:
        client = self._client
        with trio.CancelScope() as scope:
            self._qr_scope = scope
            creds = client._credentials
            for index, ref in enumerate(refs):
                valid = client.settings.qr_first_valid if index == 0 else client.settings.qr_valid
                qr = QRData(
                    ref, creds.noise_key.public, creds.identity_key.public, creds.adv_secret,
                    client.settings.device.client_type,
                )
                await client._emit(QRCode(str(qr), index, valid))
                await trio.sleep(valid)
            client._finish("qr_timeout", "restart")

    async def on_paired(self, event: Paired) -> None:
        """A verified pair-success: save the new credentials (before the countersignature is sent), emit
        :class:`Paired`."""
        client = self._client
        self._stop_qr()
        await client.store.save_credentials(event.credentials)  # before the countersignature goes out
        client._credentials = event.credentials
        client.status = "connecting"
        await client._emit(PairedEvent(event.jid, event.lid, event.credentials.platform))

    async def request_pairing_code(self, phone: str, *, code: str | None = None) -> str:
        """The pairing-code request behind :meth:`Client.request_pairing_code` (see there)."""
        client = self._client
        if client._credentials.is_paired:
            raise LocalProtocolError("this device is paired already")
        if not (phone.isascii() and phone.isdigit() and 5 <= len(phone) <= 20):
            raise LocalProtocolError("phone must be 5 to 20 digits with the country code, no '+'")
        code = normalize_pairing_code(code) if code is not None else generate_pairing_code(client._rng)
        while True:
            registering = client._registering
            await registering.wait()
            if registering is client._registering:
                break
        self._stop_qr()
        ephemeral = curve.generate_key_pair(client._rng)
        pending = _PendingCode(code, phone, ephemeral)
        self._pairing = pending
        wrapped = await trio.to_thread.run_sync(wrap_ephemeral_key, code, ephemeral.public, client._rng)
        info = client.settings.device
        answer = await client.query(
            companion_hello_node(
                iq_id=client._new_id(),
                phone=JID(phone, DEFAULT_USER_SERVER),
                wrapped_ephemeral=wrapped,
                noise_public=client._credentials.noise_key.public,
                platform_id=info.platform_id,
                platform_display=info.platform_display,
            )
        )
        try:
            pending.ref = parse_companion_hello_result(answer)
        except DecodeError as exc:
            raise IqError(f"companion_hello answer without a ref: {exc}", node=answer) from exc
        client.status = "pairing"
        shown = format_pairing_code(code)
        await client._emit(PairingCode(shown, phone))
        return shown

    async def finish_pairing_code(self, node: Node) -> None:
        """The phone's ``link_code_companion_reg`` notification (already acked): finish the exchange."""
        client = self._client
        pending = self._pairing
        try:
            hello = parse_primary_hello(node)
        except DecodeError as exc:
            log.warning("malformed link-code notification: %s", exc)
            return
        if pending is None or (pending.ref is not None and hello.ref != pending.ref):
            log.warning("a primary_hello for a pairing code we did not request")
            return
        creds = client._credentials
        try:
            finish = await trio.to_thread.run_sync(
                functools.partial(
                    companion_finish,
                    code=pending.code,
                    ephemeral=pending.ephemeral,
                    identity=creds.identity_key,
                    wrapped_primary_ephemeral=hello.wrapped_ephemeral,
                    primary_identity=hello.primary_identity,
                    rng=client._rng,
                )
            )
        except (DecodeError, PairingError) as exc:
            log.warning("the phone's pairing-code answer is unusable: %s", exc)
            return
        creds = creds.with_adv_secret(finish.adv_secret)
        client._credentials = creds
        if client._conn is not None:
            client._conn.replace_credentials(creds)
        with contextlib.suppress(IqError, IqTimeout, NotConnected):
            await client.query(
                companion_finish_node(
                    iq_id=client._new_id(),
                    phone=JID(pending.phone, DEFAULT_USER_SERVER),
                    wrapped_key_bundle=finish.wrapped_key_bundle,
                    companion_identity=creds.identity_key.public,
                    ref=hello.ref,
                )
            )
