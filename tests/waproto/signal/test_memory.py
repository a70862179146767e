"""waproto.signal.memory (and address): trust on first use, change policy, prekey and session stores."""

from __future__ import annotations

import pytest

from tests.waproto.signal.session_parties import seeded_rng
from waproto.errors import LocalProtocolError
from waproto.signal.address import ProtocolAddress
from waproto.signal.keys import generate_identity_key_pair, generate_pre_keys
from waproto.signal.memory import MemoryIdentityKeyStore, MemorySignalStore
from waproto.signal.session import SessionRecord

PEER = ProtocolAddress("15550002222", 3)


def test_address() -> None:
    assert str(PEER) == "15550002222.3"
    assert ProtocolAddress("x") == ProtocolAddress("x", 0)
    with pytest.raises(LocalProtocolError):
        ProtocolAddress("")
    with pytest.raises(LocalProtocolError):
        ProtocolAddress("x", -1)


@pytest.mark.parametrize("accept", [True, False])
async def test_trust_on_first_use_and_the_change_policy(accept: bool) -> None:
    rng = seeded_rng(1)
    store = MemoryIdentityKeyStore(generate_identity_key_pair(rng), 5, accept_changed_identities=accept)
    first, second = rng(32), rng(32)
    assert await store.is_trusted_identity(PEER, first, "receiving")
    assert await store.get_identity(PEER) is None
    assert await store.save_identity(PEER, first) is None
    assert await store.save_identity(PEER, b"\x05" + first) is None  # same key, 33-byte form
    assert await store.is_trusted_identity(PEER, first, "sending")
    assert await store.is_trusted_identity(PEER, second, "sending") is accept
    assert await store.save_identity(PEER, second) == first
    assert await store.get_identity(PEER) == second
    assert await store.get_local_registration_id() == 5


async def test_prekey_and_session_stores() -> None:
    rng = seeded_rng(2)
    store = MemorySignalStore(generate_identity_key_pair(rng), 9)
    [pre_key] = generate_pre_keys(4, 1, rng)
    await store.store_pre_key(4, pre_key)
    assert await store.load_pre_key(4) is pre_key
    await store.remove_pre_key(4)
    await store.remove_pre_key(4)  # removing twice is fine
    assert await store.load_pre_key(4) is None
    assert await store.load_signed_pre_key(1) is None
    assert await store.load_session(PEER) is None
    record = SessionRecord()
    await store.store_session(PEER, record)
    assert await store.load_session(PEER) is record
