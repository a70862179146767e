"""Throughput of waproto's binary-node codec next to Baileys 6's, on the same corpus, in the same run.

Usage (from the repository root, with the interop harness installed: ``npm ci`` in tests/interop)::

    .venv/bin/python bench/wire.py [--seconds 1.0] [--rounds 3]

The corpus (``tests/waproto/binary/corpus.py``) is 40 realistic stanzas: group messages fanned out to
participants with ``enc`` payloads, 1:1 messages, receipts, acks, usync queries and results,
notifications, pings. Each round times our ``marshal``/``unmarshal`` and Baileys' ``encodeBinaryNode`` /
``decodeDecompressedBinaryNode`` (through the harness, timed inside Node) for ``--seconds`` each; the
best round of each counts. Both sides count CPU time (Python's ``process_time``, Node's ``cpuUsage``),
not wall time, so other load on the machine skews the figures less. Baileys' decode
is timed without its promise wrapper (its fastest path). Our decoder keeps a small cache of decoded
JIDs, as a long-running client would have warm; ``--cold`` clears it before every decode to show the
worst case.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Replace this script's own folder on the path by the repository root: bench/ holds modules named like
# standard ones that would shadow them.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from tests.interop.harness import Harness, unavailable_reason  # noqa: E402
from tests.waproto.binary.corpus import corpus  # noqa: E402
from tests.waproto.binary.nodejson import to_json  # noqa: E402
from waproto.binary import decode, marshal, unmarshal  # noqa: E402


def rate(fn: Callable[[Any], object], items: Sequence[Any], seconds: float) -> float:
    """Calls of ``fn`` per CPU-second over ``items``, repeated for at least ``seconds`` of CPU time."""
    for item in items:  # warm up
        fn(item)
    count = 0
    start = time.process_time()
    while True:
        for item in items:
            fn(item)
        count += len(items)
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return count / elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement (default 1.0)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best of each counts (default 3)")
    parser.add_argument("--cold", action="store_true", help="clear the decoder's JID cache before each decode")
    args = parser.parse_args(argv)

    nodes = corpus()
    frames = [marshal(node) for node in nodes]
    assert [unmarshal(frame) for frame in frames] == [unmarshal(marshal(unmarshal(f))) for f in frames]
    size = sum(map(len, frames)) / len(frames)
    print(f"corpus: {len(nodes)} stanzas, {size:.0f} bytes per frame on average")

    decode_one: Callable[[bytes], object] = unmarshal
    if args.cold:

        def decode_one(frame: bytes) -> object:
            decode.clear_caches()
            return unmarshal(frame)

    reason = unavailable_reason()
    harness = Harness() if reason is None else None
    if harness is None:
        print(f"Baileys not measured: {reason}")
    best = {"marshal": 0.0, "unmarshal": 0.0, "encode": 0.0, "decode": 0.0}
    try:
        payload = [to_json(node) for node in nodes]
        for _ in range(args.rounds):
            best["marshal"] = max(best["marshal"], rate(marshal, nodes, args.seconds))
            best["unmarshal"] = max(best["unmarshal"], rate(decode_one, frames, args.seconds))
            if harness is not None:
                result = harness.call("binary.bench", nodes=payload, seconds=args.seconds, version="v6")
                best["encode"] = max(best["encode"], result["encode_per_sec"])
                best["decode"] = max(best["decode"], result["decode_per_sec"])
    finally:
        if harness is not None:
            harness.close()

    print(f"{'':10} {'waproto':>12} {'Baileys 6':>12} {'ratio':>7}")
    for ours, theirs, label in (("marshal", "encode", "encode"), ("unmarshal", "decode", "decode")):
        ratio = f"{best[ours] / best[theirs]:.2f}x" if best[theirs] else "n/a"
        print(f"{label:10} {best[ours]:>10.0f}/s {best[theirs]:>10.0f}/s {ratio:>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
