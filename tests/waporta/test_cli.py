"""Tests for the ``waporta`` command line, run in-process through ``main([...])``."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import tomllib
import types
from pathlib import Path
from typing import Any

import httpx
import pytest

from waporta import __version__
from waporta.cli import main
from waporta.config import ENV_OVERRIDES, Config, load_config
from waporta.plugins import DEFAULT_PLUGINS, PluginError, Plugins


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No override variable from the outer environment, and a working directory without waporta.toml."""
    for var in ENV_OVERRIDES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def write_config(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ---------------------------------------------------------------- process-level


def test_python_m_waporta_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "waporta", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    for command in ("serve", "init", "keys", "plugins"):
        assert command in result.stdout


def test_importing_the_cli_does_not_import_the_server_stack() -> None:
    code = "import sys, waporta.cli; print(sorted(m for m in ('trio', 'quart', 'hypercorn', 'pluggy') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['pluggy']"  # only via waporta/__init__.py's hookimpl marker


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"waporta {__version__}"


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "usage: waporta" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["x", "70000", "-1"])
def test_bad_port_flag_is_a_usage_error(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--port", port])
    assert info.value.code == 2
    assert "expected an integer port 0-65535" in capsys.readouterr().err


# ---------------------------------------------------------------- serve: bad config → one line, exit 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[server\n", ": expected valid TOML, got "),
        ("[server]\nprot = 1\n", ": server.prot: expected one of graceful_timeout, host, port, got an unknown key"),
        ('[server]\nport = "3000"\n', ": server.port: expected an integer port 0-65535, got a string '3000'"),
        ('[dashboard]\npassword = { env = "NOT_SET_ANYWHERE" }\n', ": dashboard.password: expected environment variable NOT_SET_ANYWHERE"),
    ],
)
def test_serve_with_a_bad_config_prints_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = write_config(tmp_path / "bad.toml", text)
    status, out, err = run(capsys, "serve", "--config", str(path))
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"waporta: error: {path}")
    assert expected in err
    assert "Traceback" not in err


def test_serve_with_a_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "serve", "--config", str(tmp_path / "missing.toml"))
    assert status == 2
    assert err == f"waporta: error: {tmp_path / 'missing.toml'}: expected a TOML file, got no such file\n"


def test_serve_with_a_bad_port_variable(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PORT", "eighty")
    status, _, err = run(capsys, "serve")
    assert status == 2
    assert err == "waporta: error: environment: PORT: expected an integer port 0-65535, got a string 'eighty'\n"


def test_serve_with_a_typo_in_a_plugin_hook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "typo_plugin.py").write_text(
        "from waporta import hookimpl\n\n@hookimpl\ndef message_recieved(hub):\n    pass\n", encoding="utf-8"
    )
    path = write_config(tmp_path / "waporta.toml", '[plugins]\nmodules = ["typo_plugin.py"]\n')
    status, _, err = run(capsys, "serve", "--config", str(path))
    assert status == 2
    assert err == (
        "waporta: error: plugin 'typo_plugin' implements unknown hook 'message_recieved' "
        "(did you mean 'message_received'?)\n"
    )


