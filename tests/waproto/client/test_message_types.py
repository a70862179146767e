"""waproto.client.message_types: the companion's default Signal store reads identity, registration id and
signed prekey from the client's credentials and keeps one-time prekeys in the client's store;
every name is re-exported by waproto.client.messaging."""

from __future__ import annotations

import random

from waproto.client import Client, ClientSettings, MemoryClientStore, message_types, messaging
from waproto.client.message_types import CompanionSignalStore
from waproto.credentials import Credentials
from waproto.signal.keys import generate_pre_keys


async def test_companion_store_follows_the_clients_credentials_and_store() -> None:
    creds = Credentials.generate(random.Random(7).randbytes)
    client_store = MemoryClientStore(creds)
    client = Client(ClientSettings(), creds, client_store)
    store = CompanionSignalStore(client)
    assert await store.get_identity_key_pair() == creds.identity_key
    assert await store.get_local_registration_id() == creds.registration_id
    signed_id = creds.signed_pre_key.key_id
    assert await store.load_signed_pre_key(signed_id) == creds.signed_pre_key
    assert await store.load_signed_pre_key(signed_id + 1) is None

    [pre_key] = generate_pre_keys(40, 1, random.Random(8).randbytes)
    await store.store_pre_key(40, pre_key)
    assert await client_store.load_pre_key(40) == pre_key  # kept where the client uploads them from
    assert await store.load_pre_key(40) == pre_key
    await store.remove_pre_key(40)
    assert await client_store.load_pre_key(40) is None


def test_messaging_reexports_the_types() -> None:
    shared = set(message_types.__all__) - {"receipt_status"}
    assert shared <= set(messaging.__all__)
    for name in shared:
        assert getattr(messaging, name) is getattr(message_types, name)
