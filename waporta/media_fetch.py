"""The REST API's ``media`` input: an http(s) URL (fetched), a ``data:`` URL, or plain base64 → bytes.

:func:`fetch_media` turns the ``media`` field of ``POST /send/image`` and ``/send/document`` into a
:class:`FetchedMedia` (bytes, mime type, file name) or raises :class:`MediaInputError`, which carries the
HTTP status and JSON error code the REST layer answers with:

====== ========================== ===================================================================
status code                       when
====== ========================== ===================================================================
400    ``invalid_media``          not an http(s) URL, a ``data:`` URL or base64; or the media is empty
400    ``media_host_not_allowed`` the URL's host is or resolves to a non-public address (loopback,
                                  private, link-local, CGNAT, multicast, reserved, unspecified, or an
                                  IPv6 address embedding one) that ``[media] allow_networks`` does not
                                  cover — at the first hop or after any redirect
413    ``media_too_large``        more than ``[media] max_bytes`` (Content-Length, bytes received, or
                                  the base64 text's length before decoding)
422    ``media_unreachable``      the host does not resolve, the connection or TLS fails, a timeout,
                                  HTTP status >= 400, a redirect without a usable Location, a redirect
                                  to a scheme other than http/https, more than ``max_redirects``
====== ========================== ===================================================================

**How the address check cannot be bypassed (DNS rebinding).** URLs are fetched with an
:class:`httpx.AsyncClient` whose transport is an :class:`httpcore.AsyncConnectionPool` built on our own
:class:`httpcore.AsyncNetworkBackend`. httpcore asks its network backend for every new TCP connection
with the URL's host name; ours resolves that name itself (the injectable ``resolver``, default
``getaddrinfo``), refuses the connection unless *every* resolved address passes the rules, and then opens
the socket to one of those checked addresses (an IP literal, so nothing is resolved again). TLS is
started afterwards by httpcore on that socket with ``server_hostname`` = the URL's host, and the
``Host`` header comes from the URL, so certificates are verified against the name as usual. Because the
check sits at the only place a socket is opened, it runs for the first request and for every redirect
that needs a new connection, and a name cannot resolve to a public address for a check and to a private
one for the connection. Redirects are followed by hand (``follow_redirects=False``), at most
``max_redirects``, http/https only. ``trust_env=False``: proxy variables are ignored, since a proxy
would connect on our behalf to an unchecked address.

**Bounded resources.** ``fetch_timeout`` is the connect and read timeout and also a deadline for the
whole fetch, redirects included. ``Content-Length`` is checked before the body is read, and the body is
read raw (``Accept-Encoding: identity``; a compressed answer is refused, so no decompression bomb) and
counted as it arrives, so memory stays within ``max_bytes`` plus one network read.

**No secrets in errors or logs.** A URL is only ever shown as ``scheme://host[:port]/path``: no query
string, fragment or user info.

This module is NOT the REST layer (the JSON error body is built by the caller, see
:meth:`MediaInputError.as_json`) and does not encrypt or upload anything (``waproto.client.media`` does).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import re
import socket
import ssl
import urllib.parse
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import httpcore
import httpx
import trio

if TYPE_CHECKING:
    from waporta.config import MediaConfig, Network

__all__ = [
    "Address",
    "FetchedMedia",
    "MediaInputError",
    "Resolver",
    "address_refusal",
    "fetch_media",
    "safe_url",
    "sniff_mimetype",
    "system_resolver",
]

log = logging.getLogger(__name__)

#: An IP address as :mod:`ipaddress` parses it.
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``async resolver(host, port) -> addresses``: every address ``host`` resolves to. Raise ``OSError``
#: when it does not resolve.
Resolver = Callable[[str, int], Awaitable[Sequence[Address]]]

OCTET_STREAM = "application/octet-stream"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}:")
_ASCII_SPACE = re.compile(r"[ \t\r\n\f\v]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*")
_MIMETYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_URLSAFE = str.maketrans("-_", "+/")


# ---------------------------------------------------------------- results and errors


@dataclass(frozen=True, slots=True, repr=False)
class FetchedMedia:
    """The media's bytes, with the mime type and file name found for them."""

    #: The media itself (never empty).
    data: bytes
    #: A lower-case ``type/subtype`` without parameters; ``application/octet-stream`` when unknown.
    mimetype: str
    #: From ``Content-Disposition`` or the URL path's last segment (no folders, no control
    #: characters, at most 255 characters); None for base64 and ``data:`` URLs.
    filename: str | None

    def __repr__(self) -> str:
        return f"FetchedMedia(<{len(self.data)} bytes>, mimetype={self.mimetype!r}, filename={self.filename!r})"


