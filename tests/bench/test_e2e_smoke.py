"""Smoke test of ``bench/e2e.py``: ``--quick`` runs end to end and prints every figure.

Only that the script works is checked (a sandbox child process, our client linked and measured, Baileys 6
when the interop harness is installed, idle and restore child processes); no timing is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.harness import unavailable_reason

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_quick_run_prints_every_figure() -> None:
    args = [sys.executable, str(ROOT / "bench" / "e2e.py"), "--quick", "--json"]
    with_baileys = unavailable_reason() is None
    if not with_baileys:
        args.append("--no-baileys")
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    expected = {
        "send rate, pipelined, acked",
        "CPU per sent text",
        "send latency p50 at 50 msg/s",
        "send latency p99 at 50 msg/s",
        "CPU per received text",
        "RSS per idle session, 1 sessions",
        "restore + reconnect 1 sessions",
    }
    assert expected <= set(figures), figures
    for name in expected:
        ours = figures[name]["ours"]
        assert ours is not None, name
        assert ours >= 0, (name, ours)
    for name in ("send rate, pipelined, acked", "CPU per sent text", "CPU per received text"):
        assert (figures[name]["baileys"] is not None) == with_baileys, (name, figures[name])
    assert any(line.startswith("send rate, pipelined, acked (msg/s)") for line in lines)
    # The REST figure, or the row saying the gateway has no /send/text route.
    assert {"REST POST /send/text, pipelined", "REST POST /send/text (route missing)"} & set(figures)
