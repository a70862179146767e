"""waporta.app: JSON errors, body parsing, the central /api/whatsapp guard, /health, /openapi.json, /doc.

The hub is real (SQLite in tmp_path, real Auth) with a fake clock; routes come from a test plugin
registered through the same ``register_routes`` hook the built-ins use.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from quart import Response, request
from quart_trio import QuartTrio

from tests import browser
from waporta import hookimpl
from waporta.app import ApiError, create_app, current_hub, dashboard_required, json_object, str_field
from waporta.config import ApiConfig, Config, DashboardConfig, StorageConfig, default_config
from waporta.hub import Hub, open_hub, serve
from waporta.openapi import openapi_path
from waporta.plugins import Plugins

PASSWORD = "correct horse battery staple"
DEFAULT_KEY = "wap_default_key_from_the_config_0123456789"
TTL = 3600.0


class FakeClock:
    """POSIX seconds that only move when a test says so."""

    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RoutesPlugin:
    """Routes exercising the app's machinery."""

    def __init__(self) -> None:
        self.waits_ended: list[str] = []

    @hookimpl
    def register_routes(self, hub: Hub, app: QuartTrio) -> None:
        @app.get("/api/whatsapp/ping")
        async def ping() -> dict[str, Any]:
            assert current_hub() is hub
            return {"pong": True}

        @app.post("/api/whatsapp/echo")
        async def echo() -> dict[str, Any]:
            body = await json_object()
            return {"name": str_field(body, "name", max_length=5)}

        @app.post("/raw-json")
        async def raw_json() -> dict[str, Any]:
            return {"got": await request.get_json(force=True)}

        @app.get("/boom")
        async def boom() -> dict[str, Any]:
            raise RuntimeError("secret detail that must not leak")

        @app.get("/teapot")
        async def teapot() -> dict[str, Any]:
            raise ApiError(418, "teapot", "short and stout", headers={"Retry-After": "7"}, spout=1)

        @app.get("/admin-only")
        @dashboard_required
        async def admin_only() -> dict[str, Any]:
            return {"admin": True}

        @app.get("/stream")
        async def stream() -> Response:
            async def parts() -> AsyncIterator[bytes]:
                for part in (b"one,", b"two,", b"three"):
                    yield part

            return Response(parts(), content_type="text/plain")

        @app.get("/digits")
        async def digits() -> Response:
            response = Response(b"0123456789", content_type="text/plain")
            return await response.make_conditional(request, accept_ranges=True, complete_length=10)

        @app.get("/wait")
        async def wait() -> dict[str, Any]:
            try:
                await trio.sleep_forever()
            finally:
                self.waits_ended.append("cancelled")
            return {}  # not reached


