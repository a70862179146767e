"""End-to-end figures of our WhatsApp client and of Baileys 6 against the same sandbox, in the same run.

Usage (from the repository root; the interop harness installed: ``npm ci`` in tests/interop)::

    .venv/bin/python bench/e2e.py [--quick] [--messages 3000] [--inflight 100] [--paced-seconds 10]
                                  [--received 2000] [--rounds 3] [--sessions 1,10,100] [--no-baileys]
                                  [--profile]

A standalone sandbox (``waporta sandbox``) runs in a child process, so its CPU is never counted. On it:

- **send rate**: one linked session sends ``--messages`` texts to an echo-less sandbox account (its
  simulated phone only receipts), ``--inflight`` at a time; a message counts once the server's
  ``<ack class="message">`` arrived. Our ``Messenger.send_text`` returns at the ack; Baileys'
  ``sendMessage`` does not wait for it, so the harness op waits for the ack of each id (``ops/bench.mjs``);
- **CPU per sent text**: ``time.process_time()`` of this process over the pipelined run, per message
  (Baileys: ``process.cpuUsage()`` inside Node);
- **send latency at 50 msg/s**: one send started every 20 ms for ``--paced-seconds``; p50/p99 of the time
  from the send call to the server's ack;
- **CPU per received text**: another sandbox account's phone sends ``--received`` texts to each client
  (driven by a child process calling the sandbox control API, so no HTTP client runs here); CPU from
  the start until the last text was handed to the application (which then receipts it);
- **RSS per connected idle session** at each count of ``--sessions``: a fresh child process logs that
  many linked clients in (each with a ``Messenger``) and reports (RSS with them connected − RSS before) / n;
- **restore 100 sessions**: a fresh child process opens the hub's SQLite database holding the linked
  sessions and runs ``waporta.sessions.open_sessions``; the time until every session is ``connected``.

The pipelined-send and receive runs are repeated ``--rounds`` times for each client; the best rate and
the least CPU count (other load on a shared machine only ever adds CPU time; every round is printed).
Figures are printed as a table with the ratio to Baileys and the issue's target for each. This is a
measuring script, not a test (``tests/bench/test_e2e_smoke.py`` only runs ``--quick``); ``--profile``
prints cProfile's top costs of our send and receive runs. It is NOT a load test of the sandbox.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import io
import json
import os
import pstats
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
# Replace this script's own folder on the path by the repository root: bench/ holds modules named like
# standard ones that would shadow them.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import httpx  # noqa: E402
import trio  # noqa: E402

from waproto.client import (  # noqa: E402
    Client,
    ClientSettings,
    Connected,
    MemoryClientStore,
    Paired,
    QRCode,
)
from waproto.client.directory import Directory  # noqa: E402
from waproto.client.messaging import Messenger, ReceivedMessage, UndecryptableMessage  # noqa: E402
from waproto.credentials import Credentials  # noqa: E402
from waproto.jid import DEFAULT_USER_SERVER, JID  # noqa: E402

MiB = 1024 * 1024
_STARTED = time.perf_counter()


def say(text: str) -> None:
    """Progress on stderr, with the seconds since the start."""
    print(f"[{time.perf_counter() - _STARTED:6.1f} s] {text}", file=sys.stderr)


#: Accounts on the sandbox: the senders (ours, Baileys'), their echo-less recipients, the phone that writes.
OURS, OURS_TO = "15550001001", "15550001002"
THEIRS, THEIRS_TO = "15550002001", "15550002002"
WRITER = "15550003001"
#: The gateway's session (REST figure) and its recipient.
REST_FROM, REST_TO = "15550004001", "15550004002"
#: The hub's sessions for the RSS and restore figures link to accounts 1555100nnnn.
HUB_PREFIX = "1555100"


# ------------------------------------------------------------------------------------ the sandbox


@dataclass
class Sandbox:
    """A ``waporta sandbox`` child process and what its banner said."""

    process: subprocess.Popen[bytes]
    url: str
    control: str
    root_public_key: bytes

    def settings(self) -> ClientSettings:
        return ClientSettings(url=self.url, noise_root_public_key=self.root_public_key, backoff_initial=0.2)


@contextlib.contextmanager
def sandbox_process(state: Path, *, persistent: bool) -> Any:
    """The sandbox in a child process: in memory (``--sandbox-child``, the default), or ``waporta sandbox``
    with a state directory (``persistent``: it rewrites its JSON state after every message it routes)."""
    if persistent:
        command = [sys.executable, "-m", "waporta", "sandbox", "--state", str(state), "--log-level", "error"]
    else:
        command = [sys.executable, str(SCRIPT), "--sandbox-child"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, env=env)
    try:
        assert process.stdout is not None
        banner = json.loads(process.stdout.readline())
        yield Sandbox(process, banner["url"], banner["control"], bytes.fromhex(banner["root_public_key"]))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def sandbox_child() -> None:
    """Child process: a sandbox in memory (no state directory, no media server) on 127.0.0.1; its banner
    (url, control, root_public_key) on stdout; runs until terminated."""
    import logging

    from waproto.sandbox.server import Sandbox as Running
    from waproto.sandbox.server import serve
    from waproto.sandbox.state import Network

    logging.basicConfig(level=logging.ERROR)
    sandbox = Running(Network.open(None, rng=secrets.token_bytes))
    async with trio.open_nursery() as nursery:
        base = await nursery.start(serve, sandbox, "127.0.0.1", 0)
        banner = {
            "url": base.replace("http://", "ws://", 1) + "/ws/chat",
            "control": base + "/sandbox",
            "root_public_key": sandbox.root_public_key.hex(),
        }
        print(json.dumps(banner), flush=True)


async def control(http: httpx.AsyncClient, sandbox: Sandbox, path: str, body: Any = None) -> Any:
    response = await http.post(sandbox.control + path, json=body)
    if response.status_code >= 300:
        raise RuntimeError(f"sandbox {path}: {response.status_code} {response.text}")
    return response.json()


# ------------------------------------------------------------------------------------ our client


class Ours:
    """One of our clients, linked by QR, with a Messenger counting the texts it receives."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.received = 0
        self.undecryptable = 0
        self._target = 0
        self._reached = trio.Event()
        # As in the hub: device lists and LID mappings cached by a Directory (here on memory stores).
        self.messenger = Messenger(client, self._on_message, directory=Directory(client))
        self.connected = trio.Event()

    async def _on_message(self, item: ReceivedMessage | UndecryptableMessage) -> None:
        if isinstance(item, UndecryptableMessage):
            self.undecryptable += 1
        elif item.text is not None:
            self.received += 1
            if self.received >= self._target:
                self._reached.set()

    def expect(self, count: int) -> trio.Event:
        self._target = self.received + count
        self._reached = trio.Event()
        return self._reached

    async def drain_events(self) -> None:
        async for event in self.client.events:
            if isinstance(event, Connected):
                self.connected.set()


