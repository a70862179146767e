"""waproto.signal.padding: WhatsApp's 1..16-byte random padding and its checked removal."""

from __future__ import annotations

import pytest

from waproto.errors import InvalidPadding
from waproto.signal.padding import pad, unpad


@pytest.mark.parametrize("draw", range(256))
def test_pad_length_comes_from_the_low_nibble(draw: int) -> None:
    padded = pad(b"message", lambda n: bytes([draw]) * n)
    n = (draw & 0x0F) + 1
    assert padded == b"message" + bytes([n]) * n
    assert unpad(padded) == b"message"


def test_unpad_accepts_any_consistent_length() -> None:
    assert unpad(b"ab" + b"\x03" * 3) == b"ab"
    assert unpad(b"\x01") == b""
    assert unpad(bytes([20]) * 20) == b""  # longer than 16 but consistent: accepted


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"abc\x00", "zero"),
        (b"ab\x05", "longer"),
        (b"abc\x02\x03\x03", "not all 3"),
        (b"abc\x01\x03\x03", "not all 3"),
    ],
)
def test_bad_padding_is_a_clear_error(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidPadding, match=reason):
        unpad(data)
