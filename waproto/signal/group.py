"""Signal group messaging with sender keys: distribution messages and the ``skmsg`` cipher.

The flow (PROTOCOL.md §5.6):

1. A sender calls :func:`create_distribution_message` for its own :class:`SenderKeyName` (group, its own
   address). The first call creates its sender key (a random 31-bit key id, a random 32-byte chain key at
   iteration 0, a new signing key pair); every call returns the distribution message for the current
   chain position. Those bytes travel to each member device inside a 1:1 encrypted
   ``Message.senderKeyDistributionMessage.axolotlSenderKeyDistributionMessage``.
2. Each receiver calls :func:`process_distribution_message` under (group, sender's address).
3. The sender encrypts with :func:`group_encrypt`; receivers decrypt with :func:`group_decrypt`.

Wire formats (version byte ``0x33`` = current version 3 in both nibbles):

- SenderKeyDistributionMessage: ``33 || proto{id, iteration, chainKey(32), signingKey(33)}``;
- SenderKeyMessage: ``33 || proto{id, iteration, ciphertext} || XEdDSA signature (64)``, the signature
  over everything before it, made with the sender's signing key. The body is AES-256-CBC with PKCS#7 of
  the (already WhatsApp-padded) plaintext under the iteration's message key.

Receiving follows libsignal: the signature is checked first; a message ahead of the chain makes the
receiver step forward, keeping the keys it skips (at most ``MAX_FORWARD_JUMP`` ahead, else
:class:`~waproto.errors.TooManySkippedMessages`); a late message uses its kept key once; a message behind
the chain without a kept key is a :class:`~waproto.errors.DuplicateMessage` (already decrypted, or so old
its key was dropped). Each operation loads the record, works on a copy and stores it only when everything
succeeded: a forged, tampered, duplicate or undecryptable message leaves the store exactly as it was.

Our encryption uses consecutive iterations. (Baileys skips one iteration per message from its second on;
receivers, ours included, keep the skipped keys, so that is harmless.)

This module is not the 1:1 session cipher (``waproto.signal.cipher``), does not add or strip WhatsApp's
random plaintext padding, and does not decide when a sender key must be rotated (after a member leaves):
to rotate, store an empty :class:`SenderKeyRecord` under our own name and distribute again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from waproto import proto
from waproto.errors import (
    BadSenderKeySignature,
    DecodeError,
    DuplicateMessage,
    InvalidMessage,
    LocalProtocolError,
    NoSenderKey,
    TooManySkippedMessages,
)
from waproto.signal import curve
from waproto.signal.sender_keys import (
    MAX_FORWARD_JUMP,
    MAX_ITERATION,
    SenderChainKey,
    SenderKeyName,
    SenderKeyRecord,
    SenderKeyState,
    SenderKeyStore,
    SenderMessageKey,
)

__all__ = [
    "SIGNATURE_LENGTH",
    "VERSION_BYTE",
    "SenderKeyDistribution",
    "create_distribution_message",
    "group_decrypt",
    "group_encrypt",
    "process_distribution_message",
]

#: The version byte that opens both sender-key wire messages: version 3 in both nibbles.
VERSION_BYTE: Final = 0x33
#: The XEdDSA signature that closes a SenderKeyMessage.
SIGNATURE_LENGTH: Final = 64
_CURRENT_VERSION: Final = 3


@dataclass(frozen=True, slots=True)
class SenderKeyDistribution:
    """A SenderKeyDistributionMessage: what a receiver needs to follow a sender's chain."""

    #: The sender key's id.
    key_id: int
    #: The chain position ``chain_key`` is at.
    iteration: int
    #: 32 bytes.
    chain_key: bytes = field(repr=False)
    #: The 33-byte (``05``-prefixed) public signing key.
    signing_key: bytes

    def serialize(self) -> bytes:
        """``33 || proto``: the bytes for ``axolotlSenderKeyDistributionMessage``."""
        message = proto.SenderKeyDistributionMessage(
            id=self.key_id, iteration=self.iteration, chain_key=self.chain_key, signing_key=self.signing_key
        )
        return bytes([VERSION_BYTE]) + bytes(message.SerializeToString())

    @classmethod
    def parse(cls, data: bytes) -> SenderKeyDistribution:
        """Parse distribution-message bytes from the network.

        Raises ``InvalidMessage`` for another version or a missing or malformed field, ``DecodeError`` for
        bytes that are not a protobuf.
        """
        _check_version(data, "sender-key distribution message")
        message = proto.decode(proto.SenderKeyDistributionMessage, bytes(data[1:]))
        for name in ("id", "iteration", "chain_key", "signing_key"):
            if not message.HasField(name):
                raise InvalidMessage(f"sender-key distribution message without {name}")
        if len(message.chain_key) != 32:
            raise InvalidMessage(f"sender-key chain key of {len(message.chain_key)} bytes, not 32")
        try:
            signing_key = bytes([curve.KEY_TYPE_DJB]) + curve.strip_key_type(message.signing_key)
        except DecodeError as exc:
            raise InvalidMessage(f"sender-key signing key: {exc}") from exc
        return cls(message.id, message.iteration, message.chain_key, signing_key)


