"""A simulated phone's persistence: Signal stores that remember what changed, the JSON forms of the phone's
state, and :class:`PhonePersistence`, which exports and replays them.

:class:`PhoneStore` (sessions, peer identities, the phone's own prekeys) and :class:`PhoneSenderKeys`
(group sender keys) are the ``waproto.signal`` memory stores plus a record of which entries changed since
the owner last asked (:meth:`PhoneStore.take_changes`). :class:`PhonePersistence` adds what else changed
(log entries, devices given the sender key) and builds the records; that is what lets the sandbox persist
a phone by appending only what one message changed (``waproto.sandbox.journal``) instead of rewriting its
whole state. ``SimPhone``'s ``export_state``/``import_state``/``export_changes``/``apply_changes`` delegate
here.

Two JSON forms, both JSON-ready dicts:

- the **state** (``SimPhone.export_state``): ``sessions``, ``identities``, ``sender_keys``, ``skdm_sent``
  and the whole ``log``; :func:`parse_state` reads it;
- a **change record** (``SimPhone.export_changes``): the same keys, each optional, holding only what
  changed, plus ``sessions_removed`` and ``log_at`` (``[index, entry]`` pairs: a new or updated log entry at
  that position); :func:`parse_changes` reads it. Every change sets a value, so replaying a record twice
  gives the same state (the journal's requirement).

This module is NOT the phone (``phone``: sending, receiving, the log's lookups), knows nothing of where
records are kept (``journal``, ``messaging``) and does no I/O.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from waproto.errors import DecodeError, LocalProtocolError
from waproto.jid import JID, parse_jid
from waproto.sandbox.phone_log import LogEntry
from waproto.signal import MemorySenderKeyStore, MemorySignalStore, ProtocolAddress, SenderKeyName
from waproto.signal.curve import KeyPair
from waproto.signal.keys import PreKeyRecord
from waproto.signal.sender_keys import SenderKeyRecord
from waproto.signal.session import SessionRecord

__all__ = [
    "PhonePersistence",
    "PhoneSenderKeys",
    "PhoneState",
    "PhoneStore",
    "dump_sender_keys",
    "parse_changes",
    "parse_state",
]

_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError, binascii.Error, LocalProtocolError)


class PhoneStore(MemorySignalStore):
    """A memory Signal store that notes changed sessions and identities, and reports used prekeys.

    ``pre_keys`` is shared with the owner (not copied); ``on_pre_key_used`` is called with the id of
    each one-time prekey a ``pkmsg`` used up, after it is gone from that dict.
    """

    def __init__(
        self,
        identity: KeyPair,
        registration_id: int,
        pre_keys: dict[int, PreKeyRecord],
        on_pre_key_used: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(identity, registration_id)
        self.pre_keys = pre_keys
        self._on_pre_key_used = on_pre_key_used
        self._sessions_changed: set[ProtocolAddress] = set()
        self._identities_changed: set[ProtocolAddress] = set()

    async def store_session(self, address: ProtocolAddress, record: SessionRecord) -> None:
        self._sessions_changed.add(address)
        await super().store_session(address, record)

    def forget_session(self, address: ProtocolAddress) -> None:
        """Drop the session with ``address`` (a retry asked for a new one)."""
        if self.sessions.pop(address, None) is not None:
            self._sessions_changed.add(address)

    async def save_identity(self, address: ProtocolAddress, identity_key: bytes) -> bytes | None:
        self._identities_changed.add(address)
        return await super().save_identity(address, identity_key)

    async def remove_pre_key(self, pre_key_id: int) -> None:
        await super().remove_pre_key(pre_key_id)
        if self._on_pre_key_used is not None:
            self._on_pre_key_used(pre_key_id)

    def take_changes(self) -> dict[str, Any]:
        """The sessions and identities changed since the last call, in the change-record form; forgets them."""
        out: dict[str, Any] = {}
        stored = [a for a in self._sessions_changed if a in self.sessions]
        removed = [a for a in self._sessions_changed if a not in self.sessions]
        if stored:
            out["sessions"] = dump_sessions(self.sessions, stored)
        if removed:
            out["sessions_removed"] = [[a.name, a.device_id] for a in removed]
        if self._identities_changed:
            out["identities"] = dump_identities(self.identities, self._identities_changed)
        self._sessions_changed.clear()
        self._identities_changed.clear()
        return out

    def forget_changes(self) -> None:
        """Treat everything as saved."""
        self._sessions_changed.clear()
        self._identities_changed.clear()


class PhoneSenderKeys(MemorySenderKeyStore):
    """A memory sender-key store that knows which names it holds and which changed since the last ask."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[SenderKeyName] = set()
        self.changed: set[SenderKeyName] = set()

    async def store_sender_key(self, name: SenderKeyName, record: SenderKeyRecord) -> None:
        self.names.add(name)
        self.changed.add(name)
        await super().store_sender_key(name, record)


