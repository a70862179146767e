"""Signal 1:1 session cipher: encrypt to ``pkmsg``/``msg`` and decrypt both (PROTOCOL.md §5.4).

Wire forms (version byte ``0x33`` = message version 3, current version 3):

- ``msg`` (``SignalMessage``): ``33 || proto{ratchet_key(33), counter, previous_counter, ciphertext} ||
  MAC[0:8]`` with ``MAC = HMAC-SHA256(mac_key, sender_identity(33) || receiver_identity(33) || 33 || proto)``;
- ``pkmsg`` (``PreKeySignalMessage``): ``33 || proto{registration_id, pre_key_id?, signed_pre_key_id,
  base_key(33), identity_key(33), message=<a framed msg>}``, sent until the peer has answered.

The body is AES-256-CBC with PKCS#7 padding under the message keys of ``waproto.signal.ratchet``.

Decryption works on copies and commits only on success: a bad MAC, an unknown prekey, a duplicate or
any malformed input raises and leaves every store untouched, so the next genuine message decrypts. A
message is tried against the current session state, then against the previous states (a duplicate
found in any of them is reported at once); a previous state that decrypts is updated where it is, so
replies keep going out on the current session, the one the peer established last. Counters may jump
ahead by at most :data:`~waproto.signal.session.MAX_SKIPPED_KEYS` (``TooManySkippedMessages``); skipped
keys are kept for out-of-order delivery; a key used once is gone (``DuplicateMessage``).

This module does not pad plaintexts (see ``waproto.signal.padding``), does not build sessions from
bundles (``waproto.signal.session``), and does not handle group messages (``skmsg``).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from waproto.errors import (
    DecodeError,
    DecryptionError,
    DuplicateMessage,
    InvalidKeyId,
    InvalidMac,
    InvalidMessage,
    LocalProtocolError,
    NoSession,
    TooManySkippedMessages,
)
from waproto.proto import PreKeySignalMessage, SignalMessage, decode
from waproto.signal.curve import KEY_TYPE_DJB, KeyPair
from waproto.signal.ratchet import chain_step, hmac_sha256, message_keys, ratchet_root
from waproto.signal.session import (
    MAX_RECEIVER_CHAINS,
    MAX_SKIPPED_KEYS,
    IdentityChange,
    ReceiverChain,
    SessionRecord,
    SessionState,
    check_and_save_identity,
    check_identity,
    initialize_bob,
)

if TYPE_CHECKING:
    from waproto.signal.address import ProtocolAddress
    from waproto.signal.store import IdentityKeyStore, PreKeyStore, SessionStore, SignedPreKeyStore

__all__ = [
    "CIPHERTEXT_VERSION",
    "MAC_LENGTH",
    "CiphertextMessage",
    "DecryptResult",
    "MessageType",
    "decrypt",
    "decrypt_message",
    "decrypt_pre_key_message",
    "encrypt",
]

#: The version byte in front of every ``msg`` and ``pkmsg``: (3 << 4) | 3.
CIPHERTEXT_VERSION = 0x33
#: Bytes of the truncated HMAC-SHA256 that ends a ``msg``.
MAC_LENGTH = 8

#: The ``type`` attribute of ``<enc>`` for 1:1 messages.
MessageType = Literal["pkmsg", "msg"]

_VERSION = bytes((CIPHERTEXT_VERSION,))
_DJB = bytes((KEY_TYPE_DJB,))


@dataclass(frozen=True, slots=True)
class CiphertextMessage:
    """An encrypted message: its ``<enc type>`` and its bytes."""

    type: MessageType
    body: bytes


@dataclass(frozen=True, slots=True)
class DecryptResult:
    """A decrypted message, and the identity change its storing revealed (if any)."""

    plaintext: bytes
    #: Set when the peer's stored identity key was replaced by a different one.
    identity_change: IdentityChange | None = None
    #: The one-time prekey a ``pkmsg`` used up (already removed from the prekey store), if any.
    used_pre_key_id: int | None = None


# --- small wire helpers


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _encode_signal_message(
    ratchet_key: bytes, counter: int, previous_counter: int, ciphertext: bytes
) -> bytes:
    # SignalMessage fields 1..4 in order (tags 0a, 10, 18, 22); the ratchet key is 33 bytes.
    return b"".join(
        (
            b"\x0a\x21\x05",
            ratchet_key,
            b"\x10",
            _varint(counter),
            b"\x18",
            _varint(previous_counter),
            b"\x22",
            _varint(len(ciphertext)),
            ciphertext,
        )
    )


def _peer_key(value: bytes, what: str) -> bytes:
    if len(value) != 33 or value[0] != KEY_TYPE_DJB:
        raise InvalidMessage(f"{what} is not a 33-byte 05-prefixed key")
    return value[1:]


def _check_version(data: bytes, what: str) -> None:
    if not data:
        raise InvalidMessage(f"empty {what}")
    if data[0] >> 4 != 3:
        raise InvalidMessage(f"{what} has version {data[0] >> 4}, only version 3 is supported")


class _Parsed:
    """A framed ``msg``, parsed but not authenticated."""

    __slots__ = ("ciphertext", "counter", "mac", "mac_body", "ratchet_key")

    def __init__(self, data: bytes) -> None:
        _check_version(data, "SignalMessage")
        if len(data) < 1 + MAC_LENGTH + 1:
            raise InvalidMessage("SignalMessage is too short")
        self.mac_body = data[:-MAC_LENGTH]
        self.mac = data[-MAC_LENGTH:]
        try:
            proto = decode(SignalMessage, data[1:-MAC_LENGTH])
        except DecodeError as exc:
            raise InvalidMessage(f"SignalMessage does not parse: {exc}") from exc
        if not (proto.HasField("ratchet_key") and proto.HasField("counter") and proto.HasField("ciphertext")):
            raise InvalidMessage("SignalMessage lacks its ratchet key, counter or ciphertext")
        self.ratchet_key = _peer_key(proto.ratchet_key, "the ratchet key")
        self.counter = proto.counter
        self.ciphertext = proto.ciphertext


def _peer_public(public: bytes) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(public)


def _dh(private: X25519PrivateKey, public: X25519PublicKey) -> bytes:
    try:
        return private.exchange(public)
    except ValueError as exc:
        raise InvalidMessage("the peer's ratchet key is of low order") from exc


def _new_ratchet(rng: Callable[[int], bytes]) -> tuple[KeyPair, X25519PrivateKey]:
    """A fresh ratchet key pair (clamped, as ``curve.generate_key_pair``) and its ``cryptography`` object."""
    raw = bytearray(rng(32))
    if len(raw) != 32:
        raise LocalProtocolError("rng(32) did not return 32 bytes")
    raw[0] &= 248
    raw[31] = (raw[31] & 127) | 64
    private = X25519PrivateKey.from_private_bytes(bytes(raw))
    return KeyPair(bytes(raw), private.public_key().public_bytes_raw()), private


# --- encryption


async def encrypt(
    address: ProtocolAddress,
    plaintext: bytes,
    *,
    identity_store: IdentityKeyStore,
    session_store: SessionStore,
) -> CiphertextMessage:
    """Encrypt ``plaintext`` (already padded, see ``waproto.signal.padding``) for ``address``.

    Returns a ``pkmsg`` until the peer has answered on this session, then ``msg``. Raises
    ``LocalProtocolError`` when there is no session (build one with ``process_pre_key_bundle``) and
    ``UntrustedIdentity`` when the identity store no longer trusts the peer.
    """
    record = await session_store.load_session(address)
    if record is None or record.current is None:
        raise LocalProtocolError(f"no session with {address}: process a prekey bundle first")
    current = record.current
    await check_identity(identity_store, address, current.remote_identity, "sending")
    state = current.copy()
    seed, state.sender_chain_key = chain_step(current.sender_chain_key)
    counter = current.sender_index
    state.sender_index = counter + 1
    keys = message_keys(seed)
    pad = 16 - len(plaintext) % 16
    encryptor = Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv)).encryptor()
    ciphertext = encryptor.update(bytes(plaintext) + bytes((pad,)) * pad) + encryptor.finalize()
    proto = _encode_signal_message(state.local_ratchet.public, counter, state.previous_counter, ciphertext)
    mac_input = b"".join((_DJB, state.local_identity, _DJB, state.remote_identity, _VERSION, proto))
    body = _VERSION + proto + hmac_sha256(keys.mac_key, mac_input)[:MAC_LENGTH]
    pending = state.pending_pre_key
    await session_store.store_session(address, record.with_current(state))
    if pending is None:
        return CiphertextMessage("msg", body)
    wrapper = PreKeySignalMessage(
        registration_id=state.local_registration_id,
        signed_pre_key_id=pending.signed_pre_key_id,
        base_key=_DJB + pending.base_key,
        identity_key=_DJB + state.local_identity,
        message=body,
    )
    if pending.pre_key_id is not None:
        wrapper.pre_key_id = pending.pre_key_id
    return CiphertextMessage("pkmsg", _VERSION + wrapper.SerializeToString())


# --- decryption of one message with one (copied) state


def _message_seed(chain: ReceiverChain, counter: int) -> bytes:
    """The key seed for ``counter`` on ``chain`` (a private copy, advanced in place)."""
    index = chain.index
    if counter < index:
        seed = chain.skipped.pop(counter, None)
        if seed is None:
            raise DuplicateMessage(f"message {counter} was already decrypted")
        return seed
    if counter - index > MAX_SKIPPED_KEYS:
        raise TooManySkippedMessages(
            f"message {counter} is {counter - index} ahead of its chain (at most {MAX_SKIPPED_KEYS})"
        )
    chain_key = chain.chain_key
    skipped = chain.skipped
    while index < counter:
        skipped[index], chain_key = chain_step(chain_key)
        index += 1
    while len(skipped) > MAX_SKIPPED_KEYS:
        del skipped[next(iter(skipped))]
    seed, chain.chain_key = chain_step(chain_key)
    chain.index = counter + 1
    return seed


def _decrypt_with_state(state: SessionState, message: _Parsed, rng: Callable[[int], bytes]) -> bytes:
    """Decrypt with ``state`` (a copy, updated in place); raises on any failure."""
    their = message.ratchet_key
    chains = state.receiver_chains
    for i, found in enumerate(chains):
        if found.ratchet_key == their:
            chain = found.copy()
            chains[i] = chain
            break
    else:
        if message.counter > MAX_SKIPPED_KEYS:
            raise TooManySkippedMessages(f"message {message.counter} opens a chain too far ahead")
        their_public = _peer_public(their)
        root, receive_key = ratchet_root(state.root_key, _dh(state.ratchet_private(), their_public))
        pair, private = _new_ratchet(rng)
        state.root_key, state.sender_chain_key = ratchet_root(root, _dh(private, their_public))
        state.previous_counter = max(state.sender_index - 1, 0)
        state.sender_index = 0
        state.set_ratchet(pair, private)
        chain = ReceiverChain(their, receive_key, 0, {})
        chains.insert(0, chain)
        del chains[MAX_RECEIVER_CHAINS:]
    keys = message_keys(_message_seed(chain, message.counter))
    mac_input = b"".join((_DJB, state.remote_identity, _DJB, state.local_identity, message.mac_body))
    expected = hmac_sha256(keys.mac_key, mac_input)[:MAC_LENGTH]
    if not hmac.compare_digest(expected, message.mac):
        raise InvalidMac("bad MAC on SignalMessage")
    ciphertext = message.ciphertext
    if not ciphertext or len(ciphertext) % 16:
        raise InvalidMessage("the ciphertext is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= 16 or padded[-pad:] != bytes((pad,)) * pad:
        raise InvalidMessage("bad PKCS#7 padding in the message body")
    state.pending_pre_key = None
    return padded[:-pad]


def _decrypt_record(
    record: SessionRecord, message: _Parsed, rng: Callable[[int], bytes]
) -> tuple[bytes, SessionRecord, SessionState]:
    """Try the current state, then the previous ones; the plaintext and the record to store."""
    first_error: DecryptionError | None = None
    if record.current is not None:
        state = record.current.copy()
        try:
            return _decrypt_with_state(state, message, rng), record.with_current(state), state
        except DuplicateMessage:
            raise
        except DecryptionError as exc:
            first_error = exc
    for i, previous in enumerate(record.previous):
        state = previous.copy()
        try:
            plaintext = _decrypt_with_state(state, message, rng)
        except DuplicateMessage:
            raise  # its chain is in this state: it is this session's message, seen before
        except DecryptionError as exc:
            first_error = first_error or exc
            continue
        return plaintext, record.with_previous(i, state), state
    if first_error is None:
        raise NoSession("no session state to decrypt with")
    raise first_error


# --- store-level operations


async def decrypt_message(
    address: ProtocolAddress,
    body: bytes,
    *,
    identity_store: IdentityKeyStore,
    session_store: SessionStore,
    rng: Callable[[int], bytes],
) -> DecryptResult:
    """Decrypt a ``msg`` from ``address``.

    Raises ``NoSession`` (no session at all), ``InvalidMessage`` (malformed), ``InvalidMac``,
    ``DuplicateMessage``, ``TooManySkippedMessages`` or ``UntrustedIdentity``; the stores are then unchanged.
    """
    message = _Parsed(bytes(body))
    record = await session_store.load_session(address)
    if record is None:
        raise NoSession(f"no session with {address}")
    plaintext, new_record, state = _decrypt_record(record, message, rng)
    await check_identity(identity_store, address, state.remote_identity, "receiving")
    await session_store.store_session(address, new_record)
    change = await check_and_save_identity(identity_store, address, state.remote_identity)
    return DecryptResult(plaintext, change)


async def decrypt_pre_key_message(
    address: ProtocolAddress,
    body: bytes,
    *,
    identity_store: IdentityKeyStore,
    session_store: SessionStore,
    pre_key_store: PreKeyStore,
    signed_pre_key_store: SignedPreKeyStore,
    rng: Callable[[int], bytes],
) -> DecryptResult:
    """Decrypt a ``pkmsg`` from ``address``, building the session it starts (or reusing it if known).

    A new session archives the one in use. The one-time prekey it used is removed only after success.
    Raises what :func:`decrypt_message` raises, and ``InvalidKeyId`` for a prekey or signed prekey we do
    not hold (for example one used up before); the stores are then unchanged.
    """
    data = bytes(body)
    _check_version(data, "PreKeySignalMessage")
    try:
        proto = decode(PreKeySignalMessage, data[1:])
    except DecodeError as exc:
        raise InvalidMessage(f"PreKeySignalMessage does not parse: {exc}") from exc
    if not (
        proto.HasField("base_key")
        and proto.HasField("identity_key")
        and proto.HasField("message")
        and proto.HasField("signed_pre_key_id")
    ):
        raise InvalidMessage(
            "PreKeySignalMessage lacks its base key, identity key, message or signed prekey id"
        )
    base_key = _peer_key(proto.base_key, "the base key")
    their_identity = _peer_key(proto.identity_key, "the identity key")
    message = _Parsed(proto.message)
    await check_identity(identity_store, address, their_identity, "receiving")
    record = await session_store.load_session(address) or SessionRecord()
    used_pre_key_id: int | None = None
    known = record.find_base_key(base_key)
    if known is not None:
        # The peer has not seen our answer yet (or this is a duplicate): same session, no prekey.
        index, known_state = known
        if known_state.remote_identity != their_identity:
            # The MAC covers the session's identity, not this unauthenticated field: refuse a swap.
            raise InvalidMessage("PreKeySignalMessage names another identity key than its session")
        state = known_state.copy()
        plaintext = _decrypt_with_state(state, message, rng)
        new_record = record.with_current(state) if index < 0 else record.with_previous(index, state)
    else:
        signed = await signed_pre_key_store.load_signed_pre_key(proto.signed_pre_key_id)
        if signed is None:
            raise InvalidKeyId(
                f"unknown signed prekey {proto.signed_pre_key_id}", key_id=proto.signed_pre_key_id
            )
        one_time = None
        if proto.HasField("pre_key_id"):
            pre_key = await pre_key_store.load_pre_key(proto.pre_key_id)
            if pre_key is None:
                raise InvalidKeyId(f"unknown one-time prekey {proto.pre_key_id}", key_id=proto.pre_key_id)
            one_time = pre_key.key_pair
            used_pre_key_id = proto.pre_key_id
        try:
            state = initialize_bob(
                our_identity=await identity_store.get_identity_key_pair(),
                our_signed_pre_key=signed.key_pair,
                our_one_time_pre_key=one_time,
                our_registration_id=await identity_store.get_local_registration_id(),
                their_identity=their_identity,
                their_base_key=base_key,
                their_registration_id=proto.registration_id,
            )
        except DecodeError as exc:
            raise InvalidMessage(f"PreKeySignalMessage carries an unusable key: {exc}") from exc
        plaintext = _decrypt_with_state(state, message, rng)
        new_record = record.with_new_session(state)
    await session_store.store_session(address, new_record)
    change = await check_and_save_identity(identity_store, address, their_identity)
    if used_pre_key_id is not None:
        await pre_key_store.remove_pre_key(used_pre_key_id)
    return DecryptResult(plaintext, change, used_pre_key_id)


async def decrypt(
    address: ProtocolAddress,
    message_type: str,
    body: bytes,
    *,
    identity_store: IdentityKeyStore,
    session_store: SessionStore,
    pre_key_store: PreKeyStore,
    signed_pre_key_store: SignedPreKeyStore,
    rng: Callable[[int], bytes],
) -> DecryptResult:
    """Decrypt an ``<enc>`` of type ``pkmsg`` or ``msg`` (anything else is ``InvalidMessage``)."""
    if message_type == "pkmsg":
        return await decrypt_pre_key_message(
            address,
            body,
            identity_store=identity_store,
            session_store=session_store,
            pre_key_store=pre_key_store,
            signed_pre_key_store=signed_pre_key_store,
            rng=rng,
        )
    if message_type == "msg":
        return await decrypt_message(
            address, body, identity_store=identity_store, session_store=session_store, rng=rng
        )
    raise InvalidMessage(f"not a 1:1 Signal message type: {message_type!r}")
