"""waproto.sandbox.media.server: the HTTPS media server, driven with httpx over TLS trusting the sandbox CA.

Servers bind to 127.0.0.1 only. Auth expiry runs on an injected clock, never a real sleep.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trio

from waproto.binary import Node
from waproto.errors import LocalProtocolError
from waproto.jid import SERVER_JID
from waproto.media import MediaType, decrypt_media, encrypt_media
from waproto.sandbox.media import (
    BlobStore,
    MediaEndpoint,
    MediaServer,
    ensure_tls_files,
    is_media_conn_request,
    serve_media,
)
from waproto.sandbox.media.server import MAX_AUTH_TOKENS

MEDIA_KEY = bytes(range(32))
PLAIN = b"\xff\xd8\xff a small jpeg, honestly" * 20
ENCRYPTED = encrypt_media(PLAIN, MEDIA_KEY, MediaType.IMAGE)
FILE = ENCRYPTED.data
TOKEN = base64.urlsafe_b64encode(hashlib.sha256(FILE).digest()).rstrip(b"=").decode()
MEDIA_CONN = Node("iq", {"id": "7", "xmlns": "w:m", "type": "set", "to": SERVER_JID}, [Node("media_conn")])


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Running:
    server: MediaServer
    endpoint: MediaEndpoint
    client: httpx.AsyncClient
    clock: FakeClock
    auth: str = field(default="")

    async def upload(
        self, body: bytes = FILE, token: str = TOKEN, *, kind: str = "image", **params: str
    ) -> httpx.Response:
        query = {"auth": self.auth, "token": token, **params}
        return await self.client.post(
            f"{self.endpoint.base_url}/mms/{kind}/{token}",
            params={k: v for k, v in query.items() if v is not None},
            content=body,
            headers={"Origin": "https://web.whatsapp.com", "Content-Type": "application/octet-stream"},
        )


def tls_context(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


@pytest.fixture
async def running(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Running]:
    tls = ensure_tls_files(tmp_path / "tls")
    clock = FakeClock()
    server = MediaServer(BlobStore(max_blob_size=4096, max_total_size=8192), clock=clock)
    endpoint = await nursery.start(serve_media, server, tls)
    async with httpx.AsyncClient(verify=tls_context(endpoint.ca_file)) as client:
        yield Running(server, endpoint, client, clock, server.issue_auth())
    nursery.cancel_scope.cancel()


def assert_json_error(response: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["message"], str)
    if field is not None:
        assert body["field"] == field


# ------------------------------------------------------------------------------------------------ happy path


async def test_upload_then_download_round_trip(running: Running) -> None:
    response = await running.upload()
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"url", "direct_path"}
    assert answer["direct_path"].startswith(f"/v/t62.7118-24/{TOKEN}.enc?")
    assert answer["url"] == running.endpoint.base_url + answer["direct_path"]
    assert running.endpoint.hostname.startswith("127.0.0.1:")

    fetched = await running.client.get(answer["url"])
    assert fetched.status_code == 200
    assert fetched.content == FILE
    # the whatsmeow form: host + direct_path + extra query
    whatsmeow = await running.client.get(
        f"{running.endpoint.base_url}{answer['direct_path']}&hash={TOKEN}&mms-type=image&__wa-mms="
    )
    assert whatsmeow.content == FILE
    assert (
        decrypt_media(
            fetched.content,
            MEDIA_KEY,
            MediaType.IMAGE,
            file_enc_sha256=ENCRYPTED.info.file_enc_sha256,
            file_sha256=ENCRYPTED.info.file_sha256,
            file_length=len(PLAIN),
        )
        == PLAIN
    )
    # simulated phones resolve urls in process
    assert running.server.blob_for(answer["url"]) == FILE
    assert running.server.blob_for(answer["direct_path"]) == FILE
    assert running.server.blob_for("/v/t62.7118-24/nothing.enc") is None


async def test_a_phone_publishes_without_http_and_clients_download_it(running: Running) -> None:
    url, direct_path = running.server.publish(FILE)
    assert url == running.endpoint.base_url + direct_path
    assert (await running.client.get(url)).content == FILE
    assert running.server.blob_for(direct_path) == FILE
    with pytest.raises(LocalProtocolError, match="too_large"):
        running.server.publish(b"x" * 4097)


async def test_padded_tokens_and_a_repeated_upload_are_accepted(running: Running) -> None:
    first = await running.upload()
    again = await running.upload(token=TOKEN + "=")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert len(running.server.store) == 1


async def test_other_upload_paths_clients_use(running: Running) -> None:
    """Baileys uploads app state to bare /<token> and product images to /product/image/<token>."""
    for path in (f"/{TOKEN}", f"/product/image/{TOKEN}", f"/mms/md-app-state/{TOKEN}"):
        response = await running.client.post(
            running.endpoint.base_url + path, params={"auth": running.auth, "token": TOKEN}, content=FILE
        )
        assert response.status_code == 200, (path, response.text)


async def test_the_ca_file_is_what_makes_a_client_trust_the_server(running: Running) -> None:
    port = int(running.endpoint.hostname.rsplit(":", 1)[1])
    stream = await trio.open_ssl_over_tcp_stream(
        "127.0.0.1", port, ssl_context=tls_context(running.endpoint.ca_file)
    )
    await stream.do_handshake()
    await stream.aclose()
    untrusting = ssl.create_default_context()  # system roots only
    stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", port, ssl_context=untrusting)
    with pytest.raises(trio.BrokenResourceError) as refused:
        await stream.do_handshake()
    await stream.aclose()
    assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)


async def test_media_conn_answer_names_this_server_with_a_working_auth(running: Running) -> None:
    assert is_media_conn_request(MEDIA_CONN)
    answer = running.server.answer_media_conn(MEDIA_CONN)
    media_conn = answer.child("media_conn")
    assert media_conn is not None
    host = media_conn.children_with("host")
    assert [h.attrs["hostname"] for h in host] == [running.endpoint.hostname]
    assert host[0].attrs["maxContentLengthBytes"] == "4096"
    auth = media_conn.attrs["auth"]
    assert isinstance(auth, str)
    running.auth = auth
    assert (await running.upload()).status_code == 200


async def test_handle_media_conn_is_an_iq_handler(running: Running) -> None:
    """The (connection, iq) -> answer shape the sandbox's IQ table calls; each answer carries a fresh auth."""
    first = await running.server.handle_media_conn(object(), MEDIA_CONN)
    second = await running.server.handle_media_conn(object(), MEDIA_CONN)
    assert first.attrs["id"] == "7"
    auths = [node.child("media_conn").attrs["auth"] for node in (first, second)]  # type: ignore[union-attr]
    assert auths[0] != auths[1]
    assert all(isinstance(a, str) and running.server.auth_valid(a) for a in auths)


