"""waproto.signal sessions against libsignal-node 6.0.0 (the library Baileys uses), both directions.

A libsignal party (tests/interop/ops/signal.mjs, storage shaped like Baileys') and one of ours build a
session from the other's bundle (with and without a one-time prekey), exchange the first pkmsg and its
answer, then 50 messages each way interleaved over a simulated network that delivers out of order,
holds some messages across ratchet turns and delivers one message to each side twice. Every message is
decrypted exactly once on each side; the duplicates are refused. A tampered ciphertext fails with a MAC
error on either side and the session still decrypts the next genuine message.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.interop.harness import Harness
from tests.waproto.signal.session_parties import Party, make_party
from waproto.errors import DuplicateMessage, InvalidMac
from waproto.signal.address import ProtocolAddress
from waproto.signal.cipher import CiphertextMessage
from waproto.signal.keys import PreKeyBundle
from waproto.signal.session import process_pre_key_bundle

pytestmark = pytest.mark.interop

NODE = ProtocolAddress("15550002222", 0)  # how we address the libsignal party
US = {"name": "15550001111", "deviceId": 0}  # how it addresses us
COUNT = 50


class NodeParty:
    """The libsignal-node party behind the harness."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.handle = harness.call("signal.party.create", preKeys=5)

    def bundle(self, *, with_pre_key: bool) -> PreKeyBundle:
        b = self.harness.call("signal.party.bundle", handle=self.handle, withPreKey=with_pre_key)
        pre_key = b.get("preKey")
        return PreKeyBundle(
            registration_id=b["registrationId"],
            device_id=0,
            pre_key_id=pre_key["keyId"] if pre_key else None,
            pre_key_public=pre_key["publicKey"] if pre_key else None,
            signed_pre_key_id=b["signedPreKey"]["keyId"],
            signed_pre_key_public=b["signedPreKey"]["publicKey"],
            signed_pre_key_signature=b["signedPreKey"]["signature"],
            identity_key=b["identityKey"],
        )

    def process_bundle(self, bundle: PreKeyBundle) -> None:
        wire: dict[str, Any] = {
            "registrationId": bundle.registration_id,
            "identityKey": b"\x05" + bundle.identity_key,
            "signedPreKey": {
                "keyId": bundle.signed_pre_key_id,
                "publicKey": b"\x05" + bundle.signed_pre_key_public,
                "signature": bundle.signed_pre_key_signature,
            },
        }
        if bundle.pre_key_id is not None and bundle.pre_key_public is not None:
            wire["preKey"] = {"keyId": bundle.pre_key_id, "publicKey": b"\x05" + bundle.pre_key_public}
        self.harness.call("signal.party.processBundle", handle=self.handle, address=US, bundle=wire)

    def encrypt(self, plaintexts: list[bytes]) -> list[CiphertextMessage]:
        out = self.harness.call("signal.party.encrypt", handle=self.handle, address=US, plaintexts=plaintexts)
        return [CiphertextMessage(m["type"], m["body"]) for m in out]

    def decrypt(self, messages: list[CiphertextMessage]) -> list[dict[str, Any]]:
        wire = [{"type": m.type, "body": m.body} for m in messages]
        result: list[dict[str, Any]] = self.harness.call(
            "signal.party.decrypt", handle=self.handle, address=US, messages=wire
        )
        return result

    def pre_key_ids(self) -> list[int]:
        ids: list[int] = self.harness.call("signal.party.preKeyIds", handle=self.handle)
        return ids


def _us() -> Party:
    party = make_party(US["name"], 11)  # type: ignore[arg-type]
    party.address = NODE  # Party.encrypt/decrypt use the *peer's* address; ours only ever talks to NODE
    return party


async def _our_decrypt(us: Party, message: CiphertextMessage) -> bytes:
    return (await us.decrypt(us, message)).plaintext


async def _our_encrypt(us: Party, plaintext: bytes) -> CiphertextMessage:
    return await us.encrypt(us, plaintext)


