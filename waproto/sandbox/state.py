"""The sandbox network's state: accounts, their simulated phones' keys, linked companions, and persistence.

An account has a phone number, a LID and a push name; its simulated phone (device 0) has a Signal identity,
a registration id, a signed prekey and one-time prekeys (private halves kept here, so the phone can decrypt
what is sent to it). Linked companions are devices 1..n: each is known by the Noise static key it linked
with (that key is how a login is recognised), its Signal identity, its registration id and the prekeys it
uploaded. The network also holds the sandbox's certificate keys: the root key pair (the root public key is
what clients must trust), an intermediate key and the server's Noise static key.

:class:`Network` implements :class:`waproto.sandbox.registry.Registry` (the view the usync answers, the
router and the simulated phones read). With a state directory it persists itself as JSON files there,
all mode 0600: ``root_key.json`` for the root key, ``network.json`` (a snapshot, written atomically) and
``network.jsonl`` (its journal, ``waproto.sandbox.journal``) for the rest. :meth:`Network.open` loads
them, or creates a new network on first start, and compacts (writes the snapshot, empties the journal).

What is saved when (nothing is lost when the process dies once a method has returned; nothing is
``fsync``-ed): the frequent changes, a one-time prekey handed out (:meth:`Network.take_pre_key`) and a
phone's prekey used up by a ``pkmsg`` (:meth:`Network.pre_key_used`), each append one small record to the
journal at once; the rare ones (accounts, companions linked or unlinked, groups, keys uploaded, which
call :meth:`Network.save`) write the whole snapshot at once. The journal is compacted when it outgrows the
snapshot, so the cost of saving stays proportional to what changed.

This module is not the server (no connections, no trio) and not the linking protocol (``linking``).
Randomness and time are parameters.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from waproto.errors import LocalProtocolError
from waproto.jid import DEFAULT_USER_SERVER, GROUP_SERVER, HIDDEN_USER_SERVER, JID
from waproto.noise import build_cert_chain
from waproto.sandbox.journal import Journal, Loaded, write_json
from waproto.sandbox.registry import Account, DeviceKeys, Group, OneTimePreKey, SignedPreKey
from waproto.signal import curve
from waproto.signal.curve import KeyPair
from waproto.signal.keys import (
    PreKeyRecord,
    SignedPreKeyRecord,
    generate_identity_key_pair,
    generate_pre_keys,
    generate_registration_id,
    generate_signed_pre_key,
)

__all__ = [
    "NETWORK_FILE",
    "PHONE_PRE_KEYS",
    "ROOT_KEY_FILE",
    "AccountState",
    "Companion",
    "Network",
    "StateError",
    "valid_phone",
    "write_json",
]

#: The file holding the root key pair in a state directory.
ROOT_KEY_FILE: Final = "root_key.json"
#: The file holding everything else.
NETWORK_FILE: Final = "network.json"
#: How many one-time prekeys a new simulated phone publishes.
PHONE_PRE_KEYS: Final = 50

_FORMAT: Final = 1
_CERT_LIFETIME: Final = 10 * 365 * 86400

RNG = Callable[[int], bytes]


class StateError(LocalProtocolError):
    """The state directory holds something this module cannot read, or a request names a bad value."""


def valid_phone(phone: object) -> bool:
    """Whether ``phone`` is a phone number as the sandbox takes it: 5 to 20 ASCII digits, no leading 0."""
    return isinstance(phone, str) and 5 <= len(phone) <= 20 and phone.isascii() and phone.isdigit() and phone[0] != "0"


@dataclass(slots=True)
class Companion:
    """A linked companion device (1..n) of an account."""

    device: int
    #: The Noise static public key it linked with; a login must come with this key.
    noise_public: bytes
    #: Its Signal identity public key (32 bytes).
    identity: bytes
    registration_id: int
    signed_pre_key: SignedPreKey
    #: The one-time prekeys it uploaded and nobody has fetched yet, oldest first.
    pre_keys: list[OneTimePreKey] = field(default_factory=list)
    #: The key index the phone assigned when linking it.
    key_index: int = 0
    #: A name for logs and listings, e.g. ``"Chrome (Ubuntu)"``.
    platform: str = ""
    #: Unix seconds.
    linked_at: int = 0

    @property
    def keys(self) -> DeviceKeys:
        """Its published keys in the registry's form (shares the prekey list)."""
        return DeviceKeys(self.registration_id, self.identity, self.signed_pre_key, self.pre_keys)


