"""Issue #2's acceptance, walked through as a new user would, against a served hub (127.0.0.1, port 0).

Start with no password configured (the generated one is printed once) → log in → create an API key →
the key opens /api/whatsapp/*; missing, expired and revoked credentials get 401; the raw key (and the
token and password) appear nowhere in the data directory; the webhook registry's acceptance list; data
survives a restart; a plugin .py named in waporta.toml adds a working route, and a hook-name typo stops
start-up naming it; a bad config is one line and exit status 2.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trio

from tests.fakes import FakeClock
from waporta.cli import main
from waporta.config import Config, load_config
from waporta.hub import serve
from waporta.plugins import PluginError, Plugins


def write_config(folder: Path, extra: str = "") -> Path:
    path = folder / "waporta.toml"
    path.write_text(f'[server]\nport = 0\n[storage]\ndata_dir = "{folder / "data"}"\n{extra}', encoding="utf-8")
    return path


@asynccontextmanager
async def served(config: Config, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    stop = trio.Event()
    plugins = Plugins.load(config, entry_points=False)
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            functools.partial(serve, config, plugins=plugins, shutdown_trigger=stop.wait, clock=clock)
        )
        async with httpx.AsyncClient(base_url=binds[0]) as client:
            yield client
        stop.set()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_new_user_walkthrough(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = load_config(write_config(tmp_path), env={})
    assert config.dashboard.password is None
    clock = FakeClock()
    webhooks = "/api/whatsapp/sessions/sales-bot/webhooks"

    with trio.fail_after(60):
        async with served(config, clock) as client:
            # the first start printed a generated password, once
            err = capsys.readouterr().err
            assert "username: admin" in err
            password = next(line for line in err.splitlines() if "password:" in line).split("password:")[1].strip()

            assert (await client.get("/health")).json()["status"] == "ok"
            doc = await client.get("/doc")
            assert doc.status_code == 200
            assert "://" not in doc.text
            spec = (await client.get("/openapi.json")).json()
            for path in ("/api/auth/login", "/api/keys", "/api/keys/{id}", "/api/whatsapp/sessions/{sessionId}/webhooks"):
                assert path in spec["paths"], path

            # login -> token -> API key
            login = await client.post("/api/auth/login", json={"username": "admin", "password": password})
            assert login.status_code == 200
            token = login.json()["token"]
            created = await client.post("/api/keys", json={"name": "my worker"}, headers=bearer(token))
            assert created.status_code == 201
            key = created.json()["key"]
            assert key.startswith("wap_")
            assert len(key) >= 36

            # the key (and the token) open /api/whatsapp/*; nothing else does
            assert (await client.get(webhooks, headers={"X-API-Key": key})).status_code == 200
            assert (await client.get(webhooks, headers=bearer(token))).status_code == 200
            for headers in ({}, {"X-API-Key": "wap_made_up"}, bearer("made-up")):
                refused = await client.get(webhooks, headers=headers)
                assert refused.status_code == 401
                assert refused.json()["error"] == "unauthorized"

            # the webhook registry
            first = await client.post(webhooks, json={"url": "https://example.com/"}, headers={"X-API-Key": key})
            assert first.status_code == 201
            record = first.json()
            assert len("https://example.com/" + "x" * 2029) == 2049
            for bad, rule in (
                ("http://example.com/hook", "https_required"),
                ("https://example.com/hook#part", "fragment_not_allowed"),
                ("https://example.com/" + "x" * 2029, "too_long"),
                ("/just/a/path", "absolute_url_required"),
            ):
                response = await client.post(webhooks, json={"url": bad}, headers={"X-API-Key": key})
                assert response.status_code == 400, bad
                assert response.json()["rule"] == rule
                assert response.json()["field"] == "url"
            duplicate = await client.post(
                webhooks, json={"url": "HTTPS://Example.com:443"}, headers={"X-API-Key": key}
            )
            assert duplicate.status_code == 409
            assert duplicate.json()["error"] == "duplicate_webhook_url"
            assert duplicate.json()["existingId"] == record["id"]
            other = await client.get("/api/whatsapp/sessions/support/webhooks", headers={"X-API-Key": key})
            assert other.json() == []

            # a second key, revoked, stops working
            spare = (await client.post("/api/keys", json={"name": "spare"}, headers=bearer(token))).json()
            deleted = await client.delete(f"/api/keys/{spare['id']}", headers=bearer(token))
            assert deleted.status_code == 200
            assert (await client.get(webhooks, headers={"X-API-Key": spare["key"]})).status_code == 401

        # restart: same data directory, keys and webhooks are still there, no new password printed
        async with served(config, clock) as client:
            assert "password:" not in capsys.readouterr().err
            listed = await client.get(webhooks, headers={"X-API-Key": key})
            assert listed.status_code == 200
            assert listed.json() == [record]
            keys = await client.get("/api/keys", headers=bearer(token))
            assert [item["name"] for item in keys.json()] == ["my worker"]
            # a token expires after [dashboard] token_ttl (24 h by default)
            clock.now += config.dashboard.token_ttl + 1
            assert (await client.get(webhooks, headers=bearer(token))).status_code == 401
            assert (await client.get(webhooks, headers={"X-API-Key": key})).status_code == 200

    # no secret is stored in the clear anywhere under the data directory
    files = [path for path in (tmp_path / "data").rglob("*") if path.is_file()]
    assert files
    for secret in (key, spare["key"], token, password):
        for path in files:
            assert secret.encode() not in path.read_bytes(), path


HELLO_PLUGIN = """
from waporta import hookimpl


@hookimpl
def register_routes(hub, app):
    @app.get("/hello")
    async def hello():
        return {"hello": "world"}

    @app.get("/api/whatsapp/hello")
    async def hello_protected():
        return {"hello": "member"}
"""


async def test_plugin_file_named_in_the_config_adds_a_working_route(tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_text(HELLO_PLUGIN, encoding="utf-8")
    extra = '[dashboard]\npassword = "pw"\n[api]\ndefault_key = "wap_acceptance_default_key_0123456789"\n'
    config = load_config(write_config(tmp_path, extra + '[plugins]\nmodules = ["hello.py"]\n'), env={})
    with trio.fail_after(30):
        async with served(config, FakeClock()) as client:
            hello = await client.get("/hello")
            assert hello.status_code == 200
            assert hello.json() == {"hello": "world"}
            assert (await client.get("/api/whatsapp/hello")).status_code == 401  # the guard covers plugins
            member = await client.get(
                "/api/whatsapp/hello", headers={"X-API-Key": "wap_acceptance_default_key_0123456789"}
            )
            assert member.json() == {"hello": "member"}
            assert "/hello" in (await client.get("/openapi.json")).json()["paths"]


def test_hook_name_typo_stops_start_up_naming_it(tmp_path: Path) -> None:
    (tmp_path / "typo.py").write_text(
        "from waporta import hookimpl\n\n@hookimpl\ndef register_route(hub, app):\n    pass\n", encoding="utf-8"
    )
    config = load_config(write_config(tmp_path, '[plugins]\nmodules = ["typo.py"]\n'), env={})
    with pytest.raises(PluginError, match="register_route"):
        Plugins.load(config, entry_points=False)


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[server]\nprot = 3000\n", encoding="utf-8")
    assert main(["serve", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "bad.toml" in err
    assert "prot" in err
    assert "Traceback" not in err
