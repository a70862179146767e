"""Tests for waporta.media_fetch.addresses: the address rules, resolving and pinning the connection.

Through :func:`fetch_media` against the local server: a host is resolved by us, refused before any
connection unless every address is allowed, checked again on every new connection (redirects,
rebinding), and TLS still verifies the URL's name while the socket goes to the checked address.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

import pytest
import trio

from tests.waporta.media_fetch.helpers import (
    ALLOW_LOCAL,
    LOOPBACK,
    PNG,
    ROUTES,
    Server,
    refused,
    resolver_for,
    start,
)
from waporta.config import MediaConfig
from waporta.media_fetch import (
    Address,
    address_refusal,
    fetch_media,
)

# ---------------------------------------------------------------- resolving and pinning the connection


async def test_hostname_resolved_by_us_and_connection_pinned(server: Server) -> None:
    # "media.invalid" is not resolvable by the system: the connection can only go to our checked address
    calls: list[str] = []
    resolver = resolver_for({"media.invalid": ["127.0.0.1"]}, calls)
    media = await fetch_media(server.url("/ok", host="media.invalid"), ALLOW_LOCAL, resolver=resolver)
    assert media.data == PNG
    assert calls == ["media.invalid"]
    assert server.requests[0].headers["host"] == f"media.invalid:{server.port}"


async def test_localhost_with_the_system_resolver(server: Server) -> None:
    config = MediaConfig(max_bytes=1000, fetch_timeout=5.0, allow_networks=(*LOOPBACK, ipaddress.ip_network("::1/128")))
    media = await fetch_media(server.url("/ok", host="localhost"), config)
    assert media.data == PNG


async def test_https_verifies_the_name_while_connecting_to_the_checked_address(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    from waproto.sandbox.media import ensure_tls_files

    tls = ensure_tls_files(tmp_path / "tls", ["media.example.test"])
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tls.cert_file, tls.key_file)
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    server = await start(nursery, Server(dict(ROUTES), tls=server_ctx))
    resolver = resolver_for({"media.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]})
    trusted = ssl.create_default_context(cafile=str(tls.ca_file))

    media = await fetch_media(
        server.url("/ok", host="media.example.test"), ALLOW_LOCAL, resolver=resolver, ssl_context=trusted
    )
    assert media.data == PNG
    assert sni == ["media.example.test"]
    assert server.requests[0].headers["host"] == f"media.example.test:{server.port}"

    # the certificate does not name other.example.test, and the system CAs do not know the sandbox CA
    wrong_name = await refused(
        server.url("/ok", host="other.example.test"), resolver=resolver, ssl_context=trusted
    )
    assert (wrong_name.status, wrong_name.code) == (422, "media_unreachable")
    untrusted = await refused(server.url("/ok", host="media.example.test"), resolver=resolver)
    assert untrusted.code == "media_unreachable"
    assert "TLS certificate is not trusted or does not name the host" in untrusted.message
    assert "TLS certificate" in wrong_name.message


@pytest.mark.parametrize("path", ["/to-private", "/to-metadata", "/to-mapped"])
async def test_redirect_to_a_refused_address(server: Server, path: str) -> None:
    error = await refused(server.url(path))
    assert (error.status, error.code) == (400, "media_host_not_allowed")
    assert server.connections == 1


async def test_a_name_that_rebinds_is_checked_on_every_connection(server: Server) -> None:
    # the first connection's lookup is fine; the server closes it, and the redirect needs a new
    # connection, whose lookup now answers an address outside allow_networks
    answers = [["127.0.0.1"], ["127.0.0.1", "10.1.2.3"]]

    async def rebinding(host: str, port: int) -> list[Address]:
        return [ipaddress.ip_address(a) for a in answers.pop(0)]

    error = await refused(server.url("/to-rebind", host="rebind.invalid"), resolver=rebinding)
    assert (error.status, error.code) == (400, "media_host_not_allowed")
    assert [r.path for r in server.requests] == ["/to-rebind"]
    assert answers == []


async def test_unresolvable_host_is_unreachable() -> None:
    error = await refused("http://nowhere.invalid/x", resolver=resolver_for({}))
    assert (error.status, error.code) == (422, "media_unreachable")
    assert "nowhere.invalid does not resolve" in error.message
    empty = await refused("http://nothing.invalid/x", resolver=resolver_for({"nothing.invalid": []}))
    assert empty.code == "media_unreachable"


# ---------------------------------------------------------------- the address rules


async def test_loopback_is_refused_before_connecting(server: Server) -> None:
    error = await refused(server.url("/ok"), MediaConfig())
    assert (error.status, error.code) == (400, "media_host_not_allowed")
    assert "127.0.0.1 is a loopback address" in error.message
    assert server.connections == 0


async def test_a_name_resolving_to_a_private_address_is_refused(server: Server) -> None:
    calls: list[str] = []
    resolver = resolver_for({"intranet.example": ["10.0.0.5"], "mixed.example": ["93.184.216.34", "192.168.1.1"]}, calls)
    for host in ("intranet.example", "mixed.example"):
        error = await refused(f"http://{host}/x", MediaConfig(), resolver=resolver)
        assert (error.status, error.code) == (400, "media_host_not_allowed")
        assert f"{host} resolves to a private address" in error.message
        assert "10.0.0.5" not in error.message  # the internal address itself is only logged
    assert calls == ["intranet.example", "mixed.example"]
    assert server.connections == 0


@pytest.mark.parametrize("host", ["2130706433", "0x7f.0.0.1", "127.1"])
async def test_odd_ipv4_spellings_are_judged_by_what_they_resolve_to(server: Server, host: str) -> None:
    # getaddrinfo reads these as 127.0.0.1; the check is on the resolved address, not on the text
    error = await refused(server.url("/ok", host=host), MediaConfig())
    assert (error.status, error.code) == (400, "media_host_not_allowed")
    assert server.connections == 0
    assert (await fetch_media(server.url("/ok", host=host), ALLOW_LOCAL)).data == PNG


async def test_localhost_name_refused_without_allow_networks(server: Server) -> None:
    error = await refused(server.url("/ok", host="localhost"), MediaConfig())
    assert error.code == "media_host_not_allowed"
    assert server.connections == 0


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("fd00::1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.127.255.254", "shared (CGNAT)"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "private"),  # reserved; Python files 240/4 under is_private
        ("255.255.255.255", "private"),
        ("192.0.2.1", "private"),  # documentation
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
        ("fec0::1", "site-local"),
    ],
)
def test_non_public_addresses_are_refused(address: str, kind: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "100.63.255.255", "100.128.0.0", "2606:4700::1111", "64:ff9b::808:808", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_allow_networks_opens_only_what_they_cover() -> None:
    allow = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd12::/16"))
    assert address_refusal(ipaddress.ip_address("10.9.9.9"), allow) is None
    assert address_refusal(ipaddress.ip_address("::ffff:10.9.9.9"), allow) is None
    assert address_refusal(ipaddress.ip_address("fd12::5"), allow) is None
    assert address_refusal(ipaddress.ip_address("192.168.1.1"), allow) == "private"
    assert address_refusal(ipaddress.ip_address("fd13::5"), allow) == "private"
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), allow) == "loopback"


async def test_ip_literals_do_not_consult_the_resolver() -> None:
    calls: list[str] = []
    error = await refused("http://[fe80::1]/x", MediaConfig(), resolver=resolver_for({}, calls))
    assert error.code == "media_host_not_allowed"
    assert "is a link-local address" in error.message
    assert calls == []