@dataclass(slots=True)
class AccountState:
    """One account: its public facts, its simulated phone's private keys and its companions."""

    phone: str
    lid: str
    name: str
    #: ``"echo"`` for an echo bot, else None.
    bot: str | None
    #: The phone's Signal identity (device 0). Also the account key that signs device identities.
    identity: KeyPair
    registration_id: int
    signed_pre_key: SignedPreKeyRecord
    #: The phone's one-time prekeys, private halves, by id (kept until a pkmsg uses them).
    pre_keys: dict[int, PreKeyRecord]
    #: Ids of the phone's one-time prekeys not yet handed out in a bundle, oldest first.
    published: list[int]
    #: The ADV raw id the phone puts in every device identity it issues.
    raw_id: int
    created: int
    companions: dict[int, Companion] = field(default_factory=dict)
    #: The next companion device number and key index to assign.
    next_device: int = 1
    next_key_index: int = 1

    @property
    def account(self) -> Account:
        """The registry's view of this account."""
        return Account(self.phone, self.lid, self.name)

    @property
    def jid(self) -> JID:
        """``<phone>@s.whatsapp.net``."""
        return JID(self.phone, DEFAULT_USER_SERVER)

    @property
    def lid_jid(self) -> JID:
        """``<lid>@lid``."""
        return JID(self.lid, HIDDEN_USER_SERVER)

    def device_jid(self, device: int) -> JID:
        """The phone-number JID of one of its devices."""
        return JID(self.phone, DEFAULT_USER_SERVER, device=device)

    def device_lid(self, device: int) -> JID:
        """The LID JID of one of its devices."""
        return JID(self.lid, HIDDEN_USER_SERVER, device=device)

    @property
    def phone_keys(self) -> DeviceKeys:
        """The phone's published keys in the registry's form (a fresh snapshot)."""
        spk = self.signed_pre_key
        return DeviceKeys(
            self.registration_id,
            self.identity.public,
            SignedPreKey(spk.key_id, spk.key_pair.public, spk.signature),
            [OneTimePreKey(i, self.pre_keys[i].key_pair.public) for i in self.published if i in self.pre_keys],
        )