# ---------------------------------------------------------------- serve: the happy path, with a fake hub


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace ``waporta.hub`` (imported lazily by ``serve``) with a module that records its call."""
    calls: dict[str, Any] = {}
    module = types.ModuleType("waporta.hub")

    async def serve(config: Config, *, plugins: Plugins | None = None) -> None:
        calls["config"] = config
        calls["plugins"] = plugins
        if "raise" in calls:
            raise calls["raise"]

    module.serve = serve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "waporta.hub", module)
    return calls


def test_serve_runs_the_hub_with_config_and_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fake_hub: dict[str, Any]
) -> None:
    (tmp_path / "hello.py").write_text(
        "from waporta import hookimpl\n\n@hookimpl\ndef register_routes(app):\n    pass\n", encoding="utf-8"
    )
    write_config(tmp_path / "waporta.toml", '[server]\nport = 1111\nhost = "10.0.0.1"\n[plugins]\nmodules = ["hello.py"]\n')
    monkeypatch.setenv("PORT", "2222")
    status, _, err = run(capsys, "serve")  # ./waporta.toml is found in the working directory
    assert (status, err) == (0, "")
    config = fake_hub["config"]
    assert (config.server.host, config.server.port) == ("10.0.0.1", 2222)  # env beats the file
    assert [i.name for i in fake_hub["plugins"].infos()] == [*DEFAULT_PLUGINS, "hello"]

    status, _, _ = run(capsys, "serve", "--port", "3333", "--host", "::1")
    assert status == 0
    assert (fake_hub["config"].server.host, fake_hub["config"].server.port) == ("::1", 3333)  # flags beat env


def test_serve_sandbox_flag_sets_whatsapp_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fake_hub: dict[str, Any]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "serve")[0] == 0
    assert fake_hub["config"].whatsapp.sandbox is False
    assert run(capsys, "serve", "--sandbox")[0] == 0
    assert fake_hub["config"].whatsapp.sandbox is True


def test_plugin_error_inside_the_hub_exits_2(
    capsys: pytest.CaptureFixture[str], fake_hub: dict[str, Any]
) -> None:
    fake_hub["raise"] = ExceptionGroup("nursery", [PluginError("plugin 'x': register_routes failed: boom")])
    status, _, err = run(capsys, "serve")
    assert status == 2
    assert err == "waporta: error: plugin 'x': register_routes failed: boom\n"


def test_other_errors_inside_the_hub_propagate(fake_hub: dict[str, Any]) -> None:
    fake_hub["raise"] = ExceptionGroup("nursery", [PluginError("p"), OSError("address in use")])
    with pytest.raises(ExceptionGroup):
        main(["serve"])


def test_serve_for_real_answers_health_and_stops_on_sigint(tmp_path: Path) -> None:
    """The whole path: a subprocess runs `waporta serve`, /health answers, SIGINT stops it with status 0."""
    config = write_config(tmp_path / "real.toml", f'[server]\nport = 0\n[storage]\ndata_dir = "{tmp_path / "d"}"\n')
    env = {k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES}
    seen: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-m", "waporta", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            url = None
            while url is None:
                line = lines.get(timeout=60)
                assert line is not None, "".join(seen)
                seen.append(line)
                found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
                url = found.group(1) if found else None
            response = httpx.get(f"{url}/health", timeout=30)
            assert response.status_code == 200
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(timeout=60)
    while (line := lines.get_nowait()) is not None:
        seen.append(line)
    assert "Traceback" not in "".join(seen)


def test_serve_with_a_plugin_whose_routes_fail_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real hub: PluginError from register_routes, raised inside trio.run, still ends as one line."""
    (tmp_path / "boom.py").write_text(
        "from waporta import hookimpl\n\n@hookimpl\ndef register_routes(app):\n    raise RuntimeError('no routes')\n",
        encoding="utf-8",
    )
    path = write_config(
        tmp_path / "b.toml",
        f'[server]\nport = 0\n[dashboard]\npassword = "pw"\n[storage]\ndata_dir = "{tmp_path / "d"}"\n'
        '[plugins]\nmodules = ["boom.py"]\n',
    )
    status, _, err = run(capsys, "serve", "--config", str(path))
    assert status == 2
    assert err == "waporta: error: plugin 'boom': register_routes failed: RuntimeError: no routes\n"


# ---------------------------------------------------------------- init


def test_init_writes_a_loadable_starter_with_a_fresh_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "init")
    assert (status, err) == (0, "")
    path = tmp_path / "waporta.toml"
    assert out.startswith(f"Wrote {path}\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = tomllib.loads(path.read_text(encoding="utf-8"))["dashboard"]["password"]
    assert len(password) >= 20
    assert f"password: {password}" in out
    config = load_config(path, env={})
    assert config.dashboard.password == password
    assert (config.server.port, config.storage.data_dir) == (3000, Path("data"))

    other = tmp_path / "elsewhere" / "w.toml"
    other.parent.mkdir()
    assert main(["init", "--config", str(other)]) == 0
    assert load_config(other, env={}).dashboard.password != password


def test_init_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path / "mine.toml", "# my settings\n")
    status, out, err = run(capsys, "init", "--config", str(path))
    assert status == 1
    assert out == ""
    assert err == f"waporta: error: {path} already exists; not overwriting it\n"
    assert path.read_text(encoding="utf-8") == "# my settings\n"


