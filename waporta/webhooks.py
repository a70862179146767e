"""The session webhook registry: which HTTPS URLs receive a session's events.

Session ids
    must match ``SESSION_ID_RE``: ``^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`` (1 to 64 ASCII letters, digits,
    ``_`` or ``-``, not starting with ``_`` or ``-``). Anything else raises :class:`InvalidSessionId`.

Webhook URLs (:func:`normalize_url`); surrounding ASCII whitespace is ignored, then each violation has its
own :attr:`InvalidWebhookUrl.rule`:

- ``url_required``: missing, not a string, or empty;
- ``too_long``: more than 2048 characters (as given, or once normalised);
- ``invalid_characters``: whitespace, a control character or a backslash inside the URL;
- ``absolute_url_required``: no scheme or no host (``/hooks``, ``example.com/x``, ``https:/x``);
- ``https_required``: any scheme but ``https`` (``http://`` included);
- ``fragment_not_allowed``: a ``#`` anywhere (even an empty fragment);
- ``credentials_not_allowed``: userinfo (``https://user:pass@host/``): records are echoed by the API,
  which never shows credentials, and a secret belongs in a header, not a URL;
- ``invalid_port``: a port that is not a number from 1 to 65535;
- ``invalid_host``: an empty or malformed host, a bad IPv6 literal (or one with a zone id), or a name
  that IDNA cannot encode.

Normalisation decides duplicates within one session: the scheme and host are lower-cased, an
internationalised host is converted to its ASCII ``xn--`` form (Python's built-in IDNA 2003 codec, so
``ß`` becomes ``ss``), an IPv6 literal is written in its compressed form, the default port 443 is
removed (other ports are kept, without leading zeros), an empty path becomes ``/`` and the query is kept
as given (an empty ``?`` is dropped). The path is not otherwise rewritten: ``/a/../b`` and ``/%7E``
stay as they are. So ``HTTPS://Example.com:443`` and ``https://example.com/`` are the same webhook.
The same URL may be registered for different sessions.

This module is NOT webhook delivery (signing, retries, the outbox: later plugins) nor the HTTP routes.
"""

from __future__ import annotations

import builtins
import ipaddress
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from waporta.storage import Database, format_iso, from_posix, parse_iso

__all__ = [
    "MAX_URL_CHARS",
    "SESSION_ID_RE",
    "URL_RULES",
    "DuplicateWebhookUrl",
    "InvalidSessionId",
    "InvalidWebhookUrl",
    "Webhook",
    "WebhookRegistry",
    "normalize_url",
    "validate_session_id",
    "validate_url",
]

#: Allowed session ids (see the module docstring); use with ``.match`` or ``.fullmatch``.
SESSION_ID_RE: re.Pattern[str] = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")

#: The longest accepted webhook URL, in characters.
MAX_URL_CHARS = 2048

#: Every value :attr:`InvalidWebhookUrl.rule` can take.
URL_RULES: tuple[str, ...] = (
    "url_required",
    "too_long",
    "invalid_characters",
    "absolute_url_required",
    "https_required",
    "fragment_not_allowed",
    "credentials_not_allowed",
    "invalid_port",
    "invalid_host",
)

_WEBHOOK_ID_RE = re.compile(r"\A[0-9a-f]{16}\Z")
_SURROUNDING_WHITESPACE = " \t\r\n\f\v"
_BAD_CHARACTER_RE = re.compile(r"[\x00-\x20\x7f\\]")
_PORT_RE = re.compile(r"\A[0-9]{1,5}\Z")
_ASCII_HOST_RE = re.compile(r"\A[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*\.?\Z")
_MAX_HOST_CHARS = 253
_DEFAULT_PORT = 443

_MESSAGES = {
    "url_required": "url is required and must be a non-empty string",
    "too_long": f"url must be at most {MAX_URL_CHARS} characters",
    "invalid_characters": "url must not contain whitespace, control characters or backslashes",
    "absolute_url_required": "url must be an absolute URL (https://host/path)",
    "https_required": "url must use https",
    "fragment_not_allowed": "url must not contain a fragment (#...)",
    "credentials_not_allowed": "url must not contain credentials (user:password@)",
    "invalid_port": "url has an invalid port (expected 1-65535)",
    "invalid_host": "url has an invalid host",
}