class Network:
    """The whole simulated network; a :class:`~waproto.sandbox.registry.Registry`.

    Make one with :meth:`open` (a state directory, or None for memory only). With a state directory,
    mutating methods save at once: a journal record or the whole snapshot (see the module docstring).
    """

    def __init__(
        self,
        *,
        root: KeyPair,
        intermediate: KeyPair,
        server_static: KeyPair,
        state_dir: Path | None = None,
    ) -> None:
        self.root = root
        self.intermediate = intermediate
        self.server_static = server_static
        self.state_dir = state_dir
        self.accounts: dict[str, AccountState] = {}
        self._by_lid: dict[str, AccountState] = {}
        self.groups: dict[JID, Group] = {}
        self._journal = None if state_dir is None else Journal(state_dir / NETWORK_FILE)

    # ----------------------------------------------------------------- creation and persistence

    @classmethod
    def open(cls, state_dir: Path | str | None, *, rng: RNG, root_private: bytes | None = None) -> Network:
        """Load the network from ``state_dir`` or, on first start, create one there (None: memory only).

        ``root_private`` gives the root key; with a state directory that already has another one,
        ``StateError``. A new network draws its keys from ``rng``.
        """
        path = None if state_dir is None else Path(state_dir)
        root_file = None if path is None else path / ROOT_KEY_FILE
        if root_file is not None and root_file.exists():
            stored = _load_json(root_file)
            try:
                root = KeyPair.from_private(bytes.fromhex(stored["private"]))
            except (KeyError, TypeError, ValueError, LocalProtocolError) as exc:
                raise StateError(f"{root_file} does not hold a root key") from exc
            if root_private is not None and root.private != bytes(root_private):
                raise StateError(f"{root_file} holds another root key than the one given")
        elif root_private is not None:
            root = KeyPair.from_private(bytes(root_private))
        else:
            root = curve.generate_key_pair(rng)
        loaded = None if path is None else _load(Journal(path / NETWORK_FILE))
        if loaded is not None and loaded.snapshot is not None:
            network = cls._from_json(loaded.snapshot, root=root, state_dir=path)
            for record in loaded.records:
                network._replay(record)
        else:
            network = cls(
                root=root,
                intermediate=curve.generate_key_pair(rng),
                server_static=curve.generate_key_pair(rng),
                state_dir=path,
            )
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            if root_file is not None and not root_file.exists():
                write_json(root_file, {"private": root.private.hex(), "public": root.public.hex()})
            network.save()
        return network

    def cert_chain(self, now: int) -> bytes:
        """A serialised ``CertChain`` for the server's static key, valid from a day before ``now`` for years."""
        return build_cert_chain(
            root_private=self.root.private,
            intermediate=self.intermediate,
            server_static=self.server_static.public,
            not_before=max(0, now - 86400),
            not_after=now + _CERT_LIFETIME,
        )

    def save(self) -> None:
        """Write the whole ``network.json`` (atomically, mode 0600) and empty its journal, when there is a
        state directory. Every method that changes something rare calls it."""
        if self._journal is not None:
            self._journal.compact(self._to_json())

    def _record(self, record: dict[str, Any]) -> None:
        """Append one change record to the journal (compacting instead when the journal outgrew the snapshot)."""
        if self._journal is None:
            return
        if self._journal.should_compact():
            self.save()
        else:
            self._journal.append(record)

    def _replay(self, record: Any) -> None:
        """Apply a journal record (idempotent: a record the snapshot already holds changes nothing)."""
        try:
            if "take" in record:
                phone, device, key_id = record["take"]
                state = self.accounts.get(phone)
                if state is not None and device == 0:
                    state.published = [k for k in state.published if k != key_id]
                elif state is not None and device in state.companions:
                    companion = state.companions[device]
                    companion.pre_keys[:] = [k for k in companion.pre_keys if k.key_id != key_id]
            elif "used" in record:
                phone, key_id = record["used"]
                state = self.accounts.get(phone)
                if state is not None:
                    state.pre_keys.pop(key_id, None)
            else:
                raise ValueError(f"unknown record {sorted(record)}")
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"network.jsonl holds a record that is not the sandbox's: {exc!r}") from exc

    # ----------------------------------------------------------------- accounts and devices

    def create_account(
        self, phone: str, *, rng: RNG, now: int, name: str = "", bot: str | None = None
    ) -> AccountState:
        """A new account with a fresh simulated phone; ``StateError`` for a bad or taken phone number."""
        if not valid_phone(phone):
            raise StateError("phone must be 5 to 20 digits without a leading 0")
        if phone in self.accounts:
            raise StateError(f"account {phone} already exists")
        if bot not in (None, "echo"):
            raise StateError(f"unknown bot kind {bot!r} (only 'echo')")
        while True:
            lid = str(10**14 + int.from_bytes(rng(8), "big") % (9 * 10**14))
            if lid not in self._by_lid:
                break
        identity = generate_identity_key_pair(rng)
        pre_keys = generate_pre_keys(1, PHONE_PRE_KEYS, rng)
        state = AccountState(
            phone=phone,
            lid=lid,
            name=name,
            bot=bot,
            identity=identity,
            registration_id=generate_registration_id(rng),
            signed_pre_key=generate_signed_pre_key(identity, 1, rng, timestamp=now),
            pre_keys={record.key_id: record for record in pre_keys},
            published=[record.key_id for record in pre_keys],
            raw_id=int.from_bytes(rng(4), "big"),
            created=now,
        )
        self._add(state)
        self.save()
        return state

    def _add(self, state: AccountState) -> None:
        self.accounts[state.phone] = state
        self._by_lid[state.lid] = state

    def add_companion(self, phone: str, companion: Companion) -> None:
        """Record a newly linked companion (its device number must be the account's next one)."""
        state = self.accounts[phone]
        state.companions[companion.device] = companion
        state.next_device = max(state.next_device, companion.device + 1)
        state.next_key_index = max(state.next_key_index, companion.key_index + 1)
        self.save()

    def remove_companion(self, phone: str, device: int) -> Companion | None:
        """Unlink a companion; returns it, or None if there was none."""
        state = self.accounts.get(phone)
        removed = None if state is None else state.companions.pop(device, None)
        if removed is not None:
            self.save()
        return removed

    def companion(self, device: JID) -> Companion | None:
        """The companion a phone-number or LID device JID names, or None."""
        state = self.account_of(device)
        return None if state is None else state.companions.get(device.device)

    def account_of(self, jid: JID) -> AccountState | None:
        """The account of a phone-number or LID JID (user or device), or None."""
        if jid.server == DEFAULT_USER_SERVER:
            return self.accounts.get(jid.user)
        if jid.server == HIDDEN_USER_SERVER:
            return self._by_lid.get(jid.user)
        return None

    # ----------------------------------------------------------------- the Registry Protocol

    def account_by_phone(self, phone: str) -> Account | None:
        """The account with this phone number, or None."""
        state = self.accounts.get(phone)
        return None if state is None else state.account

    def account_by_lid(self, lid: str) -> Account | None:
        """The account with this LID user part, or None."""
        state = self._by_lid.get(lid)
        return None if state is None else state.account

    def device_ids(self, phone: str) -> list[int]:
        """Device 0 and the linked companions, ascending; empty for an unknown account."""
        state = self.accounts.get(phone)
        return [] if state is None else [0, *sorted(state.companions)]

    def device_keys(self, device: JID) -> DeviceKeys | None:
        """What a phone-number device JID published (the phone's keys for device 0), or None."""
        state = self.accounts.get(device.user) if device.server == DEFAULT_USER_SERVER else None
        if state is None:
            return None
        if device.device == 0:
            return state.phone_keys
        companion = state.companions.get(device.device)
        return None if companion is None else companion.keys

    def take_pre_key(self, device: JID) -> OneTimePreKey | None:
        """Hand out, once, the device's oldest unused one-time prekey."""
        state = self.accounts.get(device.user) if device.server == DEFAULT_USER_SERVER else None
        if state is None:
            return None
        taken: OneTimePreKey | None = None
        if device.device == 0:
            while state.published and taken is None:
                key_id = state.published.pop(0)
                record = state.pre_keys.get(key_id)
                taken = None if record is None else OneTimePreKey(key_id, record.key_pair.public)
        else:
            companion = state.companions.get(device.device)
            if companion is not None and companion.pre_keys:
                taken = companion.pre_keys.pop(0)
        if taken is not None:
            self._record({"take": [state.phone, device.device, taken.key_id]})
        return taken

    def pre_key_used(self, phone: str, key_id: int) -> None:
        """A ``pkmsg`` used up the phone's one-time prekey ``key_id``: forget its private half (if still
        there) and journal that. The phone (``PhoneKeys.on_used``) calls it."""
        state = self.accounts.get(phone)
        if state is not None:
            state.pre_keys.pop(key_id, None)
            self._record({"used": [phone, key_id]})

    def group(self, jid: JID) -> Group | None:
        """The group with this JID, or None."""
        return self.groups.get(jid) if jid.server == GROUP_SERVER else None

    # ----------------------------------------------------------------- JSON

    def _to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "intermediate": self.intermediate.private.hex(),
            "server_static": self.server_static.private.hex(),
            "accounts": [_account_json(a) for a in self.accounts.values()],
            "groups": [_group_json(g) for g in self.groups.values()],
        }

    @classmethod
    def _from_json(cls, data: Any, *, root: KeyPair, state_dir: Path | None) -> Network:
        try:
            if data.get("format") != _FORMAT:
                raise StateError(f"network.json format {data.get('format')!r} is not {_FORMAT}")
            network = cls(
                root=root,
                intermediate=KeyPair.from_private(bytes.fromhex(data["intermediate"])),
                server_static=KeyPair.from_private(bytes.fromhex(data["server_static"])),
                state_dir=state_dir,
            )
            for item in data["accounts"]:
                network._add(_account_from_json(item))
            for item in data["groups"]:
                group = _group_from_json(item)
                network.groups[group.jid] = group
        except StateError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, LocalProtocolError) as exc:
            raise StateError(f"network.json is not a sandbox state file: {exc!r}") from exc
        return network


