"""Property tests: any interleaving of encrypt / deliver / replay / tamper / re-establish between two
in-memory parties.

Alice starts from Bob's bundle; hypothesis draws who sends, which in-flight message is delivered next
(so delivery is out of order, sometimes across many ratchet turns), replays of delivered messages,
tampered copies, and (in the second test) either side building a fresh session from the other's bundle
while messages of the old one are still in flight. Invariants:

- every message decrypts exactly once, to what was sent, unless its receiving chain was already
  dropped (``MAX_RECEIVER_CHAINS`` newer ratchet keys of its sender seen in that session), in which
  case it fails cleanly;
- a replay is a ``DuplicateMessage`` (same exception); a tampered copy is a ``DecryptionError``;
- every failure leaves both parties' stores exactly as they were.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.waproto.signal.session_parties import Party, make_party
from waproto.errors import DecryptionError, DuplicateMessage
from waproto.proto import PreKeySignalMessage, SignalMessage, decode
from waproto.signal.cipher import CiphertextMessage
from waproto.signal.session import MAX_RECEIVER_CHAINS

T = TypeVar("T")
MAX_REBUILDS = 8  # far below MAX_PREVIOUS_STATES, so no state is ever dropped


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that never suspends (the memory stores never do)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("the operation suspended")


def ratchet_key(message: CiphertextMessage) -> bytes:
    body = message.body
    if message.type == "pkmsg":
        body = decode(PreKeySignalMessage, body[1:]).message
    return decode(SignalMessage, body[1:-8]).ratchet_key


@dataclass
class Sent:
    message: CiphertextMessage
    plaintext: bytes
    session: bytes  # base key of the session it was sent on
    key_index: int  # position of its ratchet key in the sender's keys of that session
    decrypted: int = 0


@dataclass
class Side:
    party: Party
    keys: dict[bytes, list[bytes]] = field(default_factory=dict)  # per session: ratchet keys in order
    newest_seen_by_peer: dict[bytes, int] = field(default_factory=dict)  # per session: highest index received
    in_flight: list[Sent] = field(default_factory=list)  # sent by this side, not yet delivered
    delivered: list[Sent] = field(default_factory=list)


def lost(sender: Side, sent: Sent) -> bool:
    """Whether the receiver has already dropped the chain of ``sent``."""
    return sender.newest_seen_by_peer.get(sent.session, -1) - sent.key_index >= MAX_RECEIVER_CHAINS


def send(side: Side, to: Side, n: int) -> None:
    plaintext = b"message %d from %s" % (n, side.party.address.name.encode())
    message = run(side.party.encrypt(to.party, plaintext))
    current = side.party.store.sessions[to.party.address].current
    assert current is not None
    keys = side.keys.setdefault(current.base_key, [])
    key = ratchet_key(message)
    if not keys or keys[-1] != key:
        keys.append(key)
    side.in_flight.append(Sent(message, plaintext, current.base_key, len(keys) - 1))


def deliver(sender: Side, receiver: Side, index: int) -> None:
    sent = sender.in_flight.pop(index % len(sender.in_flight))
    before = receiver.party.snapshot()
    if lost(sender, sent):
        try:
            run(receiver.party.decrypt(sender.party, sent.message))
        except DecryptionError:
            assert receiver.party.snapshot() == before
            return
        raise AssertionError("a message of a dropped chain decrypted")
    result = run(receiver.party.decrypt(sender.party, sent.message))
    assert result.plaintext == sent.plaintext
    sent.decrypted += 1
    sender.delivered.append(sent)
    seen = sender.newest_seen_by_peer
    seen[sent.session] = max(seen.get(sent.session, -1), sent.key_index)


def replay(sender: Side, receiver: Side, index: int) -> None:
    sent = sender.delivered[index % len(sender.delivered)]
    before = receiver.party.snapshot()
    try:
        run(receiver.party.decrypt(sender.party, sent.message))
    except DuplicateMessage:
        pass
    except DecryptionError:
        assert lost(sender, sent)  # its chain is gone: not recognisable as a duplicate any more
    else:
        raise AssertionError("a replayed message decrypted twice")
    assert receiver.party.snapshot() == before


def tamper(sender: Side, receiver: Side, index: int, position: int, bit: int) -> None:
    sent = sender.in_flight[index % len(sender.in_flight)]
    if sent.message.type != "msg":  # the pkmsg wrapper's own fields are not authenticated (by design)
        return
    body = bytearray(sent.message.body)
    body[position % len(body)] ^= 1 << bit
    before = receiver.party.snapshot()
    try:
        run(receiver.party.decrypt(sender.party, CiphertextMessage("msg", bytes(body))))
    except DecryptionError:
        pass
    else:
        raise AssertionError("a tampered message decrypted")
    assert receiver.party.snapshot() == before


def has_session(side: Side, peer: Side) -> bool:
    record = side.party.store.sessions.get(peer.party.address)
    return record is not None and record.current is not None


send_op = st.tuples(st.just("send"), st.booleans(), st.integers(1, 3))
deliver_op = st.tuples(st.just("deliver"), st.booleans(), st.integers(0, 1000))
replay_op = st.tuples(st.just("replay"), st.booleans(), st.integers(0, 1000))
tamper_op = st.tuples(
    st.just("tamper"), st.booleans(), st.integers(0, 1000), st.integers(0, 10_000), st.integers(0, 7)
)
rebuild_op = st.tuples(st.just("rebuild"), st.booleans())


def play(ops: list[tuple[Any, ...]], with_pre_key: bool, seed: int) -> None:
    alice = Side(make_party("alice", seed))
    bob = Side(make_party("bob", seed + 1))
    run(alice.party.build_session(bob.party, with_pre_key=with_pre_key))
    counter = rebuilds = 0
    for op in ops:
        kind, from_alice = op[0], op[1]
        sender, receiver = (alice, bob) if from_alice else (bob, alice)
        if kind == "send" and has_session(sender, receiver):
            for _ in range(op[2]):
                send(sender, receiver, counter)
                counter += 1
        elif kind == "deliver" and sender.in_flight:
            deliver(sender, receiver, op[2])
        elif kind == "replay" and sender.delivered:
            replay(sender, receiver, op[2])
        elif kind == "tamper" and sender.in_flight:
            tamper(sender, receiver, op[2], op[3], op[4])
        elif kind == "rebuild" and rebuilds < MAX_REBUILDS:
            # The sender fetches the receiver's bundle again (no one-time prekey: each is used once).
            run(sender.party.build_session(receiver.party, with_pre_key=False))
            rebuilds += 1
    # Drain the network: everything still in flight arrives (oldest first), then every message is counted.
    for sender, receiver in ((alice, bob), (bob, alice), (alice, bob)):
        while sender.in_flight:
            deliver(sender, receiver, 0)
    for side in (alice, bob):
        for sent in side.delivered:
            assert sent.decrypted == 1


@settings(max_examples=120)
@given(
    ops=st.lists(st.one_of(send_op, deliver_op, replay_op, tamper_op), min_size=20, max_size=80),
    with_pre_key=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_any_interleaving_keeps_both_ratchets_consistent(
    ops: list[tuple[Any, ...]], with_pre_key: bool, seed: int
) -> None:
    play(ops, with_pre_key, seed)


@settings(max_examples=120)
@given(
    ops=st.lists(st.one_of(send_op, deliver_op, replay_op, tamper_op, rebuild_op), min_size=20, max_size=80),
    with_pre_key=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_sessions_rebuilt_mid_conversation_keep_in_flight_messages(
    ops: list[tuple[Any, ...]], with_pre_key: bool, seed: int
) -> None:
    play(ops, with_pre_key, seed)