def _check_version(data: bytes, what: str) -> None:
    if not data:
        raise InvalidMessage(f"empty {what}")
    version = data[0] >> 4
    if version != _CURRENT_VERSION:
        raise InvalidMessage(f"{what} of version {version}; only version {_CURRENT_VERSION} is supported")


async def create_distribution_message(
    store: SenderKeyStore, name: SenderKeyName, rng: Callable[[int], bytes]
) -> bytes:
    """Our distribution message for ``name`` (group, our own address), creating our sender key if needed.

    ``rng(n)`` returns n random bytes (for example ``secrets.token_bytes``); it is used only when a new
    sender key is made. A record whose newest state is not ours (no private signing key) is replaced.
    """
    record = await store.load_sender_key(name)
    state = None if record is None else record.current
    if state is None or state.signing_private is None:
        key_id = int.from_bytes(_random(rng, 4), "big") >> 1
        chain = SenderChainKey(0, _random(rng, 32))
        signing = curve.generate_key_pair(rng)
        state = SenderKeyState(key_id, chain, signing.signal_public, signing.private)
        fresh = SenderKeyRecord()
        fresh.set_own_state(state)
        await store.store_sender_key(name, fresh)
    return SenderKeyDistribution(state.key_id, state.chain.iteration, state.chain.seed, state.signing_public).serialize()


def _random(rng: Callable[[int], bytes], n: int) -> bytes:
    data = rng(n)
    if not isinstance(data, bytes | bytearray) or len(data) != n:
        raise LocalProtocolError(f"rng({n}) must return {n} bytes")
    return bytes(data)


async def process_distribution_message(store: SenderKeyStore, name: SenderKeyName, data: bytes) -> None:
    """Remember the sender key in distribution-message ``data`` under ``name`` (group, its sender).

    Raises ``InvalidMessage`` or ``DecodeError`` (the store is then untouched). Processing the same
    message again changes nothing; see :meth:`SenderKeyRecord.add_state`.
    """
    distribution = SenderKeyDistribution.parse(data)
    loaded = await store.load_sender_key(name)
    record = SenderKeyRecord() if loaded is None else loaded.copy()
    chain = SenderChainKey(distribution.iteration, distribution.chain_key)
    record.add_state(SenderKeyState(distribution.key_id, chain, distribution.signing_key))
    await store.store_sender_key(name, record)


