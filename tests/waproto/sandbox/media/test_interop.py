"""The sandbox media server against Baileys' own upload and download code (6.7.24 and 7.0.0-rc14).

A Node harness of its own is started with ``NODE_EXTRA_CA_CERTS`` naming the sandbox CA (Node reads it only at
start-up), so Baileys trusts the server exactly as a user's Baileys would. Baileys encrypts and uploads over
HTTPS with the host and auth of our ``media_conn`` answer; our ``waproto.media`` then decrypts what the server
stored, and Baileys downloads it back: v7 from the ``url`` we answered, v6 (which always dials
mmg.whatsapp.net) through an agent that connects to the sandbox under that name.
"""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.interop.harness import Harness, unavailable_reason
from waproto.binary import Node
from waproto.jid import SERVER_JID
from waproto.media import MediaType, decrypt_media
from waproto.sandbox.media import (
    BlobStore,
    MediaEndpoint,
    MediaServer,
    TLSFiles,
    ensure_tls_files,
    serve_media,
)

pytestmark = pytest.mark.interop

MEDIA_CONN = Node("iq", {"id": "m1", "xmlns": "w:m", "type": "set", "to": SERVER_JID}, [Node("media_conn")])
IMAGE = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 9
DOCUMENT = b"%PDF-1.4\n" + b"a sandbox document\n" * 301


@pytest.fixture(scope="module")
def media_tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return ensure_tls_files(tmp_path_factory.mktemp("media-tls"), ["mmg.whatsapp.net"])


@pytest.fixture(scope="module")
def node(media_tls: TLSFiles) -> Iterator[Harness]:
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the interop harness is required in CI: {reason}")
        pytest.skip(reason)
    with Harness(env={"NODE_EXTRA_CA_CERTS": str(media_tls.ca_file)}) as harness:
        yield harness


@dataclass
class Sandbox:
    server: MediaServer
    endpoint: MediaEndpoint
    node: Harness

    async def call(self, op: str, **args: Any) -> Any:
        return await trio.to_thread.run_sync(functools.partial(self.node.call, op, **args))

    def media_conn(self) -> tuple[str, str]:
        """(hostname, auth) as a client reads them from our media_conn answer."""
        media_conn = self.server.answer_media_conn(MEDIA_CONN).child("media_conn")
        assert media_conn is not None
        hostname = media_conn.children_with("host")[0].attrs["hostname"]
        auth = media_conn.attrs["auth"]
        assert isinstance(hostname, str)
        assert isinstance(auth, str)
        return hostname, auth


@pytest.fixture
async def sandbox(
    node: Harness, media_tls: TLSFiles, tmp_path: Path, nursery: trio.Nursery
) -> AsyncIterator[Sandbox]:
    server = MediaServer(BlobStore(tmp_path / "blobs"))
    endpoint = await nursery.start(serve_media, server, media_tls)
    yield Sandbox(server, endpoint, node)
    nursery.cancel_scope.cancel()


@pytest.mark.parametrize("uploader", ["v6", "v7"])
@pytest.mark.parametrize(("media_type", "plaintext"), [("image", IMAGE), ("document", DOCUMENT)])
async def test_baileys_uploads_we_decrypt_and_both_baileys_download(
    sandbox: Sandbox, uploader: str, media_type: str, plaintext: bytes
) -> None:
    hostname, auth = sandbox.media_conn()
    up = await sandbox.call(
        f"media_server.{uploader}.upload",
        plaintext=plaintext,
        mediaType=media_type,
        hostname=hostname,
        auth=auth,
    )
    assert "error" not in up, up
    assert up["refreshes"] == 0
    assert up["url"].startswith(f"https://{hostname}/v/")
    assert up["url"].endswith(up["directPath"])

    stored = sandbox.server.blob_for(up["url"])
    assert stored is not None
    assert (
        decrypt_media(
            stored,
            up["mediaKey"],
            MediaType(media_type),
            file_enc_sha256=up["fileEncSha256"],
            file_sha256=up["fileSha256"],
            file_length=up["fileLength"],
        )
        == plaintext
    )

    message = {
        "mediaKey": up["mediaKey"],
        "mediaType": media_type,
        "url": up["url"],
        "directPath": up["directPath"],
    }
    v7 = await sandbox.call("media_server.v7.download", **message)
    assert v7["plaintext"] == plaintext
    v6 = await sandbox.call("media_server.v6.download", **message, connectTo=sandbox.endpoint.hostname)
    assert v6["plaintext"] == plaintext


@pytest.mark.parametrize(("uploader", "refreshes"), [("v6", 0), ("v7", 1)])
async def test_a_refused_auth_fails_the_upload_and_nothing_is_stored(
    sandbox: Sandbox, uploader: str, refreshes: int
) -> None:
    """Our 401 JSON: v7 (node:https, reads any status) sees no url and refreshes media_conn once; v6's axios
    throws on the status before looking at the body, so it gives up without refreshing. Both fail cleanly."""
    hostname, _ = sandbox.media_conn()
    up = await sandbox.call(
        f"media_server.{uploader}.upload",
        plaintext=IMAGE,
        mediaType="image",
        hostname=hostname,
        auth="bm90IGlzc3VlZCBoZXJl+/=",
    )
    assert up["error"] == "Media upload failed on all hosts"
    assert up["refreshes"] == refreshes
    assert len(sandbox.server.store) == 0


@pytest.mark.parametrize("uploader", ["v6", "v7"])
async def test_fetch_agent_with_the_ca_is_enough_for_uploads(
    baileys: Harness, media_tls: TLSFiles, nursery: trio.Nursery, uploader: str
) -> None:
    """The shared harness was started without NODE_EXTRA_CA_CERTS: Baileys' ``fetchAgent`` socket option, an
    ``https.Agent({ca})``, is what makes it trust the sandbox for uploads (and without it the upload fails)."""
    server = MediaServer()
    endpoint = await nursery.start(serve_media, server, media_tls)
    sandbox = Sandbox(server, endpoint, baileys)
    hostname, auth = sandbox.media_conn()
    args = {"plaintext": IMAGE, "mediaType": "image", "hostname": hostname, "auth": auth}
    untrusting = await sandbox.call(f"media_server.{uploader}.upload", **args)
    assert untrusting["error"] == "Media upload failed on all hosts"
    up = await sandbox.call(f"media_server.{uploader}.upload", **args, caFile=str(media_tls.ca_file))
    assert "error" not in up, up
    stored = server.blob_for(up["directPath"])
    assert stored is not None
    assert (
        decrypt_media(
            stored,
            up["mediaKey"],
            MediaType.IMAGE,
            file_enc_sha256=up["fileEncSha256"],
            file_sha256=up["fileSha256"],
            file_length=up["fileLength"],
        )
        == IMAGE
    )
    nursery.cancel_scope.cancel()
