"""Sender-key state for Signal groups: chain keys, message keys, records, and where they are kept.

A group member encrypts its group messages with its own *sender key*: a symmetric hash chain (the chain
key, stepped once per message) plus a signing key pair whose private half only the sender holds. Every
other member keeps a copy of that chain, received in a SenderKeyDistributionMessage, under the name
(group, sender address, device). This module holds those values and their rules:

- :class:`SenderChainKey` steps the chain: ``message seed = HMAC-SHA256(chain key, 01)``,
  ``next chain key = HMAC-SHA256(chain key, 02)``; :class:`SenderMessageKey` expands a message seed with
  HKDF-SHA256 (zero salt, info ``WhisperGroup``) into a 16-byte AES-CBC IV and a 32-byte AES key.
- :class:`SenderKeyState` is one chain with its key id, signing key and the message keys it skipped over
  (at most :data:`MAX_MESSAGE_KEYS`, the oldest dropped first, as libsignal does).
- :class:`SenderKeyRecord` is what is stored per name: up to :data:`MAX_STATES` states, newest first, so
  messages from a sender's previous key still decrypt for a while after it rotates.
- :class:`SenderKeyStore` is the storage Protocol; :class:`MemorySenderKeyStore` keeps records in a dict.

Records serialise to a compact versioned binary layout of our own (:meth:`SenderKeyRecord.serialize`);
it is a storage format, never sent on the wire.

This module does not encrypt, decrypt or parse wire messages (``waproto.signal.group`` does), and it has
no randomness of its own.
"""

from __future__ import annotations

import hmac
import struct
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Final, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from waproto.errors import DecodeError, LocalProtocolError
from waproto.signal import curve
from waproto.signal.address import ProtocolAddress

__all__ = [
    "MAX_FORWARD_JUMP",
    "MAX_ITERATION",
    "MAX_MESSAGE_KEYS",
    "MAX_STATES",
    "MemorySenderKeyStore",
    "SenderChainKey",
    "SenderKeyName",
    "SenderKeyRecord",
    "SenderKeyState",
    "SenderKeyStore",
    "SenderMessageKey",
]

#: How many skipped message keys one state keeps; beyond it the oldest are dropped (libsignal: 2000).
MAX_MESSAGE_KEYS: Final = 2000
#: How far ahead of its chain a message may be; a bigger jump is refused (libsignal: 2000).
MAX_FORWARD_JUMP: Final = 2000
#: How many states (sender keys of one sender) a record keeps, newest first (libsignal: 5).
MAX_STATES: Final = 5
#: The largest iteration a chain may reach (the wire field is a uint32).
MAX_ITERATION: Final = 2**32 - 1

_MESSAGE_KEY_SEED: Final = b"\x01"
_CHAIN_KEY_SEED: Final = b"\x02"
_GROUP_INFO: Final = b"WhisperGroup"

_FORMAT_VERSION: Final = 1
_STATE_HEAD = struct.Struct(">II32s33sB")  # key id, iteration, chain seed, signing public, has private
_SKIPPED_COUNT = struct.Struct(">H")
_SKIPPED_KEY = struct.Struct(">I32s")


@dataclass(frozen=True, slots=True)
class SenderKeyName:
    """Whose sender key, in which group: the key under which a :class:`SenderKeyRecord` is stored.

    ``str(name)`` is ``group::sender-name::device``, the same string Baileys keys its sender-key store by.
    """

    #: The group JID as a string, for example ``120363012345678901@g.us``.
    group_id: str
    #: The sending device's Signal address (for our own sender key: ours).
    sender: ProtocolAddress

    def __post_init__(self) -> None:
        if not isinstance(self.group_id, str) or not self.group_id:
            raise LocalProtocolError("a sender-key name needs a non-empty group id")
        if not isinstance(self.sender, ProtocolAddress):
            raise LocalProtocolError("a sender-key name's sender is a ProtocolAddress")

    def __str__(self) -> str:
        return f"{self.group_id}::{self.sender.name}::{self.sender.device_id}"


@dataclass(frozen=True, slots=True)
class SenderMessageKey:
    """The key material for one group message: a message seed at an iteration, and what it expands to."""

    #: The chain position this key encrypts.
    iteration: int
    #: 32 bytes: HMAC-SHA256(chain key, 01).
    seed: bytes = field(repr=False)

    def expand(self) -> tuple[bytes, bytes]:
        """``(iv, key)``: HKDF-SHA256(seed, salt = 32 zero bytes, info ``WhisperGroup``), 16 + 32 bytes."""
        okm = HKDF(hashes.SHA256(), 48, salt=bytes(32), info=_GROUP_INFO).derive(self.seed)
        return okm[:16], okm[16:]


