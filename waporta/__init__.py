"""waporta: a self-hosted WhatsApp multi-device gateway (the hub).

Plugins write ``from waporta import hookimpl``. This package is the hub: config, plugin manager,
storage, auth, session supervisor, HTTP app and CLI. The WhatsApp protocol itself is ``waproto``.
"""

from __future__ import annotations

import pluggy

__all__ = ["__version__", "hookimpl"]

__version__ = "0.1.0.dev0"

#: Marker for plugin hook implementations: ``@hookimpl def register_routes(hub, app): ...``
hookimpl = pluggy.HookimplMarker("waporta")
