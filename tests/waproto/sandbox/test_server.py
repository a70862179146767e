"""waproto.sandbox.server: the standalone runner's banner, and the media server wired into the IQ table."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, cast

import httpx
import trio

from waproto.binary import Node
from waproto.jid import SERVER_JID
from waproto.sandbox.connection import CLOSE_PROTOCOL_ERROR, Connection
from waproto.sandbox.server import Sandbox, create_asgi, run_standalone
from waproto.sandbox.state import Network


async def test_run_standalone_announces_and_serves(tmp_path: Path) -> None:
    lines: list[str] = []
    ready = trio.Event()

    def announce(line: str) -> None:
        lines.append(line)
        ready.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: run_standalone(host="127.0.0.1", port=0, state_dir=tmp_path, announce=announce))
        with trio.fail_after(20):
            await ready.wait()
        banner = json.loads(lines[0])
        async with httpx.AsyncClient(timeout=10) as client:
            info = (await client.get(banner["control"])).json()
        assert info["root_public_key"] == banner["root_public_key"]
        nursery.cancel_scope.cancel()
    assert banner["ca_file"] == str(tmp_path / "media-tls" / "ca.pem")


async def test_media_conn_is_answered_once_media_runs(tmp_path: Path) -> None:
    import secrets

    from waproto.sandbox.server import Sandbox, start_media
    from waproto.sandbox.state import Network

    sandbox = Sandbox(Network.open(None, rng=secrets.token_bytes))
    request = Node("iq", {"id": "m1", "to": SERVER_JID, "type": "set", "xmlns": "w:m"}, [Node("media_conn")])
    fake: Any = type("C", (), {"name": "fake"})()
    before = await sandbox.iqs.answer(cast(Connection, fake), request)
    assert before is not None
    assert before.attrs["type"] == "error"
    async with trio.open_nursery() as nursery:
        endpoint = await start_media(nursery, sandbox, tmp_path)
        answer = await sandbox.iqs.answer(cast(Connection, fake), request)
        assert answer is not None
        media_conn = answer.child("media_conn")
        assert media_conn is not None
        [host] = media_conn.children
        assert host.attrs["hostname"] == endpoint.hostname
        nursery.cancel_scope.cancel()


class _AsgiPeer:
    """The ASGI server's side of one websocket: scripted events in, what the app sent recorded."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.events:
            return self.events.pop(0)
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(self, event: dict[str, Any]) -> None:
        self.sent.append(event)


def _websocket_scope(path: str = "/ws/chat") -> dict[str, Any]:
    return {"type": "websocket", "path": path, "client": ("127.0.0.1", 4711), "headers": []}


async def test_the_chat_websocket_is_served_on_the_asgi_events(autojump_clock: trio.abc.Clock) -> None:
    """A text message breaks the protocol: the connection closes the websocket with 1002."""
    sandbox = Sandbox(Network.open(None, rng=secrets.token_bytes))
    peer = _AsgiPeer([{"type": "websocket.connect"}, {"type": "websocket.receive", "bytes": None, "text": "hi"}])
    await create_asgi(sandbox)(cast(Any, _websocket_scope()), cast(Any, peer.receive), cast(Any, peer.send))
    assert [e["type"] for e in peer.sent] == ["websocket.accept", "websocket.close"]
    assert peer.sent[1]["code"] == CLOSE_PROTOCOL_ERROR
    assert not sandbox.all_connections


async def test_a_client_that_leaves_is_not_written_to_again(autojump_clock: trio.abc.Clock) -> None:
    sandbox = Sandbox(Network.open(None, rng=secrets.token_bytes))
    peer = _AsgiPeer([{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1006}])
    await create_asgi(sandbox)(cast(Any, _websocket_scope()), cast(Any, peer.receive), cast(Any, peer.send))
    assert [e["type"] for e in peer.sent] == ["websocket.accept"]
    gone = _AsgiPeer([{"type": "websocket.disconnect", "code": 1006}])
    await create_asgi(sandbox)(cast(Any, _websocket_scope()), cast(Any, gone.receive), cast(Any, gone.send))
    assert gone.sent == []
