"""A simulated phone's Signal stores that remember what changed, and the JSON form of the phone's state.

:class:`PhoneStore` (sessions, peer identities, the phone's own prekeys) and :class:`PhoneSenderKeys`
(group sender keys) are the ``waproto.signal`` memory stores plus a record of which entries changed since
the owner last asked (:meth:`PhoneStore.take_changes`). That is what lets the sandbox persist a phone by
appending only what one message changed (``waproto.sandbox.journal``) instead of rewriting its whole state.

Two JSON forms, both JSON-ready dicts:

- the **state** (``SimPhone.export_state``): ``sessions``, ``identities``, ``sender_keys``, ``skdm_sent``
  and the whole ``log``; :func:`parse_state` reads it;
- a **change record** (``SimPhone.export_changes``): the same keys, each optional, holding only what
  changed, plus ``sessions_removed`` and ``log_at`` (``[index, entry]`` pairs: a new or updated log entry at
  that position); :func:`parse_changes` reads it. Every change sets a value, so replaying a record twice
  gives the same state (the journal's requirement).

This module is NOT the phone (``phone``) and does no I/O.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
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

__all__ = ["PhoneSenderKeys", "PhoneState", "PhoneStore", "dump_sender_keys", "parse_changes", "parse_state"]

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