# --------------------------------------------------------------------- JSON helpers


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StateError(f"cannot read {path}: {exc}") from exc


def _load(journal: Journal) -> Loaded:
    try:
        return journal.load()
    except (OSError, ValueError) as exc:
        raise StateError(f"cannot read {journal.snapshot}: {exc}") from exc


def _spk_json(spk: SignedPreKey) -> dict[str, Any]:
    return {"id": spk.key_id, "public": spk.public.hex(), "signature": spk.signature.hex()}


def _spk_from_json(item: Any) -> SignedPreKey:
    return SignedPreKey(int(item["id"]), bytes.fromhex(item["public"]), bytes.fromhex(item["signature"]))


def _companion_json(c: Companion) -> dict[str, Any]:
    return {
        "device": c.device,
        "noise_public": c.noise_public.hex(),
        "identity": c.identity.hex(),
        "registration_id": c.registration_id,
        "signed_pre_key": _spk_json(c.signed_pre_key),
        "pre_keys": [[k.key_id, k.public.hex()] for k in c.pre_keys],
        "key_index": c.key_index,
        "platform": c.platform,
        "linked_at": c.linked_at,
    }


def _companion_from_json(item: Any) -> Companion:
    return Companion(
        device=int(item["device"]),
        noise_public=bytes.fromhex(item["noise_public"]),
        identity=bytes.fromhex(item["identity"]),
        registration_id=int(item["registration_id"]),
        signed_pre_key=_spk_from_json(item["signed_pre_key"]),
        pre_keys=[OneTimePreKey(int(i), bytes.fromhex(p)) for i, p in item["pre_keys"]],
        key_index=int(item["key_index"]),
        platform=str(item["platform"]),
        linked_at=int(item["linked_at"]),
    )


