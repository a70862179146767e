"""The Noise_XX_25519_AESGCM_SHA256 handshake, WhatsApp flavour, as two sans-I/O state machines.

WhatsApp runs plain Noise XX with the prologue ``WA 06 03`` and protobuf ``HandshakeMessage`` envelopes::

    client → server   ClientHello  { ephemeral = e }
    server → client   ServerHello  { ephemeral = e, static = enc(s), payload = enc(CertChain) }
    client → server   ClientFinish { static = enc(s), payload = enc(ClientPayload) }

after which both sides split the chaining key into a :class:`~waproto.noise.transport.TransportCipher`.
(Unlike textbook Noise, no empty payload is hashed into ClientHello.)

:class:`NoiseInitiator` is the client; it verifies the server's certificate chain (``certs``) with an
injected root key and clock. :class:`NoiseResponder` is a server (the sandbox's); it sends a chain it was
given. Both take their key pairs as arguments (this module has no randomness) and consume and produce the
serialised ``HandshakeMessage`` of one frame each (framing is ``framing``'s job).

Calling a method in the wrong state raises :class:`~waproto.errors.LocalProtocolError`. Bad bytes from the
peer raise :class:`~waproto.errors.HandshakeError` (or one of its ``CertificateError`` subclasses); after
that, the machine is in ``FAILED`` and refuses further use.
"""

from __future__ import annotations

import enum
import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from waproto.errors import DecodeError, HandshakeError, LocalProtocolError
from waproto.noise.certs import WA_ROOT_PUBLIC_KEY, CertificateDetails, verify_cert_chain
from waproto.noise.framing import INTRO
from waproto.noise.transport import TransportCipher, nonce
from waproto.proto import HandshakeMessage, decode
from waproto.signal import curve

__all__ = [
    "PROLOGUE",
    "PROTOCOL_NAME",
    "HandshakeState",
    "NoiseInitiator",
    "NoiseResponder",
    "SymmetricState",
]

#: The Noise protocol name, zero-padded to the hash length (so it is used as is, not hashed).
PROTOCOL_NAME = b"Noise_XX_25519_AESGCM_SHA256\x00\x00\x00\x00"
#: Mixed into the handshake hash first: the intro header.
PROLOGUE = INTRO

_KEY_SIZE = 32


def _hkdf(salt: bytes, ikm: bytes) -> tuple[bytes, bytes]:
    """RFC 5869 HKDF-SHA256 with empty info and 64 bytes of output, split in two halves."""
    prk = hmac.digest(salt, ikm, "sha256")
    first = hmac.digest(prk, b"\x01", "sha256")
    second = hmac.digest(prk, first + b"\x02", "sha256")
    return first, second


class SymmetricState:
    """Noise's SymmetricState: the handshake hash ``h``, chaining key ``ck`` and cipher key ``k`` with nonce ``n``.

    Building block of both roles; usable alone for test vectors. Decryption failures raise
    ``HandshakeError``.
    """

    def __init__(self, prologue: bytes = PROLOGUE) -> None:
        #: The handshake hash.
        self.h = PROTOCOL_NAME
        #: The chaining key.
        self.ck = PROTOCOL_NAME
        self._cipher: AESGCM | None = None
        self._n = 0
        self.mix_hash(prologue)

    def mix_hash(self, data: bytes) -> None:
        """``h = SHA256(h || data)``."""
        self.h = hashlib.sha256(self.h + data).digest()

    def mix_key(self, input_key_material: bytes) -> None:
        """``ck, k = HKDF(ck, ikm)``; the nonce restarts at 0."""
        self.ck, key = _hkdf(self.ck, input_key_material)
        self._cipher = AESGCM(key)
        self._n = 0

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        """AES-GCM under ``k`` with AAD ``h``, then mix the ciphertext into ``h``."""
        if self._cipher is None:
            raise LocalProtocolError("no key has been mixed in yet")
        ciphertext = self._cipher.encrypt(nonce(self._n), plaintext, self.h)
        self._n += 1
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        """Inverse of :meth:`encrypt_and_hash`; ``HandshakeError`` if it does not authenticate."""
        if self._cipher is None:
            raise LocalProtocolError("no key has been mixed in yet")
        try:
            plaintext = self._cipher.decrypt(nonce(self._n), ciphertext, self.h)
        except InvalidTag as exc:
            raise HandshakeError("a handshake ciphertext did not authenticate") from exc
        self._n += 1
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[bytes, bytes]:
        """The two transport keys: (initiator → responder, responder → initiator)."""
        return _hkdf(self.ck, b"")


class HandshakeState(enum.Enum):
    """Where a handshake machine is. Each role uses the states on its own path, then DONE or FAILED."""

    #: Initiator: ``client_hello()`` is next.
    SEND_CLIENT_HELLO = "send client hello"
    #: Initiator: waiting for the ServerHello.
    AWAIT_SERVER_HELLO = "await server hello"
    #: Initiator: the server is verified; ``client_finish(payload)`` is next.
    SEND_CLIENT_FINISH = "send client finish"
    #: Responder: waiting for the ClientHello.
    AWAIT_CLIENT_HELLO = "await client hello"
    #: Responder: ``server_hello()`` is next.
    SEND_SERVER_HELLO = "send server hello"
    #: Responder: waiting for the ClientFinish.
    AWAIT_CLIENT_FINISH = "await client finish"
    #: Finished: ``transport`` is available.
    DONE = "done"
    #: The peer broke the handshake; the machine refuses further use.
    FAILED = "failed"


