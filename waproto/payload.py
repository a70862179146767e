"""The ``ClientPayload`` a companion sends in the Noise ClientFinish: registration and login (PROTOCOL.md §3.1, §4.2, §4.5).

- :func:`registration_payload`: an unpaired device registers its Signal identity, signed prekey and
  registration id (``devicePairingData``, with ``DeviceProps`` and the MD5 build hash); ``passive=false``,
  ``pull=false``, no username.
- :func:`login_payload`: a paired device names itself (``username`` = phone number, ``device``) and, as
  whatsmeow does today (§12.5), sends ``passive=true``, ``pull=true``, ``lc=1`` and ``lidDbMigrated=true``;
  it switches to active with ``<iq xmlns="passive"><active/>`` after ``<success>``.

Both carry the same user agent (platform WEB, app version, ``mcc``/``mnc`` ``000``, ``Desktop``, ``en``/``US``),
web info (``WEB_BROWSER``), ``connectType=WIFI_UNKNOWN`` and ``connectReason=USER_ACTIVATED``. The app
version is in one place, :data:`WA_VERSION` (whatsmeow's at the time of writing; an outdated version gets
login failure 405, so :class:`DeviceInfo` lets a caller override it). :class:`DeviceInfo` also says how the
companion describes itself to the phone (``os``, platform type, QR client type, pairing-code display).

This module is not the handshake (``waproto.noise``) and not the credentials (``waproto.credentials``);
it only builds protobufs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from waproto.credentials import Credentials
from waproto.errors import LocalProtocolError
from waproto.pairing import ClientType
from waproto.proto import ClientPayload, DeviceProps

__all__ = [
    "DEVICE_PROPS_VERSION",
    "WA_VERSION",
    "DeviceInfo",
    "build_hash",
    "device_props",
    "login_payload",
    "registration_payload",
]

#: The WhatsApp Web version we claim (whatsmeow's; Baileys 6.7.24 and 7 send 2.3000.1043857760).
WA_VERSION: Final = (2, 3000, 1045649367)
#: The ``DeviceProps.version`` companions send (Baileys' and whatsmeow's value).
DEVICE_PROPS_VERSION: Final = (10, 15, 7)

_UserAgent = ClientPayload.UserAgent
_WebInfo = ClientPayload.WebInfo


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """How this companion presents itself. The defaults describe a Chrome web client named ``waporta``."""

    #: ``DeviceProps.os``: the name the phone lists under "Linked devices".
    os: str = "waporta"
    #: ``DeviceProps.platformType`` (CHROME = 1).
    platform_type: int = DeviceProps.CHROME
    #: The client type the 2026 QR format ends with (None: Baileys 6's four-part QR).
    client_type: ClientType | None = ClientType.CHROME
    #: ``companion_platform_display`` of the pairing-code request.
    platform_display: str = "Chrome (waporta)"
    #: The app version (primary, secondary, tertiary).
    version: tuple[int, int, int] = WA_VERSION

    def __post_init__(self) -> None:
        if len(self.version) != 3 or not all(isinstance(v, int) and 0 <= v < 2**32 for v in self.version):
            raise LocalProtocolError("DeviceInfo.version is three uint32 numbers")

    @property
    def platform_id(self) -> str:
        """``companion_platform_id`` of the pairing-code request: the platform type as text."""
        return str(self.platform_type)


def build_hash(version: tuple[int, int, int]) -> bytes:
    """MD5 of the dotted version string (``devicePairingData.buildHash``)."""
    return hashlib.md5(".".join(str(v) for v in version).encode("ascii"), usedforsecurity=False).digest()


def device_props(info: DeviceInfo) -> bytes:
    """The serialised ``DeviceProps`` a new device registers."""
    props = DeviceProps(os=info.os, platform_type=DeviceProps.PlatformType.ValueType(info.platform_type))
    major, minor, patch = DEVICE_PROPS_VERSION
    props.version.primary, props.version.secondary, props.version.tertiary = major, minor, patch
    props.require_full_sync = False
    sync = props.history_sync_config
    sync.storage_quota_mb = 10240
    sync.inline_initial_payload_in_e2ee_msg = True
    sync.support_call_log_history = False
    sync.support_bot_user_agent_chat_history = True
    sync.support_cag_reactions_and_polls = True
    sync.support_biz_hosted_msg = True
    sync.support_recent_sync_chunk_message_count_tuning = True
    sync.support_hosted_group_msg = True
    sync.support_fbid_bot_chat_history = True
    sync.support_message_association = True
    return bytes(props.SerializeToString())


def _base(info: DeviceInfo, push_name: str) -> ClientPayload:
    payload = ClientPayload(
        connect_type=ClientPayload.WIFI_UNKNOWN,
        connect_reason=ClientPayload.USER_ACTIVATED,
    )
    agent = payload.user_agent
    agent.platform = _UserAgent.WEB
    agent.app_version.primary, agent.app_version.secondary, agent.app_version.tertiary = info.version
    agent.mcc = "000"
    agent.mnc = "000"
    agent.os_version = "0.1"
    agent.device = "Desktop"
    agent.os_build_number = "0.1"
    agent.release_channel = _UserAgent.RELEASE
    agent.locale_language_iso_639_1 = "en"
    agent.locale_country_iso_3166_1_alpha_2 = "US"
    payload.web_info.web_sub_platform = _WebInfo.WEB_BROWSER
    if push_name:
        payload.push_name = push_name
    return payload


def registration_payload(credentials: Credentials, info: DeviceInfo | None = None) -> ClientPayload:
    """The payload of an unpaired device (§4.2); ``LocalProtocolError`` if ``credentials`` are paired."""
    if credentials.is_paired:
        raise LocalProtocolError("these credentials are paired: log in with login_payload instead")
    info = info or DeviceInfo()
    payload = _base(info, credentials.push_name)
    payload.passive = False
    payload.pull = False
    spk = credentials.signed_pre_key
    data = payload.device_pairing_data
    data.e_regid = credentials.registration_id.to_bytes(4, "big")
    data.e_keytype = b"\x05"
    data.e_ident = credentials.identity_key.public
    data.e_skey_id = spk.key_id.to_bytes(3, "big")
    data.e_skey_val = spk.key_pair.public
    data.e_skey_sig = spk.signature
    data.build_hash = build_hash(info.version)
    data.device_props = device_props(info)
    return payload


def login_payload(credentials: Credentials, info: DeviceInfo | None = None) -> ClientPayload:
    """The payload of a paired device (§4.5, whatsmeow's choices); ``LocalProtocolError`` if unpaired."""
    me = credentials.me
    if me is None or not credentials.is_paired:
        raise LocalProtocolError("these credentials are not paired: register with registration_payload")
    payload = _base(info or DeviceInfo(), credentials.push_name)
    payload.username = int(me.user)
    payload.device = me.device
    payload.passive = True
    payload.pull = True
    payload.lc = 1
    payload.lid_db_migrated = True
    return payload
