-- 0001: the hub's own tables. Timestamps are ISO-8601 UTC text ("2026-01-02T03:04:05.678Z") except
-- dashboard_tokens.expires_at, which is POSIX seconds (compared, never shown). No secret is stored in
-- the clear: passwords as a slow KDF string, tokens and API keys as SHA-256 hex digests.

-- The generated dashboard password (only when none is configured). A single row.
CREATE TABLE dashboard_credentials (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    password_hash TEXT    NOT NULL,
    created_at    TEXT    NOT NULL
);

-- Dashboard bearer tokens issued by login.
CREATE TABLE dashboard_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;

CREATE INDEX dashboard_tokens_expires_at ON dashboard_tokens (expires_at);

-- API keys: "wap_" + random; only the digest and a short displayable prefix are kept.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT
);

CREATE INDEX api_keys_prefix ON api_keys (prefix);

-- Session webhooks: one normalised URL at most once per session.
CREATE TABLE webhooks (
    id             TEXT    PRIMARY KEY,
    session_id     TEXT    NOT NULL,
    url            TEXT    NOT NULL,
    normalized_url TEXT    NOT NULL,
    enabled        INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    UNIQUE (session_id, normalized_url)
);
