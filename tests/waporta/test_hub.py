"""waporta.hub: open_hub's lifecycle and serve() on a real socket (127.0.0.1, port 0).

Ordering is driven by events and ``wait_all_tasks_blocked``, never by sleeps.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import logging
import os
import re
import signal
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from quart_trio import QuartTrio

from waporta import hookimpl
from waporta.config import Config, ConfigError, DashboardConfig, ServerConfig, StorageConfig, default_config
from waporta.hub import GC_YOUNG_THRESHOLD, AccessLog, Hub, hypercorn_config, open_hub, serve, serving_gc
from waporta.plugins import Plugins

PASSWORD = "correct horse battery staple"


def make_config(tmp_path: Path, *, password: str | None = PASSWORD) -> Config:
    return dataclasses.replace(
        default_config(),
        server=ServerConfig(host="127.0.0.1", port=0, graceful_timeout=10.0),
        storage=StorageConfig(data_dir=tmp_path / "data"),
        dashboard=DashboardConfig(password=password),
    )


class Recorder:
    """A plugin that records lifecycle hooks and serves a request that waits to be released."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.hub: Hub | None = None
        self.slow_started = trio.Event()
        self.release = trio.Event()

    @hookimpl
    async def waporta_startup(self, hub: Hub) -> None:
        self.hub = hub
        self.events.append("startup")

    @hookimpl
    async def waporta_shutdown(self, hub: Hub) -> None:
        assert not hub.db.closed  # hooks run while the database is still open
        self.events.append("shutdown")

    @hookimpl
    def register_routes(self, hub: Hub, app: QuartTrio) -> None:
        @app.get("/slow")
        async def slow() -> dict[str, Any]:
            self.slow_started.set()
            await self.release.wait()
            self.events.append("slow finished")
            return {"slow": "done"}


def plugins_with(recorder: Recorder, config: Config) -> Plugins:
    plugins = Plugins.load(config, entry_points=False)
    plugins.register(recorder, "recorder")
    return plugins


async def test_open_hub_runs_hooks_and_closes_the_database(tmp_path: Path) -> None:
    recorder = Recorder()
    config = make_config(tmp_path)
    async with open_hub(config, plugins_with(recorder, config)) as hub:
        assert recorder.events == ["startup"]
        assert recorder.hub is hub
        assert hub.plugin_config("nothing") == {}
        assert (tmp_path / "data" / "waporta.db").exists()
    assert recorder.events == ["startup", "shutdown"]
    assert hub.db.closed


async def test_plugin_config_returns_the_plugins_table(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    config = dataclasses.replace(
        config, plugins=dataclasses.replace(config.plugins, settings={"mine": {"colour": "blue"}})
    )
    async with open_hub(config, Plugins()) as hub:
        assert hub.plugin_config("mine") == {"colour": "blue"}


async def test_generated_password_is_printed_once_and_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path, password=None)
    async with open_hub(config, Plugins()) as hub:
        err = capsys.readouterr().err
        assert "username: admin" in err
        line = next(line for line in err.splitlines() if "password:" in line)
        password = line.split("password:", 1)[1].strip()
        assert len(password) >= 16
        assert (await hub.auth.login("admin", password, client="t")).token
    async with open_hub(config, Plugins()) as hub:
        assert "password" not in capsys.readouterr().err  # only on the first start
        assert (await hub.auth.login("admin", password, client="t")).token
    assert password.encode() not in (tmp_path / "data" / "waporta.db").read_bytes()