class MediaInputError(Exception):
    """The ``media`` input cannot be used; ``status`` and ``code`` are the REST answer.

    ``str(err)`` is :attr:`message`, which names the field and never holds a URL's query string.
    """

    def __init__(self, status: int, code: str, message: str, field: str = "media", **details: object) -> None:
        #: The HTTP status: 400, 413 or 422.
        self.status = status
        #: ``invalid_media``, ``media_host_not_allowed``, ``media_too_large`` or ``media_unreachable``.
        self.code = code
        #: One human-readable sentence, starting with the field name.
        self.message = message
        #: The request field the media came from.
        self.field = field
        #: Extra JSON-able facts for the error body (``maxBytes`` for ``media_too_large``).
        self.details = dict(details)
        super().__init__(message)

    def as_json(self) -> dict[str, object]:
        """The REST error body: ``{"error": code, "message": ..., "field": ..., **details}``."""
        return {"error": self.code, "message": self.message, "field": self.field, **self.details}


def _invalid(field: str, problem: str) -> MediaInputError:
    return MediaInputError(400, "invalid_media", f"{field}: {problem}", field)


def _too_large(field: str, problem: str, max_bytes: int) -> MediaInputError:
    return MediaInputError(
        413, "media_too_large", f"{field}: {problem}; the limit is {max_bytes} bytes", field, maxBytes=max_bytes
    )


def _unreachable(field: str, problem: str) -> MediaInputError:
    return MediaInputError(422, "media_unreachable", f"{field}: {problem}", field)


# ---------------------------------------------------------------- entry point


