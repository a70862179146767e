"""Fuzzing the pairing parsers and verifiers: malformed input from the network is a ``DecodeError`` or a
``PairingError``, never ``ValueError``, ``IndexError``, ``KeyError`` or a protobuf exception.

Inputs: hypothesis text and bytes, and deterministic mutations (bit flips, truncations, insertions) of
genuine values, so that realistic structure reaches the later checks before breaking.
"""

from __future__ import annotations

import contextlib
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from waproto.binary import Node, marshal, unmarshal
from waproto.errors import DecodeError, PairingError
from waproto.jid import JID
from waproto.pairing import (
    QRData,
    complete_pairing,
    issue_device_identity,
    pair_success_node,
    parse_companion_finish,
    parse_companion_hello,
    parse_primary_hello,
    parse_qr,
    primary_finish,
    unwrap_ephemeral_key,
    verify_device_identity,
    verify_pair_device_sign,
)
from waproto.pairing.link_code_nodes import companion_finish_node, companion_hello_node, primary_hello_node
from waproto.signal import curve

_r = random.Random(60)
ACCOUNT, COMPANION, EPHEMERAL = (curve.generate_key_pair(_r.randbytes) for _ in range(3))
ADV = _r.randbytes(32)
ISSUED = issue_device_identity(
    account=ACCOUNT, companion_identity=COMPANION.public, adv_secret=ADV, raw_id=1, key_index=2, timestamp=3
)
QR = str(QRData("2@ref", ACCOUNT.public, COMPANION.public, ADV))
REPLY = complete_pairing(
    pair_success_node(iq_id="1", device_identity=ISSUED, jid=JID.parse("1:2@s.whatsapp.net")),
    adv_secret=ADV,
    identity=COMPANION,
).reply


def mutations(data: bytes, seed: int, count: int) -> list[bytes]:
    r = random.Random(seed)
    out = []
    for _ in range(count):
        b = bytearray(data)
        kind = r.randrange(4)
        if kind == 0 and b:
            i = r.randrange(len(b))
            b[i] ^= 1 << r.randrange(8)
        elif kind == 1:
            del b[r.randrange(len(b) + 1) :]
        elif kind == 2:
            i = r.randrange(len(b) + 1)
            b[i:i] = r.randbytes(r.randrange(1, 4))
        elif b:
            b[r.randrange(len(b))] = r.choice([0x00, 0x7F, 0x80, 0xFF])
        out.append(bytes(b))
    return out


def refused_cleanly(fn: object, *args: object, **kwargs: object) -> None:
    """Call ``fn``: it may succeed or refuse with a DecodeError or PairingError; anything else fails."""
    with contextlib.suppress(DecodeError, PairingError):
        fn(*args, **kwargs)  # type: ignore[operator]


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_parse_qr_random_text(text: str) -> None:
    refused_cleanly(parse_qr, text)


def test_parse_qr_mutations() -> None:
    for data in mutations(QR.encode(), 1, 1500):
        refused_cleanly(parse_qr, data.decode("latin-1"))
        refused_cleanly(parse_qr, "https://wa.me/settings/linked_devices#" + data.decode("latin-1") + ",1")


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_verify_device_identity_random_bytes(data: bytes) -> None:
    refused_cleanly(verify_device_identity, data, adv_secret=ADV, identity=COMPANION)


def test_verify_device_identity_mutations() -> None:
    accepted = 0
    for data in mutations(ISSUED, 2, 1500):
        try:
            verify_device_identity(data, adv_secret=ADV, identity=COMPANION)
            accepted += 1
        except (DecodeError, PairingError):
            pass
    # Mutations that change nothing the HMAC covers (e.g. a truncation at the very end) may still pass;
    # most must not.
    assert accepted < 150


def test_verify_pair_device_sign_mutations() -> None:
    content = REPLY.children[0].children[0].content
    assert isinstance(content, bytes)
    for data in mutations(content, 3, 800):
        reply = unmarshal(marshal(REPLY))
        reply.children[0].children[0].content = data
        refused_cleanly(verify_pair_device_sign, reply, device_identity=ISSUED, companion_identity=COMPANION.public)


def test_stanza_parsers_on_mutated_frames() -> None:
    phone = JID.parse("15550001111@s.whatsapp.net")
    frames = {
        parse_companion_hello: marshal(
            companion_hello_node(
                iq_id="1", phone=phone, wrapped_ephemeral=bytes(80), noise_public=bytes(32), platform_id="1",
                platform_display="Chrome (Ubuntu)",
            )
        ),
        parse_primary_hello: marshal(
            primary_hello_node(notification_id="n", ref=b"R", wrapped_ephemeral=bytes(80), primary_identity=bytes(32), server_time=1)
        ),
        parse_companion_finish: marshal(
            companion_finish_node(iq_id="f", phone=phone, wrapped_key_bundle=bytes(156), companion_identity=bytes(32), ref=b"R")
        ),
    }
    for seed, (parse, frame) in enumerate(frames.items()):
        for data in mutations(frame, 10 + seed, 800):
            try:
                node: Node = unmarshal(data)
            except DecodeError:
                continue
            refused_cleanly(parse, node)
            refused_cleanly(complete_pairing, node, adv_secret=ADV, identity=COMPANION)


@settings(max_examples=100)
@given(st.binary(max_size=200), st.binary(max_size=40), st.binary(max_size=40))
def test_primary_finish_random_input(bundle: bytes, companion_ephemeral: bytes, companion_identity: bytes) -> None:
    refused_cleanly(
        primary_finish,
        ephemeral=EPHEMERAL,
        identity=ACCOUNT,
        companion_ephemeral=companion_ephemeral,
        companion_identity=companion_identity,
        wrapped_key_bundle=bundle,
    )


@settings(max_examples=20)
@given(st.binary(max_size=100))
def test_unwrap_random_bytes(data: bytes) -> None:
    refused_cleanly(unwrap_ephemeral_key, "ABCDEFGH", data)
