"""The address of one Signal party: a user name and a device id (libsignal's ``ProtocolAddress``).

Sessions and identities are stored per address. The name is whatever the caller keys sessions by
(WhatsApp: the JID user, e.g. ``15550002222`` for Baileys 6, ``12345_1`` for a LID in whatsmeow and
Baileys 7); ``str(address)`` is ``"name.device"`` as libsignal prints it.

This module is not a JID parser (see ``waproto.jid``) and does not decide how JIDs map to names.
"""

from __future__ import annotations

from dataclasses import dataclass

from waproto.errors import LocalProtocolError

__all__ = ["ProtocolAddress"]


@dataclass(frozen=True, slots=True)
class ProtocolAddress:
    """One device of one Signal user; hashable, usable as a store key."""

    #: The user part (never empty).
    name: str
    #: The device id (0 for a primary phone).
    device_id: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise LocalProtocolError("a protocol address needs a non-empty name")
        if not isinstance(self.device_id, int) or not 0 <= self.device_id < 2**32:
            raise LocalProtocolError("a device id is an integer in 0..2**32-1")

    def __str__(self) -> str:
        return f"{self.name}.{self.device_id}"
