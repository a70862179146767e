"""The sandbox's messaging: simulated phones, routing, usync, prekey bundles, groups and offline queues, wired
into a running :class:`~waproto.sandbox.server.Sandbox`.

:meth:`Messaging.install` registers, on the sandbox:

- IQ handlers: ``usync`` (``waproto.sandbox.usync.answer_usync``), ``encrypt get <key>`` (prekey bundles,
  one-time prekeys served once), ``w:g2`` (group metadata and create, ``routing.answer_group_iq``);
- stanza handlers: a companion's ``<message>`` and ``<receipt>`` are planned by ``routing`` and delivered;
  its ``<ack>`` is taken as read;
- a login hook: what waited for the device in its offline queue is delivered, in order, before
  ``<ib><offline count=N/>``.

Every stanza goes through one loop (:meth:`Messaging.submit`) that works off a queue: a delivery to device 0
goes to the account's simulated phone (``waproto.sandbox.phone.SimPhone``, built on the account's keys kept
in the network state) at once, and what the phone answers (receipts, an echo bot's reply, its ack
bookkeeping) is submitted in turn as sent by that phone; deliveries to companions are collected. When the
phones are done, the sender gets its ack, and then the collected stanzas are written to the devices'
connections in order (or queued for devices that are not logged in). So the ack comes before the receipts
the stanza caused (as from WhatsApp's server) and is not delayed by writes that wake the client, yet the
phones have logged the message when it arrives. One lock serialises the loop, so phones, connections and
queues see stanzas in a single order; a bound on stanzas per submission stops two echo bots from talking
forever.

Persistence, with a state directory: each phone's Signal state and log live under ``phones/`` as a
snapshot ``<phone>.json`` and a journal ``<phone>.jsonl`` (``waproto.sandbox.journal``). When a submission
is done, each phone it touched appends one change record (``SimPhone.export_changes``: the sessions,
sender keys and log entries that changed), so saving costs what one message changed, not the whole log;
the network's own changes are journalled by the network (``state``). A phone's files are read, replayed
and compacted when the phone is first used after a start, and compacted again whenever its journal
outgrows its snapshot. So nothing is lost when the process dies after a submission finished (the same
point at which whole files were rewritten before); nothing is ``fsync``-ed. The offline queues journal
each stanza as it is queued (``waproto.sandbox.offline``), so what waited for a disconnected companion is
still delivered when it logs in after a restart.

This module is not the routing logic (``routing``), the phone (``phone``) or the connection (``connection``);
it only moves stanzas between them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

import trio

from waproto.binary import Node
from waproto.client.locks import QuickLock
from waproto.errors import DecodeError, LocalProtocolError, RemoteProtocolError
from waproto.jid import GROUP_SERVER, JID
from waproto.media import encrypt_media
from waproto.sandbox.connection import Connection, ConnectionClosed
from waproto.sandbox.iqs import error_iq
from waproto.sandbox.journal import Journal
from waproto.sandbox.offline import open_queues
from waproto.sandbox.phone import MEDIA_KINDS, PhoneKeys, SimPhone
from waproto.sandbox.phone_log import LogEntry, media_fields
from waproto.sandbox.routing import (
    OfflineQueues,
    Routed,
    answer_group_iq,
    new_group,
    route_message,
    route_receipt,
)
from waproto.sandbox.state import AccountState
from waproto.sandbox.usync import answer_prekey_fetch, answer_usync

if TYPE_CHECKING:
    from waproto.sandbox.server import Sandbox

__all__ = ["MAX_STANZAS_PER_SUBMIT", "AckSender", "Messaging"]

log = logging.getLogger(__name__)

#: Writes a submission's ack to its sender (see :meth:`Messaging.submit`).
AckSender = Callable[[Node], Awaitable[None]]

#: At most this many stanzas are moved for one submission (a guard against bots answering each other).
MAX_STANZAS_PER_SUBMIT: Final = 200


class Messaging:
    """See the module docstring. Make one per sandbox and call :meth:`install`."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.queues: OfflineQueues = open_queues(sandbox.network.state_dir)
        self.phones: dict[str, SimPhone] = {}
        self._journals: dict[str, Journal] = {}
        self._lock = QuickLock()

    def install(self) -> None:
        """Register the handlers and the login hook on the sandbox."""
        sandbox = self.sandbox
        sandbox.iqs.register("usync", None, self._usync, type="get")
        sandbox.iqs.register("encrypt", "key", self._prekeys, type="get")
        sandbox.iqs.register("w:g2", None, self._groups)
        sandbox.stanza_handlers["message"] = self._from_client
        sandbox.stanza_handlers["receipt"] = self._from_client
        sandbox.stanza_handlers["ack"] = self._ignore
        sandbox.login_hooks.append(self._flush_offline)

    # ----------------------------------------------------------------- phones

    async def phone(self, phone: str) -> SimPhone:
        """The simulated phone of account ``phone`` (built on first use, its saved state restored)."""
        existing = self.phones.get(phone)
        if existing is not None:
            return existing
        state = self.sandbox.network.accounts.get(phone)
        if state is None:
            raise LocalProtocolError(f"no account {phone}")
        network = self.sandbox.network
        keys = PhoneKeys(
            state.identity,
            state.registration_id,
            state.signed_pre_key,
            state.pre_keys,
            on_used=functools.partial(network.pre_key_used, phone),
        )
        sim = SimPhone(state.account, network, rng=self.sandbox.rng, keys=keys, echo=state.bot == "echo")
        journal = self._journal(state)
        if journal is not None:
            await self._restore(sim, journal)
            self._journals[phone] = journal
        self.phones[phone] = sim
        return sim

    def _journal(self, state: AccountState) -> Journal | None:
        directory = self.sandbox.network.state_dir
        return None if directory is None else Journal(directory / "phones" / f"{state.phone}.json")

    async def _restore(self, sim: SimPhone, journal: Journal) -> None:
        """Load a phone's snapshot, replay its journal, and compact (a new phone writes its first snapshot)."""
        phone = sim.account.phone
        try:
            loaded = journal.load()
        except (OSError, ValueError) as exc:
            log.warning("phone %s: saved state unreadable, starting afresh: %s", phone, exc)
        else:
            try:
                if loaded.snapshot is not None:
                    await sim.import_state(loaded.snapshot)
            except DecodeError as exc:
                log.warning("phone %s: saved state unreadable, starting afresh: %s", phone, exc)
            else:
                for number, record in enumerate(loaded.records, 1):
                    try:
                        await sim.apply_changes(record)
                    except DecodeError as exc:
                        left = len(loaded.records) - number
                        log.warning("phone %s: journal record %d unreadable (%d after it skipped): %s", phone, number, left, exc)
                        break
        journal.compact(await sim.export_state())

    async def _save_phones(self, phones: set[str]) -> None:
        """Append each touched phone's changes to its journal (or compact it, once it outgrew the snapshot)."""
        for phone in phones:
            journal = self._journals.get(phone)
            sim = self.phones.get(phone)
            if journal is None or sim is None:
                continue
            changes = await sim.export_changes()
            if journal.should_compact():
                journal.compact(await sim.export_state())
            elif changes is not None:
                journal.append(changes)

    # ----------------------------------------------------------------- the loop

    async def submit(self, sender: JID, node: Node, *, on_ack: AckSender | None = None) -> Node | None:
        """Route a ``<message>`` or ``<receipt>`` that ``sender`` (a PN device JID) sent; returns its ack.

        In three steps, under the one lock: the simulated phones handle everything the stanza causes (pure
        computation: no task switch); the ack is handed to ``on_ack`` (the sender's connection writes it);
        then what the submission produced for logged-in devices is written to their connections, in order
        (what cannot be is queued for them). So the sender reads its ack before the receipts the stanza
        caused, as WhatsApp's server sends them, and the ack is not held back by those writes, which
        wake the client; yet when it arrives, the phones have logged the message. Everything is done
        before this returns.
        """
        async with self._lock:
            work: deque[tuple[JID, Node]] = deque([(sender, node)])
            outbox: list[tuple[JID, Node]] = []
            first_ack: Node | None = None
            touched: set[str] = set()
            moved = 0
            while work:
                moved += 1
                if moved > MAX_STANZAS_PER_SUBMIT:
                    log.warning("dropping %d stanzas: too many for one submission (bots talking?)", len(work))
                    break
                who, stanza = work.popleft()
                routed = self._route(who, stanza)
                if routed.error is not None:
                    log.info("refused <%s> from %s: %s", stanza.tag, who, routed.error)
                if stanza is node:
                    first_ack = routed.ack
                if routed.ack is not None and who.device == 0:  # a phone's ack updates its log
                    touched.add(who.user)
                    await self._to_phone(who, routed.ack)
                for delivery in routed.deliveries:
                    device = delivery.device
                    if device.device != 0:
                        outbox.append((device, delivery.node))
                        continue
                    touched.add(device.user)
                    answers = await self._to_phone(device, delivery.node)
                    if answers:
                        phone = device.with_device(0)
                        work.extend((phone, answer) for answer in answers)
            await self._save_phones(touched)
            if on_ack is not None and first_ack is not None:
                # If the sender is gone, what its stanza caused is still delivered.
                with contextlib.suppress(ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
                    await on_ack(first_ack)
            for device, stanza in outbox:
                await self._to_companion(device, stanza)
            return first_ack

    def _route(self, sender: JID, stanza: Node) -> Routed:
        now = self.sandbox.now()
        if stanza.tag == "receipt":
            return route_receipt(self.sandbox.network, sender, stanza, now=now)
        return route_message(self.sandbox.network, sender, stanza, now=now)

    async def _to_phone(self, device: JID, node: Node) -> list[Node]:
        """Hand ``node`` to the simulated phone of ``device``'s account; the stanzas it answers with."""
        phone = self.phones.get(device.user)
        if phone is None:
            phone = await self.phone(device.user)
        try:
            received = await phone.receive(node, now=self.sandbox.now())
        except Exception:
            log.exception("phone %s failed on a <%s>", device.user, node.tag)
            return []
        if received.failure is not None:
            log.info("phone %s: %r", device.user, received.failure)
        if received.entry is not None and node.tag == "message" and self.sandbox.media is not None:
            self._open_media(phone, received.entry)
        return received.out

    async def _to_companion(self, device: JID, node: Node) -> None:
        """Write ``node`` to ``device``'s connection if it is logged in, else queue it for the device."""
        connection = self.sandbox.connections.get(device)
        if connection is not None and not connection.closed:
            try:
                await connection.send_node(node)
                return
            except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        if self.sandbox.network.companion(device) is not None:
            self.queues.push(device, node)

    def _open_media(self, phone: SimPhone, entry: LogEntry) -> None:
        """Fetch a received media message's blob from the sandbox's media store and decrypt it into the log."""
        fields = media_fields(entry.message)
        media = self.sandbox.media
        if fields is None or media is None or entry.media_bytes is not None:
            return
        _, sub = fields
        blob = None
        for where in (sub.url, sub.direct_path):
            if where and blob is None:
                blob = media.blob_for(where)
        if blob is None:
            log.info("phone %s: media of %s is not in the media store", phone.account.phone, entry.id)
            return
        try:
            phone.open_media(entry, blob)
        except (RemoteProtocolError, LocalProtocolError) as exc:
            log.info("phone %s: media of %s does not open: %s", phone.account.phone, entry.id, exc)

    # ----------------------------------------------------------------- handlers

    async def _from_client(self, connection: Connection, node: Node) -> None:
        device = connection.device
        if device is None:
            log.info("%s: <%s> before login ignored", connection.name, node.tag)
            return
        async def acknowledge(ack: Node) -> None:
            if not connection.closed:
                await connection.send_node(ack)

        await self.submit(device, node, on_ack=acknowledge)

    async def _ignore(self, connection: Connection, node: Node) -> None:
        return None

    async def _flush_offline(self, connection: Connection) -> int:
        device = connection.device
        if device is None:
            return 0
        waiting = self.queues.drain(device)
        for node in waiting:
            await connection.send_node(node)
        return len(waiting)

    async def _usync(self, connection: Connection, iq: Node) -> Node:
        if connection.device is None:
            return error_iq(iq, 401, "not-authorized")
        return answer_usync(iq, self.sandbox.network)

    async def _prekeys(self, connection: Connection, iq: Node) -> Node:
        if connection.device is None:
            return error_iq(iq, 401, "not-authorized")
        return answer_prekey_fetch(iq, self.sandbox.network)  # the network journals the prekeys it hands out

    async def _groups(self, connection: Connection, iq: Node) -> Node:
        if connection.device is None:
            return error_iq(iq, 401, "not-authorized")
        answer, group = answer_group_iq(
            iq, self.sandbox.network, connection.device, now=self.sandbox.now(), new_group_id=self._group_id()
        )
        if group is not None:
            self.sandbox.network.groups[group.jid] = group
            self.sandbox.network.save()
        return answer

    # ----------------------------------------------------------------- control operations

    def _group_id(self) -> str:
        while True:
            group_id = "120363" + str(int.from_bytes(self.sandbox.rng(8), "big") % 10**12).zfill(12)
            if JID(group_id, GROUP_SERVER) not in self.sandbox.network.groups:
                return group_id

    def create_group(self, subject: str, participants: list[str]) -> JID:
        """A new group of the accounts ``participants`` (phone numbers; the first one creates it)."""
        network = self.sandbox.network
        jids = []
        for phone in participants:
            state = network.accounts.get(phone)
            if state is None:
                raise LocalProtocolError(f"no account {phone}")
            jids.append(state.jid)
        if not jids:
            raise LocalProtocolError("a group needs at least one participant")
        group = new_group(
            network, group_id=self._group_id(), subject=subject, creator=jids[0], participants=jids[1:], now=self.sandbox.now()
        )
        network.groups[group.jid] = group
        network.save()
        return group.jid

    async def send_media(
        self,
        phone: str,
        to: JID,
        kind: str,
        data: bytes,
        *,
        mimetype: str,
        caption: str | None = None,
        file_name: str | None = None,
    ) -> str:
        """The phone of ``phone`` encrypts ``data``, stores it in the media server and sends it as ``kind``
        (a key of ``phone.MEDIA_KINDS``) to ``to``; returns the message id. ``LocalProtocolError`` when the
        media server is not running, refuses the file, or ``kind`` is unknown."""
        media = self.sandbox.media
        if media is None:
            raise LocalProtocolError("the sandbox's media server is not running")
        if kind not in MEDIA_KINDS:
            raise LocalProtocolError(f"unknown media kind {kind!r}")
        sim = await self.phone(phone)
        media_key = self.sandbox.rng(32)
        encrypted = encrypt_media(data, media_key, kind)
        url, direct_path = media.publish(encrypted.data)
        async with self._lock:
            node = await sim.send_media(
                to,
                kind,
                url=url,
                direct_path=direct_path,
                media_key=media_key,
                info=encrypted.info,
                mimetype=mimetype,
                now=self.sandbox.now(),
                caption=caption,
                file_name=file_name,
            )
        await self.submit(sim.device, node)
        return str(node.attrs["id"])

    async def send_text(self, phone: str, to: JID, text: str) -> str:
        """The phone of ``phone`` sends ``text`` to ``to`` (an account or a group); returns the message id."""
        sim = await self.phone(phone)
        async with self._lock:
            node = await sim.send_text(to, text, now=self.sandbox.now())
        await self.submit(sim.device, node)
        return str(node.attrs["id"])