class InvalidSessionId(ValueError):
    """A session id that does not match :data:`SESSION_ID_RE`."""

    #: The offending request field.
    field = "sessionId"

    def __init__(self, message: str = "sessionId must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$") -> None:
        super().__init__(message)


class InvalidWebhookUrl(ValueError):
    """A webhook URL that breaks :attr:`rule` (one of :data:`URL_RULES`). The message never echoes the URL."""

    #: The offending request field.
    field = "url"
    #: Which rule was broken, e.g. ``"https_required"``.
    rule: str

    def __init__(self, rule: str) -> None:
        self.rule = rule
        super().__init__(_MESSAGES[rule])


class DuplicateWebhookUrl(Exception):
    """The session already has a webhook with the same normalised URL (:attr:`existing_id`)."""

    #: The id of the webhook already registered.
    existing_id: str

    def __init__(self, existing_id: str) -> None:
        self.existing_id = existing_id
        super().__init__(f"this session already has a webhook for that URL ({existing_id})")


def validate_session_id(session_id: str) -> str:
    """``session_id`` unchanged if it matches :data:`SESSION_ID_RE`; else :class:`InvalidSessionId`."""
    if not isinstance(session_id, str) or SESSION_ID_RE.match(session_id) is None:
        raise InvalidSessionId
    return session_id


def validate_url(url: str) -> tuple[str, str]:
    """``(url as registered, normalised url)``; raises :class:`InvalidWebhookUrl` naming the rule."""
    if not isinstance(url, str):
        raise InvalidWebhookUrl("url_required")
    given = url.strip(_SURROUNDING_WHITESPACE)
    if not given:
        raise InvalidWebhookUrl("url_required")
    if len(given) > MAX_URL_CHARS:
        raise InvalidWebhookUrl("too_long")
    if _BAD_CHARACTER_RE.search(given):
        raise InvalidWebhookUrl("invalid_characters")
    try:
        parts = urlsplit(given)
    except ValueError:  # unbalanced or invalid [IPv6] brackets
        raise InvalidWebhookUrl("invalid_host") from None
    if not parts.scheme or not parts.netloc:
        raise InvalidWebhookUrl("absolute_url_required")
    if parts.scheme.lower() != "https":
        raise InvalidWebhookUrl("https_required")
    if "#" in given:
        raise InvalidWebhookUrl("fragment_not_allowed")
    if "@" in parts.netloc:
        raise InvalidWebhookUrl("credentials_not_allowed")
    host, port = _split_host_port(parts.netloc)
    authority = _normalize_host(host) + ("" if port in (None, _DEFAULT_PORT) else f":{port}")
    normalized = f"https://{authority}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
    if len(normalized) > MAX_URL_CHARS:
        raise InvalidWebhookUrl("too_long")
    return given, normalized


def normalize_url(url: str) -> str:
    """The normalised form of a valid webhook URL (see the module docstring); idempotent.

    Raises :class:`InvalidWebhookUrl` for an invalid one.
    """
    return validate_url(url)[1]


def _split_host_port(netloc: str) -> tuple[str, int | None]:
    if netloc.startswith("["):
        end = netloc.find("]")
        if end == -1:
            raise InvalidWebhookUrl("invalid_host")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            raise InvalidWebhookUrl("invalid_host")
        port_text = rest[1:]
    else:
        host, _, port_text = netloc.partition(":")
        if ":" in port_text:  # an IPv6 address without brackets
            raise InvalidWebhookUrl("invalid_host")
    if not port_text:
        return host, None
    if _PORT_RE.match(port_text) is None or not 1 <= int(port_text) <= 65535:
        raise InvalidWebhookUrl("invalid_port")
    return host, int(port_text)


