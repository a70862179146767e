"""Python side of the Baileys interop harness (see ``harness.mjs`` beside this file).

``Harness.call(op, **args)`` sends one JSON-lines request to a long-lived Node process and returns
its result. Bytes cross as ``{"$b": base64}`` both ways (``to_wire``/``from_wire`` do it for any
nesting of dicts, lists, tuples and bytes). Answers come back on a dedicated pipe (the file descriptor named by
``WAP_HARNESS_FD`` in the child), so whatever Baileys prints on stdout cannot corrupt them; the child's stdout and
stderr go to a temporary log whose tail is quoted when a call fails.

This module is test infrastructure, not part of waproto.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"


class HarnessError(Exception):
    """An op failed inside Node (the message carries Node's stack), or the bridge broke."""


def to_wire(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    return value


def from_wire(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$b"} and isinstance(value["$b"], str):
            return base64.b64decode(value["$b"])
        return {k: from_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    return value


def unavailable_reason() -> str | None:
    """Why the harness cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed (scripts/test installs the harness when Node is present)"
    if not (NODE_MODULES / "@whiskeysockets" / "baileys").is_dir() or not (NODE_MODULES / "baileys").is_dir():
        return "tests/interop/node_modules is missing: run `npm ci` in tests/interop (scripts/test does)"
    return None


class Harness:
    """A running ``node harness.mjs``; use as a context manager or call ``close()``."""

    def __init__(self, timeout: float = 60.0, env: Mapping[str, str] | None = None) -> None:
        """Start Node; ``env`` adds to (or overrides) this process's environment for it, e.g.
        ``{"NODE_EXTRA_CA_CERTS": ca_file}``, which Node reads only at start-up."""
        self.timeout = timeout
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the harness; closed in close()
        read_fd, write_fd = os.pipe()
        self._proc = subprocess.Popen(
            ["node", str(HERE / "harness.mjs")],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=self._log,
            pass_fds=(write_fd,),
            env={**os.environ, **(env or {}), "WAP_HARNESS_FD": str(write_fd)},
        )
        os.close(write_fd)
        self._answers = os.fdopen(read_fd, "rb")
        self._buffer = b""
        self._next_id = 0

    def call(self, op: str, /, **args: Any) -> Any:
        """Run ``op`` in Node with ``args`` and return its result (bytes restored)."""
        assert self._proc.stdin is not None
        self._next_id += 1
        request = json.dumps({"id": self._next_id, "op": op, "args": to_wire(args)})
        try:
            self._proc.stdin.write(request.encode() + b"\n")
            self._proc.stdin.flush()
        except BrokenPipeError as exc:
            raise HarnessError(f"harness died: {self.log_tail()}") from exc
        reply = json.loads(self._read_line())
        if reply.get("id") != self._next_id:
            raise HarnessError(f"answer out of order: {reply!r}")
        if not reply["ok"]:
            raise HarnessError(f"{op} failed in Node: {reply['error']}")
        return from_wire(reply["result"])

    def _read_line(self) -> bytes:
        fd = self._answers.fileno()
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([fd], [], [], self.timeout)
            if not ready:
                raise HarnessError(f"no answer within {self.timeout} s; log: {self.log_tail()}")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise HarnessError(f"harness exited; log: {self.log_tail()}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def log_tail(self, size: int = 4000) -> str:
        self._log.flush()
        self._log.seek(0, os.SEEK_END)
        end = self._log.tell()
        self._log.seek(max(0, end - size))
        return self._log.read().decode(errors="replace")

    def close(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._answers.close()
        self._log.close()

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
