"""waproto.client.media: media_conn caching, upload and verified download.

Two tiers. The first drives :class:`MediaClient` with fakes (an iq answerer that counts ``media_conn``
queries, and an ``httpx.MockTransport`` media server keeping blobs in a dict) on trio's autojump clock:
ttl expiry, auth refresh, host order, limits, timeouts, what a peer's url may point at. The second runs a
real linked client against the sandbox served on 127.0.0.1 with its HTTPS media server (trusted through its
CA file): upload, download, a tampered file, one media_conn for two uploads, an expired auth token, and an
image sent with the existing Messenger to an echo account and downloaded again from the echo.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.waproto.client.test_sandbox import PHONE, link_by_qr, next_event, settings_for
from tests.waproto.sandbox.interop_helpers import Served, served_sandbox
from waproto.binary import Node
from waproto.client import Connected, MemoryClientStore, open_client
from waproto.client.errors import IqError
from waproto.client.media import (
    MMS_TYPES,
    MediaClient,
    MediaConn,
    MediaConnHost,
    UploadedMedia,
    media_conn_request,
    parse_media_conn,
)
from waproto.client.messaging import Messenger, ReceivedMessage, UndecryptableMessage
from waproto.content import document_message, image_message, media_type_attr, video_message
from waproto.credentials import Credentials
from waproto.errors import (
    DecodeError,
    LocalProtocolError,
    MediaDownloadError,
    MediaIntegrityError,
    MediaUploadError,
)
from waproto.jid import DEFAULT_USER_SERVER, JID
from waproto.media import MediaType, decrypt_media, encrypt_media
from waproto.proto import Message
from waproto.sandbox.phone import Received

AUTH = "a+b/c=="  # real tokens are standard base64: they must be URL-encoded
PICTURE = bytes(range(256)) * 40 + b"tail"


def counter_rng() -> Callable[[int], bytes]:
    state = {"n": 0}

    def rng(size: int) -> bytes:
        state["n"] += 1
        return hashlib.sha256(state["n"].to_bytes(4, "big")).digest()[:size].ljust(size, b"\0")

    return rng


# ---------------------------------------------------------------------------------------------- fakes


class FakeClient:
    """Answers media_conn iqs with ``auths`` in turn, for ``hosts``."""

    def __init__(self, hosts: list[Node] | None = None, *, ttl: int = 300) -> None:
        self.hosts = hosts if hosts is not None else [Node("host", {"hostname": "mmg.fake"})]
        self.ttl = ttl
        self.queries = 0

    @property
    def auth(self) -> str:
        return f"{AUTH}{self.queries}"

    async def query(self, node: Node, *, patience: float | None = None) -> Node:
        assert node.tag == "iq"
        assert node.attrs["xmlns"] == "w:m"
        assert node.attrs["type"] == "set"
        assert node.child("media_conn") is not None
        self.queries += 1
        attrs: dict[str, str | JID] = {"auth": self.auth, "ttl": str(self.ttl), "auth_ttl": "21600", "max_buckets": "12"}
        return Node("iq", {"type": "result"}, [Node("media_conn", attrs, self.hosts)])


Handler = Callable[[httpx.Request], Awaitable[httpx.Response | None]]


@dataclass
class FakeMediaServer:
    """An in-memory media server behind ``httpx.MockTransport``; ``valid_auth`` is the set of accepted tokens."""

    client: FakeClient
    blobs: dict[str, bytes] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    #: Per host: a handler that may answer instead (None: the normal behaviour).
    special: dict[str, Handler] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        host = request.url.netloc.decode()
        special = self.special.get(host)
        if special is not None:
            answer = await special(request)
            if answer is not None:
                return answer
        if request.method == "POST":
            auth = request.url.params.get("auth")
            if auth != self.client.auth or auth in self.revoked:
                return httpx.Response(401, json={"error": "bad_auth"})
            token = request.url.path.rsplit("/", 1)[1]
            assert request.url.params["token"] == token
            body = request.content
            digest = base64.urlsafe_b64decode(token)
            assert hashlib.sha256(body).digest() == digest
            name = digest.hex()
            self.blobs[name] = body
            return httpx.Response(200, json={
                "url": f"https://{host}/v/t62/{name}.enc?ccb=11-4",
                "direct_path": f"/v/t62/{name}.enc?ccb=11-4",
            })
        name = request.url.path.rsplit("/", 1)[1].removesuffix(".enc")
        blob = self.blobs.get(name)
        if blob is None:
            return httpx.Response(404)
        return httpx.Response(200, content=blob)

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


def media_client(server: FakeMediaServer, **options: Any) -> MediaClient:
    return MediaClient(server.client, http=server.http(), rng=counter_rng(), now=lambda: 1_700_000_123.9,
                       **options)


def fake(hosts: list[Node] | None = None, **kwargs: Any) -> FakeMediaServer:
    return FakeMediaServer(FakeClient(hosts, **kwargs))


def hosts(*names: str, **max_lengths: int) -> list[Node]:
    return [
        Node("host", {"hostname": name, **({"maxContentLengthBytes": str(max_lengths[name.split(".")[0]])}
                                            if name.split(".")[0] in max_lengths else {})})
        for name in names
    ]


# ---------------------------------------------------------------------------------------------- media_conn


def test_media_conn_request_and_parse() -> None:
    request = media_conn_request()
    assert (request.tag, request.attrs["xmlns"], request.attrs["type"]) == ("iq", "w:m", "set")
    assert [c.tag for c in request.children] == ["media_conn"]
    answer = Node("iq", {"type": "result"}, [Node("media_conn", {"auth": "SECRET-TOKEN", "ttl": "300", "auth_ttl": "9"}, [
        Node("host", {"hostname": "mmg.whatsapp.net", "maxContentLengthBytes": "1000"}),
        Node("host", {"hostname": "bad/host"}),
        Node("host", {"hostname": "[::1]:8443"}),
        Node("host", {}),
    ])])
    conn = parse_media_conn(answer, fetched_at=10.0)
    assert conn.hosts == (MediaConnHost("mmg.whatsapp.net", 1000), MediaConnHost("[::1]:8443", None))
    assert (conn.ttl, conn.auth_ttl, conn.expires_at) == (300, 9, 310.0)
    assert conn.names("MMG.whatsapp.net")
    assert not conn.names("other.whatsapp.net")
    assert "SECRET-TOKEN" not in repr(conn)  # the auth token stays out of repr
    assert conn.auth == "SECRET-TOKEN"


@pytest.mark.parametrize(
    "answer",
    [
        Node("iq", {"type": "result"}),
        Node("iq", {"type": "result"}, [Node("media_conn", {"ttl": "1"}, [Node("host", {"hostname": "h"})])]),
        Node("iq", {"type": "result"}, [Node("media_conn", {"auth": "a", "ttl": "x"}, [Node("host", {"hostname": "h"})])]),
        Node("iq", {"type": "result"}, [Node("media_conn", {"auth": "a", "ttl": "5"})]),
        Node("iq", {"type": "result"}, [Node("media_conn", {"auth": "a", "ttl": "5"}, [Node("host", {"hostname": "a b"})])]),
    ],
)
def test_parse_media_conn_refuses_unusable_answers(answer: Node) -> None:
    with pytest.raises(IqError):
        parse_media_conn(answer, fetched_at=0.0)


async def test_media_conn_is_cached_until_its_ttl(autojump_clock: trio.testing.MockClock) -> None:
    server = fake(ttl=300)
    async with media_client(server) as media:
        first = await media.media_conn()
        assert await media.media_conn() is first
        await media.upload(b"one", "image")
        await media.upload(b"two", "document")
        assert server.client.queries == 1
        await trio.sleep(299)
        assert await media.media_conn() is first
        await trio.sleep(2)
        await media.upload(b"three", "image")
        assert server.client.queries == 2


async def test_concurrent_callers_share_one_media_conn_query(autojump_clock: trio.testing.MockClock) -> None:
    server = fake()
    async with media_client(server) as media, trio.open_nursery() as nursery:
        for index in range(5):
            nursery.start_soon(media.upload, bytes([index]) * 10, "image")
    assert server.client.queries == 1
    assert len(server.blobs) == 5


# ---------------------------------------------------------------------------------------------- upload


async def test_upload_posts_the_encrypted_file(autojump_clock: trio.testing.MockClock) -> None:
    server = fake()
    async with media_client(server) as media:
        uploaded = await media.upload(PICTURE, "image")
    (request,) = server.requests
    assert request.method == "POST"
    assert request.url.scheme == "https"
    assert request.url.netloc == b"mmg.fake"
    token = base64.urlsafe_b64encode(uploaded.file_enc_sha256).decode()
    assert token.endswith("=")  # whatsmeow keeps the padding
    assert request.url.path == f"/mms/image/{token}"
    query = parse_qs(urlsplit(str(request.url)).query)
    assert query == {"auth": [f"{AUTH}1"], "token": [token]}
    assert b"auth=a%2Bb%2Fc%3D%3D1" in request.url.raw_path
    assert request.headers["Origin"] == "https://web.whatsapp.com"
    assert request.headers["Referer"] == "https://web.whatsapp.com/"
    assert request.headers["Content-Type"] == "application/octet-stream"
    assert uploaded.media_key == counter_rng()(32)
    assert uploaded.media_type is MediaType.IMAGE
    assert uploaded.media_key_timestamp == 1_700_000_123
    assert uploaded.file_length == len(PICTURE)
    assert uploaded.file_sha256 == hashlib.sha256(PICTURE).digest()
    assert uploaded.file_enc_sha256 == hashlib.sha256(request.content).digest()
    assert uploaded.url.startswith("https://mmg.fake/v/t62/")
    assert uploaded.direct_path.startswith("/v/t62/")
    plain = decrypt_media(request.content, uploaded.media_key, "image",
                          file_enc_sha256=uploaded.file_enc_sha256, file_sha256=uploaded.file_sha256)
    assert plain == PICTURE


@pytest.mark.parametrize(("media_type", "path"), sorted((t.value, p) for t, p in MMS_TYPES.items()))
async def test_upload_paths_per_type(media_type: str, path: str, autojump_clock: trio.testing.MockClock) -> None:
    server = fake()
    async with media_client(server) as media:
        uploaded = await media.upload(b"x" * 100, media_type)
    assert server.requests[0].url.path.startswith(f"/mms/{path}/")
    assert uploaded.media_type == MediaType(media_type)


async def test_upload_of_large_files_encrypts_in_a_thread() -> None:
    data = secrets.token_bytes(600_000)
    server = fake()
    async with media_client(server) as media:
        uploaded = await media.upload(data, "document")
    blob = next(iter(server.blobs.values()))
    assert decrypt_media(blob, uploaded.media_key, "document", file_enc_sha256=uploaded.file_enc_sha256,
                         file_sha256=uploaded.file_sha256) == data


async def test_upload_refuses_types_without_an_upload_path() -> None:
    server = fake()
    async with media_client(server) as media:
        with pytest.raises(LocalProtocolError, match="cannot be uploaded"):
            await media.upload(b"x", "thumbnail-image")
        with pytest.raises(LocalProtocolError, match="unknown media type"):
            await media.upload(b"x", "nonsense")
    assert server.client.queries == 0


async def test_a_refused_auth_refreshes_media_conn_once(autojump_clock: trio.testing.MockClock) -> None:
    server = fake()
    async with media_client(server) as media:
        await media.upload(b"first", "image")
        server.revoked.add(server.client.auth)  # the server forgot the token before the ttl ran out
        await media.upload(b"second", "image")
        assert server.client.queries == 2
        statuses = [r.url.params["auth"] for r in server.requests]
        assert statuses == [f"{AUTH}1", f"{AUTH}1", f"{AUTH}2"]

        # A server that refuses every token: one refresh, then the error.
        async def always_401(request: httpx.Request) -> httpx.Response:
            return httpx.Response(403)

        server.special["mmg.fake"] = always_401
        with pytest.raises(MediaUploadError) as caught:
            await media.upload(b"third", "image")
        assert caught.value.status == 403
        assert server.client.queries == 3
        assert AUTH not in str(caught.value)


async def test_hosts_are_tried_in_order(autojump_clock: trio.testing.MockClock) -> None:
    server = fake(hosts("down.fake", "busy.fake", "slow.fake", "junk.fake", "good.fake"))

    async def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async def busy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": "busy"})

    async def slow(request: httpx.Request) -> httpx.Response:
        await trio.sleep(1000)
        return httpx.Response(500)

    async def junk(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>")

    server.special.update({"down.fake": down, "busy.fake": busy, "slow.fake": slow, "junk.fake": junk})
    async with media_client(server, attempt_timeout=30) as media:
        start = trio.current_time()
        uploaded = await media.upload(b"payload", "image")
        assert trio.current_time() - start == pytest.approx(30)
    assert [r.url.host for r in server.requests] == ["down.fake", "busy.fake", "slow.fake", "junk.fake", "good.fake"]
    assert uploaded.url.startswith("https://good.fake/")


@pytest.mark.parametrize(
    "answer",
    [
        {"url": "http://insecure/x", "direct_path": "/x"},
        {"url": "https://ok/x", "direct_path": "x"},
        {"url": 3, "direct_path": "/x"},
        ["not", "an", "object"],
    ],
)
async def test_unusable_upload_answers_fail(answer: Any, autojump_clock: trio.testing.MockClock) -> None:
    server = fake()

    async def odd(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer)

    server.special["mmg.fake"] = odd
    async with media_client(server) as media:
        with pytest.raises(MediaUploadError) as caught:
            await media.upload(b"x", "image")
    assert caught.value.status == 200


async def test_an_oversized_answer_fails(autojump_clock: trio.testing.MockClock) -> None:
    server = fake()

    async def huge(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b" " * 100_000)

    server.special["mmg.fake"] = huge
    async with media_client(server) as media:
        with pytest.raises(MediaUploadError):
            await media.upload(b"x", "image")


async def test_hosts_too_small_for_the_file_are_skipped(autojump_clock: trio.testing.MockClock) -> None:
    server = fake(hosts("small.fake", "big.fake", small=100, big=10_000))
    async with media_client(server) as media:
        uploaded = await media.upload(b"y" * 500, "image")
        assert uploaded.url.startswith("https://big.fake/")
        with pytest.raises(MediaUploadError) as caught:
            await media.upload(b"z" * 20_000, "image")
    assert caught.value.status == 413
    assert [r.url.host for r in server.requests] == ["big.fake"]


def test_media_client_checks_its_options() -> None:
    with pytest.raises(LocalProtocolError):
        MediaClient(FakeClient(), timeout=0)
    with pytest.raises(LocalProtocolError):
        MediaClient(FakeClient(), max_download_bytes=0)


# ---------------------------------------------------------------------------------------------- download


async def uploaded_image(media: MediaClient, data: bytes = PICTURE) -> tuple[UploadedMedia, Message]:
    uploaded = await media.upload(data, "image")
    return uploaded, image_message(uploaded, mimetype="image/jpeg", caption="c")


async def test_download_from_the_url(autojump_clock: trio.testing.MockClock) -> None:
    server = fake()
    async with media_client(server) as media:
        _, message = await uploaded_image(media)
        assert await media.download(message) == PICTURE
    request = server.requests[-1]
    assert request.method == "GET"
    assert str(request.url) == message.image_message.url
    assert request.headers["Origin"] == "https://web.whatsapp.com"


async def test_download_unwraps_the_message(autojump_clock: trio.testing.MockClock) -> None:
    server = fake()
    async with media_client(server) as media:
        uploaded = await media.upload(b"doc body", "document")
        doc = document_message(uploaded, mimetype="text/plain", file_name="a.txt", caption="c")
        wrapped = Message()
        wrapped.ephemeral_message.message.document_with_caption_message.message.CopyFrom(doc)
        assert await media.download(wrapped) == b"doc body"


async def test_download_falls_back_to_the_direct_path_on_each_host(autojump_clock: trio.testing.MockClock) -> None:
    server = fake(hosts("one.fake", "two.fake"))

    async def gone(request: httpx.Request) -> httpx.Response | None:
        return httpx.Response(410) if request.method == "GET" else None

    server.special["one.fake"] = gone
    async with media_client(server) as media:
        uploaded, message = await uploaded_image(media)
        assert await media.download(message) == PICTURE
    gets = [r for r in server.requests if r.method == "GET"]
    assert [r.url.host for r in gets] == ["one.fake", "one.fake", "two.fake"]
    direct = gets[1].url
    assert direct.path == uploaded.direct_path.split("?")[0]
    assert direct.params["ccb"] == "11-4"
    assert direct.params["hash"] == base64.urlsafe_b64encode(uploaded.file_enc_sha256).decode()
    assert direct.params["mms-type"] == "image"
    assert "__wa-mms" in direct.params


async def test_a_url_on_a_foreign_host_is_not_followed(autojump_clock: trio.testing.MockClock) -> None:
    server = fake()
    async with media_client(server) as media:
        _, message = await uploaded_image(media)
        message.image_message.url = "https://169.254.169.254/latest/meta-data"
        assert await media.download(message) == PICTURE
        message.image_message.url = "https://mmg.whatsapp.net@evil.example/x"
        assert await media.download(message) == PICTURE
    assert {r.url.host for r in server.requests} == {"mmg.fake"}


async def test_redirects_are_never_followed(autojump_clock: trio.testing.MockClock) -> None:
    server = fake(hosts("one.fake", "two.fake"))

    async def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "https://internal.example/secret"})

    server.special["one.fake"] = redirect
    http = httpx.AsyncClient(transport=httpx.MockTransport(server), follow_redirects=True)
    async with MediaClient(server.client, http=http, rng=counter_rng()) as media:
        uploaded, message = await uploaded_image(media)
        assert uploaded.url.startswith("https://two.fake/")
        message.image_message.url = message.image_message.url.replace("two.fake", "one.fake")
        assert await media.download(message) == PICTURE
    await http.aclose()
    assert "internal.example" not in {r.url.host for r in server.requests}


async def test_a_whatsapp_url_needs_no_media_conn(autojump_clock: trio.testing.MockClock) -> None:
    server = fake()
    encrypted = encrypt_media(b"from the cdn", bytes(32), "image")

    async def cdn(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=encrypted.data)

    server.special["mmg.whatsapp.net"] = cdn
    message = Message()
    part = message.image_message
    part.url = "https://mmg.whatsapp.net/v/t62/x.enc"
    part.media_key = bytes(32)
    part.file_enc_sha256 = encrypted.info.file_enc_sha256
    part.file_sha256 = encrypted.info.file_sha256
    part.file_length = encrypted.info.file_length
    async with media_client(server) as media:
        assert await media.download(message) == b"from the cdn"
    assert server.client.queries == 0


async def test_a_tampered_file_fails_verification_everywhere(autojump_clock: trio.testing.MockClock) -> None:
    server = fake(hosts("one.fake", "two.fake"))
    async with media_client(server) as media:
        uploaded, message = await uploaded_image(media)
        name = uploaded.file_enc_sha256.hex()
        blob = bytearray(server.blobs[name])
        blob[5] ^= 1
        server.blobs[name] = bytes(blob)
        with pytest.raises(MediaIntegrityError) as caught:
            await media.download(message)
        assert caught.value.reason == "enc_hash"
        message.image_message.ClearField("file_enc_sha256")
        with pytest.raises(MediaIntegrityError) as caught:
            await media.download(message)
        assert caught.value.reason == "mac"
    gets = [r for r in server.requests if r.method == "GET"]
    assert len(gets) == 6  # url + two hosts, twice


async def test_a_file_of_another_length_fails(autojump_clock: trio.testing.MockClock) -> None:
    server = fake()
    async with media_client(server) as media:
        _, message = await uploaded_image(media)
        message.image_message.file_length = 10
        with pytest.raises(MediaIntegrityError) as caught:
            await media.download(message)
        assert caught.value.reason == "length"


async def test_missing_files_are_a_download_error(autojump_clock: trio.testing.MockClock) -> None:
    server = fake()
    async with media_client(server) as media:
        _, message = await uploaded_image(media)
        server.blobs.clear()
        with pytest.raises(MediaDownloadError) as caught:
            await media.download(message)
    assert caught.value.status == 404


async def test_download_limits(autojump_clock: trio.testing.MockClock) -> None:
    server = fake()
    async with media_client(server, max_download_bytes=1000) as media:
        _, message = await uploaded_image(media, b"s" * 2000)
        with pytest.raises(MediaDownloadError, match="limited to 1000"):
            await media.download(message)
        message.image_message.ClearField("file_length")  # no announced size: the cap still holds
        with pytest.raises(MediaDownloadError) as caught:
            await media.download(message)
        assert caught.value.status is None
        _, small = await uploaded_image(media, b"s" * 100)
        small.image_message.ClearField("file_length")
        assert await media.download(small) == b"s" * 100


async def test_download_refuses_messages_without_media_or_key() -> None:
    server = fake()
    async with media_client(server) as media:
        with pytest.raises(LocalProtocolError, match="no media"):
            await media.download(Message(conversation="hi"))
        message = Message()
        message.image_message.url = "https://mmg.fake/v/t62/x.enc"
        message.image_message.media_key = b"short"
        with pytest.raises(DecodeError):
            await media.download(message)
    assert server.requests == []


async def test_download_with_no_source_at_all(autojump_clock: trio.testing.MockClock) -> None:
    server = fake()
    message = Message()
    message.video_message.media_key = bytes(32)
    message.video_message.url = "ftp://nowhere/x"
    async with media_client(server) as media:
        with pytest.raises(MediaDownloadError) as caught:
            await media.download(message)
    assert caught.value.status is None


_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
_URLISH = st.one_of(
    _TEXT,
    st.builds("https://{}{}".format, st.sampled_from(["mmg.fake", "mmg.whatsapp.net", "[::1", "x:99999", "ä.fake", ""]),
              _TEXT),
    st.builds("/{}".format, _TEXT),
)


@settings(max_examples=150, deadline=None)
@given(url=_URLISH, direct_path=_URLISH, status=st.sampled_from([200, 404, 500]), body=st.binary(max_size=80))
async def test_download_from_garbage_sources_raises_only_waproto_errors(
    url: str, direct_path: str, status: int, body: bytes
) -> None:
    server = fake()

    async def anything(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    for host in ("mmg.fake", "mmg.whatsapp.net"):
        server.special[host] = anything
    message = Message()
    message.document_message.media_key = bytes(32)
    message.document_message.url = url
    message.document_message.direct_path = direct_path
    async with media_client(server) as media:
        with pytest.raises((MediaDownloadError, MediaIntegrityError)):
            await media.download(message)
    assert {r.url.host for r in server.requests} <= {"mmg.fake", "mmg.whatsapp.net"}


_ATTR = st.one_of(st.text(max_size=12), st.sampled_from(["300", "0", "-1", "99999999999999999999", "h.fake"]))


@settings(max_examples=200, deadline=None)
@given(
    conn_attrs=st.dictionaries(st.sampled_from(["auth", "ttl", "auth_ttl", "x"]), _ATTR, max_size=4),
    host_attrs=st.lists(
        st.dictionaries(st.sampled_from(["hostname", "maxContentLengthBytes", "type"]), _ATTR, max_size=3),
        max_size=3,
    ),
)
def test_parse_media_conn_never_raises_anything_but_iq_error(
    conn_attrs: dict[str, str], host_attrs: list[dict[str, str]]
) -> None:
    answer = Node("iq", {"type": "result"}, [
        Node("media_conn", dict(conn_attrs), [Node("host", dict(attrs)) for attrs in host_attrs])
    ])
    try:
        conn = parse_media_conn(answer, fetched_at=0.0)
    except IqError:
        return
    assert conn.auth
    assert conn.ttl >= 0
    assert conn.hosts


# ---------------------------------------------------------------------------------------------- sandbox

ECHO = "15550003333"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_sandbox(tmp_path / "state", media=True) as running:
        await running.create_account(PHONE, name="Alice")
        await running.create_account(ECHO, name="Echo", bot="echo")
        yield running


async def linked(served: Served) -> MemoryClientStore:
    creds = Credentials.generate(secrets.token_bytes, push_name="waporta")
    store = MemoryClientStore(creds)
    await link_by_qr(served, store, creds)
    return store


def trust(served: Served) -> ssl.SSLContext:
    assert served.ca_file is not None
    return ssl.create_default_context(cafile=served.ca_file)


class CountingMediaConn:
    """Wraps the sandbox's media_conn handler: counts the iqs, and restores ``auth_ttl`` first."""

    def __init__(self, served: Served) -> None:
        media = served.sandbox.media
        assert media is not None
        self.media = media
        self.count = 0
        self.auth_ttl = media.auth_ttl
        served.sandbox.iqs.register("w:m", "media_conn", self)

    async def __call__(self, connection: object, iq: Node) -> Node:
        self.count += 1
        self.media.auth_ttl = self.auth_ttl
        return await self.media.handle_media_conn(connection, iq)


