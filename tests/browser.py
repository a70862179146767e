"""Headless Chromium (Debian's package) for tests that must see a page as a person would.

``render(url)`` runs ``chromium --headless --dump-dom`` with a virtual-time budget, so the page's
scripts (and the fetches they start) finish before the DOM is dumped. ``screenshot(url, path)`` does
the same for a PNG. Only loopback URLs are used; Chromium's background networking is switched off.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--virtual-time-budget=10000",
]


def chromium_path() -> str | None:
    return shutil.which("chromium")


def _run(args: list[str], timeout: float) -> str:
    exe = chromium_path()
    if exe is None:
        raise RuntimeError("chromium is not installed")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [exe, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            timeout=timeout,
            check=True,
        )
    return done.stdout.decode(errors="replace")


def render(url: str, *, timeout: float = 60.0) -> str:
    """The page's DOM after its scripts ran, as HTML."""
    return _run(["--dump-dom", url], timeout)


def screenshot(url: str, path: Path, *, size: str = "1200,900", timeout: float = 60.0) -> None:
    _run([f"--screenshot={path}", f"--window-size={size}", url], timeout)
