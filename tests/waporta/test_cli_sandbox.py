"""``waporta sandbox``: its first stdout line is the JSON banner, the control API answers, SIGINT stops it.

Runs the real command in a subprocess (bound to 127.0.0.1, any free port), with its state in tmp_path.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from waporta.cli import main


def test_banner_control_api_and_state(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.Popen(
        # a relative --state: the banner still names the CA file by an absolute path, for scripts
        [sys.executable, "-m", "waporta", "sandbox", "--port", "0", "--state", "state"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = json.loads(proc.stdout.readline())
        assert set(banner) == {"url", "control", "root_public_key", "ca_file", "media"}
        assert banner["url"].startswith("ws://127.0.0.1:")
        assert banner["url"].endswith("/ws/chat")
        assert banner["control"].startswith("http://127.0.0.1:")
        assert len(bytes.fromhex(banner["root_public_key"])) == 32
        assert Path(banner["ca_file"]).is_absolute()
        assert Path(banner["ca_file"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
        assert banner["media"].startswith("https://127.0.0.1:")
        with httpx.Client(base_url=banner["control"], timeout=10) as client:
            created = client.post("/accounts", json={"phone": "15550001111", "name": "Alice"})
            assert created.status_code == 201
            refused = client.post("/accounts", json={"phone": "x"})
            assert refused.status_code == 400
            assert refused.json()["error"] == "invalid_field"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    stored = json.loads((state / "network.json").read_text())
    assert [a["phone"] for a in stored["accounts"]] == ["15550001111"]
    root = json.loads((state / "root_key.json").read_text())
    assert root["public"] == banner["root_public_key"]


def test_bad_root_key_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "--state", str(tmp_path), "--root-key", "abc"]) == 2
    assert "--root-key" in capsys.readouterr().err


def test_unreadable_state_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "network.json").write_text("not json")
    assert main(["sandbox", "--state", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "network.json" in err
    assert "Traceback" not in err
