"""The served sandbox survives garbage while a real Baileys connection stays open (issue #5 acceptance).

A Baileys 6 socket links and opens; then raw websocket clients (websockets' sync client, in threads) send
random bytes, a truncated frame, a text message, a failed handshake, and (after a real handshake) an unknown
IQ. Each offending connection is closed by the sandbox (the unknown IQ only gets an error answer); the
Baileys connection stays open, and a Baileys 7 socket still links and opens on the same sandbox.
"""

from __future__ import annotations

import functools
import random
import time
from typing import Any

import pytest
import trio
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.interop.harness import Harness
from tests.waproto.sandbox.interop_helpers import Served, Sock
from tests.waproto.sandbox.memclient import Keys
from waproto.binary import Node, marshal, unmarshal
from waproto.jid import JID, SERVER_JID
from waproto.noise import INTRO, FrameReader, FrameWriter, NoiseInitiator
from waproto.proto import ClientPayload
from waproto.signal import curve
from waproto.signal.keys import generate_signed_pre_key

pytestmark = pytest.mark.interop


def raw(url: str, messages: list[bytes | str], *, wait: bool = True) -> int | None:
    """Send ``messages`` on a fresh websocket; return the close code the server sent (None: no close frame).

    With ``wait`` false, close at once instead (the client gives up mid-frame).
    """
    with connect(url, open_timeout=5, close_timeout=2, ping_interval=None, proxy=None) as ws:
        for message in messages:
            ws.send(message)
        if not wait:
            return None
        try:
            while True:
                ws.recv(timeout=30)
        except ConnectionClosed as exc:
            return None if exc.rcvd is None else exc.rcvd.code
        except TimeoutError:
            return -1


def failed_handshake(url: str, root: bytes) -> int | None:
    rng = random.Random(4).randbytes
    initiator = NoiseInitiator(static=curve.generate_key_pair(rng), ephemeral=curve.generate_key_pair(rng), root_public_key=root)
    writer = FrameWriter()
    with connect(url, open_timeout=5, close_timeout=2, ping_interval=None, proxy=None) as ws:
        ws.send(writer.frame(initiator.client_hello()))
        reply = ws.recv(timeout=10)
        assert isinstance(reply, bytes)
        ws.send(writer.frame(b"\x22\x10" + rng(16)))  # a ClientFinish whose parts do not authenticate
        try:
            while True:
                ws.recv(timeout=30)
        except ConnectionClosed as exc:
            return None if exc.rcvd is None else exc.rcvd.code


def unknown_iq(url: str, root: bytes) -> dict[str, Any]:
    """Handshake as a registering companion, send an unknown IQ then a ping; report the answers."""
    keys = Keys.generate(8)
    rng = random.Random(8).randbytes
    initiator = NoiseInitiator(static=keys.noise, ephemeral=curve.generate_key_pair(rng), root_public_key=root)
    writer, reader = FrameWriter(), FrameReader()
    frames: list[bytes] = []
    spk = generate_signed_pre_key(keys.identity, 1, rng)
    payload = ClientPayload(passive=False)
    data = payload.device_pairing_data
    data.e_regid, data.e_keytype, data.e_ident = (1).to_bytes(4, "big"), b"\x05", keys.identity.public
    data.e_skey_id, data.e_skey_val, data.e_skey_sig = (1).to_bytes(3, "big"), spk.key_pair.public, spk.signature
    with connect(url, open_timeout=5, close_timeout=2, ping_interval=None, proxy=None) as ws:

        def frame() -> bytes:
            while not frames:
                message = ws.recv(timeout=10)
                assert isinstance(message, bytes)
                frames.extend(reader.receive_data(message))
            return frames.pop(0)

        ws.send(writer.frame(initiator.client_hello()))
        initiator.receive_server_hello(frame(), now=int(time.time()))
        ws.send(writer.frame(initiator.client_finish(payload.SerializeToString())))
        cipher = initiator.transport

        def node() -> Node:
            return unmarshal(cipher.decrypt(frame()))

        pair_device = node()
        ws.send(writer.frame(cipher.encrypt(marshal(Node("iq", {"id": "q1", "to": SERVER_JID, "type": "get", "xmlns": "x:unknown"}, [Node("what")])))))
        answer = node()
        ws.send(writer.frame(cipher.encrypt(marshal(Node("iq", {"id": "q2", "to": SERVER_JID, "type": "get", "xmlns": "w:p"}, [Node("ping")])))))
        pong = node()
    return {"pair_device": pair_device.child("pair-device") is not None, "answer": answer, "pong": pong}


async def test_garbage_closes_only_the_offender(baileys: Harness, served: Served) -> None:
    await served.create_account("15550004444")
    sock = await Sock.create(baileys, "v6", served.ws_url)
    try:
        response = await served.post("/sandbox/accounts/15550004444/scan", {"qr": await sock.wait_qr()})
        jid = JID.parse(response.json()["jid"])
        restart = await sock.wait_close()
        opened = await sock.wait_open(after=restart["n"])
        connection = served.sandbox.connections[jid]

        url, root = served.ws_url, served.sandbox.root_public_key
        garbage: list[list[bytes | str]] = [
            [random.Random(1).randbytes(500)],  # not the intro
            ["a text message"],  # frames are binary
            [b"", b"WA\x06\x03\x00\x00\x05", b"\x00" * 5],  # empty message, then a ClientHello that is no protobuf
        ]
        for messages in garbage:
            assert await trio.to_thread.run_sync(raw, url, messages) == 1002, messages
        # A truncated frame, and the client leaves: the sandbox forgets the connection.
        await trio.to_thread.run_sync(functools.partial(raw, url, [INTRO + (1000).to_bytes(3, "big") + b"partial"], wait=False))
        with trio.fail_after(5):
            while True:
                if len(served.sandbox.all_connections) == 1:
                    break
                await trio.sleep(0.05)
        assert await trio.to_thread.run_sync(failed_handshake, url, root) == 1002
        report = await trio.to_thread.run_sync(unknown_iq, url, root)
        assert report["pair_device"]
        assert report["answer"].attrs["type"] == "error"
        assert report["pong"].attrs["type"] == "result"

        await sock.poll()
        assert not [e for e in sock.events[opened["n"] :] if e.get("connection") == "close"]
        assert served.sandbox.connections[jid] is connection
        assert not connection.closed
    finally:
        await sock.end()

    await served.create_account("15550005555")
    second = await Sock.create(baileys, "v7", served.ws_url)
    try:
        response = await served.post("/sandbox/accounts/15550005555/scan", {"qr": await second.wait_qr()})
        assert response.status_code == 200, response.text
        restart = await second.wait_close()
        await second.wait_open(after=restart["n"])
    finally:
        await second.end()
