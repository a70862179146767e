"""waproto.client.client: the driver against a scripted fake server, on the autojump clock.

Registration and QR rotation, pair-success then 515 then login, prekey upload and ``<active/>``, keepalive
and dead-link detection, backoff with jitter, logged out, replaced, iq matching. Everything is
deterministic: seeded randomness, fixed wall-clock time, trio's virtual clock.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from tests.waproto.client.fakes import FakeNetwork, ServerSide
from tests.waproto.fake_wa import NOW, ROOT
from tests.waproto.test_credentials import fresh, paired
from waproto.binary import Node
from waproto.client import (
    Client,
    ClientEvent,
    ClientSettings,
    Connected,
    Disconnected,
    IqError,
    IqTimeout,
    LoggedOut,
    MemoryClientStore,
    NotConnected,
    Paired,
    PairingCode,
    QRCode,
)
from waproto.credentials import Credentials
from waproto.errors import LocalProtocolError
from waproto.jid import JID, SERVER_JID
from waproto.pairing import (
    companion_hello_result_node,
    issue_device_identity,
    pair_device_node,
    pair_success_node,
    parse_companion_finish,
    parse_companion_hello,
    parse_qr,
    primary_finish,
    primary_hello_node,
    unwrap_ephemeral_key,
    wrap_ephemeral_key,
)
from waproto.signal import curve
from waproto.signal.keys import PreKeyRecord

ME = JID("15550001111", "s.whatsapp.net", device=2)
LID = JID("77766655544433", "lid", device=2)
SETTINGS = ClientSettings(url="ws://fake/ws/chat", noise_root_public_key=ROOT.public, initial_pre_keys=20)


class Harness:
    def __init__(self, client: Client, network: FakeNetwork, store: MemoryClientStore) -> None:
        self.client = client
        self.network = network
        self.store = store

    async def event(self) -> ClientEvent:
        return await self.client.events.receive()


async def start(
    nursery: trio.Nursery, creds: Credentials, settings: ClientSettings = SETTINGS, *, refuse: int = 0
) -> Harness:
    network = FakeNetwork()
    network.refuse = refuse
    store = MemoryClientStore(creds)
    client = Client(
        settings, creds, store, rng=random.Random(3).randbytes, now=lambda: NOW, transport=network.open
    )
    await nursery.start(client.run)
    return Harness(client, network, store)


@pytest.fixture
async def nursery_() -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as nursery:
        yield nursery
        nursery.cancel_scope.cancel()


async def login(h: Harness, server: ServerSide, *, count: int = 0) -> Connected:
    """Play a successful login on ``server``: success, prekey count, upload if asked, active."""
    await server.send(Node("success", {"t": str(NOW), "lid": LID}))
    count_iq = await server.expect_iq("encrypt")
    assert count_iq.attrs["type"] == "get"
    await server.answer(count_iq, [Node("count", {"value": str(count)})])
    if count < h.client.settings.min_pre_keys:
        upload = await server.expect_iq("encrypt")
        assert upload.attrs["type"] == "set"
        await server.answer(upload)
    active = await server.expect_iq("passive")
    assert [c.tag for c in active.children] == ["active"]
    await server.answer(active)
    event = await h.event()
    assert isinstance(event, Connected)
    return event


async def test_qr_rotation_then_new_refs(autojump_clock: trio.abc.Clock, nursery_: trio.Nursery) -> None:
    creds = fresh()
    h = await start(nursery_, creds)
    server = await h.network.accept()
    assert server.payload.HasField("device_pairing_data")
    await server.send(pair_device_node(iq_id="pd", refs=["2@one", "2@two", "2@three"]))
    ack = await server.expect("iq")
    assert (ack.attrs["type"], ack.attrs["id"]) == ("result", "pd")
    times, qrs = [], []
    for _ in range(3):
        event = await h.event()
        assert isinstance(event, QRCode)
        times.append(trio.current_time())
        qrs.append(parse_qr(event.qr))
    assert h.client.status == "qr"
    assert [q.ref for q in qrs] == ["2@one", "2@two", "2@three"]
    assert qrs[0].noise_public == creds.noise_key.public
    assert qrs[0].adv_secret == creds.adv_secret
    assert [round(b - a) for a, b in itertools.pairwise(times)] == [60, 20]
    # The refs ran out: a new connection asks for new ones at once.
    gone = await h.event()
    assert gone == Disconnected("qr_timeout", None, 0.0)
    again = await h.network.accept()
    assert again.payload.HasField("device_pairing_data")
    assert server.client_closed


def pair_success(creds: Credentials) -> Node:
    identity = issue_device_identity(
        account=curve.generate_key_pair(random.Random(8).randbytes),
        companion_identity=creds.identity_key.public,
        adv_secret=creds.adv_secret,
        raw_id=1,
        key_index=1,
        timestamp=NOW,
    )
    return pair_success_node(iq_id="ps", device_identity=identity, jid=ME, lid=LID)


async def test_pairing_then_restart_then_login(
    autojump_clock: trio.abc.Clock, nursery_: trio.Nursery
) -> None:
    creds = fresh()
    h = await start(nursery_, creds)
    server = await h.network.accept()
    await server.send(pair_device_node(iq_id="pd", refs=["2@one"]))
    assert isinstance(await h.event(), QRCode)
    await server.send(pair_success(creds))
    reply = await server.expect("iq")
    assert reply.attrs["id"] == "pd"
    reply = await server.expect("iq")
    assert reply.child("pair-device-sign") is not None
    assert h.store.credentials is not None
    assert h.store.credentials.me == ME
    event = await h.event()
    assert event == Paired(ME, LID, "android")
    await server.send(Node("stream:error", {"code": "515"}))
    assert await h.event() == Disconnected("restart", 515, 0.0)
    server = await h.network.accept()
    assert server.payload.username == 15550001111
    assert server.payload.device == 2
    assert server.payload.passive
    connected = await login(h, server)
    assert connected == Connected(ME, LID)
    assert h.client.status == "connected"
    # 20 prekeys were stored before the upload, and the counter advanced.
    assert sorted(h.store.pre_keys) == list(range(1, 21))
    assert h.store.credentials.next_pre_key_id == 21
    assert h.client.credentials == h.store.credentials


async def test_prekey_upload_sends_what_was_stored(
    autojump_clock: trio.abc.Clock, nursery_: trio.Nursery
) -> None:
    creds = paired()
    h = await start(nursery_, creds)
    server = await h.network.accept()
    await server.send(Node("success", {"t": str(NOW)}))
    count_iq = await server.expect_iq("encrypt")
    await server.answer(count_iq, [Node("count", {"value": "2"})])
    upload = await server.expect_iq("encrypt")
    key_list = upload.child("list")
    assert key_list is not None
    keys = key_list.children_with("key")
    assert len(keys) == SETTINGS.pre_key_batch
    first = keys[0]
    first_id, first_value = first.child("id"), first.child("value")
    assert first_id is not None
    assert first_value is not None
    assert first_id.content == b"\x00\x00\x01"
    assert first_value.content == h.store.pre_keys[1].key_pair.public
    identity, registration = upload.child("identity"), upload.child("registration")
    assert identity is not None
    assert registration is not None
    assert identity.content == creds.identity_key.public
    assert registration.content == creds.registration_id.to_bytes(4, "big")
    await server.answer(upload)
    await server.answer(await server.expect_iq("passive"))
    assert isinstance(await h.event(), Connected)


async def test_enough_prekeys_means_no_upload(autojump_clock: trio.abc.Clock, nursery_: trio.Nursery) -> None:
    h = await start(nursery_, paired())
    server = await h.network.accept()
    await login(h, server, count=50)
    assert h.store.pre_keys == {}


async def test_keepalive_pings_and_dead_link(autojump_clock: trio.abc.Clock, nursery_: trio.Nursery) -> None:
    h = await start(nursery_, paired())
    server = await h.network.accept()
    await login(h, server, count=50)
    start_time = trio.current_time()
    ping = await server.expect_iq("w:p")
    assert 20 <= trio.current_time() - start_time <= 30
    await server.answer(ping)
    await server.expect_iq("w:p")  # unanswered, and nothing else arrives
    event = await h.event()
    assert isinstance(event, Disconnected)
    assert event.reason == "keepalive_timeout"
    assert event.reconnect_in is not None
    assert 0.75 <= event.reconnect_in <= 1.25
    server = await h.network.accept()
    await login(h, server, count=50)


async def test_other_traffic_keeps_the_link_alive(
    autojump_clock: trio.abc.Clock, nursery_: trio.Nursery
) -> None:
    h = await start(nursery_, paired())
    server = await h.network.accept()
    await login(h, server, count=50)
    ping = await server.expect_iq("w:p")
    await trio.sleep(5)
    await server.send(Node("ib", {}, [Node("offline", {"count": "0"})]))
    await server.expect_iq("w:p")  # the unanswered ping did not kill the link: another one came
    assert h.client.status == "connected"
    assert ping.attrs["id"] != ""


async def test_backoff_grows_with_jitter_and_resets(
    autojump_clock: trio.abc.Clock, nursery_: trio.Nursery
) -> None:
    h = await start(nursery_, paired(), refuse=5)
    delays = []
    for _ in range(5):
        event = await h.event()
        assert isinstance(event, Disconnected)
        assert event.reason == "connection_lost"
        assert event.reconnect_in is not None
        delays.append(event.reconnect_in)
    assert h.client.status == "disconnected"
    for n, delay in enumerate(delays):
        assert 2**n * 0.75 <= delay <= 2**n * 1.25
    server = await h.network.accept()
    await login(h, server, count=50)
    server.close()
    event = await h.event()
    assert isinstance(event, Disconnected)
    assert event.reason == "connection_lost"
    assert event.reconnect_in is not None
    assert event.reconnect_in <= 1.25  # a successful login reset the backoff


async def test_backoff_is_capped(autojump_clock: trio.abc.Clock, nursery_: trio.Nursery) -> None:
    settings = ClientSettings(noise_root_public_key=ROOT.public, backoff_max=10.0, backoff_jitter=0.0)
    h = await start(nursery_, paired(), settings, refuse=8)
    delays = []
    for _ in range(8):
        event = await h.event()
        assert isinstance(event, Disconnected)
        delays.append(event.reconnect_in)
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0]


@pytest.mark.parametrize(
    "ending",
    [
        Node("stream:error", {"code": "401"}, [Node("conflict", {"type": "device_removed"})]),
        Node("stream:error", {}, [Node("conflict", {"type": "device_removed"})]),
        Node("failure", {"reason": "401"}),
        Node("failure", {"reason": "403"}),
    ],
)
async def test_logged_out_wipes_the_credentials(
    autojump_clock: trio.abc.Clock, nursery_: trio.Nursery, ending: Node
) -> None:
    h = await start(nursery_, paired())
    server = await h.network.accept()
    if ending.tag == "stream:error":
        await login(h, server, count=50)
    await server.send(ending)
    event = await h.event()
    assert isinstance(event, LoggedOut)
    assert h.store.credentials is None
    assert h.client.status == "logged_out"
    with pytest.raises(trio.EndOfChannel):
        await h.event()
    assert h.network.attempts == 1


async def test_replaced_stops_without_reconnecting(
    autojump_clock: trio.abc.Clock, nursery_: trio.Nursery
) -> None:
    h = await start(nursery_, paired())
    server = await h.network.accept()
    await login(h, server, count=50)
    await server.send(Node("stream:error", {}, [Node("conflict", {"type": "replaced"})]))
    assert await h.event() == Disconnected("replaced", 440, None)
    with pytest.raises(trio.EndOfChannel):
        await h.event()
    assert h.store.credentials is not None


@pytest.mark.parametrize(
    ("ending", "reason", "code"),
    [
        (Node("stream:error", {"code": "503"}), "stream_error", 503),
        (Node("xmlstreamend"), "stream_end", None),
        (Node("failure", {"reason": "405"}), "login_failed", 405),
    ],
)
async def test_temporary_endings_reconnect(
    autojump_clock: trio.abc.Clock, nursery_: trio.Nursery, ending: Node, reason: str, code: int | None
) -> None:
    h = await start(nursery_, paired())
    server = await h.network.accept()
    await server.send(ending)
    event = await h.event()
    assert isinstance(event, Disconnected)
    assert (event.reason, event.code) == (reason, code)
    assert event.reconnect_in is not None
    await h.network.accept()


async def test_query_matches_answers_and_times_out(
    autojump_clock: trio.abc.Clock, nursery_: trio.Nursery
) -> None:
    h = await start(nursery_, paired())
    server = await h.network.accept()
    await login(h, server, count=50)
    results: dict[str, object] = {}

    async def ask(name: str, xmlns: str) -> None:
        try:
            results[name] = await h.client.query(
                Node("iq", {"xmlns": xmlns, "type": "get", "to": SERVER_JID}), patience=5
            )
        except (IqError, IqTimeout) as exc:
            results[name] = exc

    nursery_.start_soon(ask, "a", "a")
    nursery_.start_soon(ask, "b", "b")
    nursery_.start_soon(ask, "c", "c")
    asked: dict[str, Node] = {}
    while len(asked) < 3:  # the three tasks run in any order
        iq = await server.expect("iq")
        asked[str(iq.attrs["xmlns"])] = iq
    a, b = asked["a"], asked["b"]
    await server.answer(b, error=404)
    await server.answer(a, [Node("x")])
    await trio.sleep(6)
    answer = results["a"]
    assert isinstance(answer, Node)
    assert answer.children == [Node("x")]
    error = results["b"]
    assert isinstance(error, IqError)
    assert error.error_code == 404
    assert isinstance(results["c"], IqTimeout)


async def test_query_without_a_connection(autojump_clock: trio.abc.Clock, nursery_: trio.Nursery) -> None:
    h = await start(nursery_, paired(), refuse=1)
    with pytest.raises(NotConnected):
        await h.client.send_node(Node("ib"))
    assert isinstance(await h.event(), Disconnected)
    server = await h.network.accept()
    await login(h, server, count=50)
    pending: list[BaseException] = []

    async def ask() -> None:
        try:
            await h.client.query(Node("iq", {"xmlns": "slow", "type": "get", "to": SERVER_JID}))
        except NotConnected as exc:
            pending.append(exc)

    nursery_.start_soon(ask)
    await server.expect_iq("slow")
    server.close()
    await trio.sleep(0.5)
    assert len(pending) == 1


async def test_notifications_are_acked_and_handlers_get_other_stanzas(
    autojump_clock: trio.abc.Clock, nursery_: trio.Nursery
) -> None:
    h = await start(nursery_, paired())
    seen: list[Node] = []

    async def on_message(node: Node) -> None:
        seen.append(node)

    h.client.stanza_handlers["message"] = on_message
    server = await h.network.accept()
    await login(h, server, count=50)
    await server.send(
        Node("notification", {"id": "n1", "from": SERVER_JID, "type": "server_sync", "t": "1"}),
        Node("message", {"id": "m1", "from": ME}),
    )
    ack = await server.expect("ack")
    assert ack.attrs == {"id": "n1", "class": "notification", "to": SERVER_JID, "type": "server_sync"}
    await trio.sleep(0.1)
    assert [n.attrs["id"] for n in seen] == ["m1"]


async def test_answers_to_one_batch_of_stanzas_go_out_in_one_write(
    autojump_clock: trio.abc.Clock, nursery_: trio.Nursery
) -> None:
    h = await start(nursery_, paired())

    async def on_message(node: Node) -> None:
        await h.client.send_node(Node("receipt", {"id": str(node.attrs["id"]), "to": ME}))

    h.client.stanza_handlers["message"] = on_message
    server = await h.network.accept()
    await login(h, server, count=50)
    server.writes.clear()
    await server.send(
        Node("message", {"id": "m1", "from": ME}),
        Node("notification", {"id": "n1", "from": SERVER_JID, "type": "server_sync", "t": "1"}),
        Node("message", {"id": "m2", "from": ME}),
    )
    sent = [await server.expect() for _ in range(3)]
    assert [(n.tag, n.attrs["id"]) for n in sent] == [("receipt", "m1"), ("ack", "n1"), ("receipt", "m2")]
    assert server.writes == [3]  # one transport send for the whole batch
    await server.send(Node("message", {"id": "m3", "from": ME}))
    assert (await server.expect()).attrs["id"] == "m3"
    assert server.writes == [3, 1]


async def test_concurrent_sends_share_a_write_and_keep_their_order(
    autojump_clock: trio.abc.Clock, nursery_: trio.Nursery
) -> None:
    h = await start(nursery_, paired())
    server = await h.network.accept()
    await login(h, server, count=50)
    server.writes.clear()
    server.hold = trio.Event()
    done: list[str] = []

    async def send(name: str) -> None:
        await h.client.send_node(Node("presence", {"name": name}))
        done.append(name)

    for name in "abc":
        nursery_.start_soon(send, name)
        await trio.testing.wait_all_tasks_blocked()
    assert done == []  # a's write is held; b and c are queued behind it
    server.hold.set()
    server.hold = None
    names = [str((await server.expect("presence")).attrs["name"]) for _ in range(3)]
    await trio.testing.wait_all_tasks_blocked()
    assert names == ["a", "b", "c"]
    assert server.writes == [1, 2]  # b's write took c's stanza along
    assert sorted(done) == ["a", "b", "c"]


async def test_a_failed_write_fails_every_send_whose_stanza_it_carried(
    autojump_clock: trio.abc.Clock, nursery_: trio.Nursery
) -> None:
    h = await start(nursery_, paired())
    server = await h.network.accept()
    await login(h, server, count=50)
    server.hold = trio.Event()
    server.fail_next_send = True
    outcomes: dict[str, str] = {}

    async def send(name: str) -> None:
        try:
            await h.client.send_node(Node("presence", {"name": name}))
            outcomes[name] = "sent"
        except NotConnected:
            outcomes[name] = "not connected"

    for name in "ab":
        nursery_.start_soon(send, name)
        await trio.testing.wait_all_tasks_blocked()
    server.hold.set()
    await trio.testing.wait_all_tasks_blocked()
    assert outcomes == {"a": "not connected", "b": "not connected"}
    assert isinstance(await h.event(), Disconnected)


async def test_aclose_stops_everything(autojump_clock: trio.abc.Clock, nursery_: trio.Nursery) -> None:
    h = await start(nursery_, paired())
    server = await h.network.accept()
    await login(h, server, count=50)
    await h.client.aclose()
    assert await h.event() == Disconnected("closed", None, None)
    with pytest.raises(trio.EndOfChannel):
        await h.event()
    assert server.client_closed


async def test_logout(autojump_clock: trio.abc.Clock, nursery_: trio.Nursery) -> None:
    h = await start(nursery_, paired())
    server = await h.network.accept()
    await login(h, server, count=50)

    async def phone_side() -> None:
        remove = await server.expect_iq("md")
        child = remove.child("remove-companion-device")
        assert child is not None
        assert child.attrs["jid"] == JID("15550001111", "s.whatsapp.net", device=3)
        await server.answer(remove)

    nursery_.start_soon(phone_side)
    await h.client.logout()
    assert await h.event() == LoggedOut("logout", None)
    assert h.store.credentials is None


async def test_pairing_code_exchange(nursery_: trio.Nursery) -> None:
    """Real clock (the PBKDF2 steps run in threads); QR rotation must stop or the 0.2 s QR would restart."""
    creds = fresh()
    settings = ClientSettings(noise_root_public_key=ROOT.public, qr_first_valid=0.2, qr_valid=0.2)
    h = await start(nursery_, creds, settings)
    server = await h.network.accept()
    await server.send(pair_device_node(iq_id="pd", refs=["2@one"]))
    assert isinstance(await h.event(), QRCode)
    shown: list[str] = []

    async def ask() -> None:
        shown.append(await h.client.request_pairing_code("15550001111", code="abcd-efgh"))

    with trio.fail_after(20):
        nursery_.start_soon(ask)
        hello_iq = await server.expect_iq("md")
        hello = parse_companion_hello(hello_iq)
        assert (hello.phone, hello.platform_id, hello.noise_public) == (
            JID("15550001111", "s.whatsapp.net"),
            "1",
            creds.noise_key.public,
        )
        await server.send(companion_hello_result_node(iq_id=hello.iq_id, ref=b"REF"))
        assert await h.event() == PairingCode("abcd-efgh", "15550001111")
        assert h.client.status == "pairing"
        # The phone: the user typed the code.
        phone_rng = random.Random(11).randbytes
        phone_identity = curve.generate_key_pair(phone_rng)
        phone_ephemeral = curve.generate_key_pair(phone_rng)
        companion_ephemeral = unwrap_ephemeral_key("abcdefgh", hello.wrapped_ephemeral)
        # A primary_hello naming another ref is ignored (acked, nothing else).
        for ref in (b"OTHER", b"REF"):
            wrapped = wrap_ephemeral_key("abcdefgh", phone_ephemeral.public, phone_rng)
            await server.send(
                primary_hello_node(
                    notification_id=f"n-{ref.decode()}",
                    ref=ref,
                    wrapped_ephemeral=wrapped,
                    primary_identity=phone_identity.public,
                    server_time=NOW,
                )
            )
            ack = await server.expect("ack")
            assert ack.attrs["id"] == f"n-{ref.decode()}"
        finish_iq = await server.expect_iq("md")
        finish = parse_companion_finish(finish_iq)
        assert finish.ref == b"REF"
        adv_secret = primary_finish(
            ephemeral=phone_ephemeral,
            identity=phone_identity,
            companion_ephemeral=companion_ephemeral,
            companion_identity=finish.companion_identity,
            wrapped_key_bundle=finish.wrapped_key_bundle,
        )
        await server.answer(finish_iq)
        identity = issue_device_identity(
            account=phone_identity,
            companion_identity=creds.identity_key.public,
            adv_secret=adv_secret,
            raw_id=1,
            key_index=1,
            timestamp=NOW,
        )
        await server.send(pair_success_node(iq_id="ps", device_identity=identity, jid=ME, lid=LID))
        reply = await server.expect("iq")
        assert reply.child("pair-device-sign") is not None
        assert await h.event() == Paired(ME, LID, "android")
    assert h.store.credentials is not None
    assert h.store.credentials.adv_secret == adv_secret
    assert h.network.attempts == 1
    assert shown == ["abcd-efgh"]


async def test_pairing_code_needs_an_unpaired_device_and_a_number(nursery_: trio.Nursery) -> None:
    h = await start(nursery_, paired())
    with pytest.raises(LocalProtocolError):
        await h.client.request_pairing_code("15550001111")
    h = await start(nursery_, fresh())
    for phone in ("+15550001111", "123", "1555000111x"):
        with pytest.raises(LocalProtocolError):
            await h.client.request_pairing_code(phone)


async def test_silent_server_times_out(autojump_clock: trio.abc.Clock, nursery_: trio.Nursery) -> None:
    h = await start(nursery_, paired())
    await h.network.accept()
    before = trio.current_time()
    event = await h.event()
    assert isinstance(event, Disconnected)
    assert event.reason == "connect_timeout"
    assert trio.current_time() - before == pytest.approx(SETTINGS.connect_timeout)


async def test_garbage_and_foreign_certificates_are_protocol_errors(
    autojump_clock: trio.abc.Clock, nursery_: trio.Nursery
) -> None:
    h = await start(nursery_, paired())
    server = await h.network.accept()
    await server.to_client_send.send(b"\x00\x00\x20" + bytes(32))
    event = await h.event()
    assert isinstance(event, Disconnected)
    assert event.reason == "protocol_error"
    assert server.client_closed
    other_root = ClientSettings(noise_root_public_key=bytes(range(32)))
    h = await start(nursery_, paired(), other_root)
    event = await h.event()
    assert isinstance(event, Disconnected)
    assert event.reason == "protocol_error"


async def test_pairing_code_request_waits_for_a_registering_connection(nursery_: trio.Nursery) -> None:
    """Real clock (a thread runs PBKDF2), short timings."""
    settings = ClientSettings(noise_root_public_key=ROOT.public, backoff_initial=0.01, iq_timeout=0.5)
    h = await start(nursery_, fresh(), settings, refuse=1)
    hello: list[Node] = []

    async def ask() -> None:
        with pytest.raises(IqTimeout):
            await h.client.request_pairing_code("15550001111", code="ABCD1234")

    async def server_side() -> None:
        server = await h.network.accept()
        await server.send(pair_device_node(iq_id="pd", refs=["2@one"]))
        hello.append(await server.expect_iq("md"))

    nursery_.start_soon(server_side)
    with trio.fail_after(20):
        await ask()
    assert parse_companion_hello(hello[0]).phone == JID("15550001111", "s.whatsapp.net")


@pytest.mark.parametrize(
    "bad",
    [
        {"keepalive_interval": (0.0, 1.0)},
        {"keepalive_interval": (5.0, 1.0)},
        {"backoff_initial": 0.0},
        {"backoff_factor": 0.5},
        {"backoff_jitter": 1.0},
        {"noise_root_public_key": b"short"},
    ],
)
def test_settings_are_checked(bad: dict[str, object]) -> None:
    with pytest.raises(LocalProtocolError):
        ClientSettings(**bad)  # type: ignore[arg-type]


async def test_encrypt_notification_tops_up_prekeys(
    autojump_clock: trio.abc.Clock, nursery_: trio.Nursery
) -> None:
    h = await start(nursery_, paired())
    server = await h.network.accept()
    await login(h, server, count=50)
    await server.send(
        Node(
            "notification",
            {"id": "e1", "from": SERVER_JID, "type": "encrypt"},
            [Node("count", {"value": "3"})],
        )
    )
    ack = await server.expect("ack")
    assert ack.attrs["id"] == "e1"
    count_iq = await server.expect_iq("encrypt")
    await server.answer(count_iq, [Node("count", {"value": "3"})])
    upload = await server.expect_iq("encrypt")
    key_list = upload.child("list")
    assert key_list is not None
    assert len(key_list.children) == SETTINGS.pre_key_batch
    await server.answer(upload)
    await trio.sleep(1)
    assert len(h.store.pre_keys) == SETTINGS.pre_key_batch
    assert h.client.credentials.next_pre_key_id == 1 + SETTINGS.pre_key_batch


def test_package_exports_media_client_and_directory() -> None:
    import waproto.client
    from waproto.client.directory import Directory
    from waproto.client.media import MediaClient

    assert waproto.client.MediaClient is MediaClient
    assert waproto.client.Directory is Directory
    assert {"MediaClient", "Directory"} <= set(waproto.client.__all__)


class BatchingStore(MemoryClientStore):
    """A client store that also keeps prekeys in batches (as the hub's SQLite one does)."""

    def __init__(self, credentials: Credentials) -> None:
        super().__init__(credentials)
        self.batches: list[list[int]] = []
        self.singles = 0

    async def store_pre_key(self, pre_key_id: int, record: PreKeyRecord) -> None:
        self.singles += 1
        await super().store_pre_key(pre_key_id, record)

    async def store_pre_keys(self, records: list[tuple[int, PreKeyRecord]]) -> None:
        self.batches.append([key_id for key_id, _ in records])
        for key_id, record in records:
            self.pre_keys[key_id] = record


async def test_a_store_with_store_pre_keys_gets_the_upload_in_one_call(
    autojump_clock: trio.abc.Clock, nursery_: trio.Nursery
) -> None:
    creds = paired()
    network = FakeNetwork()
    store = BatchingStore(creds)
    client = Client(
        SETTINGS, creds, store, rng=random.Random(3).randbytes, now=lambda: NOW, transport=network.open
    )
    await nursery_.start(client.run)
    h = Harness(client, network, store)
    server = await h.network.accept()
    assert isinstance(await login(h, server, count=0), Connected)
    assert store.batches == [list(range(1, SETTINGS.initial_pre_keys + 1))]
    assert store.singles == 0
    assert store.credentials is not None
    assert store.credentials.next_pre_key_id == SETTINGS.initial_pre_keys + 1