async def test_media_conn_before_serving_is_a_local_error() -> None:
    server = MediaServer(clock=FakeClock())
    assert server.hosts == []
    with pytest.raises(LocalProtocolError, match="not serving"):
        server.answer_media_conn(MEDIA_CONN)
    with pytest.raises(LocalProtocolError, match="not serving"):
        server.url(bytes(32))


# ------------------------------------------------------------------------------------------------ refusals


async def test_an_unknown_auth_is_refused_and_not_echoed(running: Running) -> None:
    running.auth = "c2VjcmV0LXRva2VuLXZhbHVl"
    response = await running.upload()
    assert_json_error(response, 401, "bad_auth", "auth")
    assert running.auth not in response.text
    assert len(running.server.store) == 0


async def test_a_missing_auth_or_token_names_the_field(running: Running) -> None:
    response = await running.client.post(
        f"{running.endpoint.base_url}/mms/image/{TOKEN}", params={"token": TOKEN}, content=FILE
    )
    assert_json_error(response, 400, "missing_field", "auth")
    response = await running.client.post(
        f"{running.endpoint.base_url}/mms/image/{TOKEN}", params={"auth": running.auth}, content=FILE
    )
    assert_json_error(response, 400, "missing_field", "token")


async def test_an_expired_auth_is_refused_and_a_fresh_one_works(running: Running) -> None:
    running.clock.now += running.server.auth_ttl
    assert_json_error(await running.upload(), 401, "bad_auth", "auth")
    running.auth = running.server.issue_auth()
    assert (await running.upload()).status_code == 200


