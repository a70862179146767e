"""waporta_plugins.rest_webhooks: the session webhook registry under /api/whatsapp (original contract)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from quart.testing import QuartClient

from tests.plugins.conftest import DEFAULT_KEY, FakeClock, bearer, login

AUTH = {"X-API-Key": DEFAULT_KEY}
ISO_Z = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\Z")


def base(session: str = "sales-bot") -> str:
    return f"/api/whatsapp/sessions/{session}/webhooks"


async def create(client: QuartClient, url: str, session: str = "sales-bot") -> Any:
    response = await client.post(base(session), json={"url": url}, headers=AUTH)
    return response.status_code, await response.get_json()


async def test_create_returns_the_record(client: QuartClient) -> None:
    status, body = await create(client, "https://Example.com:443/incoming?x=1")
    assert status == 201
    assert set(body) == {"id", "sessionId", "url", "normalizedUrl", "enabled", "createdAt", "updatedAt"}
    assert re.fullmatch(r"[0-9a-f]{16}", body["id"])
    assert body["sessionId"] == "sales-bot"
    assert body["url"] == "https://Example.com:443/incoming?x=1"
    assert body["normalizedUrl"] == "https://example.com/incoming?x=1"
    assert body["enabled"] is True
    assert ISO_Z.match(body["createdAt"])
    assert body["updatedAt"] == body["createdAt"]


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://example.com/hook", "https_required"),
        ("https://example.com/hook#frag", "fragment_not_allowed"),
        ("https://example.com/" + "a" * (2049 - len("https://example.com/")), "too_long"),
        ("/relative/hook", "absolute_url_required"),
        ("example.com/hook", "absolute_url_required"),
        ("", "url_required"),
    ],
)
async def test_bad_urls_are_400_naming_field_and_rule(client: QuartClient, url: str, rule: str) -> None:
    status, body = await create(client, url)
    assert status == 400
    assert body["error"] == "invalid_webhook_url"
    assert body["field"] == "url"
    assert body["rule"] == rule
    assert body["message"]


async def test_2048_characters_is_still_accepted(client: QuartClient) -> None:
    url = "https://example.com/" + "a" * (2048 - len("https://example.com/"))
    status, _ = await create(client, url)
    assert status == 201


@pytest.mark.parametrize("payload", [{}, {"url": None}, {"url": 42}, {"url": ["https://example.com/"]}])
async def test_missing_or_non_string_url_is_400(client: QuartClient, payload: dict[str, Any]) -> None:
    response = await client.post(base(), json=payload, headers=AUTH)
    assert response.status_code == 400
    body = await response.get_json()
    assert (body["field"], body["rule"]) == ("url", "url_required")


async def test_malformed_body_is_400(client: QuartClient) -> None:
    response = await client.post(base(), data=b"{", headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid_json"


async def test_duplicate_after_normalisation_is_409_with_existing_id(client: QuartClient) -> None:
    status, first = await create(client, "https://example.com/")
    assert status == 201
    status, body = await create(client, "HTTPS://Example.com:443")
    assert status == 409
    assert body["error"] == "duplicate_webhook_url"
    assert body["existingId"] == first["id"]
    # the same URL for another session is that session's own record
    status, other = await create(client, "https://example.com/", session="support")
    assert status == 201
    assert other["id"] != first["id"]


@pytest.mark.parametrize("session", ["bad%20id", "-leading-dash", "x" * 65, "dots.not.allowed"])
async def test_bad_session_ids_are_400(client: QuartClient, session: str) -> None:
    for response in (
        await client.post(base(session), json={"url": "https://example.com/"}, headers=AUTH),
        await client.get(base(session), headers=AUTH),
        await client.delete(base(session) + "/0123456789abcdef", headers=AUTH),
    ):
        assert response.status_code == 400
        body = await response.get_json()
        assert body["error"] == "invalid_session_id"
        assert body["field"] == "sessionId"


async def test_list_is_per_session_oldest_first(client: QuartClient, clock: FakeClock) -> None:
    ids = []
    for n in range(3):
        _, body = await create(client, f"https://example.com/{n}")
        ids.append(body["id"])
        clock.now += 1
    await create(client, "https://elsewhere.example/", session="support")
    response = await client.get(base(), headers=AUTH)
    assert response.status_code == 200
    listed = await response.get_json()
    assert [item["id"] for item in listed] == ids
    assert all(item["sessionId"] == "sales-bot" for item in listed)
    assert await (await client.get(base("nobody"), headers=AUTH)).get_json() == []


async def test_delete_returns_id_and_session_then_404(client: QuartClient) -> None:
    _, kept = await create(client, "https://example.com/keep")
    _, gone = await create(client, "https://example.com/gone")
    response = await client.delete(f"{base()}/{gone['id']}", headers=AUTH)
    assert response.status_code == 200
    assert await response.get_json() == {"id": gone["id"], "sessionId": "sales-bot"}
    again = await client.delete(f"{base()}/{gone['id']}", headers=AUTH)
    assert again.status_code == 404
    assert (await again.get_json())["error"] == "not_found"
    listed = await (await client.get(base(), headers=AUTH)).get_json()
    assert [item["id"] for item in listed] == [kept["id"]]


async def test_delete_of_another_sessions_webhook_is_404_and_keeps_it(client: QuartClient) -> None:
    _, record = await create(client, "https://example.com/x", session="support")
    response = await client.delete(f"{base()}/{record['id']}", headers=AUTH)
    assert response.status_code == 404
    listed = await (await client.get(base("support"), headers=AUTH)).get_json()
    assert [item["id"] for item in listed] == [record["id"]]


async def test_unknown_id_formats_are_404(client: QuartClient) -> None:
    for webhook_id in ("nope", "0123456789abcdef", "0123456789ABCDEF"):
        assert (await client.delete(f"{base()}/{webhook_id}", headers=AUTH)).status_code == 404


async def test_all_routes_need_credentials(client: QuartClient) -> None:
    for response in (
        await client.post(base(), json={"url": "https://example.com/"}),
        await client.get(base()),
        await client.delete(base() + "/0123456789abcdef"),
    ):
        assert response.status_code == 401
        assert (await response.get_json())["error"] == "unauthorized"


async def test_responses_never_echo_credentials(client: QuartClient) -> None:
    token = await login(client)
    for n, headers in enumerate((AUTH, bearer(token))):
        created = await client.post(base(), json={"url": f"https://example.com/{n}"}, headers=headers)
        assert created.status_code == 201
        listed = await client.get(base(), headers=headers)
        for response in (created, listed):
            text = await response.get_data(as_text=True)
            assert DEFAULT_KEY not in text
            assert token not in text
            assert "Authorization" not in text
