"""Media transfer for a connected client: ``media_conn``, encrypted upload, verified download (over httpx).

::

    async with MediaClient(client, ssl_context=ctx) as media:
        uploaded = await media.upload(jpeg_bytes, "image")             # -> UploadedMedia
        await messenger.send_message(to, image_message(uploaded, mimetype="image/jpeg"), media_type="image")
        ...
        plaintext = await media.download(received.message)             # verified, or an error

**media_conn** (PROTOCOL.md §7.1): ``<iq xmlns="w:m" type="set"><media_conn/></iq>`` answers an upload
``auth`` token, a ``ttl`` and the media hosts in order of preference. The answer is cached until ``ttl``
seconds have passed on the trio clock, and fetched again at once when a host refuses the token (401/403).

**Upload** (§7.3–7.4): a fresh 32-byte media key from the injected ``rng``, the file encrypted as
``waproto.media`` does (in a worker thread when large), then ``POST
https://<host>/mms/<type>/<token>?auth=<auth>&token=<token>`` (``token`` = base64url of ``fileEncSha256``,
padded as whatsmeow does) with ``Origin``/``Referer`` of WhatsApp Web. Hosts are tried in order; hosts that
announce a ``maxContentLengthBytes`` below the file's size are skipped; a 401/403 refreshes ``media_conn``
once and starts over. Every attempt has a deadline on the trio clock besides httpx's own timeouts.

**Download** (§7.6): the media part found after :func:`waproto.content.unwrap`. Sources, in order: the
message's ``url`` (only ``https``, and only on a ``*.whatsapp.net`` host or a host ``media_conn`` names: a
peer's message cannot send us to arbitrary addresses), then ``https://<host><directPath>&hash=…&mms-type=…``
on each ``media_conn`` host (whatsmeow's form). No redirects are followed. The body streams into a
:class:`~waproto.media.MediaDecryptor` with a size cap (the size ``fileLength`` implies, exactly; without a
``fileLength``, ``max_download_bytes``); the plaintext is returned only after every check passed (length,
``fileEncSha256``, MAC, padding, ``fileSha256``). A source whose file fails a check, answers an error or
cannot be reached gives way to the next one; when none serves a good file the error is
:class:`~waproto.errors.MediaIntegrityError` if any file failed verification, else
:class:`~waproto.errors.MediaDownloadError` (``status``: the last HTTP status).

Errors: ``LocalProtocolError`` (no media in the message, a type that cannot be uploaded),
``DecodeError`` (a media message without a 32-byte key), ``MediaUploadError`` / ``MediaDownloadError`` /
``MediaIntegrityError``, and from fetching ``media_conn``: ``NotConnected``, ``IqTimeout``, ``IqError``
(also for an answer without auth or hosts). Auth tokens never appear in logs or error messages.

This module is NOT the media crypto (``waproto.media``), NOT the message content (``waproto.content``
builds and reads media messages) and does not send messages (``waproto.client.messaging``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import secrets
import ssl
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, NoReturn, Protocol, Self, cast
from urllib.parse import quote, urlsplit

import httpx
import trio

from waproto.binary import Node
from waproto.client.errors import IqError
from waproto.client.settings import DEFAULT_ORIGIN
from waproto.content import UploadedMedia, media_part
from waproto.errors import (
    DecodeError,
    LocalProtocolError,
    MediaDownloadError,
    MediaIntegrityError,
    MediaUploadError,
)
from waproto.jid import SERVER_JID
from waproto.media import MEDIA_KEY_LENGTH, MediaDecryptor, MediaType, encrypt_media, encrypted_size
from waproto.proto import Message

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "MMS_TYPES",
    "MediaClient",
    "MediaConn",
    "MediaConnHost",
    "MediaConnQuerier",
    "UploadedMedia",
    "media_conn_request",
    "parse_media_conn",
]

log = logging.getLogger(__name__)

#: Largest file :meth:`MediaClient.download` accepts when the message gives no ``fileLength``.
DEFAULT_MAX_DOWNLOAD_BYTES: Final = 100 << 20
#: The ``mms`` type (upload path segment and download ``mms-type``) of each uploadable media type.
MMS_TYPES: Final[dict[MediaType, str]] = {
    MediaType.IMAGE: "image",
    MediaType.STICKER: "image",
    MediaType.THUMBNAIL_LINK: "image",
    MediaType.VIDEO: "video",
    MediaType.GIF: "video",
    MediaType.PTV: "video",
    MediaType.AUDIO: "audio",
    MediaType.PTT: "audio",
    MediaType.DOCUMENT: "document",
    MediaType.HISTORY: "md-msg-hist",
    MediaType.APP_STATE: "md-app-state",
}
_THREAD_THRESHOLD: Final = 256 << 10  # encrypt larger files in a worker thread
_ANSWER_LIMIT: Final = 64 << 10  # an upload answer is a small JSON object
_HOSTNAME = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?")
_WHATSAPP_SUFFIX: Final = ".whatsapp.net"


class MediaConnQuerier(Protocol):
    """What :class:`MediaClient` needs of the client: iqs (``waproto.client.Client`` is one)."""

    async def query(self, node: Node, *, patience: float | None = None) -> Node:
        """Send an iq, return its result (``IqError`` / ``IqTimeout`` / ``NotConnected`` otherwise)."""
        ...


@dataclass(frozen=True, slots=True)
class MediaConnHost:
    """One media host from ``media_conn``: ``hostname`` as pasted into URLs (``host`` or ``host:port``)."""

    hostname: str
    #: Largest upload the host accepts, when it says.
    max_content_length: int | None = None


@dataclass(frozen=True, slots=True)
class MediaConn:
    """A ``media_conn`` answer and when it was fetched (trio clock)."""

    #: The upload auth token (secret-ish; never logged).
    auth: str = field(repr=False)
    #: Seconds the answer may be cached.
    ttl: int
    #: The media hosts, in order of preference.
    hosts: tuple[MediaConnHost, ...]
    #: ``trio.current_time()`` when it was fetched.
    fetched_at: float
    #: Seconds the auth token stays valid, if given.
    auth_ttl: int | None = None

    @property
    def expires_at(self) -> float:
        """When (trio clock) the cached answer must be fetched again."""
        return self.fetched_at + self.ttl

    def names(self, hostname: str) -> bool:
        """Whether ``hostname`` (``host[:port]``, any case) is one of the hosts."""
        wanted = hostname.lower()
        return any(host.hostname.lower() == wanted for host in self.hosts)


def media_conn_request() -> Node:
    """``<iq xmlns="w:m" type="set" to="s.whatsapp.net"><media_conn/></iq>`` (``Client.query`` adds the id)."""
    return Node("iq", {"xmlns": "w:m", "type": "set", "to": SERVER_JID}, [Node("media_conn")])


def _int_attr(node: Node, name: str) -> int | None:
    value = node.attrs.get(name)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


def parse_media_conn(answer: Node, *, fetched_at: float) -> MediaConn:
    """The :class:`MediaConn` in an iq result; :class:`IqError` when it lacks auth, a ttl or usable hosts."""
    conn = answer.child("media_conn")
    if conn is None:
        raise IqError("the media_conn answer has no <media_conn>", node=answer)
    auth = conn.attrs.get("auth")
    ttl = _int_attr(conn, "ttl")
    if not isinstance(auth, str) or not auth or ttl is None:
        raise IqError("the media_conn answer has no auth token or ttl", node=answer)
    hosts: list[MediaConnHost] = []
    for node in conn.children_with("host"):
        hostname = node.attrs.get("hostname")
        if isinstance(hostname, str) and _HOSTNAME.fullmatch(hostname):
            hosts.append(MediaConnHost(hostname, _int_attr(node, "maxContentLengthBytes")))
        else:
            log.warning("media_conn: ignoring a host with an unusable hostname")
    if not hosts:
        raise IqError("the media_conn answer names no usable host", node=answer)
    return MediaConn(auth, ttl, tuple(hosts), fetched_at, _int_attr(conn, "auth_ttl"))


def _token(file_enc_sha256: bytes) -> str:
    return base64.urlsafe_b64encode(file_enc_sha256).decode("ascii")


class _Unavailable(Exception):
    """One source did not serve the file (internal; ``status`` None when it never answered)."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


