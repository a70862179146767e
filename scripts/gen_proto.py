"""Regenerate waproto's protobuf modules (``waproto/proto/*_pb2.py`` and ``*_pb2.pyi``) from its ``.proto`` sources.

Usage (from any directory)::

    .venv/bin/python scripts/gen_proto.py            # rewrite the committed modules in waproto/proto/
    .venv/bin/python scripts/gen_proto.py --check    # exit 1, naming the files, if they are stale
    .venv/bin/python scripts/gen_proto.py --out DIR  # write DIR/<name>_pb2.py(i) instead

protoc runs as ``python -m grpc_tools.protoc`` (grpcio-tools is a development dependency only; the
generated modules need just the ``protobuf`` runtime). The repository root is the only include path and
the sources are named ``waproto/proto/<name>.proto``, so cross-file imports come out as
``from waproto.proto import <name>_pb2`` and the descriptors are registered under those unique paths.
The output is deterministic: the same sources and the same protoc give the same bytes.

This script is a development tool; nothing in waproto imports it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["PROTO_DIR", "ROOT", "expected_outputs", "generate", "main", "stale_files"]

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "waproto" / "proto"
_SUFFIXES = ("_pb2.py", "_pb2.pyi")


def _sources() -> list[Path]:
    return sorted(PROTO_DIR.glob("*.proto"))


def expected_outputs() -> list[str]:
    """The generated file names the current sources produce, sorted."""
    return sorted(src.stem + suffix for src in _sources() for suffix in _SUFFIXES)


def generate(out_dir: Path) -> list[Path]:
    """Compile every source into ``out_dir`` (flat: ``out_dir/<name>_pb2.py``); return the files written."""
    sources = _sources()
    if not sources:
        raise SystemExit(f"no .proto files in {PROTO_DIR}")
    with tempfile.TemporaryDirectory(prefix="waproto-protoc-") as tmp:
        command = [
            sys.executable, "-m", "grpc_tools.protoc",
            f"--proto_path={ROOT}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            *(str(src.relative_to(ROOT)) for src in sources),
        ]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"protoc failed ({result.returncode}):\n{result.stderr}")
        produced = Path(tmp) / "waproto" / "proto"
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name in expected_outputs():
            target = out_dir / name
            target.write_bytes((produced / name).read_bytes())
            written.append(target)
    return written


def stale_files(committed_dir: Path = PROTO_DIR) -> list[str]:
    """Names of generated files in ``committed_dir`` that differ from a fresh run, are missing or are orphans."""
    with tempfile.TemporaryDirectory(prefix="waproto-gen-") as tmp:
        fresh_dir = Path(tmp)
        generate(fresh_dir)
        stale = []
        for name in expected_outputs():
            committed = committed_dir / name
            if not committed.is_file() or committed.read_bytes() != (fresh_dir / name).read_bytes():
                stale.append(name)
    expected = set(expected_outputs())
    orphans = [p.name for p in committed_dir.iterdir() if p.name.endswith(_SUFFIXES) and p.name not in expected]
    return sorted(stale + orphans)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="report stale generated files; change nothing")
    group.add_argument("--out", type=Path, help="write the generated files here instead of waproto/proto/")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for name in stale:
            print(f"stale: waproto/proto/{name}", file=sys.stderr)
        if stale:
            print("run: python scripts/gen_proto.py", file=sys.stderr)
        return 1 if stale else 0
    for path in generate(args.out if args.out is not None else PROTO_DIR):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
