"""The sandbox media server: HTTPS upload and download of encrypted media, as WhatsApp clients expect it.

:class:`MediaServer` holds the state (a :class:`~waproto.sandbox.media.store.BlobStore`, the ``media_conn``
auth tokens it issued, the host name it hands out) and a small quart-trio app; :func:`serve_media` runs that
app on hypercorn with TLS (certificate from :func:`~waproto.sandbox.media.certs.ensure_tls_files`) and reports
a :class:`MediaEndpoint` through ``task_status``.

Endpoints (PROTOCOL.md §7)::

    POST /mms/<type>/<token>?auth=<auth>&token=<token>      body: ct || mac (any <a>/<b>/<token> prefix works,
                                                           and bare /<token>, which Baileys uses for app state)
         200 {"url": "https://<host>/v/t62.7118-24/<token>.enc?ccb=11-4&mms3=true",
              "direct_path": "/v/t62.7118-24/<token>.enc?ccb=11-4&mms3=true"}
    GET  /v/<segment>/<token>.enc[?anything]               the stored bytes; a single ``Range`` is honoured (206)

An upload is refused unless ``auth`` is a token this server issued and has not expired (401), ``token`` in the
query equals the one in the path and is ``base64url`` of 32 bytes (400), the body fits the store (413/507)
and ``base64url(SHA-256(body)) == token`` (400 ``hash_mismatch``). Every refusal is JSON
``{"error": <code>, "message": …, "field"?: …}``; auth tokens are never logged or echoed.

Downloads by clients, precisely:
- Baileys 7 downloads from ``https://<host of the message's url>`` + ``directPath``, so the ``url`` this server
  answers with (its own ``host:port``) is used as is.
- Baileys 6 uses the message's ``url`` only when it starts with ``https://mmg.whatsapp.net/``, otherwise
  ``https://mmg.whatsapp.net`` + ``directPath``: it always connects to mmg.whatsapp.net:443. A Baileys 6
  client reaches the sandbox only if the caller supplies an agent that connects elsewhere (the interop op
  ``media_server.v6.download`` shows one: ``https.Agent`` whose ``createConnection`` dials the sandbox with
  SNI ``mmg.whatsapp.net``), with ``mmg.whatsapp.net`` among the certificate's hosts.
- whatsmeow-style clients GET ``https://<media_conn host>`` + ``directPath`` + ``&hash=…&mms-type=…``; the
  extra query is ignored.
- Simulated phones inside the sandbox need no HTTP at all: :meth:`MediaServer.blob_for` resolves a url or
  direct path to the stored bytes, and :meth:`MediaServer.publish` stores a file they send.

This module is NOT the media crypto (``waproto.media``: the server never decrypts) and NOT the IQ dispatcher
(the sandbox core calls :meth:`MediaServer.answer_media_conn` for a ``media_conn`` IQ).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from waproto.binary import Node
from waproto.errors import LocalProtocolError
from waproto.sandbox.media.certs import TLSFiles
from waproto.sandbox.media.iq import DEFAULT_AUTH_TTL, DEFAULT_TTL, MediaHost, media_conn_result
from waproto.sandbox.media.store import BlobStore, StoreRefusal, digest_from_token, token_from_digest

__all__ = [
    "MAX_AUTH_TOKENS",
    "MediaEndpoint",
    "MediaServer",
    "serve_media",
]

#: At most this many live auth tokens are remembered (the oldest are forgotten first).
MAX_AUTH_TOKENS = 10_000
_PATH_SEGMENT = "t62.7118-24"
_UPLOAD_PREFIX = re.compile(r"(?:[a-z0-9-]{1,40}/[a-z0-9-]{1,40})?")
_DOWNLOAD_PATH = re.compile(r"v/[A-Za-z0-9._-]{1,40}/([A-Za-z0-9_-]{43})\.enc")
_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})")

log = logging.getLogger("waproto.sandbox.media")


@dataclass(frozen=True, slots=True)
class MediaEndpoint:
    """Where a running media server is reached, as :func:`serve_media` reports it."""

    #: ``host:port`` as handed out in ``media_conn`` (``[::1]:port`` for IPv6).
    hostname: str
    #: ``https://`` + hostname.
    base_url: str
    #: The CA certificate clients must trust (NODE_EXTRA_CA_CERTS, ``ssl`` cafile).
    ca_file: Path


def _error(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"error": code, "message": message}
    if field is not None:
        body["field"] = field
    return Response(_json(body), status=status, content_type="application/json")


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))


class MediaServer:
    """The media server's state and its quart-trio app (serve it with :func:`serve_media`).

    ``clock`` (seconds, monotonic) defaults to ``trio.current_time``; ``token_bytes`` (a CSPRNG) to
    ``secrets.token_bytes``. Both are injectable so tests are deterministic.
    """

    def __init__(
        self,
        store: BlobStore | None = None,
        *,
        ttl: int = DEFAULT_TTL,
        auth_ttl: int = DEFAULT_AUTH_TTL,
        clock: Callable[[], float] | None = None,
        token_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        #: Where uploads are kept.
        self.store = store if store is not None else BlobStore()
        #: Seconds clients may cache a media_conn answer.
        self.ttl = ttl
        #: Seconds an issued auth token stays valid.
        self.auth_ttl = auth_ttl
        self._clock = clock if clock is not None else trio.current_time
        self._token_bytes = token_bytes
        self._auth: dict[str, float] = {}
        #: Set by :func:`serve_media` (or by hand): the ``host:port`` clients are told to use.
        self.hostname: str | None = None
        #: The Quart application (routes below); :func:`serve_media` serves it.
        self.app = self._make_app()

    # ------------------------------------------------------------------------------------ auth tokens

    def issue_auth(self) -> str:
        """A fresh upload auth token, valid for :attr:`auth_ttl` seconds."""
        now = self._clock()
        # Tokens sit in issue order (the clock is monotonic): drop expired ones, and the oldest beyond the cap.
        while self._auth:
            oldest = next(iter(self._auth))
            if now - self._auth[oldest] < self.auth_ttl and len(self._auth) < MAX_AUTH_TOKENS:
                break
            del self._auth[oldest]
        # Standard base64, '+' and '/' included, as the real tokens: clients must URL-encode it.
        token = base64.b64encode(self._token_bytes(30)).decode("ascii")
        self._auth[token] = now
        return token

    def auth_valid(self, token: str) -> bool:
        """True when ``token`` was issued here and has not expired."""
        issued = self._auth.get(token)
        return issued is not None and self._clock() - issued < self.auth_ttl

    # ------------------------------------------------------------------------------------ IQ and urls

    @property
    def hosts(self) -> list[MediaHost]:
        """The hosts announced in ``media_conn`` (empty until the server is serving)."""
        if self.hostname is None:
            return []
        return [MediaHost(self.hostname, self.store.max_blob_size)]

    def answer_media_conn(self, request_node: Node) -> Node:
        """The ``<iq type="result"><media_conn …>`` answering ``request_node``, with a fresh auth token.

        Raises :class:`~waproto.errors.LocalProtocolError` before :func:`serve_media` has started (no host yet).
        """
        if self.hostname is None:
            raise LocalProtocolError("the media server is not serving yet: no host to announce")
        return media_conn_result(
            request_node, auth=self.issue_auth(), hosts=self.hosts, ttl=self.ttl, auth_ttl=self.auth_ttl
        )

    async def handle_media_conn(self, connection: object, iq: Node) -> Node:
        """An IQ handler (``(connection, iq) -> answer``) for the sandbox's IQ table: :meth:`answer_media_conn`."""
        return self.answer_media_conn(iq)

    @staticmethod
    def direct_path(digest: bytes) -> str:
        """The ``direct_path`` of the file with this SHA-256."""
        return f"/v/{_PATH_SEGMENT}/{token_from_digest(digest)}.enc?ccb=11-4&mms3=true"

    def url(self, digest: bytes) -> str:
        """The full ``url`` of the file with this SHA-256 on this server."""
        if self.hostname is None:
            raise LocalProtocolError("the media server is not serving yet: no host for urls")
        return f"https://{self.hostname}{self.direct_path(digest)}"

    def publish(self, encrypted: bytes) -> tuple[str, str]:
        """Store an encrypted file without HTTP (a simulated phone sending media) and return its
        ``(url, direct_path)`` for the message. Raises :class:`~waproto.errors.LocalProtocolError` when the
        store refuses it or the server is not serving yet."""
        digest = self.store.put(encrypted)
        return self.url(digest), self.direct_path(digest)

    def blob_for(self, url_or_direct_path: str) -> bytes | None:
        """The stored bytes a message's ``url`` (any host) or ``directPath`` names, or None."""
        digest = _digest_in_path(urlsplit(url_or_direct_path).path)
        return None if digest is None else self.store.get(digest)

    # ------------------------------------------------------------------------------------ HTTP

    def _make_app(self) -> QuartTrio:
        app = QuartTrio("waproto.sandbox.media")
        app.config["MAX_CONTENT_LENGTH"] = self.store.max_blob_size
        app.config["BODY_TIMEOUT"] = 60

        @app.errorhandler(HTTPException)
        async def http_error(exc: HTTPException) -> Response:
            code = exc.code or 500
            if code == 413:
                return _error(413, StoreRefusal.TOO_LARGE.value, "the body is larger than the server accepts")
            return _error(code, (exc.name or "error").lower().replace(" ", "_"), exc.description or "")

        @app.errorhandler(Exception)
        async def crash(exc: Exception) -> Response:
            log.exception("media server: unexpected error on %s %s", request.method, request.path)
            return _error(500, "internal_error", "the media server failed; see its log")

        @app.route("/<path:path>", methods=["GET", "POST"])
        async def media(path: str) -> Response:
            if request.method == "POST":
                return await self._upload(path)
            return self._download(path)

        return app

    async def _upload(self, path: str) -> Response:
        prefix, _, path_token = path.rpartition("/")
        if not _UPLOAD_PREFIX.fullmatch(prefix):
            return _error(404, "not_found", "uploads go to /mms/<type>/<token>")
        auth = request.args.get("auth")
        if not auth:
            return _error(400, "missing_field", "the query has no auth token", "auth")
        if not self.auth_valid(auth):
            return _error(
                401, "bad_auth", "the auth token is unknown or expired; fetch media_conn again", "auth"
            )
        query_token = request.args.get("token")
        if query_token is None:
            return _error(400, "missing_field", "the query has no token", "token")
        digest = digest_from_token(path_token)
        if digest is None or digest_from_token(query_token) != digest:
            return _error(
                400,
                "bad_token",
                "token must be base64url(SHA-256 of the body), the same in path and query",
                "token",
            )
        if request.content_length is not None:
            refused = self.store.refusal(request.content_length, digest)
            if refused is not None:
                return self._refused(refused)
        body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
        if hashlib.sha256(body).digest() != digest:
            return _error(400, "hash_mismatch", "SHA-256 of the body does not match the token", "token")
        refused = self.store.refusal(len(body), digest)
        if refused is not None:
            return self._refused(refused)
        self.store.put(body)
        log.info("media: stored %s (%d bytes)", token_from_digest(digest), len(body))
        return Response(
            _json({"url": self.url(digest), "direct_path": self.direct_path(digest)}),
            content_type="application/json",
        )

    def _refused(self, refused: StoreRefusal) -> Response:
        if refused is StoreRefusal.TOO_LARGE:
            return _error(413, refused.value, f"files are limited to {self.store.max_blob_size} bytes")
        return _error(507, refused.value, "the media store is full")

    def _download(self, path: str) -> Response:
        digest = _digest_in_path("/" + path)
        data = None if digest is None else self.store.get(digest)
        if data is None:
            return _error(404, "not_found", "no such media file")
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        span = _parse_range(request.headers.get("Range"), len(data))
        if span is None:
            return Response(data, status=200, headers=headers)
        if span == _UNSATISFIABLE:
            response = _error(416, "bad_range", f"the file has {len(data)} bytes")
            response.headers["Content-Range"] = f"bytes */{len(data)}"
            return response
        start, end = span
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return Response(data[start : end + 1], status=206, headers=headers)


