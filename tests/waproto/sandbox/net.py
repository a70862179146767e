"""A test network for the sandbox's pure messaging code: registry, phones, routing, offline queues.

No sockets: :meth:`Net.send` routes a stanza with ``waproto.sandbox.routing``, hands deliveries for
simulated phones to :meth:`SimPhone.receive` (and routes what they answer, to quiescence), keeps stanzas
for connected non-phone devices in ``inbox`` and for disconnected ones in the offline queues.
"""

from __future__ import annotations

import random
from collections import defaultdict

from waproto.binary import Node
from waproto.jid import JID
from waproto.sandbox.phone import SimPhone
from waproto.sandbox.registry import Account, MemoryRegistry
from waproto.sandbox.routing import OfflineQueues, Routed, route_message, route_receipt

START = 1_700_000_000


class Net:
    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed).randbytes
        self.registry = MemoryRegistry()
        self.phones: dict[JID, SimPhone] = {}
        self.queues = OfflineQueues()
        self.offline: set[JID] = set()
        self.inbox: dict[JID, list[Node]] = defaultdict(list)
        self.acks: list[Node] = []
        self.now = START

    def add(self, phone: str, name: str = "", **options: object) -> SimPhone:
        account = self.registry.add_account(Account(phone, str(int(phone) + 900_000_000_000_000), name))
        return self.add_device(account, **options)

    def add_device(self, account: Account, device: int = 0, **options: object) -> SimPhone:
        sim = SimPhone(account, self.registry, rng=self.rng, device=device, pre_keys=5, **options)  # type: ignore[arg-type]
        self.registry.set_device_keys(sim.device, sim.published_keys())
        self.phones[sim.device] = sim
        return sim

    async def send(self, sender: JID, node: Node) -> Routed:
        """Route ``node`` from ``sender`` and everything it causes; returns the first plan."""
        pending = [(sender, node)]
        first: Routed | None = None
        while pending:
            source, stanza = pending.pop(0)
            self.now += 1
            route = route_message if stanza.tag == "message" else route_receipt
            routed = route(self.registry, source, stanza, now=self.now)
            first = first or routed
            if routed.ack is not None:
                self.acks.append(routed.ack)
                if source in self.phones and stanza.tag == "message":
                    await self.phones[source].receive(routed.ack, now=self.now)
            for delivery in routed.deliveries:
                if delivery.device in self.offline:
                    self.queues.push(delivery.device, delivery.node)
                    continue
                phone = self.phones.get(delivery.device)
                if phone is None:
                    self.inbox[delivery.device].append(delivery.node)
                    continue
                received = await phone.receive(delivery.node, now=self.now)
                pending.extend((phone.device, out) for out in received.out)
        assert first is not None
        return first

    async def reconnect(self, device: JID) -> list[Node]:
        """Bring ``device`` back: its phone receives the queue in order (what it answers is routed)."""
        self.offline.discard(device)
        drained = self.queues.drain(device)
        phone = self.phones[device]
        for node in drained:
            received = await phone.receive(node, now=self.now)
            for out in received.out:
                await self.send(device, out)
        return drained
