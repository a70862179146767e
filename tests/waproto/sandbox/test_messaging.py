"""waproto.sandbox.messaging: phones, receipts, echo bots, offline queues and persistence, without sockets.

Deterministic: seeded randomness, fixed time, in-memory pipes (``memclient``) for the one companion.
"""

from __future__ import annotations

import random
from pathlib import Path

import trio

from tests.waproto.sandbox.memclient import NOW, Companion, Keys, MemoryPipe
from waproto.binary import Node
from waproto.jid import JID
from waproto.proto import Message
from waproto.sandbox.messaging import MAX_STANZAS_PER_SUBMIT
from waproto.sandbox.registry import OneTimePreKey, SignedPreKey, take_bundle
from waproto.sandbox.server import Sandbox
from waproto.sandbox.state import Companion as CompanionRecord
from waproto.sandbox.state import Network
from waproto.signal import MemorySignalStore, ProtocolAddress, encrypt, pad, process_pre_key_bundle
from waproto.signal.keys import generate_pre_keys, generate_signed_pre_key

A, B, E, F = "15550001111", "15550002222", "15550009999", "15550008888"


def make_sandbox(state_dir: Path | None = None, seed: int = 4) -> Sandbox:
    rng = random.Random(seed).randbytes
    sandbox = Sandbox(Network.open(state_dir, rng=rng), rng=rng, now=lambda: NOW)
    if not sandbox.network.accounts:
        sandbox.network.create_account(A, rng=rng, now=NOW, name="Alice")
        sandbox.network.create_account(B, rng=rng, now=NOW, name="Bob")
        sandbox.network.create_account(E, rng=rng, now=NOW, name="Echo", bot="echo")
        sandbox.network.create_account(F, rng=rng, now=NOW, name="Echo 2", bot="echo")
    return sandbox


def jid(phone: str) -> JID:
    return JID(phone, "s.whatsapp.net")


async def test_phone_to_phone_with_receipts() -> None:
    sandbox = make_sandbox()
    message_id = await sandbox.messaging.send_text(A, jid(B), "hello Bob")
    bob = await sandbox.messaging.phone(B)
    alice = await sandbox.messaging.phone(A)
    [received] = [e for e in bob.log if e.direction == "in"]
    assert (received.id, received.text, received.sender) == (message_id, "hello Bob", jid(A))
    sent = alice.find(message_id, "out")
    assert sent is not None
    assert sent.state in ("delivered", "read")


async def test_echo_bot_answers() -> None:
    sandbox = make_sandbox()
    await sandbox.messaging.send_text(A, jid(E), "ping")
    alice = await sandbox.messaging.phone(A)
    assert [e.text for e in alice.log if e.direction == "in"] == ["echo: ping"]


async def test_two_echo_bots_are_bounded(autojump_clock: trio.abc.Clock) -> None:
    sandbox = make_sandbox()
    await sandbox.messaging.send_text(E, jid(F), "loop")
    echo2 = await sandbox.messaging.phone(F)
    received = [e for e in echo2.log if e.direction == "in"]
    assert received
    assert len(received) <= MAX_STANZAS_PER_SUBMIT


def signal_companion(device: int, seed: int) -> tuple[CompanionRecord, Keys]:
    keys = Keys.generate(seed)
    rng = random.Random(seed).randbytes
    spk = generate_signed_pre_key(keys.identity, 1, rng)
    record = CompanionRecord(
        device=device,
        noise_public=keys.noise.public,
        identity=keys.identity.public,
        registration_id=keys.registration_id,
        signed_pre_key=SignedPreKey(1, spk.key_pair.public, spk.signature),
        pre_keys=[],
        key_index=device,
    )
    record.pre_keys.extend(OneTimePreKey(p.key_id, p.key_pair.public) for p in generate_pre_keys(1, 5, rng))
    return record, keys