def _digest_in_path(path: str) -> bytes | None:
    match = _DOWNLOAD_PATH.fullmatch(path.removeprefix("/"))
    return None if match is None else digest_from_token(match.group(1))


_UNSATISFIABLE = (-1, -1)


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive for one byte range, ``_UNSATISFIABLE``, or None (serve the whole file)."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None  # multiple or malformed ranges: RFC 9110 lets a server ignore Range
    first, last = match.group(1), match.group(2)
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0:
            return _UNSATISFIABLE
        return max(0, size - length), size - 1
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if last and int(last) < start:
        return None
    if start >= size:
        return _UNSATISFIABLE
    return start, end


def _hostname(host: str, port: int) -> str:
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    return f"[{host}]:{port}" if is_v6 else f"{host}:{port}"


async def serve_media(
    server: MediaServer,
    tls: TLSFiles,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    public_hostname: str | None = None,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[MediaEndpoint] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``server`` over HTTPS on ``host:port`` (0: any free port) until cancelled or ``shutdown_trigger``.

    Reports the :class:`MediaEndpoint` through ``task_status`` once listening, after setting
    ``server.hostname`` (``public_hostname`` if given, else ``host:actual-port``), so
    ``await nursery.start(serve_media, server, tls)`` returns the endpoint.
    """
    config = Config()
    config.bind = [_hostname(host, port)]
    config.certfile = str(tls.cert_file)
    config.keyfile = str(tls.key_file)
    config.accesslog = None
    # Never stdout: the sandbox CLI's first stdout line is its JSON banner.
    config.errorlog = logging.getLogger("waproto.sandbox.media.hypercorn")
    config.graceful_timeout = 5
    config.include_server_header = False

    class _Status:
        def started(self, binds: list[str]) -> None:
            actual = urlsplit(binds[0]).port
            assert actual is not None
            server.hostname = public_hostname or _hostname(host, actual)
            task_status.started(MediaEndpoint(server.hostname, f"https://{server.hostname}", tls.ca_file))

    kwargs: dict[str, Any] = {"task_status": _Status()}
    if shutdown_trigger is not None:
        kwargs["shutdown_trigger"] = shutdown_trigger
    await serve(server.app, config, **kwargs)
