"""Micro-benchmark of the hub's HTTP request path: ``POST /api/whatsapp/send/text`` with a fake ``Sessions``.

Usage (from the repository root)::

    .venv/bin/python bench/rest_path.py [--requests 5000] [--connections 16] [--route text|health]
                                        [--key default|stored|bearer] [--profile]

The hub is served in THIS process (``waporta.hub.hypercorn_config`` + ``waporta.app.create_app`` over
the built-in plugins, the database in a temporary directory, the GC tuned by ``waporta.hub.serving_gc``)
exactly as ``waporta serve`` does, except
that ``hub.sessions`` is a fake whose ``send`` returns a server ack at once. So the figure is what the
hub costs per request WITHOUT WhatsApp: HTTP parsing (hypercorn), Quart's request/response machinery,
credential check, JSON body parsing and validation, the retry loop, the JSON answer.

The load comes from a child process (raw sockets, HTTP/1.1 keep-alive, ``--connections`` connections
each sending its next request when the previous answer arrived), so the client's CPU is never counted.
Printed: requests/s, and the server's CPU per request (``time.process_time()`` over the loaded part).
``--per-connection N`` makes the client open a new connection after every N requests (httpx's default pool
keeps only 20 idle connections, so a client with more requests in flight than that reconnects often).
``--route health`` measures ``GET /health`` (no auth, no body) as the framework's own floor; ``--key``
chooses the credential: the configured default key, a key stored by ``Auth.create_key`` (hash lookup in
SQLite), or a dashboard bearer token. ``--profile`` prints cProfile's top costs of the loaded part.

This is a measuring script, not a test; it is NOT a benchmark of the WhatsApp path (``bench/e2e.py``).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import json
import pstats
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio
from hypercorn.trio import serve as hypercorn_serve

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from waporta.app import create_app  # noqa: E402
from waporta.config import ApiConfig, Config, DashboardConfig, ServerConfig, StorageConfig, default_config  # noqa: E402
from waporta.hub import hypercorn_config, open_hub, serving_gc  # noqa: E402
from waporta.plugins import Plugins  # noqa: E402
from waproto.client.messaging import SentMessage  # noqa: E402
from waproto.jid import JID  # noqa: E402
from waproto.proto.e2e_pb2 import Message  # noqa: E402

DEFAULT_KEY = "bench-default-key-0123456789"
PASSWORD = "bench-password"
SESSION = "bench"
TO = "15550002222"


@dataclasses.dataclass
class _FakeSession:
    id: str
    status: str = "connected"


class FakeSessions:
    """What the REST plugin uses of ``waporta.sessions.Sessions``: ``get`` and an instant ``send``."""

    def __init__(self) -> None:
        self._session = _FakeSession(SESSION)
        self.sent = 0

    def get(self, session_id: str) -> _FakeSession:
        return self._session

    async def send(
        self, session_id: str, to: JID, message: Message, *, media_type: str | None = None, message_id: str | None = None
    ) -> SentMessage:
        await trio.lowlevel.checkpoint()
        self.sent += 1
        return SentMessage(f"3EB0{self.sent:018X}", to, "sent", 1_780_000_000)

    async def aclose(self) -> None:
        pass


def request_bytes(route: str, port: int, headers: dict[str, str]) -> bytes:
    if route == "health":
        lines = ["GET /health HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        body = b""
    else:
        body = json.dumps({"sessionId": SESSION, "to": TO, "text": "hello from the bench"}).encode()
        lines = [
            "POST /api/whatsapp/send/text HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
        ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# ------------------------------------------------------------------------------------ the client


def client_main(port: int, count: int, connections: int, request_hex: str, per_connection: int) -> None:
    """Child process: ``count`` requests over ``connections`` keep-alive connections at once, each replaced
    by a new one after ``per_connection`` requests (0: never); prints a JSON line."""
    request = bytes.fromhex(request_hex)
    statuses: dict[int, int] = {}
    remaining = [count]

    async def one_connection() -> None:
        while remaining[0] > 0:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            async with stream:
                await requests_on(stream)

    async def requests_on(stream: trio.SocketStream) -> None:
        buffer = bytearray()
        for _ in range(per_connection or count):
            if remaining[0] <= 0:
                return
            remaining[0] -= 1
            await stream.send_all(request)
            while (end := buffer.find(b"\r\n\r\n")) < 0:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    raise RuntimeError("the server closed the connection")
                buffer += chunk
            head = bytes(buffer[:end]).decode("latin-1")
            status = int(head.split(" ", 2)[1])
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            while len(buffer) < end + 4 + length:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    raise RuntimeError("the server closed the connection")
                buffer += chunk
            del buffer[: end + 4 + length]
            statuses[status] = statuses.get(status, 0) + 1

    async def main() -> None:
        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(connections):
                nursery.start_soon(one_connection)
        print(json.dumps({"seconds": time.perf_counter() - t0, "statuses": statuses}))

    trio.run(main)


# ------------------------------------------------------------------------------------ the server


async def measure(options: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="waporta-rest-bench-") as tmp:
        base = default_config()
        config: Config = dataclasses.replace(
            base,
            server=ServerConfig(host="127.0.0.1", port=0, graceful_timeout=1.0),
            storage=StorageConfig(data_dir=Path(tmp) / "data"),
            dashboard=dataclasses.replace(DashboardConfig(), password=PASSWORD),
            api=ApiConfig(default_key=DEFAULT_KEY),
        )
        plugins = Plugins.load(config, entry_points=False)
        async with open_hub(config, plugins) as hub:
            real_sessions = hub.sessions
            fake = FakeSessions()
            hub.sessions = fake  # type: ignore[assignment]
            headers: dict[str, str] = {}
            if options.key == "default":
                headers["X-API-Key"] = DEFAULT_KEY
            elif options.key == "stored":
                _, raw = await hub.auth.create_key("bench")
                headers["X-API-Key"] = raw
            else:
                token = await hub.auth.login("admin", PASSWORD, client="bench")
                headers["Authorization"] = f"Bearer {token.token}"
            app = create_app(hub)
            stop = trio.Event()
            result: dict[str, Any] = {}
            async with trio.open_nursery() as nursery:
                binds: list[str] = await nursery.start(
                    lambda task_status: hypercorn_serve(
                        app, hypercorn_config(config), shutdown_trigger=stop.wait, task_status=task_status
                    )
                )
                port = int(binds[0].rsplit(":", 1)[1])
                request = request_bytes(options.route, port, headers)

                async def run_client(count: int) -> dict[str, Any]:
                    done = await trio.run_process(
                        [
                            sys.executable,
                            __file__,
                            "--client",
                            str(port),
                            str(count),
                            str(options.connections),
                            request.hex(),
                            str(options.per_connection),
                        ],
                        capture_stdout=True,
                    )
                    answer: dict[str, Any] = json.loads(done.stdout)
                    return answer

                await run_client(min(500, options.requests))  # warm-up
                profiler = cProfile.Profile(time.process_time) if options.profile else None
                cpu0 = time.process_time()
                if profiler is not None:
                    profiler.enable()
                answer = await run_client(options.requests)
                if profiler is not None:
                    profiler.disable()
                cpu = time.process_time() - cpu0
                ok = answer["statuses"].get("200", 0)
                result = {
                    "route": options.route,
                    "key": options.key,
                    "requests": options.requests,
                    "ok": ok,
                    "statuses": answer["statuses"],
                    "rate": options.requests / answer["seconds"],
                    "cpu_ms": cpu / options.requests * 1000,
                }
                if profiler is not None:
                    out = io.StringIO()
                    stats = pstats.Stats(profiler, stream=out)
                    stats.sort_stats("tottime").print_stats(35)
                    stats.sort_stats("cumulative").print_stats(45)
                    result["profile"] = out.getvalue()
                    if options.profile_out:
                        profiler.dump_stats(options.profile_out)
                stop.set()
            hub.sessions = real_sessions
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--route", choices=("text", "health"), default="text")
    parser.add_argument("--key", choices=("default", "stored", "bearer"), default="default")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-out", help="also write the cProfile stats to this file")
    parser.add_argument(
        "--per-connection", type=int, default=0, help="requests per client connection before a new one (0: unlimited)"
    )
    parser.add_argument("--client", nargs=5, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.client:
        port, count, connections, request_hex, per_connection = options.client
        client_main(int(port), int(count), int(connections), request_hex, int(per_connection))
        return
    with serving_gc():  # as ``waporta serve`` runs
        result = trio.run(measure, options)
    profile = result.pop("profile", None)
    if profile:
        print(profile, file=sys.stderr)
    print(
        f"{result['route']} ({result['key']} key): {result['rate']:,.0f} requests/s, "
        f"{result['cpu_ms']:.3f} ms server CPU per request ({result['ok']} of {result['requests']} answered 200: "
        f"{result['statuses']})"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
