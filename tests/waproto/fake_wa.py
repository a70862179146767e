"""A fake WhatsApp server's protocol side, sans-I/O, for client tests (test infrastructure only).

:class:`FakeServer` is the responder half of one connection: it takes the client's bytes (intro, Noise
frames, encrypted stanzas) and answers with bytes, using ``waproto.noise.NoiseResponder`` and a
certificate chain signed by a test root. Tests script what it sends; it records the ``ClientPayload`` and
every stanza the client sent.
"""

from __future__ import annotations

import random

from waproto.binary import Node, marshal, unmarshal
from waproto.noise import FrameReader, FrameWriter, NoiseResponder, TransportCipher, build_cert_chain
from waproto.proto import ClientPayload, decode
from waproto.signal import curve

NOW = 1_790_000_000
_rng = random.Random(4242).randbytes
ROOT = curve.generate_key_pair(_rng)
INTERMEDIATE = curve.generate_key_pair(_rng)
SERVER_STATIC = curve.generate_key_pair(_rng)
CHAIN = build_cert_chain(
    root_private=ROOT.private,
    intermediate=INTERMEDIATE,
    server_static=SERVER_STATIC.public,
    not_before=NOW - 86400,
    not_after=NOW + 86400 * 365,
)


class FakeServer:
    """The server's side of one connection (see the module docstring)."""

    def __init__(self, seed: int = 1) -> None:
        self.responder = NoiseResponder(
            static=SERVER_STATIC, ephemeral=curve.generate_key_pair(random.Random(seed).randbytes), cert_chain=CHAIN
        )
        self.reader = FrameReader(expect_intro=True)
        self.writer = FrameWriter(intro=b"")
        self.cipher: TransportCipher | None = None
        self.payload: ClientPayload | None = None
        #: Every stanza the client sent, in order.
        self.received: list[Node] = []
        self.hello_seen = False

    def receive(self, data: bytes) -> bytes:
        """Feed the client's bytes; returns the server's handshake answer, if any (stanzas go to ``received``)."""
        out = b""
        for frame in self.reader.receive_data(data):
            if self.cipher is not None:
                self.received.append(unmarshal(self.cipher.decrypt(frame)))
            elif not self.hello_seen:
                self.responder.receive_client_hello(frame)
                self.hello_seen = True
                out += self.writer.frame(self.responder.server_hello())
            else:
                self.payload = decode(ClientPayload, self.responder.receive_client_finish(frame))
                self.cipher = self.responder.transport
        return out

    def send(self, node: Node) -> bytes:
        """The bytes of one stanza to the client."""
        assert self.cipher is not None
        return self.writer.frame(self.cipher.encrypt(marshal(node)))
