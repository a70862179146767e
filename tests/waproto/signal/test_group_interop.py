"""waproto.signal.group against Baileys' own group cipher (v6 and v7, on libsignal-node 6.0.0).

Both directions: our distribution message processed by Baileys and Baileys' by us; 20 messages each way
delivered out of order, one delivered twice (rejected as a duplicate), one with a flipped signature bit
(rejected), and the chain still working afterwards. The Baileys side runs in tests/interop/ops/group.mjs.
"""

from __future__ import annotations

import random

import pytest

from tests.interop.harness import Harness
from waproto.errors import BadSenderKeySignature, DuplicateMessage
from waproto.signal.address import ProtocolAddress
from waproto.signal.group import (
    SenderKeyDistribution,
    create_distribution_message,
    group_decrypt,
    group_encrypt,
    process_distribution_message,
)
from waproto.signal.sender_keys import MemorySenderKeyStore, SenderKeyName

pytestmark = [pytest.mark.interop, pytest.mark.parametrize("version", [6, 7])]

GROUP = "120363000000000002@g.us"
US = SenderKeyName(GROUP, ProtocolAddress("15550001111", 0))
THEM = SenderKeyName(GROUP, ProtocolAddress("15550002222", 4))
COUNT = 20


def _args(party: int, name: SenderKeyName) -> dict[str, object]:
    return {"party": party, "group": name.group_id, "sender": name.sender.name, "device": name.sender.device_id}


def _delivery_order(seed: int) -> list[int]:
    """0..COUNT-1 with several messages late: blocks of five delivered in a shuffled order."""
    r = random.Random(seed)
    order: list[int] = []
    for start in range(0, COUNT, 5):
        block = list(range(start, start + 5))
        r.shuffle(block)
        order.extend(block)
    assert order != sorted(order)
    return order


def _flip_signature(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[-7] ^= 0x10
    return bytes(flipped)


async def test_our_sender_key_in_baileys(baileys: Harness, version: int) -> None:
    ours = MemorySenderKeyStore()
    skdm = await create_distribution_message(ours, US, random.Random(version).randbytes)
    party = baileys.call("group.party.create", version=version)
    try:
        baileys.call("group.skdm.process", skdm=skdm, **_args(party, US))
        sent = [await group_encrypt(ours, US, b"from us %d" % i) for i in range(COUNT)]
        order = _delivery_order(seed=version)
        deliveries = [sent[i] for i in order[:10]]
        deliveries.append(sent[order[3]])  # a duplicate
        deliveries.append(_flip_signature(sent[order[10]]))  # a tampered signature
        deliveries.extend(sent[i] for i in order[10:])
        results = baileys.call("group.decrypt", messages=deliveries, **_args(party, US))

        assert [r["ok"] for r in results] == [True] * 10 + [False, False] + [True] * 10
        assert "old counter" in results[10]["error"]  # Baileys' duplicate error
        assert "Invalid signature" in results[11]["error"]
        plaintexts = [r["plaintext"] for r in results if r["ok"]]
        assert plaintexts == [b"from us %d" % i for i in order]
        state = baileys.call("group.state", **_args(party, US))
        assert state == [{"keyId": SenderKeyDistribution.parse(skdm).key_id, "iteration": COUNT, "skipped": 0}]

        # a member that joins late gets our distribution message at the current iteration
        late = baileys.call("group.party.create", version=version)
        late_skdm = await create_distribution_message(ours, US, random.Random(0).randbytes)
        assert SenderKeyDistribution.parse(late_skdm).iteration == COUNT
        baileys.call("group.skdm.process", skdm=late_skdm, **_args(late, US))
        after = await group_encrypt(ours, US, b"after")
        both = [baileys.call("group.decrypt", messages=[after], **_args(p, US))[0] for p in (party, late)]
        assert both == [{"ok": True, "plaintext": b"after"}] * 2
        old = baileys.call("group.decrypt", messages=[sent[0]], **_args(late, US))[0]
        assert not old["ok"]
        baileys.call("group.party.drop", party=late)
    finally:
        baileys.call("group.party.drop", party=party)


async def test_baileys_sender_key_in_ours(baileys: Harness, version: int) -> None:
    party = baileys.call("group.party.create", version=version)
    try:
        skdm = baileys.call("group.skdm.create", **_args(party, THEM))
        ours = MemorySenderKeyStore()
        await process_distribution_message(ours, THEM, skdm)
        sent = baileys.call(
            "group.encrypt", plaintexts=[b"from baileys %d" % i for i in range(COUNT)], **_args(party, THEM)
        )
        order = _delivery_order(seed=10 + version)
        received = []
        for n, i in enumerate(order):
            if n == 10:
                snapshot = (await ours.load_sender_key(THEM) or pytest.fail("no record")).serialize()
                with pytest.raises(DuplicateMessage):
                    await group_decrypt(ours, THEM, sent[order[3]])
                with pytest.raises(BadSenderKeySignature):
                    await group_decrypt(ours, THEM, _flip_signature(sent[i]))
                assert (await ours.load_sender_key(THEM) or pytest.fail("no record")).serialize() == snapshot
            received.append(await group_decrypt(ours, THEM, sent[i]))
        assert received == [b"from baileys %d" % i for i in order]

        # Baileys' next distribution message (iteration past what it used) for a late member: ours too
        late_skdm = baileys.call("group.skdm.create", **_args(party, THEM))
        assert SenderKeyDistribution.parse(late_skdm).iteration > 0
        late = MemorySenderKeyStore()
        await process_distribution_message(late, THEM, late_skdm)
        (after,) = baileys.call("group.encrypt", plaintexts=[b"after"], **_args(party, THEM))
        assert await group_decrypt(late, THEM, after) == b"after"
        assert await group_decrypt(ours, THEM, after) == b"after"
    finally:
        baileys.call("group.party.drop", party=party)


async def test_both_ways_in_one_group(baileys: Harness, version: int) -> None:
    """Two members, each with its own sender key in the same group, talking in turn."""
    party = baileys.call("group.party.create", version=version)
    try:
        ours = MemorySenderKeyStore()
        baileys.call(
            "group.skdm.process",
            skdm=await create_distribution_message(ours, US, random.Random(3).randbytes),
            **_args(party, US),
        )
        await process_distribution_message(ours, THEM, baileys.call("group.skdm.create", **_args(party, THEM)))
        for i in range(5):
            mine = await group_encrypt(ours, US, b"ping %d" % i)
            assert baileys.call("group.decrypt", messages=[mine], **_args(party, US)) == [
                {"ok": True, "plaintext": b"ping %d" % i}
            ]
            (theirs,) = baileys.call("group.encrypt", plaintexts=[b"pong %d" % i], **_args(party, THEM))
            assert await group_decrypt(ours, THEM, theirs) == b"pong %d" % i
    finally:
        baileys.call("group.party.drop", party=party)
