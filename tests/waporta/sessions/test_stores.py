"""waporta.sessions.stores: the ClientStore adapter on SQLite, and the signed prekey from the credentials."""

from __future__ import annotations

from waporta.sessions import (
    SessionStore,
)
from waporta.storage import Database
from waporta.storage.stores import load_all_credentials
from waproto.credentials import Credentials
from waproto.signal.keys import generate_pre_keys


async def test_store_adapter_round_trips(db: Database) -> None:
    import secrets

    creds = Credentials.generate(secrets.token_bytes)
    store = SessionStore(db, "s1", creds)
    await store.save_credentials(creds)
    assert Credentials.from_dict((await load_all_credentials(db))["s1"]) == creds
    record = generate_pre_keys(7, 1, secrets.token_bytes)[0]
    await store.store_pre_key(7, record)
    loaded = await store.load_pre_key(7)
    assert loaded is not None
    assert loaded.serialize() == record.serialize()
    await store.remove_pre_key(7)
    assert await store.load_pre_key(7) is None
    # The signed prekey the client publishes is the credentials' one (a peer's pkmsg names it).
    signed = await store.signal.load_signed_pre_key(creds.signed_pre_key.key_id)
    assert signed is not None
    assert signed.serialize() == creds.signed_pre_key.serialize()
    assert await store.signal.load_signed_pre_key(creds.signed_pre_key.key_id + 1) is None
    assert (await store.signal.get_identity_key_pair()) == creds.identity_key
    await store.delete_credentials()
    assert await load_all_credentials(db) == {}
