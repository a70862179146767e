"""waproto.payload against Baileys 6 and 7: their ``generateRegistrationNode`` / ``generateLoginNode``
(through the interop harness) and our payloads, for the same keys and version, agree on every field
that identifies the device; the differences are the documented choices (PROTOCOL.md §12.5)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.interop.harness import Harness
from tests.waproto.test_credentials import fresh, paired
from waproto import proto
from waproto.payload import WA_VERSION, DeviceInfo, login_payload, registration_payload
from waproto.proto import ClientPayload, DeviceProps

pytestmark = pytest.mark.interop

INFO = DeviceInfo(os="Ubuntu", platform_type=DeviceProps.CHROME)


@pytest.mark.parametrize("version", ["v6", "v7"])
def test_registration_matches_baileys(baileys: Harness, version: str) -> None:
    creds = fresh()
    spk = creds.signed_pre_key
    theirs = proto.decode(
        ClientPayload,
        baileys.call(
            f"payload.{version}.registration",
            registrationId=creds.registration_id,
            identity=creds.identity_key.public,
            spkId=spk.key_id,
            spkPublic=spk.key_pair.public,
            spkSignature=spk.signature,
            version=list(WA_VERSION),
            browser=["Ubuntu", "Chrome", "22.04"],
        ),
    )
    ours = registration_payload(dataclasses.replace(creds, push_name=""), INFO)
    assert ours.device_pairing_data.e_regid == theirs.device_pairing_data.e_regid
    for name in ("e_keytype", "e_ident", "e_skey_id", "e_skey_val", "e_skey_sig", "build_hash"):
        assert getattr(ours.device_pairing_data, name) == getattr(theirs.device_pairing_data, name), name
    for name in ("passive", "pull", "connect_type", "connect_reason"):
        assert getattr(ours, name) == getattr(theirs, name), name
        assert ours.HasField(name) == theirs.HasField(name), name
    assert not theirs.HasField("username")
    ours_agent, their_agent = ours.user_agent, theirs.user_agent
    for name in ("platform", "app_version", "mcc", "mnc", "os_version", "device", "os_build_number",
                 "release_channel", "locale_language_iso_639_1", "locale_country_iso_3166_1_alpha_2"):
        assert getattr(ours_agent, name) == getattr(their_agent, name), name
    assert ours.web_info.web_sub_platform == theirs.web_info.web_sub_platform
    our_props = proto.decode(DeviceProps, ours.device_pairing_data.device_props)
    their_props = proto.decode(DeviceProps, theirs.device_pairing_data.device_props)
    assert (our_props.os, our_props.platform_type) == (their_props.os, their_props.platform_type)
    if version == "v7":  # Baileys 6 sends no DeviceProps.version
        assert our_props.version == their_props.version
    assert our_props.history_sync_config.storage_quota_mb == their_props.history_sync_config.storage_quota_mb


@pytest.mark.parametrize("version", ["v6", "v7"])
def test_login_matches_baileys(baileys: Harness, version: str) -> None:
    creds = paired()
    assert creds.me is not None
    theirs = proto.decode(
        ClientPayload,
        baileys.call(f"payload.{version}.login", jid=str(creds.me), version=list(WA_VERSION), browser=["Ubuntu", "Chrome", "22.04"]),
    )
    ours = login_payload(creds, INFO)
    for name in ("username", "device", "pull", "connect_type", "connect_reason"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.user_agent.app_version == theirs.user_agent.app_version
    assert not theirs.HasField("device_pairing_data")
    # Our documented choices (whatsmeow's): passive, lc=1 and lidDbMigrated=true; Baileys 6 logs in
    # with passive=false, Baileys 7 with passive=true (PROTOCOL.md §12.5).
    assert ours.passive is True
    assert theirs.passive is (version == "v7")
    assert (ours.lc, ours.lid_db_migrated) == (1, True)