@dataclass(slots=True)
class PhoneState:
    """A parsed state or change record (see the module docstring); a change record's ``log`` is empty and
    its ``log_at`` holds the entries by position."""

    sessions: dict[ProtocolAddress, SessionRecord] = field(default_factory=dict)
    sessions_removed: list[ProtocolAddress] = field(default_factory=list)
    identities: dict[ProtocolAddress, bytes] = field(default_factory=dict)
    sender_keys: list[tuple[SenderKeyName, SenderKeyRecord]] = field(default_factory=list)
    skdm_sent: dict[JID, set[JID]] = field(default_factory=dict)
    log: list[LogEntry] = field(default_factory=list)
    log_at: list[tuple[int, LogEntry]] = field(default_factory=list)


# --------------------------------------------------------------------- dumping


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def dump_sessions(sessions: dict[ProtocolAddress, SessionRecord], which: Iterable[ProtocolAddress]) -> list[Any]:
    """``[[name, device, base64 record], …]`` for the addresses ``which`` (all of them must be in ``sessions``)."""
    return [[a.name, a.device_id, _b64(sessions[a].serialize())] for a in which]


def dump_identities(identities: dict[ProtocolAddress, bytes], which: Iterable[ProtocolAddress]) -> list[Any]:
    """``[[name, device, hex key], …]`` for the addresses ``which`` that have an identity."""
    return [[a.name, a.device_id, identities[a].hex()] for a in which if a in identities]


async def dump_sender_keys(store: PhoneSenderKeys, names: Iterable[SenderKeyName]) -> list[Any]:
    """``[[group, [name, device], base64 record], …]`` for the sender keys ``names`` (sorted)."""
    out = []
    for name in sorted(names, key=str):
        record = await store.load_sender_key(name)
        if record is not None:
            out.append([name.group_id, [name.sender.name, name.sender.device_id], _b64(record.serialize())])
    return out


def dump_skdm_sent(skdm_sent: dict[JID, set[JID]], groups: Iterable[JID]) -> dict[str, list[str]]:
    """``{group: [device, …]}`` for ``groups``: which devices hold the phone's sender key there."""
    return {str(g): sorted(str(d) for d in skdm_sent.get(g, ())) for g in groups}


# --------------------------------------------------------------------- parsing


def _parse_common(data: Any, state: PhoneState) -> None:
    state.sessions = {
        ProtocolAddress(n, d): SessionRecord.deserialize(_unb64(r)) for n, d, r in data.get("sessions", [])
    }
    state.identities = {ProtocolAddress(n, d): bytes.fromhex(k) for n, d, k in data.get("identities", [])}
    state.sender_keys = [
        (SenderKeyName(g, ProtocolAddress(s[0], s[1])), SenderKeyRecord.deserialize(_unb64(r)))
        for g, s, r in data.get("sender_keys", [])
    ]
    state.skdm_sent = {parse_jid(g): {parse_jid(d) for d in ds} for g, ds in data.get("skdm_sent", {}).items()}


def parse_state(data: Any) -> PhoneState:
    """The phone state ``SimPhone.export_state`` wrote. ``DecodeError`` for anything else."""
    try:
        missing = [k for k in ("sessions", "identities", "sender_keys", "skdm_sent", "log") if k not in data]
        if missing:
            raise KeyError(f"missing {missing}")
        state = PhoneState()
        _parse_common(data, state)
        state.log = [LogEntry.from_state(item) for item in data["log"]]
    except (*_MALFORMED, DecodeError) as exc:
        raise DecodeError(f"not a simulated phone's state: {exc!r}") from exc
    return state


def parse_changes(data: Any) -> PhoneState:
    """A change record ``SimPhone.export_changes`` wrote. ``DecodeError`` for anything else."""
    try:
        if not isinstance(data, dict):
            raise TypeError("a change record is an object")
        state = PhoneState()
        _parse_common(data, state)
        state.sessions_removed = [ProtocolAddress(n, d) for n, d in data.get("sessions_removed", [])]
        for index, item in data.get("log_at", []):
            if not isinstance(index, int) or index < 0:
                raise ValueError(f"log index {index!r}")
            state.log_at.append((index, LogEntry.from_state(item)))
    except (*_MALFORMED, DecodeError) as exc:
        raise DecodeError(f"not a simulated phone's change record: {exc!r}") from exc
    return state


# --------------------------------------------------------------------- exporting and replaying


