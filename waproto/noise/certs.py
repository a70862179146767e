"""The server's Noise certificate chain: building one (responder) and verifying one (initiator).

In its ServerHello the server sends, encrypted, a ``CertChain`` of two certificates. Each certificate is
serialised ``Details`` (serial, issuer serial, a Curve25519 key, a validity window in unix seconds) and
the issuer's XEdDSA signature over those exact bytes:

- the **intermediate** is issued by the root (issuer serial 0) and certifies the intermediate key;
- the **leaf** is issued by the intermediate (its issuer serial is the intermediate's serial) and
  certifies the server's Noise static key.

:func:`verify_cert_chain` makes every check whatsmeow makes, in the same order, each failure raising its
own :class:`~waproto.errors.CertificateError` subclass. The root key defaults to WhatsApp's production
root; the clock is always a parameter (this module never reads one). :func:`build_cert_chain` makes a
chain from a root private key it is given, for a sandbox server or tests.

This module is not the handshake (``handshake`` calls it) and holds no keys of its own beyond WhatsApp's
public root key.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from waproto.errors import (
    BadCertificateSignature,
    CertificateError,
    CertificateExpired,
    CertificateKeyMismatch,
    DecodeError,
    LocalProtocolError,
    WrongIssuerSerial,
)
from waproto.proto import CertChain, decode
from waproto.signal import curve

__all__ = [
    "ROOT_SERIAL",
    "WA_ROOT_PUBLIC_KEY",
    "CertificateDetails",
    "SignedCertificate",
    "build_cert_chain",
    "encode_cert_chain",
    "issue_certificate",
    "verify_cert_chain",
]

#: WhatsApp's production root key ("WhatsAppLongTerm1"), a 32-byte Curve25519 public key.
WA_ROOT_PUBLIC_KEY = bytes.fromhex("142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b")
#: The serial of the root: the intermediate's issuer serial must be this.
ROOT_SERIAL = 0

_UINT32 = 1 << 32
_UINT64 = 1 << 64


@dataclass(frozen=True, slots=True)
class CertificateDetails:
    """The signed content of one Noise certificate."""

    serial: int
    issuer_serial: int
    #: The certified Curve25519 public key (32 bytes in a valid chain).
    key: bytes
    #: Unix seconds.
    not_before: int
    #: Unix seconds.
    not_after: int

    def encode(self) -> bytes:
        """The serialised ``CertChain.NoiseCertificate.Details``, the bytes the issuer signs."""
        if not (0 <= self.serial < _UINT32 and 0 <= self.issuer_serial < _UINT32):
            raise LocalProtocolError("certificate serials are uint32")
        if not (0 <= self.not_before < _UINT64 and 0 <= self.not_after < _UINT64):
            raise LocalProtocolError("certificate validity bounds are uint64 unix seconds")
        details = CertChain.NoiseCertificate.Details(
            serial=self.serial,
            issuer_serial=self.issuer_serial,
            key=self.key,
            not_before=self.not_before,
            not_after=self.not_after,
        )
        return bytes(details.SerializeToString())

    @classmethod
    def decode(cls, data: bytes) -> CertificateDetails:
        """Parse serialised details; ``CertificateError`` if they are malformed."""
        try:
            details = decode(CertChain.NoiseCertificate.Details, data)
        except DecodeError as exc:
            raise CertificateError(f"malformed certificate details: {exc}") from exc
        return cls(
            serial=details.serial,
            issuer_serial=details.issuer_serial,
            key=details.key,
            not_before=details.not_before,
            not_after=details.not_after,
        )

    def check_validity(self, now: int, *, which: str) -> None:
        """``CertificateExpired`` unless ``not_before <= now <= not_after``."""
        if now < self.not_before:
            raise CertificateExpired(f"{which} certificate is not valid before {self.not_before} (now {now})")
        if now > self.not_after:
            raise CertificateExpired(f"{which} certificate expired at {self.not_after} (now {now})")


@dataclass(frozen=True, slots=True)
class SignedCertificate:
    """Serialised details and the issuer's 64-byte signature over them."""

    details: bytes
    signature: bytes


def issue_certificate(issuer_private: bytes, details: CertificateDetails) -> SignedCertificate:
    """Serialise ``details`` and sign them with the issuer's Curve25519 private key."""
    encoded = details.encode()
    return SignedCertificate(encoded, curve.sign(issuer_private, encoded))


