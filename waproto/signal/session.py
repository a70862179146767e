"""Signal 1:1 session state and records, and X3DH session building (libsignal v3, PROTOCOL.md §5.4).

- :class:`SessionState`: one double-ratchet session: root key, our current ratchet key pair and sending
  chain, up to :data:`MAX_RECEIVER_CHAINS` receiving chains (newest first) with their skipped message
  keys, both identity keys, and while no reply has arrived the prekey data an outgoing ``pkmsg`` carries.
- :class:`SessionRecord`: the session in use plus up to :data:`MAX_PREVIOUS_STATES` earlier ones, so a
  peer that re-established the session does not break decryption of messages still in flight.
  Records are values: the operations build new records and never change one that was loaded or stored.
- :func:`initialize_alice` / :func:`initialize_bob`: the pure X3DH computations for the initiator (from a
  prekey bundle) and the responder (from an incoming ``PreKeySignalMessage``).
- :func:`process_pre_key_bundle`: the store-level operation that builds an outgoing session.
- :class:`IdentityChange`: what operations report when a peer's identity key changed.

Master secret order (as libsignal): ``FF×32 || DH(IK_A, SPK_B) || DH(EK_A, IK_B) || DH(EK_A, SPK_B)
[|| DH(EK_A, OPK_B)]``; the initiator's first sending ratchet key is a fresh key pair, not the base key.

Records serialise (``serialize``/``deserialize``) to versioned JSON bytes for persistent stores; private
keys are in it, so it belongs where the other secrets are kept.

This module does not encrypt or decrypt messages (see ``waproto.signal.cipher``) and has no randomness
of its own: ``rng`` is a parameter.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from waproto.errors import DecodeError, UntrustedIdentity
from waproto.signal.curve import KeyPair, generate_key_pair, shared_secret
from waproto.signal.ratchet import initial_root, ratchet_root

if TYPE_CHECKING:
    from waproto.signal.address import ProtocolAddress
    from waproto.signal.keys import PreKeyBundle
    from waproto.signal.store import Direction, IdentityKeyStore, SessionStore

__all__ = [
    "MAX_PREVIOUS_STATES",
    "MAX_RECEIVER_CHAINS",
    "MAX_SKIPPED_KEYS",
    "IdentityChange",
    "PendingPreKey",
    "ReceiverChain",
    "SessionRecord",
    "SessionState",
    "check_and_save_identity",
    "check_identity",
    "initialize_alice",
    "initialize_bob",
    "process_pre_key_bundle",
]

#: Receiving chains kept per session (older ones are dropped with their skipped keys), as libsignal.
MAX_RECEIVER_CHAINS = 5
#: Earlier session states kept per record, as libsignal.
MAX_PREVIOUS_STATES = 40
#: Skipped message keys kept per receiving chain, and the furthest a message may jump ahead of its chain.
MAX_SKIPPED_KEYS = 2000

_FF32 = b"\xff" * 32
_RECORD_FORMAT = 1


@dataclass(frozen=True, slots=True)
class IdentityChange:
    """A peer's identity key changed (its "security code" changed); reported, never silently accepted.

    Operations that store an identity return this when the key they stored replaced a different one.
    Keys are 32 bytes.
    """

    address: ProtocolAddress
    previous: bytes
    current: bytes


class PendingPreKey(NamedTuple):
    """What our outgoing ``pkmsg`` must carry until the peer has answered (keys 32 bytes)."""

    pre_key_id: int | None
    signed_pre_key_id: int
    base_key: bytes


class ReceiverChain:
    """One receiving chain: the peer's ratchet key, the next chain key and its index, skipped keys."""

    __slots__ = ("chain_key", "index", "ratchet_key", "skipped")

    def __init__(self, ratchet_key: bytes, chain_key: bytes, index: int, skipped: dict[int, bytes]) -> None:
        #: The peer's ratchet public key of this chain (32 bytes).
        self.ratchet_key = ratchet_key
        #: The chain key that yields the message key of ``index``.
        self.chain_key = chain_key
        #: The counter of the next message key this chain will produce.
        self.index = index
        #: Message-key seeds of skipped counters (insertion order = age), at most MAX_SKIPPED_KEYS.
        self.skipped = skipped

    def copy(self) -> ReceiverChain:
        """An independent copy."""
        return ReceiverChain(self.ratchet_key, self.chain_key, self.index, dict(self.skipped))


