"""``waproto.proto``: the re-exported classes, field numbers PROTOCOL.md pins, and ``decode``."""

from __future__ import annotations

import contextlib

import pytest
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import given
from hypothesis import strategies as st

import waproto.proto as wp
from tests.waproto.proto.samples import GENERATED_MODULES, message_types
from waproto.errors import DecodeError, RemoteProtocolError
from waproto.proto import (
    ADVDeviceIdentity,
    CertChain,
    ClientPayload,
    HandshakeMessage,
    Message,
    PreKeySignalMessage,
    decode,
)

T = FieldDescriptor

# (message, field, number, type) straight from PROTOCOL.md §1.4 and §3: wire facts that must not drift.
PINNED = [
    ("waproto.HandshakeMessage", "client_hello", 2, T.TYPE_MESSAGE),
    ("waproto.HandshakeMessage", "server_hello", 3, T.TYPE_MESSAGE),
    ("waproto.HandshakeMessage", "client_finish", 4, T.TYPE_MESSAGE),
    ("waproto.HandshakeMessage.ServerHello", "payload", 3, T.TYPE_BYTES),
    ("waproto.HandshakeMessage.ClientFinish", "payload", 2, T.TYPE_BYTES),
    ("waproto.CertChain.NoiseCertificate.Details", "issuer_serial", 2, T.TYPE_UINT32),
    ("waproto.CertChain.NoiseCertificate.Details", "not_after", 5, T.TYPE_UINT64),
    ("waproto.ClientPayload", "username", 1, T.TYPE_UINT64),
    ("waproto.ClientPayload", "session_id", 9, T.TYPE_SFIXED32),
    ("waproto.ClientPayload", "device", 18, T.TYPE_UINT32),
    ("waproto.ClientPayload", "device_pairing_data", 19, T.TYPE_MESSAGE),
    ("waproto.ClientPayload", "lc", 24, T.TYPE_INT32),
    ("waproto.ClientPayload", "lid_db_migrated", 41, T.TYPE_BOOL),
    ("waproto.ClientPayload.UserAgent", "locale_country_iso_3166_1_alpha_2", 12, T.TYPE_STRING),
    ("waproto.ClientPayload.DevicePairingRegistrationData", "device_props", 8, T.TYPE_BYTES),
    ("waproto.DeviceProps.HistorySyncConfig", "support_message_association", 14, T.TYPE_BOOL),
    ("waproto.ADVDeviceIdentity", "timestamp", 2, T.TYPE_UINT64),
    ("waproto.ADVSignedDeviceIdentity", "device_signature", 4, T.TYPE_BYTES),
    ("waproto.ADVKeyIndexList", "valid_indexes", 4, T.TYPE_UINT32),
    ("waproto.Message", "conversation", 1, T.TYPE_STRING),
    ("waproto.Message", "sticker_message", 26, T.TYPE_MESSAGE),
    ("waproto.Message", "device_sent_message", 31, T.TYPE_MESSAGE),
    ("waproto.Message", "message_context_info", 35, T.TYPE_MESSAGE),
    ("waproto.Message", "edited_message", 58, T.TYPE_MESSAGE),
    ("waproto.Message.ImageMessage", "media_key", 8, T.TYPE_BYTES),
    ("waproto.Message.ImageMessage", "media_key_timestamp", 12, T.TYPE_INT64),
    ("waproto.Message.DocumentMessage", "media_key", 7, T.TYPE_BYTES),
    ("waproto.Message.DocumentMessage", "direct_path", 10, T.TYPE_STRING),
    ("waproto.Message.AudioMessage", "ptt", 6, T.TYPE_BOOL),
    ("waproto.Message.VideoMessage", "media_key", 6, T.TYPE_BYTES),
    ("waproto.Message.VideoMessage", "gif_playback", 8, T.TYPE_BOOL),
    ("waproto.Message.ProtocolMessage", "edited_message", 14, T.TYPE_MESSAGE),
    ("waproto.Message.HistorySyncNotification", "initial_hist_bootstrap_inline_payload", 11, T.TYPE_BYTES),
    ("waproto.MessageContextInfo", "message_secret", 3, T.TYPE_BYTES),
    ("waproto.MessageKey", "participant", 4, T.TYPE_STRING),
    ("waproto.SignalMessage", "ciphertext", 4, T.TYPE_BYTES),
    ("waproto.PreKeySignalMessage", "signed_pre_key_id", 6, T.TYPE_UINT32),
    ("waproto.SenderKeyDistributionMessage", "signing_key", 4, T.TYPE_BYTES),
]


@pytest.mark.parametrize(("message", "field", "number", "type_"), PINNED)
def test_pinned_field_numbers(message: str, field: str, number: int, type_: int) -> None:
    descriptor = wp.Message.DESCRIPTOR.file.pool.FindMessageTypeByName(message)
    assert descriptor.fields_by_name[field].number == number
    assert descriptor.fields_by_name[field].type == type_


def test_packed_where_whatsapp_packs() -> None:
    assert wp.ADVKeyIndexList.DESCRIPTOR.fields_by_name["valid_indexes"].is_packed
    assert wp.DeviceListMetadata.DESCRIPTOR.fields_by_name["sender_key_indexes"].is_packed
    assert wp.ADVKeyIndexList(valid_indexes=[1, 2, 300]).SerializeToString() == bytes.fromhex("2204" "0102ac02")
    # WhatsApp's proto2 schema leaves these unpacked: one tag per element.
    assert ClientPayload(shards=[1, 2]).SerializeToString() == bytes.fromhex("7001" "7002")
    image = Message.ImageMessage(scan_lengths=[5, 6])
    assert image.SerializeToString() == bytes.fromhex("b00105" "b00106")
    # Either form parses.
    assert list(decode(ClientPayload, bytes.fromhex("72020102")).shards) == [1, 2]
    assert list(decode(wp.ADVKeyIndexList, bytes.fromhex("2001" "2002")).valid_indexes) == [1, 2]


