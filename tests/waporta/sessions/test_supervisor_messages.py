"""waporta.sessions.supervisor, messaging: send a text to an echo account, its answer committed to
``inbound_messages`` before the receipt and handed to ``on_message``; a redelivery is receipted but not
handed on twice; Signal state survives a restart; media both ways with downloads; what arrived while
disconnected, in order; group messages; no receipt when the commit fails; replay after a restart.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest
import trio
import trio.testing

from tests.waporta.sessions.helpers import (
    ECHO,
    ECHO_JID,
    PHONE,
    Inbox,
    ReceiptSpy,
    echo_kinds,
    link_by_qr,
    send,
    settings_for,
    stored,
    wait_for,
)
from tests.waproto.sandbox.interop_helpers import Served, served_sandbox
from waporta.messages import InboundMessage
from waporta.sessions import (
    SessionSignalStore,
    UnknownMessage,
    UnknownSession,
    open_sessions,
)
from waporta.storage import Database
from waproto.binary import Node
from waproto.jid import DEFAULT_USER_SERVER, JID
from waproto.proto import Message
from waproto.sandbox.phone import Received


async def test_send_to_the_echo_and_receive_its_answer_committed_before_the_receipt(
    served: Served, db: Database, tmp_path: Path
) -> None:
    inbox = Inbox()
    db_file = tmp_path / "waporta.db"
    async with open_sessions(db, settings_for(served), on_message=inbox) as sessions:
        session = await link_by_qr(served, sessions, "sales")
        echo_phone = await served.sandbox.messaging.phone(ECHO)
        me = session.client.credentials.me
        assert me is not None
        spy = ReceiptSpy(echo_phone, db_file, me.device)
        sent = await send(sessions, "sales", "hello hub")
        assert (sent.status, sent.to.user) == ("sent", ECHO)
        logged = echo_phone.find(sent.id, "in")
        assert logged is not None
        assert (logged.kind, logged.text) == ("text", "hello hub")

        echo = await inbox.next()
        assert echo.from_me is False
        assert echo.sender == ECHO_JID
        assert echo.recipient == JID(PHONE, DEFAULT_USER_SERVER)
        payload = echo.as_payload()
        assert payload == {
            "event": "message.received",
            "sessionId": "sales",
            "messageId": echo.message_id,
            "sender": f"{ECHO}@s.whatsapp.net",
            "recipient": f"{PHONE}@s.whatsapp.net",
            "timestamp": echo.timestamp,
            "messageType": "text",
            "content": {"text": "echo: hello hub"},
            "raw": {
                "key": payload["raw"]["key"],
                "message": {"conversation": "echo: hello hub"},
                "messageTimestamp": echo.timestamp,
                "pushName": "Echo",
            },
        }
        assert payload["raw"]["key"]["id"] == echo.message_id
        assert payload["raw"]["key"]["fromMe"] is False
        assert echo.timestamp > 1_700_000_000
        # Committed before the receipt told the echo's phone it was delivered.
        assert await spy.receipts_for(echo.message_id) == [True]
        assert len(stored(db_file, echo.message_id)) == 1

        # WhatsApp delivers the same message again (a new ciphertext, the same key): receipted again,
        # stored once, not handed on twice.
        async def redeliver() -> None:
            node = await echo_phone.send_text(
                JID(PHONE, DEFAULT_USER_SERVER),
                "echo: hello hub",
                now=served.sandbox.now(),
                message_id=echo.message_id,
            )
            await served.sandbox.messaging.submit(echo_phone.device, node)

        await redeliver()
        assert await spy.receipts_for(echo.message_id, 2) == [True, True]
        with trio.fail_after(15):
            await session.inbox.drained()
        assert [m.message_id for m in inbox.messages] == [echo.message_id]
        assert len(stored(db_file, echo.message_id)) == 1


async def test_restart_keeps_the_signal_state(served: Served, db: Database) -> None:
    inbox = Inbox()
    async with open_sessions(db, settings_for(served), on_message=inbox) as sessions:
        await link_by_qr(served, sessions, "sales")
        first = await send(sessions, "sales", "before")
        assert set(echo_kinds(served, first)) == {"pkmsg"}  # a new Signal session with the echo
        await inbox.next()
    # A new supervisor on the same database: no QR, the Signal sessions come from SQLite.
    async with open_sessions(db, settings_for(served), on_message=inbox) as sessions:
        restored = sessions.get("sales")
        await wait_for(restored, "connected")
        assert restored.qr is None
        again = await send(sessions, "sales", "after")
        assert set(echo_kinds(served, again)) == {"msg"}  # the Signal session with the echo, kept
        answer = await inbox.next(after=1)
        assert dict(answer.content) == {"text": "echo: after"}
    assert sorted(served.sandbox.network.accounts[PHONE].companions) == [1]


async def test_image_and_document_to_the_echo_and_back_with_download(tmp_path: Path, db: Database) -> None:
    import ssl

    from waproto.content import document_message, image_message, media_type_attr

    picture = bytes(range(256)) * 40
    report = b"%PDF-1.4 a small report\n" * 100
    inbox = Inbox()
    async with served_sandbox(tmp_path / "media-sandbox", media=True) as served:
        await served.create_account(PHONE, name="Alice")
        await served.create_account(ECHO, name="Echo", bot="echo")
        assert served.ca_file is not None
        trust = ssl.create_default_context(cafile=served.ca_file)
        async with open_sessions(
            db, settings_for(served), on_message=inbox, media_ssl_context=trust
        ) as sessions:
            await link_by_qr(served, sessions, "sales")
            echo_phone = await served.sandbox.messaging.phone(ECHO)
            with trio.fail_after(30):
                uploaded = await sessions.upload("sales", picture, "image")
                image = image_message(
                    uploaded, mimetype="image/png", caption="a picture", width=16, height=10
                )
                sent = await sessions.send("sales", ECHO_JID, image, media_type=media_type_attr(image))
            logged = echo_phone.find(sent.id, "in")
            assert logged is not None
            assert (logged.kind, logged.text, logged.media_bytes) == ("image", "a picture", picture)

            echoed = await inbox.next()
            assert echoed.kind == "image"
            assert dict(echoed.content) == {
                "caption": "a picture",
                "mimetype": "image/png",
                "fileLength": len(picture),
                "fileSha256": uploaded.file_sha256.hex(),
                "width": 16,
                "height": 10,
                "mediaType": "image",
            }
            assert echoed.as_payload()["messageType"] == "image"
            with trio.fail_after(30):
                assert await sessions.download("sales", echoed.message_id) == picture

            with trio.fail_after(30):
                uploaded_doc = await sessions.upload("sales", report, "document")
                document = document_message(uploaded_doc, mimetype="application/pdf", file_name="report.pdf")
                sent_doc = await sessions.send(
                    "sales", ECHO_JID, document, media_type=media_type_attr(document)
                )
            logged_doc = echo_phone.find(sent_doc.id, "in")
            assert logged_doc is not None
            assert (logged_doc.kind, logged_doc.media_bytes) == ("document", report)
            echoed_doc = await inbox.next(after=1)
            assert echoed_doc.kind == "document"
            assert echoed_doc.content["fileName"] == "report.pdf"
            with trio.fail_after(30):
                assert await sessions.download("sales", echoed_doc.message_id) == report

            with pytest.raises(UnknownMessage) as unknown:
                await sessions.download("sales", "3EB0NOSUCHMESSAGE")
            assert (unknown.value.status, unknown.value.code) == (404, "message_not_found")
            with pytest.raises(UnknownSession):
                await sessions.upload("nobody", picture, "image")


async def test_what_arrived_while_disconnected_is_handed_on_in_order(served: Served, db: Database) -> None:
    # The echo writes first: its first message is a pkmsg on our signed prekey (kept in the credentials).
    inbox = Inbox()
    settings = dataclasses.replace(
        settings_for(served), backoff_initial=1.0, backoff_max=1.0, backoff_jitter=0
    )
    async with open_sessions(db, settings, on_message=inbox) as sessions:
        session = await link_by_qr(served, sessions, "sales")
        response = await served.post(f"/sandbox/devices/{session.jid}/disconnect")
        assert response.status_code == 200, response.text
        await wait_for(session, "disconnected")
        texts = [f"while away {i}" for i in range(5)]
        ids = [
            await served.sandbox.messaging.send_text(ECHO, JID(PHONE, DEFAULT_USER_SERVER), t) for t in texts
        ]
        await wait_for(session, "connected")
        await inbox.next(after=len(texts) - 1)
        with trio.fail_after(15):
            await session.inbox.drained()
    assert [m.message_id for m in inbox.messages] == ids
    assert [dict(m.content) for m in inbox.messages] == [{"text": t} for t in texts]


async def test_group_messages_both_ways(served: Served, db: Database) -> None:
    inbox = Inbox()
    group = served.sandbox.messaging.create_group("team", [ECHO, PHONE])
    async with open_sessions(db, settings_for(served), on_message=inbox) as sessions:
        await link_by_qr(served, sessions, "sales")
        # A member writes to the group: the session receives it as a group message.
        message_id = await served.sandbox.messaging.send_text(ECHO, group, "hello team")
        received = await inbox.next()
        assert received.message_id == message_id
        assert (received.is_group, received.chat, received.recipient, received.sender) == (
            True,
            group,
            group,
            ECHO_JID,
        )
        payload = received.as_payload()
        assert (payload["sender"], payload["recipient"]) == (f"{ECHO}@s.whatsapp.net", str(group))
        assert payload["raw"]["key"]["remoteJid"] == str(group)
        assert "participant" in payload["raw"]["key"]
        assert payload["content"] == {"text": "hello team"}
        # The session writes to the group: the member's phone decrypts it.
        with trio.fail_after(15):
            sent = await sessions.send("sales", group, Message(conversation="hi from the hub"))
        echo_phone = await served.sandbox.messaging.phone(ECHO)
        logged = echo_phone.find(sent.id, "in")
        assert logged is not None
        assert (logged.chat, logged.text) == (group, "hi from the hub")


async def test_no_receipt_when_the_commit_fails(served: Served, db: Database, tmp_path: Path) -> None:
    async with open_sessions(db, settings_for(served)) as sessions:
        session = await link_by_qr(served, sessions, "sales")
        me = session.client.credentials.me
        assert me is not None
        echo_phone = await served.sandbox.messaging.phone(ECHO)
        spy = ReceiptSpy(echo_phone, tmp_path / "waporta.db", me.device)

        async def broken_disk(message: InboundMessage) -> bool:
            raise sqlite3.OperationalError("database or disk is full")

        session.inbox.accept = broken_disk  # type: ignore[method-assign]
        message_id = await served.sandbox.messaging.send_text(ECHO, JID(PHONE, DEFAULT_USER_SERVER), "lost?")
        with trio.fail_after(15):
            await session._done.wait()  # the session stops rather than acknowledge what it could not keep
        assert (session.status, session.reason) == ("disconnected", "internal_error")
    assert [node for node, _ in spy.receipts if node.attrs.get("id") == message_id] == []
    assert stored(tmp_path / "waporta.db", message_id) == []


async def test_a_message_not_yet_handed_on_is_handed_on_after_a_restart(served: Served, db: Database) -> None:
    entered = trio.Event()

    async def stuck_plugin(session_id: str, message: InboundMessage) -> None:
        entered.set()
        await trio.sleep_forever()  # the hub stops (or crashes) while a plugin holds the message

    async with open_sessions(db, settings_for(served), on_message=stuck_plugin) as sessions:
        await link_by_qr(served, sessions, "sales")
        await send(sessions, "sales", "before the stop")
        with trio.fail_after(15):
            await entered.wait()
    inbox = Inbox()
    async with open_sessions(db, settings_for(served), on_message=inbox) as sessions:
        replayed = await inbox.next()
        assert dict(replayed.content) == {"text": "echo: before the stop"}
        with trio.fail_after(15):
            await sessions.get("sales").inbox.drained()
    assert len(inbox.messages) == 1


async def test_a_sends_session_records_are_committed_before_the_message_arrives(
    served: Served, db: Database, tmp_path: Path
) -> None:
    db_file = tmp_path / "waporta.db"
    async with open_sessions(db, settings_for(served)) as sessions:
        session = await link_by_qr(served, sessions, "sales")
        signal = session.messenger.signal
        assert isinstance(signal, SessionSignalStore)
        echo_phone = await served.sandbox.messaging.phone(ECHO)
        original = echo_phone.receive
        checks: list[tuple[int, bool]] = []

        async def spy(node: Node, *, now: int) -> Received:
            if node.tag == "message":
                # What the hub holds in memory is what SQLite holds, the moment the message is out.
                with sqlite3.connect(db_file) as conn:
                    rows = {
                        (name, device): bytes(record)
                        for name, device, record in conn.execute(
                            "SELECT name, device_id, record FROM signal_sessions WHERE session_id = 'sales'"
                        )
                    }
                held = list(signal._sessions._items.items())
                same = all(
                    record is None or rows.get((address.name, address.device_id)) == record.serialize()
                    for address, record in held
                )
                checks.append((signal.pending, same and bool(held)))
            return await original(node, now=now)

        echo_phone.receive = spy  # type: ignore[method-assign]
        flushes = signal.flushes
        for text in ("first", "second", "third"):
            await send(sessions, "sales", text)
        assert checks[:3] == [(0, True)] * 3
        # The records were stored pending and committed by the transport, one flush a send.
        assert signal.flushes - flushes == 3


def handled_at(db_file: Path, message_id: str) -> list[float | None]:
    with sqlite3.connect(db_file) as conn:
        rows = conn.execute("SELECT handled_at FROM inbound_messages WHERE message_id = ?", (message_id,))
        return [row[0] for row in rows]


async def test_a_logout_by_the_phone_keeps_what_the_hooks_have_not_had(
    served: Served, db: Database, tmp_path: Path
) -> None:
    entered, release = trio.Event(), trio.Event()
    seen: list[InboundMessage] = []

    async def slow_plugin(session_id: str, message: InboundMessage) -> None:
        seen.append(message)
        entered.set()
        await release.wait()

    async with open_sessions(db, settings_for(served), on_message=slow_plugin) as sessions:
        sessions.hand_over_timeout = 0.5
        session = await link_by_qr(served, sessions, "ops")
        await send(sessions, "ops", "just before the unlink")
        with trio.fail_after(15):
            await entered.wait()  # the echo is committed, and a hook holds it
        response = await served.post(f"/sandbox/devices/{session.jid}/logout")
        assert response.status_code == 200, response.text
        await wait_for(session, "logged_out")
        with trio.fail_after(15):
            await session._done.wait()  # stopped after waiting for the hook in vain
        assert handled_at(tmp_path / "waporta.db", seen[0].message_id) == [None]  # kept; the rest wiped
        release.set()
        again = await link_by_qr(served, sessions, "ops")  # linked anew: what was kept is handed on
        with trio.fail_after(15):
            await again.inbox.drained()
    assert [m.message_id for m in seen] == [seen[0].message_id] * 2
    [handled] = handled_at(tmp_path / "waporta.db", seen[0].message_id)
    assert handled is not None


async def test_delete_lets_the_hooks_take_what_was_received_first(served: Served, db: Database) -> None:
    entered, release = trio.Event(), trio.Event()
    finished: list[str] = []

    async def slow_plugin(session_id: str, message: InboundMessage) -> None:
        entered.set()
        await release.wait()
        finished.append(message.message_id)

    async with open_sessions(db, settings_for(served), on_message=slow_plugin) as sessions:
        await link_by_qr(served, sessions, "gone")
        await send(sessions, "gone", "hello")
        with trio.fail_after(15):
            await entered.wait()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sessions.delete, "gone")
            await trio.testing.wait_all_tasks_blocked()
            assert finished == []  # delete is waiting for the hook
            assert sessions.get("gone").status == "connected"
            release.set()
        assert len(finished) == 1  # it finished its work before the session was stopped and wiped
