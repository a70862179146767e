"""WhatsApp's binary XML: the ``Node`` tree every stanza is, and its codec.

``marshal(node) -> bytes`` writes the plaintext of one frame (flag byte first); ``unmarshal(data) -> Node``
reads one (inflating it when the flag says so). Token dictionaries live in ``tokens`` as generated data.
See PROTOCOL.md §2 for the format and the module docstrings of ``encode`` and ``decode`` for the exact
rules this implementation follows.

This package is NOT the transport: frames are encrypted and length-prefixed by ``waproto.noise``.
"""

from __future__ import annotations

from waproto.binary.decode import MAX_INFLATED, unmarshal
from waproto.binary.encode import MAX_DEPTH, marshal
from waproto.binary.node import AttrValue, Content, Node

__all__ = ["MAX_DEPTH", "MAX_INFLATED", "AttrValue", "Content", "Node", "marshal", "unmarshal"]
