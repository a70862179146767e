"""Test helper: enumerate every message type waproto.proto defines, and build instances with every field set.

``message_types()`` walks the descriptors of the generated modules (nested types included), so a type added
to a ``.proto`` file is picked up by the tests without being listed anywhere. ``populated(descriptor,
variant)`` fills every field of a message, recursively: ``"max"`` uses the largest values each type holds
(uint64 2**64-1-n, int64 2**63-1-n, uint32 2**32-1-n, non-UTF-8 bytes, 4-byte UTF-8 characters, the last
enum value), ``"min"`` the smallest (the most negative signed values, zero, empty strings and bytes, False,
the first enum value): explicit presence of default values is part of what must survive. Values depend on
the field number, so two fields swapped in a schema cannot look equal. A message type already being
filled further up (``Message`` inside ``ContextInfo.quoted_message``) is set present but empty there.

``random_messages(descriptor)`` is the hypothesis counterpart: a random subset of the fields, each with a
value drawn from the type's whole range (no NaN or infinities, which JSON cannot carry across the bridge).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message as ProtoMessage
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

from waproto.proto import adv_pb2, e2e_pb2, handshake_pb2, signal_pb2

__all__ = [
    "GENERATED_MODULES",
    "Variant",
    "message_class",
    "message_types",
    "populated",
    "random_messages",
    "scalar_value",
]

GENERATED_MODULES = (adv_pb2, e2e_pb2, handshake_pb2, signal_pb2)

Variant = Literal["max", "min"]
F = FieldDescriptor


def _walk(descriptor: Descriptor) -> Iterator[Descriptor]:
    yield descriptor
    for nested in descriptor.nested_types:
        yield from _walk(nested)


def message_types() -> list[Descriptor]:
    """Every message type the generated modules define (nested ones too), sorted by full name."""
    found = [d for module in GENERATED_MODULES for top in module.DESCRIPTOR.message_types_by_name.values()
             for d in _walk(top)]
    return sorted(found, key=lambda d: d.full_name)


def message_class(descriptor: Descriptor) -> type[ProtoMessage]:
    cls: type[ProtoMessage] = GetMessageClass(descriptor)
    return cls


def scalar_value(field: FieldDescriptor, variant: Variant, index: int = 0) -> Any:
    """The value ``populated`` puts in ``field`` (``index`` numbers the elements of a repeated field)."""
    n = field.number + index
    big = variant == "max"
    match field.type:
        case F.TYPE_UINT64 | F.TYPE_FIXED64:
            return 2**64 - 1 - n if big else index
        case F.TYPE_INT64 | F.TYPE_SINT64 | F.TYPE_SFIXED64:
            return 2**63 - 1 - n if big else -(2**63) + n
        case F.TYPE_UINT32 | F.TYPE_FIXED32:
            return 2**32 - 1 - n if big else index
        case F.TYPE_INT32 | F.TYPE_SINT32 | F.TYPE_SFIXED32:
            return 2**31 - 1 - n if big else -(2**31) + n
        case F.TYPE_BOOL:
            return big
        case F.TYPE_DOUBLE:
            return n + 2**-40 if big else -(n + 2**-40)
        case F.TYPE_FLOAT:
            return n + 0.5 if big else -(n + 0.25)
        case F.TYPE_STRING:
            return f"{field.name}·{n}·ü€𝄞" if big else ("" if index == 0 else str(index))
        case F.TYPE_BYTES:
            return bytes([n & 0xFF]) + b"\x00\xff\x80\xfe" + field.name.encode() if big else bytes(index)
        case F.TYPE_ENUM:
            values = field.enum_type.values
            return values[(len(values) - 1 - index) % len(values)].number if big else values[index % len(values)].number
    raise AssertionError(f"no sample value for {field.full_name} (type {field.type})")


def populated(descriptor: Descriptor, variant: Variant = "max") -> ProtoMessage:
    """A ``descriptor`` message with every field set (see the module docstring)."""
    message = message_class(descriptor)()
    _fill(message, variant, (descriptor.full_name,))
    return message


def _fill(message: ProtoMessage, variant: Variant, stack: tuple[str, ...]) -> None:
    for field in message.DESCRIPTOR.fields:
        repeated = field.is_repeated
        if field.type == F.TYPE_MESSAGE:
            sub_type = field.message_type
            if repeated:
                container = getattr(message, field.name)
                for _ in range(2):
                    element = container.add()
                    if sub_type.full_name not in stack:
                        _fill(element, variant, (*stack, sub_type.full_name))
            else:
                sub = getattr(message, field.name)
                sub.SetInParent()
                if sub_type.full_name not in stack:
                    _fill(sub, variant, (*stack, sub_type.full_name))
        elif repeated:
            getattr(message, field.name).extend(scalar_value(field, variant, i) for i in range(3))
        else:
            setattr(message, field.name, scalar_value(field, variant))


def _scalars(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    match field.type:
        case F.TYPE_UINT64 | F.TYPE_FIXED64:
            return st.integers(0, 2**64 - 1)
        case F.TYPE_INT64 | F.TYPE_SINT64 | F.TYPE_SFIXED64:
            return st.integers(-(2**63), 2**63 - 1)
        case F.TYPE_UINT32 | F.TYPE_FIXED32:
            return st.integers(0, 2**32 - 1)
        case F.TYPE_INT32 | F.TYPE_SINT32 | F.TYPE_SFIXED32:
            return st.integers(-(2**31), 2**31 - 1)
        case F.TYPE_BOOL:
            return st.booleans()
        case F.TYPE_DOUBLE:
            return st.floats(allow_nan=False, allow_infinity=False)
        case F.TYPE_FLOAT:
            return st.floats(width=32, allow_nan=False, allow_infinity=False)
        case F.TYPE_STRING:
            return st.text(max_size=40)
        case F.TYPE_BYTES:
            return st.binary(max_size=80)
        case F.TYPE_ENUM:
            return st.sampled_from([v.number for v in field.enum_type.values])
    raise AssertionError(f"no strategy for {field.full_name} (type {field.type})")


@st.composite
def _message(draw: st.DrawFn, descriptor: Descriptor, depth: int) -> ProtoMessage:
    message = message_class(descriptor)()
    for field in descriptor.fields:
        if not draw(st.booleans()):
            continue
        if field.type == F.TYPE_MESSAGE:
            if depth <= 0:
                continue
            sub = _message(field.message_type, depth - 1)
            if field.is_repeated:
                getattr(message, field.name).extend(draw(st.lists(sub, max_size=3)))
            else:
                getattr(message, field.name).CopyFrom(draw(sub))
        elif field.is_repeated:
            getattr(message, field.name).extend(draw(st.lists(_scalars(field), max_size=6)))
        else:
            setattr(message, field.name, draw(_scalars(field)))
    return message


def random_messages(descriptor: Descriptor, depth: int = 2) -> st.SearchStrategy[ProtoMessage]:
    """Messages of ``descriptor`` type with a random subset of fields set, nested ``depth`` levels deep."""
    return _message(descriptor, depth)
