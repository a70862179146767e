"""How steady this machine's CPU is: a fixed chunk of Python work, timed in CPU time, over and over.

Usage::

    .venv/bin/python bench/cpu_steadiness.py [--seconds 12] [--factor 2.5]

Each chunk is the same loop (about a millisecond of work); the script prints the median CPU time of a
chunk and every chunk that took more than ``--factor`` times it, with when it started. On a steady machine
the slow chunks are rare and scattered; on the development machine of 2026-12-01 (a Firecracker VM with
2 vCPUs, otherwise idle) they come in bursts of about 100 ms every ~1.5 s, in which the same chunk costs
3–15x its CPU time, while ``/proc/stat`` shows no steal time. Latency tails measured there
(``bench/e2e.py``'s p99 at 50 msg/s, for our client and for Baileys alike) are those bursts.

This is a probe of the machine, not a benchmark of waporta, and it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time


def chunk() -> int:
    total = 0
    for i in range(20_000):
        total += i * i
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="how long to probe")
    parser.add_argument("--factor", type=float, default=2.5, help="a chunk this many times the median is slow")
    options = parser.parse_args()
    rows: list[tuple[float, float]] = []  # (start, CPU ms)
    start = time.perf_counter()
    end = start + options.seconds
    while (now := time.perf_counter()) < end:
        cpu0 = time.thread_time()
        chunk()
        rows.append((now - start, (time.thread_time() - cpu0) * 1000))
    median = statistics.median(cpu for _, cpu in rows)
    slow = [(at, cpu) for at, cpu in rows if cpu > options.factor * median]
    print(f"{len(rows)} chunks, median CPU {median:.3f} ms; {len(slow)} over {options.factor}x the median")
    bursts: list[list[tuple[float, float]]] = []
    for at, cpu in slow:
        if bursts and at - bursts[-1][-1][0] < 0.2:
            bursts[-1].append((at, cpu))
        else:
            bursts.append([(at, cpu)])
    for burst in bursts:
        worst = max(cpu for _, cpu in burst)
        print(f"  at {burst[0][0]:6.2f} s: {len(burst):3d} slow chunks, worst {worst:.1f} ms ({worst / median:.0f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
