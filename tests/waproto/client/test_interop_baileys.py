"""Real Baileys 6 and 7 chatting with our waproto client through the sandbox (issue #6, interop acceptance).

The sandbox runs in this process on 127.0.0.1 (as in ``tests/waproto/sandbox/test_interop_messaging.py``);
a Baileys socket in the Node harness links to one sandbox account by QR, our ``Client`` with a
``Messenger`` links to another (as in ``test_messaging``), and texts go both ways: Baileys decrypts what
our client encrypted (a prekey message with our device identity first, then on the established session)
and our Messenger decrypts what Baileys sent. One Baileys version per test (the harness shares one
protobuf root between versions). Real sockets and real time, so every wait is bounded.

This module is NOT the sandbox's own Baileys tests (``tests/waproto/sandbox/test_interop_*``) nor our
client against the sandbox's simulated phones (``test_messaging``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import secrets
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.interop.harness import Harness, unavailable_reason
from tests.waproto.client.test_sandbox import next_event, settings_for
from tests.waproto.sandbox.interop_helpers import Served, Sock, call, served_sandbox
from waporta.messages import InboundMessage
from waporta.sessions import open_sessions
from waporta.storage import Database
from waproto.client import Connected, MemoryClientStore, Paired, QRCode, open_client
from waproto.client.media import MediaClient
from waproto.client.messaging import Addressing, Messenger, ReceivedMessage, UndecryptableMessage
from waproto.content import image_message, media_type_attr
from waproto.credentials import Credentials
from waproto.jid import DEFAULT_USER_SERVER, JID
from waproto.proto import Message
from waproto.sandbox.media import (
    BlobStore,
    MediaEndpoint,
    MediaServer,
    TLSFiles,
    ensure_tls_files,
    serve_media,
)

pytestmark = pytest.mark.interop

VERSIONS = ["v6", "v7"]
ADDRESSINGS: list[Addressing] = ["lid", "pn"]
#: The account Baileys links to, and the one our client links to.
BAILEYS_PHONE = "15550001111"
OUR_PHONE = "15550002222"

Item = ReceivedMessage | UndecryptableMessage


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_sandbox(tmp_path / "state") as running:
        await running.create_account(BAILEYS_PHONE, name="Baileys")
        await running.create_account(OUR_PHONE, name="Waporta")
        yield running


# ------------------------------------------------------------------------------------------ helpers


def text_of(message: dict[str, Any] | None) -> str | None:
    """The text of a message as Baileys' events record it (protobuf JSON), or None."""
    if not message:
        return None
    if "conversation" in message:
        return str(message["conversation"])
    extended = message.get("extendedTextMessage")
    return None if extended is None else str(extended.get("text"))


def received_texts(sock: Sock) -> list[str]:
    """Every text Baileys received from others (not its own), in arrival order."""
    found = []
    for event in sock.events:
        if event["type"] == "messages.upsert":
            for m in event["messages"]:
                text = text_of(m.get("message"))
                if text is not None and not m["key"].get("fromMe"):
                    found.append(text)
    return found


async def link_baileys(baileys: Harness, served: Served, version: str, **options: Any) -> Sock:
    """A Baileys socket linked to ``BAILEYS_PHONE`` by QR and logged in again after the 515 restart."""
    sock = await Sock.create(baileys, version, served.ws_url, **options)
    response = await served.post(f"/sandbox/accounts/{BAILEYS_PHONE}/scan", {"qr": await sock.wait_qr()})
    assert response.status_code == 200, response.text
    restart = await sock.wait_close()
    await sock.wait_open(after=restart["n"])
    return sock


async def link_ours(served: Served) -> MemoryClientStore:
    """Credentials of a companion linked to ``OUR_PHONE`` by QR (the client is closed afterwards)."""
    creds = Credentials.generate(secrets.token_bytes, push_name="waporta")
    store = MemoryClientStore(creds)
    async with open_client(settings_for(served), creds, store) as client:
        qr = await next_event(client, QRCode)
        assert isinstance(qr, QRCode)
        response = await served.post(f"/sandbox/accounts/{OUR_PHONE}/scan", {"qr": qr.qr})
        assert response.status_code == 200, response.text
        assert isinstance(await next_event(client, Paired), Paired)
        assert isinstance(await next_event(client, Connected), Connected)
    return store


