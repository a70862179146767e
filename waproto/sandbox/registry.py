"""What the sandbox's messaging logic needs to know about the simulated network: the registry.

The usync answers (``waproto.sandbox.usync``), the message router (``waproto.sandbox.routing``) and the
simulated phones (``waproto.sandbox.phone``) read accounts, devices, published Signal keys and groups
through the :class:`Registry` Protocol, and nothing else. The server's state implements it (or adapts
to it); :class:`MemoryRegistry` is a plain in-memory implementation for tests and small tools.

Facts it models (PROTOCOL.md §5.3, §6.1, §8): an account has a phone number and a LID; its devices are
0 (the phone) and 1..n (linked companions); each device publishes a registration id, an identity key, a
signed prekey and one-time prekeys, and **a one-time prekey is handed out once** (the server deletes it
when it serves a bundle). A group has an id, a subject, a creator and participants (accounts).

This module is NOT the server's persistent state, does no I/O and knows nothing of connections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from waproto.errors import LocalProtocolError
from waproto.jid import DEFAULT_USER_SERVER, GROUP_SERVER, HIDDEN_USER_SERVER, JID
from waproto.signal.keys import PreKeyBundle

__all__ = [
    "Account",
    "DeviceKeys",
    "Group",
    "MemoryRegistry",
    "OneTimePreKey",
    "Registry",
    "SignedPreKey",
    "account_of",
    "device_jids",
    "take_bundle",
]


@dataclass(frozen=True, slots=True)
class Account:
    """A WhatsApp account of the simulated network."""

    #: The phone number, digits only (``"15550001111"``).
    phone: str
    #: The LID user part, digits only.
    lid: str
    #: The push name shown to peers (``notify``), may be empty.
    name: str = ""

    @property
    def jid(self) -> JID:
        """The account's phone-number JID (``15550001111@s.whatsapp.net``)."""
        return JID(self.phone, DEFAULT_USER_SERVER)

    @property
    def lid_jid(self) -> JID:
        """The account's LID JID (``…@lid``)."""
        return JID(self.lid, HIDDEN_USER_SERVER)


@dataclass(frozen=True, slots=True)
class SignedPreKey:
    """A published signed prekey: id, 32-byte public key, 64-byte XEdDSA signature."""

    key_id: int
    public: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class OneTimePreKey:
    """A published one-time prekey: id and 32-byte public key."""

    key_id: int
    public: bytes


@dataclass(slots=True)
class DeviceKeys:
    """What one device published (its ``encrypt set`` upload, or what a simulated phone generated)."""

    registration_id: int
    #: The 32-byte identity public key.
    identity: bytes
    signed_pre_key: SignedPreKey
    #: One-time prekeys not yet handed out, oldest first.
    pre_keys: list[OneTimePreKey] = field(default_factory=list)


@dataclass(slots=True)
class Group:
    """A group of the simulated network."""

    #: The group JID (``<id>@g.us``).
    jid: JID
    subject: str
    #: The creating account's phone-number JID.
    creator: JID
    #: Creation time, unix seconds.
    created: int
    #: The members' phone-number JIDs (non-AD), creator included, in order of joining.
    participants: list[JID] = field(default_factory=list)
    #: Members who are admins (the creator is one).
    admins: set[JID] = field(default_factory=set)


class Registry(Protocol):
    """The network state the messaging logic reads. Device JIDs are phone-number based (``user:dev@s.whatsapp.net``)."""

    def account_by_phone(self, phone: str) -> Account | None:
        """The account with this phone number (digits only), or None."""

    def account_by_lid(self, lid: str) -> Account | None:
        """The account with this LID user part, or None."""

    def device_ids(self, phone: str) -> list[int]:
        """The account's registered device ids, ascending (0 = the phone); empty for an unknown account."""

    def device_keys(self, device: JID) -> DeviceKeys | None:
        """What ``device`` (a phone-number device JID) published, or None if it published nothing."""

    def take_pre_key(self, device: JID) -> OneTimePreKey | None:
        """Hand out (and forget) the device's oldest one-time prekey; None when none is left."""

    def group(self, jid: JID) -> Group | None:
        """The group with this JID, or None."""


