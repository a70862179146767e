"""Who is who for the :class:`~waproto.client.messaging.Messenger`: our own identities, the LID↔PN pairs
it has seen, and the Signal address each device's session is kept under.

A WhatsApp user may be named by phone number (``<pn>@s.whatsapp.net``) or by LID (``<lid>@lid``;
PROTOCOL.md §6.2.11, §12.3). Signal sessions are keyed by the LID whenever it is known
(``<lid>_1.<device>``, whatsmeow's form), else by the phone number (``<pn>.<device>``); a session kept
under the phone number is copied over to the LID address the first time it is looked up there
(:meth:`AddressBook.session`). The pairs come from the ``sender_lid``/``sender_pn``,
``participant_lid``/``participant_pn`` and ``peer_recipient_lid``/``peer_recipient_pn`` attributes of
incoming stanzas (:meth:`AddressBook.learn`), from group metadata and LID queries
(:meth:`AddressBook.remember`), and from our credentials for our own account. They are kept in memory; :meth:`AddressBook.recall` fills in, from a ``directory``'s
store (never the server), the pairs of phone-number users it does not know, as after a restart.

This module is NOT a persistent LID store or a server query (``waproto.client.directory``), Signal
encryption (``waproto.signal``), or message handling (``waproto.client.messaging``,
``waproto.client.receiving``). It never waits on the network.
"""

from __future__ import annotations

from typing import Final

from waproto.binary import Node
from waproto.client.client import Client
from waproto.client.message_types import DeviceDirectory
from waproto.errors import LocalProtocolError
from waproto.jid import DEFAULT_USER_SERVER, HIDDEN_USER_SERVER, JID
from waproto.signal import ProtocolAddress, SessionRecord, SessionStore

__all__ = ["AddressBook", "jid_attr", "sender_alt"]

#: What :meth:`AddressBook.learn` reads: the subject (the first of these attributes that is a JID) and the
#: attributes naming its other identity.
_LEARNED: Final = (
    (("participant", "from"), ("participant_lid", "participant_pn", "sender_lid", "sender_pn")),
    (("recipient",), ("peer_recipient_lid", "peer_recipient_pn")),
)


def jid_attr(node: Node, name: str) -> JID | None:
    """The JID in attribute ``name`` of ``node``, or None when it is absent or malformed."""
    return node.jid_attr_or_none(name)


def sender_alt(node: Node, sender: JID, in_group: bool) -> JID | None:
    """The other identity (as a user JID) of a message's ``sender`` that the stanza names: its LID for a
    phone number or its phone number for a LID (``participant_*`` in a group, ``sender_*``), else None."""
    names = ("participant_lid", "participant_pn") if in_group else ()
    for name in (*names, "sender_lid", "sender_pn"):
        alt = jid_attr(node, name)
        if alt is not None and alt.server != sender.server:
            return alt.to_non_ad()
    return None


class AddressBook:
    """Our identities (from ``client``'s current credentials), LID↔PN pairs in memory, Signal addresses.
    See the module docstring."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._lid_of: dict[JID, JID] = {}  # PN user → LID user
        self._pn_of: dict[JID, JID] = {}  # LID user → PN user

    # ----------------------------------------------------------------- our own account

    def own(self) -> tuple[JID, JID | None]:
        """This device's PN JID and our LID user (None when the server did not give one).
        ``LocalProtocolError`` when the device is not paired."""
        creds = self.client.credentials
        if creds.me is None:
            raise LocalProtocolError("this device is not paired")
        return creds.me, None if creds.lid is None else creds.lid.to_non_ad()

    def is_own_user(self, jid: JID) -> bool:
        """Whether ``jid`` (any device) is our account, by phone number or LID."""
        creds = self.client.credentials
        return any(own is not None and jid.user == own.user for own in (creds.me, creds.lid))

    def is_this_device(self, device: JID) -> bool:
        """Whether ``device`` is this very device (by phone number or LID)."""
        me = self.client.credentials.me
        return me is not None and device.device == me.device and self.is_own_user(device)

    # ----------------------------------------------------------------- LID ↔ PN

    def remember(self, pn: JID, lid: JID) -> None:
        """Record that phone-number user ``pn`` is LID user ``lid`` (other servers are ignored)."""
        pn, lid = pn.to_non_ad(), lid.to_non_ad()
        if pn.server == DEFAULT_USER_SERVER and lid.server == HIDDEN_USER_SERVER:
            self._lid_of[pn], self._pn_of[lid] = lid, pn

    def lid_of(self, pn: JID) -> JID | None:
        """The LID user of phone-number user ``pn``, if known (ours from the credentials)."""
        me, lid = self.own()
        return lid if pn.user == me.user and lid is not None else self._lid_of.get(pn)

    def pn_of(self, lid: JID) -> JID | None:
        """The phone-number user of LID user ``lid``, if known (ours from the credentials)."""
        me, own_lid = self.own()
        return me.to_non_ad() if own_lid is not None and lid.user == own_lid.user else self._pn_of.get(lid)

    def learn(self, node: Node) -> None:
        """Remember the LID↔PN pairs the attributes of a message or receipt tell about its sender
        (``from``/``participant``) and its recipient."""
        attrs = node.attrs
        for subject_names, names in _LEARNED:
            present = [name for name in names if name in attrs]
            if not present:
                continue  # the common case: parse no JID for nothing
            subject = None
            for subject_name in subject_names:
                subject = jid_attr(node, subject_name)
                if subject is not None:
                    break
            if subject is None:
                continue
            for name in present:
                alt = jid_attr(node, name)
                if alt is not None:
                    self.remember(subject, alt) if alt.is_lid else self.remember(alt, subject)

    async def recall(self, directory: DeviceDirectory, users: list[JID]) -> None:
        """Remember the stored LIDs (``directory.known_lids``: a store read, no query) of those
        phone-number users among ``users`` whose LID is not known here."""
        unknown = list(
            dict.fromkeys(
                user.to_non_ad()
                for user in users
                if user.server == DEFAULT_USER_SERVER and user.user and self.lid_of(user.to_non_ad()) is None
            )
        )
        if unknown:
            for pn, lid in (await directory.known_lids(unknown)).items():
                self.remember(pn, lid)

    # ----------------------------------------------------------------- Signal addresses

    def address(self, device: JID) -> ProtocolAddress:
        """The Signal address of ``device``: by LID (``<lid>_1``) when known, else by phone number."""
        user = device.to_non_ad()
        if user.server == DEFAULT_USER_SERVER:
            user = self.lid_of(user) or user
        name = f"{user.user}_1" if user.server == HIDDEN_USER_SERVER else user.user
        return ProtocolAddress(name, device.device)

    async def session(self, store: SessionStore, device: JID) -> tuple[ProtocolAddress, SessionRecord | None]:
        """:meth:`address` and the session ``store`` keeps there, copying one kept under the phone number
        over when there is none yet (the caller serialises Signal operations)."""
        address = self.address(device)
        record = await store.load_session(address)
        user = device.to_non_ad()
        pn = user if user.server == DEFAULT_USER_SERVER else self.pn_of(user)
        if record is None and pn is not None and address.name != pn.user:
            record = await store.load_session(ProtocolAddress(pn.user, device.device))
            if record is not None:
                await store.store_session(address, record)
        return address, record
