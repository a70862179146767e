"""Shared test material for waproto.noise: deterministic keys, a test root, chains, and a connected pair."""

from __future__ import annotations

import random
from dataclasses import dataclass

from waproto.noise import (
    FrameReader,
    FrameWriter,
    NoiseInitiator,
    NoiseResponder,
    build_cert_chain,
)
from waproto.signal import curve

NOT_BEFORE = 1_700_000_000
NOT_AFTER = 1_900_000_000
NOW = 1_800_000_000


@dataclass(frozen=True)
class Keys:
    root: curve.KeyPair
    intermediate: curve.KeyPair
    server_static: curve.KeyPair
    server_ephemeral: curve.KeyPair
    client_static: curve.KeyPair
    client_ephemeral: curve.KeyPair


def keys(seed: int = 0) -> Keys:
    r = random.Random(seed)
    return Keys(*(curve.generate_key_pair(r.randbytes) for _ in range(6)))


def chain(k: Keys, *, not_before: int = NOT_BEFORE, not_after: int = NOT_AFTER) -> bytes:
    return build_cert_chain(
        root_private=k.root.private,
        intermediate=k.intermediate,
        server_static=k.server_static.public,
        not_before=not_before,
        not_after=not_after,
    )


def initiator(k: Keys) -> NoiseInitiator:
    return NoiseInitiator(static=k.client_static, ephemeral=k.client_ephemeral, root_public_key=k.root.public)


def responder(k: Keys, cert_chain: bytes | None = None) -> NoiseResponder:
    return NoiseResponder(
        static=k.server_static,
        ephemeral=k.server_ephemeral,
        cert_chain=chain(k) if cert_chain is None else cert_chain,
    )


@dataclass
class Pair:
    """A finished handshake between our initiator and our responder, with their frame layers."""

    client: NoiseInitiator
    server: NoiseResponder
    client_writer: FrameWriter
    client_reader: FrameReader
    server_writer: FrameWriter
    server_reader: FrameReader


def connect(k: Keys, payload: bytes = b"client payload") -> Pair:
    client, server = initiator(k), responder(k)
    cw, cr = FrameWriter(), FrameReader()
    sw, sr = FrameWriter(intro=b""), FrameReader(expect_intro=True)
    [hello] = sr.receive_data(cw.frame(client.client_hello()))
    server.receive_client_hello(hello)
    [server_hello] = cr.receive_data(sw.frame(server.server_hello()))
    client.receive_server_hello(server_hello, now=NOW)
    [finish] = sr.receive_data(cw.frame(client.client_finish(payload)))
    assert server.receive_client_finish(finish) == payload
    return Pair(client, server, cw, cr, sw, sr)