def make_config(tmp_path: Path, *, default_key: str | None = DEFAULT_KEY) -> Config:
    return dataclasses.replace(
        default_config(),
        storage=StorageConfig(data_dir=tmp_path / "data"),
        dashboard=DashboardConfig(password=PASSWORD, token_ttl=TTL),
        api=ApiConfig(default_key=default_key),
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def hub(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Hub]:
    plugins = Plugins()
    plugins.register(RoutesPlugin(), "test-routes")
    async with open_hub(make_config(tmp_path), plugins, clock=clock) as opened:
        yield opened


@pytest.fixture
def app(hub: Hub) -> QuartTrio:
    return create_app(hub)


async def token_for(hub: Hub) -> str:
    return (await hub.auth.login("admin", PASSWORD, client="test")).token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------ core routes and errors


async def test_health(app: QuartTrio) -> None:
    response = await app.test_client().get("/health")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["status"] == "ok"
    assert isinstance(body["version"], str)


async def test_unknown_route_is_a_json_404(app: QuartTrio) -> None:
    response = await app.test_client().get("/no/such/thing")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    body = await response.get_json()
    assert body["error"] == "not_found"
    assert "/no/such/thing" in body["message"]


async def test_wrong_method_is_a_json_405_with_allow(app: QuartTrio) -> None:
    response = await app.test_client().delete("/health")
    assert response.status_code == 405
    body = await response.get_json()
    assert body["error"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


async def test_crash_is_a_json_500_without_traceback_and_is_logged(
    app: QuartTrio, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await app.test_client().get("/boom")
    assert response.status_code == 500
    text = await response.get_data(as_text=True)
    assert (await response.get_json())["error"] == "internal_error"
    assert "secret detail" not in text
    assert "Traceback" not in text
    assert any(record.exc_info and "secret detail" in str(record.exc_info[1]) for record in caplog.records)


async def test_api_error_renders_code_message_extra_and_headers(app: QuartTrio) -> None:
    response = await app.test_client().get("/teapot")
    assert response.status_code == 418
    assert response.headers["Retry-After"] == "7"
    assert await response.get_json() == {"error": "teapot", "message": "short and stout", "spout": 1}


# ------------------------------------------------------------------ bodies


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b"   ", "empty"),
        (b"[1, 2]", "got an array"),
        (b'"text"', "got a string"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
async def test_malformed_bodies_are_400_naming_the_problem(
    app: QuartTrio, data: bytes, fragment: str
) -> None:
    response = await app.test_client().post(
        "/api/whatsapp/echo", data=data, headers={"X-API-Key": DEFAULT_KEY, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    body = await response.get_json()
    assert body["error"] == "invalid_json"
    assert fragment in body["message"]


async def test_plugin_using_request_get_json_also_gets_a_400(app: QuartTrio) -> None:
    response = await app.test_client().post("/raw-json", data=b'{"a": ')
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid_json"
    ok = await app.test_client().post("/raw-json", json={"a": 1})
    assert await ok.get_json() == {"got": {"a": 1}}


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({}, "`name` is required"),
        ({"name": None}, "`name` is required"),
        ({"name": 3}, "`name` must be a string, got a number"),
        ({"name": ""}, "`name` must not be empty"),
        ({"name": "toolong"}, "at most 5 characters"),
    ],
)
async def test_field_errors_name_the_field(app: QuartTrio, payload: dict[str, Any], fragment: str) -> None:
    response = await app.test_client().post("/api/whatsapp/echo", json=payload, headers={"X-API-Key": DEFAULT_KEY})
    assert response.status_code == 400
    body = await response.get_json()
    assert body["field"] == "name"
    assert fragment in body["message"]


# ------------------------------------------------------------------ credentials


async def assert_unauthorized(app: QuartTrio, path: str, headers: dict[str, str]) -> None:
    response = await app.test_client().get(path, headers=headers)
    assert response.status_code == 401, (path, headers)
    body = await response.get_json()
    assert body["error"] == "unauthorized"
    assert body["message"]
    assert "Bearer" in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic YWRtaW46cGFzcw=="},
        {"X-API-Key": ""},
        {"X-API-Key": "wap_wrong"},
        {"Authorization": f"Bearer {DEFAULT_KEY}"},  # a key is not a token
    ],
)
async def test_protected_prefix_refuses_missing_or_bad_credentials(app: QuartTrio, headers: dict[str, str]) -> None:
    await assert_unauthorized(app, "/api/whatsapp/ping", headers)


async def test_guard_covers_unknown_paths_under_the_prefix(app: QuartTrio) -> None:
    # no route discovery without credentials: 401 before 404
    await assert_unauthorized(app, "/api/whatsapp/not-a-route", {})
    await assert_unauthorized(app, "/api/whatsapp", {})
    known = await app.test_client().get("/api/whatsapp/not-a-route", headers={"X-API-Key": DEFAULT_KEY})
    assert known.status_code == 404


async def test_token_created_key_and_default_key_are_accepted(app: QuartTrio, hub: Hub) -> None:
    client = app.test_client()
    token = await token_for(hub)
    _, key = await hub.auth.create_key("worker")
    for headers in (bearer(token), {"X-API-Key": key}, {"X-API-Key": DEFAULT_KEY}):
        response = await client.get("/api/whatsapp/ping", headers=headers)
        assert response.status_code == 200, headers
        assert await response.get_json() == {"pong": True}
    # a bad bearer does not spoil a good key sent alongside it
    both = await client.get("/api/whatsapp/ping", headers={"Authorization": "Bearer nope", "X-API-Key": key})
    assert both.status_code == 200


async def test_expired_token_is_refused(app: QuartTrio, hub: Hub, clock: FakeClock) -> None:
    token = await token_for(hub)
    clock.now += TTL - 1
    assert (await app.test_client().get("/api/whatsapp/ping", headers=bearer(token))).status_code == 200
    clock.now += 2
    await assert_unauthorized(app, "/api/whatsapp/ping", bearer(token))


async def test_logged_out_token_and_revoked_key_are_refused(app: QuartTrio, hub: Hub) -> None:
    token = await token_for(hub)
    info, key = await hub.auth.create_key("worker")
    await hub.auth.logout(token)
    assert await hub.auth.revoke_key(info.id)
    await assert_unauthorized(app, "/api/whatsapp/ping", bearer(token))
    await assert_unauthorized(app, "/api/whatsapp/ping", {"X-API-Key": key})


async def test_routes_outside_the_prefix_need_no_credentials(app: QuartTrio) -> None:
    assert (await app.test_client().get("/health")).status_code == 200


async def test_dashboard_required_wants_a_token_not_a_key(app: QuartTrio, hub: Hub) -> None:
    client = app.test_client()
    await assert_unauthorized(app, "/admin-only", {})
    await assert_unauthorized(app, "/admin-only", {"X-API-Key": DEFAULT_KEY})
    response = await client.get("/admin-only", headers=bearer(await token_for(hub)))
    assert response.status_code == 200
    assert await response.get_json() == {"admin": True}


# ------------------------------------------------------------------ OpenAPI and /doc


@asynccontextmanager
async def full_app(tmp_path: Path, clock: FakeClock) -> AsyncIterator[QuartTrio]:
    plugins = Plugins.load(make_config(tmp_path), entry_points=False)  # the built-in REST plugins
    plugins.register(RoutesPlugin(), "test-routes")
    async with open_hub(make_config(tmp_path), plugins, clock=clock) as opened:
        yield create_app(opened)


async def test_openapi_covers_every_rule_of_the_url_map(tmp_path: Path, clock: FakeClock) -> None:
    async with full_app(tmp_path, clock) as app:
        response = await app.test_client().get("/openapi.json")
        assert response.status_code == 200
        spec = await response.get_json()
        assert spec["openapi"] == "3.1.0"
        documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
        expected = {
            (openapi_path(rule.rule)[0], method)
            for rule in app.url_map.iter_rules()
            for method in rule.methods or ()
            if method not in ("HEAD", "OPTIONS")
        }
        assert expected  # the built-ins are there
        assert expected == documented
        assert ("/api/auth/login", "POST") in documented
        assert ("/api/whatsapp/sessions/{sessionId}/webhooks", "POST") in documented
        # everything under /api/whatsapp is documented as protected
        for path, item in spec["paths"].items():
            if path.startswith("/api/whatsapp"):
                for op in item.values():
                    assert op["security"], path


async def test_docs_api_md_describes_every_built_in_route(tmp_path: Path, clock: FakeClock) -> None:
    text = await trio.Path(__file__).parents[2].joinpath("docs", "api.md").read_text(encoding="utf-8")
    plugins = Plugins.load(make_config(tmp_path), entry_points=False)
    async with open_hub(make_config(tmp_path), plugins, clock=clock) as opened:
        spec = await (await create_app(opened).test_client().get("/openapi.json")).get_json()
    missing = [
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method in item
        if f"{method.upper()} {path}" not in text
    ]
    assert not missing, f"docs/api.md does not mention: {missing}"


async def test_doc_page_and_its_assets_are_local(app: QuartTrio) -> None:
    client = app.test_client()
    page = await client.get("/doc")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    html = await page.get_data(as_text=True)
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs, "the page loads its script and style"
    texts = [html]
    for ref in refs:
        assert "://" not in ref, ref
        assert not ref.startswith("//"), ref
        asset = await client.get("/" + ref.lstrip("/"))
        assert asset.status_code == 200, ref
        texts.append(await asset.get_data(as_text=True))
    assert any("openapi.json" in text for text in texts)
    for text in texts:
        assert "://" not in text  # no CDN, no external URL of any kind


async def test_doc_assets_route_refuses_other_names(app: QuartTrio) -> None:
    client = app.test_client()
    for name in ("nope.js", "..%2Fapp.py", "doc.html"):
        response = await client.get(f"/doc/assets/{name}")
        assert response.status_code == 404, name
        assert (await response.get_json())["error"] == "not_found"


async def test_doc_renders_its_operations_in_a_browser(chromium: str, tmp_path: Path) -> None:
    """Headless Chromium, no network: the page's own script fetches /openapi.json and lists the routes."""
    config = dataclasses.replace(
        make_config(tmp_path), server=dataclasses.replace(default_config().server, port=0)
    )
    stop = trio.Event()
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            plugins = Plugins.load(config, entry_points=False)
            binds = await nursery.start(functools.partial(serve, config, plugins=plugins, shutdown_trigger=stop.wait))
            dom = await trio.to_thread.run_sync(browser.render, binds[0] + "/doc#rest_auth.login.post")
            stop.set()
    assert "could not load openapi.json" not in dom
    assert dom.count('class="op"') >= 10
    for path in ("/api/auth/login", "/api/keys/{id}", "/api/whatsapp/sessions/{sessionId}/webhooks", "/health"):
        assert f'<span class="path">{path}</span>' in dom, path
    # the linked operation is open, with its body prefilled from the schema
    opened = re.search(r'<details class="op" id="rest_auth\.login\.post"[^>]*>', dom)
    assert opened is not None
    assert 'open=""' in opened.group(0)
    assert "Request body (JSON)" in dom


# ------------------------------------------------------------------ ASGI: what goes out per request


def asgi_scope(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"hub.test"), *(headers or [])],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 3000),
        "extensions": {},
    }


