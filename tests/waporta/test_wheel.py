"""The built wheel is complete: build it, install it into a fresh venv, start ``waporta serve`` from it.

This catches files missing from the package (static assets, migrations, built-in plugins) that an
editable install would hide. The source is copied to tmp_path first so that the build's scratch files
never land in the working tree. Dependencies come from pip's cache or the configured registry.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest
import trio

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = ("waporta", "waproto", "plugins", "dashboard")
TOP_FILES = ("pyproject.toml", "setup.py", "README.md")
#: Files the running app needs from the wheel, beyond Python modules.
REQUIRED_IN_WHEEL = (
    "waporta/static/doc.html",
    "waporta/static/doc.js",
    "waporta/static/doc.css",
    "waporta/storage/migrations/0001_hub.sql",
    "waporta_plugins/rest_auth.py",
    "waporta_plugins/rest_keys.py",
    "waporta_plugins/rest_webhooks.py",
    "waporta_dashboard/__init__.py",
)
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def copy_source(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist", "node_modules")
    for name in PACKAGE_DIRS:
        shutil.copytree(REPO / name, dest / name, ignore=ignore)
    for name in TOP_FILES:
        shutil.copy2(REPO / name, dest / name)


def run(*args: str | Path, cwd: Path) -> None:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PORT", "HOST", "DASHBOARD_USERNAME", "DASHBOARD_PASSWORD", "DEFAULT_API_KEY", "PYTHONPATH"}
        and not key.startswith("WAPORTA_")
    }
    env["WAPORTA_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; returns its ``waporta`` executable."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    copy_source(source)
    run(sys.executable, "-m", "build", "--wheel", "--outdir", root / "dist", cwd=source)
    (wheel,) = (root / "dist").glob("waporta-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in REQUIRED_IN_WHEEL if name not in names]
    assert not missing, f"missing from the wheel: {missing}"
    assert not any(name.startswith(("plugins/", "dashboard/", "tests/")) for name in names)

    venv = root / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=root)
    run(venv / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q", wheel, cwd=root)
    return venv / "bin" / "waporta"


async def test_wheel_serves_health_doc_and_openapi_then_exits_0_on_sigterm(
    installed: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "run"
    workdir.mkdir()  # no waporta.toml here: the built-in defaults apply
    port = free_port()
    process = await trio.lowlevel.open_process(
        [str(installed), "serve", "--port", str(port)],
        cwd=workdir,
        env=clean_env(workdir / "data"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    output = bytearray()
    try:
        with trio.fail_after(60):
            while (found := LISTENING.search(output.decode(errors="replace"))) is None:
                chunk = await process.stderr.receive_some()
                assert chunk, f"waporta exited before listening: {output.decode(errors='replace')}"
                output += chunk
        base = found.group(1)
        assert base == f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as client:
            health = await client.get("/health")
            assert health.status_code == 200
            assert health.json()["status"] == "ok"
            doc = await client.get("/doc")
            assert doc.status_code == 200
            assert "<html" in doc.text
            assert (await client.get("/doc/assets/doc.js")).status_code == 200
            spec = (await client.get("/openapi.json")).json()
            assert "/api/auth/login" in spec["paths"]
            assert "/api/whatsapp/sessions/{sessionId}/webhooks" in spec["paths"]
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            while chunk := await process.stderr.receive_some():
                output += chunk
            status = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.stderr.aclose()
    text = output.decode(errors="replace")
    assert status == 0, text
    assert "username: admin" in text  # the first start printed the generated password
    assert "Traceback" not in text
    assert (workdir / "data" / "waporta.db").exists()
