"""Helpers for the sandbox's interop tests: a served sandbox, control API calls, real Baileys sockets.

The harness (``tests/interop``) answers synchronously, so every call runs in a worker thread while the
sandbox keeps serving on the trio loop. Baileys runs on real timers: waits here are bounded real time.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import trio

from tests.interop.harness import Harness
from waproto.sandbox.server import Sandbox, serve, start_media
from waproto.sandbox.state import Network


class Served:
    """A sandbox served on 127.0.0.1 with its base URL and an HTTP client for its control API."""

    def __init__(self, sandbox: Sandbox, base: str) -> None:
        self.sandbox = sandbox
        self.base = base
        self.ws_url = base.replace("http://", "ws://") + "/ws/chat"
        self.http = httpx.AsyncClient(base_url=base, timeout=30)
        #: The media server's CA file, when it runs.
        self.ca_file: str | None = None

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.http.post(path, json=body)

    async def create_account(self, phone: str, **fields: Any) -> dict[str, Any]:
        response = await self.post("/sandbox/accounts", {"phone": phone, **fields})
        assert response.status_code == 201, response.text
        return dict(response.json())


@contextlib.asynccontextmanager
async def served_sandbox(state_dir: Path, *, media: bool = False) -> AsyncIterator[Served]:
    """A sandbox served on 127.0.0.1:0 for the duration of the block (with its media server if ``media``)."""
    sandbox = Sandbox(Network.open(state_dir, rng=secrets.token_bytes))
    async with trio.open_nursery() as nursery:
        endpoint = await start_media(nursery, sandbox, state_dir) if media else None
        base = await nursery.start(serve, sandbox, "127.0.0.1", 0)
        served = Served(sandbox, base)
        served.ca_file = None if endpoint is None else str(endpoint.ca_file)
        try:
            yield served
        finally:
            await served.http.aclose()
            nursery.cancel_scope.cancel()


async def call(baileys: Harness, op: str, **args: Any) -> Any:
    return await trio.to_thread.run_sync(functools.partial(baileys.call, op, **args))


class Sock:
    """A real Baileys socket in the harness, with its recorded events."""

    def __init__(self, baileys: Harness, handle: int) -> None:
        self.baileys = baileys
        self.handle = handle
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def create(cls, baileys: Harness, version: str, url: str, **options: Any) -> Sock:
        return cls(baileys, await call(baileys, "sock.create", version=version, url=url, **options))

    async def poll(self) -> None:
        fresh = await call(self.baileys, "sock.events", h=self.handle, since=len(self.events))
        self.events.extend(fresh)

    async def wait_for(self, match: Callable[[dict[str, Any]], bool], *, seconds: float = 20.0) -> dict[str, Any]:
        """The first recorded event ``match`` accepts, polling for up to ``seconds`` of real time."""
        with trio.move_on_after(seconds):
            seen = 0
            while True:
                for event in self.events[seen:]:
                    if match(event):
                        return event
                seen = len(self.events)
                await trio.sleep(0.05)
                await self.poll()
        raise AssertionError(f"no matching event within {seconds} s; events: {self.events}")

    async def wait_qr(self) -> str:
        event = await self.wait_for(lambda e: e["type"] == "connection.update" and bool(e.get("qr")))
        return str(event["qr"])

    async def wait_open(self, *, after: int = 0) -> dict[str, Any]:
        return await self.wait_for(
            lambda e: e["n"] >= after and e["type"] == "connection.update" and e.get("connection") == "open"
        )

    async def wait_close(self, *, after: int = 0) -> dict[str, Any]:
        return await self.wait_for(
            lambda e: e["n"] >= after and e["type"] == "connection.update" and e.get("connection") == "close"
        )

    async def creds(self) -> dict[str, Any]:
        return dict(await call(self.baileys, "sock.creds", h=self.handle))

    async def end(self) -> None:
        await call(self.baileys, "sock.end", h=self.handle)
