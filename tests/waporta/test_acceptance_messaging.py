"""Issue #6's REST acceptance, end to end: a served hub (hypercorn on 127.0.0.1, port 0) in sandbox mode,
driven only over HTTP — the gateway's REST API and the sandbox's control API at ``/sandbox`` on the same
port — with a test plugin watching the hooks.

Create a session → its QR → the sandbox phone scans it → ``connected``; a second session links by pairing
code. Send a text, an image (as base64, as a data URL and as a URL) and a document to an echo account → the
echo phone's log shows each one decrypted → each echo comes back as a ``message_received`` hook call with
its text or media intact; a text to a group reaches its members (the second session among them).
While the connection is down a send is retried as the send-retry policy says: the built-in one gives up
(502 ``delivery_failed``, the ``delivery_failed`` hook called), a plugin's more patient one wins. ``check`` is true for an account and false for a number without one. The phone
unlinks the session → ``logged_out`` → sends and checks answer 409 at once.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import struct
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import trio

from tests.fakes import FakeClock
from waporta import hookimpl
from waporta.config import Config, load_config
from waporta.hub import Hub, serve
from waporta.plugins import Plugins

KEY = "wap_acceptance_key_0123456789abcdefghijkl"
OWNER = "15550001111"  # the phone that links session "main" by QR
SECOND = "15550003333"  # the phone that links session "second" by pairing code
ECHO = "15550009999"  # an echo bot: answers a text with "echo: <text>" and a media message with the same media
NOBODY = "15550007777"  # no account
API = "/api/whatsapp"
WAIT = 30.0


def png(width: int, height: int) -> bytes:
    """A real (decodable) RGB PNG of ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + bytes([y * 10 % 256, 60, 128]) * width for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PICTURE = png(32, 24)
OTHER_PICTURE = png(8, 6)
DOCUMENT = b"%PDF-1.4\n% waporta acceptance\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


class Watcher:
    """The test plugin: keeps the hub, every status change and every received message; wakes waiters."""

    def __init__(self) -> None:
        self.hub: Hub | None = None
        self.statuses: dict[str, list[str]] = defaultdict(list)
        self.received: list[tuple[str, Any]] = []
        self.failures: list[Any] = []
        #: When set, the send-retry policy of this plugin retries every 0.2 s (up to 50 attempts) instead
        #: of leaving the answer to the built-in policy.
        self.patient = False
        self.asked: list[tuple[str, int, str]] = []
        self._changed = trio.Event()

    @hookimpl
    def waporta_startup(self, hub: Hub) -> None:
        self.hub = hub

    @hookimpl
    def session_status_changed(self, session_id: str, status: str) -> None:
        self.statuses[session_id].append(status)
        self._poke()

    @hookimpl
    def message_received(self, session_id: str, message: Any) -> None:
        self.received.append((session_id, message))
        self._poke()

    @hookimpl
    def delivery_failed(self, failure: Any) -> None:
        self.failures.append(failure)

    @hookimpl
    def send_retry_policy(self, session_id: str, attempt: int, error: BaseException) -> float | None:
        self.asked.append((session_id, attempt, type(error).__name__))
        if self.patient:
            return 0.2 if attempt < 50 else math.inf
        return None

    def _poke(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def until(self, condition: Callable[[], Any], what: str) -> Any:
        """Wait (bounded) until ``condition()`` is truthy; return its value."""
        with trio.move_on_after(WAIT):
            while not (value := condition()):
                await self._changed.wait()
            return value
        raise AssertionError(f"timed out waiting for {what}")

    async def status(self, session_id: str, status: str) -> None:
        await self.until(lambda: self.statuses[session_id][-1:] == [status], f"{session_id} to be {status}")

    async def echo_of(self, session_id: str, kind: str, seen: int) -> dict[str, Any]:
        """The first message received after the first ``seen`` ones, from the echo account, as its payload."""

        def found() -> dict[str, Any] | None:
            for sid, message in self.received[seen:]:
                payload: dict[str, Any] = message.as_payload()
                if sid == session_id and payload["sender"].startswith(ECHO) and payload["messageType"] == kind:
                    return payload
            return None

        payload: dict[str, Any] = await self.until(found, f"an echoed {kind}")
        return payload


def write_config(folder: Path) -> Path:
    path = folder / "waporta.toml"
    path.write_text(
        "[server]\nport = 0\n"
        f'[storage]\ndata_dir = "{folder / "data"}"\n'
        '[dashboard]\npassword = "a long enough dashboard password"\n'
        f'[api]\ndefault_key = "{KEY}"\n'
        "[whatsapp]\nsandbox = true\n"
        '[media]\nallow_networks = ["127.0.0.1/32"]\n'
        "[plugins.send_retry]\nattempts = 2\nbase_delay = 0.05\n",
        encoding="utf-8",
    )
    return path


@asynccontextmanager
async def served_gateway(config: Config, watcher: Watcher) -> AsyncIterator[httpx.AsyncClient]:
    plugins = Plugins.load(config, entry_points=False)  # the built-ins, REST messages and send_retry included
    plugins.register(watcher, "watcher")
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            functools.partial(serve, config, plugins=plugins, shutdown_trigger=stop.wait, clock=FakeClock())
        )
        async with httpx.AsyncClient(base_url=binds[0], headers={"X-API-Key": KEY}, timeout=WAIT) as client:
            yield client
        stop.set()