async def _exchange(us: Party, node: NodeParty, seed: int) -> None:
    """50 messages each way, interleaved, out of order, one duplicate per side; exactly-once check."""
    rnd = random.Random(seed)
    to_node: list[CiphertextMessage] = []
    to_us: list[CiphertextMessage] = []
    sent_by_us = sent_by_node = 0
    got_by_node: list[bytes] = []
    got_by_us: list[bytes] = []
    delivered_to_node: list[CiphertextMessage] = []
    delivered_to_us: list[CiphertextMessage] = []
    duplicates = {"node": False, "us": False}

    async def deliver_to_us(batch: list[CiphertextMessage]) -> None:
        for m in batch:
            got_by_us.append(await _our_decrypt(us, m))
            delivered_to_us.append(m)

    def deliver_to_node(batch: list[CiphertextMessage]) -> None:
        results = node.decrypt(batch)
        for m, r in zip(batch, results, strict=True):
            assert "plaintext" in r, r
            got_by_node.append(r["plaintext"])
            delivered_to_node.append(m)

    def take(queue: list[CiphertextMessage]) -> list[CiphertextMessage]:
        """A shuffled random part of the queue; the rest stays in flight (possibly across ratchet turns)."""
        rnd.shuffle(queue)
        k = len(queue) if rnd.random() < 0.3 else rnd.randint(0, len(queue))
        batch, queue[:] = queue[:k], queue[k:]
        return batch

    while sent_by_us < COUNT or sent_by_node < COUNT or to_node or to_us:
        step = rnd.randrange(4)
        if step == 0 and sent_by_us < COUNT:
            for _ in range(min(rnd.randint(1, 4), COUNT - sent_by_us)):
                to_node.append(await _our_encrypt(us, b"from us %d" % sent_by_us))
                sent_by_us += 1
        elif step == 1 and sent_by_node < COUNT:
            n = min(rnd.randint(1, 4), COUNT - sent_by_node)
            to_us.extend(node.encrypt([b"from node %d" % (sent_by_node + i) for i in range(n)]))
            sent_by_node += n
        elif step == 2 and to_node:
            deliver_to_node(take(to_node))
            if not duplicates["node"] and len(delivered_to_node) > 10:
                [again] = node.decrypt([delivered_to_node[3]])
                assert "error" in again  # libsignal refuses a replay (its key is used up)
                duplicates["node"] = True
        elif step == 3 and to_us:
            await deliver_to_us(take(to_us))
            if not duplicates["us"] and len(delivered_to_us) > 10:
                with pytest.raises(DuplicateMessage):
                    await _our_decrypt(us, delivered_to_us[3])
                duplicates["us"] = True

    assert duplicates == {"node": True, "us": True}
    assert sorted(got_by_node) == sorted(b"from us %d" % i for i in range(COUNT))
    assert sorted(got_by_us) == sorted(b"from node %d" % i for i in range(COUNT))
    assert got_by_us != sorted(got_by_us) or got_by_node != sorted(got_by_node)  # really out of order


@pytest.mark.parametrize("with_pre_key", [True, False])
async def test_node_publishes_the_bundle(baileys: Harness, with_pre_key: bool) -> None:
    node = NodeParty(baileys)
    us = _us()
    await process_pre_key_bundle(
        NODE,
        node.bundle(with_pre_key=with_pre_key),
        identity_store=us.store,
        session_store=us.store,
        rng=us.rng,
    )
    first = await _our_encrypt(us, b"hello node")
    assert first.type == "pkmsg"
    before = node.pre_key_ids()
    assert node.decrypt([first]) == [{"plaintext": b"hello node"}]
    assert len(node.pre_key_ids()) == len(before) - (1 if with_pre_key else 0)  # its one-time prekey used up
    [answer] = node.encrypt([b"hello us"])
    assert answer.type == "msg"
    assert await _our_decrypt(us, answer) == b"hello us"
    assert (await _our_encrypt(us, b"now a msg")).type == "msg"
    await _exchange(us, node, seed=1 if with_pre_key else 2)


