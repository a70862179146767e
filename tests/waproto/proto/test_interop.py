"""Every message type in waproto.proto round-trips through Baileys' own protobuf classes, both ways.

For each of our message types (found from the descriptors, so a new type is covered without being listed)
and each counterpart class (Baileys 6 and 7 WAProto; libsignal's WhisperTextProtocol for the Signal
messages), with every field set at the largest and at the smallest values its type holds:

- ours -> theirs: Baileys decodes our bytes; its ``toObject`` view must equal ours (``MessageToDict``:
  same names, numbers, enum values, 64-bit values as decimal strings, bytes as base64), and the bytes it
  re-encodes must parse in ours to a message equal to the original;
- theirs -> ours: Baileys builds the message from that object with ``fromObject`` and encodes it; we parse
  its bytes to a message equal to the original.

A type whose counterpart Baileys does not have fails ``test_every_type_has_a_counterpart``.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor
from google.protobuf.json_format import MessageToDict
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.interop.harness import Harness
from tests.waproto.proto.samples import Variant, message_class, message_types, populated, random_messages
from waproto.proto import decode

pytestmark = pytest.mark.interop

PACKAGE = "waproto."
BAILEYS = ("v6", "v7")

# Counterparts beyond the default (the same path under Baileys' `proto.` namespace, in v6 and in v7):
# libsignal's own definitions of the Signal wire messages, with the names it gives their fields.
EXTRA_COUNTERPARTS: dict[str, list[tuple[str, str, dict[str, str]]]] = {
    "waproto.SignalMessage": [("libsignal", "WhisperMessage", {"ratchetKey": "ephemeralKey"})],
    "waproto.PreKeySignalMessage": [("libsignal", "PreKeyWhisperMessage", {})],
}


def counterparts(descriptor: Descriptor) -> list[tuple[str, str, dict[str, str]]]:
    """(lib, type path, field renames) for every foreign class ``descriptor`` must agree with."""
    assert descriptor.full_name.startswith(PACKAGE)
    path = descriptor.full_name.removeprefix(PACKAGE)
    return [(lib, path, {}) for lib in BAILEYS] + EXTRA_COUNTERPARTS.get(descriptor.full_name, [])


CASES = [
    pytest.param(d.full_name, lib, path, renames, id=f"{d.full_name.removeprefix(PACKAGE)}-{lib}")
    for d in message_types()
    for lib, path, renames in counterparts(d)
]


def _descriptor(full_name: str) -> Descriptor:
    return next(d for d in message_types() if d.full_name == full_name)


def _as_object(message: Any, renames: dict[str, str]) -> dict[str, Any]:
    obj: dict[str, Any] = MessageToDict(message, use_integers_for_enums=True)
    return {renames.get(k, k): v for k, v in obj.items()}


def _differences(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Paths where two toObject-shaped values differ, for a readable failure message."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return [d for key in sorted(set(ours) | set(theirs), key=str)
                for d in _differences(ours.get(key, "<absent>"), theirs.get(key, "<absent>"), f"{path}.{key}")]
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return [d for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) for d in _differences(a, b, f"{path}[{i}]")]
    return [] if ours == theirs else [f"{path or '.'}: ours {ours!r}, theirs {theirs!r}"]


def test_extra_counterparts_name_real_types() -> None:
    names = {d.full_name for d in message_types()}
    assert set(EXTRA_COUNTERPARTS) <= names


def test_every_type_has_a_counterpart(baileys: Harness) -> None:
    available = {lib: set(baileys.call("proto.types", lib=lib)) for lib in (*BAILEYS, "libsignal")}
    missing = [
        f"{d.full_name} -> {lib} {path}"
        for d in message_types()
        for lib, path, _ in counterparts(d)
        if path not in available[lib]
    ]
    assert missing == []


@pytest.mark.parametrize("variant", ["max", "min"])
@pytest.mark.parametrize(("full_name", "lib", "path", "renames"), CASES)
def test_round_trip(baileys: Harness, full_name: str, lib: str, path: str, renames: dict[str, str],
                    variant: Variant) -> None:
    descriptor = _descriptor(full_name)
    cls = message_class(descriptor)
    ours = populated(descriptor, variant)
    expected = _as_object(ours, renames)

    # ours -> theirs -> ours
    answer = baileys.call("proto.roundtrip", lib=lib, type=path, data=ours.SerializeToString())
    assert _differences(expected, answer["object"]) == []
    assert answer["object"] == expected
    assert decode(cls, answer["data"]) == ours

    # theirs (built from the object) -> ours
    built = baileys.call("proto.build", lib=lib, type=path, object=expected)
    assert decode(cls, built["data"]) == ours


@pytest.mark.parametrize("lib", BAILEYS)
def test_a_wrong_field_number_would_be_caught(baileys: Harness, lib: str) -> None:
    # The same bytes read as a type whose field 2 differs (ClientFinish.payload vs ClientHello.static):
    # the comparison above must notice when numbers or names disagree.
    ours = populated(_descriptor("waproto.HandshakeMessage.ClientFinish"))
    answer = baileys.call("proto.roundtrip", lib=lib, type="HandshakeMessage.ClientHello",
                          data=ours.SerializeToString())
    assert answer["object"] != _as_object(ours, {})


def test_ops_leave_protobufjs_global_root_alone(baileys: Harness) -> None:
    # Both WAProto builds look nested types up through one global; our ops switch it while they run
    # and must restore it, so that other ops' (noise, media) behaviour does not depend on test order.
    before = baileys.call("proto.root")
    for lib in ("v6", "v7", "libsignal"):
        baileys.call("proto.types", lib=lib)
        assert baileys.call("proto.root") == before


def test_nested_types_decode_with_the_right_build(baileys: Harness) -> None:
    # v7's DeviceProps.HistorySyncConfig knows field 15 (supportGroupHistory), v6's does not. A nested
    # message is decoded through the global root, so this shows each build is used all the way down.
    data = bytes.fromhex("2a02" "7801")  # DeviceProps{history_sync_config(5){field 15: true}}
    for _ in range(2):  # whichever build the root held before, in both orders
        v6 = baileys.call("proto.roundtrip", lib="v6", type="DeviceProps", data=data)
        v7 = baileys.call("proto.roundtrip", lib="v7", type="DeviceProps", data=data)
        assert v6["object"] == {"historySyncConfig": {}}
        assert v7["object"] == {"historySyncConfig": {"supportGroupHistory": True}}


@st.composite
def _any_message(draw: st.DrawFn) -> Any:
    descriptor = draw(st.sampled_from(message_types()))
    return draw(random_messages(descriptor))


@settings(max_examples=150)
@given(message=_any_message(), lib=st.sampled_from(BAILEYS))
def test_random_messages_round_trip(baileys: Harness, message: Any, lib: str) -> None:
    # Random field subsets and values over each type's whole range. Only the messages are compared here:
    # protobufjs widens a float32 to a double in its object view, which MessageToDict prints shortest.
    descriptor = message.DESCRIPTOR
    path = descriptor.full_name.removeprefix(PACKAGE)
    answer = baileys.call("proto.roundtrip", lib=lib, type=path, data=message.SerializeToString())
    assert decode(type(message), answer["data"]) == message
    built = baileys.call("proto.build", lib=lib, type=path,
                         object=MessageToDict(message, use_integers_for_enums=True))
    assert decode(type(message), built["data"]) == message