@dataclass(frozen=True, slots=True)
class SenderChainKey:
    """A position in a sender's hash chain: ``iteration`` and the 32-byte chain key there."""

    #: How many steps from the chain's start this key is.
    iteration: int
    #: 32 bytes.
    seed: bytes = field(repr=False)

    def message_key(self) -> SenderMessageKey:
        """The message key for this position."""
        return SenderMessageKey(self.iteration, hmac.digest(self.seed, _MESSAGE_KEY_SEED, sha256))

    def next(self) -> SenderChainKey:
        """The chain key one step on. Raises ``LocalProtocolError`` when the uint32 counter is exhausted."""
        if self.iteration >= MAX_ITERATION:
            raise LocalProtocolError("this sender-key chain is exhausted (iteration 2**32 - 1)")
        return SenderChainKey(self.iteration + 1, hmac.digest(self.seed, _CHAIN_KEY_SEED, sha256))


class SenderKeyState:
    """One sender key: its id, chain, signing key and the message keys skipped over (mutable).

    Our own sending state has ``signing_private``; a state learnt from another member has only the public
    half. ``skipped`` maps an iteration to its message seed, oldest first.
    """

    __slots__ = ("chain", "key_id", "signing_private", "signing_public", "skipped")

    def __init__(
        self,
        key_id: int,
        chain: SenderChainKey,
        signing_public: bytes,
        signing_private: bytes | None = None,
        skipped: dict[int, bytes] | None = None,
    ) -> None:
        if not 0 <= key_id <= MAX_ITERATION:
            raise LocalProtocolError(f"a sender key id is a uint32, not {key_id}")
        if not 0 <= chain.iteration <= MAX_ITERATION or len(chain.seed) != 32:
            raise LocalProtocolError("a sender chain key is 32 bytes at a uint32 iteration")
        if signing_private is not None and len(signing_private) != 32:
            raise LocalProtocolError("a signing private key is 32 bytes")
        #: The key id that travels in every SenderKeyMessage and SenderKeyDistributionMessage.
        self.key_id = key_id
        #: The next chain position to use (sending) or to expect (receiving).
        self.chain = chain
        #: The 33-byte (``05``-prefixed) public signing key. Raises ``DecodeError`` if malformed.
        self.signing_public = bytes([curve.KEY_TYPE_DJB]) + curve.strip_key_type(signing_public)
        #: The 32-byte private signing key, only in our own sending state.
        self.signing_private = signing_private
        #: Skipped message seeds by iteration, oldest first, at most ``MAX_MESSAGE_KEYS``.
        self.skipped: dict[int, bytes] = dict(skipped) if skipped else {}

    def __repr__(self) -> str:
        own = ", own" if self.signing_private is not None else ""
        return (
            f"SenderKeyState(key_id={self.key_id}, iteration={self.chain.iteration}, "
            f"skipped={len(self.skipped)}{own})"
        )

    def copy(self) -> SenderKeyState:
        """An independent copy (the skipped keys are copied; the byte values are immutable anyway)."""
        return SenderKeyState(self.key_id, self.chain, self.signing_public, self.signing_private, self.skipped)

    def add_skipped(self, key: SenderMessageKey) -> None:
        """Keep ``key`` for a late message, dropping the oldest kept key beyond ``MAX_MESSAGE_KEYS``."""
        self.skipped[key.iteration] = key.seed
        while len(self.skipped) > MAX_MESSAGE_KEYS:
            del self.skipped[next(iter(self.skipped))]

    def pop_skipped(self, iteration: int) -> SenderMessageKey | None:
        """Remove and return the kept key for ``iteration``, or None if there is none."""
        seed = self.skipped.pop(iteration, None)
        return None if seed is None else SenderMessageKey(iteration, seed)