@pytest.mark.parametrize("with_pre_key", [True, False])
async def test_we_publish_the_bundle(baileys: Harness, with_pre_key: bool) -> None:
    node = NodeParty(baileys)
    us = _us()
    node.process_bundle(us.bundle(with_pre_key=with_pre_key))
    [first] = node.encrypt([b"hello us"])
    assert first.type == "pkmsg"
    result = await us.decrypt(us, first)
    assert result.plaintext == b"hello us"
    assert result.used_pre_key_id == (1 if with_pre_key else None)
    assert (1 in us.store.pre_keys) == (not with_pre_key)
    answer = await _our_encrypt(us, b"hello node")
    assert answer.type == "msg"
    assert node.decrypt([answer]) == [{"plaintext": b"hello node"}]
    [second] = node.encrypt([b"now a msg"])
    assert second.type == "msg"
    assert await _our_decrypt(us, second) == b"now a msg"
    await _exchange(us, node, seed=3 if with_pre_key else 4)


async def test_tampered_ciphertexts_fail_with_mac_errors_both_ways(baileys: Harness) -> None:
    node = NodeParty(baileys)
    us = _us()
    await process_pre_key_bundle(
        NODE, node.bundle(with_pre_key=True), identity_store=us.store, session_store=us.store, rng=us.rng
    )
    assert node.decrypt([await _our_encrypt(us, b"hello")]) == [{"plaintext": b"hello"}]

    # Theirs to us: a flipped ciphertext bit is a MAC error; nothing stored; the next genuine one decrypts.
    genuine = node.encrypt([b"genuine 1", b"genuine 2"])
    body = bytearray(genuine[0].body)
    body[-12] ^= 0x20
    before = us.snapshot()
    with pytest.raises(InvalidMac):
        await _our_decrypt(us, CiphertextMessage("msg", bytes(body)))
    assert us.snapshot() == before
    assert await _our_decrypt(us, genuine[1]) == b"genuine 2"
    assert await _our_decrypt(us, genuine[0]) == b"genuine 1"

    # Ours to them: libsignal refuses the tampered copy (Bad MAC) and decrypts the genuine ones after it.
    ours = [await _our_encrypt(us, b"ours %d" % i) for i in range(2)]
    body = bytearray(ours[0].body)
    body[-12] ^= 0x20
    results = node.decrypt([CiphertextMessage("msg", bytes(body)), ours[1], ours[0]])
    assert "error" in results[0]
    assert results[1:] == [{"plaintext": b"ours 1"}, {"plaintext": b"ours 0"}]


async def test_node_re_establishing_does_not_break_its_messages_in_flight(baileys: Harness) -> None:
    """libsignal re-fetches our bundle while its messages on the old session are still on their way.

    Only *its* old messages are delivered late: libsignal-node itself cannot take *ours* late. It tries a
    message against its open session first, and that attempt ratchets the open session with the foreign
    ratchet key (closing its receiving chain, replacing its sending chain) before the MAC fails; the
    damaged session is then stored. So after one late message on the old session, its new session no
    longer interoperates with anybody. Our side updates copies only, and archived states in place.
    """
    node = NodeParty(baileys)
    us = _us()
    node.process_bundle(us.bundle(with_pre_key=True))
    [first] = node.encrypt([b"hello us"])
    await _our_decrypt(us, first)
    assert node.decrypt([await _our_encrypt(us, b"hello node")]) == [{"plaintext": b"hello node"}]
    old_theirs = node.encrypt([b"old %d" % i for i in range(3)])
    # libsignal fetches our bundle again (as after a retry receipt) and sends on the new session.
    node.process_bundle(us.bundle(with_pre_key=False))
    [fresh] = node.encrypt([b"fresh"])
    assert fresh.type == "pkmsg"
    assert await _our_decrypt(us, fresh) == b"fresh"
    new_session = us.store.sessions[NODE].current
    assert len(us.store.sessions[NODE].previous) == 1
    # Its old messages still decrypt here, with the archived state; the new session stays current.
    assert [await _our_decrypt(us, m) for m in reversed(old_theirs)] == [b"old 2", b"old 1", b"old 0"]
    assert us.store.sessions[NODE].current is new_session
    # And the conversation goes on, on the new session, both ways.
    reply = await _our_encrypt(us, b"reply")
    assert node.decrypt([reply]) == [{"plaintext": b"reply"}]
    [after] = node.encrypt([b"after"])
    assert after.type == "msg"
    assert await _our_decrypt(us, after) == b"after"
