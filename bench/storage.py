"""Throughput of the hub's SQLite writer (``waporta.storage.Database``) and what it costs a Signal encrypt.

Usage (from the repository root)::

    .venv/bin/python bench/storage.py [--writes 5000] [--messages 2000] [--rounds 3] [--baseline REV]

What is measured, for the current ``waporta/storage/database.py`` and for the version at git revision
``--baseline`` (by default the newest commit whose ``database.py`` does not group-commit, so the "before"
figure of the group commit change), each in a fresh database file in a temporary directory:

- **writes/s, 1 writer**: one task awaiting ``db.write`` again and again, each a single-row
  ``INSERT OR REPLACE`` of a 300-byte blob (about a Signal session record);
- **writes/s, 50 writers**: the same writes from 50 concurrent tasks;
- **encrypt, 1 peer**: ``waproto.signal.cipher.encrypt`` to one established peer, one after another,
  with the sender's Signal state in ``SqliteSignalStore`` (its cache on, as in the hub: one session
  write per message); CPU µs (``process_time``, all threads) and wall µs per message;
- **encrypt, 50 peers at once**: one message encrypted to 50 established peers (devices) by 50
  concurrent tasks, as a fan-out to many devices can be; per message;
- the same two encrypt figures with ``MemorySignalStore`` (no database), for reference.

The best of ``--rounds`` rounds counts. This is a measuring script, not a test.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root on the path, for running as ``bench/storage.py``.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import secrets  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

import trio  # noqa: E402

import waporta.storage.database as current_database  # noqa: E402
from waporta.storage.stores import SqliteSignalStore  # noqa: E402
from waproto.signal.address import ProtocolAddress  # noqa: E402
from waproto.signal.cipher import decrypt_message, decrypt_pre_key_message, encrypt  # noqa: E402
from waproto.signal.keys import (  # noqa: E402
    PreKeyBundle,
    generate_identity_key_pair,
    generate_registration_id,
    generate_signed_pre_key,
)
from waproto.signal.memory import MemorySignalStore  # noqa: E402
from waproto.signal.session import process_pre_key_bundle  # noqa: E402

DB_SOURCE = "waporta/storage/database.py"
CONCURRENCY = 50
Figures = dict[str, float]


def find_baseline() -> str:
    """The newest commit whose database.py has no group commit (no ``_run_batch``)."""
    revs = subprocess.run(
        ["git", "log", "--format=%H", "-n", "50", "--", DB_SOURCE],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for rev in revs:
        if "_run_batch" not in git_show(rev):
            return rev
    raise SystemExit("no commit without group commit among the last 50 that touched database.py")


def git_show(rev: str) -> str:
    return subprocess.run(
        ["git", "show", f"{rev}:{DB_SOURCE}"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def load_baseline(rev: str, where: Path) -> ModuleType:
    """Import database.py as it was at ``rev`` (it imports only waporta.storage.migrate, unchanged)."""
    path = where / "database_baseline.py"
    path.write_text(git_show(rev))
    spec = importlib.util.spec_from_file_location("waporta_database_baseline", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def blob_write(key: int, blob: bytes) -> Callable[[Any], object]:
    return lambda conn: conn.execute(
        "INSERT OR REPLACE INTO signal_sessions (session_id, name, device_id, record) VALUES (?, ?, ?, ?)",
        ("bench", f"peer{key % 500}", 0, blob),
    )


async def write_rates(database: ModuleType, path: Path, writes: int) -> Figures:
    db = await database.Database.open(path)
    blob = secrets.token_bytes(300)
    try:
        start = time.perf_counter()
        for n in range(writes):
            await db.write(blob_write(n, blob))
        single = writes / (time.perf_counter() - start)

        async def producer(offset: int) -> None:
            for n in range(offset, writes, CONCURRENCY):
                await db.write(blob_write(n, blob))

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for offset in range(CONCURRENCY):
                nursery.start_soon(producer, offset)
        many = writes / (time.perf_counter() - start)
    finally:
        await db.aclose()
    return {"1 writer": single, f"{CONCURRENCY} writers": many}


class Peers:
    """A sender (memory or SQLite store) with answered sessions to ``count`` peers (memory stores)."""

    def __init__(self, sender: Any, count: int) -> None:
        self.sender = sender
        self.me = ProtocolAddress("me", 0)
        self.peers: list[tuple[ProtocolAddress, MemorySignalStore]] = []
        for i in range(count):
            identity = generate_identity_key_pair(secrets.token_bytes)
            store = MemorySignalStore(identity, generate_registration_id(secrets.token_bytes))
            store.signed_pre_keys[1] = generate_signed_pre_key(identity, 1, secrets.token_bytes)
            self.peers.append((ProtocolAddress(f"peer{i}", 0), store))

    async def establish(self) -> None:
        rng = secrets.token_bytes
        for address, peer in self.peers:
            spk = peer.signed_pre_keys[1]
            bundle = PreKeyBundle(
                peer.registration_id, 0, None, None, 1, spk.key_pair.public, spk.signature, peer.identity.public
            )
            await process_pre_key_bundle(
                address, bundle, identity_store=self.sender, session_store=self.sender, rng=rng
            )
            first = await encrypt(address, b"hello", identity_store=self.sender, session_store=self.sender)
            await decrypt_pre_key_message(
                self.me,
                first.body,
                identity_store=peer,
                session_store=peer,
                pre_key_store=peer,
                signed_pre_key_store=peer,
                rng=rng,
            )
            reply = await encrypt(self.me, b"hi", identity_store=peer, session_store=peer)
            await decrypt_message(
                address, reply.body, identity_store=self.sender, session_store=self.sender, rng=rng
            )


async def encrypt_costs(make_sender: Callable[[], Awaitable[tuple[Any, Any]]], messages: int) -> Figures:
    """CPU and wall µs per encrypted message, one peer in sequence and 50 peers at once."""
    sender, close = await make_sender()
    plaintext = bytes(64)
    try:
        peers = Peers(sender, CONCURRENCY)
        await peers.establish()
        one = peers.peers[0][0]
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(messages):
            await encrypt(one, plaintext, identity_store=sender, session_store=sender)
        figures = {
            "1 peer cpu": (time.process_time() - cpu) / messages * 1e6,
            "1 peer wall": (time.perf_counter() - wall) / messages * 1e6,
        }

        async def to(address: ProtocolAddress) -> None:
            await encrypt(address, plaintext, identity_store=sender, session_store=sender)

        rounds = max(1, messages // CONCURRENCY)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(rounds):
            async with trio.open_nursery() as nursery:
                for address, _peer in peers.peers:
                    nursery.start_soon(to, address)
        sent = rounds * CONCURRENCY
        figures[f"{CONCURRENCY} peers cpu"] = (time.process_time() - cpu) / sent * 1e6
        figures[f"{CONCURRENCY} peers wall"] = (time.perf_counter() - wall) / sent * 1e6
    finally:
        await close()
    return figures


def sqlite_sender(database: ModuleType, path: Path) -> Callable[[], Awaitable[tuple[Any, Any]]]:
    async def make() -> tuple[Any, Any]:
        db = await database.Database.open(path)
        identity = generate_identity_key_pair(secrets.token_bytes)
        store = SqliteSignalStore(db, "bench", identity, generate_registration_id(secrets.token_bytes))
        return store, db.aclose

    return make


async def memory_sender() -> tuple[Any, Any]:
    identity = generate_identity_key_pair(secrets.token_bytes)

    async def nothing() -> None:
        return None

    return MemorySignalStore(identity, generate_registration_id(secrets.token_bytes)), nothing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--writes", type=int, default=5000, help="writes per write figure")
    parser.add_argument("--messages", type=int, default=2000, help="messages per encrypt figure")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best one counts")
    parser.add_argument("--baseline", help="git revision of the 'before' database.py (default: see above)")
    args = parser.parse_args(argv)

    baseline = args.baseline or find_baseline()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        sides = {f"before ({baseline[:10]})": load_baseline(baseline, where), "now": current_database}
        writes: dict[str, Figures] = {}
        costs: dict[str, Figures] = {}

        def keep(table: dict[str, Figures], side: str, figures: Figures, *, higher: bool) -> None:
            best = table.setdefault(side, {})
            for key, value in figures.items():
                if key not in best or (value > best[key] if higher else value < best[key]):
                    best[key] = value

        for round_ in range(args.rounds):
            for n, (side, module) in enumerate(sides.items()):
                path = where / f"w{round_}-{n}.db"
                keep(writes, side, trio.run(write_rates, module, path, args.writes), higher=True)
                path = where / f"e{round_}-{n}.db"
                keep(costs, side, trio.run(encrypt_costs, sqlite_sender(module, path), args.messages), higher=False)
            keep(costs, "memory store", trio.run(encrypt_costs, memory_sender, args.messages), higher=False)

    print(f"Database.write, single-row writes/s (best of {args.rounds} rounds, {args.writes} writes)")
    rate_columns = ("1 writer", f"{CONCURRENCY} writers")
    print(f"{'':28}" + "".join(f"{c:>14}" for c in rate_columns))
    for side, figures in writes.items():
        print(f"{side:28}" + "".join(f"{figures[c]:>14,.0f}" for c in rate_columns))
    print(f"\nSignal encrypt, µs per message (best of {args.rounds} rounds, sender's state in the store)")
    columns = ("1 peer cpu", "1 peer wall", f"{CONCURRENCY} peers cpu", f"{CONCURRENCY} peers wall")
    print(f"{'':28}" + "".join(f"{c:>16}" for c in columns))
    for side, figures in costs.items():
        label = side if side == "memory store" else f"SQLite, {side}"
        print(f"{label:28}" + "".join(f"{figures[c]:>16,.0f}" for c in columns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