class MediaClient:
    """Uploads and downloads media for one connected client; see the module docstring.

    ``http`` is an ``httpx.AsyncClient`` to use (the caller keeps owning it); without one, the client makes
    its own with ``verify=ssl_context`` (or the default trust store), no redirects and ``timeout``, and
    closes it in :meth:`aclose`. ``rng`` draws media keys, ``now`` gives ``mediaKeyTimestamp`` (unix
    seconds). ``attempt_timeout`` bounds each upload or download attempt on the trio clock.
    """

    def __init__(
        self,
        client: MediaConnQuerier,
        *,
        ssl_context: ssl.SSLContext | None = None,
        http: httpx.AsyncClient | None = None,
        rng: Callable[[int], bytes] = secrets.token_bytes,
        now: Callable[[], float] = time.time,
        origin: str = DEFAULT_ORIGIN,
        timeout: float = 20.0,
        attempt_timeout: float = 120.0,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    ) -> None:
        if timeout <= 0 or attempt_timeout <= 0 or max_download_bytes <= 0:
            raise LocalProtocolError("timeouts and max_download_bytes must be positive")
        self._client = client
        self._own_http = http is None
        if http is None:
            verify: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
            http = httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(timeout), follow_redirects=False)
        self._http = http
        self._rng = rng
        self._now = now
        self._headers = {"Origin": origin, "Referer": origin.rstrip("/") + "/"}
        self._attempt_timeout = attempt_timeout
        #: Largest file downloaded when the message gives no ``fileLength``.
        self.max_download_bytes = max_download_bytes
        self._conn: MediaConn | None = None
        self._conn_lock = trio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._own_http:
            await self._http.aclose()

    # ----------------------------------------------------------------- media_conn

    async def media_conn(self) -> MediaConn:
        """The cached ``media_conn`` answer, fetched when there is none or it is older than its ttl."""
        return await self._media_conn(None)

    async def _media_conn(self, stale: MediaConn | None) -> MediaConn:
        async with self._conn_lock:
            cached = self._conn
            if cached is not None and cached is not stale and trio.current_time() < cached.expires_at:
                return cached
            answer = await self._client.query(media_conn_request())
            conn = parse_media_conn(answer, fetched_at=trio.current_time())
            self._conn = conn
            log.debug("media_conn: %d host(s), ttl %d s", len(conn.hosts), conn.ttl)
            return conn

    # ----------------------------------------------------------------- upload

    async def upload(self, data: bytes, media_type: MediaType | str) -> UploadedMedia:
        """Encrypt ``data`` under a fresh media key and upload it as ``media_type``; see the module docstring."""
        kind = MediaType.parse(media_type)
        mms_type = MMS_TYPES.get(kind)
        if mms_type is None:
            raise LocalProtocolError(f"media of type {kind.value} cannot be uploaded")
        media_key = self._rng(MEDIA_KEY_LENGTH)
        if len(data) > _THREAD_THRESHOLD:
            encrypted = await trio.to_thread.run_sync(encrypt_media, data, media_key, kind)
        else:
            encrypted = encrypt_media(data, media_key, kind)
        info = encrypted.info
        token = _token(info.file_enc_sha256)
        path = f"/mms/{mms_type}/{token}"
        conn = await self.media_conn()
        refreshed = False
        status: int | None = None
        while True:
            auth_refused = False
            for host in conn.hosts:
                if host.max_content_length is not None and len(encrypted.data) > host.max_content_length:
                    status = status or 413
                    continue
                url = f"https://{host.hostname}{path}?auth={quote(conn.auth, safe='')}&token={quote(token, safe='')}"
                try:
                    answer = await self._post(url, encrypted.data)
                except _Unavailable as exc:
                    log.info("media upload to %s failed: %s", host.hostname, exc)
                    status = exc.status if exc.status is not None else status
                    if exc.status in (401, 403):
                        auth_refused = True
                        break
                    continue
                log.debug("media upload to %s: %d bytes", host.hostname, len(encrypted.data))
                return UploadedMedia(
                    url=answer[0],
                    direct_path=answer[1],
                    media_key=media_key,
                    file_sha256=info.file_sha256,
                    file_enc_sha256=info.file_enc_sha256,
                    file_length=info.file_length,
                    media_key_timestamp=int(self._now()),
                    media_type=kind,
                )
            if auth_refused and not refreshed:
                refreshed = True
                conn = await self._media_conn(conn)
                continue
            raise MediaUploadError(
                f"no media host accepted the {kind.value} upload ({len(conn.hosts)} tried)", status=status
            )

    async def _post(self, url: str, body: bytes) -> tuple[str, str]:
        headers = {**self._headers, "Content-Type": "application/octet-stream"}
        with trio.move_on_after(self._attempt_timeout) as scope:
            try:
                async with self._http.stream(
                    "POST", url, content=body, headers=headers, follow_redirects=False
                ) as response:
                    if response.status_code != 200:
                        raise _Unavailable(f"HTTP {response.status_code}", response.status_code)
                    raw = await _read_capped(response, _ANSWER_LIMIT)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise _Unavailable(type(exc).__name__) from None
            return _parse_upload_answer(raw, response.status_code)
        assert scope.cancelled_caught
        raise _Unavailable("timed out")

    # ----------------------------------------------------------------- download

    async def download(self, message: Message) -> bytes:
        """The verified plaintext of the media ``message`` carries (after unwrapping); see the module docstring."""
        found = media_part(message)
        if found is None:
            raise LocalProtocolError("the message carries no media")
        _, kind, part = found
        media_key = bytes(part.media_key)
        if len(media_key) != MEDIA_KEY_LENGTH:
            raise DecodeError(f"the media message's key is {len(media_key)} bytes, not {MEDIA_KEY_LENGTH}")
        file_length: int | None = part.file_length if part.HasField("file_length") else None
        limit = self.max_download_bytes if file_length is None else encrypted_size(file_length)
        if limit > self.max_download_bytes:
            raise MediaDownloadError(
                f"the file is {file_length} bytes; downloads are limited to {self.max_download_bytes}"
            )
        enc_sha = bytes(part.file_enc_sha256) or None
        plain_sha = bytes(part.file_sha256) or None

        integrity: MediaIntegrityError | None = None
        status: int | None = None
        async with contextlib.aclosing(self._sources(part, kind, enc_sha)) as sources:
            async for url in sources:
                decryptor = MediaDecryptor(
                    media_key, kind, file_enc_sha256=enc_sha, file_sha256=plain_sha, file_length=file_length
                )
                try:
                    return await self._get(url, decryptor, limit, exact=file_length is not None)
                except MediaIntegrityError as exc:
                    log.warning("media from %s failed verification: %s", _host_of(url), exc.reason)
                    integrity = exc
                except _Unavailable as exc:
                    log.info("media download from %s failed: %s", _host_of(url), exc)
                    status = exc.status if exc.status is not None else status
        if integrity is not None:
            raise integrity
        raise MediaDownloadError(f"no source served the {kind.value} file", status=status)

    async def _sources(self, part: object, kind: MediaType, enc_sha: bytes | None) -> AsyncGenerator[str]:
        url = str(getattr(part, "url", ""))
        direct_path = str(getattr(part, "direct_path", ""))
        conn: MediaConn | None = None
        if url.startswith("https://"):
            url_host = _host_of(url)
            if not url_host:
                log.info("not following a media url without a usable host")
            elif url_host.lower().split(":")[0].endswith(_WHATSAPP_SUFFIX):
                yield url
            else:
                conn = await self.media_conn()
                if conn.names(url_host):
                    yield url
                else:
                    log.info("not following a media url on %s: not a media host", url_host)
        if direct_path.startswith("/"):
            conn = conn or await self.media_conn()
            separator = "&" if "?" in direct_path else "?"
            query = f"hash={quote(_token(enc_sha or b''), safe='')}&mms-type={MMS_TYPES.get(kind, 'image')}&__wa-mms="
            for host in conn.hosts:
                yield f"https://{host.hostname}{direct_path}{separator}{query}"

    async def _get(self, url: str, decryptor: MediaDecryptor, limit: int, *, exact: bool) -> bytes:
        pieces: list[bytes] = []  # NOT authenticated until decryptor.finalize() returns
        with trio.move_on_after(self._attempt_timeout) as scope:
            try:
                async with self._http.stream("GET", url, headers=self._headers, follow_redirects=False) as response:
                    if response.status_code != 200:
                        raise _Unavailable(f"HTTP {response.status_code}", response.status_code)
                    declared = response.headers.get("Content-Length", "")
                    if declared.isascii() and declared.isdigit() and int(declared) > limit:
                        _too_large(limit, exact)
                    total = 0
                    async with contextlib.aclosing(_body(response)) as chunks:
                        async for chunk in chunks:
                            total += len(chunk)
                            if total > limit:
                                _too_large(limit, exact)
                            pieces.append(decryptor.update(chunk))
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise _Unavailable(type(exc).__name__) from None
            pieces.append(decryptor.finalize())
            return b"".join(pieces)
        assert scope.cancelled_caught
        raise _Unavailable("timed out")


