"""The device directory of a companion: who has which devices, which LID goes with which phone number,
and whether a number is on WhatsApp.

::

    directory = Directory(client, device_store=..., lid_store=...)   # registers for devices notifications
    lists = await directory.devices([alice, bob_lid])    # {user: [device JIDs]}, one usync for all misses
    lids = await directory.lid_for([alice])              # {PN user: LID user}; known_lids: store only
    found = await directory.check(["15551234567"])       # {"15551234567": CheckResult(exists, jid, lid)}

**Device lists** (PROTOCOL.md §6.1, §6.6.9) are kept in a :class:`DeviceListStore` (per user JID: the
device ids and when they were fetched) with a small in-memory front. A list is used for ``max_age``
seconds (default :data:`DEFAULT_MAX_AGE`, one hour) after it was fetched; every user whose list is
missing or older is asked in **one** usync query (which also asks ``<lid/>``, as Baileys 7 does). whatsmeow
keeps lists until a devices notification, in memory only; ours outlive a restart, during which
notifications can be missed, so they also age out. An empty answer (not on WhatsApp) and a per-user
``<error>`` are not cached. ``<notification type="devices" from [lid]>`` (registered on
``client.notification_handlers``; the client acks it after the handler) applies ``<add>``/``<remove>`` to a
cached list (the new list is kept when it matches the notification's ``device_hash``, whatsmeow's
participant hash, else dropped) and ``<update>`` drops it; a list not cached is left to the next query.

**LID mappings** (§6.2.11, §12.3) are kept in a :class:`LidMapStore` by user part, both ways. They come
from usync answers (``<lid val>``, whatsmeow's ``jid``/``pn_jid`` pair), from :meth:`Directory.learn`
(the ``sender_lid``/``sender_pn``, ``participant_pn``/``participant_lid``,
``peer_recipient_pn``/``peer_recipient_lid`` attributes of messages and receipts, read by
:func:`lid_pairs`) and from devices notifications (``from`` + ``lid``). Our own pair comes from the
credentials.

The store Protocols are shaped exactly like the hub's (``waporta.storage.stores.protocols``), whose SQLite
stores satisfy them; :class:`MemoryDeviceListStore` and :class:`MemoryLidMapStore` are the defaults.

This module is NOT the usync wire format (``waproto.usync``), message sending, or Signal session
management: dropping the sessions of a removed device is the messaging layer's business.
"""

from __future__ import annotations

import itertools
import logging
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from waproto.binary import Node
from waproto.client.client import Client
from waproto.errors import DecodeError, InvalidValue, LocalProtocolError
from waproto.jid import DEFAULT_USER_SERVER, HIDDEN_USER_SERVER, JID
from waproto.usync import (
    CheckResult,
    contact_query,
    device_list_hash,
    devices_query,
    lid_query,
    normalize_phone,
    parse_contact_result,
    parse_lid_result,
    parse_usync_users,
)

__all__ = [
    "DEFAULT_MAX_AGE",
    "MEMORY_CACHE_SIZE",
    "CheckResult",
    "DeviceList",
    "DeviceListStore",
    "Directory",
    "LidMapStore",
    "MemoryDeviceListStore",
    "MemoryLidMapStore",
    "device_list_hash",
    "lid_pairs",
]

log = logging.getLogger(__name__)

#: How long a fetched device list is used without asking again, in seconds.
DEFAULT_MAX_AGE: Final = 3600.0
#: How many device lists the in-memory front of the store keeps (least recently used dropped first).
MEMORY_CACHE_SIZE: Final = 1024

#: Stanza attributes that name the other identity (PN or LID) of the JID in another attribute.
_ALT_ATTRS: Final = (
    ("from", ("sender_lid", "sender_pn")),
    ("participant", ("participant_pn", "participant_lid")),
    ("recipient", ("peer_recipient_pn", "peer_recipient_lid")),
    ("from", ("lid",)),
)


