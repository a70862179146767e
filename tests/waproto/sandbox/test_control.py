"""waproto.sandbox.control: the JSON control API, through quart's test client (no sockets)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.waproto.sandbox.test_state import companion
from waproto.sandbox.server import Sandbox, create_app
from waproto.sandbox.state import Network

NOW = 1_790_000_000


@pytest.fixture
def sandbox() -> Sandbox:
    rng = random.Random(3).randbytes
    return Sandbox(Network.open(None, rng=rng), rng=rng, now=lambda: NOW)


async def request(sandbox: Sandbox, method: str, path: str, body: Any = None, *, raw: bytes | None = None) -> tuple[int, Any]:
    client = create_app(sandbox).test_client()
    if raw is not None:
        response = await client.open(path, method=method, data=raw, headers={"Content-Type": "application/json"})
    else:
        response = await client.open(path, method=method, json=body)
    return response.status_code, await response.get_json()


async def test_create_and_list_accounts(sandbox: Sandbox) -> None:
    status, body = await request(sandbox, "POST", "/sandbox/accounts", {"phone": "15550001111", "name": "Alice", "bot": "echo"})
    assert status == 201
    state = sandbox.network.accounts["15550001111"]
    assert body == {"phone": "15550001111", "jid": "15550001111@s.whatsapp.net", "lid": f"{state.lid}@lid", "name": "Alice", "bot": "echo"}
    sandbox.network.add_companion("15550001111", companion(1))
    status, body = await request(sandbox, "GET", "/sandbox/accounts")
    assert status == 200
    [account] = body["accounts"]
    assert account["devices"] == [
        {"jid": "15550001111:1@s.whatsapp.net", "lid": f"{state.lid}:1@lid", "device": 1, "platform": "Chrome", "connected": False}
    ]
    status, body = await request(sandbox, "GET", "/sandbox")
    assert (status, body["accounts"], body["root_public_key"]) == (200, 1, sandbox.root_public_key.hex())


@pytest.mark.parametrize(
    ("body", "status", "error", "field"),
    [
        ({"phone": "12"}, 400, "invalid_field", "phone"),
        ({"phone": 15550001111}, 400, "invalid_field", "phone"),
        ({}, 400, "invalid_field", "phone"),
        ({"phone": "15550001111", "bot": "parrot"}, 400, "invalid_field", "bot"),
        ({"phone": "15550001111", "name": 5}, 400, "invalid_field", "name"),
        ([1, 2], 400, "invalid_json", None),
    ],
)
async def test_create_account_refuses_bad_input(sandbox: Sandbox, body: Any, status: int, error: str, field: str | None) -> None:
    got_status, got = await request(sandbox, "POST", "/sandbox/accounts", body)
    assert (got_status, got["error"], got.get("field")) == (status, error, field)
    assert got["message"]


async def test_duplicate_account_and_broken_json(sandbox: Sandbox) -> None:
    assert (await request(sandbox, "POST", "/sandbox/accounts", {"phone": "15550001111"}))[0] == 201
    status, body = await request(sandbox, "POST", "/sandbox/accounts", {"phone": "15550001111"})
    assert (status, body["error"]) == (409, "account_exists")
    status, body = await request(sandbox, "POST", "/sandbox/accounts", raw=b"{not json")
    assert (status, body["error"]) == (400, "invalid_json")


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/sandbox/accounts/15550009999/scan", {"qr": "x"}, 404, "unknown_account"),
        ("/sandbox/accounts/15550001111/scan", {}, 400, "invalid_field"),
        ("/sandbox/accounts/15550001111/scan", {"qr": 5}, 400, "invalid_field"),
        ("/sandbox/accounts/15550001111/scan", {"qr": "not,a,qr"}, 400, "bad_qr"),
        ("/sandbox/accounts/15550001111/scan", "qr", 400, "invalid_json"),
        ("/sandbox/accounts/15550001111/link-code", {"code": "ABCD-EFGH"}, 404, "no_pending_code"),
        ("/sandbox/accounts/15550001111/link-code", {"code": "AB"}, 400, "bad_code"),
        ("/sandbox/accounts/15550001111/link-code", {}, 400, "invalid_field"),
        ("/sandbox/devices/garbage/disconnect", None, 400, "invalid_jid"),
        ("/sandbox/devices/15550001111:4@s.whatsapp.net/disconnect", None, 404, "unknown_device"),
        ("/sandbox/devices/15550001111@s.whatsapp.net/logout", None, 404, "unknown_device"),
        ("/sandbox/nothing-here", None, 404, "not_found"),
    ],
)
async def test_control_errors(sandbox: Sandbox, path: str, body: Any, status: int, error: str) -> None:
    sandbox.network.create_account("15550001111", rng=sandbox.rng, now=NOW)
    got_status, got = await request(sandbox, "POST", path, body)
    assert (got_status, got["error"]) == (status, error)


async def test_wrong_method_is_json_too(sandbox: Sandbox) -> None:
    status, body = await request(sandbox, "DELETE", "/sandbox/accounts")
    assert (status, body["error"]) == (405, "method_not_allowed")


async def test_disconnect_and_logout(sandbox: Sandbox) -> None:
    state = sandbox.network.create_account("15550001111", rng=sandbox.rng, now=NOW)
    sandbox.network.add_companion("15550001111", companion(1))
    status, body = await request(sandbox, "POST", "/sandbox/devices/15550001111:1@s.whatsapp.net/disconnect")
    assert (status, body) == (200, {"disconnected": False})
    status, body = await request(sandbox, "POST", f"/sandbox/devices/{state.lid}:1@lid/logout")
    assert (status, body) == (200, {"unlinked": True})
    assert state.companions == {}


async def test_send_messages_and_groups(sandbox: Sandbox) -> None:
    for phone in ("15550001111", "15550002222"):
        sandbox.network.create_account(phone, rng=sandbox.rng, now=NOW)
    status, body = await request(sandbox, "POST", "/sandbox/accounts/15550001111/send", {"to": "15550002222", "text": "hi"})
    assert status == 200
    message_id = body["id"]
    status, body = await request(sandbox, "GET", "/sandbox/accounts/15550002222/messages")
    assert status == 200
    [entry] = body["messages"]
    assert (entry["id"], entry["direction"], entry["text"], entry["kind"]) == (message_id, "in", "hi", "text")
    status, body = await request(sandbox, "POST", "/sandbox/groups", {"subject": "Pair", "participants": ["15550001111", "15550002222"]})
    assert status == 201
    group = body["jid"]
    assert body["participants"] == ["15550001111@s.whatsapp.net", "15550002222@s.whatsapp.net"]
    for to in (group, group.split("@")[0]):
        status, body = await request(sandbox, "POST", "/sandbox/accounts/15550002222/send", {"to": to, "text": "all"})
        assert status == 200, body


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/sandbox/accounts/15550001111/send", {"to": "15550009999", "text": "x"}, 404, "unknown_recipient"),
        ("/sandbox/accounts/15550001111/send", {"to": "bad@@jid", "text": "x"}, 400, "invalid_field"),
        ("/sandbox/accounts/15550001111/send", {"to": "15550002222"}, 400, "invalid_field"),
        ("/sandbox/accounts/15550001111/send", {"to": "15550002222", "text": ""}, 400, "invalid_field"),
        ("/sandbox/accounts/15550001111/send", {"to": "15550002222", "text": "x", "image": "AA=="}, 400, "invalid_field"),
        ("/sandbox/accounts/15550001111/send", {"to": "15550002222", "image": "not base64!"}, 400, "invalid_field"),
        ("/sandbox/accounts/15550001111/send", {"to": "15550002222", "image": "AAAA"}, 409, "cannot_send"),
        ("/sandbox/accounts/15550001111/send", [], 400, "invalid_json"),
        ("/sandbox/accounts/15550009999/send", {"to": "15550002222", "text": "x"}, 404, "unknown_account"),
        ("/sandbox/groups", {"subject": "S", "participants": []}, 400, "invalid_field"),
        ("/sandbox/groups", {"subject": "S", "participants": ["15550009999"]}, 404, "unknown_account"),
        ("/sandbox/groups", {"participants": ["15550001111"]}, 400, "invalid_field"),
        ("/sandbox/groups", "x", 400, "invalid_json"),
    ],
)
async def test_send_and_group_errors(sandbox: Sandbox, path: str, body: Any, status: int, error: str) -> None:
    for phone in ("15550001111", "15550002222"):
        sandbox.network.create_account(phone, rng=sandbox.rng, now=NOW)
    got_status, got = await request(sandbox, "POST", path, body)
    assert (got_status, got["error"]) == (status, error)


async def test_messages_of_unknown_account(sandbox: Sandbox) -> None:
    status, body = await request(sandbox, "GET", "/sandbox/accounts/15550001111/messages")
    assert (status, body["error"]) == (404, "unknown_account")