def _normalize_host(host: str) -> str:
    if host.startswith("["):
        literal = host[1:-1]
        if "%" in literal:  # zone ids are meaningless to a remote receiver
            raise InvalidWebhookUrl("invalid_host")
        try:
            return f"[{ipaddress.IPv6Address(literal).compressed}]"
        except ValueError:
            raise InvalidWebhookUrl("invalid_host") from None
    ascii_labels: list[str] = []
    for label in host.split("."):
        if label.isascii():
            ascii_labels.append(label.lower())
            continue
        try:  # IDNA (nameprep + punycode); it also case-folds
            ascii_labels.append(label.encode("idna").decode("ascii").lower())
        except UnicodeError:
            raise InvalidWebhookUrl("invalid_host") from None
    result = ".".join(ascii_labels)
    if len(result) > _MAX_HOST_CHARS or _ASCII_HOST_RE.match(result) is None:
        raise InvalidWebhookUrl("invalid_host")
    return result


@dataclass(frozen=True, slots=True)
class Webhook:
    """One registered webhook of one session."""

    #: 16 lowercase hex characters.
    id: str
    session_id: str
    #: The URL as registered (surrounding whitespace removed).
    url: str
    normalized_url: str
    enabled: bool
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        """``{"id","sessionId","url","normalizedUrl","enabled","createdAt","updatedAt"}`` (ISO-8601 UTC)."""
        return {
            "id": self.id,
            "sessionId": self.session_id,
            "url": self.url,
            "normalizedUrl": self.normalized_url,
            "enabled": self.enabled,
            "createdAt": format_iso(self.created_at),
            "updatedAt": format_iso(self.updated_at),
        }


_COLUMNS = "id, session_id, url, normalized_url, enabled, created_at, updated_at"


def _row_to_webhook(row: tuple[Any, ...]) -> Webhook:
    return Webhook(
        id=row[0],
        session_id=row[1],
        url=row[2],
        normalized_url=row[3],
        enabled=bool(row[4]),
        created_at=parse_iso(row[5]),
        updated_at=parse_iso(row[6]),
    )


class WebhookRegistry:
    """Per-session webhooks stored in the hub database. Every operation is scoped to one session."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def create(self, session_id: str, url: str) -> Webhook:
        """Register ``url`` for ``session_id``.

        Raises :class:`InvalidSessionId`, :class:`InvalidWebhookUrl`, or :class:`DuplicateWebhookUrl`
        when the session already has a webhook with the same normalised URL.
        """
        validate_session_id(session_id)
        given, normalized = validate_url(url)
        now = from_posix(self._clock())
        webhook = Webhook(
            id=secrets.token_hex(8),
            session_id=session_id,
            url=given,
            normalized_url=normalized,
            enabled=True,
            created_at=now,
            updated_at=now,
        )

        def insert(conn: sqlite3.Connection) -> None:
            # Inside the writer's immediate transaction: no other create can slip in between.
            existing = conn.execute(
                "SELECT id FROM webhooks WHERE session_id = ? AND normalized_url = ?", (session_id, normalized)
            ).fetchone()
            if existing is not None:
                raise DuplicateWebhookUrl(existing[0])
            conn.execute(
                f"INSERT INTO webhooks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    webhook.id,
                    webhook.session_id,
                    webhook.url,
                    webhook.normalized_url,
                    int(webhook.enabled),
                    format_iso(webhook.created_at),
                    format_iso(webhook.updated_at),
                ),
            )

        await self._db.write(insert)
        return webhook

    async def list(self, session_id: str) -> builtins.list[Webhook]:
        """The session's webhooks, oldest first (never another session's)."""
        validate_session_id(session_id)
        rows = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT {_COLUMNS} FROM webhooks WHERE session_id = ? ORDER BY created_at, rowid",
                (session_id,),
            ).fetchall()
        )
        return [_row_to_webhook(row) for row in rows]

    async def delete(self, session_id: str, webhook_id: str) -> bool:
        """Delete the session's webhook ``webhook_id``; False if this session has no such webhook."""
        validate_session_id(session_id)
        if not isinstance(webhook_id, str) or _WEBHOOK_ID_RE.match(webhook_id) is None:
            return False
        return await self._db.write(
            lambda conn: conn.execute(
                "DELETE FROM webhooks WHERE session_id = ? AND id = ?", (session_id, webhook_id)
            ).rowcount
            == 1
        )