def _account_json(a: AccountState) -> dict[str, Any]:
    return {
        "phone": a.phone,
        "lid": a.lid,
        "name": a.name,
        "bot": a.bot,
        "identity": a.identity.private.hex(),
        "registration_id": a.registration_id,
        "signed_pre_key": a.signed_pre_key.serialize().hex(),
        "pre_keys": [r.serialize().hex() for r in a.pre_keys.values()],
        "published": a.published,
        "raw_id": a.raw_id,
        "created": a.created,
        "companions": [_companion_json(c) for c in a.companions.values()],
        "next_device": a.next_device,
        "next_key_index": a.next_key_index,
    }


def _account_from_json(item: Any) -> AccountState:
    pre_keys = [PreKeyRecord.deserialize(bytes.fromhex(h)) for h in item["pre_keys"]]
    companions = [_companion_from_json(c) for c in item["companions"]]
    return AccountState(
        phone=str(item["phone"]),
        lid=str(item["lid"]),
        name=str(item["name"]),
        bot=item["bot"],
        identity=KeyPair.from_private(bytes.fromhex(item["identity"])),
        registration_id=int(item["registration_id"]),
        signed_pre_key=SignedPreKeyRecord.deserialize(bytes.fromhex(item["signed_pre_key"])),
        pre_keys={r.key_id: r for r in pre_keys},
        published=[int(i) for i in item["published"]],
        raw_id=int(item["raw_id"]),
        created=int(item["created"]),
        companions={c.device: c for c in companions},
        next_device=int(item["next_device"]),
        next_key_index=int(item["next_key_index"]),
    )


def _group_json(g: Group) -> dict[str, Any]:
    return {
        "jid": str(g.jid),
        "subject": g.subject,
        "creator": str(g.creator),
        "created": g.created,
        "participants": [str(p) for p in g.participants],
        "admins": sorted(str(p) for p in g.admins),
    }


def _group_from_json(item: Any) -> Group:
    return Group(
        jid=JID.parse(item["jid"]),
        subject=str(item["subject"]),
        creator=JID.parse(item["creator"]),
        created=int(item["created"]),
        participants=[JID.parse(p) for p in item["participants"]],
        admins={JID.parse(p) for p in item["admins"]},
    )
