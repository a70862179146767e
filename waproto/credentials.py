"""What a linked companion device keeps between connections: its :class:`Credentials`.

A new device draws, once (PROTOCOL.md §4.1): a Noise static key pair (how the server recognises it), a
Signal identity key pair, a signed prekey (id 1) signed by that identity, a 14-bit registration id and a
32-byte adv secret (which authenticates the phone's pair-success; the pairing-code flow replaces it with a
derived one). Pairing adds (§4.3): ``me`` (our phone-number device JID), our ``lid``, the ``account``
(the complete ``ADVSignedDeviceIdentity`` with the primary's account key and our device signature), the
primary's ``platform`` and its business name. The next one-time prekey id to generate is kept too.

:meth:`Credentials.generate` takes the random source as an argument; :meth:`Credentials.to_dict` /
:meth:`Credentials.from_dict` turn credentials into a JSON-able dict (bytes as hex) and back, checking
every field (``LocalProtocolError`` naming the key for a dict that is not credentials). Credentials are
immutable: the methods that change them (:meth:`Credentials.paired`, ...) return new ones. ``repr``
never shows a private key or the adv secret.

:class:`CredentialStore` is the Protocol a client saves them through (waporta implements it on SQLite).
This module is not the Signal key stores (``waproto.signal.store``) and does no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from waproto import proto
from waproto.errors import DecodeError, LocalProtocolError
from waproto.jid import DEFAULT_USER_SERVER, HIDDEN_USER_SERVER, JID
from waproto.pairing import PairedDevice
from waproto.proto import ADVSignedDeviceIdentity
from waproto.signal import curve
from waproto.signal.curve import KeyPair
from waproto.signal.keys import (
    MAX_PRE_KEY_ID,
    SignedPreKeyRecord,
    generate_identity_key_pair,
    generate_registration_id,
    generate_signed_pre_key,
)

__all__ = ["CREDENTIALS_FORMAT", "CredentialStore", "Credentials"]

#: The ``format`` number :meth:`Credentials.to_dict` writes and :meth:`Credentials.from_dict` requires.
CREDENTIALS_FORMAT: Final = 1

_ADV_SECRET_LENGTH: Final = 32


@dataclass(frozen=True, slots=True)
class Credentials:
    """Everything a companion device keeps. See the module docstring; make new ones with :meth:`generate`."""

    #: The Noise static key pair (the server knows a linked device by its public half).
    noise_key: KeyPair
    #: The Signal identity key pair.
    identity_key: KeyPair
    #: The signed prekey registered at pairing (and uploaded with every prekey upload).
    signed_pre_key: SignedPreKeyRecord
    #: The Signal registration id, 1..16383.
    registration_id: int
    #: 32 bytes the QR carries; the primary authenticates pair-success with it.
    adv_secret: bytes = field(repr=False)
    #: The id the next generated one-time prekey gets (1..2**24-1).
    next_pre_key_id: int = 1
    #: Our phone-number device JID once paired (``15550001111:7@s.whatsapp.net``).
    me: JID | None = None
    #: Our LID device JID, once known (pair-success or ``<success lid>``).
    lid: JID | None = None
    #: The serialised ``ADVSignedDeviceIdentity`` (with account key and our device signature), once paired.
    account: bytes | None = field(default=None, repr=False)
    #: The primary's platform name from pair-success (``android``, ``iphone``, ``smba``, ...).
    platform: str | None = None
    #: The business name from pair-success, for business accounts.
    business_name: str | None = None
    #: The name peers see in notifications (``pushName`` of the login payload); may be empty.
    push_name: str = ""

    def __post_init__(self) -> None:
        for name in ("noise_key", "identity_key"):
            if not isinstance(getattr(self, name), KeyPair):
                raise LocalProtocolError(f"credentials {name} must be a KeyPair")
        if not isinstance(self.signed_pre_key, SignedPreKeyRecord):
            raise LocalProtocolError("credentials signed_pre_key must be a SignedPreKeyRecord")
        if not isinstance(self.registration_id, int) or not 1 <= self.registration_id <= 0x3FFF:
            raise LocalProtocolError("credentials registration_id must be in 1..16383")
        if not isinstance(self.adv_secret, bytes) or len(self.adv_secret) != _ADV_SECRET_LENGTH:
            raise LocalProtocolError("credentials adv_secret must be 32 bytes")
        if not isinstance(self.next_pre_key_id, int) or not 1 <= self.next_pre_key_id <= MAX_PRE_KEY_ID:
            raise LocalProtocolError(f"credentials next_pre_key_id must be in 1..{MAX_PRE_KEY_ID}")
        if self.me is not None and (self.me.server != DEFAULT_USER_SERVER or not self.me.user.isdigit()):
            raise LocalProtocolError(f"credentials me must be a phone-number device JID, not {self.me}")
        if self.lid is not None and self.lid.server != HIDDEN_USER_SERVER:
            raise LocalProtocolError(f"credentials lid must be a @lid JID, not {self.lid}")
        if self.account is not None:
            try:
                proto.decode(ADVSignedDeviceIdentity, self.account)
            except DecodeError as exc:
                raise LocalProtocolError("credentials account is not a serialised ADVSignedDeviceIdentity") from exc
        if not isinstance(self.push_name, str):
            raise LocalProtocolError("credentials push_name must be a string")

    # ----------------------------------------------------------------- making and changing

    @classmethod
    def generate(cls, rng: Callable[[int], bytes], *, push_name: str = "", timestamp: int = 0) -> Credentials:
        """Fresh credentials of an unpaired device, every key drawn from ``rng`` (``secrets.token_bytes``).

        ``timestamp`` (unix seconds, from the caller) is recorded in the signed prekey.
        """
        noise_key = curve.generate_key_pair(rng)
        identity_key = generate_identity_key_pair(rng)
        signed_pre_key = generate_signed_pre_key(identity_key, 1, rng, timestamp=timestamp)
        registration_id = generate_registration_id(rng)
        adv_secret = rng(_ADV_SECRET_LENGTH)
        return cls(
            noise_key=noise_key,
            identity_key=identity_key,
            signed_pre_key=signed_pre_key,
            registration_id=registration_id,
            adv_secret=adv_secret,
            push_name=push_name,
        )

    @property
    def is_paired(self) -> bool:
        """Whether this device has been linked (it then logs in instead of registering)."""
        return self.me is not None and self.account is not None

    @property
    def account_identity(self) -> ADVSignedDeviceIdentity | None:
        """The parsed ``account``, or None before pairing."""
        return None if self.account is None else proto.decode(ADVSignedDeviceIdentity, self.account)

    def paired(self, device: PairedDevice) -> Credentials:
        """These credentials after a verified pair-success (``waproto.pairing.complete_pairing``)."""
        if device.jid.server != DEFAULT_USER_SERVER or not device.jid.user.isdigit():
            raise LocalProtocolError(f"pair-success named {device.jid}, not a phone-number device JID")
        return dataclasses.replace(
            self,
            me=device.jid,
            lid=device.lid if device.lid is not None else self.lid,
            account=bytes(device.account.SerializeToString()),
            platform=device.platform,
            business_name=device.business_name,
        )

    def with_adv_secret(self, adv_secret: bytes) -> Credentials:
        """These credentials with the adv secret a pairing-code exchange derived."""
        return dataclasses.replace(self, adv_secret=bytes(adv_secret))

    def with_lid(self, lid: JID) -> Credentials:
        """These credentials with our LID (from ``<success lid>``)."""
        return dataclasses.replace(self, lid=lid)

    def with_next_pre_key_id(self, next_pre_key_id: int) -> Credentials:
        """These credentials after prekeys up to ``next_pre_key_id - 1`` were generated (wraps to 1)."""
        if next_pre_key_id > MAX_PRE_KEY_ID:
            next_pre_key_id = (next_pre_key_id - 1) % MAX_PRE_KEY_ID + 1
        return dataclasses.replace(self, next_pre_key_id=next_pre_key_id)

    # ----------------------------------------------------------------- JSON

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (bytes as lowercase hex, JIDs as strings) that :meth:`from_dict` reads back.

        It holds private keys: whoever stores it must protect it (waporta keeps it in its 0600 database).
        """
        return {
            "format": CREDENTIALS_FORMAT,
            "noise_private": self.noise_key.private.hex(),
            "identity_private": self.identity_key.private.hex(),
            "signed_pre_key": self.signed_pre_key.serialize().hex(),
            "registration_id": self.registration_id,
            "adv_secret": self.adv_secret.hex(),
            "next_pre_key_id": self.next_pre_key_id,
            "me": None if self.me is None else str(self.me),
            "lid": None if self.lid is None else str(self.lid),
            "account": None if self.account is None else self.account.hex(),
            "platform": self.platform,
            "business_name": self.business_name,
            "push_name": self.push_name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Credentials:
        """Credentials from :meth:`to_dict`'s dict; ``LocalProtocolError`` naming the bad key otherwise."""
        if not isinstance(data, Mapping):
            raise LocalProtocolError(f"credentials must be a mapping, not {type(data).__name__}")
        if data.get("format") != CREDENTIALS_FORMAT:
            raise LocalProtocolError(f"credentials format {data.get('format')!r} is not {CREDENTIALS_FORMAT}")
        identity_key = KeyPair.from_private(_hex(data, "identity_private", 32))
        try:
            signed_pre_key = SignedPreKeyRecord.deserialize(_hex(data, "signed_pre_key", None))
        except DecodeError as exc:
            raise LocalProtocolError("credentials 'signed_pre_key' is not a serialised signed prekey") from exc
        if not signed_pre_key.verify(identity_key.public):
            raise LocalProtocolError("credentials 'signed_pre_key' is not signed by the identity key")
        account = data.get("account")
        return cls(
            noise_key=KeyPair.from_private(_hex(data, "noise_private", 32)),
            identity_key=identity_key,
            signed_pre_key=signed_pre_key,
            registration_id=_int(data, "registration_id"),
            adv_secret=_hex(data, "adv_secret", _ADV_SECRET_LENGTH),
            next_pre_key_id=_int(data, "next_pre_key_id"),
            me=_jid(data, "me"),
            lid=_jid(data, "lid"),
            account=None if account is None else _hex(data, "account", None),
            platform=_optional_str(data, "platform"),
            business_name=_optional_str(data, "business_name"),
            push_name=_optional_str(data, "push_name") or "",
        )


def _hex(data: Mapping[str, Any], key: str, length: int | None) -> bytes:
    value = data.get(key)
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None or (length is not None and len(raw) != length):
        size = "hex" if length is None else f"{length} bytes of hex"
        raise LocalProtocolError(f"credentials {key!r} must be {size}")
    return raw


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise LocalProtocolError(f"credentials {key!r} must be an integer")
    return value


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise LocalProtocolError(f"credentials {key!r} must be a string or null")
    return value


def _jid(data: Mapping[str, Any], key: str) -> JID | None:
    value = _optional_str(data, key)
    if value is None:
        return None
    try:
        return JID.parse(value)
    except LocalProtocolError as exc:
        raise LocalProtocolError(f"credentials {key!r} is not a JID") from exc


class CredentialStore(Protocol):
    """Where a client keeps its credentials (the hub implements it on SQLite; tests in memory)."""

    async def save_credentials(self, credentials: Credentials) -> None:
        """Durably replace the stored credentials (committed before this returns)."""
        ...

    async def delete_credentials(self) -> None:
        """Forget the credentials (the device was logged out: they are worthless now)."""
        ...
