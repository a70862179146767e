"""Who may use the hub: the dashboard login (bearer tokens) and API keys.

- **Dashboard password.** Taken from the config (``[dashboard] password`` / ``DASHBOARD_PASSWORD``) and
  compared in constant time; when none is configured, :meth:`Auth.ensure_dashboard_password` generates
  one on the first start, stores only its scrypt hash and returns the plaintext once for the caller to
  print. There is no built-in default password. An empty configured password counts as "not configured".
- **Login.** :meth:`Auth.login` returns a random bearer token (only its SHA-256 is stored) that expires
  after ``[dashboard] token_ttl`` seconds. Failed logins are counted per client (whatever string the
  caller uses to identify one, e.g. the remote address) in a sliding window of ``login_window`` seconds;
  after ``login_max_failures`` of them, further attempts raise :class:`LoginThrottled` (whose
  ``retry_after`` says when the oldest failure leaves the window) without checking the password. A
  successful login clears the client's count. The count lives in memory: a restart forgets it. At most
  two password hashes are computed at once, whoever asks.
- **API keys.** ``wap_`` + 43 URL-safe random characters (256 bits), returned once by
  :meth:`Auth.create_key`; the database keeps only its SHA-256, an id, the name and a displayable
  ``prefix`` (``wap_`` + the next 8 characters). ``[api] default_key`` / ``DEFAULT_API_KEY`` is accepted
  without being stored.

- **Verified credentials are remembered for a second.** A token or key that the database confirmed is
  accepted again without a database read for :data:`VERIFIED_TTL` seconds (a dict keyed by its SHA-256,
  at most :data:`_CACHE_MAX` entries), so a busy API client costs no SQLite read or write per request.
  A logout or revocation through this :class:`Auth` takes effect at once (the entry is dropped, and a
  check still in flight cannot put it back); one made by another process on the same database (``waporta
  keys revoke`` while the hub runs) takes effect within :data:`VERIFIED_TTL`. A key's ``last_used_at``
  is written when it is verified against the database, i.e. at most once per :data:`VERIFIED_TTL` for
  a key in constant use: it lags the real last use by under a second. Token expiry is checked on every
  request. Unknown secrets are never remembered.

All secret comparisons use :func:`hmac.compare_digest` (on fixed-length digests, so lengths do not leak
either). Looking a token up by its SHA-256 is an indexed search on a hash of 256 random bits, which tells a
timing observer nothing useful. Time comes from the injected ``clock`` (POSIX seconds).

This module is NOT the HTTP layer (status codes, headers, ``Retry-After``: ``waporta_plugins``) nor the
CLI; it never logs or returns a stored secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import trio

from waporta.config import Config
from waporta.storage import Database, format_iso, from_posix, parse_iso

__all__ = [
    "API_KEY_PREFIX",
    "KEY_NAME_MAX",
    "VERIFIED_TTL",
    "ApiKeyInfo",
    "Auth",
    "InvalidKeyName",
    "IssuedToken",
    "LoginFailed",
    "LoginThrottled",
    "hash_password",
    "validate_key_name",
    "verify_password",
]

#: Every API key starts with this marker.
API_KEY_PREFIX = "wap_"
#: The longest accepted API key name, in characters.
KEY_NAME_MAX = 100
#: Seconds a credential confirmed by the database is accepted without asking it again.
VERIFIED_TTL = 1.0

_KEY_RANDOM_BYTES = 32  # -> 43 URL-safe characters
_PREFIX_LEN = len(API_KEY_PREFIX) + 8
_TOKEN_RANDOM_BYTES = 32
_GENERATED_PASSWORD_BYTES = 18  # -> 24 URL-safe characters
_MAX_SECRET_CHARS = 512  # longer bearer tokens / API keys are not ours: rejected without a lookup
_PRUNE_ABOVE = 256  # sweep stale throttle entries once this many clients are tracked
_CACHE_MAX = 4096  # remembered verified credentials; the cache is emptied when it would grow beyond
_KDF_CONCURRENCY = 2  # scrypt runs at once (32 MiB each): many clients guessing at once cannot exhaust memory

# scrypt: n=2**15, r=8 uses 32 MiB and ~0.1 s per hash. The parameters are stored with each hash.
_SCRYPT_N = 2**15
_SCRYPT_R = 8
_SCRYPT_P = 1
_SCRYPT_DKLEN = 32
_SCRYPT_SALT_BYTES = 16


class LoginFailed(Exception):
    """Wrong username or password (deliberately not saying which)."""

    def __init__(self, message: str = "invalid username or password") -> None:
        super().__init__(message)


class LoginThrottled(Exception):
    """Too many failed logins from this client; try again after :attr:`retry_after` seconds."""

    #: Seconds until the next attempt will be considered (> 0).
    retry_after: float

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many failed logins; retry after {retry_after:.0f} s")


class InvalidKeyName(ValueError):
    """An API key name that is empty, too long or contains control characters."""

    #: The offending request field.
    field = "name"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A dashboard bearer token, as returned once by :meth:`Auth.login`."""

    token: str
    #: Aware UTC datetime after which the token is refused.
    expires_at: datetime

    def to_json(self) -> dict[str, Any]:
        """``{"token", "expiresAt"}``, the login response body."""
        return {"token": self.token, "expiresAt": format_iso(self.expires_at)}


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """What may be shown about an API key: never the key itself."""

    id: str
    name: str
    #: ``wap_`` + the key's first 8 random characters, to recognise it by.
    prefix: str
    created_at: datetime
    last_used_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """``{"id","name","prefix","createdAt","lastUsedAt"}`` with ISO-8601 UTC times (``…Z``)."""
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "createdAt": format_iso(self.created_at),
            "lastUsedAt": None if self.last_used_at is None else format_iso(self.last_used_at),
        }


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A self-describing scrypt hash: ``scrypt$n=32768,r=8,p=1$<salt>$<hash>`` (base64url, no padding).

    Slow on purpose (~0.1 s): call it from a worker thread in async code.
    """
    salt = secrets.token_bytes(_SCRYPT_SALT_BYTES) if salt is None else salt
    derived = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SCRYPT_DKLEN)
    params = f"n={_SCRYPT_N},r={_SCRYPT_R},p={_SCRYPT_P}"
    return f"scrypt${params}${_b64(salt)}${_b64(derived)}"


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches ``encoded`` (from :func:`hash_password`); constant-time compare.

    A malformed or unsupported ``encoded`` value verifies nothing (False) rather than raising.
    """
    try:
        scheme, params, salt_text, hash_text = encoded.split("$")
        fields = dict(item.split("=", 1) for item in params.split(","))
        n, r, p = int(fields["n"]), int(fields["r"]), int(fields["p"])
        salt, expected = _unb64(salt_text), _unb64(hash_text)
    except (ValueError, KeyError):
        return False
    if scheme != "scrypt" or not (2 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16) or not expected:
        return False
    try:
        derived = _scrypt(password, salt, n, r, p, len(expected))
    except ValueError:  # n not a power of two, or beyond the memory limit
        return False
    return hmac.compare_digest(derived, expected)