def test_hypercorn_config_binds_the_configured_address(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert hypercorn_config(config).bind == ["127.0.0.1:0"]
    v6 = dataclasses.replace(config, server=ServerConfig(host="::1", port=3000, graceful_timeout=2.5))
    hc = hypercorn_config(v6)
    assert hc.bind == ["[::1]:3000"]
    assert hc.graceful_timeout == 2.5


async def test_serve_finishes_in_flight_requests_on_shutdown(tmp_path: Path) -> None:
    recorder = Recorder()
    config = make_config(tmp_path)
    stop = trio.Event()
    result: dict[str, Any] = {}

    async def slow_request(base: str) -> None:
        async with httpx.AsyncClient(base_url=base) as client:
            response = await client.get("/slow")
            result["status"] = response.status_code
            result["body"] = response.json()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(
                functools.partial(serve, config, plugins=plugins_with(recorder, config), shutdown_trigger=stop.wait)
            )
            base = binds[0]
            assert base.startswith("http://127.0.0.1:")
            async with httpx.AsyncClient(base_url=base) as client:
                assert (await client.get("/health")).json()["status"] == "ok"
            nursery.start_soon(slow_request, base)
            await recorder.slow_started.wait()
            stop.set()
            await trio.testing.wait_all_tasks_blocked()
            # shutting down: the in-flight request is still being served, the hooks have not run
            assert recorder.events == ["startup"]
            assert recorder.hub is not None
            assert not recorder.hub.db.closed
            recorder.release.set()
    assert result == {"status": 200, "body": {"slow": "done"}}
    assert recorder.events == ["startup", "slow finished", "shutdown"]
    assert recorder.hub.db.closed


async def test_serve_stops_on_sigterm(tmp_path: Path) -> None:
    recorder = Recorder()
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(functools.partial(serve, config, plugins=plugins_with(recorder, config)))
            async with httpx.AsyncClient(base_url=binds[0]) as client:
                assert (await client.get("/health")).status_code == 200
            os.kill(os.getpid(), signal.SIGTERM)
    assert recorder.events == ["startup", "shutdown"]


async def test_data_survives_a_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path)

    async def run_once(work: Any) -> Any:
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(
                functools.partial(serve, config, plugins=Plugins.load(config, entry_points=False), shutdown_trigger=stop.wait)
            )
            async with httpx.AsyncClient(base_url=binds[0]) as client:
                out = await work(client)
            stop.set()
        return out

    async def first(client: httpx.AsyncClient) -> tuple[str, str, dict[str, Any]]:
        login = await client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
        token = login.json()["token"]
        created = await client.post("/api/keys", json={"name": "worker"}, headers={"Authorization": f"Bearer {token}"})
        key = created.json()["key"]
        hook = await client.post(
            "/api/whatsapp/sessions/s1/webhooks", json={"url": "https://example.com/hook"}, headers={"X-API-Key": key}
        )
        assert hook.status_code == 201
        return token, key, hook.json()

    async def second(client: httpx.AsyncClient, token: str, key: str) -> tuple[Any, Any, int]:
        hooks = await client.get("/api/whatsapp/sessions/s1/webhooks", headers={"X-API-Key": key})
        keys = await client.get("/api/keys", headers={"Authorization": f"Bearer {token}"})
        return hooks.json(), keys.json(), keys.status_code

    with trio.fail_after(30):
        token, key, hook = await run_once(first)
        hooks, keys, status = await run_once(lambda client: second(client, token, key))
    assert hooks == [hook]
    assert status == 200
    assert [item["name"] for item in keys] == ["worker"]


async def test_address_in_use_is_one_config_error_before_anything_opens(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = dataclasses.replace(
            make_config(tmp_path, password=None), server=ServerConfig(host="127.0.0.1", port=port)
        )
        with pytest.raises(ConfigError, match=re.escape(f"port: cannot listen on 127.0.0.1:{port}")) as caught:
            await serve(config, plugins=Plugins(), shutdown_trigger=trio.sleep_forever)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "data").exists()  # no database, no generated password printed



# ------------------------------------------------------------------ access log


def _scope(path: str = "/api/whatsapp/check", query: bytes = b"sessionId=s1&to=15550002222") -> Any:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query,
        "http_version": "1.1",
        "client": ("127.0.0.1", 5000),
        "headers": [(b"x-api-key", b"wap_secret")],
    }


