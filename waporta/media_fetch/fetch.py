"""Fetching the media: :func:`fetch_media` (the entry point) and the httpx GET of an http(s) URL.

:func:`fetch_media` sends an http(s) URL here, a ``data:`` URL or base64 to
:mod:`waporta.media_fetch.inline`, and refuses any other scheme. A URL is fetched with an
:class:`httpx.AsyncClient` over the checked transport of :mod:`waporta.media_fetch.addresses`, so every
connection, the first and each redirect's, goes to an address the rules allow.
Redirects are followed by hand (``follow_redirects=False``), at most ``max_redirects``, http/https only.

**Bounded resources.** ``fetch_timeout`` is the connect and read timeout and also a deadline for the
whole fetch, redirects included. ``Content-Length`` is checked before the body is read, and the body is
read raw (``Accept-Encoding: identity``; a compressed answer is refused, so no decompression bomb) and
counted as it arrives, so memory stays within ``max_bytes`` plus one network read.

**No secrets in errors or logs.** A URL is only ever shown as ``scheme://host[:port]/path``: no query
string, fragment or user info.

The mime type is the ``Content-Type`` (without parameters) unless absent or generic, then sniffed; the
file name comes from ``Content-Disposition`` (RFC 6266/5987) or the URL path's last segment.

This module is NOT where addresses are judged or sockets opened (:mod:`waporta.media_fetch.addresses`),
nor where inline media is decoded (:mod:`waporta.media_fetch.inline`).
"""

from __future__ import annotations

import logging
import re
import ssl
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import trio

from waporta.media_fetch.addresses import (
    Resolver,
    _CheckedTransport,
    _default_ssl_context,
    _Guard,
    system_resolver,
)
from waporta.media_fetch.inline import _MIMETYPE, OCTET_STREAM, _base64, _data_url, sniff_mimetype
from waporta.media_fetch.results import FetchedMedia, _invalid, _too_large, _unreachable

if TYPE_CHECKING:
    from waporta.config import MediaConfig

__all__ = ["fetch_media", "safe_url"]

# One logger for the whole package, named as when it was a single module.
log = logging.getLogger("waporta.media_fetch")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}:")


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
    :raises MediaInputError: for every problem (see :mod:`waporta.media_fetch`); nothing else escapes for
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
