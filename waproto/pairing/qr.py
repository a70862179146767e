"""The QR string a companion shows so that the primary phone can link it (PROTOCOL.md §4.2, §12.4).

Two formats exist, both carrying the same four values: the server's ``ref`` for this QR (an ASCII
string such as ``2@…``), the companion's Noise static public key, its Signal identity public key and
its 32-byte adv secret, each key in standard base64 with padding:

- the four-part string Baileys 6 (and whatsmeow before 2026-05) shows: ``ref,noise,identity,adv``;
- the link whatsmeow and Baileys 7 show since 2026-05:
  ``https://wa.me/settings/linked_devices#ref,noise,identity,adv,<client type>``, where the client type
  is one character naming the kind of companion (:class:`ClientType`).

:class:`QRData` builds either (``str(qr)``) and :func:`parse_qr` reads both, as the phone side does.
The refs arrive in ``<iq type="set" xmlns="md"><pair-device><ref>…`` (:func:`pair_device_node`,
:func:`parse_pair_device`); the companion acknowledges with an empty ``<iq type="result">``.

This module is not the QR image (``qrcode`` renders one in the hub), the ref rotation schedule (the
client's business) or the verification that follows a scan (``waproto.pairing.device_identity``).
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass, field
from typing import Final

from waproto.binary import Node
from waproto.errors import DecodeError, LocalProtocolError
from waproto.jid import SERVER_JID

__all__ = [
    "QR_LINK_PREFIX",
    "ClientType",
    "QRData",
    "client_type_for_browser",
    "pair_device_node",
    "parse_pair_device",
    "parse_qr",
]

#: What the 2026 QR format puts before the comma-separated values.
QR_LINK_PREFIX: Final = "https://wa.me/settings/linked_devices#"

_KEY_LENGTH: Final = 32


class ClientType(enum.StrEnum):
    """The companion kind named by the last field of the 2026 QR format (whatsmeow's ``PairClientType``)."""

    UNKNOWN = "0"
    CHROME = "1"
    EDGE = "2"
    FIREFOX = "3"
    IE = "4"
    OPERA = "5"
    SAFARI = "6"
    ELECTRON = "7"
    UWP = "8"
    OTHER_WEB_CLIENT = "9"
    MACOS = "c"
    ANDROID = "e"


_BROWSERS: Final = {
    "Chrome": ClientType.CHROME,
    "Edge": ClientType.EDGE,
    "Firefox": ClientType.FIREFOX,
    "IE": ClientType.IE,
    "Opera": ClientType.OPERA,
    "Safari": ClientType.SAFARI,
}


def client_type_for_browser(os_name: str, browser: str) -> ClientType:
    """The client type Baileys 7 derives from its ``browser`` setting ``(os, browser, version)``.

    ``"Desktop"`` is the desktop app: UWP on Windows, Electron elsewhere; a known browser name maps to
    its type; anything else is ``OTHER_WEB_CLIENT``.
    """
    if browser == "Desktop":
        return ClientType.UWP if os_name == "Windows" else ClientType.ELECTRON
    return _BROWSERS.get(browser, ClientType.OTHER_WEB_CLIENT)


@dataclass(frozen=True, slots=True)
class QRData:
    """The values a QR code carries. ``str(qr)`` is the QR string; ``repr`` never shows the adv secret.

    ``client_type`` None means the four-part Baileys 6 string, otherwise the 2026 link form ending in
    that client type. The constructor checks the values (``LocalProtocolError``): ``ref`` non-empty,
    ASCII, without commas; keys and adv secret 32 bytes each.
    """

    #: The server's reference for this QR, from a ``<ref>`` child of ``<pair-device>``.
    ref: str
    #: The companion's Noise static public key (32 bytes).
    noise_public: bytes
    #: The companion's Signal identity public key (32 bytes, no ``05`` prefix).
    identity_public: bytes
    #: The companion's adv secret (32 bytes): the primary uses it to authenticate pair-success.
    adv_secret: bytes = field(repr=False)
    #: The companion kind for the 2026 link form; None for the four-part form.
    client_type: ClientType | None = None

    def __post_init__(self) -> None:
        if not self.ref or not self.ref.isascii() or "," in self.ref or not self.ref.isprintable():
            raise LocalProtocolError(f"a QR ref is non-empty printable ASCII without commas, not {self.ref!r}")
        for name in ("noise_public", "identity_public", "adv_secret"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != _KEY_LENGTH:
                raise LocalProtocolError(f"QR {name} must be {_KEY_LENGTH} bytes")
        if self.client_type is not None and not isinstance(self.client_type, ClientType):
            raise LocalProtocolError(f"QR client_type must be a ClientType, not {self.client_type!r}")

    def __str__(self) -> str:
        parts = [
            self.ref,
            base64.b64encode(self.noise_public).decode("ascii"),
            base64.b64encode(self.identity_public).decode("ascii"),
            base64.b64encode(self.adv_secret).decode("ascii"),
        ]
        if self.client_type is None:
            return ",".join(parts)
        return QR_LINK_PREFIX + ",".join([*parts, self.client_type.value])


def _key(text: str, name: str, qr: str) -> bytes:
    try:
        value = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise DecodeError(f"QR {name} is not standard base64 ({len(qr)}-character QR)") from exc
    if len(value) != _KEY_LENGTH:
        raise DecodeError(f"QR {name} is {len(value)} bytes, not {_KEY_LENGTH}")
    return value


def parse_qr(text: str) -> QRData:
    """Read a QR string in either format (what the primary phone does after scanning).

    Raises ``DecodeError`` when it is neither form, a key is not 32 bytes of standard base64, or the
    client type is not one :class:`ClientType` knows.
    """
    if not isinstance(text, str):
        raise DecodeError(f"a QR string is text, not {type(text).__name__}")
    client_type: ClientType | None = None
    if text.startswith(QR_LINK_PREFIX):
        parts = text[len(QR_LINK_PREFIX) :].split(",")
        if len(parts) != 5:
            raise DecodeError(f"a linked-devices QR has 5 comma-separated fields, this one {len(parts)}")
        try:
            client_type = ClientType(parts[4])
        except ValueError as exc:
            raise DecodeError(f"unknown QR client type {parts[4][:8]!r}") from exc
    else:
        parts = text.split(",")
        if len(parts) != 4:
            raise DecodeError(f"a four-part QR has 4 comma-separated fields, this one {len(parts)}")
    ref = parts[0]
    if not ref or not ref.isascii() or not ref.isprintable():
        raise DecodeError("the QR ref is empty or not printable ASCII")
    return QRData(
        ref=ref,
        noise_public=_key(parts[1], "noise key", text),
        identity_public=_key(parts[2], "identity key", text),
        adv_secret=_key(parts[3], "adv secret", text),
        client_type=client_type,
    )


def pair_device_node(*, iq_id: str, refs: list[str]) -> Node:
    """The server's ``<iq type="set" xmlns="md"><pair-device>`` offering QR ``refs`` (usually six)."""
    for ref in refs:
        if not ref or not ref.isascii() or "," in ref or not ref.isprintable():
            raise LocalProtocolError(f"a QR ref is non-empty printable ASCII without commas, not {ref!r}")
    return Node(
        "iq",
        {"from": SERVER_JID, "type": "set", "id": iq_id, "xmlns": "md"},
        [Node("pair-device", {}, [Node("ref", {}, ref.encode("ascii")) for ref in refs])],
    )


def parse_pair_device(node: Node) -> tuple[str, list[str]]:
    """The iq id and the refs of a ``<pair-device>`` stanza, in order.

    Raises ``DecodeError`` (carrying the node) when it has no id, no ``<pair-device>``, no ref, or a ref
    that is not printable ASCII without commas. Children other than ``<ref>`` are ignored.
    """
    pair_device = node.child("pair-device") if node.tag == "iq" else None
    iq_id = node.attrs.get("id")
    if pair_device is None or not isinstance(iq_id, str):
        raise DecodeError("not an <iq id> with a <pair-device> child", node=node)
    refs: list[str] = []
    for child in pair_device.children_with("ref"):
        content = child.content
        if isinstance(content, bytes):
            try:
                content = content.decode("ascii")
            except UnicodeDecodeError as exc:
                raise DecodeError("a <ref> is not ASCII", node=node) from exc
        if not isinstance(content, str) or not content or "," in content or not content.isprintable():
            raise DecodeError("a <ref> is empty, not text, or holds a comma", node=node)
        refs.append(content)
    if not refs:
        raise DecodeError("<pair-device> has no <ref>", node=node)
    return iq_id, refs
