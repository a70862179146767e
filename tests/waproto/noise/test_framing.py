"""waproto.noise.framing: the intro header and 3-byte length frames, split and packed arbitrarily."""

from __future__ import annotations

import random

import pytest

from waproto.errors import DecodeError, LocalProtocolError
from waproto.noise.framing import (
    INTRO,
    MAX_FRAME_SIZE,
    FrameReader,
    FrameWriter,
    encode_frame,
    routing_intro,
)


def _chunks(data: bytes, r: random.Random) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = r.choice([0, 1, 2, 3, 5, 64, 1000, len(data)])
        out.append(data[i : i + n])
        i += n
    return out


def test_encode_frame() -> None:
    assert encode_frame(b"") == b"\x00\x00\x00"
    assert encode_frame(b"abc") == b"\x00\x00\x03abc"
    assert encode_frame(bytes(0x012345))[:3] == b"\x01\x23\x45"
    with pytest.raises(LocalProtocolError):
        encode_frame(bytes(MAX_FRAME_SIZE + 1))


def test_writer_sends_intro_once() -> None:
    writer = FrameWriter()
    assert not writer.intro_sent
    assert writer.frame(b"\x01\x02") == INTRO + b"\x00\x00\x02\x01\x02"
    assert writer.intro_sent
    assert writer.frame(b"\x03") == b"\x00\x00\x01\x03"
    server = FrameWriter(intro=b"")
    assert server.intro_sent
    assert server.frame(b"x") == b"\x00\x00\x01x"


def test_routing_intro() -> None:
    assert routing_intro(b"\xaa\xbb") == b"ED\x00\x01\x00\x00\x02\xaa\xbb" + INTRO
    with pytest.raises(LocalProtocolError):
        routing_intro(bytes(5000))


def test_frames_split_and_packed() -> None:
    r = random.Random(1)
    payloads = [r.randbytes(r.choice([0, 1, 3, 200, 70000])) for _ in range(60)]
    writer = FrameWriter()
    stream = b"".join(writer.frame(p) for p in payloads)
    for _ in range(20):
        reader = FrameReader(expect_intro=True)
        got: list[bytes] = []
        for chunk in _chunks(stream, r):
            got.extend(reader.receive_data(chunk))
        assert got == payloads
        assert reader.buffered == 0
        assert reader.routing_info is None


def test_byte_by_byte_with_routing_header() -> None:
    stream = FrameWriter(intro=routing_intro(b"route")).frame(b"hello") + encode_frame(b"")
    reader = FrameReader(expect_intro=True)
    got = [frame for byte in stream for frame in reader.receive_data(bytes([byte]))]
    assert got == [b"hello", b""]
    assert reader.routing_info == b"route"


def test_client_reader_expects_no_intro() -> None:
    reader = FrameReader()
    assert reader.receive_data(b"\x00\x00\x01a\x00\x00") == [b"a"]
    assert reader.buffered == 2
    assert reader.receive_data(b"\x02bc") == [b"bc"]


@pytest.mark.parametrize(
    "data",
    [b"XA\x06\x03", b"WA\x06\x02", b"W\x00", b"EX", b"ED\x00\x02", b"ED\x00\x01\xff\xff\xff", b"ED\x00\x01\x00\x00\x00WB"],
)
def test_bad_intro_rejected_early(data: bytes) -> None:
    reader = FrameReader(expect_intro=True)
    with pytest.raises(DecodeError):
        reader.receive_data(data)
    with pytest.raises(LocalProtocolError):
        reader.receive_data(b"")


def test_incomplete_intro_waits() -> None:
    reader = FrameReader(expect_intro=True)
    assert reader.receive_data(b"W") == []
    assert reader.receive_data(b"A\x06") == []
    assert reader.receive_data(b"\x03\x00\x00\x01z") == [b"z"]


def test_oversized_frame_rejected_before_buffering() -> None:
    reader = FrameReader(max_frame_size=10)
    assert reader.receive_data(b"\x00\x00\x0a" + bytes(10)) == [bytes(10)]
    with pytest.raises(DecodeError, match="larger than the limit"):
        reader.receive_data(b"\x00\x00\x0b")
    assert reader.buffered == 0
    # the default limit is the 3-byte maximum; a frame declaring it is buffered only as it arrives
    big = FrameReader()
    assert big.receive_data(b"\xff\xff\xff" + bytes(100)) == []
    assert big.buffered == 103
    with pytest.raises(LocalProtocolError):
        FrameReader(max_frame_size=MAX_FRAME_SIZE + 1)
