"""Simulated phones talking through the routing functions (no sockets): 1:1, companions, groups, echo
bots, media, receipts, retries, offline queues; and interop with libsignal-node."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.waproto.sandbox.net import Net
from waproto.binary import Node
from waproto.errors import LocalProtocolError, MediaIntegrityError
from waproto.jid import JID
from waproto.media import encrypt_media
from waproto.proto import Message, decode
from waproto.sandbox.phone import SimPhone
from waproto.sandbox.routing import new_group
from waproto.signal import unpad


def _fuzz_nodes() -> st.SearchStrategy[Node]:
    alice, bob = JID("15550001111", "s.whatsapp.net"), JID("15550002222", "s.whatsapp.net")
    values = st.one_of(
        st.sampled_from(
            [alice, bob.with_device(1), JID("5", "g.us"), JID("1999", "s.whatsapp.net"), JID("", "lid")]
        ),
        st.sampled_from(["", "x", "pkmsg", "msg", "skmsg", "retry", "read", "message", "2"]),
    )
    attrs = st.dictionaries(
        st.sampled_from(["id", "from", "participant", "type", "class", "t", "error"]), values
    )
    tags = st.sampled_from(["message", "receipt", "ack", "enc", "list", "item", "retry", "notification"])
    leaf = st.builds(Node, tags, attrs, st.one_of(st.none(), st.binary(max_size=40), st.text(max_size=4)))
    return st.recursive(leaf, lambda c: st.builds(Node, tags, attrs, st.lists(c, max_size=3)), max_leaves=8)


def _encs_for(stanza: Node, device: JID) -> list[Node]:
    participants = stanza.child("participants")
    assert participants is not None
    return [
        enc for to in participants.children_with("to") if to.attrs["jid"] == device for enc in to.children
    ]


async def test_two_phones_exchange_texts() -> None:
    net = Net()
    alice, bob = net.add("15550001111", "Alice"), net.add("15550002222", "Bob")
    first = await alice.send_text(bob.account.jid, "hello bob", now=net.now)
    assert [enc.attrs["type"] for enc in _encs_for(first, bob.device)] == ["pkmsg"]
    await net.send(alice.device, first)
    assert [(e.direction, e.kind, e.text) for e in bob.log] == [("in", "text", "hello bob")]
    assert bob.log[0].chat == alice.account.jid
    assert alice.log[0].state == "delivered"
    reply = await bob.send_text(alice.account.jid, "hi alice", now=net.now)
    await net.send(bob.device, reply)
    again = await alice.send_text(bob.account.jid, "second", now=net.now)
    assert [enc.attrs["type"] for enc in _encs_for(again, bob.device)] == ["msg"]
    await net.send(alice.device, again)
    assert [e.text for e in bob.log] == ["hello bob", "hi alice", "second"]
    assert [e.text for e in alice.log] == ["hello bob", "hi alice", "second"]
    assert [e.state for e in alice.log if e.direction == "out"] == ["delivered", "delivered"]
    assert "← 15550001111@s.whatsapp.net" in bob.log_lines()[0]
    assert bob.log_lines()[0].endswith("text: hello bob [received]")


async def test_read_receipts_reach_the_sender() -> None:
    net = Net()
    alice, bob = net.add("15550001111"), net.add("15550002222", auto_read=True)
    stanza = await alice.send_text(bob.account.jid, "read me", now=net.now)
    await net.send(alice.device, stanza)
    assert bob.log[0].state == "read"
    assert alice.log[0].state == "read"
    assert alice.log[0].receipts == {"15550002222@s.whatsapp.net": "read"}
    assert alice.log[0].to_json()["state"] == "read"


async def test_one_time_prekeys_are_consumed_once() -> None:
    net = Net()
    alice, bob, carol = net.add("15550001111"), net.add("15550002222"), net.add("15550003333")
    published = net.registry.device_keys(bob.device)
    assert published is not None
    ids = [key.key_id for key in published.pre_keys]
    await net.send(alice.device, await alice.send_text(bob.account.jid, "a", now=net.now))
    await net.send(carol.device, await carol.send_text(bob.account.jid, "c", now=net.now))
    assert [key.key_id for key in published.pre_keys] == ids[2:]
    assert sorted(bob.store.pre_keys) == ids[2:]  # used private halves are gone too
    assert [e.text for e in bob.log] == ["a", "c"]


async def test_sending_to_an_unknown_number_is_refused() -> None:
    net = Net()
    alice = net.add("15550001111")
    with pytest.raises(LocalProtocolError, match="not an account"):
        await alice.send_text(JID("15559999999", "s.whatsapp.net"), "anyone?", now=net.now)


async def test_companions_get_device_sent_messages_and_offline_queue_keeps_order() -> None:
    net = Net()
    alice, bob = net.add("15550001111"), net.add("15550002222")
    companion = net.add_device(alice.account, device=3)
    net.offline.add(companion.device)
    for text in ("one", "two", "three"):
        await net.send(bob.device, await bob.send_text(alice.account.jid, text, now=net.now))
    own = await alice.send_text(bob.account.jid, "from the phone", now=net.now)
    assert _encs_for(own, companion.device)
    await net.send(alice.device, own)
    assert net.queues.pending(companion.device) == 5  # 3 messages, the phone's DSM, bob's receipt for it
    drained = await net.reconnect(companion.device)
    assert [node.tag for node in drained] == ["message"] * 4 + ["receipt"]
    assert [node.attrs["offline"] for node in drained] == ["1"] * 5
    assert [(e.direction, e.text) for e in companion.log] == [
        ("in", "one"),
        ("in", "two"),
        ("in", "three"),
        ("out", "from the phone"),
    ]
    assert companion.log[-1].chat == bob.account.jid
    assert net.queues.pending(companion.device) == 0


async def test_echo_bot_answers_texts() -> None:
    net = Net()
    alice, bot = net.add("15550001111"), net.add("15550009999", "Echo", echo=True)
    await net.send(alice.device, await alice.send_text(bot.account.jid, "ping", now=net.now))
    assert [(e.direction, e.text) for e in alice.log] == [("out", "ping"), ("in", "echo: ping")]
    assert [(e.direction, e.text, e.state) for e in bot.log] == [
        ("in", "ping", "received"),
        ("out", "echo: ping", "delivered"),
    ]


async def test_media_is_decrypted_and_echoed() -> None:
    net = Net()
    alice, bot = net.add("15550001111"), net.add("15550009999", echo=True)
    media_key = bytes(range(32))
    blob = encrypt_media(b"%PDF-1.4 sandbox" * 100, media_key, "document")
    stanza = await alice.send_media(
        bot.account.jid,
        "document",
        url="https://media.sandbox/d/1",
        direct_path="/d/1?x=1",
        media_key=media_key,
        info=blob.info,
        mimetype="application/pdf",
        file_name="report.pdf",
        caption="the report",
        now=net.now,
    )
    assert stanza.attrs["type"] == "media"
    assert _encs_for(stanza, bot.device)[0].attrs["mediatype"] == "document"
    await net.send(alice.device, stanza)
    received = bot.log[0]
    assert (received.kind, received.text, received.file_name) == ("document", "the report", "report.pdf")
    assert bot.open_media(received, blob.data) == b"%PDF-1.4 sandbox" * 100
    assert "(1600 bytes decrypted)" in received.line()
    assert received.to_json()["decrypted"] is True
    echoed = alice.log[-1]
    assert (echoed.direction, echoed.kind, echoed.file_name) == ("in", "document", "report.pdf")
    assert alice.open_media(echoed, blob.data) == b"%PDF-1.4 sandbox" * 100
    with pytest.raises(MediaIntegrityError):
        bot.open_media(received, blob.data[:-1] + b"\x00")
    await net.send(alice.device, await alice.send_text(bot.account.jid, "plain", now=net.now))
    with pytest.raises(LocalProtocolError, match="no media"):
        bot.open_media(bot.log[-2], b"")
    with pytest.raises(LocalProtocolError, match="media kind"):
        await alice.send_media(
            bot.account.jid,
            "hologram",
            url="",
            direct_path="",
            media_key=media_key,
            info=blob.info,
            mimetype="x/y",
            now=net.now,
        )


async def test_group_of_three() -> None:
    net = Net()
    alice, bob, carol = net.add("15550001111"), net.add("15550002222"), net.add("15550003333")
    bob_companion = net.add_device(bob.account, device=2)
    group = net.registry.add_group(
        new_group(
            net.registry,
            group_id="120363000000000001",
            subject="three",
            creator=alice.account.jid,
            participants=[bob.account.jid, carol.account.lid_jid],
            now=net.now,
        )
    )
    first = await alice.send_text(group.jid, "hello group", now=net.now)
    assert {to.attrs["jid"] for to in first.children[0].children} == {
        bob.device,
        bob_companion.device,
        carol.device,
    }
    await net.send(alice.device, first)
    second = await alice.send_text(group.jid, "again", now=net.now)
    assert second.children[0].children == []  # every member device already has the sender key
    await net.send(alice.device, second)
    await net.send(carol.device, await carol.send_text(group.jid, "carol here", now=net.now))
    for member in (bob, bob_companion, carol):
        texts = [e.text for e in member.log if e.direction == "in"]
        assert texts == ["hello group", "again", "carol here"][: len(texts)]
        assert all(e.chat == group.jid for e in member.log)
    assert [e.text for e in bob.log] == ["hello group", "again", "carol here"]
    assert [e.text for e in alice.log] == ["hello group", "again", "carol here"]
    assert alice.log[0].state == "delivered"
    assert set(alice.log[0].receipts) == {str(bob.device), str(bob_companion.device), str(carol.device)}


async def test_undecryptable_message_gets_a_retry_and_the_sender_resends() -> None:
    net = Net()
    alice, bob = net.add("15550001111"), net.add("15550002222")
    await net.send(alice.device, await alice.send_text(bob.account.jid, "first", now=net.now))
    bob.store.sessions.clear()  # bob loses his session: alice's next msg cannot decrypt
    stanza = await alice.send_text(bob.account.jid, "lost?", now=net.now)
    routed = await net.send(alice.device, stanza)
    assert routed.deliveries
    assert [e.text for e in bob.log] == ["first", "lost?"]  # decrypted after the resend
    assert [a.attrs.get("type") for a in net.acks if a.attrs["class"] == "receipt"].count("retry") == 1


async def test_garbage_is_reported_not_raised() -> None:
    net = Net()
    bob = net.add("15550002222")
    alice = net.add("15550001111")
    cases = [
        Node("message", {"id": "X"}),
        Node("message", {"id": "X", "from": alice.device}),
        Node(
            "message",
            {"id": "X", "from": alice.device},
            [Node("enc", {"type": "pkmsg", "v": "2"}, b"\x33junk")],
        ),
        Node("message", {"id": "X", "from": alice.device}, [Node("enc", {"type": "msg", "v": "2"}, "text")]),
        Node(
            "message", {"id": "X", "from": alice.device}, [Node("enc", {"type": "skmsg", "v": "2"}, b"\x33")]
        ),
        Node("message", {"id": "X", "from": JID("1", "s.whatsapp.net")}, [Node("enc", {"type": "msg"}, b"")]),
        Node("message", {"id": "X", "from": "not a jid"}),
    ]
    for case in cases:
        received = await bob.receive(case, now=1)
        assert received.failure is not None, case
        assert received.entry is None
    retry = (await bob.receive(cases[2], now=1)).out
    assert [node.attrs["type"] for node in retry] == ["retry"]
    assert (await bob.receive(Node("presence"), now=1)).out == []
    assert bob.log == []


async def test_published_keys_and_more_prekeys() -> None:
    net = Net()
    phone = SimPhone(net.registry.add_account(_account()), net.registry, rng=net.rng, pre_keys=3)
    keys = phone.published_keys()
    assert [k.key_id for k in keys.pre_keys] == [1, 2, 3]
    assert phone.published_keys().pre_keys == []  # handed out once
    assert [k.key_id for k in phone.new_pre_keys(2)] == [4, 5]
    assert keys.identity == phone.identity_public
    assert keys.registration_id == phone.registration_id


def _account():  # type: ignore[no-untyped-def]
    from waproto.sandbox.registry import Account

    return Account("15550004444", "4444")


# --------------------------------------------------------------------- interop with libsignal-node


@pytest.mark.interop
async def test_phone_pkmsg_decrypts_in_libsignal_and_back(baileys) -> None:  # type: ignore[no-untyped-def]
    from waproto.sandbox.registry import Account, DeviceKeys, OneTimePreKey, SignedPreKey
    from waproto.signal import pad

    net = Net()
    phone = net.add("15550001111", "Phone")
    party = baileys.call("signal.party.create", registrationId=4321, preKeys=3)
    bundle = baileys.call("signal.party.bundle", handle=party)
    peer = net.registry.add_account(Account("15550007777", "7777"))
    net.registry.set_device_keys(
        peer.jid,
        DeviceKeys(
            bundle["registrationId"],
            bundle["identityKey"][1:],
            SignedPreKey(
                bundle["signedPreKey"]["keyId"],
                bundle["signedPreKey"]["publicKey"][1:],
                bundle["signedPreKey"]["signature"],
            ),
            [OneTimePreKey(bundle["preKey"]["keyId"], bundle["preKey"]["publicKey"][1:])],
        ),
    )
    stanza = await phone.send_text(peer.jid, "to libsignal", now=net.now)
    routed = await net.send(phone.device, stanza)
    [delivery] = routed.deliveries
    [enc] = delivery.node.children
    address = {"name": "15550001111", "deviceId": 0}
    [result] = baileys.call(
        "signal.party.decrypt",
        handle=party,
        address=address,
        messages=[{"type": enc.attrs["type"], "body": enc.content}],
    )
    assert decode(Message, unpad(result["plaintext"])).conversation == "to libsignal"

    # and back: the libsignal party answers on the same session, then a fresh party starts with a pkmsg
    reply = Message(conversation="from libsignal").SerializeToString()
    [message] = baileys.call(
        "signal.party.encrypt", handle=party, address=address, plaintexts=[pad(reply, net.rng)]
    )
    node = Node(
        "message",
        {"from": peer.jid, "id": "3EB0AA", "t": "1", "type": "text"},
        [Node("enc", {"v": "2", "type": message["type"]}, message["body"])],
    )
    received = await phone.receive(node, now=net.now)
    assert received.entry is not None
    assert received.entry.text == "from libsignal"

    other = baileys.call("signal.party.create", registrationId=99)
    keys = net.registry.device_keys(phone.device)
    assert keys is not None
    one_time = net.registry.take_pre_key(phone.device)
    assert one_time is not None
    baileys.call(
        "signal.party.processBundle",
        handle=other,
        address=address,
        bundle={
            "registrationId": keys.registration_id,
            "identityKey": b"\x05" + keys.identity,
            "signedPreKey": {
                "keyId": keys.signed_pre_key.key_id,
                "publicKey": b"\x05" + keys.signed_pre_key.public,
                "signature": keys.signed_pre_key.signature,
            },
            "preKey": {"keyId": one_time.key_id, "publicKey": b"\x05" + one_time.public},
        },
    )
    stranger = net.registry.add_account(Account("15550008888", "8888"))
    [first] = baileys.call(
        "signal.party.encrypt",
        handle=other,
        address=address,
        plaintexts=[pad(Message(conversation="first contact").SerializeToString(), net.rng)],
    )
    assert first["type"] == "pkmsg"
    node = Node(
        "message",
        {"from": stranger.jid, "id": "3EB0BB", "t": "2", "type": "text"},
        [Node("enc", {"v": "2", "type": "pkmsg"}, first["body"])],
    )
    received = await phone.receive(node, now=net.now)
    assert received.entry is not None
    assert received.entry.text == "first contact"
    assert one_time.key_id not in phone.store.pre_keys
    for handle in (party, other):
        baileys.call("signal.party.drop", handle=handle)


@pytest.mark.interop
@pytest.mark.parametrize("version", [6, 7])
async def test_phone_group_message_decrypts_in_baileys_group_cipher(baileys, version: int) -> None:  # type: ignore[no-untyped-def]
    net = Net()
    alice, bob = net.add("15550001111"), net.add("15550002222")
    group = net.registry.add_group(
        new_group(
            net.registry,
            group_id="120363000000000002",
            subject="g",
            creator=alice.account.jid,
            participants=[bob.account.jid],
            now=net.now,
        )
    )
    stanza = await alice.send_text(group.jid, "to the group", now=net.now)
    skdm_enc = _encs_for(stanza, bob.device)[0]
    # bob's phone decrypts the 1:1 part; the distribution message inside goes to Baileys' group builder
    from waproto.signal import decrypt

    result = await decrypt(
        bob._address(alice.device),
        skdm_enc.attrs["type"],
        skdm_enc.content,  # type: ignore[arg-type]
        identity_store=bob.store,
        session_store=bob.store,
        pre_key_store=bob.store,
        signed_pre_key_store=bob.store,
        rng=net.rng,
    )
    skdm = decode(Message, unpad(result.plaintext)).sender_key_distribution_message
    party = baileys.call("group.party.create", version=version)
    name = {"party": party, "group": str(group.jid), "sender": "15550001111", "device": 0}
    baileys.call("group.skdm.process", skdm=skdm.axolotl_sender_key_distribution_message, **name)
    skmsg = stanza.child("enc")
    assert skmsg is not None
    [out] = baileys.call("group.decrypt", messages=[skmsg.content], **name)
    assert out["ok"], out
    assert decode(Message, unpad(out["plaintext"])).conversation == "to the group"
    baileys.call("group.party.drop", party=party)


async def test_a_message_with_only_a_distribution_and_context_is_not_logged() -> None:
    net = Net()
    alice, bob = net.add("15550001111"), net.add("15550002222")
    message = Message()
    message.sender_key_distribution_message.group_id = "123@g.us"
    message.sender_key_distribution_message.axolotl_sender_key_distribution_message = b"\x33"
    message.message_context_info.message_secret = b"\x01" * 32
    stanza = await alice.send_message(bob.account.jid, message, now=net.now)
    [enc] = _encs_for(stanza, bob.device)
    node = Node("message", {"from": alice.device, "id": "S1", "t": "1"}, [enc])
    received = await bob.receive(node, now=net.now)
    assert received.failure is not None  # b"\x33" alone is no distribution message
    message.sender_key_distribution_message.axolotl_sender_key_distribution_message = await _distribution(
        alice, "123@g.us"
    )
    stanza = await alice.send_message(bob.account.jid, message, now=net.now)
    [enc] = _encs_for(stanza, bob.device)
    node = Node("message", {"from": alice.device, "id": "S2", "t": "1"}, [enc])
    received = await bob.receive(node, now=net.now)
    assert received.failure is None
    assert received.entry is None
    assert [n.tag for n in received.out] == ["receipt"]
    assert bob.log == []


async def _distribution(phone: SimPhone, group: str) -> bytes:
    from waproto.signal import ProtocolAddress, SenderKeyName, create_distribution_message

    name = SenderKeyName(group, ProtocolAddress(phone.account.phone, 0))
    return await create_distribution_message(phone.sender_keys, name, phone.rng)


async def test_phones_on_the_network_state_share_its_prekeys() -> None:
    """The server's Network is a Registry; phones built from its key material consume its prekeys."""
    import random

    from waproto.sandbox.phone import PhoneKeys
    from waproto.sandbox.routing import route_message, route_receipt
    from waproto.sandbox.state import Network

    rng = random.Random(11).randbytes
    network = Network.open(None, rng=rng)
    phones = {}
    for number in ("15550001111", "15550002222"):
        state = network.create_account(number, rng=rng, now=1)
        keys = PhoneKeys(state.identity, state.registration_id, state.signed_pre_key, state.pre_keys)
        phones[number] = SimPhone(state.account, network, rng=rng, keys=keys)
    alice, bob = phones["15550001111"], phones["15550002222"]
    assert alice.published_keys().pre_keys == []  # the network publishes, not the phone
    bob_state = network.accounts["15550002222"]
    before = set(bob_state.pre_keys)
    stanza = await alice.send_text(bob.account.jid, "over the network", now=2)
    routed = route_message(network, alice.device, stanza, now=2)
    [delivery] = routed.deliveries
    received = await bob.receive(delivery.node, now=2)
    assert received.entry is not None
    assert received.entry.text == "over the network"
    [used] = before - set(bob_state.pre_keys)  # the network state saw the prekey go
    assert used not in bob_state.published
    [receipt] = received.out
    [back] = route_receipt(network, bob.device, receipt, now=3).deliveries
    await alice.receive(back.node, now=3)
    assert alice.log[0].state == "delivered"