def _dh(private: bytes, public: bytes) -> bytes:
    try:
        return curve.shared_secret(private, public)
    except DecodeError as exc:
        raise HandshakeError(f"unusable public key from the peer: {exc}") from exc


def _parse(data: bytes, what: str) -> HandshakeMessage:
    try:
        return decode(HandshakeMessage, data)
    except DecodeError as exc:
        raise HandshakeError(f"malformed {what}: {exc}") from exc


def _check_key_pair(pair: curve.KeyPair, name: str) -> None:
    if len(pair.private) != _KEY_SIZE or len(pair.public) != _KEY_SIZE:
        raise LocalProtocolError(f"the {name} key pair must be 32-byte keys")


class _Machine:
    """State bookkeeping shared by both roles."""

    def __init__(self, state: HandshakeState, prologue: bytes) -> None:
        self._state = state
        self._symmetric = SymmetricState(prologue)
        self._transport: TransportCipher | None = None

    @property
    def state(self) -> HandshakeState:
        """The current state."""
        return self._state

    @property
    def handshake_hash(self) -> bytes:
        """The handshake hash ``h`` so far (after DONE: of the whole handshake)."""
        return self._symmetric.h

    @property
    def transport(self) -> TransportCipher:
        """The transport cipher; only once the handshake is DONE."""
        if self._transport is None:
            raise LocalProtocolError(f"the handshake is not done (state {self._state.value})")
        return self._transport

    def _expect(self, state: HandshakeState, action: str) -> None:
        if self._state is not state:
            raise LocalProtocolError(f"cannot {action} in state {self._state.value!r}")

    def _fail(self) -> None:
        self._state = HandshakeState.FAILED


class NoiseInitiator(_Machine):
    """The client side: ``client_hello()`` → ``receive_server_hello(data, now=)`` → ``client_finish(payload)``.

    ``static`` is the long-term noise key, ``ephemeral`` a fresh key pair for this connection.
    ``root_public_key`` is the root the server's certificate chain must lead to.
    """

    def __init__(
        self,
        *,
        static: curve.KeyPair,
        ephemeral: curve.KeyPair,
        root_public_key: bytes = WA_ROOT_PUBLIC_KEY,
        prologue: bytes = PROLOGUE,
    ) -> None:
        _check_key_pair(static, "static")
        _check_key_pair(ephemeral, "ephemeral")
        super().__init__(HandshakeState.SEND_CLIENT_HELLO, prologue)
        self._static = static
        self._ephemeral = ephemeral
        self._root = root_public_key
        self._server_ephemeral = b""
        #: The server's static key, once the ServerHello is verified.
        self.server_static: bytes | None = None
        #: The verified leaf certificate, once the ServerHello is verified.
        self.server_certificate: CertificateDetails | None = None

    def client_hello(self) -> bytes:
        """The serialised ClientHello (the first frame's payload)."""
        self._expect(HandshakeState.SEND_CLIENT_HELLO, "send the client hello")
        self._symmetric.mix_hash(self._ephemeral.public)
        message = HandshakeMessage()
        message.client_hello.ephemeral = self._ephemeral.public
        self._state = HandshakeState.AWAIT_SERVER_HELLO
        return bytes(message.SerializeToString())

    def receive_server_hello(self, data: bytes, *, now: int) -> CertificateDetails:
        """Process the ServerHello frame payload; verify the chain at unix time ``now``.

        Returns the verified leaf certificate. Raises ``HandshakeError`` / a ``CertificateError`` subclass.
        """
        self._expect(HandshakeState.AWAIT_SERVER_HELLO, "receive a server hello")
        try:
            leaf = self._receive_server_hello(data, now)
        except HandshakeError:
            self._fail()
            raise
        self.server_certificate = leaf
        self._state = HandshakeState.SEND_CLIENT_FINISH
        return leaf

    def _receive_server_hello(self, data: bytes, now: int) -> CertificateDetails:
        message = _parse(data, "server hello")
        if not message.HasField("server_hello"):
            raise HandshakeError("expected a server hello")
        hello = message.server_hello
        if len(hello.ephemeral) != _KEY_SIZE or not hello.HasField("static") or not hello.HasField("payload"):
            raise HandshakeError("the server hello is missing parts")
        sym = self._symmetric
        sym.mix_hash(hello.ephemeral)
        sym.mix_key(_dh(self._ephemeral.private, hello.ephemeral))
        server_static = sym.decrypt_and_hash(hello.static)
        if len(server_static) != _KEY_SIZE:
            raise HandshakeError(f"the server static key is {len(server_static)} bytes, not 32")
        sym.mix_key(_dh(self._ephemeral.private, server_static))
        chain = sym.decrypt_and_hash(hello.payload)
        leaf = verify_cert_chain(chain, server_static, now=now, root_public_key=self._root)
        self._server_ephemeral = hello.ephemeral
        self.server_static = server_static
        return leaf

    def client_finish(self, payload: bytes) -> bytes:
        """The serialised ClientFinish carrying ``payload`` (serialised ``ClientPayload``); the handshake is DONE."""
        self._expect(HandshakeState.SEND_CLIENT_FINISH, "send the client finish")
        sym = self._symmetric
        message = HandshakeMessage()
        message.client_finish.static = sym.encrypt_and_hash(self._static.public)
        sym.mix_key(_dh(self._static.private, self._server_ephemeral))
        message.client_finish.payload = sym.encrypt_and_hash(payload)
        send_key, receive_key = sym.split()
        self._transport = TransportCipher(send_key, receive_key)
        self._state = HandshakeState.DONE
        return bytes(message.SerializeToString())


