"""WhatsApp JIDs (Jabber IDs): an immutable value type, its string forms and its helpers.

A JID names a user, one device of a user, a group, a broadcast list, a newsletter or a server::

    1234567890@s.whatsapp.net        phone-number ("PN") user
    1234567890:3@s.whatsapp.net      device 3 of that user (an "AD" JID: agent/device)
    1234567890_1:3@s.whatsapp.net    agent 1, device 3 (Baileys' form; ``ad_string()`` gives whatsmeow's
                                     ``1234567890.1:3@s.whatsapp.net``, which ``parse`` also reads)
    99887766@lid, 99887766:3@lid     hidden ("LID") user and device
    120363012345678901@g.us          group
    status@broadcast                 the status broadcast
    120363098765432109@newsletter    newsletter (channel)
    123@hosted, 123:99@hosted.lid    hosted (Cloud API) PN and LID users; device 99 is the hosted device
    100012345:7@msgr                 Messenger interop user (device up to 65535)
    5-100012345:7@interop            interop user of integrator 5, device 7 (Baileys 7's form)
    @s.whatsapp.net                  a server alone (how iq stanzas address "the server")

Rules of the string form (``str(jid)``): the agent is written only when it is not 0, the device only when
it is not 0 (so ``123:0@s.whatsapp.net`` parses to the same value as ``123@s.whatsapp.net``, as in
Baileys and whatsmeow), the integrator form only for ``interop`` JIDs with an integrator.
``JID.parse(str(jid)) == jid`` for every JID whose fields are in range.

This module is NOT the binary encoding of JIDs (that is ``waproto.binary``) and does not decide which
servers exist: any server name is carried through; ``KNOWN_SERVERS`` lists the ones we know.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Final

from waproto.errors import LocalProtocolError

__all__ = [
    "AD_SERVERS",
    "BOT_SERVER",
    "BROADCAST_SERVER",
    "DEFAULT_USER_SERVER",
    "GROUP_SERVER",
    "HIDDEN_USER_SERVER",
    "HOSTED_DEVICE",
    "HOSTED_LID_SERVER",
    "HOSTED_SERVER",
    "INTEROP_SERVER",
    "JID",
    "KNOWN_SERVERS",
    "LEGACY_USER_SERVER",
    "MESSENGER_SERVER",
    "NEWSLETTER_SERVER",
    "SERVER_JID",
    "STATUS_BROADCAST_JID",
    "parse_jid",
]

DEFAULT_USER_SERVER: Final = "s.whatsapp.net"
HIDDEN_USER_SERVER: Final = "lid"
GROUP_SERVER: Final = "g.us"
BROADCAST_SERVER: Final = "broadcast"
NEWSLETTER_SERVER: Final = "newsletter"
LEGACY_USER_SERVER: Final = "c.us"
BOT_SERVER: Final = "bot"
HOSTED_SERVER: Final = "hosted"
HOSTED_LID_SERVER: Final = "hosted.lid"
MESSENGER_SERVER: Final = "msgr"
INTEROP_SERVER: Final = "interop"

#: Every server PROTOCOL.md §2.8 names.
KNOWN_SERVERS: Final = frozenset(
    {
        DEFAULT_USER_SERVER,
        HIDDEN_USER_SERVER,
        GROUP_SERVER,
        BROADCAST_SERVER,
        NEWSLETTER_SERVER,
        LEGACY_USER_SERVER,
        BOT_SERVER,
        HOSTED_SERVER,
        HOSTED_LID_SERVER,
        MESSENGER_SERVER,
        INTEROP_SERVER,
    }
)

#: Servers whose device JIDs travel as AD_JID (device 0..255), with the domain type byte of each.
AD_SERVERS: Final = {DEFAULT_USER_SERVER: 0, HIDDEN_USER_SERVER: 1, HOSTED_SERVER: 128, HOSTED_LID_SERVER: 129}

#: The device number of a hosted (Cloud API) device.
HOSTED_DEVICE: Final = 99

_MAX_U8: Final = 0xFF
_MAX_U16: Final = 0xFFFF


@dataclass(frozen=True, slots=True, order=True)
class JID:
    """A WhatsApp address. Immutable and hashable; compare with ``==``.

    ``user`` is "" for a bare server JID. ``device`` (0 = none/primary) and ``agent`` (0 = none) make
    it a device ("AD") JID; ``integrator`` is set only for ``interop`` JIDs.
    The constructor does not validate (the decoder builds JIDs from checked wire data); ``parse`` does,
    and ``waproto.binary.marshal`` rejects fields out of range for the wire form it needs.
    """

    user: str
    server: str
    _: KW_ONLY
    #: Device number: 0..255 on AD servers, 0..65535 on ``msgr``/``interop``.
    device: int = 0
    #: Agent (raw domain type) of an AD JID on ``s.whatsapp.net``, 0..255; 0 means none.
    agent: int = 0
    #: Integrator id of an ``interop`` JID, 0..65535.
    integrator: int = 0

    # ----------------------------------------------------------------- parsing and formatting

    @classmethod
    def parse(cls, text: str) -> JID:
        """Parse any string form listed in the module docstring.

        Raises ``LocalProtocolError`` naming ``text`` when it is not a JID.
        """
        return parse_jid(text)

    def __str__(self) -> str:
        user = self.user
        if self.integrator and self.server == INTEROP_SERVER:
            return f"{self.integrator}-{user}:{self.device}@{self.server}"
        if self.agent:
            user = f"{user}_{self.agent}"
        if self.device:
            return f"{user}:{self.device}@{self.server}"
        return f"{user}@{self.server}"

    def __repr__(self) -> str:
        return f"JID({str(self)!r})"

    def ad_string(self) -> str:
        """whatsmeow's AD form ``user.agent:device@server``, always with agent and device (used for phash)."""
        return f"{self.user}.{self.agent}:{self.device}@{self.server}"

    # ----------------------------------------------------------------- derived JIDs

    def to_non_ad(self) -> JID:
        """The user (or group, ...) this JID belongs to: the same JID without agent and device."""
        if not self.device and not self.agent:
            return self
        return JID(self.user, self.server, integrator=self.integrator)

    def with_device(self, device: int) -> JID:
        """The JID of ``device`` of this JID's user (keeps the agent and integrator)."""
        if not 0 <= device <= _MAX_U16:
            raise LocalProtocolError(f"device {device!r} out of range 0..65535 for {self}")
        return JID(self.user, self.server, device=device, agent=self.agent, integrator=self.integrator)

    # ----------------------------------------------------------------- classification

    @property
    def is_ad(self) -> bool:
        """True for a device JID (agent or device set)."""
        return bool(self.device or self.agent)

    @property
    def is_pn(self) -> bool:
        """A phone-number user or device (``s.whatsapp.net``)."""
        return self.server == DEFAULT_USER_SERVER and bool(self.user)

    @property
    def is_lid(self) -> bool:
        """A hidden (LID) user or device (``lid``)."""
        return self.server == HIDDEN_USER_SERVER

    @property
    def is_group(self) -> bool:
        return self.server == GROUP_SERVER

    @property
    def is_broadcast(self) -> bool:
        """Any ``broadcast`` JID, including the status broadcast."""
        return self.server == BROADCAST_SERVER

    @property
    def is_status_broadcast(self) -> bool:
        return self.server == BROADCAST_SERVER and self.user == "status"

    @property
    def is_newsletter(self) -> bool:
        return self.server == NEWSLETTER_SERVER

    @property
    def is_hosted(self) -> bool:
        """A hosted (Cloud API) PN or LID JID."""
        return self.server in (HOSTED_SERVER, HOSTED_LID_SERVER)

    @property
    def is_server(self) -> bool:
        """A bare server JID such as ``@s.whatsapp.net``."""
        return not self.user