async def test_offline_queue_is_delivered_on_login(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    record, keys = signal_companion(1, 21)
    sandbox.network.add_companion(A, record)
    device = jid(A).with_device(1)
    first = await sandbox.messaging.send_text(B, jid(A), "while you were away")
    second = await sandbox.messaging.send_text(B, jid(A), "and this")
    assert sandbox.messaging.queues.pending(device) == 2
    pipe = MemoryPipe()
    nursery.start_soon(sandbox.handle, pipe.server)
    client = Companion(pipe, keys, root=sandbox.root_public_key)
    await client.handshake(Companion.login_payload(device))
    nodes = [await client.receive_node() for _ in range(4)]
    assert [n.tag for n in nodes if n is not None] == ["success", "message", "message", "ib"]
    assert [n.attrs["id"] for n in nodes[1:3] if n is not None] == [first, second]
    assert all(n is not None and n.attrs.get("offline") == "1" for n in nodes[1:3])
    offline = nodes[3].child("offline") if nodes[3] is not None else None
    assert offline is not None
    assert offline.attrs["count"] == "2"
    assert sandbox.messaging.queues.pending(device) == 0
    # Unlinking forgets what still waits.
    await sandbox.messaging.send_text(B, jid(A), "never read")
    await sandbox.disconnect(device)
    await sandbox.messaging.send_text(B, jid(A), "queued")
    assert sandbox.messaging.queues.pending(device) == 1
    await sandbox.unlink(device)
    assert sandbox.messaging.queues.pending(device) == 0


async def test_phones_survive_a_restart(tmp_path: Path) -> None:
    sandbox = make_sandbox(tmp_path)
    await sandbox.messaging.send_text(A, jid(B), "before")
    restarted = make_sandbox(tmp_path, seed=5)
    await restarted.messaging.send_text(A, jid(B), "after")
    await restarted.messaging.send_text(B, jid(A), "reply")
    bob = await restarted.messaging.phone(B)
    alice = await restarted.messaging.phone(A)
    assert [e.text for e in bob.log if e.direction == "in"] == ["before", "after"]
    assert [e.text for e in alice.log if e.direction == "in"] == ["reply"]


async def test_phones_are_journalled_and_a_torn_last_record_is_ignored(tmp_path: Path) -> None:
    sandbox = make_sandbox(tmp_path)
    await sandbox.messaging.send_text(A, jid(B), "first")
    phones = tmp_path / "phones"
    snapshots = {name: (tmp_path / name).read_bytes() for name in ("network.json", f"phones/{A}.json", f"phones/{B}.json")}
    await sandbox.messaging.send_text(A, jid(B), "second")
    await sandbox.messaging.send_text(A, jid(B), "third")
    for name, content in snapshots.items():
        assert (tmp_path / name).read_bytes() == content, f"{name} was rewritten"
    journal = (phones / f"{B}.jsonl").read_bytes()
    assert journal.count(b"\n") == 3  # one record per submission that touched the phone
    last = journal[: -1].rsplit(b"\n", 1)[1]
    (phones / f"{B}.jsonl").write_bytes(journal[: len(journal) - len(last) // 2])  # died writing the third
    restarted = make_sandbox(tmp_path, seed=5)
    bob = await restarted.messaging.phone(B)
    assert [e.text for e in bob.log] == ["first", "second"]
    assert (phones / f"{B}.jsonl").read_bytes() == b""  # replayed and compacted on start
    alice = await restarted.messaging.phone(A)
    assert [(e.text, e.state) for e in alice.log] == [("first", "delivered"), ("second", "delivered"), ("third", "delivered")]
    await restarted.messaging.send_text(A, jid(B), "after")  # bob's session is one step behind: still fine
    assert [e.text for e in bob.log] == ["first", "second", "after"]
    assert alice.log[-1].state == "delivered"
    again = make_sandbox(tmp_path, seed=6)
    assert [e.text for e in (await again.messaging.phone(B)).log] == ["first", "second", "after"]


async def test_unreadable_phone_files_start_afresh_or_keep_what_was_read(tmp_path: Path) -> None:
    sandbox = make_sandbox(tmp_path)
    await sandbox.messaging.send_text(A, jid(B), "first")
    await sandbox.messaging.send_text(A, jid(B), "second")
    phones = tmp_path / "phones"
    with (phones / f"{B}.jsonl").open("a") as out:
        out.write('{"log_at": [[7, {}]]}\n')  # well-formed JSON, not a record that fits
    bob = await make_sandbox(tmp_path, seed=5).messaging.phone(B)
    assert [e.text for e in bob.log] == ["first", "second"]
    (phones / f"{B}.json").write_text("[]")
    bob = await make_sandbox(tmp_path, seed=6).messaging.phone(B)
    assert bob.log == []
    (phones / f"{B}.json").write_text("{")
    bob = await make_sandbox(tmp_path, seed=7).messaging.phone(B)
    assert bob.log == []


async def test_groups_from_the_control_side() -> None:
    sandbox = make_sandbox()
    group = sandbox.messaging.create_group("Trio", [A, B, E])
    await sandbox.messaging.send_text(B, group, "hi all")
    alice = await sandbox.messaging.phone(A)
    received = [(e.chat, e.text) for e in alice.log if e.direction == "in"]
    assert received == [(group, "hi all"), (group, "echo: hi all")]  # the echo bot answers in the group


async def test_the_offline_queue_survives_a_restart(
    tmp_path: Path, autojump_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    sandbox = make_sandbox(tmp_path)
    record, keys = signal_companion(1, 21)
    sandbox.network.add_companion(A, record)
    device = jid(A).with_device(1)
    first = await sandbox.messaging.send_text(B, jid(A), "before the restart")
    assert sandbox.messaging.queues.pending(device) == 1
    restarted = make_sandbox(tmp_path, seed=5)
    assert restarted.messaging.queues.pending(device) == 1
    second = await restarted.messaging.send_text(B, jid(A), "after it")
    pipe = MemoryPipe()
    nursery.start_soon(restarted.handle, pipe.server)
    client = Companion(pipe, keys, root=restarted.root_public_key)
    await client.handshake(Companion.login_payload(device))
    nodes = [await client.receive_node() for _ in range(4)]
    assert [n.tag for n in nodes if n is not None] == ["success", "message", "message", "ib"]
    assert [n.attrs["id"] for n in nodes[1:3] if n is not None] == [first, second]
    assert make_sandbox(tmp_path, seed=6).messaging.queues.pending(device) == 0


async def test_the_sender_reads_its_ack_before_the_receipts_its_message_caused(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    """The phones have logged the message when the ack is written; the receipts it caused come after it."""
    sandbox = make_sandbox()
    record, keys = signal_companion(1, 22)
    sandbox.network.add_companion(A, record)
    device = jid(A).with_device(1)
    pipe = MemoryPipe()
    nursery.start_soon(sandbox.handle, pipe.server)
    client = Companion(pipe, keys, root=sandbox.root_public_key)
    await client.handshake(Companion.login_payload(device))
    assert [n.tag for n in [await client.receive_node(), await client.receive_node()] if n is not None] == ["success", "ib"]

    rng = random.Random(9).randbytes
    store = MemorySignalStore(keys.identity, keys.registration_id)
    bob = ProtocolAddress(B, 0)
    bundle = take_bundle(sandbox.network, jid(B))
    assert bundle is not None
    await process_pre_key_bundle(bob, bundle, identity_store=store, session_store=store, rng=rng)
    plain = pad(Message(conversation="ack me first").SerializeToString(), rng)
    cipher = await encrypt(bob, plain, identity_store=store, session_store=store)
    enc = Node("enc", {"v": "2", "type": cipher.type}, cipher.body)
    await client.send_node(Node("message", {"id": "3EB0ACKFIRST", "to": jid(B), "type": "text"}, [enc]))

    ack = await client.receive_node()
    assert ack is not None
    assert (ack.tag, ack.attrs["class"], ack.attrs["id"]) == ("ack", "message", "3EB0ACKFIRST")
    logged = (await sandbox.messaging.phone(B)).find("3EB0ACKFIRST", "in")
    assert logged is not None
    assert logged.text == "ack me first"
    receipt = await client.receive_node()
    assert receipt is not None
    assert (receipt.tag, receipt.attrs["id"], receipt.attrs["from"]) == ("receipt", "3EB0ACKFIRST", jid(B))


async def test_what_a_message_caused_is_queued_when_its_sender_left_before_the_ack() -> None:
    """A failing ack write (the sender is gone) does not lose the stanzas the submission produced."""
    sandbox = make_sandbox()
    record, _ = signal_companion(1, 23)
    sandbox.network.add_companion(B, record)
    companion = jid(B).with_device(1)
    message_id = "3EB0GONE"

    async def gone(ack: Node) -> None:
        raise trio.BrokenResourceError("the sender's socket is gone")

    alice = await sandbox.messaging.phone(A)
    node = await alice.send_text(jid(B), "for every device", now=NOW, message_id=message_id)
    ack = await sandbox.messaging.submit(alice.device, node, on_ack=gone)
    assert ack is not None
    assert ack.attrs["id"] == message_id
    assert sandbox.messaging.queues.pending(companion) == 1
    assert (await sandbox.messaging.phone(B)).find(message_id, "in") is not None