async def test_state_survives_a_restart() -> None:
    import json

    from waproto.errors import DecodeError
    from waproto.sandbox.phone import PhoneKeys

    net = Net()
    alice, bob = net.add("15550001111", "Alice"), net.add("15550002222")
    group = net.registry.add_group(
        new_group(
            net.registry,
            group_id="99",
            subject="g",
            creator=alice.account.jid,
            participants=[bob.account.jid],
            now=1,
        )
    )
    await net.send(alice.device, await alice.send_text(bob.account.jid, "before", now=net.now))
    await net.send(bob.device, await bob.send_text(alice.account.jid, "reply", now=net.now))
    await net.send(alice.device, await alice.send_text(group.jid, "group before", now=net.now))

    def reborn(old: SimPhone) -> SimPhone:
        keys = PhoneKeys(old.store.identity, old.registration_id, old._signed, old.store.pre_keys)
        phone = SimPhone(old.account, net.registry, rng=net.rng, keys=keys)
        net.phones[phone.device] = phone
        return phone

    states = {p.device: json.loads(json.dumps(await p.export_state())) for p in (alice, bob)}
    alice, bob = reborn(alice), reborn(bob)
    for phone in (alice, bob):
        await phone.import_state(states[phone.device])
    assert [e.text for e in alice.log] == ["before", "reply", "group before"]
    assert alice.log[0].state == "delivered"
    after = await alice.send_text(bob.account.jid, "after", now=net.now)
    assert [enc.attrs["type"] for enc in _encs_for(after, bob.device)] == ["msg"]
    await net.send(alice.device, after)
    again = await alice.send_text(group.jid, "group after", now=net.now)
    assert again.children[0].children == []  # bob still holds alice's sender key
    await net.send(alice.device, again)
    assert [e.text for e in bob.log] == ["before", "reply", "group before", "after", "group after"]
    for bad in ({}, {"sessions": [["x", 0, "!!"]]}, {**states[bob.device], "log": [{"id": "x"}]}):
        with pytest.raises(DecodeError):
            await bob.import_state(bad)
    assert len(bob.log) == 5


