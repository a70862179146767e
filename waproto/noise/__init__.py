"""waproto.noise: WhatsApp's transport security, sans-I/O.

- ``framing``: the intro header and 3-byte length frames (:class:`FrameReader`, :class:`FrameWriter`);
- ``handshake``: Noise_XX_25519_AESGCM_SHA256 with prologue ``WA 06 03``, as the client
  (:class:`NoiseInitiator`) and as a server (:class:`NoiseResponder`);
- ``certs``: the server's certificate chain, built (:func:`build_cert_chain`) and verified
  (:func:`verify_cert_chain`) as whatsmeow does;
- ``transport``: the post-handshake AES-GCM :class:`TransportCipher` with a counter per direction.

A client's flow: ``FrameWriter().frame(initiator.client_hello())`` → feed received bytes to a
``FrameReader()`` → ``initiator.receive_server_hello(frame, now=...)`` → send
``writer.frame(initiator.client_finish(payload_bytes))`` → then ``initiator.transport.encrypt/decrypt``
frame bodies. This package does no I/O, reads no clock and has no randomness of its own; binary nodes
(the transport plaintexts) are ``waproto.binary``'s business.
"""

from __future__ import annotations

from waproto.noise.certs import (
    WA_ROOT_PUBLIC_KEY,
    CertificateDetails,
    SignedCertificate,
    build_cert_chain,
    encode_cert_chain,
    issue_certificate,
    verify_cert_chain,
)
from waproto.noise.framing import INTRO, MAX_FRAME_SIZE, FrameReader, FrameWriter, encode_frame, routing_intro
from waproto.noise.handshake import PROLOGUE, HandshakeState, NoiseInitiator, NoiseResponder
from waproto.noise.transport import TransportCipher

__all__ = [
    "INTRO",
    "MAX_FRAME_SIZE",
    "PROLOGUE",
    "WA_ROOT_PUBLIC_KEY",
    "CertificateDetails",
    "FrameReader",
    "FrameWriter",
    "HandshakeState",
    "NoiseInitiator",
    "NoiseResponder",
    "SignedCertificate",
    "TransportCipher",
    "build_cert_chain",
    "encode_cert_chain",
    "encode_frame",
    "issue_certificate",
    "routing_intro",
    "verify_cert_chain",
]