class SessionState:
    """One double-ratchet session. Identity and ratchet public keys are 32 bytes (no ``05`` prefix).

    Operations never mutate a state that a record holds: they mutate a :meth:`copy` (which shares the
    receiving chains until one is replaced) and put it in a new record.
    """

    __slots__ = (
        "_private",
        "base_key",
        "local_identity",
        "local_ratchet",
        "local_registration_id",
        "pending_pre_key",
        "previous_counter",
        "receiver_chains",
        "remote_identity",
        "remote_registration_id",
        "root_key",
        "sender_chain_key",
        "sender_index",
    )

    def __init__(
        self,
        *,
        local_identity: bytes,
        remote_identity: bytes,
        root_key: bytes,
        local_ratchet: KeyPair,
        sender_chain_key: bytes,
        sender_index: int,
        previous_counter: int,
        receiver_chains: list[ReceiverChain],
        base_key: bytes,
        pending_pre_key: PendingPreKey | None,
        local_registration_id: int,
        remote_registration_id: int,
    ) -> None:
        self.local_identity = local_identity
        self.remote_identity = remote_identity
        self.root_key = root_key
        #: Our current ratchet key pair (the key of the sending chain).
        self.local_ratchet = local_ratchet
        self.sender_chain_key = sender_chain_key
        #: The counter the next message we send will carry.
        self.sender_index = sender_index
        #: The last counter of our previous sending chain (sent in every message).
        self.previous_counter = previous_counter
        #: Newest first.
        self.receiver_chains = receiver_chains
        #: The initiator's base key: identifies the session on both sides.
        self.base_key = base_key
        self.pending_pre_key = pending_pre_key
        self.local_registration_id = local_registration_id
        self.remote_registration_id = remote_registration_id
        self._private: X25519PrivateKey | None = None

    def copy(self) -> SessionState:
        """A shallow copy: fields can be reassigned; the receiving-chain list is a new list."""
        new = SessionState.__new__(SessionState)
        new.local_identity = self.local_identity
        new.remote_identity = self.remote_identity
        new.root_key = self.root_key
        new.local_ratchet = self.local_ratchet
        new.sender_chain_key = self.sender_chain_key
        new.sender_index = self.sender_index
        new.previous_counter = self.previous_counter
        new.receiver_chains = list(self.receiver_chains)
        new.base_key = self.base_key
        new.pending_pre_key = self.pending_pre_key
        new.local_registration_id = self.local_registration_id
        new.remote_registration_id = self.remote_registration_id
        new._private = self._private
        return new

    def ratchet_private(self) -> X25519PrivateKey:
        """Our ratchet private key as a ``cryptography`` object (built once per key pair)."""
        private = self._private
        if private is None:
            private = self._private = X25519PrivateKey.from_private_bytes(self.local_ratchet.private)
        return private

    def set_ratchet(self, pair: KeyPair, private: X25519PrivateKey) -> None:
        """Replace our ratchet key pair (``private`` is the same key as a ``cryptography`` object)."""
        self.local_ratchet = pair
        self._private = private

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (bytes as base64)."""
        pending = self.pending_pre_key
        return {
            "local_identity": _b64(self.local_identity),
            "remote_identity": _b64(self.remote_identity),
            "root_key": _b64(self.root_key),
            "local_ratchet": _b64(self.local_ratchet.private),
            "sender_chain_key": _b64(self.sender_chain_key),
            "sender_index": self.sender_index,
            "previous_counter": self.previous_counter,
            "receiver_chains": [
                {
                    "ratchet_key": _b64(c.ratchet_key),
                    "chain_key": _b64(c.chain_key),
                    "index": c.index,
                    "skipped": [[n, _b64(seed)] for n, seed in c.skipped.items()],
                }
                for c in self.receiver_chains
            ],
            "base_key": _b64(self.base_key),
            "pending_pre_key": None
            if pending is None
            else {
                "pre_key_id": pending.pre_key_id,
                "signed_pre_key_id": pending.signed_pre_key_id,
                "base_key": _b64(pending.base_key),
            },
            "local_registration_id": self.local_registration_id,
            "remote_registration_id": self.remote_registration_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionState:
        """The state :meth:`to_json` described; raises ``KeyError``/``TypeError``/``ValueError`` if malformed."""
        pending = data["pending_pre_key"]
        state = cls(
            local_identity=_unb64(data["local_identity"], 32),
            remote_identity=_unb64(data["remote_identity"], 32),
            root_key=_unb64(data["root_key"], 32),
            local_ratchet=KeyPair.from_private(_unb64(data["local_ratchet"], 32)),
            sender_chain_key=_unb64(data["sender_chain_key"], 32),
            sender_index=_int(data["sender_index"]),
            previous_counter=_int(data["previous_counter"]),
            receiver_chains=[
                ReceiverChain(
                    _unb64(c["ratchet_key"], 32),
                    _unb64(c["chain_key"], 32),
                    _int(c["index"]),
                    {_int(n): _unb64(seed, 32) for n, seed in c["skipped"]},
                )
                for c in data["receiver_chains"]
            ],
            base_key=_unb64(data["base_key"], 32),
            pending_pre_key=None
            if pending is None
            else PendingPreKey(
                None if pending["pre_key_id"] is None else _int(pending["pre_key_id"]),
                _int(pending["signed_pre_key_id"]),
                _unb64(pending["base_key"], 32),
            ),
            local_registration_id=_int(data["local_registration_id"]),
            remote_registration_id=_int(data["remote_registration_id"]),
        )
        return state


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _unb64(value: object, size: int) -> bytes:
    if not isinstance(value, str):
        raise TypeError("expected a base64 string")
    raw = base64.b64decode(value, validate=True)
    if len(raw) != size:
        raise ValueError(f"expected {size} bytes")
    return raw


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError("expected a non-negative integer")
    return value


class SessionRecord:
    """The session in use (``current``) and earlier ones (``previous``, newest first). A value: never mutated."""

    __slots__ = ("current", "previous")

    def __init__(self, current: SessionState | None = None, previous: tuple[SessionState, ...] = ()) -> None:
        self.current = current
        self.previous = previous

    def with_current(self, state: SessionState) -> SessionRecord:
        """A record whose current state is ``state`` (an updated copy of the current one)."""
        return SessionRecord(state, self.previous)

    def with_new_session(self, state: SessionState) -> SessionRecord:
        """A record whose current state is the new ``state``; the old current one is archived."""
        previous = self.previous if self.current is None else (self.current, *self.previous)
        return SessionRecord(state, previous[:MAX_PREVIOUS_STATES])

    def with_previous(self, index: int, state: SessionState) -> SessionRecord:
        """A record where ``previous[index]`` is replaced by ``state`` (an updated copy of it).

        The state stays archived: replies keep going out on the current session, the one the peer
        established last (promoting the old one back would make libsignal-node, which ratchets its open
        session with any message it tries, corrupt that session).
        """
        previous = (*self.previous[:index], state, *self.previous[index + 1 :])
        return SessionRecord(self.current, previous)

    def find_base_key(self, base_key: bytes) -> tuple[int, SessionState] | None:
        """``(-1, current)`` or ``(i, previous[i])`` for the state built on ``base_key`` (32 bytes), if any."""
        if self.current is not None and self.current.base_key == base_key:
            return -1, self.current
        for i, state in enumerate(self.previous):
            if state.base_key == base_key:
                return i, state
        return None

    def serialize(self) -> bytes:
        """Versioned JSON bytes (contains private keys)."""
        return json.dumps(
            {
                "format": _RECORD_FORMAT,
                "current": None if self.current is None else self.current.to_json(),
                "previous": [s.to_json() for s in self.previous],
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def deserialize(cls, data: bytes) -> SessionRecord:
        """The record :meth:`serialize` wrote; ``DecodeError`` if ``data`` is not one."""
        try:
            obj = json.loads(data)
            if obj["format"] != _RECORD_FORMAT:
                raise DecodeError(f"session record format {obj['format']!r} is not {_RECORD_FORMAT}")
            current = None if obj["current"] is None else SessionState.from_json(obj["current"])
            previous = tuple(SessionState.from_json(s) for s in obj["previous"])
        except DecodeError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise DecodeError(f"not a serialised session record: {exc}") from exc
        return cls(current, previous)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SessionRecord) and self.serialize() == other.serialize()

    __hash__ = None  # type: ignore[assignment]


def _new_ratchet(rng: Callable[[int], bytes]) -> tuple[KeyPair, X25519PrivateKey]:
    pair = generate_key_pair(rng)
    return pair, X25519PrivateKey.from_private_bytes(pair.private)


def initialize_alice(
    *,
    our_identity: KeyPair,
    our_base_key: KeyPair,
    our_registration_id: int,
    bundle: PreKeyBundle,
    rng: Callable[[int], bytes],
) -> SessionState:
    """The initiator's new session from a peer's bundle and our fresh base key (signature not checked here)."""
    master = (
        _FF32
        + shared_secret(our_identity.private, bundle.signed_pre_key_public)
        + shared_secret(our_base_key.private, bundle.identity_key)
        + shared_secret(our_base_key.private, bundle.signed_pre_key_public)
    )
    if bundle.pre_key_public is not None:
        master += shared_secret(our_base_key.private, bundle.pre_key_public)
    root, _ = initial_root(master)
    ratchet, private = _new_ratchet(rng)
    root, sender_chain_key = ratchet_root(root, shared_secret(ratchet.private, bundle.signed_pre_key_public))
    state = SessionState(
        local_identity=our_identity.public,
        remote_identity=bundle.identity_key,
        root_key=root,
        local_ratchet=ratchet,
        sender_chain_key=sender_chain_key,
        sender_index=0,
        previous_counter=0,
        receiver_chains=[],
        base_key=our_base_key.public,
        pending_pre_key=PendingPreKey(bundle.pre_key_id, bundle.signed_pre_key_id, our_base_key.public),
        local_registration_id=our_registration_id,
        remote_registration_id=bundle.registration_id,
    )
    state.set_ratchet(ratchet, private)
    return state


def initialize_bob(
    *,
    our_identity: KeyPair,
    our_signed_pre_key: KeyPair,
    our_one_time_pre_key: KeyPair | None,
    our_registration_id: int,
    their_identity: bytes,
    their_base_key: bytes,
    their_registration_id: int,
) -> SessionState:
    """The responder's new session from an incoming prekey message's keys (32-byte public keys).

    Our first ratchet key is the signed prekey; the first message's ratchet key turns the ratchet.
    """
    master = (
        _FF32
        + shared_secret(our_signed_pre_key.private, their_identity)
        + shared_secret(our_identity.private, their_base_key)
        + shared_secret(our_signed_pre_key.private, their_base_key)
    )
    if our_one_time_pre_key is not None:
        master += shared_secret(our_one_time_pre_key.private, their_base_key)
    root, chain_key = initial_root(master)
    return SessionState(
        local_identity=our_identity.public,
        remote_identity=their_identity,
        root_key=root,
        local_ratchet=our_signed_pre_key,
        sender_chain_key=chain_key,
        sender_index=0,
        previous_counter=0,
        receiver_chains=[],
        base_key=their_base_key,
        pending_pre_key=None,
        local_registration_id=our_registration_id,
        remote_registration_id=their_registration_id,
    )


async def check_identity(
    identity_store: IdentityKeyStore, address: ProtocolAddress, identity_key: bytes, direction: Direction
) -> None:
    """Raise ``UntrustedIdentity`` unless the store trusts ``identity_key`` for ``address``."""
    if not await identity_store.is_trusted_identity(address, identity_key, direction):
        raise UntrustedIdentity(
            f"the identity key of {address} is not trusted ({direction})",
            address=address,
            identity_key=identity_key,
        )


async def check_and_save_identity(
    identity_store: IdentityKeyStore, address: ProtocolAddress, identity_key: bytes
) -> IdentityChange | None:
    """Store the peer's identity key; an :class:`IdentityChange` if it replaced a different one."""
    previous = await identity_store.save_identity(address, identity_key)
    if previous is None:
        return None
    return IdentityChange(address, previous, identity_key)


