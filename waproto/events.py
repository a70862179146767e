"""The events :class:`waproto.connection.Connection` returns from ``receive_data``: frozen dataclasses.

One event per meaningful thing the server did, in the order it did it:

- :class:`HandshakeCompleted`: the server's certificate chain verified, our ClientFinish is queued;
- :class:`QRRefs`: ``<pair-device>`` offered refs for QR codes (already acknowledged);
- :class:`Paired`: a ``<pair-success>`` verified and answered; the new credentials are in it;
- :class:`PairingFailed`: a ``<pair-success>`` failed a check and was refused with an error iq;
- :class:`LoginSucceeded` / :class:`LoginFailed`: ``<success>`` or ``<failure reason>``;
- :class:`StreamErrored` / :class:`StreamEnded`: ``<stream:error>`` or ``<xmlstreamend/>``: the server is
  closing the stream;
- :class:`IqResponse`: the answer (``result`` or ``error``) to an iq we sent, matched by id by the caller;
- :class:`StanzaReceived`: any other stanza (messages, receipts, notifications, ``<ib>``, server iqs).

This module is not the client's public events (``waproto.client.events``): these are protocol facts, and
the client turns them into what an application sees (QR strings, connected, logged out, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from waproto.binary import Node
from waproto.credentials import Credentials
from waproto.errors import WAProtoError
from waproto.jid import JID
from waproto.noise import CertificateDetails

__all__ = [
    "Event",
    "HandshakeCompleted",
    "IqResponse",
    "LoginFailed",
    "LoginSucceeded",
    "Paired",
    "PairingFailed",
    "QRRefs",
    "StanzaReceived",
    "StreamEnded",
    "StreamErrored",
]


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every connection event."""


@dataclass(frozen=True, slots=True)
class HandshakeCompleted(Event):
    """The Noise handshake is done; the ClientFinish (with our payload) is queued to send."""

    #: The server's verified leaf certificate.
    certificate: CertificateDetails


@dataclass(frozen=True, slots=True)
class QRRefs(Event):
    """The server offered QR refs (``<pair-device>``); the iq was already answered."""

    #: The refs, in the order to show them.
    refs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Paired(Event):
    """A pair-success was verified and answered with ``<pair-device-sign>``; a 515 restart follows."""

    #: The credentials after pairing (``me``, ``lid``, ``account``, ``platform`` set): store them.
    credentials: Credentials = field(repr=False)
    #: Our new device JID.
    jid: JID
    #: Our new LID, when the server sent one.
    lid: JID | None
    #: The primary's Signal identity key (32 bytes).
    primary_identity: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class PairingFailed(Event):
    """A pair-success failed a check (HMAC, account signature, malformed); an error iq was sent back."""

    error: WAProtoError


@dataclass(frozen=True, slots=True)
class LoginSucceeded(Event):
    """``<success>``: we are logged in (send the prekey count query and ``<active/>`` next)."""

    #: Our LID from ``<success lid>``, when sent.
    lid: JID | None
    node: Node = field(repr=False)


@dataclass(frozen=True, slots=True)
class LoginFailed(Event):
    """``<failure reason=N>``: the login was refused (401, 403, 406: the device is logged out)."""

    #: The ``reason`` attribute as a number (0 if absent or not a number).
    reason: int
    node: Node = field(repr=False)


@dataclass(frozen=True, slots=True)
class StreamErrored(Event):
    """``<stream:error>``: 515 restart, 401 logged out, a ``conflict`` (replaced, device removed), 503, ..."""

    #: The ``code`` attribute, if any.
    code: str | None
    #: The ``type`` of a ``<conflict>`` child (``replaced``, ``device_removed``), if any.
    conflict: str | None
    node: Node = field(repr=False)


@dataclass(frozen=True, slots=True)
class StreamEnded(Event):
    """``<xmlstreamend/>``: the server ended the stream."""


@dataclass(frozen=True, slots=True)
class IqResponse(Event):
    """An ``<iq type="result|error">`` answering one we sent."""

    iq_id: str
    node: Node = field(repr=False)

    @property
    def is_error(self) -> bool:
        """Whether it is ``type="error"``."""
        return self.node.attrs.get("type") == "error"

    @property
    def error_code(self) -> int | None:
        """The ``<error code>`` of an error answer, as a number (None otherwise)."""
        error = self.node.child("error")
        code = None if error is None else str(error.attrs.get("code", ""))
        return int(code) if code is not None and code.isascii() and code.isdigit() else None


@dataclass(frozen=True, slots=True)
class StanzaReceived(Event):
    """Any other stanza; the caller owes it whatever ack or receipt the protocol wants."""

    node: Node
