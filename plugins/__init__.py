"""Built-in waporta plugins, installed as ``waporta_plugins``.

Each module is a plain pluggy plugin written against the same hooks a third-party plugin uses.
"""

from __future__ import annotations