async def test_upload_and_download_through_the_sandbox(served: Served) -> None:
    store = await linked(served)
    assert store.credentials is not None
    counting = CountingMediaConn(served)
    media_server = served.sandbox.media
    assert media_server is not None
    async with open_client(settings_for(served), store.credentials, store) as client:
        assert isinstance(await next_event(client, Connected), Connected)
        async with MediaClient(client, ssl_context=trust(served)) as media:
            with trio.fail_after(15):
                first = await media.upload(PICTURE, "image")
                second = await media.upload(b"%PDF-1.4 tiny", "document")
            assert counting.count == 1  # one media_conn for both uploads
            assert first.file_enc_sha256 in media_server.store
            assert second.file_enc_sha256 in media_server.store
            assert first.url == f"https://{media_server.hostname}{first.direct_path}"

            message = image_message(first, mimetype="image/jpeg", caption="sandbox")
            with trio.fail_after(15):
                assert await media.download(message) == PICTURE
                doc = document_message(second, mimetype="application/pdf", file_name="t.pdf")
                assert await media.download(doc) == b"%PDF-1.4 tiny"
                big = secrets.token_bytes(3 << 20)  # encrypted in a thread, streamed through the decryptor
                video = await media.upload(big, "video")
                assert await media.download(video_message(video, mimetype="video/mp4")) == big
            assert counting.count == 1

            # A tampered copy of the file, published where the message now points.
            tampered = bytearray(media_server.store.get(first.file_enc_sha256) or b"")
            tampered[0] ^= 0xFF
            url, direct_path = media_server.publish(bytes(tampered))
            message.image_message.url = url
            message.image_message.direct_path = direct_path
            with pytest.raises(MediaIntegrityError) as caught, trio.fail_after(15):
                await media.download(message)
            assert caught.value.reason == "enc_hash"

            # The auth token expires on the server: the upload refreshes media_conn and succeeds.
            media_server.auth_ttl = 0
            with trio.fail_after(15):
                third = await media.upload(b"after expiry", "image")
            assert counting.count == 2
            assert third.file_enc_sha256 in media_server.store