class Inbox:
    """Our Messenger's callback: every item, in order, readable with a bounded wait."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[Item](64)

    async def __call__(self, item: Item) -> None:
        await self._send.send(item)

    async def next_item(self) -> Item:
        """The next item, whatever it is."""
        return await self._receive.receive()

    async def next_text(self, *, seconds: float = 20) -> ReceivedMessage:
        """The next received message that has text (others, such as protocol messages, are skipped)."""
        with trio.fail_after(seconds):
            while True:
                item = await self._receive.receive()
                assert not isinstance(item, UndecryptableMessage), item
                if item.text is not None:
                    return item


@asynccontextmanager
async def our_messenger(
    served: Served, store: MemoryClientStore, *, addressing: Addressing = "lid"
) -> AsyncIterator[tuple[Messenger, Inbox]]:
    """Our client logged in again from ``store`` with a running Messenger, for the block."""
    assert store.credentials is not None
    inbox = Inbox()
    async with (
        open_client(settings_for(served), store.credentials, store) as client,
        trio.open_nursery() as nursery,
    ):
        messenger = Messenger(client, inbox, addressing=addressing)
        await nursery.start(messenger.run)
        assert isinstance(await next_event(client, Connected), Connected)
        yield messenger, inbox
        nursery.cancel_scope.cancel()


# ------------------------------------------------------------------------------------------ texts


def identities(served: Served, phone: str, device: int) -> set[JID]:
    """The PN and LID form of ``phone``'s ``device`` (a device may be addressed by either)."""
    account = served.sandbox.network.accounts[phone]
    return {account.device_jid(device), account.device_lid(device)}


def users_of(served: Served, phone: str) -> set[str]:
    """The user parts (phone number and LID) of ``phone``'s account."""
    return {jid.user for jid in identities(served, phone, 0)}


@pytest.mark.parametrize("addressing", ADDRESSINGS)
@pytest.mark.parametrize("version", VERSIONS)
async def test_texts_both_ways(
    baileys: Harness, served: Served, version: str, addressing: Addressing
) -> None:
    store = await link_ours(served)
    sock = await link_baileys(baileys, served, version)
    account = served.sandbox.network.accounts[BAILEYS_PHONE]
    # The Baileys companion (device 1 of its account) as our Messenger addresses it.
    companion = account.device_lid(1) if addressing == "lid" else account.device_jid(1)
    try:
        async with our_messenger(served, store, addressing=addressing) as (messenger, inbox):
            # We write first: Baileys decrypts our prekey message (with our device identity).
            with trio.fail_after(20):
                first = await messenger.send_text(JID(BAILEYS_PHONE, DEFAULT_USER_SERVER), f"hello {version}")
            assert first.status == "sent"
            assert first.encryptions[companion] == "pkmsg", first.encryptions
            await sock.wait_for(lambda e: f"hello {version}" in received_texts(sock))
            [upsert] = [
                m
                for e in sock.events
                if e["type"] == "messages.upsert"
                for m in e["messages"]
                if text_of(m.get("message")) == f"hello {version}"
            ]
            assert upsert["key"]["id"] == first.id
            assert not upsert["key"]["fromMe"]
            assert JID.parse(upsert["key"]["remoteJid"]).user in users_of(served, OUR_PHONE)

            # Baileys answers (to our phone number) on the session our prekey message started.
            sent = await call(
                baileys,
                "sock.sendMessage",
                h=sock.handle,
                jid=f"{OUR_PHONE}@s.whatsapp.net",
                content={"text": f"hi waporta, {version} here"},
            )
            reply = await inbox.next_text()
            assert reply.text == f"hi waporta, {version} here"
            assert reply.id == sent["key"]["id"]
            assert reply.chat.user in users_of(served, BAILEYS_PHONE)
            assert reply.sender in identities(served, BAILEYS_PHONE, 1)
            assert not reply.from_me
            assert not reply.group

            # And again both ways on the established sessions (a plain ``msg`` to the Baileys device).
            with trio.fail_after(20):
                second = await messenger.send_text(reply.chat, "second from waporta")
            assert second.encryptions[companion] == "msg", second.encryptions
            await sock.wait_for(lambda e: "second from waporta" in received_texts(sock))
            await call(
                baileys,
                "sock.sendMessage",
                h=sock.handle,
                jid=f"{OUR_PHONE}@s.whatsapp.net",
                content={"text": "second from Baileys"},
            )
            again = await inbox.next_text()
            assert again.text == "second from Baileys"
            assert received_texts(sock) == [f"hello {version}", "second from waporta"]
    finally:
        await sock.end()