@pytest.mark.parametrize(
    ("token", "query_token"),
    [
        ("not-a-token", "not-a-token"),
        (TOKEN, base64.urlsafe_b64encode(bytes(32)).rstrip(b"=").decode()),
        (base64.b64encode(hashlib.sha256(FILE).digest()).decode().replace("=", ""), TOKEN),
    ],
)
async def test_bad_or_mismatched_tokens_are_refused(running: Running, token: str, query_token: str) -> None:
    response = await running.client.post(
        f"{running.endpoint.base_url}/mms/image/{token}",
        params={"auth": running.auth, "token": query_token},
        content=FILE,
    )
    assert response.status_code in (400, 404)
    assert response.json()["error"] in ("bad_token", "not_found")
    assert len(running.server.store) == 0


async def test_a_body_that_does_not_hash_to_the_token_is_refused(running: Running) -> None:
    response = await running.upload(FILE[:-1] + bytes([FILE[-1] ^ 1]))
    assert_json_error(response, 400, "hash_mismatch", "token")
    assert len(running.server.store) == 0


def token_of(body: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()


async def test_size_limit_with_a_content_length(running: Running) -> None:
    big = b"x" * 4097
    assert_json_error(await running.upload(big, token_of(big)), 413, "too_large")


async def test_size_limit_on_a_chunked_body(running: Running) -> None:
    big = b"x" * 5000

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    response = await running.client.post(
        f"{running.endpoint.base_url}/mms/document/{token_of(big)}",
        params={"auth": running.auth, "token": token_of(big)},
        content=chunks(),
    )
    assert_json_error(response, 413, "too_large")
    assert len(running.server.store) == 0


async def test_a_full_store_answers_507(running: Running) -> None:
    for fill in (b"a" * 4096, b"b" * 4096):
        assert (await running.upload(fill, token_of(fill))).status_code == 200
    one_more = b"c" * 10
    assert_json_error(await running.upload(one_more, token_of(one_more)), 507, "store_full")


@pytest.mark.parametrize(
    "path", ["/", "/v/t62.7118-24/short.enc", f"/v/x/{TOKEN}.bin", "/mms/image", "/../etc"]
)
async def test_unknown_downloads_are_json_404(running: Running, path: str) -> None:
    assert_json_error(await running.client.get(running.endpoint.base_url + path), 404, "not_found")


async def test_uploads_elsewhere_and_other_methods_are_json_errors(running: Running) -> None:
    response = await running.client.post(
        f"{running.endpoint.base_url}/a/b/c/{TOKEN}",
        params={"auth": running.auth, "token": TOKEN},
        content=FILE,
    )
    assert_json_error(response, 404, "not_found")
    response = await running.client.put(f"{running.endpoint.base_url}/mms/image/{TOKEN}", content=FILE)
    assert_json_error(response, 405, "method_not_allowed")


async def test_garbage_connections_leave_the_server_working(running: Running) -> None:
    port = int(running.endpoint.hostname.rsplit(":", 1)[1])
    for garbage in (b"\x16\x03\x01\x00\x05hello", b"GET / HTTP/1.1\r\n\r\n", bytes(range(256))):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(garbage)
        await stream.aclose()
    assert (await running.upload()).status_code == 200


# ------------------------------------------------------------------------------------------------ ranges


async def uploaded_url(running: Running) -> str:
    response = await running.upload()
    url = response.json()["url"]
    assert isinstance(url, str)
    return url


@pytest.mark.parametrize(
    ("header", "status", "start", "end"),
    [
        ("bytes=16-31", 206, 16, 31),
        ("bytes=32-", 206, 32, len(FILE) - 1),
        ("bytes=-10", 206, len(FILE) - 10, len(FILE) - 1),
        ("bytes=0-999999", 206, 0, len(FILE) - 1),
        ("bytes=0-1,5-6", 200, 0, len(FILE) - 1),
        ("bytes=9-3", 200, 0, len(FILE) - 1),
        ("pages=1-2", 200, 0, len(FILE) - 1),
    ],
)
async def test_ranges(running: Running, header: str, status: int, start: int, end: int) -> None:
    response = await running.client.get(await uploaded_url(running), headers={"Range": header})
    assert response.status_code == status
    assert response.content == FILE[start : end + 1]
    if status == 206:
        assert response.headers["content-range"] == f"bytes {start}-{end}/{len(FILE)}"


@pytest.mark.parametrize("header", [f"bytes={len(FILE)}-", "bytes=-0"])
async def test_unsatisfiable_ranges_are_416(running: Running, header: str) -> None:
    response = await running.client.get(await uploaded_url(running), headers={"Range": header})
    assert_json_error(response, 416, "bad_range")
    assert response.headers["content-range"] == f"bytes */{len(FILE)}"


# ------------------------------------------------------------------------------------------------ lifecycle


async def test_a_restart_reuses_the_ca_and_keeps_the_files(tmp_path: Path) -> None:
    clock = FakeClock()
    trusted = tls_context(ensure_tls_files(tmp_path / "tls").ca_file)  # what a client trusted before
    urls: list[str] = []
    for _ in range(2):
        server = MediaServer(BlobStore(tmp_path / "blobs"), clock=clock)
        async with trio.open_nursery() as nursery:
            endpoint = await nursery.start(serve_media, server, ensure_tls_files(tmp_path / "tls"))
            async with httpx.AsyncClient(verify=trusted) as client:
                if not urls:
                    response = await client.post(
                        f"{endpoint.base_url}/mms/image/{TOKEN}",
                        params={"auth": server.issue_auth(), "token": TOKEN},
                        content=FILE,
                    )
                    urls.append(response.json()["direct_path"])
                fetched = await client.get(endpoint.base_url + urls[0])
                assert fetched.content == FILE
            nursery.cancel_scope.cancel()


async def test_graceful_shutdown_trigger(tmp_path: Path) -> None:
    stop = trio.Event()
    server = MediaServer(clock=FakeClock())
    async with trio.open_nursery() as nursery:
        serving = functools.partial(serve_media, shutdown_trigger=stop.wait)
        endpoint = await nursery.start(serving, server, ensure_tls_files(tmp_path))
        assert endpoint.ca_file == tmp_path / "ca.pem"
        stop.set()
    # the nursery exits on its own: serve_media returned


async def test_public_hostname_is_what_clients_are_told(tmp_path: Path, nursery: trio.Nursery) -> None:
    server = MediaServer(clock=FakeClock())
    endpoint = await nursery.start(
        lambda task_status: serve_media(
            server, ensure_tls_files(tmp_path), public_hostname="localhost:1", task_status=task_status
        )
    )
    assert endpoint.hostname == "localhost:1"
    assert server.url(bytes(32)).startswith("https://localhost:1/v/")
    nursery.cancel_scope.cancel()


def test_auth_tokens_are_bounded_and_expire() -> None:
    clock = FakeClock()
    server = MediaServer(clock=clock, token_bytes=lambda n: bytes(n))
    assert server.issue_auth() == base64.b64encode(bytes(30)).decode()
    counter = iter(range(10**9))
    server = MediaServer(clock=clock, token_bytes=lambda n: next(counter).to_bytes(n, "big"))
    first = server.issue_auth()
    for _ in range(MAX_AUTH_TOKENS):
        server.issue_auth()
    assert not server.auth_valid(first)  # the oldest was forgotten
    last = server.issue_auth()
    assert server.auth_valid(last)
    clock.now += server.auth_ttl - 1
    assert server.auth_valid(last)
    clock.now += 1
    assert not server.auth_valid(last)
