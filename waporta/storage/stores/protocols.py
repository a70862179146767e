"""Store contracts for what a linked WhatsApp device keeps besides Signal state, with in-memory versions.

waproto defines the Signal store Protocols (``waproto.signal.store``, ``waproto.signal.sender_keys``);
this module holds the credential store's, and re-exports the device-list and LID-map contracts and
their in-memory versions from ``waproto.client.directory`` (one definition, so the hub's SQLite stores are
the directory's stores):

- :class:`CredentialStore`: the device's credentials as waproto's JSON-able dict form
  (``waproto.credentials``), kept opaque: the store never looks inside it.
- :class:`DeviceListStore`: per user JID (``"15550001111@s.whatsapp.net"``, ``"1234@lid"``; no device
  part) the device ids usync returned and when they were fetched (:class:`DeviceList`, which is
  ``waproto.client.directory.DeviceList``: these stores are waproto's directory stores too). Calls take
  and return many users at once, so sending to a group is one query, not one per member.
- :class:`LidMapStore`: LID user ↔ phone-number user mappings, by JID *user part* (``"123456789012345"``
  ↔ ``"15550001111"``). One LID per phone number and one phone number per LID: a new pair replaces any
  mapping either side had.

Every implementation is bound to one hub session and copies values both ways (what it returns is never
the caller's object, and changing a value after storing it changes nothing stored). The ``Memory*``
classes are the reference behaviour, for tests and tools; ``waporta.storage.stores.account`` has
the SQLite ones, tested against the same behavioural tests.

This module is NOT the Signal stores (``waporta.storage.stores.signal``) and reads no clock: fetch times
come from the caller.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from waproto.client.directory import (
    DeviceList,
    DeviceListStore,
    LidMapStore,
    MemoryDeviceListStore,
    MemoryLidMapStore,
)

__all__ = [
    "CredentialStore",
    "DeviceList",
    "DeviceListStore",
    "LidMapStore",
    "MemoryCredentialStore",
    "MemoryDeviceListStore",
    "MemoryLidMapStore",
    "check_user",
    "check_user_jid",
    "credentials_to_json",
]


def credentials_to_json(credentials: Mapping[str, Any]) -> str:
    """The canonical JSON text a credential store keeps (sorted keys, compact, no NaN).

    Raises ``TypeError`` for a value JSON cannot hold and ``ValueError`` for NaN or infinity, before
    anything is stored.
    """
    if not isinstance(credentials, Mapping):
        raise TypeError(f"credentials are a JSON-able dict, not {type(credentials).__name__}")
    return json.dumps(dict(credentials), sort_keys=True, separators=(",", ":"), allow_nan=False)


def check_user_jid(user_jid: str) -> str:
    """``user_jid`` if it is a non-empty ``user@server`` string without a device part, else ``ValueError``."""
    if not isinstance(user_jid, str) or "@" not in user_jid or ":" in user_jid.partition("@")[0]:
        raise ValueError(f"a device list is keyed by a user JID without a device, not {user_jid!r}")
    return user_jid


def check_user(user: str) -> str:
    """``user`` if it is a non-empty JID user part (no ``@``, no ``:device``), else ``ValueError``."""
    if not isinstance(user, str) or not user or "@" in user or ":" in user:
        raise ValueError(f"a LID mapping holds JID user parts (no server, no device), not {user!r}")
    return user


class CredentialStore(Protocol):
    """One session's credentials, as waproto's JSON-able dict form."""

    async def load_credentials(self) -> dict[str, Any] | None:
        """A fresh copy of the stored dict, or ``None`` if the session has none (not linked)."""
        ...

    async def save_credentials(self, credentials: Mapping[str, Any]) -> None:
        """Replace the stored credentials (``TypeError``/``ValueError`` if not JSON-able; nothing stored)."""
        ...

    async def delete_credentials(self) -> None:
        """Forget the credentials (logout); deleting when there are none is not an error."""
        ...


class MemoryCredentialStore:
    """A :class:`CredentialStore` in memory (keeps the JSON text, so values are copied both ways)."""

    def __init__(self) -> None:
        self._text: str | None = None

    async def load_credentials(self) -> dict[str, Any] | None:
        if self._text is None:
            return None
        loaded: dict[str, Any] = json.loads(self._text)
        return loaded

    async def save_credentials(self, credentials: Mapping[str, Any]) -> None:
        self._text = credentials_to_json(credentials)

    async def delete_credentials(self) -> None:
        self._text = None


def _conforms(creds: MemoryCredentialStore, devices: MemoryDeviceListStore, lids: MemoryLidMapStore) -> None:
    """Never called: mypy checks here that the memory classes implement the Protocols."""
    as_creds: CredentialStore = creds
    as_devices: DeviceListStore = devices
    as_lids: LidMapStore = lids
    del as_creds, as_devices, as_lids
