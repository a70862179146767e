"""An in-memory websocket and a minimal WhatsApp companion, to drive the sandbox deterministically.

``MemoryPipe`` joins a client end to a server :class:`~waproto.sandbox.connection.Transport` through trio
memory channels (no sockets, so tests can use the autojump clock). ``Companion`` speaks just enough of the
client protocol (Noise initiator from ``waproto.noise``, registration and login payloads, QR, pair-success
answered with ``waproto.pairing.complete_pairing``) to link and log in. Test infrastructure only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import trio

from waproto.binary import Node, marshal, unmarshal
from waproto.jid import JID
from waproto.noise import FrameReader, FrameWriter, NoiseInitiator, TransportCipher
from waproto.pairing import QRData, complete_pairing, parse_pair_device
from waproto.proto import ClientPayload, DeviceProps
from waproto.signal import curve
from waproto.signal.curve import KeyPair
from waproto.signal.keys import generate_signed_pre_key, signal_public_key

NOW = 1_790_000_000


class ServerEnd:
    """The server's side of a :class:`MemoryPipe` (a connection ``Transport``)."""

    def __init__(self, pipe: MemoryPipe) -> None:
        self.pipe = pipe

    async def receive(self) -> bytes | None:
        try:
            return await self.pipe.to_server_receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return None

    async def send(self, data: bytes) -> None:
        if self.pipe.close_code is not None:
            raise trio.ClosedResourceError("closed")
        await self.pipe.to_client_send.send(data)

    async def close(self, code: int, reason: str) -> None:
        if self.pipe.close_code is None:
            self.pipe.close_code = code
            self.pipe.close_reason = reason
            self.pipe.to_client_send.close()


class MemoryPipe:
    """A websocket made of two memory channels; ``close_code`` is set when the server closed it."""

    def __init__(self) -> None:
        self.to_server_send, self.to_server_receive = trio.open_memory_channel[bytes](100)
        self.to_client_send, self.to_client_receive = trio.open_memory_channel[bytes](100)
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.server = ServerEnd(self)

    async def send(self, data: bytes) -> None:
        await self.to_server_send.send(data)

    async def receive(self) -> bytes | None:
        try:
            return await self.to_client_receive.receive()
        except trio.EndOfChannel:
            return None

    def eof(self) -> None:
        self.to_server_send.close()


@dataclass
class Keys:
    """A companion's long-term keys."""

    noise: KeyPair
    identity: KeyPair
    adv_secret: bytes = field(repr=False)
    registration_id: int

    @classmethod
    def generate(cls, seed: int) -> Keys:
        r = random.Random(seed)
        return cls(curve.generate_key_pair(r.randbytes), curve.generate_key_pair(r.randbytes), r.randbytes(32), 1234)


class Companion:
    """One connection of a minimal companion over a :class:`MemoryPipe`."""

    def __init__(self, pipe: MemoryPipe, keys: Keys, *, root: bytes, seed: int = 7) -> None:
        self.pipe = pipe
        self.keys = keys
        self.root = root
        self.rng = random.Random(seed).randbytes
        self.writer = FrameWriter()
        self.reader = FrameReader()
        self.frames: list[bytes] = []
        self.cipher: TransportCipher | None = None

    async def _frame(self) -> bytes | None:
        while not self.frames:
            data = await self.pipe.receive()
            if data is None:
                return None
            self.frames.extend(self.reader.receive_data(data))
        return self.frames.pop(0)

    async def handshake(self, payload: ClientPayload) -> None:
        initiator = NoiseInitiator(static=self.keys.noise, ephemeral=curve.generate_key_pair(self.rng), root_public_key=self.root)
        await self.pipe.send(self.writer.frame(initiator.client_hello()))
        hello = await self._frame()
        assert hello is not None, "server closed during the handshake"
        initiator.receive_server_hello(hello, now=NOW)
        await self.pipe.send(self.writer.frame(initiator.client_finish(payload.SerializeToString())))
        self.cipher = initiator.transport

    async def send_node(self, node: Node) -> None:
        assert self.cipher is not None
        await self.pipe.send(self.writer.frame(self.cipher.encrypt(marshal(node))))

    async def receive_node(self) -> Node | None:
        """The next stanza, or None once the server closed."""
        frame = await self._frame()
        if frame is None:
            return None
        assert self.cipher is not None
        return unmarshal(self.cipher.decrypt(frame))

    async def receive_until_closed(self) -> list[Node]:
        nodes = []
        while (node := await self.receive_node()) is not None:
            nodes.append(node)
        return nodes

    def registration_payload(self) -> ClientPayload:
        payload = ClientPayload(passive=False, pull=False)
        data = payload.device_pairing_data
        spk = generate_signed_pre_key(self.keys.identity, 1, self.rng)
        data.e_regid = self.keys.registration_id.to_bytes(4, "big")
        data.e_keytype = b"\x05"
        data.e_ident = self.keys.identity.public
        data.e_skey_id = (1).to_bytes(3, "big")
        data.e_skey_val = spk.key_pair.public
        data.e_skey_sig = spk.signature
        data.device_props = DeviceProps(os="memclient").SerializeToString()
        assert signal_public_key(spk.key_pair.public)[0] == 5
        return payload

    @staticmethod
    def login_payload(jid: JID) -> ClientPayload:
        return ClientPayload(username=int(jid.user), device=jid.device, passive=True, pull=True)

    async def register(self) -> str:
        """Handshake with a registration payload; answer the pair-device iq; return the first QR string."""
        await self.handshake(self.registration_payload())
        node = await self.receive_node()
        assert node is not None
        iq_id, refs = parse_pair_device(node)
        await self.send_node(Node("iq", {"to": JID("", "s.whatsapp.net"), "type": "result", "id": iq_id}))
        return str(QRData(refs[0], self.keys.noise.public, self.keys.identity.public, self.keys.adv_secret))

    async def finish_pairing(self) -> JID:
        """Answer pair-success; expect the 515 stream error; return our new JID."""
        node = await self.receive_node()
        assert node is not None
        paired = complete_pairing(node, adv_secret=self.keys.adv_secret, identity=self.keys.identity)
        await self.send_node(paired.reply)
        rest = await self.receive_until_closed()
        assert [n.tag for n in rest] == ["stream:error"], rest
        assert rest[0].attrs.get("code") == "515"
        return paired.jid