class PhonePersistence:
    """The persistence side of one simulated phone: its whole state and its change records.

    It shares (does not copy) the phone's ``store``, ``sender_keys`` and ``skdm_sent`` (which devices hold
    the phone's sender key, by group). The phone's log is passed to each call, because a restored state
    replaces the phone's log list. The phone reports what else it changed: :attr:`log_changed` (positions
    of older log entries whose receipt state it moved on; entries from :attr:`log_saved` on are new) and
    :attr:`skdm_changed` (groups whose ``skdm_sent`` changed).
    """

    def __init__(self, store: PhoneStore, sender_keys: PhoneSenderKeys, skdm_sent: dict[JID, set[JID]]) -> None:
        self.store = store
        self.sender_keys = sender_keys
        self.skdm_sent = skdm_sent
        #: How many log entries were saved; those after are new.
        self.log_saved = 0
        #: Positions of saved log entries that changed since.
        self.log_changed: set[int] = set()
        #: Groups whose devices holding the sender key changed since the last export.
        self.skdm_changed: set[JID] = set()

    async def export_state(self, log: Sequence[LogEntry]) -> dict[str, Any]:
        """The whole state form (see the module docstring) of the shared stores and ``log``. The phone's own
        key material is not in it (the owner keeps that); prekeys used up are gone from the owner's dict
        already. Does not change what :meth:`export_changes` reports."""
        return {
            "sessions": dump_sessions(self.store.sessions, self.store.sessions),
            "identities": dump_identities(self.store.identities, self.store.identities),
            "sender_keys": await dump_sender_keys(self.sender_keys, self.sender_keys.names),
            "skdm_sent": dump_skdm_sent(self.skdm_sent, self.skdm_sent),
            "log": [entry.to_state() for entry in log],
        }

    async def export_changes(self, log: Sequence[LogEntry]) -> dict[str, Any] | None:
        """A change record of what changed since the last export (or restore), or None when nothing did;
        it then counts as saved.

        Tracked: sessions stored or dropped, identities saved, sender keys stored, devices given the sender
        key, log entries added and entries whose receipt state the phone moved on. (A decrypted media
        plaintext is never persisted; an entry changed from outside the phone's methods is saved with
        the next whole state.)"""
        changes = self.store.take_changes()
        if self.sender_keys.changed:
            changes["sender_keys"] = await dump_sender_keys(self.sender_keys, self.sender_keys.changed)
            self.sender_keys.changed.clear()
        if self.skdm_changed:
            changes["skdm_sent"] = dump_skdm_sent(self.skdm_sent, self.skdm_changed)
            self.skdm_changed.clear()
        positions = sorted({p for p in self.log_changed if p < self.log_saved} | set(range(self.log_saved, len(log))))
        if positions:
            changes["log_at"] = [[p, log[p].to_state()] for p in positions]
        self.log_changed.clear()
        self.log_saved = len(log)
        return changes or None

    async def import_state(self, data: Any) -> list[LogEntry]:
        """Restore a whole state into the shared stores and return its log (the phone's new log); what is
        restored counts as saved. ``DecodeError`` for data that is not such a state; nothing is then changed."""
        state = parse_state(data)
        self.store.sessions.update(state.sessions)
        self.store.identities.update(state.identities)
        for name, record in state.sender_keys:
            await self.sender_keys.store_sender_key(name, record)
        self.skdm_sent.update(state.skdm_sent)
        self.forget_changes(len(state.log))
        return state.log

    async def apply_changes(self, data: Any, log: list[LogEntry]) -> None:
        """Replay a change record on the shared stores and ``log`` (changed in place), on top of the state
        it followed; what it changes counts as saved, and replaying it twice is harmless. ``DecodeError``
        for anything else (a log position past the end included); nothing is then
        changed."""
        changes = parse_changes(data)
        length = len(log)
        for position, _ in changes.log_at:
            if position > length:
                raise DecodeError(f"a change record puts a log entry at {position}, past the end ({length})")
            length = max(length, position + 1)
        self.store.sessions.update(changes.sessions)
        for address in changes.sessions_removed:
            self.store.sessions.pop(address, None)
        self.store.identities.update(changes.identities)
        for name, record in changes.sender_keys:
            await self.sender_keys.store_sender_key(name, record)
        self.skdm_sent.update(changes.skdm_sent)
        for position, entry in changes.log_at:
            if position == len(log):
                log.append(entry)
            else:
                log[position] = entry
        self.forget_changes(len(log))

    def forget_changes(self, log_length: int) -> None:
        """Treat everything as saved, the log being ``log_length`` entries long."""
        self.store.forget_changes()
        self.sender_keys.changed.clear()
        self.skdm_changed.clear()
        self.log_changed.clear()
        self.log_saved = log_length
