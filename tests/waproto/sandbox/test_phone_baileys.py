"""Stanzas the sandbox routes from simulated phones, decoded and decrypted by Baileys' own receive path
(decodeBinaryNode + decryptMessageNode over Baileys' libsignal repository), and Baileys-encrypted
messages decrypted by a phone. Baileys 6.7.24 and 7.0.0-rc14, through tests/interop/ops/phone.mjs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.interop.harness import Harness
from tests.waproto.sandbox.net import Net
from waproto.binary import Node, marshal
from waproto.jid import JID
from waproto.proto import Message
from waproto.sandbox.registry import DeviceKeys, OneTimePreKey, SignedPreKey, take_bundle
from waproto.sandbox.routing import new_group
from waproto.signal import pad

pytestmark = pytest.mark.interop


def _companion(baileys: Harness, net: Net, phone: str, device: int, version: int) -> tuple[int, JID]:
    account = net.registry.account_by_phone(phone)
    assert account is not None
    jid = account.jid.with_device(device)
    made: dict[str, Any] = baileys.call(
        "phone.companion.create",
        version=version,
        preKeys=4,
        meId=str(jid),
        meLid=str(JID(account.lid, "lid", device=device)),
    )
    bundle = made["bundle"]
    keys = DeviceKeys(
        bundle["registrationId"],
        bundle["identity"],
        SignedPreKey(
            bundle["signedPreKey"]["keyId"],
            bundle["signedPreKey"]["public"],
            bundle["signedPreKey"]["signature"],
        ),
        [OneTimePreKey(k["keyId"], k["public"]) for k in bundle["preKeys"]],
    )
    net.registry.set_device_keys(jid, keys)
    return made["handle"], jid


def _receive(baileys: Harness, handle: int, node: Node) -> dict[str, Any]:
    result: dict[str, Any] = baileys.call("phone.companion.receive", handle=handle, frame=marshal(node))
    return result


@pytest.mark.parametrize("version", [6, 7])
async def test_baileys_companion_decrypts_what_phones_send(baileys: Harness, version: int) -> None:
    net = Net()
    alice, bob = net.add("15550001111", "Alice"), net.add("15550002222", "Bob")
    handle, companion = _companion(baileys, net, bob.account.phone, 2, version)

    for text in ("hello baileys", "second, as msg"):
        await net.send(alice.device, await alice.send_text(bob.account.jid, text, now=net.now))
        got = _receive(baileys, handle, net.inbox[companion].pop())
        assert got["text"] == text
        assert got["key"]["remoteJid"] == "15550001111@s.whatsapp.net"
        assert not got["key"]["fromMe"]
        assert got["pushName"] == "Alice"
        assert got["stubType"] is None

    # the account's own phone writes: the companion sees its own message (deviceSentMessage unwrapped)
    await net.send(bob.device, await bob.send_text(alice.account.jid, "from bob's phone", now=net.now))
    own = [n for n in net.inbox[companion] if n.tag == "message"][-1]
    got = _receive(baileys, handle, own)
    assert got["text"] == "from bob's phone"
    assert got["key"]["fromMe"]
    assert got["key"]["remoteJid"] == "15550001111@s.whatsapp.net"

    # a group of three: the companion gets the sender key (pkmsg) and the skmsg in one stanza
    carol = net.add("15550003333", "Carol")
    group = net.registry.add_group(
        new_group(
            net.registry,
            group_id="120363000000000077",
            subject="three",
            creator=carol.account.jid,
            participants=[alice.account.jid, bob.account.jid],
            now=net.now,
        )
    )
    for text in ("group one", "group two"):
        await net.send(carol.device, await carol.send_text(group.jid, text, now=net.now))
        got = _receive(baileys, handle, [n for n in net.inbox[companion] if n.tag == "message"][-1])
        assert got["text"] == text
        assert got["key"]["remoteJid"] == str(group.jid)
        assert got["key"]["participant"] == "15550003333@s.whatsapp.net"
    assert [e.text for e in alice.log[-2:]] == ["group one", "group two"]
    baileys.call("phone.companion.drop", handle=handle)


@pytest.mark.parametrize("version", [6, 7])
async def test_phone_decrypts_what_a_baileys_companion_sends(baileys: Harness, version: int) -> None:
    net = Net()
    alice, bob = net.add("15550001111", "Alice", echo=True), net.add("15550002222", "Bob")
    handle, companion = _companion(baileys, net, bob.account.phone, 2, version)
    if version == 7:  # Baileys 7 learns LIDs from usync and keys its sessions by them
        pairs = [{"lid": str(a.account.lid_jid), "pn": str(a.account.jid)} for a in (alice, bob)]
        baileys.call("phone.companion.mapLids", handle=handle, pairs=pairs)
    participants = []
    for device in (alice.device, bob.device):
        account = alice.account if device == alice.device else bob.account
        address = str(account.lid_jid) if version == 7 else str(device)
        bundle = take_bundle(net.registry, device)
        assert bundle is not None
        assert bundle.pre_key_id is not None
        assert bundle.pre_key_public is not None
        baileys.call(
            "phone.companion.inject",
            handle=handle,
            jid=address,
            bundle={
                "registrationId": bundle.registration_id,
                "identity": bundle.identity_key,
                "signedPreKey": {
                    "keyId": bundle.signed_pre_key_id,
                    "public": bundle.signed_pre_key_public,
                    "signature": bundle.signed_pre_key_signature,
                },
                "preKey": {"keyId": bundle.pre_key_id, "public": bundle.pre_key_public},
            },
        )
        message = Message(conversation="hi from baileys")
        if device == bob.device:
            sent = Message()
            sent.device_sent_message.destination_jid = str(alice.account.jid)
            sent.device_sent_message.message.CopyFrom(message)
            message = sent
        enc = baileys.call(
            "phone.companion.encrypt",
            handle=handle,
            jid=address,
            data=pad(message.SerializeToString(), net.rng),
        )
        assert enc["type"] == "pkmsg"
        participants.append(
            Node("to", {"jid": device}, [Node("enc", {"v": "2", "type": "pkmsg"}, enc["ciphertext"])])
        )
    stanza = Node(
        "message",
        {"id": "3EB0BAILEYS", "to": alice.account.jid, "type": "text"},
        [Node("participants", {}, participants)],
    )
    routed = await net.send(companion, stanza)
    assert routed.ack is not None
    assert "error" not in routed.ack.attrs
    assert [(e.direction, e.text) for e in alice.log[:1]] == [("in", "hi from baileys")]
    assert [(e.direction, e.chat, e.text) for e in bob.log] == [
        ("out", alice.account.jid, "hi from baileys"),
        ("in", alice.account.jid, "echo: hi from baileys"),
    ]
    # the echo came back to every bob device, the Baileys companion included, and decrypts there
    echo = [n for n in net.inbox[companion] if n.tag == "message"]
    assert len(echo) == 1
    got = _receive(baileys, handle, echo[0])
    assert got["text"] == "echo: hi from baileys", (got["stubType"], got["stubParameters"], got["fields"])
    # the delivery receipts of alice's phone reached the companion
    receipts = [n for n in net.inbox[companion] if n.tag == "receipt" and n.attrs["id"] == "3EB0BAILEYS"]
    assert receipts
    baileys.call("phone.companion.drop", handle=handle)
