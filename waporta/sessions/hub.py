"""The hub's session supervisor: :func:`open_hub_sessions` wires :func:`~waporta.sessions.supervisor.open_sessions`
to the hub's config and plugins, and in sandbox mode starts the sandbox it connects to;
:func:`client_settings` turns ``[whatsapp]`` into the clients' settings.

This module is NOT the supervisor itself (``waporta.sessions.supervisor``), the config's parsing
(``waporta.config``) or the sandbox (``waproto.sandbox``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import trio

from waporta.messages import InboundMessage
from waporta.sessions.supervisor import Sessions, open_sessions
from waproto.client import ClientSettings

if TYPE_CHECKING:
    from waporta.config import WhatsAppConfig
    from waporta.hub import Hub

__all__ = ["client_settings", "open_hub_sessions"]

log = logging.getLogger("waporta.sessions")


def client_settings(whatsapp: WhatsAppConfig) -> ClientSettings:
    """The client settings of ``[whatsapp]`` (outside sandbox mode): the server URL, the Noise root, and
    for a ``wss://`` URL a TLS context that also trusts ``ca_file`` when it is set."""
    settings = ClientSettings(url=whatsapp.websocket_url)
    if whatsapp.noise_root_public_key is not None:
        settings = dataclasses.replace(settings, noise_root_public_key=bytes.fromhex(whatsapp.noise_root_public_key))
    if whatsapp.ca_file is not None:
        settings = dataclasses.replace(settings, ssl_context=whatsapp.ssl_context())
    return settings


@contextlib.asynccontextmanager
async def open_hub_sessions(hub: Hub) -> AsyncIterator[Sessions]:
    """The hub's supervisor for the block, set as ``hub.sessions``; status changes go to the plugins'
    ``session_status_changed``.

    Received messages go to the plugins' ``message_received``; 1:1 addressing follows ``[whatsapp]
    addressing``; media hosts are trusted by the system's CAs plus ``[whatsapp] ca_file``.

    With ``[whatsapp] sandbox = true`` the sandbox (state in ``<data_dir>/sandbox``) is started first,
    with its media server (HTTPS on 127.0.0.1, its CA then trusted for media too), served on 127.0.0.1
    on a free port, set as ``hub.sandbox``, and every session connects to it.
    """

    async def on_status(session_id: str, status: str) -> None:
        await hub.plugins.session_status_changed(hub, session_id, status)

    async def on_message(session_id: str, message: InboundMessage) -> None:
        await hub.plugins.message_received(hub, session_id, message)

    media_context = hub.config.whatsapp.ssl_context()
    async with trio.open_nursery() as nursery:
        if hub.config.whatsapp.sandbox:
            from waproto.sandbox.server import Sandbox, serve, start_media
            from waproto.sandbox.state import Network

            state_dir = hub.config.storage.data_dir / "sandbox"
            sandbox = Sandbox(Network.open(state_dir, rng=secrets.token_bytes))
            endpoint = await start_media(nursery, sandbox, state_dir)
            media_context.load_verify_locations(cafile=endpoint.ca_file)
            base: str = await nursery.start(serve, sandbox, "127.0.0.1", 0)
            settings = ClientSettings(
                url=base.replace("http://", "ws://", 1) + "/ws/chat", noise_root_public_key=sandbox.root_public_key
            )
            hub.sandbox = sandbox
            log.info("sandbox mode: sessions connect to the in-process sandbox at %s", base)
        else:
            settings = client_settings(hub.config.whatsapp)
        try:
            async with open_sessions(
                hub.db,
                settings,
                on_status=on_status,
                on_message=on_message,
                addressing=hub.config.whatsapp.addressing,
                media_ssl_context=media_context,
            ) as sessions:
                hub.sessions = sessions
                yield sessions
        finally:
            hub.sessions = None
            hub.sandbox = None
            nursery.cancel_scope.cancel()
