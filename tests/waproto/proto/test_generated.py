"""The committed ``waproto/proto/*_pb2.py(i)`` are exactly what ``scripts/gen_proto.py`` produces now."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "gen_proto.py"


@pytest.fixture(scope="module")
def gen_proto() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_proto", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_output_is_fresh(gen_proto: ModuleType) -> None:
    assert gen_proto.stale_files() == [], "regenerate with: python scripts/gen_proto.py"


def test_every_source_has_committed_modules(gen_proto: ModuleType) -> None:
    sources = sorted(p.stem for p in (ROOT / "waproto" / "proto").glob("*.proto"))
    assert sources == ["adv", "e2e", "handshake", "signal"]
    for stem in sources:
        assert (ROOT / "waproto" / "proto" / f"{stem}_pb2.py").is_file()
        assert (ROOT / "waproto" / "proto" / f"{stem}_pb2.pyi").is_file()


def test_a_changed_byte_is_reported(gen_proto: ModuleType, tmp_path: Path) -> None:
    for name in gen_proto.expected_outputs():
        shutil.copy(ROOT / "waproto" / "proto" / name, tmp_path / name)
    assert gen_proto.stale_files(tmp_path) == []
    target = tmp_path / "signal_pb2.py"
    target.write_bytes(target.read_bytes().replace(b"ciphertext", b"cipherteXt"))
    (tmp_path / "handshake_pb2.pyi").unlink()
    (tmp_path / "old_pb2.py").write_text("# left over from a removed .proto\n")
    assert gen_proto.stale_files(tmp_path) == ["handshake_pb2.pyi", "old_pb2.py", "signal_pb2.py"]


def test_output_is_deterministic_and_cwd_independent(gen_proto: ModuleType, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    gen_proto.generate(first)
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(second)], cwd=tmp_path, check=True,
                   capture_output=True)
    names = sorted(p.name for p in first.iterdir())
    assert names == gen_proto.expected_outputs()
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_check_mode_exit_status(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], cwd=tmp_path, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_cross_file_imports_are_package_qualified() -> None:
    source = (ROOT / "waproto" / "proto" / "e2e_pb2.py").read_text()
    assert "from waproto.proto import adv_pb2" in source
    assert "\nimport adv_pb2" not in source


def test_generated_modules_do_not_need_grpc_tools() -> None:
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('grpc_tools', 'grpc'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import waproto.proto as p\n"
        "from google.protobuf.internal import api_implementation\n"
        "print(api_implementation.Type(), len(p.__all__))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.split()[0] == "upb"


def test_mypy_ignores_errors_in_exactly_the_generated_modules(gen_proto: ModuleType) -> None:
    # pyproject.toml must list each generated module by name (mypy cannot match "*_pb2"), so that
    # waproto/proto/__init__.py stays under strict checking; a new .proto file needs a new entry there.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    ignored = [o["module"] for o in config["tool"]["mypy"]["overrides"] if o.get("ignore_errors")]
    generated = sorted(f"waproto.proto.{name.removesuffix('.pyi')}" for name in gen_proto.expected_outputs()
                       if name.endswith(".pyi"))
    assert generated in [sorted(m) for m in ignored]