async def test_the_send_cache_is_bounded() -> None:
    from waproto.sandbox.phone import SEND_CACHE

    net = Net()
    alice, bob = net.add("15550001111"), net.add("15550002222")
    for i in range(SEND_CACHE + 3):
        await alice.send_text(bob.account.jid, str(i), now=net.now, message_id=f"ID{i}")
    assert len(alice._sent) == SEND_CACHE
    assert "ID0" not in alice._sent
    assert f"ID{SEND_CACHE + 2}" in alice._sent


@settings(max_examples=150)
@given(node=_fuzz_nodes())
async def test_a_phone_never_raises_on_garbage(node: Node) -> None:
    net = Net(seed=1)
    alice, bob = net.add("15550001111"), net.add("15550002222")
    received = await bob.receive(node, now=1)
    assert all(out.tag in ("receipt", "message") for out in received.out)
    assert (received.failure is None) or received.entry is None
    # still works afterwards
    await net.send(alice.device, await alice.send_text(bob.account.jid, "fine", now=2))
    assert bob.log[-1].text == "fine"


async def test_changes_replayed_on_the_last_state_give_the_same_state() -> None:
    import json

    from waproto.errors import DecodeError
    from waproto.sandbox.phone import PhoneKeys

    net = Net()
    alice, bob = net.add("15550001111", "Alice"), net.add("15550002222")
    group = net.registry.add_group(
        new_group(net.registry, group_id="99", subject="g", creator=alice.account.jid, participants=[bob.account.jid], now=1)
    )
    base = {p.device: await p.export_state() for p in (alice, bob)}
    assert await alice.export_changes() is None  # nothing happened yet
    records: dict[JID, list[object]] = {alice.device: [], bob.device: []}

    async def note() -> None:
        for phone in (alice, bob):
            change = await phone.export_changes()
            if change is not None:
                records[phone.device].append(json.loads(json.dumps(change)))

    one = await alice.send_text(bob.account.jid, "one", now=net.now)
    await net.send(alice.device, one)
    await note()
    assert [p for p, _ in records[alice.device][-1]["log_at"]] == [0]  # type: ignore[index]
    await net.send(bob.device, await bob.send_text(alice.account.jid, "two", now=net.now))
    await net.send(bob.device, Node("receipt", {"id": one.attrs["id"], "to": alice.account.jid, "type": "read"}))
    await note()
    update = records[alice.device][-1]
    assert [p for p, _ in update["log_at"]] == [0, 1]  # type: ignore[index]  # "one" was read, "two" is new
    assert update["log_at"][0][1]["state"] == "read"  # type: ignore[index]
    await net.send(alice.device, await alice.send_text(group.jid, "three", now=net.now))
    await note()
    assert "sender_keys" in records[alice.device][-1]  # type: ignore[operator]
    assert "skdm_sent" in records[alice.device][-1]  # type: ignore[operator]
    assert await alice.export_changes() is None

    for phone in (alice, bob):
        keys = PhoneKeys(phone.store.identity, phone.registration_id, phone._signed, phone.store.pre_keys)
        reborn = SimPhone(phone.account, net.registry, rng=net.rng, keys=keys)
        await reborn.import_state(base[phone.device])
        for record in records[phone.device] + records[phone.device][-1:]:  # the last one twice: harmless
            await reborn.apply_changes(record)
        assert await reborn.export_state() == await phone.export_state()
        assert await reborn.export_changes() is None  # what was replayed counts as saved
        assert reborn.find(phone.log[-1].id) is not None
    stale = records[bob.device][-1]
    for bad in ([], {"log_at": [[99, stale["log_at"][0][1]]]}, {"log_at": [[-1, {}]]}, {"sessions": [["x", 0, "!!"]]}):  # type: ignore[index]
        with pytest.raises(DecodeError):
            await reborn.apply_changes(bad)
    assert await reborn.export_state() == await bob.export_state()


async def test_a_retry_drops_the_session_and_the_change_says_so() -> None:
    net = Net()
    alice, bob = net.add("15550001111"), net.add("15550002222")
    stanza = await alice.send_text(bob.account.jid, "hello", now=net.now)
    await net.send(alice.device, stanza)
    await alice.export_changes()
    net.registry.devices[bob.account.phone][0] = None  # bob's keys are gone: no new session can be made
    retry = Node("receipt", {"id": stanza.attrs["id"], "from": bob.device, "type": "retry"})
    received = await alice.receive(retry, now=net.now)
    assert received.out == []
    change = await alice.export_changes()
    assert change == {"sessions_removed": [["15550002222", 0]]}