async def asgi_call(
    app: QuartTrio, scope: dict[str, Any], *, disconnect: trio.Event | None = None, yielding: bool = False
) -> list[Any]:
    """Run one request through the app's ASGI entry point; the messages it sent (``yielding``: each send
    is a trio checkpoint first, as a server's is, so a cancelled scope around it stops it)."""
    sent: list[Any] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if disconnect is not None:
            await disconnect.wait()
        else:
            await trio.sleep_forever()
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        if yielding:
            await trio.lowlevel.checkpoint()
        sent.append(message)

    await app(scope, receive, send)  # type: ignore[arg-type]
    return sent


async def test_an_answer_in_memory_is_one_body_message_that_ends_the_response(app: QuartTrio) -> None:
    sent = await asgi_call(app, asgi_scope("/health"))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    assert sent[1]["more_body"] is False
    assert b'"status":"ok"' in sent[1]["body"]


async def test_a_streamed_answer_is_sent_part_by_part(app: QuartTrio) -> None:
    sent = await asgi_call(app, asgi_scope("/stream"))
    assert [m["type"] for m in sent] == ["http.response.start", *["http.response.body"] * 4]
    assert [m["body"] for m in sent[1:]] == [b"one,", b"two,", b"three", b""]
    assert [m["more_body"] for m in sent[1:]] == [True, True, True, False]


