"""Real Baileys 6 and 7 chat through the sandbox (issue #5 acceptance, messaging part).

A Baileys companion links to one account by QR, then sends a text to an echo-bot account: the bot's phone
decrypts it (its log shows it) and Baileys receives and decrypts ``echo: <text>``.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

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


def texts(sock: Sock, *, after: int = 0) -> list[str]:
    """Every text Baileys received (not sent), in the order its upsert events came."""
    found = []
    for event in sock.events[after:]:
        if event["type"] == "messages.upsert":
            for m in event["messages"]:
                text = text_of(m.get("message"))
                if text is not None and not m["key"].get("fromMe"):
                    found.append(text)
    return found


async def wait_texts(sock: Sock, expected: list[str], *, after: int = 0) -> list[str]:
    await sock.wait_for(lambda e: all(t in texts(sock, after=after) for t in expected))
    return texts(sock, after=after)


@pytest.mark.parametrize("version", VERSIONS)
async def test_offline_queue_after_disconnect(baileys: Harness, served: Served, version: str) -> None:
    await served.create_account("15550002222", name="Bob")
    sock, jid = await linked(baileys, served, version, "15550001111")
    try:
        await call(baileys, "sock.setReconnect", h=sock.handle, on=False)
        mark = len(sock.events)
        response = await served.post(f"/sandbox/devices/{jid}/disconnect")
        assert response.json() == {"disconnected": True}
        await sock.wait_close(after=mark)
        for text in ("one", "two", "three"):
            sent = await served.post("/sandbox/accounts/15550002222/send", {"to": "15550001111", "text": text})
            assert sent.status_code == 200, sent.text
        assert served.sandbox.messaging.queues.pending(jid) == 3
        mark = len(sock.events)
        await call(baileys, "sock.reconnect", h=sock.handle)
        await sock.wait_open(after=mark)
        got = await wait_texts(sock, ["one", "two", "three"], after=mark)
        assert [t for t in got if t in ("one", "two", "three")] == ["one", "two", "three"]
        assert served.sandbox.messaging.queues.pending(jid) == 0
    finally:
        await sock.end()


@pytest.mark.parametrize("version", VERSIONS)
async def test_unlinked_device_gets_401_and_cannot_log_in(baileys: Harness, served: Served, version: str) -> None:
    sock, jid = await linked(baileys, served, version, "15550001111")
    try:
        mark = len(sock.events)
        response = await served.post(f"/sandbox/devices/{jid}/logout")
        assert response.json() == {"unlinked": True}
        closed = await sock.wait_close(after=mark)
        assert closed["statusCode"] == 401
        mark = len(sock.events)
        await call(baileys, "sock.reconnect", h=sock.handle)
        closed = await sock.wait_close(after=mark)
        assert closed["statusCode"] == 401
        accounts = (await served.http.get("/sandbox/accounts")).json()["accounts"]
        assert accounts[0]["devices"] == []
    finally:
        await sock.end()


@pytest.mark.parametrize("version", VERSIONS)
async def test_two_companions_chat_both_ways(baileys: Harness, served: Served, version: str) -> None:
    alice, _ = await linked(baileys, served, version, "15550001111")
    bob, _ = await linked(baileys, served, version, "15550002222")
    try:
        await call(baileys, "sock.sendMessage", h=alice.handle, jid="15550002222@s.whatsapp.net", content={"text": "hi Bob"})
        await wait_texts(bob, ["hi Bob"])
        await call(baileys, "sock.sendMessage", h=bob.handle, jid="15550001111@s.whatsapp.net", content={"text": "hi Alice"})
        await wait_texts(alice, ["hi Alice"])
        await call(baileys, "sock.sendMessage", h=alice.handle, jid="15550002222@s.whatsapp.net", content={"text": "again"})
        await wait_texts(bob, ["hi Bob", "again"])
        # Each phone saw its own account's conversation too (as the account's other device).
        log = (await served.http.get("/sandbox/accounts/15550002222/messages")).json()["messages"]
        assert {m["text"] for m in log} >= {"hi Bob", "hi Alice", "again"}
    finally:
        await alice.end()
        await bob.end()


@pytest.mark.parametrize("version", VERSIONS)
async def test_group_of_three(baileys: Harness, served: Served, version: str) -> None:
    alice, _ = await linked(baileys, served, version, "15550001111")
    bob, _ = await linked(baileys, served, version, "15550002222")
    await served.create_account("15550003333", name="Carol")
    try:
        created = await served.post(
            "/sandbox/groups", {"subject": "Three", "participants": ["15550001111", "15550002222", "15550003333"]}
        )
        assert created.status_code == 201, created.text
        group = created.json()["jid"]
        await call(baileys, "sock.sendMessage", h=alice.handle, jid=group, content={"text": "hello group"})
        await wait_texts(bob, ["hello group"])
        await call(baileys, "sock.sendMessage", h=bob.handle, jid=group, content={"text": "bob here"})
        await wait_texts(alice, ["bob here"])
        sent = await served.post("/sandbox/accounts/15550003333/send", {"to": group, "text": "carol here"})
        assert sent.status_code == 200, sent.text
        await wait_texts(alice, ["bob here", "carol here"])
        await wait_texts(bob, ["hello group", "carol here"])
        carol = (await served.http.get("/sandbox/accounts/15550003333/messages")).json()["messages"]
        assert [m["text"] for m in carol if m["direction"] == "in"] == ["hello group", "bob here"]
    finally:
        await alice.end()
        await bob.end()


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


@pytest.mark.parametrize("version", VERSIONS)
async def test_image_and_document_reach_the_phone_decrypted(
    baileys: Harness, served_media: Served, version: str
) -> None:
    served = served_media
    await served.create_account("15550009999", name="Echo", bot="echo")
    await served.create_account("15550001111")
    sock = await Sock.create(baileys, version, served.ws_url, caFile=served.ca_file)
    try:
        response = await served.post("/sandbox/accounts/15550001111/scan", {"qr": await sock.wait_qr()})
        assert response.status_code == 200, response.text
        restart = await sock.wait_close()
        await sock.wait_open(after=restart["n"])
        document = b"%PDF-1.4 sandbox document\n" * 40
        to = "15550009999@s.whatsapp.net"
        await call(baileys, "sock.sendMessage", h=sock.handle, jid=to, content={"image": PNG, "caption": "a pixel"})
        await call(
            baileys,
            "sock.sendMessage",
            h=sock.handle,
            jid=to,
            content={"document": document, "mimetype": "application/pdf", "fileName": "doc.pdf"},
        )
        phone = await served.sandbox.messaging.phone("15550009999")
        with trio.fail_after(20):
            while True:
                opened = [e for e in phone.log if e.direction == "in" and e.media_bytes is not None]
                if len(opened) == 2:
                    break
                await trio.sleep(0.05)
        assert [(e.kind, e.media_bytes) for e in opened] == [("image", PNG), ("document", document)]
        log = (await served.http.get("/sandbox/accounts/15550009999/messages")).json()["messages"]
        assert [m["kind"] for m in log if m["direction"] == "in"] == ["image", "document"]
    finally:
        await sock.end()


@pytest.mark.parametrize("version", VERSIONS)
async def test_phone_sends_media_to_baileys(baileys: Harness, served_media: Served, version: str) -> None:
    import base64

    served = served_media
    await served.create_account("15550002222", name="Bob")
    sock, _ = await linked(baileys, served, version, "15550001111")
    try:
        sent = await served.post(
            "/sandbox/accounts/15550002222/send",
            {"to": "15550001111", "image": base64.b64encode(PNG).decode(), "mimetype": "image/png", "caption": "from Bob"},
        )
        assert sent.status_code == 200, sent.text
        event = await sock.wait_for(
            lambda e: e["type"] == "messages.upsert"
            and any((m.get("message") or {}).get("imageMessage") for m in e["messages"])
        )
        [image] = [m["message"]["imageMessage"] for m in event["messages"] if (m.get("message") or {}).get("imageMessage")]
        assert image["caption"] == "from Bob"
        assert image["mimetype"] == "image/png"
        assert served.sandbox.media is not None
        assert served.sandbox.media.blob_for(image["directPath"]) is not None
    finally:
        await sock.end()
