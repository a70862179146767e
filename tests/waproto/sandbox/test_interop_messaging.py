"""Real Baileys 6 and 7 chat through the sandbox (issue #5 acceptance, messaging part).

A Baileys companion links to one account by QR, then sends a text to an echo-bot account: the bot's phone
decrypts it (its log shows it) and Baileys receives and decrypts ``echo: <text>``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.interop.harness import Harness
from tests.waproto.sandbox.interop_helpers import Served, Sock, call
from waproto.jid import JID

pytestmark = pytest.mark.interop

VERSIONS = ["v6", "v7"]


def text_of(message: dict[str, Any] | None) -> str | None:
    if not message:
        return None
    if "conversation" in message:
        return str(message["conversation"])
    extended = message.get("extendedTextMessage")
    return None if extended is None else str(extended.get("text"))


async def linked(baileys: Harness, served: Served, version: str, phone: str) -> tuple[Sock, JID]:
    await served.create_account(phone)
    sock = await Sock.create(baileys, version, served.ws_url)
    response = await served.post(f"/sandbox/accounts/{phone}/scan", {"qr": await sock.wait_qr()})
    assert response.status_code == 200, response.text
    restart = await sock.wait_close()
    await sock.wait_open(after=restart["n"])
    return sock, JID.parse(response.json()["jid"])


@pytest.mark.parametrize("version", VERSIONS)
async def test_text_to_an_echo_bot(baileys: Harness, served: Served, version: str) -> None:
    await served.create_account("15550009999", name="Echo", bot="echo")
    sock, _ = await linked(baileys, served, version, "15550001111")
    try:
        await call(baileys, "sock.sendMessage", h=sock.handle, jid="15550009999@s.whatsapp.net", content={"text": "hello sandbox"})
        event = await sock.wait_for(
            lambda e: e["type"] == "messages.upsert"
            and any(text_of(m.get("message")) == "echo: hello sandbox" for m in e["messages"])
        )
        [echo] = [m for m in event["messages"] if text_of(m.get("message")) == "echo: hello sandbox"]
        assert not echo["key"]["fromMe"]
        log = (await served.http.get("/sandbox/accounts/15550009999/messages")).json()["messages"]
        received = [m for m in log if m["direction"] == "in"]
        assert [m["text"] for m in received] == ["hello sandbox"]
    finally:
        await sock.end()