def _check_user_jid(user_jid: object) -> str:
    if not isinstance(user_jid, str) or "@" not in user_jid or ":" in user_jid.partition("@")[0]:
        raise InvalidValue(f"a device list is keyed by a user JID without a device, not {user_jid!r}")
    return user_jid


@dataclass(frozen=True, slots=True)
class DeviceList:
    """The devices of one user as last fetched: device ids in the order given, and when (POSIX seconds).

    Bad values raise :class:`~waproto.errors.InvalidValue` (a ``ValueError``)."""

    #: The user JID without a device part, e.g. ``15550001111@s.whatsapp.net`` or ``1234@lid``.
    user_jid: str
    #: Device ids (0 is the phone), in the order they were given.
    devices: tuple[int, ...]
    #: When the list was fetched, in POSIX seconds from the caller's clock.
    fetched_at: float

    def __post_init__(self) -> None:
        _check_user_jid(self.user_jid)
        devices = tuple(self.devices)
        for device in devices:
            if not isinstance(device, int) or isinstance(device, bool) or not 0 <= device < 2**32:
                raise InvalidValue(f"a device id is an integer in 0..2**32-1, not {device!r}")
        if len(set(devices)) != len(devices):
            raise InvalidValue(f"device ids repeat in {devices!r}")
        object.__setattr__(self, "devices", devices)
        fetched = self.fetched_at
        if isinstance(fetched, bool) or not isinstance(fetched, int | float) or not math.isfinite(fetched):
            raise InvalidValue(f"fetched_at is a finite number of POSIX seconds, not {fetched!r}")
        object.__setattr__(self, "fetched_at", float(fetched))


class DeviceListStore(Protocol):
    """Cached device lists, many users per call (the hub's ``DeviceListStore``)."""

    async def get_device_lists(self, user_jids: Iterable[str]) -> dict[str, DeviceList]:
        """The stored lists of those of ``user_jids`` that have one, by user JID."""
        ...

    async def put_device_lists(self, lists: Iterable[DeviceList]) -> None:
        """Store each list, replacing what its user had (all in one step)."""
        ...

    async def delete_device_lists(self, user_jids: Iterable[str]) -> None:
        """Forget these users' lists; unknown users are ignored."""
        ...