def test_init_into_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "init", "--config", str(tmp_path / "no" / "such" / "w.toml"))
    assert status == 1
    assert "cannot write" in err


# ---------------------------------------------------------------- keys


@pytest.fixture
def keys_config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "keys.toml", f'[storage]\ndata_dir = "{tmp_path / "data"}"\n')


def test_keys_create_list_revoke(keys_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "keys", "create", "ci-bot", "--config", str(keys_config))
    assert status == 0
    raw = out.strip().splitlines()[-1]
    assert raw.startswith("wap_")
    assert len(raw) >= 4 + 32
    key_id = out.split("(id ")[1].split(")")[0]

    status, out, _ = run(capsys, "keys", "list", "--config", str(keys_config))
    assert status == 0
    assert "ci-bot" in out
    assert key_id in out
    assert raw not in out
    assert raw[:12] in out  # the prefix identifies it

    status, out, _ = run(capsys, "keys", "list", "--json", "--config", str(keys_config))
    (row,) = json.loads(out)
    assert (row["id"], row["name"], row["lastUsedAt"]) == (key_id, "ci-bot", None)
    assert set(row) == {"id", "name", "prefix", "createdAt", "lastUsedAt"}

    for path in (keys_config.parent / "data").rglob("*"):
        if path.is_file():
            assert raw.encode() not in path.read_bytes()

    assert run(capsys, "keys", "revoke", key_id, "--config", str(keys_config))[:2] == (0, f"Revoked API key {key_id}.\n")
    status, _, err = run(capsys, "keys", "revoke", key_id, "--config", str(keys_config))
    assert status == 1
    assert err == f"waporta: error: no API key with id {key_id!r}\n"
    assert "No API keys" in run(capsys, "keys", "list", "--config", str(keys_config))[1]


def test_keys_create_with_a_bad_name(keys_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "keys", "create", "   ", "--config", str(keys_config))
    assert status == 2
    assert out == ""
    assert err.startswith("waporta: error: invalid key name")


def test_keys_with_a_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path / "bad.toml", "[storage]\ndatadir = 'x'\n")
    status, _, err = run(capsys, "keys", "list", "--config", str(path))
    assert status == 2
    assert "storage.datadir: expected one of data_dir" in err
    assert not (tmp_path / "data").exists()


def test_keys_use_the_data_dir_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WAPORTA_DATA_DIR", str(tmp_path / "from-env"))
    assert main(["keys", "create", "k"]) == 0
    assert (tmp_path / "from-env" / "waporta.db").is_file()
    assert not (tmp_path / "data").exists()
    if os.name == "posix":
        assert stat.S_IMODE((tmp_path / "from-env" / "waporta.db").stat().st_mode) == 0o600


# ---------------------------------------------------------------- plugins


def test_plugins_lists_loaded_plugins_with_hooks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "greeter.py").write_text(
        textwrap.dedent(
            """
            from waporta import hookimpl

            __version__ = "0.3"

            @hookimpl
            def register_routes(app):
                pass

            @hookimpl
            async def message_received(message):
                pass
            """
        ),
        encoding="utf-8",
    )
    path = write_config(tmp_path / "p.toml", '[plugins]\nmodules = ["greeter.py"]\n')
    status, out, _ = run(capsys, "plugins", "--config", str(path))
    assert status == 0
    line = next(line for line in out.splitlines() if line.startswith("greeter"))
    assert line.split(None, 2) == ["greeter", "0.3", "message_received, register_routes"]

    status, out, _ = run(capsys, "plugins", "--json", "--config", str(path))
    entries = {entry["name"]: entry for entry in json.loads(out)}
    assert entries["greeter"] == {"name": "greeter", "version": "0.3", "hooks": ["message_received", "register_routes"]}


def test_plugins_with_none_configured(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Plugins, "load", classmethod(lambda cls, config, **kw: cls()))
    assert run(capsys, "plugins") == (0, "No plugins loaded.\n", "")


def test_plugins_with_a_broken_plugin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path / "p.toml", '[plugins]\nmodules = ["nonexistent_plugin_mod"]\n')
    status, _, err = run(capsys, "plugins", "--config", str(path))
    assert status == 2
    assert "'nonexistent_plugin_mod'" in err
    assert "Traceback" not in err