async def test_the_sandbox_media_server_is_trusted_only_through_its_ca(served: Served) -> None:
    store = await linked(served)
    assert store.credentials is not None
    async with open_client(settings_for(served), store.credentials, store) as client:
        assert isinstance(await next_event(client, Connected), Connected)
        async with MediaClient(client, ssl_context=ssl.create_default_context()) as media:
            with pytest.raises(MediaUploadError) as caught, trio.fail_after(15):
                await media.upload(b"x", "image")
    assert caught.value.status is None  # no host answered: the TLS handshake failed


async def test_an_image_to_the_echo_account_and_back(served: Served) -> None:
    store = await linked(served)
    assert store.credentials is not None
    echo_jid = JID(ECHO, DEFAULT_USER_SERVER)
    inbox_send, inbox = trio.open_memory_channel[ReceivedMessage | UndecryptableMessage](8)

    async def on_message(item: ReceivedMessage | UndecryptableMessage) -> None:
        await inbox_send.send(item)

    async with open_client(settings_for(served), store.credentials, store) as client:
        messenger = Messenger(client, on_message)
        assert isinstance(await next_event(client, Connected), Connected)
        echo_phone = await served.sandbox.messaging.phone(ECHO)
        stanzas: list[Node] = []
        original = echo_phone.receive

        async def spy(node: Node, *, now: int) -> Received:
            stanzas.append(node)
            return await original(node, now=now)

        echo_phone.receive = spy  # type: ignore[method-assign]
        async with MediaClient(client, ssl_context=trust(served)) as media:
            with trio.fail_after(15):
                uploaded = await media.upload(PICTURE, "image")
                message = image_message(uploaded, mimetype="image/jpeg", caption="round trip")
                sent = await messenger.send_message(echo_jid, message, media_type=media_type_attr(message))
            (stanza,) = [n for n in stanzas if n.tag == "message" and n.attrs.get("id") == sent.id]
            assert stanza.attrs["type"] == "media"
            assert {enc.attrs.get("mediatype") for enc in stanza.children_with("enc")} == {"image"}
            logged = echo_phone.find(sent.id, "in")
            assert logged is not None
            assert (logged.kind, logged.text) == ("image", "round trip")
            assert logged.media_bytes == PICTURE  # the phone fetched and decrypted it

            with trio.fail_after(15):
                while True:
                    item = await inbox.receive()
                    if isinstance(item, ReceivedMessage) and item.message.HasField("image_message"):
                        break
            assert item.chat == echo_jid
            assert item.message.image_message.media_key == uploaded.media_key
            with trio.fail_after(15):
                assert await media.download(item.message) == PICTURE


def test_media_conn_dataclass_is_frozen() -> None:
    conn = MediaConn("a", 1, (MediaConnHost("h"),), 0.0)
    with pytest.raises(AttributeError):
        conn.ttl = 2  # type: ignore[misc]