@pytest.mark.parametrize("addressing", ADDRESSINGS)
@pytest.mark.parametrize("version", VERSIONS)
async def test_baileys_writes_first(
    baileys: Harness, served: Served, version: str, addressing: Addressing
) -> None:
    """Baileys starts the conversation: our Messenger decrypts its prekey message (one of our one-time
    prekeys) and our answer reaches Baileys on that session."""
    store = await link_ours(served)
    sock = await link_baileys(baileys, served, version)
    try:
        async with our_messenger(served, store, addressing=addressing) as (messenger, inbox):
            prekeys = len(store.pre_keys)
            await call(
                baileys,
                "sock.sendMessage",
                h=sock.handle,
                jid=f"{OUR_PHONE}@s.whatsapp.net",
                content={"text": "first contact"},
            )
            first = await inbox.next_text()
            assert first.text == "first contact"
            assert len(store.pre_keys) < prekeys  # Baileys used one of our one-time prekeys
            with trio.fail_after(20):
                answer = await messenger.send_text(JID(BAILEYS_PHONE, DEFAULT_USER_SERVER), "got it")
            assert "msg" in [
                t for d, t in answer.encryptions.items() if d in identities(served, BAILEYS_PHONE, 1)
            ]
            await sock.wait_for(lambda e: "got it" in received_texts(sock))
    finally:
        await sock.end()


# ------------------------------------------------------------------------------------------ groups

#: The account a second Baileys (of the other version) links to.
SECOND_PHONE = "15550004444"


@pytest.fixture(scope="module")
def second_node() -> Iterator[Harness]:
    """A second harness process, so a Baileys 6 and a Baileys 7 socket run at the same time (one
    Baileys version per process: they share a protobuf root)."""
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the interop harness is required in CI: {reason}")
        pytest.skip(reason)
    with Harness() as harness:
        yield harness


async def link_second(second_node: Harness, served: Served, version: str) -> Sock:
    await served.create_account(SECOND_PHONE, name="Second")
    sock = await Sock.create(second_node, version, served.ws_url)
    response = await served.post(f"/sandbox/accounts/{SECOND_PHONE}/scan", {"qr": await sock.wait_qr()})
    assert response.status_code == 200, response.text
    restart = await sock.wait_close()
    await sock.wait_open(after=restart["n"])
    return sock


def group_texts(sock: Sock, group: str) -> list[str]:
    """The texts Baileys received in ``group`` from others, in arrival order."""
    return [
        text
        for e in sock.events
        if e["type"] == "messages.upsert"
        for m in e["messages"]
        if m["key"].get("remoteJid") == group
        and not m["key"].get("fromMe")
        and (text := text_of(m.get("message"))) is not None
    ]


@pytest.mark.parametrize("addressing", ADDRESSINGS)
async def test_group_with_baileys_6_and_7_members(
    baileys: Harness, second_node: Harness, served: Served, addressing: Addressing
) -> None:
    """A group of our account, a Baileys 6 member and a Baileys 7 member (each in its own harness
    process): our sender-key message reaches both, and what each Baileys sends reaches us (and the other)."""
    store = await link_ours(served)
    v6 = await link_baileys(baileys, served, "v6")
    v7 = await link_second(second_node, served, "v7")
    try:
        created = await served.post(
            "/sandbox/groups",
            {"subject": "Interop", "participants": [OUR_PHONE, BAILEYS_PHONE, SECOND_PHONE]},
        )
        assert created.status_code == 201, created.text
        group = JID.parse(created.json()["jid"])
        async with our_messenger(served, store, addressing=addressing) as (messenger, inbox):
            with trio.fail_after(20):
                sent = await messenger.send_text(group, "hello group from waporta")
            assert sent.status == "sent"
            assert sent.encryptions  # our distribution to each member device lacking our sender key
            await v6.wait_for(lambda e: group_texts(v6, str(group)) == ["hello group from waporta"])
            await v7.wait_for(lambda e: group_texts(v7, str(group)) == ["hello group from waporta"])

            await call(baileys, "sock.sendMessage", h=v6.handle, jid=str(group), content={"text": "v6 here"})
            from_v6 = await inbox.next_text()
            assert (from_v6.text, from_v6.chat, from_v6.group) == ("v6 here", group, True)
            assert from_v6.sender in identities(served, BAILEYS_PHONE, 1)
            assert not from_v6.from_me

            await call(
                second_node, "sock.sendMessage", h=v7.handle, jid=str(group), content={"text": "v7 here"}
            )
            from_v7 = await inbox.next_text()
            assert (from_v7.text, from_v7.chat, from_v7.group) == ("v7 here", group, True)
            assert from_v7.sender in identities(served, SECOND_PHONE, 1)
            await v6.wait_for(lambda e: "v7 here" in group_texts(v6, str(group)))
            await v7.wait_for(lambda e: "v6 here" in group_texts(v7, str(group)))

            # Our second group message is one skmsg on the sender key both members now hold: no new
            # distribution to the Baileys devices.
            with trio.fail_after(20):
                again = await messenger.send_text(group, "again from waporta")
            members = identities(served, BAILEYS_PHONE, 1) | identities(served, SECOND_PHONE, 1)
            assert not members & set(again.encryptions), again.encryptions
            await v6.wait_for(lambda e: "again from waporta" in group_texts(v6, str(group)))
            await v7.wait_for(lambda e: "again from waporta" in group_texts(v7, str(group)))
    finally:
        await v6.end()
        await v7.end()