class Auth:
    """Dashboard login and API keys over the hub database (see the module docstring for the rules)."""

    def __init__(self, db: Database, config: Config, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._config = config
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._kdf_limiter = trio.CapacityLimiter(_KDF_CONCURRENCY)
        # SHA-256 hex of a verified secret -> (when verified, token expiry or key id).
        self._tokens: dict[str, tuple[float, float]] = {}
        self._keys: dict[str, tuple[float, str]] = {}
        # Bumped by every logout/revocation: a check that started before one does not cache its answer.
        self._generation = 0
        self._default_digest: bytes | None = None

    # ------------------------------------------------------------------ dashboard password

    async def ensure_dashboard_password(self) -> str | None:
        """Generate the dashboard password if none is configured or stored.

        Returns the new plaintext exactly once (the caller prints it); None when a password is
        configured or one was generated before. Only its hash is stored.
        """
        if self._configured_password() is not None:
            return None
        if await self._db.read(_stored_password_hash) is not None:
            return None
        password = secrets.token_urlsafe(_GENERATED_PASSWORD_BYTES)
        encoded = await trio.to_thread.run_sync(hash_password, password, limiter=self._kdf_limiter)
        created = format_iso(from_posix(self._clock()))

        def store(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT INTO dashboard_credentials (id, password_hash, created_at) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                (encoded, created),
            )
            return cursor.rowcount == 1

        return password if await self._db.write(store) else None

    # ------------------------------------------------------------------ login / tokens

    async def login(self, username: str, password: str, *, client: str) -> IssuedToken:
        """Check the credentials and issue a bearer token.

        ``client`` identifies the caller for throttling (e.g. the remote address). Raises
        :class:`LoginThrottled` when the client has too many recent failures, else
        :class:`LoginFailed` on wrong credentials.
        """
        now = self._clock()
        attempts = self._recent_failures(client, now)
        settings = self._config.dashboard
        if attempts and len(attempts) >= settings.login_max_failures:
            raise LoginThrottled(max(attempts[0] + settings.login_window - now, 0.001))
        # Count the attempt before the (slow) check, so concurrent guesses are counted too.
        attempts.append(now)
        if not await self._credentials_match(username, password):
            raise LoginFailed
        self._failures.pop(client, None)

        token = secrets.token_urlsafe(_TOKEN_RANDOM_BYTES)
        expires = now + settings.token_ttl
        created = format_iso(from_posix(now))
        digest = _sha256_hex(token)

        def store(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM dashboard_tokens WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT INTO dashboard_tokens (token_hash, created_at, expires_at) VALUES (?, ?, ?)",
                (digest, created, expires),
            )

        await self._db.write(store)
        return IssuedToken(token=token, expires_at=from_posix(expires))

    async def logout(self, token: str) -> None:
        """Forget ``token`` (no error if it is unknown or expired)."""
        if not _plausible_secret(token):
            return
        digest = _sha256_hex(token)
        self._forget(self._tokens, digest)
        await self._db.write(lambda conn: conn.execute("DELETE FROM dashboard_tokens WHERE token_hash = ?", (digest,)))
        self._forget(self._tokens, digest)

    async def check_token(self, token: str) -> bool:
        """True if ``token`` is a dashboard token that was issued, not logged out, and has not expired."""
        if not _plausible_secret(token):
            return False
        digest = _sha256_hex(token)
        now = self._clock()
        cached = self._tokens.get(digest)
        if cached is not None and self._fresh(cached[0], now):
            return cached[1] > now
        generation = self._generation
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT expires_at FROM dashboard_tokens WHERE token_hash = ?", (digest,)
            ).fetchone()
        )
        if row is None:
            self._tokens.pop(digest, None)
            return False
        expires = float(row[0])
        if generation == self._generation:
            self._remember(self._tokens, digest, (now, expires))
        return expires > self._clock()

    # ------------------------------------------------------------------ API keys

    async def create_key(self, name: str) -> tuple[ApiKeyInfo, str]:
        """Create an API key named ``name``; returns its info and the raw key (shown once, never again).

        Raises :class:`InvalidKeyName` for an empty name, one over 100 characters, or one with control
        characters. Surrounding whitespace is removed.
        """
        clean = validate_key_name(name)
        raw = API_KEY_PREFIX + secrets.token_urlsafe(_KEY_RANDOM_BYTES)
        info = ApiKeyInfo(
            id=secrets.token_hex(8),
            name=clean,
            prefix=raw[:_PREFIX_LEN],
            created_at=from_posix(self._clock()),
            last_used_at=None,
        )
        digest = _sha256_hex(raw)

        def store(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO api_keys (id, name, prefix, key_hash, created_at, last_used_at) "
                "VALUES (?, ?, ?, ?, ?, NULL)",
                (info.id, info.name, info.prefix, digest, format_iso(info.created_at)),
            )

        await self._db.write(store)
        return info, raw

    async def list_keys(self) -> list[ApiKeyInfo]:
        """All live API keys, oldest first (never the keys themselves)."""
        rows = await self._db.read(
            lambda conn: conn.execute(
                "SELECT id, name, prefix, created_at, last_used_at FROM api_keys ORDER BY created_at, rowid"
            ).fetchall()
        )
        return [
            ApiKeyInfo(
                id=row[0],
                name=row[1],
                prefix=row[2],
                created_at=parse_iso(row[3]),
                last_used_at=None if row[4] is None else parse_iso(row[4]),
            )
            for row in rows
        ]

    async def revoke_key(self, key_id: str) -> bool:
        """Delete the API key ``key_id``; True if it existed. A revoked key is refused from then on."""
        self._forget_key(key_id)
        deleted: bool = await self._db.write(
            lambda conn: conn.execute("DELETE FROM api_keys WHERE id = ?", (key_id,)).rowcount == 1
        )
        self._forget_key(key_id)
        return deleted

    async def check_api_key(self, raw: str) -> bool:
        """True if ``raw`` is a live API key or the configured default key.

        A stored key's ``last_used_at`` is updated when the database is asked, at most once per
        :data:`VERIFIED_TTL` (see the module docstring).
        """
        if not _plausible_secret(raw):
            return False
        raw_digest = _sha256(raw)
        default = self._default_key_digest()
        if default is not None and hmac.compare_digest(raw_digest, default):
            return True
        if not raw.startswith(API_KEY_PREFIX) or len(raw) < _PREFIX_LEN:
            return False
        digest = raw_digest.hex()
        now = self._clock()
        cached = self._keys.get(digest)
        if cached is not None and self._fresh(cached[0], now):
            return True
        generation = self._generation
        candidates: list[tuple[str, str]] = await self._db.read(
            lambda conn: conn.execute(
                "SELECT id, key_hash FROM api_keys WHERE prefix = ?", (raw[:_PREFIX_LEN],)
            ).fetchall()
        )
        matched = None
        for key_id, stored in candidates:
            if hmac.compare_digest(stored.encode("ascii"), digest.encode("ascii")):
                matched = key_id
        if matched is None:
            self._keys.pop(digest, None)
            return False
        used = format_iso(from_posix(now))
        key_id = matched
        # The key may have been revoked since the read: only a row that still exists counts.
        live: bool = await self._db.write(
            lambda conn: conn.execute(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ?", (used, key_id)
            ).rowcount
            == 1
        )
        if live and generation == self._generation:
            self._remember(self._keys, digest, (now, key_id))
        return live

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _fresh(verified_at: float, now: float) -> bool:
        # A clock that went back counts as stale, so a cached answer never outlives VERIFIED_TTL.
        return 0.0 <= now - verified_at < VERIFIED_TTL

    @staticmethod
    def _remember(cache: dict[str, Any], digest: str, entry: Any) -> None:
        if len(cache) >= _CACHE_MAX and digest not in cache:
            cache.clear()
        cache[digest] = entry

    def _forget(self, cache: dict[str, Any], digest: str) -> None:
        self._generation += 1
        cache.pop(digest, None)

    def _forget_key(self, key_id: str) -> None:
        self._generation += 1
        for digest in [d for d, (_, cached_id) in self._keys.items() if cached_id == key_id]:
            del self._keys[digest]

    def _default_key_digest(self) -> bytes | None:
        default = self._config.api.default_key
        if not default:
            return None
        if self._default_digest is None:
            self._default_digest = _sha256(default)
        return self._default_digest

    def _configured_password(self) -> str | None:
        return self._config.dashboard.password or None

    async def _credentials_match(self, username: str, password: str) -> bool:
        user_ok = hmac.compare_digest(_sha256(username), _sha256(self._config.dashboard.username))
        configured = self._configured_password()
        if configured is not None:
            password_ok = hmac.compare_digest(_sha256(password), _sha256(configured))
        else:
            stored = await self._db.read(_stored_password_hash)
            password_ok = stored is not None and await trio.to_thread.run_sync(
                verify_password, password, stored, limiter=self._kdf_limiter
            )
        return user_ok & password_ok

    def _recent_failures(self, client: str, now: float) -> deque[float]:
        """The client's failure times still inside the window (oldest first), pruning old ones."""
        window = self._config.dashboard.login_window
        if len(self._failures) > _PRUNE_ABOVE:
            for other in [c for c, times in self._failures.items() if not times or times[-1] <= now - window]:
                del self._failures[other]
        attempts = self._failures.setdefault(client, deque())
        while attempts and attempts[0] <= now - window:
            attempts.popleft()
        return attempts


def validate_key_name(name: str) -> str:
    """``name`` without surrounding whitespace; raises :class:`InvalidKeyName` unless it is usable."""
    if not isinstance(name, str):
        raise InvalidKeyName("name must be a string")
    clean = name.strip()
    if not clean:
        raise InvalidKeyName("name must not be empty")
    if len(clean) > KEY_NAME_MAX:
        raise InvalidKeyName(f"name must be at most {KEY_NAME_MAX} characters (got {len(clean)})")
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in clean):
        raise InvalidKeyName("name must not contain control characters")
    return clean


def _stored_password_hash(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT password_hash FROM dashboard_credentials WHERE id = 1").fetchone()
    return None if row is None else str(row[0])


def _plausible_secret(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_SECRET_CHARS


def _encode(text: str) -> bytes:
    # surrogatepass: a lone surrogate from JSON must not turn a failed login into an exception.
    return text.encode("utf-8", "surrogatepass")


def _sha256(text: str) -> bytes:
    return hashlib.sha256(_encode(text)).digest()


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(_encode(text)).hexdigest()


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(_encode(password), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=256 * 1024 * 1024)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
