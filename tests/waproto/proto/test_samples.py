"""The sample builder the interop tests rely on really sets every field, with the promised values."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import FieldDescriptor

from tests.waproto.proto.samples import message_types, populated, scalar_value
from waproto.proto import Message, decode

F = FieldDescriptor


def test_finds_nested_types() -> None:
    names = {d.full_name for d in message_types()}
    assert {
        "waproto.HandshakeMessage.ClientHello",
        "waproto.CertChain.NoiseCertificate.Details",
        "waproto.ClientPayload.UserAgent.AppVersion",
        "waproto.Message.FutureProofMessage",
        "waproto.Message.PollCreationMessage.Option",
        "waproto.SignalMessage",
    } <= names
    assert "waproto.ADVEncryptionType" not in names  # an enum, not a message
    assert len(names) == len(message_types())


@pytest.mark.parametrize("variant", ["max", "min"])
def test_every_field_is_set(variant: str) -> None:
    for descriptor in message_types():
        message = populated(descriptor, variant)  # type: ignore[arg-type]
        assert {f.name for f, _ in message.ListFields()} == {f.name for f in descriptor.fields}, descriptor.full_name
        assert decode(type(message), message.SerializeToString()) == message


def test_64_bit_values_exceed_2_53() -> None:
    image = populated(Message.ImageMessage.DESCRIPTOR)
    assert image.file_length > 2**63
    assert image.media_key_timestamp > 2**53
    assert populated(Message.ImageMessage.DESCRIPTOR, "min").media_key_timestamp < -(2**62)


def test_recursion_stops_with_present_empty_messages() -> None:
    message = populated(Message.DESCRIPTOR)
    assert message.view_once_message.HasField("message")
    assert message.view_once_message.message.ListFields() == []
    quoted = populated(Message.ImageMessage.DESCRIPTOR).context_info.quoted_message
    assert quoted.HasField("conversation")
    assert not quoted.image_message.ListFields()


def test_values_depend_on_the_field_number() -> None:
    fields = Message.DocumentMessage.DESCRIPTOR.fields_by_name
    assert scalar_value(fields["media_key"], "max") != scalar_value(fields["file_enc_sha256"], "max")
    assert scalar_value(fields["page_count"], "max") != scalar_value(fields["thumbnail_height"], "max")
