"""WhatsApp's frame layer: the intro header and 3-byte length-prefixed frames over websocket messages.

Every frame, in both directions, is a 3-byte big-endian length followed by that many bytes. The client
puts a 4-byte intro (``WA 06 03``) in front of its very first frame; a client that was given routing
info by the server sends ``ED 00 01 <3-byte length> <routing info>`` before that intro. The server sends
no intro.

Websocket messages and frames do not line up: one message may hold several frames, and a frame may be
split across messages. :class:`FrameReader` buffers and re-splits; :class:`FrameWriter` prefixes.

This module is not encryption (see ``transport``) and not the handshake (see ``handshake``): frame
bodies are opaque bytes here. It does no I/O.
"""

from __future__ import annotations

from waproto.errors import DecodeError, LocalProtocolError

__all__ = [
    "INTRO",
    "MAX_FRAME_SIZE",
    "MAX_ROUTING_INFO_SIZE",
    "ROUTING_MAGIC",
    "FrameReader",
    "FrameWriter",
    "encode_frame",
    "routing_intro",
]

#: The intro header: "WA", the magic 6, and dictionary version 3. Also the Noise prologue.
INTRO = b"WA\x06\x03"
#: Starts the optional routing header that precedes the intro: "ED", 0, 1.
ROUTING_MAGIC = b"ED\x00\x01"
#: The largest frame a 3-byte length can announce (whatsmeow's limit too).
MAX_FRAME_SIZE = (1 << 24) - 1
#: The largest routing info a :class:`FrameReader` accepts before the intro (real ones are tiny).
MAX_ROUTING_INFO_SIZE = 4096

_HEADER = 3


def encode_frame(payload: bytes) -> bytes:
    """``payload`` with its 3-byte big-endian length in front (no intro)."""
    size = len(payload)
    if size > MAX_FRAME_SIZE:
        raise LocalProtocolError(f"a frame holds at most {MAX_FRAME_SIZE} bytes, not {size}")
    return size.to_bytes(_HEADER, "big") + payload


def routing_intro(routing_info: bytes) -> bytes:
    """The full intro of a client that was given ``routing_info``: ``ED 00 01 len3 info WA 06 03``."""
    if len(routing_info) > MAX_ROUTING_INFO_SIZE:
        raise LocalProtocolError(f"routing info holds at most {MAX_ROUTING_INFO_SIZE} bytes")
    return ROUTING_MAGIC + len(routing_info).to_bytes(_HEADER, "big") + routing_info + INTRO


class FrameWriter:
    """Turns frame payloads into bytes to send; the intro goes in front of the first frame only.

    A client uses ``FrameWriter()`` (or ``FrameWriter(intro=routing_intro(info))``); a server uses
    ``FrameWriter(intro=b"")``.
    """

    def __init__(self, *, intro: bytes = INTRO) -> None:
        self._intro = intro
        #: Whether the intro (if any) has been written.
        self.intro_sent = not intro

    def frame(self, payload: bytes) -> bytes:
        """The bytes of one frame holding ``payload``, preceded by the intro the first time."""
        framed = encode_frame(payload)
        if self.intro_sent:
            return framed
        self.intro_sent = True
        return self._intro + framed


class FrameReader:
    """Re-splits received websocket bytes into frame payloads.

    ``receive_data(data)`` returns the payloads of every frame completed by ``data`` (possibly none, possibly
    several). A server's reader is made with ``expect_intro=True``: it then requires the client's intro
    (with an optional routing header, exposed as :attr:`routing_info`) before the first frame.

    A frame announcing more than ``max_frame_size`` bytes is rejected as soon as its 3-byte header arrives,
    before any of its body is buffered. Malformed input raises :class:`DecodeError`; the reader is then
    unusable (any further call raises :class:`LocalProtocolError`).
    """

    def __init__(self, *, expect_intro: bool = False, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        if not 0 <= max_frame_size <= MAX_FRAME_SIZE:
            raise LocalProtocolError(f"max_frame_size must be within 0..{MAX_FRAME_SIZE}")
        self._max = max_frame_size
        self._buffer = bytearray()
        self._awaiting_intro = expect_intro
        self._failed = False
        #: The routing info the client sent before its intro, if any (server side only).
        self.routing_info: bytes | None = None

    @property
    def buffered(self) -> int:
        """How many received bytes are waiting for the rest of their frame."""
        return len(self._buffer)

    def receive_data(self, data: bytes) -> list[bytes]:
        """Buffer ``data`` and return the payloads of the frames now complete, in order."""
        if self._failed:
            raise LocalProtocolError("this FrameReader already rejected its input")
        self._buffer += data
        try:
            if self._awaiting_intro and not self._read_intro():
                return []
            return self._read_frames()
        except DecodeError:
            self._failed = True
            self._buffer = bytearray()
            raise

    def _read_intro(self) -> bool:
        """Consume the intro if it is complete; False to wait for more bytes. Fails early on a mismatch."""
        buf = self._buffer
        start = 0
        if buf[:1] == ROUTING_MAGIC[:1]:
            if not _is_prefix(buf[:4], ROUTING_MAGIC):
                raise DecodeError(f"bad routing header {bytes(buf[:4]).hex()}")
            if len(buf) < 7:
                return False
            size = int.from_bytes(buf[4:7], "big")
            if size > MAX_ROUTING_INFO_SIZE:
                raise DecodeError(f"routing info of {size} bytes is larger than {MAX_ROUTING_INFO_SIZE}")
            if len(buf) < 7 + size:
                return False
            routing = bytes(buf[7 : 7 + size])
            start = 7 + size
        else:
            routing = None
        intro = buf[start : start + len(INTRO)]
        if not _is_prefix(intro, INTRO):
            raise DecodeError(f"bad intro header {bytes(intro).hex()} (expected {INTRO.hex()})")
        if len(intro) < len(INTRO):
            return False
        del buf[: start + len(INTRO)]
        self.routing_info = routing
        self._awaiting_intro = False
        return True

    def _read_frames(self) -> list[bytes]:
        buf = self._buffer
        frames: list[bytes] = []
        offset = 0
        end = len(buf)
        while end - offset >= _HEADER:
            size = int.from_bytes(buf[offset : offset + _HEADER], "big")
            if size > self._max:
                raise DecodeError(f"frame of {size} bytes is larger than the limit of {self._max}")
            if end - offset - _HEADER < size:
                break
            frames.append(bytes(buf[offset + _HEADER : offset + _HEADER + size]))
            offset += _HEADER + size
        if offset:
            del buf[:offset]
        return frames


def _is_prefix(got: bytes | bytearray, expected: bytes) -> bool:
    return expected[: len(got)] == got
