"""Tests for waporta.media_fetch: URLs against a tiny local HTTP(S) server, data: URLs, base64, address rules.

The server is a few lines of trio on 127.0.0.1 so each route can misbehave exactly as a test needs
(stall, drip, lie about its length, stream forever, redirect anywhere). Host names are resolved by
injected resolvers, never by DNS.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import logging
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from waporta.config import MediaConfig
from waporta.media_fetch import (
    Address,
    FetchedMedia,
    MediaInputError,
    address_refusal,
    fetch_media,
    safe_url,
    sniff_mimetype,
)

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
ALLOW_LOCAL = MediaConfig(max_bytes=1000, fetch_timeout=5.0, max_redirects=5, allow_networks=LOOPBACK)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
JPEG = b"\xff\xd8\xff\xe0" + b"\x10JFIF" + bytes(30)
PDF = b"%PDF-1.7\n" + b"x" * 30


# ---------------------------------------------------------------- a tiny HTTP server


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.target).path


Handler = Callable[[trio.abc.Stream, Request], Awaitable[None]]


async def read_head(stream: trio.abc.Stream) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(4096)
        if not chunk or len(data) > 65536:
            return None
        data += chunk
    return data.split(b"\r\n\r\n", 1)[0]


def head(status: int, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in headers), "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


def respond(status: int, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()) -> Handler:
    async def handler(stream: trio.abc.Stream, request: Request) -> None:
        await stream.send_all(head(status, [*headers, ("Content-Length", str(len(body)))]) + body)

    return handler


def redirect(location: str, status: int = 302) -> Handler:
    return respond(status, headers=[("Location", location)])


async def stall(stream: trio.abc.Stream, request: Request) -> None:
    await trio.sleep_forever()


@dataclass
class Server:
    routes: dict[str, Handler]
    tls: ssl.SSLContext | None = None
    connections: int = 0
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    async def handle(self, stream: trio.abc.Stream) -> None:
        self.connections += 1
        try:
            raw = await read_head(stream)
            if raw is None:
                return
            line, *header_lines = raw.decode("latin-1").split("\r\n")
            method, target, _ = line.split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
            request = Request(method, target, headers)
            self.requests.append(request)
            await self.route(request)(stream, request)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    def route(self, request: Request) -> Handler:
        path = request.path
        if path.startswith("/r/"):  # /r/<n>: a chain of n relative redirects ending at /ok
            n = int(path[3:])
            return redirect(f"/r/{n - 1}") if n > 0 else self.routes["/ok"]
        return self.routes.get(path, respond(404, b"not found"))


async def start(nursery: trio.Nursery, server: Server) -> Server:
    serve: Callable[..., Awaitable[object]]
    if server.tls is None:
        serve = functools.partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1")
    else:
        serve = functools.partial(
            trio.serve_ssl_over_tcp, server.handle, 0, server.tls, host="127.0.0.1", https_compatible=True
        )
    listeners = await nursery.start(serve)
    sock = listeners[0].socket if server.tls is None else listeners[0].transport_listener.socket
    server.port = sock.getsockname()[1]
    return server


async def chunked_forever(stream: trio.abc.Stream, request: Request) -> None:
    await stream.send_all(head(200, [("Content-Type", "video/mp4"), ("Transfer-Encoding", "chunked")]))
    while True:
        await stream.send_all(b"200\r\n" + b"v" * 0x200 + b"\r\n")


async def until_eof(stream: trio.abc.Stream, request: Request) -> None:
    # no Content-Length, no chunking: the body ends when the connection closes
    await stream.send_all(head(200, [("Content-Type", "image/png")]) + PNG)


async def declared_too_big(stream: trio.abc.Stream, request: Request) -> None:
    await stream.send_all(head(200, [("Content-Length", "2000")]) + b"x" * 10)
    await trio.sleep_forever()  # reading the body would time out: the Content-Length alone must refuse it


async def drip(stream: trio.abc.Stream, request: Request) -> None:
    await stream.send_all(head(200, [("Content-Length", "900")]))
    while True:
        await stream.send_all(b"x")
        await trio.sleep(0.02)


ROUTES: dict[str, Handler] = {
    "/ok": respond(200, PNG, [("Content-Type", "image/png")]),
    "/doc": respond(
        200, PDF, [("Content-Type", "Application/PDF; charset=binary"), ("Content-Disposition", 'attachment; filename="report.pdf"')]
    ),
    "/doc-utf8": respond(
        200,
        PDF,
        [
            ("Content-Type", "application/pdf"),
            ("Content-Disposition", "attachment; filename=\"fallback.pdf\"; filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.pdf"),
        ],
    ),
    "/traversal": respond(200, PDF, [("Content-Disposition", 'attachment; filename="../../etc/passwd"')]),
    "/files/photo.jpg": respond(200, JPEG),
    "/octet/x.bin": respond(200, JPEG, [("Content-Type", "application/octet-stream")]),
    "/eof": until_eof,
    "/empty": respond(200, b"", [("Content-Type", "image/png")]),
    "/big-declared": declared_too_big,
    "/big-stream": chunked_forever,
    "/exactly": respond(200, b"e" * 1000, [("Content-Type", "text/plain")]),
    "/gzip": respond(200, b"\x1f\x8b" + bytes(20), [("Content-Encoding", "gzip")]),
    "/500": respond(500, b"oops"),
    "/204": respond(204),
    "/304": respond(304),
    "/stall": stall,
    "/drip": drip,
    "/to-private": redirect("http://10.0.0.1/x"),
    "/to-metadata": redirect("http://169.254.169.254/latest/meta-data/"),
    "/to-mapped": redirect("http://[::ffff:192.168.0.1]/x"),
    "/to-file": redirect("file:///etc/passwd"),
    "/to-ftp": redirect("ftp://example.com/x"),
    "/no-location": respond(302),
    "/to-rebind": redirect("/ok"),  # same host name: the guard checks the new connection again
}


@pytest.fixture
async def server(nursery: trio.Nursery) -> Server:
    return await start(nursery, Server(dict(ROUTES)))


def resolver_for(mapping: dict[str, list[str]], calls: list[str] | None = None) -> Callable[[str, int], Awaitable[list[Address]]]:
    async def resolve(host: str, port: int) -> list[Address]:
        if calls is not None:
            calls.append(host)
        if host not in mapping:
            raise OSError(f"unknown host {host}")
        return [ipaddress.ip_address(a) for a in mapping[host]]

    return resolve


async def refused(spec: str, config: MediaConfig = ALLOW_LOCAL, **kwargs: object) -> MediaInputError:
    with pytest.raises(MediaInputError) as info:
        await fetch_media(spec, config, **kwargs)  # type: ignore[arg-type]
    error = info.value
    assert error.message.startswith(f"{error.field}: ")
    assert error.as_json()["error"] == error.code
    return error


# ---------------------------------------------------------------- URL fetches that work


async def test_fetch_ok(server: Server) -> None:
    media = await fetch_media(server.url("/ok"), ALLOW_LOCAL)
    assert media == FetchedMedia(PNG, "image/png", "ok")
    assert server.requests[0].method == "GET"
    assert server.requests[0].headers["accept-encoding"] == "identity"
    assert server.requests[0].headers["host"] == f"127.0.0.1:{server.port}"
    assert "bytes" in repr(media)
    assert str(PNG[:4]) not in repr(media)


async def test_mimetype_parameters_stripped_and_filename_from_content_disposition(server: Server) -> None:
    media = await fetch_media(server.url("/doc?x=1"), ALLOW_LOCAL)
    assert (media.mimetype, media.filename, media.data) == ("application/pdf", "report.pdf", PDF)


async def test_rfc5987_filename_is_preferred(server: Server) -> None:
    media = await fetch_media(server.url("/doc-utf8"), ALLOW_LOCAL)
    assert media.filename == "naïve résumé.pdf"


async def test_filename_never_carries_folders(server: Server) -> None:
    media = await fetch_media(server.url("/traversal"), ALLOW_LOCAL)
    assert media.filename == "passwd"
    assert media.mimetype == "application/pdf"  # no Content-Type: sniffed


async def test_filename_from_url_path_and_sniffed_type(server: Server) -> None:
    media = await fetch_media(server.url("/files/photo.jpg?token=abc"), ALLOW_LOCAL)
    assert (media.mimetype, media.filename) == ("image/jpeg", "photo.jpg")
    generic = await fetch_media(server.url("/octet/x.bin"), ALLOW_LOCAL)
    assert (generic.mimetype, generic.filename) == ("image/jpeg", "x.bin")


async def test_body_delimited_by_connection_close(server: Server) -> None:
    media = await fetch_media(server.url("/eof"), ALLOW_LOCAL)
    assert media.data == PNG


async def test_exactly_max_bytes_is_accepted(server: Server) -> None:
    media = await fetch_media(server.url("/exactly"), ALLOW_LOCAL)
    assert len(media.data) == 1000


async def test_redirect_chain_within_the_limit(server: Server) -> None:
    media = await fetch_media(server.url("/r/5"), ALLOW_LOCAL)
    assert media.data == PNG
    assert [r.path for r in server.requests] == ["/r/5", "/r/4", "/r/3", "/r/2", "/r/1", "/r/0"]


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


# ---------------------------------------------------------------- size limits


async def test_content_length_too_big_is_refused_before_reading(server: Server) -> None:
    with trio.fail_after(2):  # the route stalls after the headers; only the header check is fast
        error = await refused(server.url("/big-declared"))
    assert (error.status, error.code) == (413, "media_too_large")
    assert error.as_json() == {
        "error": "media_too_large",
        "message": error.message,
        "field": "media",
        "maxBytes": 1000,
    }
    assert "2000 bytes" in error.message


async def test_streamed_body_too_big_stops_at_the_limit(server: Server) -> None:
    with trio.fail_after(5):  # the route streams forever: only the running count can stop it
        error = await refused(server.url("/big-stream"))
    assert (error.status, error.code) == (413, "media_too_large")


async def test_compressed_answer_is_refused(server: Server) -> None:
    error = await refused(server.url("/gzip"))
    assert (error.status, error.code) == (422, "media_unreachable")
    assert "gzip" in error.message


async def test_empty_body_is_invalid(server: Server) -> None:
    error = await refused(server.url("/empty"))
    assert (error.status, error.code) == (400, "invalid_media")
    empty = await refused(server.url("/204"))
    assert empty.code == "invalid_media"


# ---------------------------------------------------------------- redirects


async def test_too_many_redirects(server: Server) -> None:
    error = await refused(server.url("/r/6"))
    assert (error.status, error.code) == (422, "media_unreachable")
    assert "redirected more than 5 times" in error.message
    assert len(server.requests) == 6


async def test_no_redirects_allowed(server: Server) -> None:
    config = MediaConfig(max_bytes=1000, fetch_timeout=5.0, max_redirects=0, allow_networks=LOOPBACK)
    assert (await fetch_media(server.url("/ok"), config)).data == PNG
    error = await refused(server.url("/r/1"), config)
    assert error.code == "media_unreachable"


@pytest.mark.parametrize("path", ["/to-private", "/to-metadata", "/to-mapped"])
async def test_redirect_to_a_refused_address(server: Server, path: str) -> None:
    error = await refused(server.url(path))
    assert (error.status, error.code) == (400, "media_host_not_allowed")
    assert server.connections == 1


@pytest.mark.parametrize(("path", "scheme"), [("/to-file", "file"), ("/to-ftp", "ftp")])
async def test_redirect_to_another_scheme(server: Server, path: str, scheme: str) -> None:
    error = await refused(server.url(path))
    assert (error.status, error.code) == (422, "media_unreachable")
    assert f"redirected to a {scheme}: URL" in error.message


async def test_redirect_without_location(server: Server) -> None:
    error = await refused(server.url("/no-location"))
    assert error.code == "media_unreachable"
    assert "without a Location" in error.message


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


# ---------------------------------------------------------------- HTTP errors and timeouts


@pytest.mark.parametrize("path", ["/missing", "/500", "/304"])
async def test_http_errors_are_unreachable(server: Server, path: str) -> None:
    error = await refused(server.url(path))
    assert (error.status, error.code) == (422, "media_unreachable")


async def test_connection_refused_is_unreachable() -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = await refused(f"http://127.0.0.1:{port}/x")
    assert error.code == "media_unreachable"
    assert "could not connect" in error.message


async def test_unresolvable_host_is_unreachable() -> None:
    error = await refused("http://nowhere.invalid/x", resolver=resolver_for({}))
    assert (error.status, error.code) == (422, "media_unreachable")
    assert "nowhere.invalid does not resolve" in error.message
    empty = await refused("http://nothing.invalid/x", resolver=resolver_for({"nothing.invalid": []}))
    assert empty.code == "media_unreachable"


@pytest.mark.parametrize("path", ["/stall", "/drip"])
async def test_timeouts(server: Server, path: str) -> None:
    config = MediaConfig(max_bytes=1000, fetch_timeout=0.3, allow_networks=LOOPBACK)
    with trio.fail_after(3):
        error = await refused(server.url(path), config)
    assert (error.status, error.code) == (422, "media_unreachable")
    assert "took longer than 0.3 s" in error.message or "timed out" in error.message


async def test_a_stalled_lookup_is_bounded_by_the_deadline() -> None:
    async def stalled(host: str, port: int) -> list[Address]:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    config = MediaConfig(max_bytes=1000, fetch_timeout=0.2)
    with trio.fail_after(3):
        error = await refused("http://slow-dns.invalid/x", config, resolver=stalled)
    assert error.code == "media_unreachable"
    assert "took longer than 0.2 s" in error.message


async def test_errors_and_logs_never_show_query_or_userinfo(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="waporta.media_fetch")
    url = f"http://user:pw-SECRET1@127.0.0.1:{server.port}/missing?token=SECRET2#frag-SECRET3"
    error = await refused(url)
    assert error.message == f"media: http://127.0.0.1:{server.port}/missing answered HTTP 404"
    unresolvable = await refused("http://a.invalid/p?token=SECRET4", resolver=resolver_for({}))
    for text in (error.message, str(error.as_json()), unresolvable.message, caplog.text):
        for secret in ("SECRET1", "SECRET2", "SECRET3", "SECRET4", "pw-"):
            assert secret not in text
    assert "127.0.0.1" in caplog.text


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


# ---------------------------------------------------------------- data: URLs and base64


@pytest.mark.parametrize(
    ("spec", "data", "mimetype"),
    [
        ("data:image/png;base64," + base64.b64encode(PNG).decode(), PNG, "image/png"),
        ("DATA:Image/PNG;name=x.png;BASE64," + base64.b64encode(PNG).decode(), PNG, "image/png"),
        ("data:;base64," + base64.b64encode(JPEG).decode(), JPEG, "image/jpeg"),
        ("data:application/octet-stream;base64," + base64.b64encode(PDF).decode(), PDF, "application/pdf"),
        ("data:text/plain,hello%20world", b"hello world", "text/plain"),
        ("data:,A%20brief%20note", b"A brief note", "application/octet-stream"),
        ("data:base64," + base64.b64encode(PDF).decode(), PDF, "application/pdf"),
        ("data:image/png;base64," + base64.urlsafe_b64encode(b"\xfb\xff\xfe" * 5).decode().rstrip("="), b"\xfb\xff\xfe" * 5, "image/png"),
        ("  data:image/png;base64,\n" + base64.encodebytes(PNG).decode(), PNG, "image/png"),
        ("data:image/png;base64,iVBORw0KGgo%3D", base64.b64decode("iVBORw0KGgo="), "image/png"),
    ],
)
async def test_data_urls(spec: str, data: bytes, mimetype: str) -> None:
    assert await fetch_media(spec, MediaConfig()) == FetchedMedia(data, mimetype, None)


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ("data:image/png;base64", "invalid_media"),
        ("data:image/png;base64,", "invalid_media"),
        ("data:image/png,", "invalid_media"),
        ("data:image/png;base64,!!!!", "invalid_media"),
        ("data:image/png;base64,abcde", "invalid_media"),
        ("data:not a type;base64,AAAA", "invalid_media"),
        ("data:image/png;base64," + "A" * 1336, "media_too_large"),
        ("data:text/plain," + "a" * 1001, "media_too_large"),
        ("data:text/plain," + "%41" * 1001, "media_too_large"),
        ("data:text/plain,caf\udce9", "invalid_media"),
        ("data:;base64,%FF%FEAAAA", "invalid_media"),
        ("data:;base64,\udce9AAA", "invalid_media"),
    ],
)
async def test_bad_data_urls(spec: str, code: str) -> None:
    error = await refused(spec, MediaConfig(max_bytes=1000))
    assert error.code == code
    assert error.status == (413 if code == "media_too_large" else 400)


@pytest.mark.parametrize(
    ("data", "mimetype"),
    [
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
        (b"GIF89a" + bytes(10), "image/gif"),
        (b"GIF87a" + bytes(10), "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (PDF, "application/pdf"),
        (b"PK\x03\x04" + bytes(10), "application/zip"),
        (b"\x00\x00\x00\x18ftypmp42" + bytes(8), "video/mp4"),
        (b"\x00\x00\x00\x18ftypM4A " + bytes(8), "audio/mp4"),
        (b"OggS\x00\x02" + bytes(10), "audio/ogg"),
        (b"plain text", "application/octet-stream"),
        (b"\x00", "application/octet-stream"),
    ],
)
async def test_base64_is_sniffed(data: bytes, mimetype: str) -> None:
    assert sniff_mimetype(data) == mimetype
    media = await fetch_media(base64.b64encode(data).decode(), MediaConfig())
    assert media == FetchedMedia(data, mimetype, None)


@pytest.mark.parametrize(
    "encode",
    [
        lambda b: base64.b64encode(b).decode(),
        lambda b: base64.urlsafe_b64encode(b).decode(),
        lambda b: base64.b64encode(b).decode().rstrip("="),
        lambda b: base64.encodebytes(b).decode(),  # MIME line breaks
        lambda b: " \t" + " ".join(base64.b64encode(b).decode()) + "\r\n",
    ],
)
async def test_base64_alphabets_whitespace_and_padding(encode: Callable[[bytes], str]) -> None:
    data = bytes(range(256)) * 2
    assert (await fetch_media(encode(data), MediaConfig())).data == data


async def test_base64_size_is_checked_before_decoding() -> None:
    config = MediaConfig(max_bytes=30)
    assert len((await fetch_media(base64.b64encode(b"x" * 30).decode(), config)).data) == 30
    error = await refused(base64.b64encode(b"x" * 31).decode(), config)
    assert (error.status, error.code) == (413, "media_too_large")
    assert error.details == {"maxBytes": 30}
    # a huge string of base64 characters is refused by its length alone
    error = await refused("A" * 4_000_000, config)
    assert "decodes to 3000000 bytes" in error.message


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("", "is empty"),
        ("   \n ", "is empty"),
        ("====", "is empty"),
        ("==", "is empty"),
        ("abcde", "wrong length or padding"),
        ("ab=c", "unexpected characters"),
        ("abc===", "wrong length or padding"),
        ("ab=", "wrong length or padding"),
        ("héllo", "unexpected characters"),
        ("not base64!", "unexpected characters"),
        ("file:///etc/passwd", "file: URLs are not accepted"),
        ("ftp://example.com/a.png", "ftp: URLs are not accepted"),
        ("javascript:alert(1)", "javascript: URLs are not accepted"),
        ("http://", "not a valid http(s) URL"),
        ("https:///path-only", "not a valid http(s) URL"),
        ("http://[::1/x", "not a valid http(s) URL"),
        ("http://exa\x00mple.com/x", "not a valid http(s) URL"),
    ],
)
async def test_invalid_media(spec: str, fragment: str) -> None:
    error = await refused(spec, MediaConfig(), field="document")
    assert (error.status, error.code, error.field) == (400, "invalid_media", "document")
    assert error.message.startswith("document: ")
    assert fragment in error.message


async def test_not_a_string_is_invalid() -> None:
    error = await refused(b"aGVsbG8=")  # type: ignore[arg-type]
    assert error.code == "invalid_media"


def test_safe_url() -> None:
    assert safe_url("https://u:p@Example.COM:8443/a/b%20c?q=1#f") == "https://example.com:8443/a/b c"
    assert safe_url("http://[::1]/x?y") == "http://[::1]/x"
    assert safe_url("http://[::1") == "<unparseable URL>"


# ---------------------------------------------------------------- arbitrary input


async def _never_connect(host: str, port: int) -> list[Address]:
    return [ipaddress.ip_address("127.0.0.1")]  # refused: nothing in these tests may leave the machine


FUZZ_CONFIG = MediaConfig(max_bytes=4096, fetch_timeout=0.5)


@settings(max_examples=300)
@given(
    prefix=st.sampled_from(
        ["", "http://", "https://", "data:", "data:;base64,", "data:;base64,%", "data:text/plain,", "HTTP://x", "a:"]
    ),
    rest=st.text(max_size=80),
)
async def test_arbitrary_strings_give_media_or_media_input_error(prefix: str, rest: str) -> None:
    spec = prefix + rest
    outcome: FetchedMedia | MediaInputError
    try:
        outcome = await fetch_media(spec, FUZZ_CONFIG, resolver=_never_connect)
    except MediaInputError as error:
        outcome = error
    if isinstance(outcome, MediaInputError):
        assert outcome.status in (400, 413, 422)
        assert outcome.code in ("invalid_media", "media_host_not_allowed", "media_too_large", "media_unreachable")
    else:
        assert outcome.data
        assert "/" in outcome.mimetype


@settings(max_examples=200)
@given(data=st.binary(min_size=1, max_size=300), urlsafe=st.booleans(), strip=st.booleans())
async def test_any_bytes_roundtrip_through_base64(data: bytes, urlsafe: bool, strip: bool) -> None:
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()
    if strip:
        text = text.rstrip("=")
    media = await fetch_media(text, FUZZ_CONFIG)
    assert media.data == data
    assert media.mimetype == sniff_mimetype(data)
