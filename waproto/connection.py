"""A client's WhatsApp connection, sans-I/O: bytes in, events out, bytes to send (after h2's shape).

One :class:`Connection` is one websocket's worth of protocol, from the intro header to the stream's end::

    conn = Connection(credentials, payload, ephemeral=generate_key_pair(rng), root_public_key=root)
    send(conn.data_to_send())                 # intro + ClientHello
    for event in conn.receive_data(data, now=unix_seconds):   # every websocket message received
        ...                                   # HandshakeCompleted, QRRefs, Paired, LoginSucceeded, ...
    conn.send_node(node); send(conn.data_to_send())

It runs the Noise XX handshake as initiator (``waproto.noise``; the certificate chain is checked against
``root_public_key`` at the ``now`` the caller gives), sends ``payload`` (a serialised ``ClientPayload``,
``waproto.payload``) in the ClientFinish, then encrypts and decrypts frames of binary nodes
(``waproto.binary``) and turns what the server sends into :mod:`waproto.events`. The duties that need no
decision are done here and queued for sending: the ``<pair-device>`` iq is acknowledged, a
``<pair-success>`` is verified and countersigned with our credentials (``waproto.pairing``; the new
credentials come out in :class:`~waproto.events.Paired`) or refused with an error iq, and a server ping
(``urn:xmpp:ping``) is answered.

Bytes from the network that break the protocol raise a :class:`~waproto.errors.RemoteProtocolError`
subclass (``HandshakeError``, ``DecryptionError``, ``DecodeError``) and leave the connection ``CLOSED``;
after a stream error, a login failure or the stream's end it is ``CLOSED`` too. Using it in the wrong state
raises :class:`~waproto.errors.LocalProtocolError`.

This module does no I/O, reads no clock and draws no randomness (the ephemeral key comes in); the trio
driver is ``waproto.client``. It knows nothing of messages, receipts or keepalive timing.
"""

from __future__ import annotations

import enum

from waproto.binary import Node, marshal, unmarshal
from waproto.credentials import Credentials
from waproto.errors import DecodeError, LocalProtocolError, PairingError, RemoteProtocolError
from waproto.events import (
    Event,
    HandshakeCompleted,
    IqResponse,
    LoginFailed,
    LoginSucceeded,
    Paired,
    PairingFailed,
    QRRefs,
    StanzaReceived,
    StreamEnded,
    StreamErrored,
)
from waproto.jid import HIDDEN_USER_SERVER, SERVER_JID
from waproto.noise import WA_ROOT_PUBLIC_KEY, FrameReader, FrameWriter, NoiseInitiator, routing_intro
from waproto.noise.transport import TransportCipher
from waproto.pairing import complete_pairing, pair_error_reply, parse_pair_device
from waproto.proto import ClientPayload
from waproto.signal.curve import KeyPair

__all__ = ["Connection", "ConnectionState"]


class ConnectionState(enum.Enum):
    """Where a :class:`Connection` is."""

    #: The ClientHello is queued; waiting for the ServerHello.
    HANDSHAKING = "handshaking"
    #: The handshake is done: stanzas flow both ways.
    OPEN = "open"
    #: The server ended the stream, refused the login, or broke the protocol. Open a new connection.
    CLOSED = "closed"