async def serve_files(
    files: dict[str, tuple[str, bytes]], *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """A tiny HTTP/1.1 server on 127.0.0.1 answering ``GET <path>`` with ``files[path]`` (type, bytes)."""

    async def answer(stream: trio.SocketStream) -> None:
        async with stream:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    return
                head += chunk
            path = head.split(b" ", 2)[1].decode("ascii", "replace")
            if path not in files:
                await stream.send_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            kind, data = files[path]
            await stream.send_all(
                f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(data)}\r\n"
                "Connection: close\r\n\r\n".encode("ascii")
                + data
            )

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    task_status.started(f"http://127.0.0.1:{port}")
    await trio.serve_listeners(answer, listeners)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def phone_log(client: httpx.AsyncClient, phone: str, message_id: str) -> dict[str, Any]:
    """The phone's log entry for ``message_id`` (the control API answers after delivery)."""
    for entry in ok(await client.get(f"/sandbox/accounts/{phone}/messages"))["messages"]:
        if entry["id"] == message_id:
            return dict(entry)
    raise AssertionError(f"{phone}'s log has no message {message_id}")


def raw_part(payload: dict[str, Any], field: str) -> dict[str, Any]:
    part: dict[str, Any] = payload["raw"]["message"][field]
    return part


async def test_rest_messaging_acceptance(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path), env={})
    watcher = Watcher()
    async with served_gateway(config, watcher) as client:
        for phone, extra in [(OWNER, {"name": "Owner"}), (SECOND, {"name": "Second"}), (ECHO, {"bot": "echo"})]:
            ok(await client.post("/sandbox/accounts", json={"phone": phone, **extra}), 201)

        # --- link by QR
        assert ok(await client.post(f"{API}/sessions/main"), 201)["status"] == "connecting"
        await watcher.status("main", "qr")
        qr = ok(await client.get(f"{API}/sessions/main/qr"))
        assert qr["image"].startswith("data:image/svg+xml;base64,")
        linked = ok(await client.post(f"/sandbox/accounts/{OWNER}/scan", json={"qr": qr["qr"]}))
        await watcher.status("main", "connected")
        session = ok(await client.get(f"{API}/sessions/main"))
        assert (session["status"], session["jid"]) == ("connected", linked["jid"])

        # --- link by pairing code
        ok(await client.post(f"{API}/sessions/second"), 201)
        await watcher.status("second", "qr")
        code = ok(await client.post(f"{API}/sessions/second/pairing-code", json={"phoneNumber": SECOND}))["code"]
        ok(await client.post(f"/sandbox/accounts/{SECOND}/link-code", json={"code": code}))
        await watcher.status("second", "connected")
        assert ok(await client.get(f"{API}/sessions/second"))["jid"].startswith(SECOND)

        # --- text
        seen = len(watcher.received)
        sent = ok(await client.post(f"{API}/send/text", json={"sessionId": "main", "to": ECHO, "text": "hello, echo"}))
        assert sent["status"] == "sent"
        assert sent["timestamp"].endswith("Z")
        assert sent["to"].endswith(("@s.whatsapp.net", "@lid"))
        entry = await phone_log(client, ECHO, sent["messageId"])
        assert (entry["direction"], entry["kind"], entry["text"]) == ("in", "text", "hello, echo")
        echo = await watcher.echo_of("main", "text", seen)
        assert echo["content"]["text"] == "echo: hello, echo"
        assert echo["sessionId"] == "main"

        # --- image, as base64 and as a data URL
        for media, picture, caption in [
            (base64.b64encode(PICTURE).decode(), PICTURE, "a picture"),
            ("data:image/png;base64," + base64.b64encode(OTHER_PICTURE).decode(), OTHER_PICTURE, None),
        ]:
            seen = len(watcher.received)
            body = {"sessionId": "main", "to": ECHO, "media": media, **({"text": caption} if caption else {})}
            sent = ok(await client.post(f"{API}/send/image", json=body))
            entry = await phone_log(client, ECHO, sent["messageId"])
            assert (entry["direction"], entry["kind"], entry["mimetype"]) == ("in", "image", "image/png")
            assert entry["decrypted"] is True  # the phone downloaded and decrypted it from the media server
            assert base64.b64decode(entry["file_sha256"]) == hashlib.sha256(picture).digest()
            echo = await watcher.echo_of("main", "image", seen)
            image = raw_part(echo, "imageMessage")
            assert base64.b64decode(image["fileSha256"]) == hashlib.sha256(picture).digest()
            assert int(image["fileLength"]) == len(picture)
            assert image["mimetype"] == "image/png"
            assert image.get("caption") == caption
            assert (image["width"], image["height"]) == ((32, 24) if picture is PICTURE else (8, 6))
            if hasattr(watcher.hub.sessions, "download"):  # type: ignore[union-attr]
                data = await watcher.hub.sessions.download("main", echo["messageId"])  # type: ignore[union-attr]
                assert data == picture

        # --- document
        seen = len(watcher.received)
        body = {
            "sessionId": "main",
            "to": ECHO,
            "media": base64.b64encode(DOCUMENT).decode(),
            "filename": "acceptance report.pdf",
            "text": "the report",
        }
        sent = ok(await client.post(f"{API}/send/document", json=body))
        entry = await phone_log(client, ECHO, sent["messageId"])
        assert (entry["kind"], entry["file_name"], entry["mimetype"]) == ("document", "acceptance report.pdf", "application/pdf")
        assert entry["decrypted"] is True
        assert base64.b64decode(entry["file_sha256"]) == hashlib.sha256(DOCUMENT).digest()
        echo = await watcher.echo_of("main", "document", seen)
        document = raw_part(echo, "documentMessage")
        assert document["fileName"] == "acceptance report.pdf"
        assert base64.b64decode(document["fileSha256"]) == hashlib.sha256(DOCUMENT).digest()

        # --- media from a URL (loopback allowed by [media] allow_networks), the type from Content-Type
        async with trio.open_nursery() as nursery:
            files = {"/photo": ("image/png", PICTURE), "/files/terms": ("application/pdf", DOCUMENT)}
            base = await nursery.start(serve_files, files)
            seen = len(watcher.received)
            sent = ok(await client.post(f"{API}/send/image", json={"sessionId": "main", "to": ECHO, "media": base + "/photo"}))
            entry = await phone_log(client, ECHO, sent["messageId"])
            assert (entry["kind"], entry["decrypted"]) == ("image", True)
            assert base64.b64decode(entry["file_sha256"]) == hashlib.sha256(PICTURE).digest()
            echo = await watcher.echo_of("main", "image", seen)
            assert base64.b64decode(raw_part(echo, "imageMessage")["fileSha256"]) == hashlib.sha256(PICTURE).digest()
            body = {"sessionId": "main", "to": ECHO, "media": base + "/files/terms", "filename": "terms"}
            sent = ok(await client.post(f"{API}/send/document", json=body))
            entry = await phone_log(client, ECHO, sent["messageId"])
            assert (entry["file_name"], entry["mimetype"], entry["decrypted"]) == ("terms", "application/pdf", True)
            response = await client.post(f"{API}/send/image", json={"sessionId": "main", "to": ECHO, "media": base + "/gone"})
            assert (response.status_code, response.json()["error"]) == (422, "media_unreachable")
            nursery.cancel_scope.cancel()

        # --- a group: the session's phone, the echo account and the second phone
        group = ok(await client.post("/sandbox/groups", json={"subject": "team", "participants": [OWNER, ECHO, SECOND]}), 201)
        group_id = group["jid"].split("@")[0]
        seen = len(watcher.received)
        sent = ok(
            await client.post(f"{API}/send/text", json={"sessionId": "main", "to": group_id, "isGroup": True, "text": "hi team"})
        )
        assert sent["to"] == group["jid"]
        for phone in (ECHO, SECOND):
            entry = await phone_log(client, phone, sent["messageId"])
            assert (entry["chat"], entry["text"]) == (group["jid"], "hi team")
        # the second session (a member too) receives it, and both sessions get the echo in the group
        got = await watcher.until(
            lambda: [m.as_payload() for sid, m in watcher.received[seen:] if sid == "second" and m.message_id == sent["messageId"]],
            "the group message at the second session",
        )
        assert got[0]["content"]["text"] == "hi team"
        echo = await watcher.echo_of("main", "text", seen)
        assert echo["content"]["text"] == "echo: hi team"
        assert echo["raw"]["key"]["remoteJid"] == group["jid"]

        # --- check
        answer = ok(await client.get(f"{API}/check", params={"sessionId": "main", "to": ECHO}))
        assert answer["exists"] is True
        assert answer["jid"] == f"{ECHO}@s.whatsapp.net"
        assert answer["lid"] is None or answer["lid"].endswith("@lid")
        answer = ok(await client.get(f"{API}/check", params={"sessionId": "second", "to": NOBODY}))
        assert answer == {"exists": False, "jid": None, "lid": None}

        # --- a number without WhatsApp, a bad number, an unknown session
        response = await client.post(f"{API}/send/text", json={"sessionId": "main", "to": NOBODY, "text": "hi"})
        assert (response.status_code, response.json()["error"]) == (422, "recipient_not_found")
        response = await client.post(f"{API}/send/text", json={"sessionId": "main", "to": "+" + ECHO, "text": "hi"})
        assert (response.status_code, response.json()["field"]) == (400, "to")
        response = await client.post(f"{API}/send/text", json={"sessionId": "ghost", "to": ECHO, "text": "hi"})
        assert (response.status_code, response.json()["error"]) == (404, "session_not_found")

        # --- the connection drops: the built-in policy ([plugins.send_retry] attempts = 2, base_delay = 0.05)
        # gives up before the client reconnects (its first reconnect waits about 1 s) → 502 + delivery_failed
        ok(await client.post(f"/sandbox/devices/{session['jid']}/disconnect"))
        await watcher.status("main", "disconnected")
        response = await client.post(f"{API}/send/text", json={"sessionId": "main", "to": ECHO, "text": "lost"})
        assert (response.status_code, response.json()["error"], response.json()["attempts"]) == (502, "delivery_failed", 2)
        [failure] = watcher.failures
        assert (failure["kind"], failure["sessionId"], failure["messageType"], failure["attempts"]) == ("send", "main", "text", 2)
        assert failure["error"].startswith("SessionUnavailable")
        assert failure["to"].startswith(ECHO)
        await watcher.status("main", "connected")

        # ... and a plugin's own policy that keeps retrying gets the message through after the reconnect
        watcher.patient = True
        watcher.asked.clear()
        ok(await client.post(f"/sandbox/devices/{session['jid']}/disconnect"))
        await watcher.status("main", "disconnected")
        sent = ok(await client.post(f"{API}/send/text", json={"sessionId": "main", "to": ECHO, "text": "patience"}))
        assert watcher.statuses["main"][-1] == "connected"
        assert watcher.asked  # it did have to wait for the reconnect
        assert {name for _, _, name in watcher.asked} == {"SessionUnavailable"}
        assert (await phone_log(client, ECHO, sent["messageId"]))["text"] == "patience"
        watcher.patient = False

        # --- the phone unlinks the session: logged out, and 409 at once
        ok(await client.post(f"/sandbox/devices/{session['jid']}/logout"))
        await watcher.status("main", "logged_out")
        with trio.fail_after(5):  # no retries, no waiting for a connection
            response = await client.post(f"{API}/send/text", json={"sessionId": "main", "to": ECHO, "text": "hi"})
        assert (response.status_code, response.json()["error"]) == (409, "session_logged_out")
        response = await client.get(f"{API}/check", params={"sessionId": "main", "to": ECHO})
        assert (response.status_code, response.json()["error"]) == (409, "session_logged_out")

        # the other session is unaffected
        sent = ok(await client.post(f"{API}/send/text", json={"sessionId": "second", "to": ECHO, "text": "still here"}))
        assert (await phone_log(client, ECHO, sent["messageId"]))["text"] == "still here"
