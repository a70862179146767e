"""Regenerate tests/waproto/vectors/noise_xx.json (Noise XX, made with Baileys) and xeddsa_libsignal.json.

Run ``.venv/bin/python -m tests.waproto.noise.gen_vectors`` from the repository root (needs Node and the
interop harness). For each case, fixed key pairs are derived from a seed; Baileys 6.7.24's own client
noise handler writes every client byte (the intro + ClientHello, the ClientFinish, the client's transport
frames); Baileys 7.0.0-rc14 must write the very same bytes. The server's bytes come from our responder,
and are only recorded after Baileys accepted the ServerHello (its ClientFinish then decrypts on our side)
and decoded every server transport frame to the expected node. ``test_vectors.py`` replays the file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from tests.interop.harness import Harness
from waproto.noise import FrameReader, FrameWriter, NoiseResponder, build_cert_chain
from waproto.signal import curve

OUT = Path(__file__).resolve().parent.parent / "vectors" / "noise_xx.json"
XEDDSA_OUT = OUT.with_name("xeddsa_libsignal.json")
NOT_BEFORE, NOT_AFTER, NOW = 1_700_000_000, 1_900_000_000, 1_800_000_000


def _pair(kp: curve.KeyPair) -> dict[str, bytes]:
    return {"private": kp.private, "public": kp.public}


def _node(seed: int, i: int) -> dict[str, Any]:
    return {
        "tag": "iq",
        "attrs": {"id": f"{seed}-{i}", "type": "result", "to": "s.whatsapp.net"},
        "content": [{"tag": "ref", "attrs": {}, "content": bytes([i]) * (20 + 15 * i)}],
    }


def _client_run(h: Harness, version: int, keys: dict[str, curve.KeyPair], chain: bytes, payload: bytes,
                client_nodes: list[dict[str, Any]], server_plain: list[bytes]) -> dict[str, Any]:
    handle = h.call("noise.client.create", version=version, ephemeral=_pair(keys["client_ephemeral"]))
    try:
        server = NoiseResponder(static=keys["server_static"], ephemeral=keys["server_ephemeral"], cert_chain=chain)
        reader, writer = FrameReader(expect_intro=True), FrameWriter(intro=b"")
        hello_ws = h.call("noise.client.hello", handle=handle)
        [hello] = reader.receive_data(hello_ws)
        server.receive_client_hello(hello)
        server_hello = server.server_hello()
        server_hello_ws = writer.frame(server_hello)
        assert h.call("noise.client.receive", handle=handle, data=server_hello_ws) == [server_hello]
        finish_ws = h.call("noise.client.finish", handle=handle, serverHello=server_hello,
                           noiseKey=_pair(keys["client_static"]), payload=payload)
        [finish] = reader.receive_data(finish_ws)
        assert server.receive_client_finish(finish) == payload
        c2s = []
        for node in client_nodes:
            plain = h.call("noise.node.encode", node=node, compress=False)
            ws = h.call("noise.client.send", handle=handle, data=plain)
            [frame] = reader.receive_data(ws)
            assert server.transport.decrypt(frame) == plain
            c2s.append({"plaintext": plain.hex(), "ws": ws.hex()})
        s2c = []
        for plain in server_plain:
            ws = writer.frame(server.transport.encrypt(plain))
            s2c.append({"plaintext": plain.hex(), "ws": ws.hex(), "baileys_decoded": h.call("noise.client.receive", handle=handle, data=ws)})
        return {"client_hello_ws": hello_ws.hex(), "server_hello_ws": server_hello_ws.hex(), "client_finish_ws": finish_ws.hex(),
                "client_to_server": c2s, "server_to_client": s2c}
    finally:
        h.call("noise.client.drop", handle=handle)


def main() -> None:
    cases = []
    with Harness() as h:
        for seed in (1, 2, 3):
            r = random.Random(f"noise-vector-{seed}")
            names = ["root", "intermediate", "server_static", "server_ephemeral", "client_static", "client_ephemeral"]
            keys = {name: curve.generate_key_pair(r.randbytes) for name in names}
            chain = build_cert_chain(root_private=keys["root"].private, intermediate=keys["intermediate"],
                                     server_static=keys["server_static"].public, not_before=NOT_BEFORE, not_after=NOT_AFTER)
            payload = r.randbytes(r.randrange(10, 400))
            client_nodes = [_node(seed, i) for i in range(3)]
            server_nodes = [_node(seed, i + 10) for i in range(3)]
            server_plain = [h.call("noise.node.encode", node=n, compress=i == 1) for i, n in enumerate(server_nodes)]
            runs = {v: _client_run(h, v, keys, chain, payload, client_nodes, server_plain) for v in (6, 7)}
            assert runs[6] == runs[7], "Baileys 6 and 7 disagree"
            for s2c, node in zip(runs[6]["server_to_client"], server_nodes, strict=True):
                assert s2c.pop("baileys_decoded") == [node]
            cases.append({
                "seed": seed,
                "keys": {name: kp.private.hex() for name, kp in keys.items()},
                "now": NOW,
                "cert_chain": chain.hex(),
                "client_payload": payload.hex(),
                **runs[6],
            })
    document = {
        "description": "Noise_XX_25519_AESGCM_SHA256, prologue WA0603: fixed keys -> exact websocket bytes. "
                       "Client bytes written by Baileys 6.7.24's makeNoiseHandler (identical in 7.0.0-rc14); "
                       "server bytes by waproto's responder, accepted and decoded by Baileys at generation.",
        "generator": "python -m tests.waproto.noise.gen_vectors",
        "cases": cases,
    }
    OUT.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {OUT}")
    write_xeddsa_vectors()


def write_xeddsa_vectors() -> None:
    """Signatures by libsignal-node 6.0.0 (curve25519-js) over fixed keys and messages."""
    r = random.Random("xeddsa-vectors")
    items = [{"private": r.randbytes(32), "message": r.randbytes(r.randrange(0, 200))} for _ in range(24)]
    with Harness() as h:
        signatures = h.call("curve.sign", items=items)
    document = {
        "description": "XEdDSA, libsignal convention: calculateSignature(private, message) by libsignal-node 6.0.0. "
                       "Private keys are unclamped random bytes; public is the X25519 public key.",
        "generator": "python -m tests.waproto.noise.gen_vectors",
        "vectors": [
            {"private": i["private"].hex(), "public": curve.public_key(i["private"]).hex(),
             "message": i["message"].hex(), "signature": sig.hex()}
            for i, sig in zip(items, signatures, strict=True)
        ],
    }
    XEDDSA_OUT.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {XEDDSA_OUT}")


if __name__ == "__main__":
    main()