class Connection:
    """One connection's protocol state; see the module docstring."""

    def __init__(
        self,
        credentials: Credentials,
        payload: ClientPayload | bytes,
        *,
        ephemeral: KeyPair,
        root_public_key: bytes = WA_ROOT_PUBLIC_KEY,
        routing_info: bytes | None = None,
    ) -> None:
        self._credentials = credentials
        self._payload = payload if isinstance(payload, bytes) else bytes(payload.SerializeToString())
        self._initiator = NoiseInitiator(
            static=credentials.noise_key, ephemeral=ephemeral, root_public_key=root_public_key
        )
        intro = routing_intro(routing_info) if routing_info is not None else None
        self._writer = FrameWriter() if intro is None else FrameWriter(intro=intro)
        self._reader = FrameReader()
        self._cipher: TransportCipher | None = None
        self._outgoing: list[bytes] = [self._writer.frame(self._initiator.client_hello())]
        self._state = ConnectionState.HANDSHAKING

    @property
    def state(self) -> ConnectionState:
        """The current state."""
        return self._state

    @property
    def closed(self) -> bool:
        """Whether the state is CLOSED."""
        return self._state is ConnectionState.CLOSED

    @property
    def credentials(self) -> Credentials:
        """Our credentials: those given, updated by a pair-success (and a ``<success lid>``)."""
        return self._credentials

    def replace_credentials(self, credentials: Credentials) -> None:
        """Use ``credentials`` from now on (e.g. with the adv secret a pairing-code exchange derived).

        They must have the same Noise and identity keys (``LocalProtocolError`` otherwise).
        """
        if (credentials.noise_key, credentials.identity_key) != (self._credentials.noise_key, self._credentials.identity_key):
            raise LocalProtocolError("replacement credentials must keep the noise and identity keys")
        self._credentials = credentials

    # ----------------------------------------------------------------- output

    def data_to_send(self) -> bytes:
        """Everything queued for the server since the last call (possibly ``b""``), to send in order."""
        return b"".join(self.frames_to_send())

    def frames_to_send(self) -> list[bytes]:
        """What :meth:`data_to_send` gives, one item per frame (the intro rides with the first frame): a
        client sends each item as its own websocket message, as WhatsApp Web, Baileys and whatsmeow do."""
        frames = self._outgoing
        self._outgoing = []
        return frames

    def send_node(self, node: Node) -> None:
        """Queue one stanza. ``LocalProtocolError`` unless the connection is OPEN."""
        if self._state is not ConnectionState.OPEN or self._cipher is None:
            raise LocalProtocolError(f"cannot send a stanza on a {self._state.value} connection")
        self._outgoing.append(self._writer.frame(self._cipher.encrypt(marshal(node))))

    # ----------------------------------------------------------------- input

    def receive_data(self, data: bytes, *, now: int) -> list[Event]:
        """Feed bytes of one websocket message; returns the events they complete, in order.

        ``now`` (unix seconds) is when the certificate chain is checked, if this data completes the
        ServerHello. Raises a ``RemoteProtocolError`` subclass for bytes that break the protocol.
        """
        if self._state is ConnectionState.CLOSED:
            raise LocalProtocolError("this connection is closed")
        events: list[Event] = []
        try:
            for frame in self._reader.receive_data(data):
                if self.closed:
                    break  # the server said its last word; what follows is noise
                if self._state is ConnectionState.HANDSHAKING:
                    events.append(self._finish_handshake(frame, now))
                else:
                    assert self._cipher is not None
                    events.extend(self._handle(unmarshal(self._cipher.decrypt(frame))))
        except RemoteProtocolError:
            self._state = ConnectionState.CLOSED
            raise
        return events

    def _finish_handshake(self, frame: bytes, now: int) -> Event:
        certificate = self._initiator.receive_server_hello(frame, now=now)
        self._outgoing.append(self._writer.frame(self._initiator.client_finish(self._payload)))
        self._cipher = self._initiator.transport
        self._state = ConnectionState.OPEN
        return HandshakeCompleted(certificate)

    def _handle(self, node: Node) -> list[Event]:
        tag = node.tag
        if tag == "iq":
            return self._handle_iq(node)
        if tag == "success":
            lid = node.jid_attr("lid")
            if lid is not None and lid.server == HIDDEN_USER_SERVER and lid != self._credentials.lid:
                self._credentials = self._credentials.with_lid(lid)
            return [LoginSucceeded(lid, node)]
        if tag == "failure":
            self._state = ConnectionState.CLOSED
            reason = str(node.attrs.get("reason", ""))
            return [LoginFailed(int(reason) if reason.isascii() and reason.isdigit() else 0, node)]
        if tag == "stream:error":
            self._state = ConnectionState.CLOSED
            code = node.attrs.get("code")
            conflict = node.child("conflict")
            conflict_type = None if conflict is None else conflict.attrs.get("type")
            return [
                StreamErrored(
                    None if code is None else str(code),
                    None if conflict_type is None else str(conflict_type),
                    node,
                )
            ]
        if tag == "xmlstreamend":
            self._state = ConnectionState.CLOSED
            return [StreamEnded()]
        return [StanzaReceived(node)]

    def _handle_iq(self, node: Node) -> list[Event]:
        kind = node.attrs.get("type")
        iq_id = node.attrs.get("id")
        if kind in ("result", "error"):
            if not isinstance(iq_id, str):
                raise DecodeError(f"an iq {kind} without an id", node=node)
            return [IqResponse(iq_id, node)]
        if kind == "set" and node.child("pair-device") is not None:
            answer_id, refs = parse_pair_device(node)
            self.send_node(_result(answer_id))
            return [QRRefs(tuple(refs))]
        if kind == "set" and node.child("pair-success") is not None:
            return [self._pair(node)]
        if kind == "get" and node.attrs.get("xmlns") == "urn:xmpp:ping" and isinstance(iq_id, str):
            self.send_node(_result(iq_id))
            return []
        return [StanzaReceived(node)]

    def _pair(self, node: Node) -> Event:
        creds = self._credentials
        try:
            device = complete_pairing(node, adv_secret=creds.adv_secret, identity=creds.identity_key)
            paired = creds.paired(device)
        except (PairingError, DecodeError, LocalProtocolError) as exc:
            iq_id = node.attrs.get("id")
            if isinstance(iq_id, str):
                self.send_node(pair_error_reply(iq_id, exc))
            return PairingFailed(exc)
        self.send_node(device.reply)
        self._credentials = paired
        return Paired(paired, device.jid, device.lid, device.primary_identity)


def _result(iq_id: str) -> Node:
    return Node("iq", {"to": SERVER_JID, "type": "result", "id": iq_id})