class NoiseResponder(_Machine):
    """The server side: ``receive_client_hello(data)`` → ``server_hello()`` → ``receive_client_finish(data)``.

    ``static`` is the server's Noise static key, ``ephemeral`` a fresh key pair for this connection, and
    ``cert_chain`` a serialised ``CertChain`` whose leaf certifies ``static`` (see
    ``certs.build_cert_chain``). After the ClientFinish, :attr:`client_static` and :attr:`client_payload`
    hold what the client sent.
    """

    def __init__(
        self,
        *,
        static: curve.KeyPair,
        ephemeral: curve.KeyPair,
        cert_chain: bytes,
        prologue: bytes = PROLOGUE,
    ) -> None:
        _check_key_pair(static, "static")
        _check_key_pair(ephemeral, "ephemeral")
        super().__init__(HandshakeState.AWAIT_CLIENT_HELLO, prologue)
        self._static = static
        self._ephemeral = ephemeral
        self._chain = cert_chain
        self._shared = (b"", b"")
        #: The client's static (noise) key, after the ClientFinish.
        self.client_static: bytes | None = None
        #: The client's serialised ``ClientPayload``, after the ClientFinish.
        self.client_payload: bytes | None = None

    def receive_client_hello(self, data: bytes) -> None:
        """Process the ClientHello frame payload."""
        self._expect(HandshakeState.AWAIT_CLIENT_HELLO, "receive a client hello")
        try:
            message = _parse(data, "client hello")
            if not message.HasField("client_hello"):
                raise HandshakeError("expected a client hello")
            ephemeral = message.client_hello.ephemeral
            if len(ephemeral) != _KEY_SIZE:
                raise HandshakeError(f"the client ephemeral key is {len(ephemeral)} bytes, not 32")
            # Both secrets the ServerHello needs, computed now so that a bad key fails here.
            self._shared = (
                _dh(self._ephemeral.private, ephemeral),
                _dh(self._static.private, ephemeral),
            )
        except HandshakeError:
            self._fail()
            raise
        self._symmetric.mix_hash(ephemeral)
        self._state = HandshakeState.SEND_SERVER_HELLO

    def server_hello(self) -> bytes:
        """The serialised ServerHello: our ephemeral key, encrypted static key and certificate chain."""
        self._expect(HandshakeState.SEND_SERVER_HELLO, "send the server hello")
        sym = self._symmetric
        shared, static_shared = self._shared
        message = HandshakeMessage()
        hello = message.server_hello
        hello.ephemeral = self._ephemeral.public
        sym.mix_hash(self._ephemeral.public)
        sym.mix_key(shared)
        hello.static = sym.encrypt_and_hash(self._static.public)
        sym.mix_key(static_shared)
        hello.payload = sym.encrypt_and_hash(self._chain)
        self._state = HandshakeState.AWAIT_CLIENT_FINISH
        return bytes(message.SerializeToString())

    def receive_client_finish(self, data: bytes) -> bytes:
        """Process the ClientFinish frame payload; returns the client's ``ClientPayload`` bytes. DONE after."""
        self._expect(HandshakeState.AWAIT_CLIENT_FINISH, "receive a client finish")
        try:
            message = _parse(data, "client finish")
            if not message.HasField("client_finish"):
                raise HandshakeError("expected a client finish")
            finish = message.client_finish
            if not finish.HasField("static") or not finish.HasField("payload"):
                raise HandshakeError("the client finish is missing parts")
            sym = self._symmetric
            client_static = sym.decrypt_and_hash(finish.static)
            if len(client_static) != _KEY_SIZE:
                raise HandshakeError(f"the client static key is {len(client_static)} bytes, not 32")
            sym.mix_key(_dh(self._ephemeral.private, client_static))
            payload = sym.decrypt_and_hash(finish.payload)
        except HandshakeError:
            self._fail()
            raise
        receive_key, send_key = sym.split()
        self._transport = TransportCipher(send_key, receive_key)
        self.client_static = client_static
        self.client_payload = payload
        self._state = HandshakeState.DONE
        return payload
