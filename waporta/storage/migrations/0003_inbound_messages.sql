-- 0003: every message a session received and decrypted, committed before its delivery receipt goes to
-- WhatsApp (waporta.messages). A row is the hub's promise that the message reached the plugins, or
-- will: ``handled_at`` stays NULL until the ``message_received`` hooks have run for it, and rows still
-- NULL are handed to the hooks again, in ``seq`` order, when the session starts.
--
-- The key (session_id, chat, sender, message_id) is how WhatsApp identifies a message: a redelivered one
-- (after a crash before the receipt, or a resend answering a retry receipt) finds its row and is only
-- receipted again. ``sender`` is the user JID (no device), ``payload`` the JSON record of
-- waporta.messages.InboundMessage (to_record()). Times are POSIX seconds. The rows belong to the
-- session: waporta.storage.stores.delete_session wipes them with the rest of its WhatsApp state.
-- ``seq`` is the rowid: a new row always gets a larger one than every row present, which is all the
-- arrival order needs.
CREATE TABLE inbound_messages (
    seq         INTEGER PRIMARY KEY,
    session_id  TEXT    NOT NULL,
    chat        TEXT    NOT NULL,
    sender      TEXT    NOT NULL,
    message_id  TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    received_at REAL    NOT NULL,
    handled_at  REAL,
    UNIQUE (session_id, chat, sender, message_id)
);

-- The messages still owed to the hooks, per session, in arrival order.
CREATE INDEX inbound_messages_pending ON inbound_messages (session_id, seq) WHERE handled_at IS NULL;

-- A message by id within a session (downloads, lookups).
CREATE INDEX inbound_messages_by_id ON inbound_messages (session_id, message_id);
