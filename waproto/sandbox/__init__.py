"""waproto.sandbox: a simulated WhatsApp network that real clients (unmodified Baileys 6 and 7) log in to.

- ``state``: the network (accounts with their simulated phone's keys, linked companion devices, groups, the
  root key) and its persistence as JSON files in a state directory;
- ``connection``: one client connection's protocol (Noise responder, frames, stanza dispatch, stream errors);
- ``linking``: QR and pairing-code linking, login of linked devices;
- ``iqs``: the table of IQ handlers (other modules register more);
- ``messaging``: simulated phones (``phone``), routing and offline queues (``routing``), usync and prekey
  bundles (``usync``) and groups, wired into the server;
- ``media``: the HTTPS media server with its own CA;
- ``control``: the JSON control API under ``/sandbox``;
- ``server``: the :class:`~waproto.sandbox.server.Sandbox` object, the quart-trio app (websocket ``/ws/chat``
  plus the control API), :func:`~waproto.sandbox.server.serve` and ``run_standalone`` (``waporta sandbox``).

Unlike waproto's core, this package does I/O (trio, hypercorn, quart-trio) and draws randomness. It never
imports ``waporta``. Import the submodules you need; this package re-exports nothing so that importing
it stays cheap.
"""

from __future__ import annotations

__all__: list[str] = []
