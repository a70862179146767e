"""A realistic, deterministic corpus of stanzas for benchmarks, interop and fuzzing seeds.

Shapes follow what a linked device sends and receives every minute: a group message fanned out to
participants with ``enc`` payloads (pkmsg/msg/skmsg), a 1:1 message, receipts (single and with a
``list`` of ids), acks, a usync device query and its result, a notification, an iq ping and its result.
Sizes and ids are drawn from ``random.Random(seed)``, so the corpus is the same on every run.

Test infrastructure, not part of waproto.
"""

from __future__ import annotations

import random

from waproto.binary import Node
from waproto.jid import JID


def _msg_id(rng: random.Random) -> str:
    return "3EB0" + "".join(rng.choice("0123456789ABCDEF") for _ in range(16))


def _phone(rng: random.Random) -> str:
    return str(rng.randrange(10**10, 10**12))


def _enc(rng: random.Random, kind: str, size: int) -> Node:
    return Node("enc", {"v": "2", "type": kind}, rng.randbytes(size))


def group_message(rng: random.Random, participants: int) -> Node:
    """A group message: skmsg for the group plus pkmsg key distribution to each participant device."""
    group = f"1203630{rng.randrange(10**11, 10**12)}@g.us"
    to = [
        Node(
            "to",
            {"jid": JID(_phone(rng), "s.whatsapp.net", device=rng.choice([0, 1, 2, 12]))},
            [_enc(rng, "pkmsg", rng.randrange(400, 700))],
        )
        for _ in range(participants)
    ]
    return Node(
        "message",
        {"id": _msg_id(rng), "to": group, "type": "text", "phash": "2:" + rng.randbytes(6).hex()},
        [
            Node("participants", {}, to),
            _enc(rng, "skmsg", rng.randrange(100, 200)),
            Node("device-identity", {}, rng.randbytes(rng.randrange(150, 190))),
        ],
    )


def direct_message(rng: random.Random) -> Node:
    """An incoming 1:1 message as the server delivers it."""
    sender = JID(_phone(rng), "s.whatsapp.net", device=rng.choice([0, 3]))
    return Node(
        "message",
        {
            "from": sender,
            "type": "text",
            "id": _msg_id(rng),
            "t": str(1_700_000_000 + rng.randrange(10**7)),
            "notify": rng.choice(["Ana", "Bruno Silva", "🙂 Carla", "D."]),
            "sender_lid": JID(str(rng.randrange(10**14, 10**15)), "lid"),
        },
        [_enc(rng, rng.choice(["msg", "pkmsg"]), rng.randrange(60, 400))],
    )


def receipt(rng: random.Random, ids: int) -> Node:
    """A read receipt; with more than one id the extra ones go in a ``list`` child."""
    attrs = {
        "id": _msg_id(rng),
        "to": JID(_phone(rng), "s.whatsapp.net"),
        "type": "read",
        "t": str(1_700_000_000 + rng.randrange(10**7)),
    }
    if ids == 1:
        return Node("receipt", attrs)
    items = [Node("item", {"id": _msg_id(rng)}) for _ in range(ids - 1)]
    return Node("receipt", attrs, [Node("list", {}, items)])


def ack(rng: random.Random) -> Node:
    return Node(
        "ack",
        {"class": "receipt", "id": _msg_id(rng), "to": JID(_phone(rng), "s.whatsapp.net"), "type": "read"},
    )


def usync_query(rng: random.Random, users: int) -> Node:
    """A usync device query for ``users`` phone numbers."""
    listed = [Node("user", {"jid": JID(_phone(rng), "s.whatsapp.net")}) for _ in range(users)]
    return Node(
        "iq",
        {"id": f"{rng.randrange(10**4)}.{rng.randrange(10**4)}-{rng.randrange(100)}", "to": JID("", "s.whatsapp.net"), "type": "get", "xmlns": "usync"},
        [
            Node(
                "usync",
                {"sid": _msg_id(rng), "mode": "query", "last": "true", "index": "0", "context": "message"},
                [Node("query", {}, [Node("devices", {"version": "2"})]), Node("list", {}, listed)],
            )
        ],
    )


def usync_result(rng: random.Random, users: int) -> Node:
    """The server's answer to a usync device query: each user's device list and key index."""
    listed = []
    for _ in range(users):
        devices = [Node("device", {"id": str(d)}) for d in sorted(rng.sample(range(30), rng.randrange(1, 5)))]
        listed.append(
            Node(
                "user",
                {"jid": JID(_phone(rng), "s.whatsapp.net")},
                [
                    Node(
                        "devices",
                        {},
                        [
                            Node("device-list", {}, devices),
                            Node("key-index-list", {"ts": str(1_700_000_000 + rng.randrange(10**7))}, rng.randbytes(rng.randrange(20, 40))),
                        ],
                    )
                ],
            )
        )
    return Node(
        "iq",
        {"from": JID("", "s.whatsapp.net"), "id": str(rng.randrange(10**6)), "type": "result"},
        [
            Node(
                "usync",
                {"sid": _msg_id(rng), "mode": "query", "last": "true", "index": "0", "context": "message"},
                [Node("result", {}, [Node("devices", {})]), Node("list", {}, listed)],
            )
        ],
    )


def notification(rng: random.Random) -> Node:
    return Node(
        "notification",
        {"from": JID("", "s.whatsapp.net"), "type": "encrypt", "id": str(rng.randrange(10**9)), "t": str(1_700_000_000 + rng.randrange(10**7))},
        [Node("count", {"value": str(rng.randrange(50))})],
    )


def ping(rng: random.Random) -> list[Node]:
    iq_id = f"{rng.randrange(10**5)}.{rng.randrange(10**5)}-1"
    return [
        Node("iq", {"id": iq_id, "to": JID("", "s.whatsapp.net"), "type": "get", "xmlns": "w:p"}, [Node("ping", {})]),
        Node("iq", {"from": JID("", "s.whatsapp.net"), "id": iq_id, "type": "result"}),
    ]


def corpus(seed: int = 2026) -> list[Node]:
    """The benchmark corpus: 40 stanzas of the kinds above, in a fixed mix."""
    rng = random.Random(seed)
    nodes: list[Node] = []
    for _ in range(4):
        nodes.append(group_message(rng, rng.randrange(3, 12)))
        nodes.extend(direct_message(rng) for _ in range(3))
        nodes.append(receipt(rng, 1))
        nodes.append(receipt(rng, rng.randrange(2, 8)))
        nodes.append(ack(rng))
        nodes.append(usync_query(rng, rng.randrange(1, 6)))
        nodes.append(usync_result(rng, rng.randrange(1, 6)))
        nodes.append(notification(rng))
        nodes.extend(ping(rng))
    return nodes[:40]
