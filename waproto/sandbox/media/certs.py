"""The sandbox media server's TLS material: a private CA and a server certificate, made with ``cryptography``.

WhatsApp clients build ``https://<host>/…`` URLs from the media hosts they are given, so the sandbox must
serve media over TLS, and clients must be told to trust it. :func:`ensure_tls_files` keeps four PEM files
in a directory (the sandbox's state directory, or a temporary one)::

    ca.pem          the CA certificate: what clients trust (NODE_EXTRA_CA_CERTS for Node, cafile for ssl)
    ca-key.pem      the CA's private key (mode 0600)
    server.pem      the server certificate, issued by the CA for the given hosts
    server-key.pem  its private key (mode 0600)

On a restart the CA is reused as long as it loads, is a CA and is valid for at least another day, so a client
that trusts ``ca.pem`` keeps trusting the sandbox; the server certificate is reissued when its host names
changed or it is about to expire. The CA carries **name constraints**: it can only vouch for loopback
addresses, ``localhost`` and the host names it was created with, so a ``ca.pem`` trusted too widely (an
exported NODE_EXTRA_CA_CERTS) cannot be used to impersonate anything else even if its key leaks. Asking for a
host the existing CA does not cover is refused with a :class:`~waproto.errors.LocalProtocolError` saying
which file to delete.

Keys are ECDSA P-256 (fast, accepted by OpenSSL and Node). This module is NOT a general PKI: no revocation,
no intermediates, no key rotation policy beyond "reissue the leaf when needed"; and it does no networking.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from waproto.errors import LocalProtocolError

__all__ = [
    "CA_VALIDITY",
    "DEFAULT_HOSTS",
    "SERVER_VALIDITY",
    "TLSFiles",
    "ensure_tls_files",
]

#: The names a sandbox on this machine is reached by; always in the certificate and the CA's constraints.
DEFAULT_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
#: How long a new CA is valid.
CA_VALIDITY = dt.timedelta(days=3650)
#: How long a new server certificate is valid.
SERVER_VALIDITY = dt.timedelta(days=397)
_MARGIN = dt.timedelta(days=1)
_DNS_NAME = re.compile(
    r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)
_LOOPBACK_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """Where the TLS material lives; ``ca_file`` is what clients must trust."""

    #: PEM of the CA certificate (NODE_EXTRA_CA_CERTS / ``ssl.create_default_context(cafile=...)``).
    ca_file: Path
    #: PEM of the server certificate (hypercorn's ``certfile``).
    cert_file: Path
    #: PEM of the server's private key (hypercorn's ``keyfile``).
    key_file: Path
    #: The host names and addresses the server certificate is valid for.
    hosts: tuple[str, ...]


# ---------------------------------------------------------------------------------------------- names


def _normalise_hosts(hosts: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for raw in (*DEFAULT_HOSTS, *hosts):
        host = raw.strip().lower()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if _as_ip(host) is None and not _DNS_NAME.fullmatch(host):
            raise LocalProtocolError(f"not a host name or address: {raw!r}")
        if host not in out:
            out.append(host)
    return tuple(out)


def _as_ip(host: str) -> _IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        ip = _as_ip(host)
        names.append(x509.IPAddress(ip) if ip is not None else x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _constraints(hosts: Sequence[str]) -> x509.NameConstraints:
    permitted: list[x509.GeneralName] = [x509.IPAddress(net) for net in _LOOPBACK_NETWORKS]
    for host in hosts:
        ip = _as_ip(host)
        if ip is None:
            permitted.append(x509.DNSName(host))
        elif not any(ip in net for net in _LOOPBACK_NETWORKS):
            permitted.append(x509.IPAddress(ipaddress.ip_network(ip)))
    return x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None)


def _permits(constraints: x509.NameConstraints, host: str) -> bool:
    ip = _as_ip(host)
    for name in constraints.permitted_subtrees or ():
        if ip is not None and isinstance(name, x509.IPAddress):
            network = name.value
            if isinstance(network, ipaddress.IPv4Network | ipaddress.IPv6Network) and ip in network:
                return True
        if ip is None and isinstance(name, x509.DNSName):
            value = name.value.lower()
            if host == value or host.endswith("." + value.lstrip(".")):
                return True
    return False


# ---------------------------------------------------------------------------------------------- files


def _write(path: Path, data: bytes, *, secret: bool) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _key_pem(key: _PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_ca(
    cert_path: Path, key_path: Path, now: dt.datetime
) -> tuple[x509.Certificate, _PrivateKey] | None:
    """The stored CA if both files load, match, form a CA and stay valid a while longer; else None."""
    if not cert_path.exists() and not key_path.exists():
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound) as exc:
        raise LocalProtocolError(
            f"the media CA in {cert_path.parent} cannot be loaded ({exc}); delete {cert_path.name} and "
            f"{key_path.name} to make a new one (clients must then trust the new {cert_path.name})"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise LocalProtocolError(f"{key_path} is not the key of {cert_path}; delete both to make a new CA")
    if not basic.ca or cert.not_valid_after_utc < now + _MARGIN:
        return None  # expired or not a CA: make a new one
    return cert, key


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "waproto sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _new_ca(hosts: Sequence[str], now: dt.datetime) -> tuple[x509.Certificate, _PrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("waproto sandbox media CA")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(_constraints(hosts), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf_is_usable(
    cert_path: Path, key_path: Path, ca: x509.Certificate, hosts: Sequence[str], now: dt.datetime
) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        cert.verify_directly_issued_by(ca)
    except (OSError, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        return False
    return san == _san(hosts) and cert.not_valid_after_utc >= now + _MARGIN


def _new_leaf(
    ca: x509.Certificate, ca_key: _PrivateKey, hosts: Sequence[str], now: dt.datetime
) -> tuple[x509.Certificate, _PrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    not_after = min(now + SERVER_VALIDITY, ca.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


# ---------------------------------------------------------------------------------------------- entry point


def ensure_tls_files(
    directory: Path | str, hosts: Iterable[str] = (), *, now: dt.datetime | None = None
) -> TLSFiles:
    """Make (or reuse) the CA and a server certificate for ``hosts`` under ``directory``.

    ``hosts`` are extra DNS names or IP addresses besides :data:`DEFAULT_HOSTS` (for instance
    ``"mmg.whatsapp.net"``, the host Baileys 6 always downloads from). ``now`` defaults to the wall clock.
    Raises :class:`~waproto.errors.LocalProtocolError` for a malformed host, unreadable CA files, or a host the
    existing CA's name constraints do not cover.
    """
    when = now if now is not None else dt.datetime.now(dt.UTC)
    names = _normalise_hosts(hosts)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    files = TLSFiles(
        ca_file=folder / "ca.pem",
        cert_file=folder / "server.pem",
        key_file=folder / "server-key.pem",
        hosts=names,
    )
    ca_key_file = folder / "ca-key.pem"

    loaded = _load_ca(files.ca_file, ca_key_file, when)
    if loaded is None:
        ca, ca_key = _new_ca(names, when)
        _write(ca_key_file, _key_pem(ca_key), secret=True)
        _write(files.ca_file, ca.public_bytes(serialization.Encoding.PEM), secret=False)
    else:
        ca, ca_key = loaded
        try:
            constraints = ca.extensions.get_extension_for_class(x509.NameConstraints).value
        except x509.ExtensionNotFound:
            constraints = None  # an unconstrained CA someone put there: it vouches for anything
        refused = [host for host in names if constraints is not None and not _permits(constraints, host)]
        if refused:
            raise LocalProtocolError(
                f"the media CA in {folder} was made for other hosts and cannot vouch for {', '.join(refused)}; "
                f"delete {files.ca_file.name} and {ca_key_file.name} to make a new one "
                f"(clients must then trust the new {files.ca_file.name})"
            )

    if not _leaf_is_usable(files.cert_file, files.key_file, ca, names, when):
        leaf, leaf_key = _new_leaf(ca, ca_key, names, when)
        _write(files.key_file, _key_pem(leaf_key), secret=True)
        _write(files.cert_file, leaf.public_bytes(serialization.Encoding.PEM), secret=False)
    return files