@contextlib.asynccontextmanager
async def linked_client(http: httpx.AsyncClient, sandbox: Sandbox, phone: str) -> AsyncIterator[Ours]:
    """Our client, linked by QR to ``phone``'s account and connected, for the block."""
    creds = Credentials.generate(secrets.token_bytes, push_name="bench")
    client = Client(sandbox.settings(), creds, MemoryClientStore(creds))
    ours = Ours(client)
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        with trio.fail_after(30):
            async for event in client.events:
                if isinstance(event, QRCode):
                    await control(http, sandbox, f"/accounts/{phone}/scan", {"qr": event.qr})
                elif isinstance(event, Paired):
                    continue
                elif isinstance(event, Connected):
                    break
        nursery.start_soon(ours.drain_events)
        try:
            yield ours
        finally:
            await client.aclose()
            nursery.cancel_scope.cancel()


def user(phone: str) -> JID:
    return JID(phone, DEFAULT_USER_SERVER)


@dataclass
class Profile:
    """cProfile over chosen parts of the run (when enabled); the top costs printed at the end."""

    enabled: bool
    #: CPU time, not wall time: waiting for the network or for the scheduler is not a cost of ours.
    profiler: cProfile.Profile = field(default_factory=lambda: cProfile.Profile(time.process_time))

    @contextlib.contextmanager
    def part(self) -> Any:
        if self.enabled:
            self.profiler.enable()
        try:
            yield
        finally:
            if self.enabled:
                self.profiler.disable()

    def report(self, top: int = 30) -> str:
        out = io.StringIO()
        pstats.Stats(self.profiler, stream=out).sort_stats("tottime").print_stats(top)
        return out.getvalue()


async def ours_send_pipelined(
    ours: Ours, to: JID, count: int, inflight: int, profile: Profile
) -> dict[str, float]:
    for i in range(10):  # sessions, caches, the first prekey message: not measured
        await ours.messenger.send_text(to, f"warm-up {i}")
    sent = 0
    next_index = 0

    async def worker() -> None:
        nonlocal sent, next_index
        while next_index < count:
            i = next_index
            next_index += 1
            await ours.messenger.send_text(to, f"bench {i}")
            sent += 1

    with profile.part():
        cpu0, sys0, t0 = time.process_time(), os.times().system, time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(min(inflight, count)):
                nursery.start_soon(worker)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        system = os.times().system - sys0
    return {"rate": sent / wall, "cpu_ms": cpu / sent * 1000, "sys_ms": system / sent * 1000}


async def ours_send_paced(ours: Ours, to: JID, rate: float, seconds: float) -> list[float]:
    latencies: list[float] = []

    async def one(i: int) -> None:
        t0 = time.perf_counter()
        await ours.messenger.send_text(to, f"paced {i}")
        latencies.append((time.perf_counter() - t0) * 1000)

    count = max(1, int(rate * seconds))
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        for i in range(count):
            await trio.sleep_until(start + i / rate)
            nursery.start_soon(one, i)
    return latencies


