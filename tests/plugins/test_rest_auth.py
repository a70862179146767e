"""waporta_plugins.rest_auth: POST /api/auth/login, /api/auth/logout, GET /api/auth/check."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from quart.testing import QuartClient

from tests.plugins.conftest import MAX_FAILURES, PASSWORD, TTL, WINDOW, FakeClock, bearer, login


async def test_login_returns_a_token_and_its_expiry(client: QuartClient, clock: FakeClock) -> None:
    response = await client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
    assert response.status_code == 200
    body = await response.get_json()
    assert set(body) == {"token", "expiresAt"}
    assert body["expiresAt"].endswith("Z")
    expires = datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
    assert expires == datetime.fromtimestamp(clock.now + TTL, UTC)
    check = await client.get("/api/auth/check", headers=bearer(body["token"]))
    assert check.status_code == 200
    assert await check.get_json() == {"ok": True}


@pytest.mark.parametrize(
    ("username", "password"),
    [("admin", "not-the-password-xyz"), ("root", PASSWORD), ("ADMIN", PASSWORD), ("admin", PASSWORD + " ")],
)
async def test_bad_credentials_are_401(client: QuartClient, username: str, password: str) -> None:
    response = await client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 401
    body = await response.get_json()
    assert body["error"] == "invalid_credentials"
    assert password not in await response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"password": PASSWORD}, "username"),
        ({"username": "admin"}, "password"),
        ({"username": "admin", "password": 123}, "password"),
        ({"username": ["admin"], "password": PASSWORD}, "username"),
    ],
)
async def test_missing_or_mistyped_fields_are_400(client: QuartClient, payload: dict[str, object], field: str) -> None:
    response = await client.post("/api/auth/login", json=payload)
    assert response.status_code == 400
    body = await response.get_json()
    assert body["field"] == field
    assert field in body["message"]


async def test_malformed_login_body_is_400(client: QuartClient) -> None:
    response = await client.post("/api/auth/login", data=b"username=admin", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid_json"


async def test_repeated_failures_are_throttled_with_retry_after(client: QuartClient, clock: FakeClock) -> None:
    for _ in range(MAX_FAILURES):
        failed = await client.post("/api/auth/login", json={"username": "admin", "password": "nope"})
        assert failed.status_code == 401
        clock.now += 1
    # even the right password is refused while throttled
    throttled = await client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
    assert throttled.status_code == 429
    retry_after = int(throttled.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW
    body = await throttled.get_json()
    assert body["error"] == "rate_limited"
    assert body["retryAfterMs"] == retry_after * 1000
    clock.now += retry_after
    assert await login(client)


async def test_logout_revokes_the_token(client: QuartClient) -> None:
    token = await login(client)
    other = await login(client)
    response = await client.post("/api/auth/logout", headers=bearer(token))
    assert response.status_code == 200
    assert await response.get_json() == {"ok": True}
    assert (await client.get("/api/auth/check", headers=bearer(token))).status_code == 401
    assert (await client.post("/api/auth/logout", headers=bearer(token))).status_code == 401
    # other sessions stay logged in
    assert (await client.get("/api/auth/check", headers=bearer(other))).status_code == 200


async def test_logout_and_check_need_a_token(client: QuartClient) -> None:
    for method, path in (("post", "/api/auth/logout"), ("get", "/api/auth/check")):
        response = await getattr(client, method)(path)
        assert response.status_code == 401
        assert (await response.get_json())["error"] == "unauthorized"


async def test_expired_token_fails_check(client: QuartClient, clock: FakeClock) -> None:
    token = await login(client)
    clock.now += TTL + 1
    assert (await client.get("/api/auth/check", headers=bearer(token))).status_code == 401
