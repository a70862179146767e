-- 0002: what the WhatsApp sessions keep, keyed by the hub's session id so that many linked devices share
-- this one database. Every row belongs to exactly one session (waporta.storage.stores.delete_session
-- wipes a session's rows from every table below). Secrets live here: Signal private keys (inside the
-- serialised records) and the credentials (noise key, identity key, adv secret).
--
-- Records are stored as waproto serialises them (SessionRecord, PreKeyRecord, SignedPreKeyRecord,
-- SenderKeyRecord .serialize()), so this schema does not depend on their fields. The credentials are the
-- JSON text of waproto's credentials dict form, stored opaquely for the same reason.

-- One linked device's credentials (waproto.credentials, as JSON text).
CREATE TABLE wa_credentials (
    session_id TEXT NOT NULL PRIMARY KEY,
    data       TEXT NOT NULL
) WITHOUT ROWID;

-- Peers' identity keys (32 bytes, no type prefix), per Signal address (name, device).
CREATE TABLE signal_identities (
    session_id   TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    device_id    INTEGER NOT NULL,
    identity_key BLOB    NOT NULL,
    PRIMARY KEY (session_id, name, device_id)
) WITHOUT ROWID;

-- Our one-time prekeys (PreKeyRecord.serialize()).
CREATE TABLE signal_pre_keys (
    session_id TEXT    NOT NULL,
    key_id     INTEGER NOT NULL,
    record     BLOB    NOT NULL,
    PRIMARY KEY (session_id, key_id)
) WITHOUT ROWID;

-- Our signed prekeys (SignedPreKeyRecord.serialize()).
CREATE TABLE signal_signed_pre_keys (
    session_id TEXT    NOT NULL,
    key_id     INTEGER NOT NULL,
    record     BLOB    NOT NULL,
    PRIMARY KEY (session_id, key_id)
) WITHOUT ROWID;

-- 1:1 sessions (SessionRecord.serialize()), per Signal address.
CREATE TABLE signal_sessions (
    session_id TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    device_id  INTEGER NOT NULL,
    record     BLOB    NOT NULL,
    PRIMARY KEY (session_id, name, device_id)
) WITHOUT ROWID;

-- Group sender keys (SenderKeyRecord.serialize()), per (group, sender address).
CREATE TABLE signal_sender_keys (
    session_id    TEXT    NOT NULL,
    group_id      TEXT    NOT NULL,
    sender_name   TEXT    NOT NULL,
    sender_device INTEGER NOT NULL,
    record        BLOB    NOT NULL,
    PRIMARY KEY (session_id, group_id, sender_name, sender_device)
) WITHOUT ROWID;

-- Device lists from usync: a user JID (no device) -> its device ids as a JSON array of integers, and
-- when they were fetched (POSIX seconds from the caller's clock).
CREATE TABLE wa_device_lists (
    session_id TEXT NOT NULL,
    user_jid   TEXT NOT NULL,
    devices    TEXT NOT NULL,
    fetched_at REAL NOT NULL,
    PRIMARY KEY (session_id, user_jid)
) WITHOUT ROWID;

-- LID <-> phone-number mappings, by JID user part; one LID per phone number and one phone number per LID.
CREATE TABLE wa_lid_mappings (
    session_id TEXT NOT NULL,
    lid_user   TEXT NOT NULL,
    pn_user    TEXT NOT NULL,
    PRIMARY KEY (session_id, lid_user),
    UNIQUE (session_id, pn_user)
) WITHOUT ROWID;