class MemoryRegistry:
    """An in-memory :class:`Registry`, with the setters a test or a tool needs."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self._by_lid: dict[str, Account] = {}
        self.devices: dict[str, dict[int, DeviceKeys | None]] = {}
        self.groups: dict[JID, Group] = {}

    # ----------------------------------------------------------------- setters

    def add_account(self, account: Account) -> Account:
        """Register ``account`` (its phone and LID must be new). Its device 0 is added without keys."""
        if account.phone in self.accounts or account.lid in self._by_lid:
            raise LocalProtocolError(f"account {account.phone} (lid {account.lid}) already exists")
        self.accounts[account.phone] = account
        self._by_lid[account.lid] = account
        self.devices[account.phone] = {0: None}
        return account

    def set_device_keys(self, device: JID, keys: DeviceKeys) -> None:
        """Add ``device`` to its account (if new) and publish its keys."""
        devices = self._devices_of(device)
        devices[device.device] = keys

    def add_pre_keys(self, device: JID, pre_keys: list[OneTimePreKey]) -> None:
        """Publish more one-time prekeys for a device that already has keys."""
        keys = self._devices_of(device).get(device.device)
        if keys is None:
            raise LocalProtocolError(f"{device} has published no keys yet")
        keys.pre_keys.extend(pre_keys)

    def remove_device(self, device: JID) -> None:
        """Unlink ``device`` (a companion); its keys are forgotten."""
        self._devices_of(device).pop(device.device, None)

    def add_group(self, group: Group) -> Group:
        """Register ``group`` (its JID must be new)."""
        if group.jid in self.groups or group.jid.server != GROUP_SERVER:
            raise LocalProtocolError(f"{group.jid} is not a new group JID")
        self.groups[group.jid] = group
        return group

    def _devices_of(self, device: JID) -> dict[int, DeviceKeys | None]:
        devices = self.devices.get(device.user) if device.server == DEFAULT_USER_SERVER else None
        if devices is None:
            raise LocalProtocolError(f"{device} is not a device of a known account")
        return devices

    # ----------------------------------------------------------------- the Registry Protocol

    def account_by_phone(self, phone: str) -> Account | None:
        return self.accounts.get(phone)

    def account_by_lid(self, lid: str) -> Account | None:
        return self._by_lid.get(lid)

    def device_ids(self, phone: str) -> list[int]:
        return sorted(self.devices.get(phone, {}))

    def device_keys(self, device: JID) -> DeviceKeys | None:
        if device.server != DEFAULT_USER_SERVER:
            return None
        return self.devices.get(device.user, {}).get(device.device)

    def take_pre_key(self, device: JID) -> OneTimePreKey | None:
        keys = self.device_keys(device)
        if keys is None or not keys.pre_keys:
            return None
        return keys.pre_keys.pop(0)

    def group(self, jid: JID) -> Group | None:
        return self.groups.get(jid)


# --------------------------------------------------------------------- helpers over any Registry


def account_of(registry: Registry, jid: JID) -> Account | None:
    """The account a phone-number or LID JID (user or device) belongs to, or None."""
    if jid.server == DEFAULT_USER_SERVER and jid.user:
        return registry.account_by_phone(jid.user)
    if jid.server == HIDDEN_USER_SERVER and jid.user:
        return registry.account_by_lid(jid.user)
    return None


def device_jids(registry: Registry, account: Account) -> list[JID]:
    """The phone-number device JIDs of every registered device of ``account``, ascending."""
    return [JID(account.phone, DEFAULT_USER_SERVER, device=d) for d in registry.device_ids(account.phone)]


def take_bundle(registry: Registry, device: JID) -> PreKeyBundle | None:
    """The prekey bundle of ``device`` (consuming one one-time prekey if any is left), or None."""
    keys = registry.device_keys(device)
    if keys is None:
        return None
    one_time = registry.take_pre_key(device)
    return PreKeyBundle(
        registration_id=keys.registration_id,
        device_id=device.device,
        pre_key_id=one_time.key_id if one_time else None,
        pre_key_public=one_time.public if one_time else None,
        signed_pre_key_id=keys.signed_pre_key.key_id,
        signed_pre_key_public=keys.signed_pre_key.public,
        signed_pre_key_signature=keys.signed_pre_key.signature,
        identity_key=keys.identity,
    )
