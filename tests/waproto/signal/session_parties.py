"""Test helpers for Signal 1:1 sessions: deterministic parties with in-memory stores."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from waproto.signal.address import ProtocolAddress
from waproto.signal.cipher import CiphertextMessage, DecryptResult, decrypt, encrypt
from waproto.signal.keys import (
    PreKeyBundle,
    generate_identity_key_pair,
    generate_pre_keys,
    generate_registration_id,
    generate_signed_pre_key,
)
from waproto.signal.memory import MemorySignalStore
from waproto.signal.session import IdentityChange, process_pre_key_bundle


def seeded_rng(seed: int) -> Callable[[int], bytes]:
    """A deterministic random-bytes source."""
    return random.Random(seed).randbytes


@dataclass
class Party:
    """One device: an address others use for it, its stores, its rng."""

    address: ProtocolAddress
    store: MemorySignalStore
    rng: Callable[[int], bytes]

    def bundle(self, *, with_pre_key: bool = True, pre_key_id: int | None = None) -> PreKeyBundle:
        spk = self.store.signed_pre_keys[1]
        pk = self.store.pre_keys[pre_key_id if pre_key_id is not None else min(self.store.pre_keys)]
        return PreKeyBundle(
            registration_id=self.store.registration_id,
            device_id=self.address.device_id,
            pre_key_id=pk.key_id if with_pre_key else None,
            pre_key_public=pk.key_pair.signal_public if with_pre_key else None,
            signed_pre_key_id=spk.key_id,
            signed_pre_key_public=spk.key_pair.signal_public,
            signed_pre_key_signature=spk.signature,
            identity_key=self.store.identity.signal_public,
        )

    async def build_session(self, other: Party, *, with_pre_key: bool = True) -> IdentityChange | None:
        return await process_pre_key_bundle(
            other.address,
            other.bundle(with_pre_key=with_pre_key),
            identity_store=self.store,
            session_store=self.store,
            rng=self.rng,
        )

    async def encrypt(self, to: Party, plaintext: bytes) -> CiphertextMessage:
        return await encrypt(to.address, plaintext, identity_store=self.store, session_store=self.store)

    async def decrypt(self, sender: Party, message: CiphertextMessage) -> DecryptResult:
        return await decrypt(
            sender.address,
            message.type,
            message.body,
            identity_store=self.store,
            session_store=self.store,
            pre_key_store=self.store,
            signed_pre_key_store=self.store,
            rng=self.rng,
        )

    def snapshot(self) -> tuple[object, ...]:
        """Everything the stores hold, comparable with ``==``."""
        s = self.store
        return (
            {a: r.serialize() for a, r in s.sessions.items()},
            dict(s.identities),
            {i: r.serialize() for i, r in s.pre_keys.items()},
            {i: r.serialize() for i, r in s.signed_pre_keys.items()},
        )


def make_party(name: str, seed: int, *, pre_keys: int = 5, accept_changed_identities: bool = True) -> Party:
    rng = seeded_rng(seed)
    identity = generate_identity_key_pair(rng)
    store = MemorySignalStore(
        identity, generate_registration_id(rng), accept_changed_identities=accept_changed_identities
    )
    store.signed_pre_keys[1] = generate_signed_pre_key(identity, 1, rng)
    for record in generate_pre_keys(1, pre_keys, rng):
        store.pre_keys[record.key_id] = record
    return Party(ProtocolAddress(name, 0), store, rng)