# ------------------------------------------------------------------------------------------ images

#: A 1×1 PNG, and a larger JPEG-ish payload (several AES blocks, not a multiple of 16).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 37 + b"\xff\xd9"


@pytest.fixture(scope="module")
def media_tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """The media server's CA and certificate, also valid for mmg.whatsapp.net (where Baileys 6 downloads)."""
    return ensure_tls_files(tmp_path_factory.mktemp("media-tls"), ["mmg.whatsapp.net"])


@pytest.fixture(scope="module")
def media_node(media_tls: TLSFiles) -> Iterator[Harness]:
    """A harness whose Node trusts the media CA (NODE_EXTRA_CA_CERTS, read only at start-up): Baileys 7
    downloads with fetch, which takes no agent."""
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the interop harness is required in CI: {reason}")
        pytest.skip(reason)
    with Harness(env={"NODE_EXTRA_CA_CERTS": str(media_tls.ca_file)}) as harness:
        yield harness


@pytest.fixture
async def served_media(served: Served, media_tls: TLSFiles, tmp_path: Path) -> AsyncIterator[MediaEndpoint]:
    """The sandbox's media server on 127.0.0.1 with ``media_tls``, answering ``media_conn``."""
    media = MediaServer(BlobStore(tmp_path / "media"), token_bytes=served.sandbox.rng)
    async with trio.open_nursery() as nursery:
        endpoint: MediaEndpoint = await nursery.start(functools.partial(serve_media, media, media_tls))
        served.sandbox.iqs.register("w:m", "media_conn", media.handle_media_conn)
        served.sandbox.media = media
        yield endpoint
        nursery.cancel_scope.cancel()


def received_image(sock: Sock) -> dict[str, Any] | None:
    """The first imageMessage Baileys received from others (its JSON form), or None."""
    for e in sock.events:
        if e["type"] == "messages.upsert":
            for m in e["messages"]:
                image = (m.get("message") or {}).get("imageMessage")
                if image and not m["key"].get("fromMe"):
                    return dict(image)
    return None


@pytest.mark.parametrize("version", VERSIONS)
async def test_images_both_ways(
    media_node: Harness, served: Served, served_media: MediaEndpoint, media_tls: TLSFiles, version: str
) -> None:
    store = await link_ours(served)
    sock = await link_baileys(media_node, served, version, caFile=str(media_tls.ca_file))
    trust = ssl.create_default_context(cafile=str(media_tls.ca_file))
    try:
        async with (
            our_messenger(served, store) as (messenger, inbox),
            MediaClient(messenger.client, ssl_context=trust) as media,
        ):
            # We upload and send; Baileys receives the message and its own download code decrypts the file.
            with trio.fail_after(20):
                uploaded = await media.upload(JPEG, "image")
                sent = await messenger.send_message(
                    JID(BAILEYS_PHONE, DEFAULT_USER_SERVER),
                    image_message(uploaded, mimetype="image/jpeg", caption="from waporta"),
                )
            assert sent.status == "sent"
            event = await sock.wait_for(lambda e: received_image(sock) is not None)
            image = received_image(sock)
            assert image is not None, event
            assert (image["caption"], image["mimetype"]) == ("from waporta", "image/jpeg")
            assert base64.b64decode(image["fileSha256"]) == hashlib.sha256(JPEG).digest()
            download = {
                "mediaKey": base64.b64decode(image["mediaKey"]),
                "mediaType": "image",
                "url": image["url"],
                "directPath": image["directPath"],
            }
            if version == "v6":  # Baileys 6 always dials mmg.whatsapp.net: connect it to the sandbox instead
                download["connectTo"] = served_media.hostname
            got = await call(media_node, f"media_server.{version}.download", **download)
            assert got["plaintext"] == JPEG

            # Baileys uploads and sends; our Messenger classifies it and our MediaClient verifies the file.
            await call(
                media_node,
                "sock.sendMessage",
                h=sock.handle,
                jid=f"{OUR_PHONE}@s.whatsapp.net",
                content={"image": PNG, "caption": f"from {version}", "mimetype": "image/png"},
            )
            with trio.fail_after(20):
                while True:
                    item = await inbox.next_item()
                    if isinstance(item, ReceivedMessage) and item.kind == "image":
                        break
            assert item.message.image_message.caption == f"from {version}"
            assert item.sender in identities(served, BAILEYS_PHONE, 1)
            with trio.fail_after(20):
                assert await media.download(item.message) == PNG
    finally:
        await sock.end()