class SenderKeyRecord:
    """Everything stored under one :class:`SenderKeyName`: up to ``MAX_STATES`` states, newest first."""

    __slots__ = ("states",)

    def __init__(self, states: list[SenderKeyState] | None = None) -> None:
        #: The states, newest first.
        self.states: list[SenderKeyState] = list(states) if states else []

    def __repr__(self) -> str:
        return f"SenderKeyRecord({self.states!r})"

    @property
    def is_empty(self) -> bool:
        """Whether the record holds no state at all."""
        return not self.states

    @property
    def current(self) -> SenderKeyState | None:
        """The newest state (the one we send with, for our own record), or None."""
        return self.states[0] if self.states else None

    def state_for(self, key_id: int) -> SenderKeyState | None:
        """The state with ``key_id``, or None."""
        for state in self.states:
            if state.key_id == key_id:
                return state
        return None

    def copy(self) -> SenderKeyRecord:
        """An independent copy: mutating it (or its states) leaves this record as it is."""
        return SenderKeyRecord([state.copy() for state in self.states])

    def set_own_state(self, state: SenderKeyState) -> None:
        """Make ``state`` (our own new sending key) the only state."""
        self.states = [state]

    def add_state(self, state: SenderKeyState) -> None:
        """Add a state learnt from a distribution message, as the newest.

        A state with the same key id **and** signing key is kept as it is (only moved to the front): a
        re-sent distribution message must not rewind the chain, or old messages could be replayed. A state
        with the same key id but another signing key is replaced. The oldest states beyond
        ``MAX_STATES`` are dropped.
        """
        kept = [s for s in self.states if s.key_id == state.key_id and s.signing_public == state.signing_public]
        others = [s for s in self.states if s.key_id != state.key_id]
        self.states = [kept[0] if kept else state, *others][:MAX_STATES]

    def serialize(self) -> bytes:
        """The record as bytes (a storage format of ours, version 1; private keys included)."""
        out = bytearray([_FORMAT_VERSION, len(self.states)])
        for state in self.states:
            private = state.signing_private
            out += _STATE_HEAD.pack(
                state.key_id, state.chain.iteration, state.chain.seed, state.signing_public, private is not None
            )
            if private is not None:
                out += private
            out += _SKIPPED_COUNT.pack(len(state.skipped))
            for iteration, seed in state.skipped.items():
                out += _SKIPPED_KEY.pack(iteration, seed)
        return bytes(out)

    @classmethod
    def deserialize(cls, data: bytes) -> SenderKeyRecord:
        """Read :meth:`serialize`'s bytes back. Raises ``DecodeError`` for anything malformed."""
        view = memoryview(bytes(data))
        try:
            version, count = view[0], view[1]
            if version != _FORMAT_VERSION:
                raise DecodeError(f"unknown sender-key record format {version}")
            if count > MAX_STATES:
                raise DecodeError(f"a sender-key record holds at most {MAX_STATES} states, not {count}")
            offset = 2
            states = []
            for _ in range(count):
                key_id, iteration, seed, public, has_private = _STATE_HEAD.unpack_from(view, offset)
                offset += _STATE_HEAD.size
                private = None
                if has_private not in (0, 1):
                    raise DecodeError("bad private-key flag in a sender-key record")
                if has_private:
                    private = bytes(view[offset : offset + 32])
                    if len(private) != 32:
                        raise DecodeError("truncated sender-key record")
                    offset += 32
                (n_skipped,) = _SKIPPED_COUNT.unpack_from(view, offset)
                offset += _SKIPPED_COUNT.size
                if n_skipped > MAX_MESSAGE_KEYS:
                    raise DecodeError(f"a sender-key state keeps at most {MAX_MESSAGE_KEYS} skipped keys")
                skipped = {}
                for _ in range(n_skipped):
                    skipped_iteration, skipped_seed = _SKIPPED_KEY.unpack_from(view, offset)
                    offset += _SKIPPED_KEY.size
                    skipped[skipped_iteration] = skipped_seed
                states.append(SenderKeyState(key_id, SenderChainKey(iteration, seed), public, private, skipped))
        except (IndexError, struct.error) as exc:
            raise DecodeError("truncated sender-key record") from exc
        except LocalProtocolError as exc:
            raise DecodeError(f"invalid sender-key record: {exc}") from exc
        if offset != len(view):
            raise DecodeError("trailing bytes after a sender-key record")
        return cls(states)


class SenderKeyStore(Protocol):
    """Where sender-key records live, by :class:`SenderKeyName`.

    ``waproto.signal.group`` loads a record, works on a copy, and stores it back only when the whole
    operation succeeded; a store never sees a half-done change. An implementation may return its own
    object from ``load_sender_key`` (the group functions do not mutate what they load), but must not keep
    a reference to a record passed to ``store_sender_key`` that the caller could change later (copy it, or
    serialise it).
    """

    async def load_sender_key(self, name: SenderKeyName) -> SenderKeyRecord | None:
        """The record stored under ``name``, or None."""
        ...

    async def store_sender_key(self, name: SenderKeyName, record: SenderKeyRecord) -> None:
        """Store ``record`` under ``name``, replacing what was there."""
        ...


class MemorySenderKeyStore:
    """A :class:`SenderKeyStore` in a dict (tests, the sandbox, short-lived clients). Copies both ways."""

    def __init__(self) -> None:
        self._records: dict[SenderKeyName, SenderKeyRecord] = {}

    def __len__(self) -> int:
        return len(self._records)

    async def load_sender_key(self, name: SenderKeyName) -> SenderKeyRecord | None:
        """A copy of the record stored under ``name``, or None."""
        record = self._records.get(name)
        return None if record is None else record.copy()

    async def store_sender_key(self, name: SenderKeyName, record: SenderKeyRecord) -> None:
        """Store a copy of ``record`` under ``name``."""
        self._records[name] = record.copy()
