"""Shared test material for waporta.media_fetch: a tiny local HTTP(S) server, its routes, fake resolvers.

The server is a few lines of trio on 127.0.0.1 so each route can misbehave exactly as a test needs
(stall, drip, lie about its length, stream forever, redirect anywhere). Host names are resolved by
injected resolvers, never by DNS. The ``server`` fixture (``conftest.py``) starts it with :data:`ROUTES`.
"""

from __future__ import annotations

import functools
import ipaddress
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import pytest
import trio

from waporta.config import MediaConfig
from waporta.media_fetch import (
    Address,
    MediaInputError,
    fetch_media,
)

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
ALLOW_LOCAL = MediaConfig(max_bytes=1000, fetch_timeout=5.0, max_redirects=5, allow_networks=LOOPBACK)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
JPEG = b"\xff\xd8\xff\xe0" + b"\x10JFIF" + bytes(30)
PDF = b"%PDF-1.7\n" + b"x" * 30
FUZZ_CONFIG = MediaConfig(max_bytes=4096, fetch_timeout=0.5)


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
