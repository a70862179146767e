"""Which addresses media may be fetched from, and the network backend that connects only to those.

**How the address check cannot be bypassed (DNS rebinding).** URLs are fetched with an
:class:`httpx.AsyncClient` whose transport (``_CheckedTransport``) is an
:class:`httpcore.AsyncConnectionPool` built on our own :class:`httpcore.AsyncNetworkBackend`
(``_CheckedBackend``). httpcore asks its network backend for every new TCP connection with the URL's
host name; ours resolves that name itself (the injectable ``resolver``, default :func:`system_resolver`,
i.e. ``getaddrinfo``), refuses the connection unless *every* resolved address passes the rules, and
then opens the socket to one of those checked addresses (an IP literal, so nothing is resolved again).
TLS is started afterwards by httpcore on that socket with ``server_hostname`` = the URL's host, and the
``Host`` header comes from the URL, so certificates are verified against the name as usual. Because the
check sits at the only place a socket is opened, it runs for the first request and for every redirect
that needs a new connection, and a name cannot resolve to a public address for a check and to a private
one for the connection. The client is made with ``trust_env=False``: proxy variables are ignored, since
a proxy would connect on our behalf to an unchecked address.

The rules (:func:`address_refusal`): public addresses may be fetched from; loopback, private,
link-local, CGNAT, multicast, reserved, unspecified and other special-purpose addresses, and IPv6
addresses embedding one, only when a network in ``[media] allow_networks`` covers them.

This module is NOT the fetch itself (redirects, limits, the body: :mod:`waporta.media_fetch.fetch`),
and the transport here speaks HTTP/1.1 only, with no retries and no proxy.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING

import httpcore
import httpx
import trio

from waporta.media_fetch.results import MediaInputError, _unreachable

if TYPE_CHECKING:
    from waporta.config import Network

__all__ = ["Address", "Resolver", "address_refusal", "system_resolver"]

# One logger for the whole package, named as when it was a single module.
log = logging.getLogger("waporta.media_fetch")

#: An IP address as :mod:`ipaddress` parses it.
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``async resolver(host, port) -> addresses``: every address ``host`` resolves to. Raise ``OSError``
#: when it does not resolve.
Resolver = Callable[[str, int], Awaitable[Sequence[Address]]]

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


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
