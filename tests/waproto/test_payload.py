"""waproto.payload: registration and login ClientPayloads (fields as PROTOCOL.md §3.1, §4.2, §4.5)."""

from __future__ import annotations

import hashlib

import pytest

from tests.waproto.test_credentials import fresh, paired
from waproto import proto
from waproto.errors import LocalProtocolError
from waproto.payload import WA_VERSION, DeviceInfo, build_hash, login_payload, registration_payload
from waproto.proto import ClientPayload, DeviceProps


def test_build_hash_is_md5_of_the_dotted_version() -> None:
    assert build_hash((2, 3000, 1)) == hashlib.md5(b"2.3000.1").digest()


def test_registration_payload() -> None:
    creds = fresh()
    payload = proto.decode(ClientPayload, registration_payload(creds).SerializeToString())
    assert not payload.HasField("username")
    assert payload.passive is False
    assert payload.HasField("passive")
    assert payload.pull is False
    assert payload.HasField("pull")
    assert payload.push_name == "Bot"
    assert payload.connect_type == ClientPayload.WIFI_UNKNOWN
    assert payload.connect_reason == ClientPayload.USER_ACTIVATED
    agent = payload.user_agent
    assert agent.platform == ClientPayload.UserAgent.WEB
    assert (agent.app_version.primary, agent.app_version.secondary, agent.app_version.tertiary) == WA_VERSION
    assert (agent.mcc, agent.mnc, agent.device) == ("000", "000", "Desktop")
    assert payload.web_info.web_sub_platform == ClientPayload.WebInfo.WEB_BROWSER
    data = payload.device_pairing_data
    assert data.e_regid == creds.registration_id.to_bytes(4, "big")
    assert data.e_keytype == b"\x05"
    assert data.e_ident == creds.identity_key.public
    assert data.e_skey_id == b"\x00\x00\x01"
    assert data.e_skey_val == creds.signed_pre_key.key_pair.public
    assert data.e_skey_sig == creds.signed_pre_key.signature
    assert data.build_hash == build_hash(WA_VERSION)
    props = proto.decode(DeviceProps, data.device_props)
    assert props.os == "waporta"
    assert props.platform_type == DeviceProps.CHROME
    assert props.history_sync_config.storage_quota_mb == 10240


def test_registration_payload_with_custom_device_info() -> None:
    info = DeviceInfo(os="Ubuntu", platform_type=DeviceProps.FIREFOX, version=(2, 3000, 5))
    payload = registration_payload(fresh(), info)
    assert payload.user_agent.app_version.tertiary == 5
    assert proto.decode(DeviceProps, payload.device_pairing_data.device_props).os == "Ubuntu"
    assert info.platform_id == "2"
    with pytest.raises(LocalProtocolError):
        DeviceInfo(version=(1, 2))  # type: ignore[arg-type]


def test_login_payload_follows_whatsmeow() -> None:
    creds = paired()
    payload = proto.decode(ClientPayload, login_payload(creds).SerializeToString())
    assert payload.username == 15550001111
    assert payload.device == 3
    assert payload.passive is True
    assert payload.pull is True
    assert payload.lc == 1
    assert payload.lid_db_migrated is True
    assert not payload.HasField("device_pairing_data")
    assert payload.user_agent.platform == ClientPayload.UserAgent.WEB


def test_payload_kind_must_match_the_credentials() -> None:
    with pytest.raises(LocalProtocolError):
        login_payload(fresh())
    with pytest.raises(LocalProtocolError):
        registration_payload(paired())