# ------------------------------------------------------------------------------------------ a hub session

#: The hub session's id.
SESSION = "interop"


class HubInbox:
    """The hub's ``on_message``: every InboundMessage, readable with a bounded wait."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[InboundMessage](64)

    async def __call__(self, session_id: str, message: InboundMessage) -> None:
        assert session_id == SESSION
        await self._send.send(message)

    async def next_of(self, kind: str, *, seconds: float = 20) -> InboundMessage:
        with trio.fail_after(seconds):
            while True:
                message = await self._receive.receive()
                if message.kind == kind:
                    return message


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_hub_session_exchanges_texts_and_images_with_baileys(
    media_node: Harness,
    served: Served,
    served_media: MediaEndpoint,
    media_tls: TLSFiles,
    tmp_path: Path,
    version: str,
) -> None:
    """The same through the hub: a ``waporta.sessions`` session on SQLite, linked by QR, sends and
    receives texts and images with Baileys; what it receives is committed and handed on as the webhook
    payload says, and its media downloads verified."""
    sock = await link_baileys(media_node, served, version, caFile=str(media_tls.ca_file))
    inbox = HubInbox()
    trust = ssl.create_default_context(cafile=str(media_tls.ca_file))
    db = await Database.open(tmp_path / "waporta.db")
    try:
        async with open_sessions(
            db, settings_for(served), on_message=inbox, media_ssl_context=trust
        ) as sessions:
            session = await sessions.create(SESSION)
            with trio.fail_after(20):
                await session.wait_status("qr")
                assert session.qr is not None
                scanned = await served.post(f"/sandbox/accounts/{OUR_PHONE}/scan", {"qr": session.qr})
                assert scanned.status_code == 200, scanned.text
                await session.wait_status("connected")
            baileys_user = JID(BAILEYS_PHONE, DEFAULT_USER_SERVER)

            with trio.fail_after(20):
                sent = await sessions.send(SESSION, baileys_user, Message(conversation=f"hub to {version}"))
            assert sent.status == "sent"
            await sock.wait_for(lambda e: f"hub to {version}" in received_texts(sock))
            await call(
                media_node,
                "sock.sendMessage",
                h=sock.handle,
                jid=f"{OUR_PHONE}@s.whatsapp.net",
                content={"text": f"{version} to hub"},
            )
            text = (await inbox.next_of("text")).as_payload()
            assert (text["event"], text["sessionId"], text["messageType"]) == (
                "message.received",
                SESSION,
                "text",
            )
            assert text["content"] == {"text": f"{version} to hub"}
            assert str(text["sender"]).split("@")[0] in users_of(served, BAILEYS_PHONE)

            with trio.fail_after(20):
                uploaded = await sessions.upload(SESSION, JPEG, "image")
                image = image_message(uploaded, mimetype="image/jpeg", caption="hub image")
                await sessions.send(SESSION, baileys_user, image, media_type=media_type_attr(image))
            await sock.wait_for(lambda e: received_image(sock) is not None)
            got = received_image(sock)
            assert got is not None
            assert got["caption"] == "hub image"
            download = {
                "mediaKey": base64.b64decode(got["mediaKey"]),
                "mediaType": "image",
                "url": got["url"],
                "directPath": got["directPath"],
            }
            if version == "v6":
                download["connectTo"] = served_media.hostname
            assert (await call(media_node, f"media_server.{version}.download", **download))[
                "plaintext"
            ] == JPEG

            await call(
                media_node,
                "sock.sendMessage",
                h=sock.handle,
                jid=f"{OUR_PHONE}@s.whatsapp.net",
                content={"image": PNG, "caption": f"{version} image", "mimetype": "image/png"},
            )
            received = await inbox.next_of("image")
            payload = received.as_payload()
            assert payload["messageType"] == "image"
            content = payload["content"]
            assert isinstance(content, dict)
            assert (content.get("caption"), content.get("mimetype")) == (f"{version} image", "image/png")
            assert "mediaKey" not in json.dumps(content)  # the content summary carries no key material
            with trio.fail_after(20):
                assert await sessions.download(SESSION, received.message_id) == PNG
    finally:
        await db.aclose()
        await sock.end()