async def test_a_range_of_an_answer_in_memory(app: QuartTrio) -> None:
    sent = await asgi_call(app, asgi_scope("/digits", [(b"range", b"bytes=2-4")]))
    assert sent[0]["status"] == 206
    assert (b"content-range", b"bytes 2-4/10") in sent[0]["headers"]
    assert sent[1] == {"type": "http.response.body", "body": b"234", "more_body": False}


async def test_an_answer_in_memory_over_http1_is_not_under_the_response_timeout(app: QuartTrio) -> None:
    # hypercorn's HTTP/1 writes are shielded, so the timeout could not cut them short: no scope is paid for
    app.config["RESPONSE_TIMEOUT"] = 0
    sent = await asgi_call(app, asgi_scope("/health"), yielding=True)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


async def test_over_http2_and_when_streamed_the_response_timeout_still_applies(app: QuartTrio) -> None:
    app.config["RESPONSE_TIMEOUT"] = 0
    assert await asgi_call(app, {**asgi_scope("/health"), "http_version": "2"}, yielding=True) == []
    assert await asgi_call(app, asgi_scope("/stream"), yielding=True) == []
    app.config["RESPONSE_TIMEOUT"] = None
    sent = await asgi_call(app, {**asgi_scope("/health"), "http_version": "2"}, yielding=True)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    sent = await asgi_call(app, asgi_scope("/stream"), yielding=True)
    assert [m["body"] for m in sent[1:]] == [b"one,", b"two,", b"three", b""]


async def test_a_client_that_goes_away_cancels_its_request(app: QuartTrio, hub: Hub) -> None:
    [plugin] = [p for p in hub.plugins.pm.get_plugins() if isinstance(p, RoutesPlugin)]
    gone = trio.Event()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(functools.partial(asgi_call, app, asgi_scope("/wait"), disconnect=gone))
            await trio.testing.wait_all_tasks_blocked()
            assert plugin.waits_ended == []
            gone.set()
    assert plugin.waits_ended == ["cancelled"]