def _body(response: httpx.Response) -> AsyncGenerator[bytes]:
    """The response body's chunks (an async generator, so it can be closed when we stop early)."""
    return cast("AsyncGenerator[bytes]", response.aiter_bytes())


def _too_large(limit: int, exact: bool) -> NoReturn:
    if exact:  # the message said how large the file is: a larger one is not that file
        raise MediaIntegrityError(f"the file is larger than the {limit} bytes its fileLength implies", reason="length")
    raise _Unavailable(f"the file is larger than the download limit of {limit} bytes")


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    body = bytearray()
    async with contextlib.aclosing(_body(response)) as chunks:
        async for chunk in chunks:
            body += chunk
            if len(body) > limit:
                raise _Unavailable("the answer is too large", response.status_code)
    return bytes(body)


def _parse_upload_answer(raw: bytes, status: int) -> tuple[str, str]:
    """``(url, direct_path)`` from the upload answer's JSON."""
    try:
        answer = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _Unavailable("the answer is not JSON", status) from None
    if not isinstance(answer, dict):
        raise _Unavailable("the answer is not a JSON object", status)
    url, direct_path = answer.get("url"), answer.get("direct_path")
    if not isinstance(url, str) or not url.startswith("https://") or not isinstance(direct_path, str) \
            or not direct_path.startswith("/"):
        raise _Unavailable("the answer lacks url or direct_path", status)
    return url, direct_path


def _host_of(url: str) -> str:
    """The ``host[:port]`` of ``url`` ("" when it has none or is malformed)."""
    try:
        return urlsplit(url).netloc.rpartition("@")[2]
    except ValueError:
        return ""