class LidMapStore(Protocol):
    """LID user ↔ phone-number user by JID user part, both ways (the hub's ``LidMapStore``)."""

    async def put_lid_mappings(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Store ``(lid_user, pn_user)`` pairs; each replaces any mapping of its LID or its phone number."""
        ...

    async def get_lids(self, pn_users: Iterable[str]) -> dict[str, str]:
        """``{pn_user: lid_user}`` for those of ``pn_users`` that have a mapping."""
        ...

    async def get_pns(self, lid_users: Iterable[str]) -> dict[str, str]:
        """``{lid_user: pn_user}`` for those of ``lid_users`` that have a mapping."""
        ...


class MemoryDeviceListStore:
    """A :class:`DeviceListStore` in a dict."""

    def __init__(self) -> None:
        self._lists: dict[str, DeviceList] = {}

    async def get_device_lists(self, user_jids: Iterable[str]) -> dict[str, DeviceList]:
        wanted = [_check_user_jid(jid) for jid in user_jids]
        return {jid: self._lists[jid] for jid in wanted if jid in self._lists}

    async def put_device_lists(self, lists: Iterable[DeviceList]) -> None:
        batch = list(lists)
        for device_list in batch:
            if not isinstance(device_list, DeviceList):
                raise TypeError(f"expected DeviceList values, not {type(device_list).__name__}")
        for device_list in batch:
            self._lists[device_list.user_jid] = device_list

    async def delete_device_lists(self, user_jids: Iterable[str]) -> None:
        for jid in [_check_user_jid(jid) for jid in user_jids]:
            self._lists.pop(jid, None)


def _check_user(user: object) -> str:
    if not isinstance(user, str) or not user or "@" in user or ":" in user:
        raise InvalidValue(f"a LID mapping holds JID user parts (no server, no device), not {user!r}")
    return user


class MemoryLidMapStore:
    """A :class:`LidMapStore` in two dicts kept in step."""

    def __init__(self) -> None:
        self._pn_by_lid: dict[str, str] = {}
        self._lid_by_pn: dict[str, str] = {}

    async def put_lid_mappings(self, pairs: Iterable[tuple[str, str]]) -> None:
        checked = [(_check_user(lid), _check_user(pn)) for lid, pn in pairs]
        for lid, pn in checked:
            old_pn = self._pn_by_lid.pop(lid, None)
            if old_pn is not None:
                del self._lid_by_pn[old_pn]
            old_lid = self._lid_by_pn.pop(pn, None)
            if old_lid is not None:
                del self._pn_by_lid[old_lid]
            self._pn_by_lid[lid] = pn
            self._lid_by_pn[pn] = lid

    async def get_lids(self, pn_users: Iterable[str]) -> dict[str, str]:
        wanted = [_check_user(pn) for pn in pn_users]
        return {pn: self._lid_by_pn[pn] for pn in wanted if pn in self._lid_by_pn}

    async def get_pns(self, lid_users: Iterable[str]) -> dict[str, str]:
        wanted = [_check_user(lid) for lid in lid_users]
        return {lid: self._pn_by_lid[lid] for lid in wanted if lid in self._pn_by_lid}


# --------------------------------------------------------------------- pure helpers


def _attr_jid(node: Node, name: str) -> JID | None:
    return node.jid_attr_or_none(name)


def _pair(a: JID | None, b: JID | None) -> tuple[JID, JID] | None:
    """``(LID user, PN user)`` when one of ``a``, ``b`` is a LID and the other a phone number."""
    if a is None or b is None or not a.user or not b.user:
        return None
    if a.server == HIDDEN_USER_SERVER and b.server == DEFAULT_USER_SERVER:
        return a.to_non_ad(), JID(b.user, DEFAULT_USER_SERVER)
    if b.server == HIDDEN_USER_SERVER and a.server == DEFAULT_USER_SERVER:
        return b.to_non_ad(), JID(a.user, DEFAULT_USER_SERVER)
    return None


def lid_pairs(node: Node) -> list[tuple[JID, JID]]:
    """The ``(LID user, PN user)`` pairs a stanza's attributes tell (never raises on malformed ones):
    ``from`` with ``sender_lid``/``sender_pn`` (or a devices notification's ``lid``), ``participant``
    with ``participant_pn``/``participant_lid``, ``recipient`` (else ``from``, our own device) with
    ``peer_recipient_pn``/``peer_recipient_lid``, and each ``<participants><to jid peer_recipient_*>``."""
    found: list[tuple[JID, JID]] = []
    attrs = node.attrs
    for base_name, alt_names in _ALT_ATTRS:
        present = [name for name in alt_names if name in attrs]
        if not present:
            continue  # the common case: parse no JID for nothing
        base = _attr_jid(node, base_name)
        if base is None and base_name == "recipient":
            base = _attr_jid(node, "from")
        for alt_name in present:
            pair = _pair(base, _attr_jid(node, alt_name))
            if pair is not None and pair not in found:
                found.append(pair)
    participants = node.child("participants")
    for to in [] if participants is None else participants.children_with("to"):
        for alt_name in ("peer_recipient_pn", "peer_recipient_lid"):
            pair = _pair(_attr_jid(to, "jid"), _attr_jid(to, alt_name))
            if pair is not None and pair not in found:
                found.append(pair)
    return found


# --------------------------------------------------------------------- the directory


def _user_of(jid: JID) -> JID:
    if jid.server not in (DEFAULT_USER_SERVER, HIDDEN_USER_SERVER) or not jid.user:
        raise LocalProtocolError(f"device lists are kept for phone-number and LID users, not {jid}")
    return jid.to_non_ad()


class Directory:
    """Device lists, LID mappings and number checks for one companion; see the module docstring.

    ``now`` is the wall clock (POSIX seconds) the ``fetched_at`` times and ``max_age`` are measured on.
    Registers :meth:`on_devices_notification` on ``client.notification_handlers["devices"]``.
    """

    def __init__(
        self,
        client: Client,
        *,
        device_store: DeviceListStore | None = None,
        lid_store: LidMapStore | None = None,
        now: Callable[[], float] = time.time,
        max_age: float = DEFAULT_MAX_AGE,
        rng: Callable[[int], bytes] = secrets.token_bytes,
        memory_cache: int = MEMORY_CACHE_SIZE,
    ) -> None:
        if not max_age > 0:
            raise LocalProtocolError(f"max_age is a positive number of seconds, not {max_age!r}")
        self.client = client
        self.device_store: DeviceListStore = (
            device_store if device_store is not None else MemoryDeviceListStore()
        )
        self.lid_store: LidMapStore = lid_store if lid_store is not None else MemoryLidMapStore()
        self.max_age = max_age
        self._now = now
        self._rng = rng
        self._sids = itertools.count(1)
        self._front: OrderedDict[str, DeviceList] = OrderedDict()
        self._front_size = memory_cache
        self._known_pairs: OrderedDict[tuple[str, str], None] = OrderedDict()
        client.notification_handlers["devices"] = self.on_devices_notification

    # ----------------------------------------------------------------- device lists

    async def devices(self, users: list[JID], *, exclude_self: bool = False) -> dict[JID, list[JID]]:
        """The device JIDs of each of ``users`` (PN or LID users; a device part is dropped), by user.

        Cached lists younger than ``max_age`` are used; all the others are fetched in one usync query.
        An empty list means not on WhatsApp. With ``exclude_self`` this very device is left out.
        ``IqError``/``IqTimeout``/``NotConnected`` from the query, ``DecodeError`` for a malformed answer.
        """
        wanted = list(dict.fromkeys(_user_of(user) for user in users))
        lists = await self._cached([str(user) for user in wanted])
        now = self._now()
        missing = [
            user
            for user in wanted
            if (found := lists.get(str(user))) is None
            or not found.devices
            or not found.fetched_at <= now < found.fetched_at + self.max_age
        ]
        if missing:
            lists.update(await self._fetch(missing, now))
        own = self._own_devices() if exclude_self else set()
        result: dict[JID, list[JID]] = {}
        for user in wanted:
            found = lists.get(str(user))
            ids = found.devices if found is not None else ()
            devices = [JID(user.user, user.server, device=device) for device in ids]
            result[user] = [device for device in devices if device not in own]
        return result

    async def forget(self, users: list[JID]) -> None:
        """Drop the cached device lists of ``users`` (say after a server ack's phash disagreed)."""
        keys = [str(_user_of(user)) for user in users]
        for key in keys:
            self._front.pop(key, None)
        await self.device_store.delete_device_lists(keys)

    def _own_devices(self) -> set[JID]:
        creds = self.client.credentials
        return {
            JID(jid.user, jid.server, device=jid.device) for jid in (creds.me, creds.lid) if jid is not None
        }

    async def _cached(self, keys: list[str]) -> dict[str, DeviceList]:
        found: dict[str, DeviceList] = {}
        for key in keys:
            hit = self._front.get(key)
            if hit is not None:
                self._front.move_to_end(key)
                found[key] = hit
        rest = [key for key in keys if key not in found]
        if rest:
            stored = await self.device_store.get_device_lists(rest)
            for key, device_list in stored.items():
                self._remember(device_list)
                found[key] = device_list
        return found

    def _remember(self, device_list: DeviceList) -> None:
        self._front[device_list.user_jid] = device_list
        self._front.move_to_end(device_list.user_jid)
        while len(self._front) > self._front_size:
            self._front.popitem(last=False)

    def _sid(self) -> str:
        return f"{self._rng(4).hex()}.{next(self._sids)}"

    async def _fetch(self, users: list[JID], now: float) -> dict[str, DeviceList]:
        answer = await self.client.query(devices_query(users, sid=self._sid(), lid=True))
        answered = {user.jid: user for user in parse_usync_users(answer) if user.jid is not None}
        fresh: dict[str, DeviceList] = {}
        pairs: list[tuple[JID, JID]] = []
        for user in users:
            info = answered.get(user)
            if info is None:
                continue
            if info.lid is not None and (pair := _pair(info.lid, user)) is not None:
                pairs.append(pair)
            if info.devices:
                fresh[str(user)] = DeviceList(str(user), info.devices, now)
        await self.device_store.put_device_lists(fresh.values())
        for device_list in fresh.values():
            self._remember(device_list)
        await self._store_pairs(pairs)
        return fresh

    # ----------------------------------------------------------------- devices notifications

    async def on_devices_notification(self, node: Node) -> None:
        """Apply a ``<notification type="devices">`` to the cached lists (see the module docstring).

        Runs in the client's read loop before the ack; a malformed notification is logged and ignored."""
        try:
            await self._apply_devices_notification(node)
        except (DecodeError, LocalProtocolError) as exc:
            log.warning("ignoring a malformed devices notification: %s", exc)

    async def _apply_devices_notification(self, node: Node) -> None:
        sender = node.jid_attr("from")
        if (
            sender is None
            or sender.server not in (DEFAULT_USER_SERVER, HIDDEN_USER_SERVER)
            or not sender.user
        ):
            raise DecodeError("a devices notification without a user in from", node=node)
        user = sender.to_non_ad()
        lid = node.jid_attr("lid")
        pair = _pair(user, lid)
        if pair is not None:
            await self._store_pairs([pair])
        targets: list[tuple[JID, str, str]] = [(user, "jid", "device_hash")]
        if lid is not None and lid.is_lid and lid.user:
            targets.append((lid.to_non_ad(), "lid", "device_lid_hash"))
        for owner, device_attr, hash_attr in targets:
            await self._apply_changes(node, owner, device_attr, hash_attr)

    async def _apply_changes(self, node: Node, owner: JID, device_attr: str, hash_attr: str) -> None:
        key = str(owner)
        cached = (await self._cached([key])).get(key)
        if cached is None:
            return  # nothing cached: the next query fetches the whole list
        devices = list(cached.devices)
        fetched_at = cached.fetched_at
        for change in node.children:
            if change.tag == "update":
                devices = []
                break
            if change.tag not in ("add", "remove"):
                continue
            changed = [
                jid.device
                for device in change.children_with("device")
                if (jid := device.jid_attr(device_attr)) is not None
                and (jid.user, jid.server) == (owner.user, owner.server)
            ]
            if change.tag == "add":
                devices += [device for device in changed if device not in devices]
            else:
                devices = [device for device in devices if device not in changed]
            expected = change.attrs.get(hash_attr)
            if isinstance(expected, str) and expected:
                jids = [JID(owner.user, owner.server, device=device) for device in devices]
                if device_list_hash(jids) != expected:
                    devices = []  # our list was not the server's: fetch it afresh next time
                    break
                fetched_at = self._now()
        self._front.pop(key, None)
        if devices:
            updated = DeviceList(key, tuple(devices), fetched_at)
            await self.device_store.put_device_lists([updated])
            self._remember(updated)
        else:
            await self.device_store.delete_device_lists([key])

    # ----------------------------------------------------------------- LID mappings

    async def lid_for(self, pn_users: list[JID]) -> dict[JID, JID]:
        """``{PN user: LID user}`` for those of ``pn_users`` that have a LID: stored mappings, else one
        usync ``<lid/>`` query for all the others (its answers stored)."""
        wanted = list(dict.fromkeys(_user_of(user) for user in pn_users))
        for user in wanted:
            if not user.is_pn:
                raise LocalProtocolError(f"lid_for takes phone-number users, not {user}")
        found = self._own_pair_for(wanted)
        stored = await self.lid_store.get_lids(user.user for user in wanted if user not in found)
        for user in wanted:
            if user.user in stored:
                found[user] = JID(stored[user.user], HIDDEN_USER_SERVER)
        missing = [user for user in wanted if user not in found]
        if missing:
            answered = parse_lid_result(await self.client.query(lid_query(missing, sid=self._sid())))
            await self._store_pairs([(lid, pn) for pn, lid in answered.items()])
            found.update({pn: lid for pn, lid in answered.items() if pn in missing})
        return {user: found[user] for user in wanted if user in found}

    async def known_lids(self, pn_users: list[JID]) -> dict[JID, JID]:
        """``{PN user: LID user}`` for those of ``pn_users`` whose mapping is stored (ours from the
        credentials), in one store read. Never asks the server: the receive path calls it in the client's
        read loop (after a restart, to find the LID a phone-number sender's session is kept under)."""
        wanted = list(dict.fromkeys(_user_of(user) for user in pn_users))
        for user in wanted:
            if not user.is_pn:
                raise LocalProtocolError(f"known_lids takes phone-number users, not {user}")
        found = self._own_pair_for(wanted)
        rest = [user.user for user in wanted if user not in found]
        stored = await self.lid_store.get_lids(rest) if rest else {}
        for user in wanted:
            if user.user in stored:
                found[user] = JID(stored[user.user], HIDDEN_USER_SERVER)
        return {user: found[user] for user in wanted if user in found}

    async def pn_for(self, lid_user: JID) -> JID | None:
        """The phone-number user of ``lid_user`` when a mapping is known (no query: the server does not
        tell a LID's number on request)."""
        user = _user_of(lid_user)
        if not user.is_lid:
            raise LocalProtocolError(f"pn_for takes a LID user, not {user}")
        creds = self.client.credentials
        if creds.lid is not None and creds.me is not None and creds.lid.user == user.user:
            return JID(creds.me.user, DEFAULT_USER_SERVER)
        stored = await self.lid_store.get_pns([user.user])
        return JID(stored[user.user], DEFAULT_USER_SERVER) if user.user in stored else None

    def _own_pair_for(self, users: list[JID]) -> dict[JID, JID]:
        creds = self.client.credentials
        if creds.me is None or creds.lid is None:
            return {}
        return {user: creds.lid.to_non_ad() for user in users if user.user == creds.me.user}

    async def learn(self, node: Node) -> None:
        """Store the LID↔PN pairs the attributes of ``node`` (a message, receipt, notification) tell
        (:func:`lid_pairs`). Pairs already stored by this directory are not written again."""
        await self._store_pairs(lid_pairs(node))

    async def _store_pairs(self, pairs: list[tuple[JID, JID]]) -> None:
        new = [(lid.user, pn.user) for lid, pn in pairs if (lid.user, pn.user) not in self._known_pairs]
        if not new:
            return
        await self.lid_store.put_lid_mappings(new)
        for lid, pn in new:
            # The store replaced any mapping either side had: so does what we remember of it.
            stale = [pair for pair in self._known_pairs if pair[0] == lid or pair[1] == pn]
            for pair in stale:
                del self._known_pairs[pair]
            self._known_pairs[(lid, pn)] = None
        while len(self._known_pairs) > self._front_size:
            self._known_pairs.popitem(last=False)

    # ----------------------------------------------------------------- check numbers

    async def check(self, phones: list[str]) -> dict[str, CheckResult]:
        """Whether each of ``phones`` (digits with country code, an optional ``+``) is on WhatsApp, by the
        phone as given: one usync contact query (PROTOCOL.md §8); the LID↔PN pairs it tells are stored.

        ``LocalProtocolError`` for a malformed number (nothing sent); a number the answer leaves out is
        reported as not existing."""
        digits = {phone: normalize_phone(phone) for phone in phones}
        if not digits:
            return {}
        asked = list(dict.fromkeys(digits.values()))
        answer = await self.client.query(contact_query(asked, sid=self._sid()))
        results = parse_contact_result(answer)
        pairs = [
            (result.lid, result.jid)
            for result in results.values()
            if result.exists and result.lid is not None and result.jid is not None
        ]
        await self._store_pairs(pairs)
        return {phone: results.get(number, CheckResult(False)) for phone, number in digits.items()}
