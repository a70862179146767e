"""waproto.sandbox.media.certs: the CA and server certificate, checked with the stdlib ``ssl`` module.

TLS handshakes here run over memory BIOs (no sockets): a client context that loads only ``ca.pem`` must
accept the server certificate for every configured host, refuse it for any other name, and refuse anything
the CA signs outside its name constraints.
"""

from __future__ import annotations

import datetime as dt
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from waproto.errors import LocalProtocolError
from waproto.sandbox.media.certs import CA_VALIDITY, DEFAULT_HOSTS, TLSFiles, ensure_tls_files

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def handshake(cert_file: Path, key_file: Path, ca_file: Path | None, server_hostname: str) -> None:
    """A full TLS handshake in memory; raises ssl.SSLError (e.g. SSLCertVerificationError) on refusal."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_file, key_file)
    client_ctx = ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    if ca_file is None:
        client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no trust at all
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, side in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            s_in.write(c_out.read())
            c_in.write(s_out.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_files_are_made_and_the_ca_vouches_for_every_default_host(tmp_path: Path) -> None:
    files = ensure_tls_files(tmp_path / "tls", now=NOW)
    assert files.ca_file == tmp_path / "tls" / "ca.pem"
    assert files.hosts == DEFAULT_HOSTS
    for host in DEFAULT_HOSTS:
        handshake(files.cert_file, files.key_file, files.ca_file, host)
    assert load(files.cert_file).issuer == load(files.ca_file).subject


def test_without_the_ca_or_for_another_name_the_server_is_refused(tmp_path: Path) -> None:
    files = ensure_tls_files(tmp_path, now=NOW)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(files.cert_file, files.key_file, None, "127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(files.cert_file, files.key_file, files.ca_file, "example.org")


def test_private_keys_are_owner_only(tmp_path: Path) -> None:
    files = ensure_tls_files(tmp_path, now=NOW)
    for path in (files.key_file, tmp_path / "ca-key.pem"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.ca_file.stat().st_mode) == 0o644


def test_extra_hosts_are_in_the_certificate(tmp_path: Path) -> None:
    files = ensure_tls_files(tmp_path, ["mmg.whatsapp.net", "10.1.2.3"], now=NOW)
    assert files.hosts == (*DEFAULT_HOSTS, "mmg.whatsapp.net", "10.1.2.3")
    handshake(files.cert_file, files.key_file, files.ca_file, "mmg.whatsapp.net")
    handshake(files.cert_file, files.key_file, files.ca_file, "10.1.2.3")


def test_a_restart_reuses_the_ca_and_the_certificate(tmp_path: Path) -> None:
    first = ensure_tls_files(tmp_path, ["mmg.whatsapp.net"], now=NOW)
    ca, cert, key = first.ca_file.read_bytes(), first.cert_file.read_bytes(), first.key_file.read_bytes()
    again = ensure_tls_files(tmp_path, ["mmg.whatsapp.net"], now=NOW + dt.timedelta(days=30))
    assert again == first
    assert (again.ca_file.read_bytes(), again.cert_file.read_bytes(), again.key_file.read_bytes()) == (
        ca,
        cert,
        key,
    )


def test_new_hosts_within_the_constraints_reissue_only_the_certificate(tmp_path: Path) -> None:
    first = ensure_tls_files(tmp_path, ["mmg.whatsapp.net"], now=NOW)
    ca, cert = first.ca_file.read_bytes(), first.cert_file.read_bytes()
    second = ensure_tls_files(tmp_path, ["127.0.0.2"], now=NOW)  # loopback is always permitted
    assert second.ca_file.read_bytes() == ca
    assert second.cert_file.read_bytes() != cert
    handshake(second.cert_file, second.key_file, second.ca_file, "127.0.0.2")


def test_a_host_outside_the_constraints_is_refused_and_names_the_files(tmp_path: Path) -> None:
    ensure_tls_files(tmp_path, now=NOW)
    with pytest.raises(LocalProtocolError, match=r"mmg\.whatsapp\.net.*delete ca\.pem and ca-key\.pem"):
        ensure_tls_files(tmp_path, ["mmg.whatsapp.net"], now=NOW)


def test_the_ca_cannot_vouch_for_names_outside_its_constraints(tmp_path: Path) -> None:
    """Even with the CA's key, a certificate for another name is refused by OpenSSL (name constraints)."""
    files = ensure_tls_files(tmp_path, now=NOW)
    ca = load(files.ca_file)
    ca_key = serialization.load_pem_private_key((tmp_path / "ca-key.pem").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    rogue = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.org")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("example.org")]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "rogue.pem", tmp_path / "rogue-key.pem"
    cert_file.write_bytes(rogue.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ssl.SSLCertVerificationError, match=r"(?i)name constraint|permitted"):
        handshake(cert_file, key_file, files.ca_file, "example.org")


def test_an_expiring_certificate_is_reissued_and_an_expired_ca_replaced(tmp_path: Path) -> None:
    first = ensure_tls_files(tmp_path, now=NOW)
    ca, cert = first.ca_file.read_bytes(), first.cert_file.read_bytes()
    later = ensure_tls_files(tmp_path, now=NOW + dt.timedelta(days=400))
    assert later.ca_file.read_bytes() == ca
    assert later.cert_file.read_bytes() != cert
    assert load(later.cert_file).not_valid_after_utc > NOW + dt.timedelta(days=400)
    much_later = ensure_tls_files(tmp_path, now=NOW + CA_VALIDITY)
    assert much_later.ca_file.read_bytes() != ca
    assert load(much_later.cert_file).issuer == load(much_later.ca_file).subject


def test_a_certificate_not_issued_by_the_ca_is_replaced(tmp_path: Path) -> None:
    first = ensure_tls_files(tmp_path, now=NOW)
    other = ensure_tls_files(tmp_path / "other", now=NOW)
    first.cert_file.write_bytes(other.cert_file.read_bytes())
    first.key_file.write_bytes(other.key_file.read_bytes())
    fixed = ensure_tls_files(tmp_path, now=NOW)
    assert load(fixed.cert_file).issuer == load(fixed.ca_file).subject
    load(fixed.cert_file).verify_directly_issued_by(load(fixed.ca_file))


@pytest.mark.parametrize("damage", ["garbage", "wrong key"])
def test_a_damaged_ca_is_refused_not_silently_replaced(tmp_path: Path, damage: str) -> None:
    ensure_tls_files(tmp_path, now=NOW)
    if damage == "garbage":
        (tmp_path / "ca.pem").write_bytes(b"not a certificate")
    else:
        other = ec.generate_private_key(ec.SECP256R1())
        (tmp_path / "ca-key.pem").write_bytes(
            other.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    with pytest.raises(LocalProtocolError, match="delete"):
        ensure_tls_files(tmp_path, now=NOW)


@pytest.mark.parametrize("host", ["", "a b", "http://x", "x/y", "-bad.example", "user@host", "a" * 300])
def test_malformed_hosts_are_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(LocalProtocolError, match="not a host"):
        ensure_tls_files(tmp_path, [host], now=NOW)


def test_bracketed_ipv6_and_case_are_normalised(tmp_path: Path) -> None:
    files = ensure_tls_files(tmp_path, ["[::1]", "LocalHost", "Sandbox.Example"], now=NOW)
    assert files.hosts == (*DEFAULT_HOSTS, "sandbox.example")
    assert isinstance(files, TLSFiles)