def best_send(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The figures of several pipelined send rounds: the best rate, and the CPU figures of the round that
    used the least CPU (load from other processes only ever adds CPU time, as in ``bench/wire.py``)."""
    cheapest = min(rounds, key=lambda r: r["cpu_ms"])
    return {
        "send_rate": max(r["rate"] for r in rounds),
        "send_cpu": cheapest["cpu_ms"],
        "send_sys": cheapest["sys_ms"],
        "sandbox_cpu": min(r["sandbox_ms"] for r in rounds),
    }


def writer_command(sandbox: Sandbox, to: str, count: int) -> list[str]:
    return [
        sys.executable,
        str(SCRIPT),
        "--writer",
        sandbox.control,
        WRITER,
        to,
        str(count),
    ]


async def ours_receive(
    ours: Ours, sandbox: Sandbox, phone: str, count: int, profile: Profile
) -> tuple[float, float]:
    """CPU ms (all, kernel) per text the writer's phone sends to ``phone`` until our Messenger had them all."""
    reached = ours.expect(count)
    with profile.part():
        cpu0, sys0 = time.process_time(), os.times().system
        process = await trio.lowlevel.open_process(writer_command(sandbox, phone, count))
        with trio.fail_after(120):
            await reached.wait()
        cpu, system = time.process_time() - cpu0, os.times().system - sys0
    await process.wait()
    return cpu / count * 1000, system / count * 1000


# ------------------------------------------------------------------------------------ Baileys


class Baileys:
    """A Baileys 6 socket in the interop harness (calls run in a worker thread)."""

    def __init__(self, harness: Any, handle: int) -> None:
        self.harness = harness
        self.handle = handle

    async def call(self, op: str, **args: Any) -> Any:
        return await trio.to_thread.run_sync(functools.partial(self.harness.call, op, **args))

    async def wait_event(self, match: Any, seconds: float = 30) -> dict[str, Any]:
        seen = 0
        with trio.fail_after(seconds):
            while True:
                events = await self.call("sock.events", h=self.handle, since=seen)
                for event in events:
                    if match(event):
                        return dict(event)
                seen += len(events)
                await trio.sleep(0.05)


async def link_baileys(harness: Any, http: httpx.AsyncClient, sandbox: Sandbox, phone: str) -> Baileys:
    handle = await trio.to_thread.run_sync(
        functools.partial(harness.call, "sock.create", version="v6", url=sandbox.url)
    )
    baileys = Baileys(harness, handle)
    qr = await baileys.wait_event(lambda e: e["type"] == "connection.update" and bool(e.get("qr")))
    await control(http, sandbox, f"/accounts/{phone}/scan", {"qr": qr["qr"]})
    closed = await baileys.wait_event(
        lambda e: e["type"] == "connection.update" and e.get("connection") == "close"
    )
    await baileys.wait_event(
        lambda e: e["n"] > closed["n"] and e["type"] == "connection.update" and e.get("connection") == "open"
    )
    return baileys


async def baileys_idle(http: httpx.AsyncClient, sandbox: Sandbox, count: int, first: int) -> float:
    """MiB of Node RSS per connected idle Baileys 6 socket: ``count`` sockets linked in a fresh harness
    process (to accounts ``1555200nnnn`` from ``first``), RSS after minus RSS before, over ``count``."""
    from tests.interop.harness import Harness

    with Harness(timeout=180) as harness:
        before = (await trio.to_thread.run_sync(harness.call, "bench.usage"))["rss"]
        socks = []
        for i in range(first, first + count):
            phone = f"1555200{i:04d}"
            await control(http, sandbox, "/accounts", {"phone": phone})
            socks.append(await link_baileys(harness, http, sandbox, phone))
        await trio.sleep(1.0)
        after = (await trio.to_thread.run_sync(harness.call, "bench.usage"))["rss"]
        for sock in socks:
            await sock.call("sock.end", h=sock.handle)
    return float(after - before) / count / MiB


async def baileys_receive(baileys: Baileys, sandbox: Sandbox, phone: str, count: int) -> tuple[float, float]:
    await baileys.call("bench.receiveStart", h=baileys.handle)
    process = await trio.lowlevel.open_process(writer_command(sandbox, phone, count))
    result = await baileys.call("bench.receiveWait", h=baileys.handle, count=count, timeoutMs=120_000)
    await process.wait()
    if result["got"] < count:
        raise RuntimeError(f"Baileys received {result['got']} of {count} texts")
    return float(result["cpuUs"]) / count / 1000, float(result["cpuSystemUs"]) / count / 1000


# ------------------------------------------------------------------------------------ hub sessions


async def link_hub_sessions(http: httpx.AsyncClient, sandbox: Sandbox, db_path: Path, count: int) -> None:
    """``count`` hub sessions linked by QR to accounts of their own, saved in the SQLite file ``db_path``."""
    from waporta.sessions import open_sessions
    from waporta.storage import Database

    for i in range(count):
        await control(http, sandbox, "/accounts", {"phone": f"{HUB_PREFIX}{i:04d}"})
    db = await Database.open(db_path)
    try:
        async with open_sessions(db, sandbox.settings()) as sessions:
            limit = trio.Semaphore(8)

            async def link(i: int) -> None:
                async with limit:
                    session = await sessions.create(f"s{i:04d}")
                    with trio.fail_after(60):
                        await session.wait_status("qr")
                        assert session.qr is not None
                        await control(
                            http, sandbox, f"/accounts/{HUB_PREFIX}{i:04d}/scan", {"qr": session.qr}
                        )
                        await session.wait_status("connected")

            async with trio.open_nursery() as nursery:
                for i in range(count):
                    nursery.start_soon(link, i)
    finally:
        await db.aclose()


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def idle_child(url: str, root: str, db_path: str, count: int) -> dict[str, float]:
    """In a fresh process: log ``count`` saved sessions in as plain clients; RSS before and after."""
    import gc

    from waporta.storage import Database
    from waporta.storage.stores import load_all_credentials

    db = await Database.open(Path(db_path))
    saved = list((await load_all_credentials(db)).values())[:count]
    await db.aclose()
    settings = ClientSettings(url=url, noise_root_public_key=bytes.fromhex(root))
    credentials = [Credentials.from_dict(data) for data in saved]
    gc.collect()
    before = rss()
    async with trio.open_nursery() as nursery:
        clients = []
        for creds in credentials:
            ours = Ours(Client(settings, creds, MemoryClientStore(creds)))
            clients.append(ours)
            nursery.start_soon(ours.client.run)
            nursery.start_soon(ours.drain_events)
        with trio.fail_after(60):
            for ours in clients:
                await ours.connected.wait()
        await trio.sleep(1.0)
        gc.collect()
        after = rss()
        nursery.cancel_scope.cancel()
    return {"sessions": len(clients), "before": before, "after": after}


async def restore_child(url: str, root: str, db_path: str) -> dict[str, float]:
    """In a fresh process: the hub's supervisor restores every saved session; seconds until all connected."""
    import gc

    from waporta.sessions import open_sessions
    from waporta.storage import Database

    settings = ClientSettings(url=url, noise_root_public_key=bytes.fromhex(root))
    gc.collect()
    before = rss()
    t0, cpu0 = time.perf_counter(), time.process_time()
    db = await Database.open(Path(db_path))
    try:
        async with open_sessions(db, settings) as sessions:
            with trio.fail_after(60):
                for session in sessions.all():
                    await session.wait_status("connected")
            seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            await trio.sleep(1.0)
            gc.collect()
            count = len(sessions.all())
            return {
                "sessions": count,
                "seconds": seconds,
                "cpu": cpu,
                "rss_per_session": (rss() - before) / count,
            }
    finally:
        await db.aclose()


def run_child(args: list[str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, str(SCRIPT), *args], check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


async def writer(control_url: str, phone: str, to: str, count: int) -> None:
    """Child process: ``phone``'s simulated phone sends ``count`` texts to ``to`` (8 requests at a time)."""
    limit = trio.Semaphore(8)
    async with httpx.AsyncClient(timeout=60) as http, trio.open_nursery() as nursery:

        async def one(i: int) -> None:
            async with limit:
                response = await http.post(
                    f"{control_url}/accounts/{phone}/send", json={"to": to, "text": f"in {i}"}
                )
                response.raise_for_status()

        for i in range(count):
            nursery.start_soon(one, i)


# ------------------------------------------------------------------------------------ the REST API

API_KEY = "bench-api-key-0123456789"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (from /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gateway_child(profile_out: str, config: str) -> int:
    """Child process: ``waporta serve --config config`` under cProfile (CPU time, main thread); on exit
    the stats go to ``profile_out`` and the process/main-thread CPU split to ``profile_out.json``."""
    from waporta.cli import main as waporta_main

    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        return waporta_main(["serve", "--config", config, "--log-level", "error"])
    finally:
        profiler.disable()
        profiler.dump_stats(profile_out)
        split = {"process": time.process_time(), "main_thread": time.thread_time()}
        Path(profile_out + ".json").write_text(json.dumps(split), encoding="utf-8")


def gateway_profile(profile_out: Path) -> str:
    out = io.StringIO()
    pstats.Stats(str(profile_out), stream=out).sort_stats("tottime").print_stats(40)
    split = Path(str(profile_out) + ".json").read_text(encoding="utf-8")
    return f"gateway profile (whole run; CPU seconds {split}):\n{out.getvalue()}"


async def rest_send(
    http: httpx.AsyncClient, sandbox: Sandbox, tmp: Path, count: int, inflight: int, *, profile: bool = False
) -> dict[str, float] | None:
    """``count`` texts through ``POST /api/whatsapp/send/text`` of a gateway (``waporta serve``, child
    process) whose session is linked to ``REST_FROM``, ``inflight`` requests at a time: texts/s from the
    first request to the last answer, and the gateway's CPU per text. None when the route is missing."""
    config = tmp / "waporta.toml"
    config.write_text(
        f"""[server]
host = "127.0.0.1"
port = {free_port()}
graceful_timeout = 0.5
[storage]
data_dir = "{tmp / "gateway"}"
[dashboard]
password = "bench-password"
[api]
default_key = "{API_KEY}"
[whatsapp]
websocket_url = "{sandbox.url}"
noise_root_public_key = "{sandbox.root_public_key.hex()}"
""",
        encoding="utf-8",
    )
    port = int(config.read_text().split("port = ", 1)[1].split()[0])
    base = f"http://127.0.0.1:{port}/api/whatsapp"
    headers = {"X-API-Key": API_KEY}
    command = [sys.executable, "-m", "waporta", "serve", "--config", str(config), "--log-level", "error"]
    profile_out = tmp / "gateway.prof"
    if profile:
        command = [
            sys.executable,
            str(SCRIPT),
            "--gateway-child",
            str(profile_out),
            str(config),
        ]
    process = await trio.lowlevel.open_process(command, cwd=str(ROOT), stdout=subprocess.DEVNULL)
    try:
        with trio.fail_after(30):
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(base + "/sessions", headers=headers)).status_code == 200:
                        break
                await trio.sleep(0.1)
            await http.post(base + "/sessions/bench", headers=headers)
            while True:
                qr = await http.get(base + "/sessions/bench/qr", headers=headers)
                if qr.status_code == 200 and qr.json().get("qr"):
                    break
                await trio.sleep(0.05)
            await control(http, sandbox, f"/accounts/{REST_FROM}/scan", {"qr": qr.json()["qr"]})
            while True:
                if (await http.get(base + "/sessions/bench", headers=headers)).json()[
                    "status"
                ] == "connected":
                    break
                await trio.sleep(0.05)
        texts: list[int] = []

        async def send(i: int) -> None:
            response = await http.post(
                base + "/send/text",
                headers=headers,
                json={"sessionId": "bench", "to": REST_TO, "text": f"rest {i}"},
            )
            texts.append(response.status_code)

        await send(-1)
        if texts == [404]:
            return None
        for i in range(10):  # warm-up
            await send(-2 - i)
        # The load: bench/rest_path.py's raw HTTP/1.1 client in a child process, ``inflight`` keep-alive
        # connections each sending its next request when the previous answer arrived (httpx here would
        # reconnect for most requests, its pool keeping 20 idle connections, and spend ~10 ms of CPU a
        # request on the same two cores: the figure would be the client's and connection churn's).
        body = json.dumps({"sessionId": "bench", "to": REST_TO, "text": "rest bench"}).encode()
        head = [
            "POST /api/whatsapp/send/text HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            f"X-API-Key: {API_KEY}",
        ]
        request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        client = [sys.executable, str(ROOT / "bench" / "rest_path.py"), "--client"]
        client += [str(port), str(count), str(inflight), request.hex(), "0"]
        cpu0 = process_cpu(process.pid)
        done = await trio.run_process(client, cwd=str(ROOT), capture_stdout=True)
        cpu = process_cpu(process.pid) - cpu0
        result = json.loads(done.stdout.decode().strip().splitlines()[-1])
        sent = int(result["statuses"].get("200", 0))
        if sent != count:
            raise RuntimeError(f"REST sends: {sent} of {count} answered 200 ({result['statuses']})")
        return {"rate": sent / float(result["seconds"]), "cpu_ms": cpu / sent * 1000}
    finally:
        process.terminate()
        with trio.move_on_after(20):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
        if profile and profile_out.exists():
            print(gateway_profile(profile_out), file=sys.stderr)


# ------------------------------------------------------------------------------------ the report


class Figures(dict[str, float]):
    """Figures by name; each is also printed to stderr as soon as it is measured (a later failure keeps it)."""

    def __setitem__(self, key: str, value: float) -> None:
        print(f"    {key} = {value:.4g}", file=sys.stderr)
        super().__setitem__(key, value)

    def update(self, *args: Any, **values: float) -> None:
        for key, value in dict(*args, **values).items():
            self[key] = value


@dataclass
class Row:
    name: str
    unit: str
    ours: float | None
    baileys: float | None
    target: str
    met: bool | None
    #: Whether a higher figure is better (for the ratio's reading).
    higher_better: bool = True


def marginal(per_session: dict[int, float]) -> tuple[str, float] | None:
    """MiB per session between the two largest counts of ``{count: MiB per session}`` (None with fewer
    than two): what one more session costs once the first one paid for the process's one-time growth."""
    if len(per_session) < 2:
        return None
    low, high = sorted(per_session)[-2:]
    total_low, total_high = per_session[low] * low, per_session[high] * high
    return f"{low}->{high}", (total_high - total_low) / (high - low)


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def table(rows: list[Row]) -> str:
    lines = [
        f"{'figure':52} {'waproto':>12} {'Baileys 6':>12} {'ratio':>7}  {'target':22} met",
        "-" * 118,
    ]
    for row in rows:
        ours = "-" if row.ours is None else f"{row.ours:,.3f}" if row.ours < 10 else f"{row.ours:,.0f}"
        theirs = (
            "-"
            if row.baileys is None
            else f"{row.baileys:,.3f}"
            if row.baileys < 10
            else f"{row.baileys:,.0f}"
        )
        ratio = "-"
        if row.ours and row.baileys:
            ratio = f"{row.ours / row.baileys:.2f}x"
        met = "-" if row.met is None else "yes" if row.met else "NO"
        lines.append(
            f"{row.name + ' (' + row.unit + ')':52} {ours:>12} {theirs:>12} {ratio:>7}  {row.target:22} {met}"
        )
    return "\n".join(lines)


async def bench(options: argparse.Namespace) -> list[Row]:
    harness: Any = None
    if options.baileys:
        from tests.interop.harness import Harness, unavailable_reason

        reason = unavailable_reason()
        if reason is not None:
            raise SystemExit(f"Baileys figures need the harness: {reason} (or pass --no-baileys)")
        harness = Harness(timeout=180)
    profile, receive_profile = Profile(options.profile), Profile(options.profile)
    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory(prefix="waporta-e2e-") as tmp,
        sandbox_process(Path(tmp) / "sandbox", persistent=options.persistent_sandbox) as sandbox,
    ):
        async with httpx.AsyncClient(timeout=60) as http:
            for phone in (OURS, OURS_TO, THEIRS, THEIRS_TO, WRITER, REST_FROM, REST_TO):
                await control(http, sandbox, "/accounts", {"phone": phone})
            figures: dict[str, dict[str, float]] = {"ours": Figures(), "baileys": Figures()}
            baileys_rss: dict[int, float] = {}
            say("linking our client ...")
            async with linked_client(http, sandbox, OURS) as ours:
                rounds: list[dict[str, float]] = []
                for r in range(options.rounds):
                    say(f"our client: pipelined sends, round {r + 1} of {options.rounds} ...")
                    sandbox0 = process_cpu(sandbox.process.pid)
                    sent = await ours_send_pipelined(
                        ours, user(OURS_TO), options.messages, options.inflight, profile
                    )
                    sent["sandbox_ms"] = (
                        (process_cpu(sandbox.process.pid) - sandbox0) / options.messages * 1000
                    )
                    print(f"    {sent}", file=sys.stderr)
                    rounds.append(sent)
                figures["ours"].update(best_send(rounds))
                say("our client: paced sends ...")
                latencies = await ours_send_paced(ours, user(OURS_TO), 50, options.paced_seconds)
                figures["ours"].update(p50=percentile(latencies, 50), p99=percentile(latencies, 99))
                say("our client: receiving ...")
                # The writer's first (prekey) messages: not measured.
                await ours_receive(ours, sandbox, OURS, 5, Profile(False))
                receives = []
                for r in range(options.rounds):
                    say(f"our client: receiving, round {r + 1} of {options.rounds} ...")
                    receives.append(
                        await ours_receive(ours, sandbox, OURS, options.received, receive_profile)
                    )
                    print(f"    {receives[-1]}", file=sys.stderr)
                received = min(receives)
                figures["ours"].update(receive_cpu=received[0], receive_sys=received[1])
            if harness is not None:
                say("linking Baileys 6 ...")
                baileys = await link_baileys(harness, http, sandbox, THEIRS)
                to = f"{THEIRS_TO}@s.whatsapp.net"
                await baileys.call(
                    "bench.send", h=baileys.handle, jid=to, count=10, inflight=1, prefix="warm-up"
                )
                rounds = []
                for r in range(options.rounds):
                    say(f"Baileys: pipelined sends, round {r + 1} of {options.rounds} ...")
                    sandbox0 = process_cpu(sandbox.process.pid)
                    result = await baileys.call(
                        "bench.send",
                        h=baileys.handle,
                        jid=to,
                        count=options.messages,
                        inflight=options.inflight,
                    )
                    rounds.append(
                        {
                            "rate": result["acked"] / (result["wallMs"] / 1000),
                            "cpu_ms": result["cpuUs"] / result["acked"] / 1000,
                            "sys_ms": result["cpuSystemUs"] / result["acked"] / 1000,
                            "sandbox_ms": (process_cpu(sandbox.process.pid) - sandbox0)
                            / options.messages
                            * 1000,
                        }
                    )
                    print(f"    {rounds[-1]}", file=sys.stderr)
                figures["baileys"].update(best_send(rounds))
                say("Baileys: paced sends ...")
                count = max(1, int(50 * options.paced_seconds))
                result = await baileys.call("bench.send", h=baileys.handle, jid=to, count=count, rate=50)
                figures["baileys"].update(
                    p50=percentile(result["latenciesMs"], 50), p99=percentile(result["latenciesMs"], 99)
                )
                say("Baileys: receiving ...")
                await baileys_receive(baileys, sandbox, THEIRS, 5)
                receives = []
                for r in range(options.rounds):
                    say(f"Baileys: receiving, round {r + 1} of {options.rounds} ...")
                    receives.append(await baileys_receive(baileys, sandbox, THEIRS, options.received))
                    print(f"    {receives[-1]}", file=sys.stderr)
                received = min(receives)
                figures["baileys"].update(receive_cpu=received[0], receive_sys=received[1])
                await baileys.call("sock.end", h=baileys.handle)
                first = 0
                for n in options.baileys_sessions:
                    say(f"Baileys: idle RSS with {n} sockets ...")
                    baileys_rss[n] = await baileys_idle(http, sandbox, n, first)
                    first += n
                    say(f"    {baileys_rss[n]:.3f} MiB per socket")
            say("REST: POST /send/text ...")
            rest = await rest_send(
                http, sandbox, Path(tmp), options.rest_messages, options.inflight, profile=options.profile
            )
            if rest is not None:
                figures["ours"].update(rest_rate=rest["rate"], rest_cpu=rest["cpu_ms"])
            db_path = Path(tmp) / "hub.db"
            most = max(options.sessions)
            say(f"linking {most} hub sessions ...")
            await link_hub_sessions(http, sandbox, db_path, most)
            root = sandbox.root_public_key.hex()
            idle: dict[int, float] = {}
            for n in options.sessions:
                say(f"idle RSS with {n} sessions ...")
                got = run_child(["--idle-child", sandbox.url, root, str(db_path), str(n)])
                idle[n] = (got["after"] - got["before"]) / got["sessions"] / MiB
                print(f"    {idle[n]:.3f} MiB per session", file=sys.stderr)
            say(f"restoring {most} sessions ...")
            sandbox0 = process_cpu(sandbox.process.pid)
            restored = run_child(["--restore-child", sandbox.url, root, str(db_path)])
            restored["sandbox_cpu"] = process_cpu(sandbox.process.pid) - sandbox0
            print(f"    {restored}", file=sys.stderr)
    if harness is not None:
        harness.close()

    o, b = figures["ours"], figures["baileys"]
    rows.append(
        Row(
            "send rate, pipelined, acked",
            "msg/s",
            o["send_rate"],
            b.get("send_rate"),
            ">= Baileys (~1,300)",
            o["send_rate"] >= b.get("send_rate", 1300),
        )
    )
    rows.append(
        Row(
            "CPU per sent text",
            "ms",
            o["send_cpu"],
            b.get("send_cpu"),
            "<= 0.8 ms",
            o["send_cpu"] <= 0.8,
            False,
        )
    )
    rows.append(
        Row("  CPU per sent text in the kernel", "ms", o["send_sys"], b.get("send_sys"), "-", None, False)
    )
    # What one core could send if the server cost nothing: the rate above is the sandbox's limit.
    ceiling = 1000 / o["send_cpu"]
    rows.append(
        Row(
            "  send ceiling of one core (1000 / CPU)",
            "msg/s",
            ceiling,
            None if "send_cpu" not in b else 1000 / b["send_cpu"],
            ">= 1,300 msg/s",
            ceiling >= 1300,
        )
    )
    rows.append(
        Row(
            "  sandbox CPU per text sent (the ceiling)",
            "ms",
            o["sandbox_cpu"],
            b.get("sandbox_cpu"),
            "-",
            None,
            False,
        )
    )
    rows.append(Row("send latency p50 at 50 msg/s", "ms", o["p50"], b.get("p50"), "-", None, False))
    rows.append(
        Row("send latency p99 at 50 msg/s", "ms", o["p99"], b.get("p99"), "<= 6 ms", o["p99"] <= 6, False)
    )
    rows.append(
        Row(
            "CPU per received text",
            "ms",
            o["receive_cpu"],
            b.get("receive_cpu"),
            "<= 0.25 ms",
            o["receive_cpu"] <= 0.25,
            False,
        )
    )
    rows.append(
        Row(
            "  CPU per received text in the kernel",
            "ms",
            o["receive_sys"],
            b.get("receive_sys"),
            "-",
            None,
            False,
        )
    )
    if "rest_rate" in o:
        rows.append(
            Row(
                "REST POST /send/text, pipelined",
                "msg/s",
                o["rest_rate"],
                None,
                ">= 1,000 msg/s",
                o["rest_rate"] >= 1000,
            )
        )
        rows.append(Row("  gateway CPU per REST text", "ms", o["rest_cpu"], None, "-", None, False))
    else:
        rows.append(Row("REST POST /send/text (route missing)", "msg/s", None, None, ">= 1,000 msg/s", None))
    for n in sorted(set(idle) | set(baileys_rss)):
        mib = idle.get(n)
        met = None if mib is None else mib <= 0.5
        rows.append(
            Row(
                f"RSS per idle session, {n} sessions",
                "MiB",
                mib,
                baileys_rss.get(n),
                "<= 0.5 MiB",
                met,
                False,
            )
        )
    # Per session beyond the smaller count: without the one-time costs of the first connection.
    ours_marginal, theirs_marginal = marginal(idle), marginal(baileys_rss)
    if ours_marginal is not None or theirs_marginal is not None:
        met = None if ours_marginal is None else ours_marginal[1] <= 0.5
        counts = "/".join(m[0] for m in (ours_marginal, theirs_marginal) if m is not None)
        rows.append(
            Row(
                f"RSS per additional idle session, {counts}",
                "MiB",
                None if ours_marginal is None else ours_marginal[1],
                None if theirs_marginal is None else theirs_marginal[1],
                "<= 0.5 MiB",
                met,
                False,
            )
        )
    rows.append(
        Row(
            f"restore + reconnect {restored['sessions']:.0f} sessions",
            "s",
            restored["seconds"],
            None,
            "< 1 s (100 sessions)",
            restored["seconds"] < 1 if restored["sessions"] >= 100 else None,
            False,
        )
    )
    rows.append(Row("  CPU of the restore", "s", restored["cpu"], None, "-", None, False))
    rows.append(Row("  sandbox CPU meanwhile", "s", restored["sandbox_cpu"], None, "-", None, False))
    rows.append(
        Row(
            f"hub RSS per restored session, {restored['sessions']:.0f}",
            "MiB",
            restored["rss_per_session"] / MiB,
            None,
            "-",
            None,
            False,
        )
    )
    if options.profile:
        print(f"our client, pipelined sends:\n{profile.report()}", file=sys.stderr)
        print(f"our client, receiving:\n{receive_profile.report()}", file=sys.stderr)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few messages and sessions (a smoke run)")
    parser.add_argument("--messages", type=int, default=3000, help="texts in the pipelined send run")
    parser.add_argument("--inflight", type=int, default=100, help="sends in flight at once")
    parser.add_argument("--paced-seconds", type=float, default=10.0, help="length of the 50 msg/s run")
    parser.add_argument("--rest-messages", type=int, default=2000, help="texts sent through the REST API")
    parser.add_argument("--received", type=int, default=2000, help="texts received by each client")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of the pipelined-send and receive runs (the best counts)",
    )
    parser.add_argument(
        "--sessions", default="1,10,100", help="idle session counts for RSS (largest: restore)"
    )
    parser.add_argument(
        "--baileys-sessions", default="1,10", help="idle Baileys socket counts for RSS (empty: none)"
    )
    parser.add_argument("--no-baileys", dest="baileys", action="store_false", help="our figures only")
    parser.add_argument("--profile", action="store_true", help="cProfile our send and receive runs")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    parser.add_argument(
        "--persistent-sandbox", action="store_true", help="run `waporta sandbox` with a state directory"
    )
    parser.add_argument("--sandbox-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--writer", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--gateway-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--idle-child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--restore-child", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.sandbox_child:
        trio.run(sandbox_child)
        return 0
    if options.gateway_child:
        return gateway_child(*options.gateway_child)
    if options.writer:
        control_url, phone, to, count = options.writer
        trio.run(writer, control_url, phone, to, int(count))
        return 0
    if options.idle_child:
        url, root, db_path, count = options.idle_child
        print(json.dumps(trio.run(idle_child, url, root, db_path, int(count))))
        return 0
    if options.restore_child:
        print(json.dumps(trio.run(restore_child, *options.restore_child)))
        return 0
    if options.quick:
        options.messages, options.paced_seconds, options.received = 30, 0.5, 10
        options.rest_messages = 20
        options.rounds = 1
        options.sessions = "1"
        options.baileys_sessions = ""
    options.sessions = sorted({int(n) for n in options.sessions.split(",")})
    options.baileys_sessions = sorted({int(n) for n in options.baileys_sessions.split(",") if n.strip()})
    started = time.perf_counter()
    rows = trio.run(bench, options)
    print(table(rows))
    print(
        f"({time.perf_counter() - started:.1f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    if options.json:
        print(json.dumps({row.name: {"ours": row.ours, "baileys": row.baileys} for row in rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
