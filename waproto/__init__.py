"""waproto: a pure-Python WhatsApp multi-device protocol library.

Its core is sans-I/O (bytes in, events out; no sockets, no clock, no global RNG). Only
``waproto.client`` (the trio driver) and ``waproto.sandbox`` (a simulated WhatsApp network) do I/O.
waproto knows nothing of waporta.
"""

from __future__ import annotations

__all__: list[str] = []
