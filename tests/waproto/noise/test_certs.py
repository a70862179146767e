"""waproto.noise.certs: chains built from a given root, verified with every whatsmeow check."""

from __future__ import annotations

import pytest

from tests.waproto.noise.helpers import NOT_AFTER, NOT_BEFORE, NOW, Keys, chain, keys
from waproto.errors import (
    BadCertificateSignature,
    CertificateError,
    CertificateExpired,
    CertificateKeyMismatch,
    LocalProtocolError,
    WrongIssuerSerial,
)
from waproto.noise.certs import (
    WA_ROOT_PUBLIC_KEY,
    CertificateDetails,
    SignedCertificate,
    encode_cert_chain,
    issue_certificate,
    verify_cert_chain,
)
from waproto.proto import CertChain
from waproto.signal import curve


def _verify(k: Keys, data: bytes, *, now: int = NOW) -> CertificateDetails:
    return verify_cert_chain(data, k.server_static.public, now=now, root_public_key=k.root.public)


def _custom(
    k: Keys,
    *,
    inter: CertificateDetails | None = None,
    leaf: CertificateDetails | None = None,
    inter_signer: bytes | None = None,
    leaf_signer: bytes | None = None,
) -> bytes:
    inter = inter or CertificateDetails(1, 0, k.intermediate.public, NOT_BEFORE, NOT_AFTER)
    leaf = leaf or CertificateDetails(2, 1, k.server_static.public, NOT_BEFORE, NOT_AFTER)
    return encode_cert_chain(
        issue_certificate(leaf_signer or k.intermediate.private, leaf),
        issue_certificate(inter_signer or k.root.private, inter),
    )


def test_default_root_is_whatsapp_production() -> None:
    assert WA_ROOT_PUBLIC_KEY.hex() == "142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b"


def test_built_chain_verifies() -> None:
    k = keys(1)
    leaf = _verify(k, chain(k))
    assert leaf == CertificateDetails(2, 1, k.server_static.public, NOT_BEFORE, NOT_AFTER)
    assert _verify(k, chain(k), now=NOT_BEFORE) == leaf
    assert _verify(k, chain(k), now=NOT_AFTER) == leaf
    parsed = CertChain.FromString(chain(k))
    assert CertificateDetails.decode(parsed.intermediate.details).key == k.intermediate.public


def test_production_root_rejects_a_test_chain() -> None:
    k = keys(1)
    with pytest.raises(BadCertificateSignature):
        verify_cert_chain(chain(k), k.server_static.public, now=NOW)


def test_bad_intermediate_signature() -> None:
    k = keys(2)
    with pytest.raises(BadCertificateSignature, match="intermediate"):
        _verify(k, _custom(k, inter_signer=k.client_static.private))


def test_bad_leaf_signature() -> None:
    k = keys(2)
    with pytest.raises(BadCertificateSignature, match="leaf"):
        _verify(k, _custom(k, leaf_signer=k.root.private))


@pytest.mark.parametrize("which", ["leaf", "intermediate"])
def test_signature_length(which: str) -> None:
    k = keys(3)
    parsed = CertChain.FromString(chain(k))
    getattr(parsed, which).signature = getattr(parsed, which).signature[:63]
    with pytest.raises(BadCertificateSignature, match="not 64"):
        _verify(k, parsed.SerializeToString())


def test_wrong_intermediate_issuer_serial() -> None:
    k = keys(4)
    with pytest.raises(WrongIssuerSerial, match="intermediate"):
        _verify(k, _custom(k, inter=CertificateDetails(1, 7, k.intermediate.public, NOT_BEFORE, NOT_AFTER)))


def test_wrong_leaf_issuer_serial() -> None:
    k = keys(4)
    with pytest.raises(WrongIssuerSerial, match="leaf"):
        _verify(k, _custom(k, leaf=CertificateDetails(2, 9, k.server_static.public, NOT_BEFORE, NOT_AFTER)))


@pytest.mark.parametrize(
    ("now", "inter_window", "leaf_window", "match"),
    [
        (NOT_AFTER + 1, (NOT_BEFORE, NOT_AFTER), (NOT_BEFORE, NOT_AFTER), "intermediate certificate expired"),
        (NOT_BEFORE - 1, (NOT_BEFORE, NOT_AFTER), (NOT_BEFORE, NOT_AFTER), "intermediate certificate is not valid"),
        (NOW, (NOT_BEFORE, NOT_AFTER), (NOT_BEFORE, NOW - 1), "leaf certificate expired"),
        (NOW, (NOT_BEFORE, NOT_AFTER), (NOW + 1, NOT_AFTER), "leaf certificate is not valid"),
    ],
)
def test_validity(now: int, inter_window: tuple[int, int], leaf_window: tuple[int, int], match: str) -> None:
    k = keys(5)
    data = _custom(
        k,
        inter=CertificateDetails(1, 0, k.intermediate.public, *inter_window),
        leaf=CertificateDetails(2, 1, k.server_static.public, *leaf_window),
    )
    with pytest.raises(CertificateExpired, match=match):
        _verify(k, data, now=now)


def test_leaf_key_not_the_server_static_key() -> None:
    k = keys(6)
    with pytest.raises(CertificateKeyMismatch, match="static"):
        verify_cert_chain(chain(k), k.client_static.public, now=NOW, root_public_key=k.root.public)


def test_intermediate_key_length() -> None:
    k = keys(6)
    with pytest.raises(CertificateKeyMismatch, match="intermediate key"):
        _verify(k, _custom(k, inter=CertificateDetails(1, 0, k.intermediate.public[:31], NOT_BEFORE, NOT_AFTER)))


def test_malformed_or_incomplete_chains() -> None:
    k = keys(7)
    with pytest.raises(CertificateError, match="malformed"):
        _verify(k, b"\xff\xff\xff")
    with pytest.raises(CertificateError, match="missing"):
        _verify(k, b"")
    parsed = CertChain.FromString(chain(k))
    parsed.leaf.ClearField("signature")
    with pytest.raises(CertificateError, match="missing"):
        _verify(k, parsed.SerializeToString())
    # details that are not a Details protobuf, but correctly signed
    garbage = b"\x0a\xff"
    data = encode_cert_chain(
        SignedCertificate(b"\x10\x02", b"\x00" * 64),
        SignedCertificate(garbage, issue_certificate(k.root.private, CertificateDetails(1, 0, b"", 0, 0)).signature),
    )
    with pytest.raises(BadCertificateSignature):
        _verify(k, data)
    data = encode_cert_chain(
        SignedCertificate(b"\x10\x02", b"\x00" * 64), SignedCertificate(garbage, curve.sign(k.root.private, garbage))
    )
    with pytest.raises(CertificateError, match="malformed certificate details"):
        _verify(k, data)


def test_details_range_checked() -> None:
    with pytest.raises(LocalProtocolError):
        CertificateDetails(1 << 32, 0, b"", 0, 0).encode()
    with pytest.raises(LocalProtocolError):
        CertificateDetails(0, 0, b"", -1, 0).encode()