def test_every_file_is_proto3_with_explicit_presence() -> None:
    for module in GENERATED_MODULES:
        assert module.DESCRIPTOR.package == "waproto"
        assert module.DESCRIPTOR.name.startswith("waproto/proto/")
    for descriptor in message_types():
        for field in descriptor.fields:
            assert field.is_repeated or field.has_presence, field.full_name


def test_invalid_utf8_in_a_string_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="UTF-8"):
        decode(wp.MessageKey, b"\x0a\x02\xff\xfe")
    assert decode(wp.MessageKey, b"\x0a\x02\xc3\xbc").remote_jid == "ü"
    # bytes fields take anything
    assert decode(wp.SignalMessage, b"\x22\x02\xff\xfe").ciphertext == b"\xff\xfe"


def test_enum_values_newer_than_the_schema_are_kept() -> None:
    message = decode(Message, bytes.fromhex("6202" "101f"))  # protocol_message{type: 31}
    assert message.protocol_message.HasField("type")
    assert message.protocol_message.type == 31
    assert message.SerializeToString() == bytes.fromhex("6202" "101f")


def test_presence_of_default_values() -> None:
    key = wp.MessageKey(from_me=False, id="")
    assert key.HasField("from_me")
    assert key.HasField("id")
    assert not key.HasField("remote_jid")
    assert key.SerializeToString() == bytes.fromhex("1000" "1a00")


@pytest.mark.parametrize(
    ("enum", "name", "value"),
    [
        (ClientPayload.UserAgent.Platform, "WEB", 14),
        (ClientPayload.UserAgent.Platform, "MACOS", 24),
        (ClientPayload.UserAgent.ReleaseChannel, "RELEASE", 0),
        (ClientPayload.ConnectType, "WIFI_UNKNOWN", 1),
        (ClientPayload.ConnectReason, "USER_ACTIVATED", 1),
        (ClientPayload.WebInfo.WebSubPlatform, "WIN32", 4),
        (wp.DeviceProps.PlatformType, "UWP", 21),
        (wp.DeviceProps.PlatformType, "ANDROID_PHONE", 16),
        (wp.ADVEncryptionType, "HOSTED", 1),
        (Message.ProtocolMessage.Type, "HISTORY_SYNC_NOTIFICATION", 5),
        (Message.ProtocolMessage.Type, "MESSAGE_EDIT", 14),
        (Message.ProtocolMessage.Type, "LID_MIGRATION_MAPPING_SYNC", 22),
    ],
)
def test_enum_values(enum: object, name: str, value: int) -> None:
    assert enum.Value(name) == value  # type: ignore[attr-defined]


def test_exports() -> None:
    for name in wp.__all__:
        assert getattr(wp, name) is not None
    assert wp.HandshakeMessage.DESCRIPTOR.full_name == "waproto.HandshakeMessage"


def test_known_bytes() -> None:
    hello = HandshakeMessage()
    hello.client_hello.ephemeral = b"\x01" * 32
    assert hello.SerializeToString() == b"\x12\x22\x0a\x20" + b"\x01" * 32
    assert decode(HandshakeMessage, b"\x12\x22\x0a\x20" + b"\x01" * 32) == hello
    details = CertChain.NoiseCertificate.Details(serial=1, issuer_serial=0, not_after=2**64 - 1)
    assert decode(CertChain.NoiseCertificate.Details, details.SerializeToString()).not_after == 2**64 - 1


def test_decode_accepts_buffers_and_keeps_unknown_fields() -> None:
    data = bytes(ADVDeviceIdentity(raw_id=7, key_index=2).SerializeToString()) + b"\xf8\x07\x05"  # field 127
    parsed = decode(ADVDeviceIdentity, memoryview(bytearray(data)))
    assert (parsed.raw_id, parsed.key_index) == (7, 2)
    assert parsed.SerializeToString() == data


@pytest.mark.parametrize(
    "data",
    [
        b"\x0a\x05ab",  # length runs past the end
        b"\x12\x80",  # truncated varint length
        b"\x0f",  # wire type 7 does not exist
        b"\x00",  # field number 0
        b"\x0b\x14",  # group 1 closed as group 2
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # overlong varint tag
        b"\x1a\xff\xff\xff\xff\x0f",  # a 4 GiB declared length with no bytes behind it
        b"\x1a\x00\x1a",  # a valid empty field, then a tag without its length
    ],
)
def test_decode_rejects_malformed(data: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        decode(Message, data)
    assert isinstance(info.value, RemoteProtocolError)
    assert "Message" in str(info.value)


def _nested(depth: int) -> bytes:
    # Message.extended_text_message(6).context_info(17).quoted_message(3)... nested `depth` times.
    inner = b""
    for _ in range(depth):
        ctx = b"\x1a" + _varint(len(inner)) + inner  # ContextInfo.quoted_message
        ext = b"\x8a\x01" + _varint(len(ctx)) + ctx  # ExtendedTextMessage.context_info (17)
        inner = b"\x32" + _varint(len(ext)) + ext  # Message.extended_text_message (6)
    return inner


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def test_deep_nesting_is_a_decode_error() -> None:
    assert decode(Message, _nested(10)).extended_text_message.context_info.HasField("quoted_message")
    with pytest.raises(DecodeError):
        decode(Message, _nested(200))


@given(st.binary(max_size=300))
def test_fuzz_only_decode_errors(data: bytes) -> None:
    for message_type in (Message, HandshakeMessage, ClientPayload, PreKeySignalMessage):
        with contextlib.suppress(DecodeError):
            decode(message_type, data)
