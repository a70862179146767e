"""waporta.sessions.hub: the hub's supervisor hands received messages to the plugins, the client settings
of ``[whatsapp]``, and sandbox mode (the sandbox and its media server, its CA trusted)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import trio

from tests.waporta.sessions.helpers import (
    ECHO,
    ECHO_JID,
    PHONE,
    MessagePlugin,
    link_by_qr,
    send,
    wait_for,
    wait_qr,
)
from tests.waproto.sandbox.interop_helpers import Served
from waporta.config import Config, StorageConfig, WhatsAppConfig, default_config
from waporta.hub import open_hub
from waporta.plugins import Plugins
from waporta.sessions import (
    client_settings,
)
from waproto.client import ClientSettings


async def test_the_hub_hands_received_messages_to_the_plugins(served: Served, tmp_path: Path) -> None:
    config: Config = dataclasses.replace(
        default_config(),
        storage=StorageConfig(data_dir=tmp_path / "data"),
        whatsapp=WhatsAppConfig(
            websocket_url=served.ws_url, noise_root_public_key=served.sandbox.root_public_key.hex(), addressing="pn"
        ),
    )
    plugin = MessagePlugin()
    plugins = Plugins()
    plugins.register(plugin, "recorder")
    async with open_hub(config, plugins) as hub:
        sessions = hub.sessions
        assert sessions is not None
        assert sessions.addressing == "pn"  # [whatsapp] addressing
        session = await link_by_qr(served, sessions, "hubbed")
        assert session.messenger.addressing == "pn"
        await send(sessions, "hubbed", "through the hub")
        with trio.fail_after(15):
            await plugin.arrived.wait()
    [payload] = plugin.payloads
    assert payload["session_id"] == payload["sessionId"] == "hubbed"
    assert payload["content"] == {"text": "echo: through the hub"}
    assert payload["sender"] == f"{ECHO}@s.whatsapp.net"


def test_client_settings_of_the_config(tmp_path: Path) -> None:
    from waproto.sandbox.media import ensure_tls_files

    plain = client_settings(WhatsAppConfig(websocket_url="wss://example.test/ws/chat"))
    assert plain.url == "wss://example.test/ws/chat"
    assert plain.ssl_context is None
    assert plain.noise_root_public_key == ClientSettings(url="x").noise_root_public_key  # WhatsApp's root
    ca_file = ensure_tls_files(tmp_path / "tls").ca_file
    custom = client_settings(
        WhatsAppConfig(websocket_url="wss://example.test/ws/chat", noise_root_public_key="ab" * 32, ca_file=ca_file)
    )
    assert custom.noise_root_public_key == bytes.fromhex("ab" * 32)
    assert custom.ssl_context is not None
    names = {dict(item[0] for item in cert["subject"]).get("commonName") for cert in custom.ssl_context.get_ca_certs()}
    assert "waproto sandbox media CA" in names


async def test_sandbox_mode_hub_moves_media_with_the_sandbox_ca(tmp_path: Path) -> None:
    from waproto.content import image_message

    config: Config = dataclasses.replace(
        default_config(), storage=StorageConfig(data_dir=tmp_path / "data"), whatsapp=WhatsAppConfig(sandbox=True)
    )
    plugin = MessagePlugin()
    plugins = Plugins()
    plugins.register(plugin, "recorder")
    picture = b"\xff\xd8\xff" + bytes(range(200)) * 20
    async with open_hub(config, plugins) as hub:
        sessions = hub.sessions
        assert sessions is not None
        assert hub.sandbox is not None
        assert hub.sandbox.media is not None  # the media server runs in sandbox mode
        sandbox = hub.sandbox
        for phone, name, bot in ((PHONE, "Alice", None), (ECHO, "Echo", "echo")):
            sandbox.network.create_account(phone, rng=sandbox.rng, now=sandbox.now(), name=name, bot=bot)
        session = await sessions.create("boxed")
        await sandbox.linker.scan(PHONE, await wait_qr(session))
        await wait_for(session, "connected")
        with trio.fail_after(30):
            uploaded = await sessions.upload("boxed", picture, "image")
            await sessions.send("boxed", ECHO_JID, image_message(uploaded, mimetype="image/jpeg"), media_type="image")
            await plugin.arrived.wait()
            [payload] = plugin.payloads
            assert payload["messageType"] == "image"
            assert await sessions.download("boxed", payload["messageId"]) == picture