async def process_pre_key_bundle(
    address: ProtocolAddress,
    bundle: PreKeyBundle,
    *,
    identity_store: IdentityKeyStore,
    session_store: SessionStore,
    rng: Callable[[int], bytes],
) -> IdentityChange | None:
    """Build an outgoing session with ``address`` from its prekey bundle; messages go out as ``pkmsg``
    until the peer answers. A session already in use is archived (still able to decrypt).

    Raises ``InvalidKeySignature`` for a bad signed-prekey signature (checked, unlike libsignal-node) and
    ``UntrustedIdentity`` if the identity store refuses the bundle's identity key; nothing is stored then.
    Returns an :class:`IdentityChange` when the peer's identity key differs from the one stored.
    """
    bundle.verify_signature()
    await check_identity(identity_store, address, bundle.identity_key, "sending")
    our_identity = await identity_store.get_identity_key_pair()
    our_registration_id = await identity_store.get_local_registration_id()
    base_key = generate_key_pair(rng)
    state = initialize_alice(
        our_identity=our_identity,
        our_base_key=base_key,
        our_registration_id=our_registration_id,
        bundle=bundle,
        rng=rng,
    )
    record = await session_store.load_session(address) or SessionRecord()
    await session_store.store_session(address, record.with_new_session(state))
    return await check_and_save_identity(identity_store, address, bundle.identity_key)
