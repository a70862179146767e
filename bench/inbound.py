"""What the hub's inbound pipeline (``waporta.messages.InboundQueue``) costs per received message.

Usage (from the repository root)::

    .venv/bin/python bench/inbound.py [--messages 3000] [--sessions 10] [--rounds 3] [--baseline REV]

What is measured, for the current ``waporta.messages`` and for the ``waporta/messages.py`` at git revision
``--baseline`` (by default the newest commit whose ``InboundQueue`` still reads every message back
from SQLite and marks it handled one by one: the "before" figure), each in a fresh database file in a
temporary directory, the hook a no-op (a plugin's own cost is not the pipeline's):

- **1 session**: one read loop receiving ``--messages`` texts one after another as a session does:
  ``InboundMessage.from_received`` then ``await queue.accept(message)`` (the commit the delivery receipt
  waits for), the queue's task handing them to the hook meanwhile; until everything is handed on. CPU µs
  (``process_time``: every thread, SQLite's worker threads included) and wall µs per message, and the
  mean wall µs of ``accept`` alone (how long the read loop waits before it may send the receipt);
- **N sessions**: ``--sessions`` such read loops at once on one database (their commits share
  transactions), the same messages in all; CPU and wall µs per message;
- **replay**: ``--messages`` committed rows nobody handed on (as after a crash) handed on by a new
  queue's task; CPU and wall µs per message;
- **build**: ``InboundMessage.from_received`` alone (classification, JSON summary, Baileys-shaped raw),
  CPU µs per message, the part every variant shares.

The best of ``--rounds`` rounds counts. This is a measuring script, not a test.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root on the path, for running as ``bench/inbound.py``.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

import trio  # noqa: E402

import waporta.messages as current_messages  # noqa: E402
from waporta.storage import Database  # noqa: E402
from waproto.client.messaging import ReceivedMessage  # noqa: E402
from waproto.jid import JID  # noqa: E402
from waproto.proto import Message  # noqa: E402

SOURCE = "waporta/messages.py"  # a single module until the package waporta/messages/ replaced it
#: In InboundQueue since it hands committed messages over in memory.
MARKER = "_replay_until"
ME = JID("15550001111", "s.whatsapp.net", device=7)
Figures = dict[str, float]


def git_show(rev: str) -> str:
    """messages.py at ``rev`` ("" where it is not a single file: the package replaced it)."""
    shown = subprocess.run(["git", "show", f"{rev}:{SOURCE}"], cwd=ROOT, capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else ""


def find_baseline() -> str:
    """The newest commit whose messages.py reads every message back (no in-memory hand-over)."""
    revs = subprocess.run(
        ["git", "log", "--format=%H", "-n", "50", "--", SOURCE], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    for rev in revs:
        text = git_show(rev)
        if text and MARKER not in text:
            return rev
    raise SystemExit("no commit of messages.py without the in-memory hand-over among the last 50")


def load_baseline(rev: str, where: Path) -> ModuleType:
    """Import messages.py as it was at ``rev`` (its imports are unchanged modules)."""
    path = where / "messages_baseline.py"
    path.write_text(git_show(rev))
    spec = importlib.util.spec_from_file_location("waporta_messages_baseline", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def received(session: int, n: int) -> ReceivedMessage:
    peer = JID(f"1555{session:03d}{n % 50:04d}", "s.whatsapp.net")
    text = f"message {n} of a benchmark, about as long as a chat line"
    return ReceivedMessage(
        id=f"3EB0{session:04d}{n:012d}",
        chat=peer,
        sender=peer.with_device(0),
        timestamp=1_760_000_000 + n,
        from_me=False,
        kind="text",
        text=text,
        message=Message(conversation=text),
        push_name="Bench",
    )


async def no_op(session_id: str, message: Any) -> None:
    return None


async def receive(module: ModuleType, path: Path, sessions: int, messages: int) -> Figures:
    """``sessions`` read loops of ``messages`` texts each, one after another per loop; all handed on."""
    db = await Database.open(path)
    accept_wall = 0.0
    try:
        queues = [module.InboundQueue(db, f"s{i}", no_op) for i in range(sessions)]
        items = [[received(i, n) for n in range(messages)] for i in range(sessions)]

        async def read_loop(index: int) -> None:
            nonlocal accept_wall
            queue = queues[index]
            for item in items[index]:
                message = module.InboundMessage.from_received(queue.session_id, item, me=ME)
                start = time.perf_counter()
                await queue.accept(message)
                accept_wall += time.perf_counter() - start

        async with trio.open_nursery() as nursery:
            for queue in queues:
                await nursery.start(queue.run)
            cpu, wall = time.process_time(), time.perf_counter()
            async with trio.open_nursery() as loops:
                for index in range(sessions):
                    loops.start_soon(read_loop, index)
            for queue in queues:
                await queue.drained()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            nursery.cancel_scope.cancel()
    finally:
        await db.aclose()
    total = sessions * messages
    return {"cpu": cpu / total * 1e6, "wall": wall / total * 1e6, "accept wall": accept_wall / total * 1e6}


async def replay(module: ModuleType, path: Path, messages: int) -> Figures:
    """``messages`` committed, unhandled rows handed on by a new queue's task."""
    db = await Database.open(path)
    try:
        for n in range(messages):
            message = module.InboundMessage.from_received("s0", received(0, n), me=ME)
            await module.store_inbound(db, message, received_at=0.0)
        queue = module.InboundQueue(db, "s0", no_op)
        async with trio.open_nursery() as nursery:
            cpu, wall = time.process_time(), time.perf_counter()
            await nursery.start(queue.run)
            await queue.drained()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            nursery.cancel_scope.cancel()
    finally:
        await db.aclose()
    return {"cpu": cpu / messages * 1e6, "wall": wall / messages * 1e6}


def build(messages: int) -> float:
    items = [received(0, n) for n in range(messages)]
    cpu = time.process_time()
    for item in items:
        current_messages.InboundMessage.from_received("s0", item, me=ME)
    return (time.process_time() - cpu) / messages * 1e6


def best(rounds: list[Figures]) -> Figures:
    return {key: min(r[key] for r in rounds) for key in rounds[0]}


async def measure(module: ModuleType, where: Path, args: argparse.Namespace) -> dict[str, Figures]:
    one, many, again = [], [], []
    for r in range(args.rounds):
        one.append(await receive(module, where / f"one{r}.db", 1, args.messages))
        many.append(await receive(module, where / f"many{r}.db", args.sessions, args.messages // args.sessions))
        again.append(await replay(module, where / f"replay{r}.db", args.messages))
    return {"1 session": best(one), f"{args.sessions} sessions": best(many), "replay": best(again)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", help="git revision of the 'before' messages.py (default: found)")
    args = parser.parse_args()
    rev = args.baseline or find_baseline()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        baseline = load_baseline(rev, where)
        (where / "before").mkdir()
        (where / "after").mkdir()
        before = trio.run(measure, baseline, where / "before", args)
        after = trio.run(measure, current_messages, where / "after", args)
    print(f"InboundQueue per received message, µs (best of {args.rounds}); before = {rev[:10]}")
    print(f"{'':26}{'before':>10}{'after':>10}")
    for case, figures in after.items():
        for key, value in figures.items():
            print(f"{case + ' ' + key:26}{before[case][key]:10.0f}{value:10.0f}")
    print(f"{'build (from_received) cpu':26}{'':10}{build(args.messages):10.0f}")


if __name__ == "__main__":
    main()