async def fetch_media(
    spec: str,
    config: MediaConfig,
    *,
    field: str = "media",
    resolver: Resolver | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> FetchedMedia:
    """Turn the REST ``media`` value into bytes.

    :param spec: an ``http://``/``https://`` URL, a ``data:`` URL (``data:<mime>;base64,<data>``, or
        percent-encoded without ``;base64``), or plain base64 (standard or URL-safe alphabet, ASCII
        whitespace ignored, padding optional). Leading and trailing whitespace is ignored.
    :param config: ``[media]``: ``max_bytes``, ``fetch_timeout``, ``max_redirects``, ``allow_networks``.
    :param field: the request field's name, used in error messages.
    :param resolver: host name → addresses; default :func:`system_resolver`. IP literals skip it.
    :param ssl_context: trust for ``https://`` URLs; default: the system's CAs.
    :raises MediaInputError: for every problem (see the module docstring); nothing else escapes for
        any string input.
    """
    if not isinstance(spec, str):
        raise _invalid(field, "expected a string: an http(s) URL, a data: URL or base64")
    text = spec.strip()
    if not text:
        raise _invalid(field, "is empty")
    head = text[:8].lower()
    if head.startswith(("http://", "https://")):
        return await _fetch_url(text, config, field, resolver or system_resolver, ssl_context)
    if head.startswith("data:"):
        return _data_url(text, config.max_bytes, field)
    scheme = _SCHEME.match(text)
    if scheme is not None:
        name = scheme.group(0)[:-1].lower()
        raise _invalid(field, f"{name}: URLs are not accepted; give an http(s) URL, a data: URL or base64")
    data = _base64(text, config.max_bytes, field, what="base64")
    return FetchedMedia(data, sniff_mimetype(data), None)


# ---------------------------------------------------------------- base64 and data: URLs


def _base64(text: str, max_bytes: int, field: str, *, what: str) -> bytes:
    compact = _ASCII_SPACE.sub("", text)
    body = compact.rstrip("=")
    padding = len(compact) - len(body)
    if not _BASE64.fullmatch(body):
        raise _invalid(field, f"is not an http(s) URL, a data: URL or valid {what} (unexpected characters)")
    if not body:
        raise _invalid(field, "is empty")
    if len(body) % 4 == 1 or padding > 2 or (padding and (len(body) + padding) % 4):
        raise _invalid(field, f"is not valid {what} (wrong length or padding)")
    size = len(body) * 3 // 4  # what it decodes to, known before decoding
    if size > max_bytes:
        raise _too_large(field, f"the {what} data decodes to {size} bytes", max_bytes)
    try:
        return base64.b64decode(body.translate(_URLSAFE) + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(field, f"is not valid {what}") from None


def _data_url(text: str, max_bytes: int, field: str) -> FetchedMedia:
    meta, comma, payload = text[5:].partition(",")
    if not comma:
        raise _invalid(field, "is a data: URL without a comma before its data")
    params = [part.strip() for part in meta.split(";")]
    encoded = params[-1].lower() == "base64"
    declared = params[0].lower() if len(params) > 1 or not encoded else ""
    if declared and not _MIMETYPE.fullmatch(declared):
        raise _invalid(field, "is a data: URL whose media type is not type/subtype")
    if encoded:
        if "%" in payload:  # %2B, %2F, %3D; anything else fails the alphabet check below
            payload = urllib.parse.unquote(payload, errors="replace")
        data = _base64(payload, max_bytes, field, what="base64 in the data: URL")
    else:
        if len(payload) > max_bytes * 3 + 3:  # every byte takes at most 3 characters (%XX)
            raise _too_large(field, "the data: URL is too long", max_bytes)
        try:
            data = urllib.parse.unquote_to_bytes(payload)
        except UnicodeEncodeError:
            raise _invalid(field, "is a data: URL with characters that are not text") from None
        if len(data) > max_bytes:
            raise _too_large(field, f"the data: URL holds {len(data)} bytes", max_bytes)
        if not data:
            raise _invalid(field, "is empty")
    mimetype = declared if declared and declared != OCTET_STREAM else sniff_mimetype(data)
    return FetchedMedia(data, mimetype, None)


# ---------------------------------------------------------------- content sniffing


def sniff_mimetype(data: bytes) -> str:
    """The mime type recognised from the first bytes, else ``application/octet-stream``.

    Known: JPEG, PNG, GIF, WebP, PDF, ZIP, MP4 (``audio/mp4`` for an M4A brand), OGG.
    """
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "application/zip"
    if data[4:8] == b"ftyp":
        return "audio/mp4" if data[8:11] == b"M4A" else "video/mp4"
    if data.startswith(b"OggS"):
        return "audio/ogg"
    return OCTET_STREAM


# ---------------------------------------------------------------- address rules


def _destinations(address: Address) -> list[Address]:
    """The addresses a connection to ``address`` really reaches.

    An IPv4-mapped (``::ffff:a.b.c.d``) or NAT64 (``64:ff9b::/96``) address stands for its IPv4
    address alone; a 6to4 or Teredo address is judged as itself and as the IPv4 address it carries.
    """
    if isinstance(address, ipaddress.IPv4Address):
        return [address]
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in _NAT64:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    out: list[Address] = [address]
    if address.sixtofour is not None:
        out.append(address.sixtofour)
    if address.teredo is not None:
        out.append(address.teredo[1])
    return out


def _kind(address: Address) -> str | None:
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "shared (CGNAT)"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    if not address.is_global:
        return "special-purpose"
    return None


def address_refusal(address: Address, allow_networks: Iterable[Network] = ()) -> str | None:
    """Why ``address`` may not be fetched from (``"loopback"``, ``"private"``, ...), or None if it may.

    Public addresses may. Any other address may only if a network in ``allow_networks`` holds it (or
    the IPv4 address it embeds). An IPv6 address embedding a non-public IPv4 address is refused as that.
    """
    candidates = _destinations(address)
    allowed = list(allow_networks)
    for candidate in candidates:
        if any(candidate.version == net.version and candidate in net for net in allowed):
            return None
    for candidate in candidates:
        kind = _kind(candidate)
        if kind is not None:
            return kind
    return None


async def system_resolver(host: str, port: int) -> list[Address]:
    """Every address ``getaddrinfo`` gives for ``host`` (TCP), in its order, without duplicates."""
    infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[Address] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in out:
            out.append(address)
    return out


def _ip_literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class _Guard:
    """Resolves a host and refuses it unless every address passes :func:`address_refusal`."""

    def __init__(self, allow_networks: Sequence[Network], resolver: Resolver, field: str) -> None:
        self.allow_networks = allow_networks
        self.resolver = resolver
        self.field = field

    async def addresses(self, host: str, port: int) -> list[Address]:
        literal = _ip_literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = list(await self.resolver(host, port))
            except (OSError, UnicodeError, ValueError) as exc:
                log.info("media fetch: %s does not resolve (%s)", host, type(exc).__name__)
                raise _unreachable(self.field, f"the host {host} does not resolve") from None
            if not addresses:
                raise _unreachable(self.field, f"the host {host} does not resolve")
        for address in addresses:
            kind = address_refusal(address, self.allow_networks)
            if kind is not None:
                log.warning("media fetch refused: %s is %s, a %s address not in [media] allow_networks", host, address, kind)
                where = f"{host} is" if literal is not None else f"{host} resolves to"
                raise MediaInputError(
                    400,
                    "media_host_not_allowed",
                    f"{self.field}: {where} a {kind} address, which [media] allow_networks does not allow",
                    self.field,
                )
        return addresses


# ---------------------------------------------------------------- the pinned transport


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's trio backend, but every TCP connection goes to an address the guard checked."""

    def __init__(self, guard: _Guard) -> None:
        self._guard = guard
        self._inner = httpcore.TrioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._guard.addresses(host, port)
        failure: Exception = httpcore.ConnectError("no address to connect to")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.UnsupportedProtocol("unix sockets are not used for media")

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)


_EXCEPTIONS: tuple[tuple[type[Exception], type[Exception]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    """httpcore's exceptions as httpx's (the most specific match), as httpx's own transport does."""
    try:
        yield
    except Exception as exc:
        for source, target in _EXCEPTIONS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class _Body(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


class _CheckedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool that uses :class:`_CheckedBackend` (HTTP/1.1 only)."""

    def __init__(self, guard: _Guard, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, http1=True, http2=False, retries=0, network_backend=_CheckedBackend(guard)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(core)
        if not isinstance(response.stream, AsyncIterable):  # pragma: no cover - httpcore's async pool
            raise httpx.StreamError("httpcore returned a synchronous stream")
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


@cache
def _default_ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


# ---------------------------------------------------------------- fetching a URL


def safe_url(url: httpx.URL | str) -> str:
    """``scheme://host[:port]/path`` of ``url``: no user info, query string or fragment (they may be secret)."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<unparseable URL>"
    host = parsed.host
    if ":" in host:
        host = f"[{host}]"
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{host}{port}{parsed.path}"


async def _fetch_url(
    text: str, config: MediaConfig, field: str, resolver: Resolver, ssl_context: ssl.SSLContext | None
) -> FetchedMedia:
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise _invalid(field, "is not a valid http(s) URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise _invalid(field, "is not a valid http(s) URL (no host)")
    guard = _Guard(config.allow_networks, resolver, field)
    transport = _CheckedTransport(guard, ssl_context or _default_ssl_context())
    headers = {"Accept-Encoding": "identity", "User-Agent": "waporta-media-fetch"}
    async with httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(config.fetch_timeout),
        follow_redirects=False,
        trust_env=False,
        headers=headers,
    ) as client:
        with trio.move_on_after(config.fetch_timeout):
            return await _follow(client, url, config, field)
    log.info("media fetch from %s timed out after %s s", safe_url(url), config.fetch_timeout)
    raise _unreachable(field, f"fetching {safe_url(url)} took longer than {config.fetch_timeout:g} s")


async def _follow(client: httpx.AsyncClient, url: httpx.URL, config: MediaConfig, field: str) -> FetchedMedia:
    current = url
    for _hop in range(config.max_redirects + 1):
        shown = safe_url(current)
        log.debug("media fetch: GET %s", shown)
        try:
            response = await client.send(client.build_request("GET", current), stream=True)
            try:
                if response.status_code in _REDIRECTS:
                    current = _redirect_target(response, current, field)
                    continue
                if response.status_code >= 400:
                    raise _unreachable(field, f"{shown} answered HTTP {response.status_code}")
                if not 200 <= response.status_code < 300:
                    raise _unreachable(field, f"{shown} answered HTTP {response.status_code}, not the media")
                return await _read_body(response, current, config.max_bytes, field)
            finally:
                await response.aclose()
        except (httpx.HTTPError, httpx.StreamError, httpx.InvalidURL) as exc:
            log.info("media fetch from %s failed: %s", shown, type(exc).__name__)
            raise _unreachable(field, f"fetching {shown} failed: {_explain(exc)}") from None
    raise _unreachable(field, f"{safe_url(url)} redirected more than {config.max_redirects} times")


def _redirect_target(response: httpx.Response, current: httpx.URL, field: str) -> httpx.URL:
    location = response.headers.get("location", "").strip()
    if not location:
        raise _unreachable(field, f"{safe_url(current)} answered HTTP {response.status_code} without a Location")
    try:
        target = current.join(location)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise _unreachable(field, f"{safe_url(current)} redirected to an invalid URL") from None
    if target.scheme not in ("http", "https"):
        scheme = target.scheme if _SCHEME.fullmatch(f"{target.scheme}:") else "another"
        raise _unreachable(field, f"{safe_url(current)} redirected to a {scheme}: URL; only http and https are followed")
    if not target.host:
        raise _unreachable(field, f"{safe_url(current)} redirected to a URL without a host")
    return target


def _explain(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        causes = list(_causes(exc))
        if any(isinstance(cause, ssl.SSLCertVerificationError) for cause in causes):
            return "its TLS certificate is not trusted or does not name the host"
        if any(isinstance(cause, ssl.SSLError) for cause in causes):
            return "the TLS handshake failed"
        return "could not connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server broke the HTTP protocol"
    if isinstance(exc, httpx.NetworkError):
        return "the connection broke"
    return "the request failed"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or during (at most 16)."""
    seen: BaseException | None = exc
    for _ in range(16):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


async def _read_body(response: httpx.Response, url: httpx.URL, max_bytes: int, field: str) -> FetchedMedia:
    shown = safe_url(url)
    declared = response.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared.strip()) > max_bytes:
        raise _too_large(field, f"{shown} has {int(declared.strip())} bytes (Content-Length)", max_bytes)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise _unreachable(field, f"{shown} sent {encoding}-encoded content although identity was asked for")
    body = bytearray()
    too_large = False
    # Stopping early by cancellation rather than by leaving the loop: the cancellation surfaces at
    # httpcore's next network read and unwinds its chain of async generators, which would otherwise
    # be abandoned half-way (and only finalized, with a ResourceWarning, by the garbage collector).
    # At most the data already parsed from one read is drained after the limit is hit.
    with trio.CancelScope() as reading:
        async for chunk in response.aiter_raw():
            if too_large:
                continue
            if len(body) + len(chunk) > max_bytes:
                too_large = True
                body.clear()
                reading.cancel()
                continue
            body += chunk
    if too_large:
        raise _too_large(field, f"{shown} sent more than {max_bytes} bytes", max_bytes)
    if not body:
        raise _invalid(field, f"{shown} answered with an empty body")
    data = bytes(body)
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    mimetype = content_type if _MIMETYPE.fullmatch(content_type) and content_type != OCTET_STREAM else sniff_mimetype(data)
    filename = _disposition_filename(response.headers.get("content-disposition", "")) or _clean_filename(
        url.path.rsplit("/", 1)[-1]
    )
    log.debug("media fetch: %s gave %d bytes of %s", shown, len(data), mimetype)
    return FetchedMedia(data, mimetype, filename)


_DISPOSITION_EXT = re.compile(r"""(?:^|;)\s*filename\*\s*=\s*([^;]*)""", re.IGNORECASE)
_DISPOSITION = re.compile(r"""(?:^|;)\s*filename\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)""", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _disposition_filename(header: str) -> str | None:
    """``filename*=charset'lang'pct-encoded`` (RFC 6266/5987) if usable, else ``filename=``."""
    extended = _DISPOSITION_EXT.search(header)
    if extended is not None:
        charset, _, rest = extended.group(1).strip().strip('"').partition("'")
        _language, _, encoded = rest.partition("'")
        try:
            name = urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="strict")
        except (LookupError, UnicodeDecodeError):
            name = ""
        cleaned = _clean_filename(name)
        if cleaned:
            return cleaned
    plain = _DISPOSITION.search(header)
    if plain is None:
        return None
    value = plain.group(1).strip()
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    return _clean_filename(value)


def _clean_filename(name: str) -> str | None:
    """The last path segment of ``name`` without control characters, at most 255 characters, or None."""
    base = re.split(r"[/\\]", name)[-1]
    base = _CONTROL.sub("", base).strip()
    if base in ("", ".", ".."):
        return None
    return base[:255]
