"""Known-answer vectors for the Noise handshake and transport (tests/waproto/vectors/noise_xx.json).

The client bytes in the file were written by Baileys' own noise handler (see ``gen_vectors.py``), so our
initiator reproducing them byte for byte is an independent check; our responder must reproduce the
server bytes Baileys accepted and decode every client frame.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from waproto.noise import FrameReader, FrameWriter, NoiseInitiator, NoiseResponder, verify_cert_chain
from waproto.signal import curve

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "noise_xx.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text())["cases"]


def _keys(case: dict[str, Any]) -> dict[str, curve.KeyPair]:
    return {name: curve.KeyPair.from_private(bytes.fromhex(hexkey)) for name, hexkey in case["keys"].items()}


def test_vectors_present() -> None:
    assert len(CASES) >= 3


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"seed{c['seed']}")
def test_initiator_reproduces_baileys_client_bytes(case: dict[str, Any]) -> None:
    keys = _keys(case)
    client = NoiseInitiator(static=keys["client_static"], ephemeral=keys["client_ephemeral"], root_public_key=keys["root"].public)
    writer, reader = FrameWriter(), FrameReader()
    assert writer.frame(client.client_hello()).hex() == case["client_hello_ws"]
    [server_hello] = reader.receive_data(bytes.fromhex(case["server_hello_ws"]))
    leaf = client.receive_server_hello(server_hello, now=case["now"])
    assert leaf.key == keys["server_static"].public
    payload = bytes.fromhex(case["client_payload"])
    assert writer.frame(client.client_finish(payload)).hex() == case["client_finish_ws"]
    for frame in case["client_to_server"]:
        assert writer.frame(client.transport.encrypt(bytes.fromhex(frame["plaintext"]))).hex() == frame["ws"]
    for frame in case["server_to_client"]:
        [body] = reader.receive_data(bytes.fromhex(frame["ws"]))
        assert client.transport.decrypt(body).hex() == frame["plaintext"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"seed{c['seed']}")
def test_responder_reproduces_server_bytes(case: dict[str, Any]) -> None:
    keys = _keys(case)
    chain = bytes.fromhex(case["cert_chain"])
    verify_cert_chain(chain, keys["server_static"].public, now=case["now"], root_public_key=keys["root"].public)
    server = NoiseResponder(static=keys["server_static"], ephemeral=keys["server_ephemeral"], cert_chain=chain)
    writer, reader = FrameWriter(intro=b""), FrameReader(expect_intro=True)
    [hello] = reader.receive_data(bytes.fromhex(case["client_hello_ws"]))
    server.receive_client_hello(hello)
    assert writer.frame(server.server_hello()).hex() == case["server_hello_ws"]
    [finish] = reader.receive_data(bytes.fromhex(case["client_finish_ws"]))
    assert server.receive_client_finish(finish).hex() == case["client_payload"]
    assert server.client_static == keys["client_static"].public
    for frame in case["client_to_server"]:
        [body] = reader.receive_data(bytes.fromhex(frame["ws"]))
        assert server.transport.decrypt(body).hex() == frame["plaintext"]
    for frame in case["server_to_client"]:
        assert writer.frame(server.transport.encrypt(bytes.fromhex(frame["plaintext"]))).hex() == frame["ws"]