def test_the_access_line_is_short_and_carries_no_query_or_header(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    hc = hypercorn_config(make_config(tmp_path))
    assert hc.logger_class is AccessLog
    log = hc.log
    response: Any = {"status": 200, "headers": [(b"content-type", b"application/json"), (b"Content-Length", b"42")]}
    with caplog.at_level(logging.INFO, logger="waporta.access"):
        trio.run(log.access, _scope(), response, 0.0012)
    [record] = [r for r in caplog.records if r.name == "waporta.access"]
    assert record.getMessage() == '127.0.0.1:5000 "GET /api/whatsapp/check HTTP/1.1" 200 42 1.2ms'
    assert "wap_secret" not in record.getMessage()
    assert "15550002222" not in record.getMessage()


def test_no_access_line_is_built_when_disabled_or_unanswered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = hypercorn_config(make_config(tmp_path)).log

    def no_atoms(*args: Any) -> Any:
        raise AssertionError("hypercorn's atoms (a copy of os.environ) were built")

    monkeypatch.setattr(log, "atoms", no_atoms)
    response: Any = {"status": 200, "headers": []}
    with caplog.at_level(logging.WARNING, logger="waporta.access"):
        trio.run(log.access, _scope(), response, 0.001)
    with caplog.at_level(logging.INFO, logger="waporta.access"):
        trio.run(log.access, _scope(), None, 0.001)  # the stream closed without an answer
        trio.run(log.access, {**_scope(), "client": None}, response, 0.001)
    [record] = [r for r in caplog.records if r.name == "waporta.access"]
    assert record.getMessage() == '- "GET /api/whatsapp/check HTTP/1.1" 200 - 1.0ms'


async def test_serve_logs_one_access_line_per_answered_request(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(tmp_path)
    stop = trio.Event()
    with caplog.at_level(logging.INFO, logger="waporta.access"), trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(functools.partial(serve, config, shutdown_trigger=stop.wait))
            async with httpx.AsyncClient(base_url=binds[0]) as client:
                assert (await client.get("/health?x=1")).status_code == 200
                assert (await client.get("/nowhere")).status_code == 404
            stop.set()
    lines = [r.getMessage() for r in caplog.records if r.name == "waporta.access"]
    assert len(lines) == 2
    assert re.fullmatch(r'127\.0\.0\.1:\d+ "GET /health HTTP/1\.1" 200 \d+ \d+\.\dms', lines[0])
    assert re.fullmatch(r'127\.0\.0\.1:\d+ "GET /nowhere HTTP/1\.1" 404 \d+ \d+\.\dms', lines[1])


async def test_serve_keeps_request_urls_with_secrets_out_of_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """httpx logs each request's URL, query and all, at INFO; the hub's requests carry secrets there."""
    config = make_config(tmp_path)
    stop = trio.Event()
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)
    with caplog.at_level(logging.DEBUG), trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(functools.partial(serve, config, shutdown_trigger=stop.wait))
            async with httpx.AsyncClient(base_url=binds[0]) as client:
                assert (await client.get("/health?auth=s3cret-token")).status_code == 200
            stop.set()
    assert "s3cret-token" not in caplog.text
    assert all(logging.getLogger(name).getEffectiveLevel() >= logging.WARNING for name in ("httpx", "httpcore"))


def test_serving_gc_raises_the_young_threshold_and_restores_it() -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 11, 12)
        with serving_gc():
            assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 11, 12)
        assert gc.get_threshold() == (700, 11, 12)
        with pytest.raises(RuntimeError), serving_gc():
            raise RuntimeError("the block failed")
        assert gc.get_threshold() == (700, 11, 12)
    finally:
        gc.set_threshold(*saved)


def test_serving_gc_keeps_a_disabled_or_higher_threshold() -> None:
    saved = gc.get_threshold()
    try:
        for chosen in [(0, 10, 10), (GC_YOUNG_THRESHOLD * 2, 10, 10)]:
            gc.set_threshold(*chosen)
            with serving_gc():
                assert gc.get_threshold() == chosen
            assert gc.get_threshold() == chosen
    finally:
        gc.set_threshold(*saved)


async def test_serve_tunes_the_gc_while_serving_and_answers_without_a_server_header(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    stop = trio.Event()
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                binds = await nursery.start(functools.partial(serve, config, shutdown_trigger=stop.wait))
                assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, 10)
                async with httpx.AsyncClient(base_url=binds[0]) as client:
                    response = await client.get("/health")
                assert response.status_code == 200
                assert "server" not in response.headers
                assert "date" in response.headers
                stop.set()
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*saved)