def encode_cert_chain(leaf: SignedCertificate, intermediate: SignedCertificate) -> bytes:
    """The serialised ``CertChain`` a server encrypts into its ServerHello."""
    chain = CertChain()
    chain.leaf.details = leaf.details
    chain.leaf.signature = leaf.signature
    chain.intermediate.details = intermediate.details
    chain.intermediate.signature = intermediate.signature
    return bytes(chain.SerializeToString())


def build_cert_chain(
    *,
    root_private: bytes,
    intermediate: curve.KeyPair,
    server_static: bytes,
    not_before: int,
    not_after: int,
    intermediate_serial: int = 1,
    leaf_serial: int = 2,
) -> bytes:
    """A valid chain: root → ``intermediate`` → ``server_static``, both valid over the same window.

    The result verifies with :func:`verify_cert_chain` against ``curve.public_key(root_private)``.
    """
    inter = issue_certificate(
        root_private,
        CertificateDetails(intermediate_serial, ROOT_SERIAL, intermediate.public, not_before, not_after),
    )
    leaf = issue_certificate(
        intermediate.private,
        CertificateDetails(leaf_serial, intermediate_serial, server_static, not_before, not_after),
    )
    return encode_cert_chain(leaf, inter)


def verify_cert_chain(
    data: bytes,
    server_static: bytes,
    *,
    now: int,
    root_public_key: bytes = WA_ROOT_PUBLIC_KEY,
) -> CertificateDetails:
    """Check a serialised ``CertChain`` for ``server_static`` at unix time ``now``; return the leaf details.

    The checks, in whatsmeow's order: all four parts present; both signatures 64 bytes; the intermediate
    signed by the root; its issuer serial is the root's (0); its key is 32 bytes; the leaf signed by that
    key; the intermediate valid at ``now``; the leaf's issuer serial is the intermediate's serial; the leaf
    key is the server's static key; the leaf valid at ``now``.

    Raises ``BadCertificateSignature``, ``WrongIssuerSerial``, ``CertificateKeyMismatch``,
    ``CertificateExpired``, or plain ``CertificateError`` for a malformed or incomplete chain.
    """
    try:
        chain = decode(CertChain, data)
    except DecodeError as exc:
        raise CertificateError(f"malformed certificate chain: {exc}") from exc
    parts = (
        chain.intermediate.HasField("details"),
        chain.intermediate.HasField("signature"),
        chain.leaf.HasField("details"),
        chain.leaf.HasField("signature"),
    )
    if not all(parts):
        raise CertificateError("the certificate chain is missing parts")
    inter_raw, inter_sig = chain.intermediate.details, chain.intermediate.signature
    leaf_raw, leaf_sig = chain.leaf.details, chain.leaf.signature
    if len(inter_sig) != 64:
        raise BadCertificateSignature(f"intermediate signature is {len(inter_sig)} bytes, not 64")
    if len(leaf_sig) != 64:
        raise BadCertificateSignature(f"leaf signature is {len(leaf_sig)} bytes, not 64")
    if not curve.verify(root_public_key, inter_raw, inter_sig):
        raise BadCertificateSignature("the intermediate certificate is not signed by the root key")
    inter = CertificateDetails.decode(inter_raw)
    if inter.issuer_serial != ROOT_SERIAL:
        raise WrongIssuerSerial(f"intermediate issuer serial is {inter.issuer_serial}, not {ROOT_SERIAL}")
    if len(inter.key) != 32:
        raise CertificateKeyMismatch(f"intermediate key is {len(inter.key)} bytes, not 32")
    if not curve.verify(inter.key, leaf_raw, leaf_sig):
        raise BadCertificateSignature("the leaf certificate is not signed by the intermediate key")
    inter.check_validity(now, which="intermediate")
    leaf = CertificateDetails.decode(leaf_raw)
    if leaf.issuer_serial != inter.serial:
        raise WrongIssuerSerial(f"leaf issuer serial is {leaf.issuer_serial}, not {inter.serial}")
    if not hmac.compare_digest(leaf.key, server_static):
        raise CertificateKeyMismatch("the leaf certificate's key is not the server's static key")
    leaf.check_validity(now, which="leaf")
    return leaf