def _number(text: str, part: str, what: str, maximum: int) -> int:
    if not part or not part.isascii() or not part.isdigit():
        raise LocalProtocolError(f"invalid JID {text!r}: {what} {part!r} is not a decimal number")
    value = int(part)
    if value > maximum:
        raise LocalProtocolError(f"invalid JID {text!r}: {what} {value} is out of range 0..{maximum}")
    return value


def parse_jid(text: str) -> JID:
    """Parse a JID string (see the module docstring for the forms).

    Raises ``LocalProtocolError`` naming ``text`` if it has no ``@``, more than one, an empty server, a
    device, agent or integrator that is not a number in range, or more than one ``:``.
    """
    if not isinstance(text, str):
        raise LocalProtocolError(f"a JID must be a string, not {type(text).__name__}: {text!r}")
    user, at, server = text.partition("@")
    if not at:
        raise LocalProtocolError(f"invalid JID {text!r}: no '@'")
    if not server:
        raise LocalProtocolError(f"invalid JID {text!r}: empty server")
    if "@" in server:
        raise LocalProtocolError(f"invalid JID {text!r}: more than one '@'")
    if ":" in server:
        raise LocalProtocolError(f"invalid JID {text!r}: ':' in the server")
    ad_server = server in AD_SERVERS
    device_limit = _MAX_U8 if ad_server else _MAX_U16
    device = agent = integrator = 0
    if ":" in user:
        user, _, device_part = user.partition(":")
        if ":" in device_part:
            raise LocalProtocolError(f"invalid JID {text!r}: more than one ':'")
        device = _number(text, device_part, "device", device_limit)
        if server == INTEROP_SERVER and "-" in user:
            integrator_part, _, user = user.partition("-")
            integrator = _number(text, integrator_part, "integrator", _MAX_U16)
    if server == DEFAULT_USER_SERVER:
        # Baileys writes the agent as user_agent, whatsmeow as user.agent.
        for sep in ("_", "."):
            if sep in user:
                user, _, agent_part = user.rpartition(sep)
                agent = _number(text, agent_part, "agent", _MAX_U8)
                break
    return JID(user, server, device=device, agent=agent, integrator=integrator)


#: The server itself, as iq stanzas address it (``@s.whatsapp.net``).
SERVER_JID: Final = JID("", DEFAULT_USER_SERVER)
#: The status broadcast list (``status@broadcast``).
STATUS_BROADCAST_JID: Final = JID("status", BROADCAST_SERVER)
