"""In-memory implementations of the Signal store Protocols (``waproto.signal.store``).

For tests, tools and short-lived clients: nothing survives the process. :class:`MemorySignalStore`
implements all four Protocols in one object, so it can be passed as every store argument.

Identity policy (:class:`MemoryIdentityKeyStore`): trust on first use. A *changed* identity key is
accepted by default and reported by the operation that stores it (``IdentityChange``), as WhatsApp
clients show "security code changed"; with ``accept_changed_identities=False`` it is refused and the
operation raises ``UntrustedIdentity`` until the caller stores the new key itself.

This module is not a persistent store (``waporta`` provides the SQLite ones).
"""

from __future__ import annotations

from waproto.errors import LocalProtocolError
from waproto.signal.address import ProtocolAddress
from waproto.signal.curve import KeyPair, strip_key_type
from waproto.signal.keys import PreKeyRecord, SignedPreKeyRecord
from waproto.signal.session import SessionRecord
from waproto.signal.store import Direction

__all__ = [
    "MemoryIdentityKeyStore",
    "MemoryPreKeyStore",
    "MemorySessionStore",
    "MemorySignalStore",
    "MemorySignedPreKeyStore",
]


class MemoryIdentityKeyStore:
    """Our identity and our peers' identity keys, in a dict (see the module docstring for the policy)."""

    def __init__(
        self, identity: KeyPair, registration_id: int, *, accept_changed_identities: bool = True
    ) -> None:
        if not 0 <= registration_id < 2**32:
            raise LocalProtocolError("a registration id is a 32-bit unsigned integer")
        self.identity = identity
        self.registration_id = registration_id
        #: Whether a key different from the stored one is trusted (and then reported as a change).
        self.accept_changed_identities = accept_changed_identities
        #: The stored peer identity keys (32 bytes).
        self.identities: dict[ProtocolAddress, bytes] = {}

    async def get_identity_key_pair(self) -> KeyPair:
        return self.identity

    async def get_local_registration_id(self) -> int:
        return self.registration_id

    async def get_identity(self, address: ProtocolAddress) -> bytes | None:
        return self.identities.get(address)

    async def is_trusted_identity(
        self, address: ProtocolAddress, identity_key: bytes, direction: Direction
    ) -> bool:
        known = self.identities.get(address)
        return known is None or known == strip_key_type(identity_key) or self.accept_changed_identities

    async def save_identity(self, address: ProtocolAddress, identity_key: bytes) -> bytes | None:
        key = strip_key_type(identity_key)
        previous = self.identities.get(address)
        self.identities[address] = key
        return previous if previous is not None and previous != key else None


class MemoryPreKeyStore:
    """One-time prekeys in a dict."""

    def __init__(self) -> None:
        self.pre_keys: dict[int, PreKeyRecord] = {}

    async def load_pre_key(self, pre_key_id: int) -> PreKeyRecord | None:
        return self.pre_keys.get(pre_key_id)

    async def store_pre_key(self, pre_key_id: int, record: PreKeyRecord) -> None:
        self.pre_keys[pre_key_id] = record

    async def remove_pre_key(self, pre_key_id: int) -> None:
        self.pre_keys.pop(pre_key_id, None)


class MemorySignedPreKeyStore:
    """Signed prekeys in a dict."""

    def __init__(self) -> None:
        self.signed_pre_keys: dict[int, SignedPreKeyRecord] = {}

    async def load_signed_pre_key(self, signed_pre_key_id: int) -> SignedPreKeyRecord | None:
        return self.signed_pre_keys.get(signed_pre_key_id)

    async def store_signed_pre_key(self, signed_pre_key_id: int, record: SignedPreKeyRecord) -> None:
        self.signed_pre_keys[signed_pre_key_id] = record


class MemorySessionStore:
    """Session records in a dict (records are values: kept and handed out as they are)."""

    def __init__(self) -> None:
        self.sessions: dict[ProtocolAddress, SessionRecord] = {}

    async def load_session(self, address: ProtocolAddress) -> SessionRecord | None:
        return self.sessions.get(address)

    async def store_session(self, address: ProtocolAddress, record: SessionRecord) -> None:
        self.sessions[address] = record


class MemorySignalStore(
    MemoryIdentityKeyStore, MemoryPreKeyStore, MemorySignedPreKeyStore, MemorySessionStore
):
    """All four stores in one object."""

    def __init__(
        self, identity: KeyPair, registration_id: int, *, accept_changed_identities: bool = True
    ) -> None:
        MemoryIdentityKeyStore.__init__(
            self, identity, registration_id, accept_changed_identities=accept_changed_identities
        )
        MemoryPreKeyStore.__init__(self)
        MemorySignedPreKeyStore.__init__(self)
        MemorySessionStore.__init__(self)
