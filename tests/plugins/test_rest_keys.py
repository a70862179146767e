"""waporta_plugins.rest_keys: POST/GET /api/keys, DELETE /api/keys/<id> (dashboard token only)."""

from __future__ import annotations

import pytest
from quart.testing import QuartClient

from tests.plugins.conftest import DEFAULT_KEY, FakeClock, bearer, login

PROTECTED = "/api/whatsapp/sessions/s1/webhooks"


async def create(client: QuartClient, token: str, name: str = "worker") -> dict[str, object]:
    response = await client.post("/api/keys", json={"name": name}, headers=bearer(token))
    assert response.status_code == 201, await response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, object] = await response.get_json()
    return body


async def test_create_returns_the_key_once_and_it_authorises_the_api(client: QuartClient) -> None:
    token = await login(client)
    created = await create(client, token, "  worker  ")
    assert set(created) == {"id", "name", "prefix", "createdAt", "lastUsedAt", "key"}
    key = created["key"]
    assert isinstance(key, str)
    assert key.startswith("wap_")
    assert len(key) >= len("wap_") + 32
    assert created["name"] == "worker"
    assert isinstance(created["prefix"], str)
    assert key.startswith(created["prefix"])
    assert created["lastUsedAt"] is None
    assert (await client.get(PROTECTED)).status_code == 401
    assert (await client.get(PROTECTED, headers={"X-API-Key": key})).status_code == 200


async def test_list_never_shows_the_key(client: QuartClient, clock: FakeClock) -> None:
    token = await login(client)
    first = await create(client, token, "first")
    clock.now += 10
    second = await create(client, token, "second")
    response = await client.get("/api/keys", headers=bearer(token))
    assert response.status_code == 200
    listed = await response.get_json()
    assert [item["id"] for item in listed] == [first["id"], second["id"]]
    assert all(set(item) == {"id", "name", "prefix", "createdAt", "lastUsedAt"} for item in listed)
    text = await response.get_data(as_text=True)
    assert str(first["key"]) not in text
    assert str(second["key"]) not in text


async def test_using_a_key_sets_last_used_at(client: QuartClient, clock: FakeClock) -> None:
    token = await login(client)
    created = await create(client, token)
    clock.now += 60
    assert (await client.get(PROTECTED, headers={"X-API-Key": str(created["key"])})).status_code == 200
    listed = await (await client.get("/api/keys", headers=bearer(token))).get_json()
    assert listed[0]["lastUsedAt"] is not None
    assert listed[0]["lastUsedAt"] > listed[0]["createdAt"]


async def test_revoke_then_the_key_is_refused(client: QuartClient) -> None:
    token = await login(client)
    created = await create(client, token)
    response = await client.delete(f"/api/keys/{created['id']}", headers=bearer(token))
    assert response.status_code == 200
    assert await response.get_json() == {"ok": True}
    refused = await client.get(PROTECTED, headers={"X-API-Key": str(created["key"])})
    assert refused.status_code == 401
    assert await (await client.get("/api/keys", headers=bearer(token))).get_json() == []
    again = await client.delete(f"/api/keys/{created['id']}", headers=bearer(token))
    assert again.status_code == 404
    assert (await again.get_json())["error"] == "not_found"


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({}, "required"),
        ({"name": ""}, "empty"),
        ({"name": "   "}, "empty"),
        ({"name": 7}, "string"),
        ({"name": "x" * 101}, "at most"),
        ({"name": "bad\nname"}, "control"),
    ],
)
async def test_bad_names_are_400(client: QuartClient, payload: dict[str, object], fragment: str) -> None:
    token = await login(client)
    response = await client.post("/api/keys", json=payload, headers=bearer(token))
    assert response.status_code == 400
    body = await response.get_json()
    assert body["field"] == "name"
    assert fragment in body["message"]


async def test_keys_routes_want_a_dashboard_token_not_a_key(client: QuartClient) -> None:
    token = await login(client)
    created = await create(client, token)
    for headers in ({}, {"X-API-Key": DEFAULT_KEY}, {"X-API-Key": str(created["key"])}, bearer("forged")):
        assert (await client.get("/api/keys", headers=headers)).status_code == 401
        assert (await client.post("/api/keys", json={"name": "x"}, headers=headers)).status_code == 401
        assert (await client.delete(f"/api/keys/{created['id']}", headers=headers)).status_code == 401
    # nothing was revoked or created by the refused calls
    listed = await (await client.get("/api/keys", headers=bearer(token))).get_json()
    assert [item["id"] for item in listed] == [created["id"]]
