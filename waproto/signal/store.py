"""The storage contracts of Signal 1:1 sessions: one ``typing.Protocol`` per concern, all async.

- :class:`IdentityKeyStore`: our identity key pair and registration id, and the identity keys of peers
  (trust on first use; what happens when a peer's key *changes* is the store's policy, and the change
  is always reported to the caller, see ``waproto.signal.session.IdentityChange``).
- :class:`PreKeyStore`: our one-time prekeys, removed once a peer has used one.
- :class:`SignedPreKeyStore`: our signed prekeys.
- :class:`SessionStore`: one :class:`~waproto.signal.session.SessionRecord` per peer address.

The operations in ``waproto.signal.session`` and ``waproto.signal.cipher`` load what they need, work on
copies, and write only after the whole operation succeeded: a failed decryption (bad MAC, unknown
prekey, duplicate) calls no ``store_*``/``save_*``/``remove_*`` method. Records handed to
``store_session`` are never mutated afterwards by waproto, and records returned by ``load_session`` are
never mutated by waproto either, so a store may keep and hand out the same objects.

Operations on one address must not run concurrently (two decryptions racing on one session would each
store their own successor); the caller serialises them, as libsignal-node's per-address job queue does.

This module holds no implementation: ``waproto.signal.memory`` has in-memory ones and ``waporta`` the
SQLite ones (records serialise with ``SessionRecord.serialize``, keys with their ``serialize``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from waproto.signal.address import ProtocolAddress
    from waproto.signal.curve import KeyPair
    from waproto.signal.keys import PreKeyRecord, SignedPreKeyRecord
    from waproto.signal.session import SessionRecord

__all__ = ["Direction", "IdentityKeyStore", "PreKeyStore", "SessionStore", "SignedPreKeyStore"]

#: Whether an identity key is checked for sending to a peer or for receiving from it.
Direction = Literal["sending", "receiving"]


class IdentityKeyStore(Protocol):
    """Our identity and the identities of the peers we talk to."""

    async def get_identity_key_pair(self) -> KeyPair:
        """Our identity key pair."""
        ...

    async def get_local_registration_id(self) -> int:
        """Our registration id (1..16383)."""
        ...

    async def get_identity(self, address: ProtocolAddress) -> bytes | None:
        """The 32-byte identity key stored for ``address``, or ``None``."""
        ...

    async def is_trusted_identity(
        self, address: ProtocolAddress, identity_key: bytes, direction: Direction
    ) -> bool:
        """Whether ``identity_key`` (32 bytes) may be used with ``address``.

        Trust on first use: an address with no stored key is trusted. A key different from the stored
        one is this store's policy decision (accept and let the change be reported, or refuse: the
        operation then raises ``UntrustedIdentity``).
        """
        ...

    async def save_identity(self, address: ProtocolAddress, identity_key: bytes) -> bytes | None:
        """Store ``identity_key`` (32 bytes) for ``address``.

        Returns the key it replaced when that was a *different* key (the identity changed), else ``None``.
        """
        ...


class PreKeyStore(Protocol):
    """Our one-time prekeys."""

    async def load_pre_key(self, pre_key_id: int) -> PreKeyRecord | None:
        """The prekey with this id, or ``None`` if there is none (used up or never made)."""
        ...

    async def store_pre_key(self, pre_key_id: int, record: PreKeyRecord) -> None:
        """Keep ``record`` under ``pre_key_id``."""
        ...

    async def remove_pre_key(self, pre_key_id: int) -> None:
        """Forget the prekey (a peer used it); removing a missing id is not an error."""
        ...


class SignedPreKeyStore(Protocol):
    """Our signed prekeys."""

    async def load_signed_pre_key(self, signed_pre_key_id: int) -> SignedPreKeyRecord | None:
        """The signed prekey with this id, or ``None``."""
        ...

    async def store_signed_pre_key(self, signed_pre_key_id: int, record: SignedPreKeyRecord) -> None:
        """Keep ``record`` under ``signed_pre_key_id``."""
        ...


class SessionStore(Protocol):
    """One session record per peer address."""

    async def load_session(self, address: ProtocolAddress) -> SessionRecord | None:
        """The record for ``address``, or ``None`` if we never had a session with it."""
        ...

    async def store_session(self, address: ProtocolAddress, record: SessionRecord) -> None:
        """Replace the record for ``address``."""
        ...