async def group_encrypt(store: SenderKeyStore, name: SenderKeyName, plaintext: bytes) -> bytes:
    """Encrypt ``plaintext`` (already padded the WhatsApp way) as SenderKeyMessage bytes (an ``skmsg``).

    ``name`` is (group, our own address). Raises ``LocalProtocolError`` when we have no sender key of our
    own there: call :func:`create_distribution_message` (and distribute it) first.
    """
    loaded = await store.load_sender_key(name)
    current = None if loaded is None else loaded.current
    if loaded is None or current is None or current.signing_private is None:
        raise LocalProtocolError(f"no sender key of our own for {name}: create a distribution message first")
    signing_private = current.signing_private
    record = loaded.copy()
    state = record.states[0]
    message_key = state.chain.message_key()
    state.chain = state.chain.next()
    iv, key = message_key.expand()
    padder = padding.PKCS7(128).padder()
    padded = padder.update(bytes(plaintext)) + padder.finalize()
    encryptor = Cipher(algorithms.AES256(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    body = proto.SenderKeyMessage(id=state.key_id, iteration=message_key.iteration, ciphertext=ciphertext)
    signed = bytes([VERSION_BYTE]) + bytes(body.SerializeToString())
    serialized = signed + curve.sign(signing_private, signed)
    await store.store_sender_key(name, record)
    return serialized


async def group_decrypt(store: SenderKeyStore, name: SenderKeyName, data: bytes) -> bytes:
    """Verify and decrypt SenderKeyMessage bytes from ``name`` (group, the sender's address).

    Returns the plaintext, still carrying WhatsApp's padding. Raises (leaving the store untouched):

    - ``InvalidMessage`` / ``DecodeError``: malformed bytes, another version, or a body that does not
      decrypt (bad PKCS#7 padding);
    - ``NoSenderKey``: no distribution message from this sender with this key id was processed;
    - ``BadSenderKeySignature``: the signature does not verify with the sender's signing key;
    - ``DuplicateMessage``: this iteration was decrypted already (or is too old to have a kept key);
    - ``TooManySkippedMessages``: the message is more than ``MAX_FORWARD_JUMP`` ahead of the chain.
    """
    data = bytes(data)
    _check_version(data, "sender-key message")
    if len(data) < 1 + SIGNATURE_LENGTH:
        raise InvalidMessage(f"sender-key message of {len(data)} bytes is too short")
    signed, signature = data[:-SIGNATURE_LENGTH], data[-SIGNATURE_LENGTH:]
    message = proto.decode(proto.SenderKeyMessage, signed[1:])
    for field_name in ("id", "iteration", "ciphertext"):
        if not message.HasField(field_name):
            raise InvalidMessage(f"sender-key message without {field_name}")

    loaded = await store.load_sender_key(name)
    found = None if loaded is None else loaded.state_for(message.id)
    if loaded is None or found is None:
        raise NoSenderKey(f"no sender key {message.id} from {name}")
    if not curve.verify(found.signing_public, signed, signature):
        raise BadSenderKeySignature(f"sender-key message from {name} has a bad signature")

    record = loaded.copy()
    state = record.state_for(message.id)
    assert state is not None
    message_key = _message_key(state, message.iteration, name)
    plaintext = _decrypt_body(message_key, message.ciphertext)
    await store.store_sender_key(name, record)
    return plaintext


def _message_key(state: SenderKeyState, iteration: int, name: SenderKeyName) -> SenderMessageKey:
    """The key for ``iteration``, advancing ``state`` (a working copy) past it."""
    chain = state.chain
    if iteration < chain.iteration:
        kept = state.pop_skipped(iteration)
        if kept is None:
            raise DuplicateMessage(
                f"sender-key message {iteration} from {name} was already decrypted (the chain is at "
                f"{chain.iteration} and keeps no key for it)"
            )
        return kept
    if iteration >= MAX_ITERATION:
        raise InvalidMessage(f"sender-key message iteration {iteration} is out of range")
    if iteration - chain.iteration > MAX_FORWARD_JUMP:
        raise TooManySkippedMessages(
            f"sender-key message {iteration} from {name} is {iteration - chain.iteration} ahead of the chain "
            f"(at most {MAX_FORWARD_JUMP})"
        )
    while chain.iteration < iteration:
        state.add_skipped(chain.message_key())
        chain = chain.next()
    state.chain = chain.next()
    return chain.message_key()


def _decrypt_body(message_key: SenderMessageKey, ciphertext: bytes) -> bytes:
    if not ciphertext or len(ciphertext) % 16:
        raise InvalidMessage(f"sender-key ciphertext of {len(ciphertext)} bytes is not whole AES blocks")
    iv, key = message_key.expand()
    decryptor = Cipher(algorithms.AES256(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise InvalidMessage("sender-key message body does not decrypt (bad padding)") from exc
