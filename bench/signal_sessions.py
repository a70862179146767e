"""Throughput of waproto's Signal 1:1 sessions and XEdDSA next to libsignal-node 6.0.0's, in the same run.

Usage (from the repository root, with the interop harness installed: ``npm ci`` in tests/interop)::

    .venv/bin/python bench/signal_sessions.py [--seconds 1.0] [--rounds 3] [--size 64]

What is measured, on both sides, between two parties with in-memory stores in one process:

- **ping-pong**: the parties take turns, so every message turns the DH ratchet (a key pair generated and
  two X25519 agreements per decryption);
- **chain**: one party sends, the other receives, along one symmetric chain (no DH at all);
- **sign** / **verify**: XEdDSA signatures (libsignal convention) over a 33-byte message.

A "round trip" is one encryption plus its decryption. Our side runs the real async operations under
``trio`` with ``MemorySignalStore``; the libsignal side (``tests/interop/ops/signal.mjs``,
``signal.bench``) uses ``SessionBuilder``/``SessionCipher`` with a storage that keeps record objects
as they are (its fastest setting; Baileys serialises them, which is slower). Each round times every
figure for ``--seconds`` of wall time; the best round counts. Rates are given per CPU second (Python's
``process_time``; Node's ``cpuUsage``, which includes its GC threads) and per wall second, since other
load on the machine skews either. This is a measuring script, not a test: it checks only that what was
decrypted is what was encrypted.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root on the path, for the harness under tests/.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import secrets  # noqa: E402
import time  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402

import trio  # noqa: E402

from tests.interop.harness import Harness, unavailable_reason  # noqa: E402
from waproto.signal.address import ProtocolAddress  # noqa: E402
from waproto.signal.cipher import decrypt_message, decrypt_pre_key_message, encrypt  # noqa: E402
from waproto.signal.curve import generate_key_pair, sign, verify  # noqa: E402
from waproto.signal.keys import (  # noqa: E402
    PreKeyBundle,
    generate_identity_key_pair,
    generate_registration_id,
    generate_signed_pre_key,
)
from waproto.signal.memory import MemorySignalStore  # noqa: E402
from waproto.signal.session import process_pre_key_bundle  # noqa: E402

Rates = dict[str, float]  # {"cpu": ..., "wall": ...}


async def rate(seconds: float, step: Callable[[int], Awaitable[object]]) -> Rates:
    """Calls of ``step`` per CPU second and per wall second, for ``seconds`` of wall time."""
    n = 0
    cpu, wall = time.process_time(), time.perf_counter()
    deadline = wall + seconds
    while time.perf_counter() < deadline:
        await step(n)
        n += 1
    return {"cpu": n / (time.process_time() - cpu), "wall": n / (time.perf_counter() - wall)}


class Pair:
    """Alice and Bob with an answered session (so both send ``msg``)."""

    def __init__(self) -> None:
        self.rng = secrets.token_bytes
        self.alice = self._store()
        self.bob = self._store()
        self.to_alice = ProtocolAddress("alice", 0)
        self.to_bob = ProtocolAddress("bob", 0)

    def _store(self) -> MemorySignalStore:
        identity = generate_identity_key_pair(self.rng)
        store = MemorySignalStore(identity, generate_registration_id(self.rng))
        store.signed_pre_keys[1] = generate_signed_pre_key(identity, 1, self.rng)
        return store

    async def establish(self) -> None:
        spk = self.bob.signed_pre_keys[1]
        bundle = PreKeyBundle(
            self.bob.registration_id,
            0,
            None,
            None,
            1,
            spk.key_pair.public,
            spk.signature,
            self.bob.identity.public,
        )
        await process_pre_key_bundle(
            self.to_bob, bundle, identity_store=self.alice, session_store=self.alice, rng=self.rng
        )
        first = await encrypt(self.to_bob, b"hello", identity_store=self.alice, session_store=self.alice)
        await decrypt_pre_key_message(
            self.to_alice,
            first.body,
            identity_store=self.bob,
            session_store=self.bob,
            pre_key_store=self.bob,
            signed_pre_key_store=self.bob,
            rng=self.rng,
        )
        await self.round_trip(from_alice=False, plaintext=b"hi")

    async def round_trip(self, *, from_alice: bool, plaintext: bytes) -> None:
        if from_alice:
            sender, receiver, to, back = self.alice, self.bob, self.to_bob, self.to_alice
        else:
            sender, receiver, to, back = self.bob, self.alice, self.to_alice, self.to_bob
        message = await encrypt(to, plaintext, identity_store=sender, session_store=sender)
        result = await decrypt_message(
            back, message.body, identity_store=receiver, session_store=receiver, rng=self.rng
        )
        if result.plaintext != plaintext:
            raise AssertionError("decrypted text differs")


async def ours(seconds: float, size: int) -> dict[str, Rates]:
    plaintext = bytes(size)
    pair = Pair()
    await pair.establish()

    async def ping_pong(n: int) -> None:
        await pair.round_trip(from_alice=n % 2 == 0, plaintext=plaintext)

    figures = {"ping-pong": await rate(seconds, ping_pong)}
    pair = Pair()
    await pair.establish()

    async def chain(n: int) -> None:
        await pair.round_trip(from_alice=True, plaintext=plaintext)

    figures["chain"] = await rate(seconds, chain)
    key = generate_key_pair(secrets.token_bytes)
    message = bytes([5]) * 33
    signature = sign(key.private, message)

    async def do_sign(n: int) -> None:
        sign(key.private, message)

    async def do_verify(n: int) -> None:
        if not verify(key.public, message, signature):
            raise AssertionError("signature does not verify")

    figures["sign"] = await rate(seconds, do_sign)
    figures["verify"] = await rate(seconds, do_verify)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=1.0, help="wall time per figure and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best one counts")
    parser.add_argument("--size", type=int, default=64, help="plaintext bytes per message")
    args = parser.parse_args(argv)

    reason = unavailable_reason()
    harness = Harness() if reason is None else None
    if harness is None:
        print(f"libsignal-node not measured: {reason}")
    labels = ("ping-pong", "chain", "sign", "verify")
    best: dict[str, dict[str, Rates]] = {
        side: {label: {"cpu": 0.0, "wall": 0.0} for label in labels} for side in ("ours", "node")
    }

    def keep(side: str, figures: dict[str, Rates]) -> None:
        for label in labels:
            for clock in ("cpu", "wall"):
                best[side][label][clock] = max(best[side][label][clock], figures[label][clock])

    try:
        for _ in range(args.rounds):
            keep("ours", trio.run(ours, args.seconds, args.size))
            if harness is not None:
                node = harness.call("signal.bench", seconds=args.seconds, size=args.size)
                keep(
                    "node",
                    {
                        "ping-pong": node["pingPong"],
                        "chain": node["chain"],
                        "sign": node["sign"],
                        "verify": node["verify"],
                    },
                )
    finally:
        if harness is not None:
            harness.close()

    print(f"{args.size}-byte plaintexts; round trip = encrypt + decrypt; best of {args.rounds} rounds")
    for clock, title in (("cpu", "per CPU second"), ("wall", "per wall second")):
        print(f"\n{title:22} {'waproto':>12} {'libsignal-node':>16} {'ratio':>8}")
        for label in labels:
            mine, theirs = best["ours"][label][clock], best["node"][label][clock]
            ratio = f"{mine / theirs:.1f}x" if theirs else "n/a"
            unit = "round trips/s" if label in ("ping-pong", "chain") else "signatures/s"
            print(f"{label:22} {mine:>10.0f}/s {theirs:>14.0f}/s {ratio:>8}   ({unit})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
