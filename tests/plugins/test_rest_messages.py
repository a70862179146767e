"""waporta_plugins.rest_messages: /api/whatsapp/send/{text,image,document} and /check against a fake
``Sessions`` (the interface of ``waporta.sessions.Sessions``: get, send, upload, check, and its error
classes) installed on a real hub: validation, error mapping, the retry loop under the send-retry
policy (trio's autojump clock: no real sleeps) and the ``delivery_failed`` hook."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import itertools
import math
import struct
from collections.abc import AsyncIterator
from types import MappingProxyType
from typing import Any

import pytest
import trio
import trio.lowlevel
from hypothesis import given
from hypothesis import strategies as st
from quart import typing as quart_typing

from tests.fakes import FakeClock
from tests.plugins.conftest import DEFAULT_KEY
from waporta import hookimpl
from waporta.app import ApiError, create_app
from waporta.config import Config, MediaConfig, PluginsConfig
from waporta.hub import Hub, open_hub
from waporta.plugins import DEFAULT_PLUGINS, Plugins
from waporta.sessions import SessionLoggedOut, SessionNotLinked, SessionUnavailable, UnknownSession
from waporta_plugins import rest_messages, send_retry
from waporta_plugins.rest_messages import image_info, parse_recipient
from waproto.client.messaging import SentMessage
from waproto.content import UploadedMedia
from waproto.errors import MediaUploadError, MessageRefused, NotOnWhatsApp
from waproto.jid import JID
from waproto.media import MediaType
from waproto.proto.e2e_pb2 import Message
from waproto.usync import CheckResult

AUTH = {"X-API-Key": DEFAULT_KEY}
PEER = "15550002222"
PEER_JID = JID(PEER, "s.whatsapp.net")
SENT_AT = 1_780_000_000  # 2026-05-28T20:26:40Z


def png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0\0\0\0" + b"\0" * 20


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0" + b"\x01\x01\0\0\x01\0\x01\0\0"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


PNG = png(640, 480)
PDF = b"%PDF-1.4\n" + b"x" * 100 + b"\n%%EOF\n"


@dataclasses.dataclass
class FakeSession:
    id: str
    status: str = "connected"


class FakeSessions:
    """The send side of ``waporta.sessions.Sessions``, scripted: ``fail`` holds errors raised by the
    next sends (or uploads), one each, before sends succeed."""

    def __init__(self) -> None:
        self.sessions = {"s1": FakeSession("s1")}
        self.sent: list[tuple[str, JID, Message, str | None]] = []
        self.uploads: list[tuple[str, bytes, str]] = []
        self.send_failures: list[BaseException] = []
        self.upload_failures: list[BaseException] = []
        self.checks: list[tuple[str, str]] = []
        self.check_answer: CheckResult | BaseException = CheckResult(exists=False, jid=None, lid=None)
        self.send_times: list[float] = []
        self.message_ids: list[str | None] = []

    def get(self, session_id: str) -> FakeSession:
        try:
            return self.sessions[session_id]
        except KeyError:
            raise UnknownSession(session_id) from None

    async def send(
        self, session_id: str, to: JID, message: Message, *, media_type: str | None = None, message_id: str | None = None
    ) -> SentMessage:
        await trio.lowlevel.checkpoint()
        self.get(session_id)
        self.send_times.append(trio.current_time())
        self.message_ids.append(message_id)
        if self.send_failures:
            raise self.send_failures.pop(0)
        self.sent.append((session_id, to, message, media_type))
        return SentMessage(message_id or f"3EB0{len(self.sent):018X}", to, "sent", SENT_AT)

    async def upload(self, session_id: str, data: bytes, media_type: str) -> UploadedMedia:
        await trio.lowlevel.checkpoint()
        if self.upload_failures:
            raise self.upload_failures.pop(0)
        self.uploads.append((session_id, data, media_type))
        return UploadedMedia(
            url="https://mmg.example/m/1",
            direct_path="/m/1",
            media_key=b"k" * 32,
            file_sha256=b"s" * 32,
            file_enc_sha256=b"e" * 32,
            file_length=len(data),
            media_key_timestamp=SENT_AT,
            media_type=MediaType(media_type),
        )

    async def check(self, session_id: str, phone: str) -> CheckResult:
        await trio.lowlevel.checkpoint()
        self.checks.append((session_id, phone))
        if isinstance(self.check_answer, BaseException):
            raise self.check_answer
        return self.check_answer


class Failures:
    """A plugin recording ``delivery_failed`` calls."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    @hookimpl
    def delivery_failed(self, failure: Any) -> None:
        self.calls.append(failure)


@dataclasses.dataclass
class Gateway:
    hub: Hub
    client: quart_typing.TestClientProtocol
    sessions: FakeSessions
    failures: Failures

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        response = await self.client.post(f"/api/whatsapp{path}", json=body, headers=AUTH)
        return response.status_code, await response.get_json()

    async def get(self, path: str) -> tuple[int, Any]:
        response = await self.client.get(f"/api/whatsapp{path}", headers=AUTH)
        return response.status_code, await response.get_json()


def make_plugins(*extra: object) -> tuple[Plugins, Failures]:
    plugins = Plugins()
    plugins.register(send_retry, "waporta_plugins.send_retry")
    plugins.register(rest_messages, "waporta_plugins.rest_messages")
    failures = Failures()
    plugins.register(failures, "failures")
    for n, plugin in enumerate(extra):
        plugins.register(plugin, f"extra{n}")
    return plugins, failures


@contextlib.asynccontextmanager
async def open_gateway(config: Config, clock: FakeClock, *extra: object) -> AsyncIterator[Gateway]:
    plugins, failures = make_plugins(*extra)
    async with open_hub(config, plugins, clock=clock) as hub:
        fake = FakeSessions()
        hub.sessions = fake  # type: ignore[assignment]
        yield Gateway(hub, create_app(hub).test_client(), fake, failures)


@pytest.fixture
async def gw(config: Config, clock: FakeClock) -> AsyncIterator[Gateway]:
    async with open_gateway(config, clock) as gateway:
        yield gateway


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------- text


async def test_send_text(gw: Gateway) -> None:
    code, body = await gw.post("/send/text", {"sessionId": "s1", "to": PEER, "text": "hello"})
    assert code == 200, body
    assert body == {
        "status": "sent",
        "messageId": "3EB0000000000000000001",
        "to": f"{PEER}@s.whatsapp.net",
        "timestamp": "2026-05-28T20:26:40.000Z",
    }
    [(session_id, to, message, media_type)] = gw.sessions.sent
    assert (session_id, to, media_type) == ("s1", PEER_JID, None)
    assert message.conversation == "hello"
    assert gw.failures.calls == []


@pytest.mark.parametrize(
    ("to", "is_group", "jid"),
    [
        (PEER, None, f"{PEER}@s.whatsapp.net"),
        (PEER, False, f"{PEER}@s.whatsapp.net"),
        ("12345", None, "12345@s.whatsapp.net"),
        ("1" * 20, None, "1" * 20 + "@s.whatsapp.net"),
        (f"{PEER}@s.whatsapp.net", None, f"{PEER}@s.whatsapp.net"),
        ("123456789012345@lid", None, "123456789012345@lid"),
        ("120363012345678901", True, "120363012345678901@g.us"),
        ("120363012345678901@g.us", True, "120363012345678901@g.us"),
        ("120363012345678901@g.us", None, "120363012345678901@g.us"),
        ("15550002222-1600000000", True, "15550002222-1600000000@g.us"),
    ],
)
async def test_recipients(gw: Gateway, to: str, is_group: bool | None, jid: str) -> None:
    body: dict[str, Any] = {"sessionId": "s1", "to": to, "text": "hi"}
    if is_group is not None:
        body["isGroup"] = is_group
    code, answer = await gw.post("/send/text", body)
    assert code == 200, answer
    assert str(gw.sessions.sent[-1][1]) == jid


@pytest.mark.parametrize(
    ("to", "is_group"),
    [
        ("+15550002222", None),
        ("1555", None),
        ("1" * 21, None),
        ("1555 000 2222", None),
        ("١٢٣٤٥٦٧", None),
        ("15550002222:3@s.whatsapp.net", None),
        ("abc@s.whatsapp.net", None),
        ("15550002222@c.us", None),
        ("123-456789", None),
        ("15550002222-1600000000", False),
        ("15550002222-1600000000", None),
        (f"{PEER}@s.whatsapp.net", True),
        ("123456789012345@lid", True),
        ("group", True),
        ("", None),
        (None, None),
        (15550002222, None),
        ([PEER], None),
    ],
)
async def test_bad_recipients_are_400_naming_to(gw: Gateway, to: Any, is_group: bool | None) -> None:
    body: dict[str, Any] = {"sessionId": "s1", "to": to, "text": "hi"}
    if is_group is not None:
        body["isGroup"] = is_group
    code, answer = await gw.post("/send/text", body)
    assert (code, answer["error"], answer["field"]) == (400, "invalid_field", "to"), answer
    assert gw.sessions.sent == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sessionId": None}, "sessionId"),
        ({"sessionId": ""}, "sessionId"),
        ({"sessionId": "-bad"}, "sessionId"),
        ({"sessionId": "x" * 65}, "sessionId"),
        ({"sessionId": 7}, "sessionId"),
        ({"text": None}, "text"),
        ({"text": ""}, "text"),
        ({"text": 5}, "text"),
        ({"text": ["a"]}, "text"),
        ({"text": "x" * 65537}, "text"),
        ({"isGroup": "true"}, "isGroup"),
        ({"isGroup": 1}, "isGroup"),
    ],
)
async def test_bad_text_fields_are_400_naming_them(gw: Gateway, change: dict[str, Any], field: str) -> None:
    body = {"sessionId": "s1", "to": PEER, "text": "hi", **change}
    body = {key: value for key, value in body.items() if value is not None}
    code, answer = await gw.post("/send/text", body)
    assert (code, answer["error"], answer["field"]) == (400, "invalid_field", field), answer
    assert answer["message"]
    assert gw.sessions.sent == []


async def test_without_a_server_time_the_answer_has_the_current_time(gw: Gateway) -> None:
    async def untimed(session_id: str, to: JID, message: Message, **kwargs: Any) -> SentMessage:
        return SentMessage("3EB0FEED", to, "sent", None)

    gw.sessions.send = untimed  # type: ignore[method-assign]
    code, body = await gw.post("/send/text", {"sessionId": "s1", "to": PEER, "text": "hi"})
    assert code == 200, body
    assert body["messageId"] == "3EB0FEED"
    assert body["timestamp"].endswith("Z")
    assert body["timestamp"] >= "2026-"


async def test_the_longest_text_is_accepted(gw: Gateway) -> None:
    code, _ = await gw.post("/send/text", {"sessionId": "s1", "to": PEER, "text": "x" * 65536})
    assert code == 200
    assert len(gw.sessions.sent[0][2].conversation) == 65536


@pytest.mark.parametrize("path", ["/send/text", "/send/image", "/send/document"])
@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"", b"{bad json", b"null"])
async def test_a_body_that_is_not_a_json_object_is_400(gw: Gateway, path: str, raw: bytes) -> None:
    response = await gw.client.post(
        f"/api/whatsapp{path}", data=raw, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid_json"


async def test_credentials_are_required(gw: Gateway) -> None:
    response = await gw.client.post("/api/whatsapp/send/text", json={"sessionId": "s1", "to": PEER, "text": "x"})
    assert response.status_code == 401
    response = await gw.client.get(f"/api/whatsapp/check?sessionId=s1&to={PEER}")
    assert response.status_code == 401
    assert gw.sessions.sent == []
    assert gw.sessions.checks == []


# ---------------------------------------------------------------- session errors


async def test_unknown_session_is_404(gw: Gateway) -> None:
    code, body = await gw.post("/send/text", {"sessionId": "nobody", "to": PEER, "text": "hi"})
    assert (code, body["error"]) == (404, "session_not_found")
    code, body = await gw.get(f"/check?sessionId=nobody&to={PEER}")
    assert (code, body["error"]) == (404, "session_not_found")


@pytest.mark.parametrize(("status", "error"), [("logged_out", "session_logged_out"), ("qr", "session_not_linked"), ("pairing", "session_not_linked")])
async def test_logged_out_and_unlinked_sessions_are_409_at_once(gw: Gateway, status: str, error: str) -> None:
    gw.sessions.sessions["s1"].status = status
    code, body = await gw.post("/send/text", {"sessionId": "s1", "to": PEER, "text": "hi"})
    assert (code, body["error"]) == (409, error)
    code, body = await gw.post("/send/image", {"sessionId": "s1", "to": PEER, "media": b64(PNG)})
    assert (code, body["error"]) == (409, error)
    code, body = await gw.get(f"/check?sessionId=s1&to={PEER}")
    assert (code, body["error"]) == (409, error)
    assert gw.sessions.send_times == []
    assert gw.sessions.uploads == []
    assert gw.sessions.checks == []
    assert gw.failures.calls == []


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (SessionLoggedOut("s1"), 409, "session_logged_out"),
        (SessionNotLinked("s1"), 409, "session_not_linked"),
        (UnknownSession("s1"), 404, "session_not_found"),
        (NotOnWhatsApp("nobody"), 422, "recipient_not_found"),
    ],
)
async def test_final_errors_from_the_send_are_not_retried(
    gw: Gateway, error: BaseException, status: int, code: str
) -> None:
    gw.sessions.send_failures = [error, error, error]
    answer_code, body = await gw.post("/send/text", {"sessionId": "s1", "to": PEER, "text": "hi"})
    assert (answer_code, body["error"]) == (status, code)
    assert len(gw.sessions.send_times) == 1
    assert gw.failures.calls == []


async def test_a_refused_message_is_502_after_one_attempt(gw: Gateway, clock: FakeClock) -> None:
    gw.sessions.send_failures = [MessageRefused("the server answered error 479")]
    code, body = await gw.post("/send/text", {"sessionId": "s1", "to": PEER, "text": "hi"})
    assert (code, body["error"], body["attempts"]) == (502, "delivery_failed", 1)
    assert "479" in body["message"]
    assert len(gw.sessions.send_times) == 1
    [failure] = gw.failures.calls
    assert failure["kind"] == "send"
    assert failure["attempts"] == 1
    assert failure["error"].startswith("MessageRefused")


# ---------------------------------------------------------------- retries


async def test_an_unavailable_session_is_retried_with_backoff(gw: Gateway, autojump_clock: Any) -> None:
    gw.sessions.send_failures = [SessionUnavailable("connecting"), SessionUnavailable("disconnected")]
    code, body = await gw.post("/send/text", {"sessionId": "s1", "to": PEER, "text": "hi"})
    assert code == 200, body
    first, second, third = gw.sessions.send_times
    assert 1.0 <= second - first < 2.0  # base_delay 1 s + jitter in [0, 1)
    assert 2.0 <= third - second < 3.0
    assert len(gw.sessions.sent) == 1
    assert gw.failures.calls == []


async def test_after_the_attempts_502_and_delivery_failed(gw: Gateway, autojump_clock: Any) -> None:
    gw.sessions.send_failures = [SessionUnavailable("disconnected")] * 5
    code, body = await gw.post("/send/text", {"sessionId": "s1", "to": f"{PEER}", "text": "hi"})
    assert (code, body["error"], body["attempts"]) == (502, "delivery_failed", 3)
    assert body["message"].startswith("the text message could not be delivered after 3 attempts")
    assert len(gw.sessions.send_times) == 3
    assert gw.sessions.sent == []
    [failure] = gw.failures.calls
    assert failure == {
        "kind": "send",
        "sessionId": "s1",
        "to": f"{PEER}@s.whatsapp.net",
        "messageType": "text",
        "attempts": 3,
        "error": "SessionUnavailable: disconnected",
        "timestamp": failure["timestamp"],
    }
    assert failure["timestamp"].endswith("Z")


async def test_a_retry_reuses_the_message_id_of_the_failed_attempt(gw: Gateway, autojump_clock: Any) -> None:
    gw.sessions.send_failures = [
        SessionUnavailable("s1", "the connection dropped during the send", message_id="3EB0AAAA"),
        SessionUnavailable("s1", "disconnected"),
    ]
    code, body = await gw.post("/send/text", {"sessionId": "s1", "to": PEER, "text": "hi"})
    assert code == 200, body
    assert gw.sessions.message_ids == [None, "3EB0AAAA", "3EB0AAAA"]
    assert body["messageId"] == "3EB0AAAA"


async def test_a_timeout_counts_as_retryable(gw: Gateway, autojump_clock: Any) -> None:
    gw.sessions.send_failures = [trio.TooSlowError(), TimeoutError("no ack")]
    code, body = await gw.post("/send/text", {"sessionId": "s1", "to": PEER, "text": "hi"})
    assert code == 200, body
    assert len(gw.sessions.send_times) == 3


async def test_an_attempt_that_hangs_times_out_and_is_retried(gw: Gateway, autojump_clock: Any) -> None:
    real_send = gw.sessions.send
    calls = 0

    async def hang_once(*args: Any, **kwargs: Any) -> SentMessage:
        nonlocal calls
        calls += 1
        if calls == 1:
            await trio.sleep_forever()
        return await real_send(*args, **kwargs)

    gw.sessions.send = hang_once  # type: ignore[method-assign]
    start = trio.current_time()
    code, body = await gw.post("/send/text", {"sessionId": "s1", "to": PEER, "text": "hi"})
    assert code == 200, body
    assert calls == 2
    assert trio.current_time() - start >= rest_messages.ATTEMPT_TIMEOUT


class FiveQuickAttempts:
    @hookimpl
    def send_retry_policy(self, attempt: int) -> float | None:
        return 0.5 if attempt < 5 else math.inf


class NoOpinion:
    def __init__(self) -> None:
        self.asked: list[tuple[str, int, str]] = []

    @hookimpl
    def send_retry_policy(self, session_id: str, attempt: int, error: BaseException) -> float | None:
        self.asked.append((session_id, attempt, type(error).__name__))
        return None


async def test_a_third_party_policy_overrides_the_default(config: Config, clock: FakeClock, autojump_clock: Any) -> None:
    async with open_gateway(config, clock, FiveQuickAttempts()) as gateway:
        gateway.sessions.send_failures = [SessionUnavailable("x")] * 10
        code, body = await gateway.post("/send/text", {"sessionId": "s1", "to": PEER, "text": "hi"})
        assert (code, body["attempts"]) == (502, 5)
        times = gateway.sessions.send_times
        assert [b - a for a, b in itertools.pairwise(times)] == [0.5] * 4


async def test_no_opinion_leaves_it_to_the_default(config: Config, clock: FakeClock, autojump_clock: Any) -> None:
    asker = NoOpinion()
    async with open_gateway(config, clock, asker) as gateway:
        gateway.sessions.send_failures = [SessionUnavailable("x")] * 10
        code, body = await gateway.post("/send/text", {"sessionId": "s1", "to": PEER, "text": "hi"})
        assert (code, body["attempts"]) == (502, 3)
        assert asker.asked == [("s1", 1, "SessionUnavailable"), ("s1", 2, "SessionUnavailable"), ("s1", 3, "SessionUnavailable")]


async def test_configured_attempts_are_used(config: Config, clock: FakeClock, autojump_clock: Any) -> None:
    table = MappingProxyType({"attempts": 5, "base_delay": 0.25})
    configured = dataclasses.replace(config, plugins=PluginsConfig(settings=MappingProxyType({"send_retry": table})))
    async with open_gateway(configured, clock) as gateway:
        gateway.sessions.send_failures = [SessionUnavailable("x")] * 4
        code, body = await gateway.post("/send/text", {"sessionId": "s1", "to": PEER, "text": "hi"})
        assert code == 200, body
        assert len(gateway.sessions.send_times) == 5


# ---------------------------------------------------------------- image


@pytest.mark.parametrize("as_data_url", [False, True])
async def test_send_image(gw: Gateway, as_data_url: bool) -> None:
    media = f"data:image/png;base64,{b64(PNG)}" if as_data_url else b64(PNG)
    code, body = await gw.post("/send/image", {"sessionId": "s1", "to": PEER, "media": media, "text": "a cat"})
    assert code == 200, body
    assert body["status"] == "sent"
    assert gw.sessions.uploads == [("s1", PNG, "image")]
    [(_, to, message, media_type)] = gw.sessions.sent
    assert (to, media_type) == (PEER_JID, "image")
    image = message.image_message
    assert (image.mimetype, image.caption, image.width, image.height) == ("image/png", "a cat", 640, 480)
    assert (image.url, image.direct_path, image.file_length) == ("https://mmg.example/m/1", "/m/1", len(PNG))
    assert image.media_key == b"k" * 32


async def test_send_jpeg_without_caption(gw: Gateway) -> None:
    data = jpeg(800, 600)
    code, body = await gw.post("/send/image", {"sessionId": "s1", "to": PEER, "media": b64(data), "text": None})
    assert code == 200, body
    image = gw.sessions.sent[0][2].image_message
    assert (image.mimetype, image.width, image.height) == ("image/jpeg", 800, 600)
    assert not image.HasField("caption")


async def test_not_an_image_is_400(gw: Gateway) -> None:
    code, body = await gw.post("/send/image", {"sessionId": "s1", "to": PEER, "media": b64(PDF)})
    assert (code, body["error"], body["field"]) == (400, "invalid_media", "media")
    assert gw.sessions.uploads == []


@pytest.mark.parametrize(
    ("change", "field"),
    [({"media": None}, "media"), ({"media": ""}, "media"), ({"media": 12}, "media"), ({"text": 3}, "text"), ({"to": "+1"}, "to")],
)
async def test_bad_image_fields(gw: Gateway, change: dict[str, Any], field: str) -> None:
    body = {"sessionId": "s1", "to": PEER, "media": b64(PNG), **change}
    code, answer = await gw.post("/send/image", {k: v for k, v in body.items() if v is not None})
    assert (code, answer["error"], answer["field"]) == (400, "invalid_field", field)


async def test_an_upload_that_worked_is_not_repeated(gw: Gateway, autojump_clock: Any) -> None:
    gw.sessions.upload_failures = [SessionUnavailable("dropped")]
    gw.sessions.send_failures = [SessionUnavailable("no ack")]
    code, body = await gw.post("/send/image", {"sessionId": "s1", "to": PEER, "media": b64(PNG)})
    assert code == 200, body
    assert len(gw.sessions.uploads) == 1  # failed once, then worked, kept for the second send
    assert len(gw.sessions.send_times) == 2


async def test_a_failed_upload_is_asked_to_the_policy_then_502(gw: Gateway, autojump_clock: Any) -> None:
    gw.sessions.upload_failures = [MediaUploadError("every media host failed", status=500)]
    code, body = await gw.post("/send/image", {"sessionId": "s1", "to": PEER, "media": b64(PNG)})
    assert (code, body["error"], body["attempts"]) == (502, "delivery_failed", 1)  # the built-in: not retryable
    assert gw.sessions.send_times == []
    [failure] = gw.failures.calls
    assert (failure["messageType"], failure["error"]) == ("image", "MediaUploadError: every media host failed")


async def test_media_input_errors_keep_their_status(config: Config, clock: FakeClock) -> None:
    small = dataclasses.replace(config, media=MediaConfig(max_bytes=64))
    async with open_gateway(small, clock) as gateway:
        cases = [
            (b64(PNG + bytes(100)), 413, "media_too_large"),
            ("this is not base64!", 400, "invalid_media"),
            ("http://127.0.0.1:9/cat.png", 400, "media_host_not_allowed"),
        ]
        for media, status, code in cases:
            answer_code, body = await gateway.post("/send/image", {"sessionId": "s1", "to": PEER, "media": media})
            assert (answer_code, body["error"], body["field"]) == (status, code, "media"), media
            if status == 413:
                assert body["maxBytes"] == 64
        assert gateway.sessions.uploads == []


# ---------------------------------------------------------------- document


async def test_send_document(gw: Gateway) -> None:
    body = {"sessionId": "s1", "to": PEER, "media": b64(PDF), "filename": "Invoice 7.pdf", "text": "your invoice"}
    code, answer = await gw.post("/send/document", body)
    assert code == 200, answer
    assert gw.sessions.uploads == [("s1", PDF, "document")]
    [(_, _, message, media_type)] = gw.sessions.sent
    assert media_type == "document"
    document = message.document_message
    assert (document.file_name, document.mimetype, document.caption) == ("Invoice 7.pdf", "application/pdf", "your invoice")
    assert document.file_length == len(PDF)


@pytest.mark.parametrize(
    ("media", "filename", "mimetype", "expected"),
    [
        (b64(b"plain words"), "notes.txt", None, "text/plain"),
        (b64(b"plain words"), "blob", None, "application/octet-stream"),
        (b64(PDF), "notes.txt", None, "application/pdf"),  # recognised from the bytes
        (b64(PDF), "x.pdf", "Application/X-Custom", "application/x-custom"),
        (f"data:text/csv;base64,{b64(b'a,b')}", "data.bin", None, "text/csv"),
    ],
)
async def test_document_mimetype(gw: Gateway, media: str, filename: str, mimetype: str | None, expected: str) -> None:
    body: dict[str, Any] = {"sessionId": "s1", "to": PEER, "media": media, "filename": filename}
    if mimetype is not None:
        body["mimetype"] = mimetype
    code, answer = await gw.post("/send/document", body)
    assert code == 200, answer
    assert gw.sessions.sent[0][2].document_message.mimetype == expected


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"filename": None}, "filename"),
        ({"filename": ""}, "filename"),
        ({"filename": "a/b.pdf"}, "filename"),
        ({"filename": "a\\b.pdf"}, "filename"),
        ({"filename": "a\nb.pdf"}, "filename"),
        ({"filename": "a\u202eb.pdf"}, "filename"),
        ({"filename": ".."}, "filename"),
        ({"filename": "x" * 256}, "filename"),
        ({"filename": 3}, "filename"),
        ({"mimetype": "pdf"}, "mimetype"),
        ({"mimetype": "text/plain; charset=utf-8"}, "mimetype"),
        ({"mimetype": 1}, "mimetype"),
        ({"media": None}, "media"),
        ({"isGroup": "no"}, "isGroup"),
    ],
)
async def test_bad_document_fields(gw: Gateway, change: dict[str, Any], field: str) -> None:
    body = {"sessionId": "s1", "to": PEER, "media": b64(PDF), "filename": "a.pdf", **change}
    code, answer = await gw.post("/send/document", {k: v for k, v in body.items() if v is not None})
    assert (code, answer["error"], answer["field"]) == (400, "invalid_field", field), answer
    assert gw.sessions.uploads == []


async def test_document_delivery_failure_names_the_type(gw: Gateway, autojump_clock: Any) -> None:
    gw.sessions.send_failures = [SessionUnavailable("x")] * 3
    code, body = await gw.post("/send/document", {"sessionId": "s1", "to": PEER, "media": b64(PDF), "filename": "a.pdf"})
    assert (code, body["attempts"]) == (502, 3)
    assert gw.failures.calls[0]["messageType"] == "document"


# ---------------------------------------------------------------- check


async def test_check_a_number_on_whatsapp(gw: Gateway) -> None:
    gw.sessions.check_answer = CheckResult(exists=True, jid=PEER_JID, lid=JID("123456789012345", "lid"))
    code, body = await gw.get(f"/check?sessionId=s1&to={PEER}")
    assert (code, body) == (200, {"exists": True, "jid": f"{PEER}@s.whatsapp.net", "lid": "123456789012345@lid"})
    code, body = await gw.get(f"/check?sessionId=s1&to={PEER}@s.whatsapp.net")
    assert code == 200
    assert gw.sessions.checks == [("s1", PEER), ("s1", PEER)]


async def test_check_a_number_not_on_whatsapp(gw: Gateway) -> None:
    code, body = await gw.get(f"/check?sessionId=s1&to={PEER}")
    assert (code, body) == (200, {"exists": False, "jid": None, "lid": None})


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"to={PEER}", "sessionId"),
        (f"sessionId=-x&to={PEER}", "sessionId"),
        ("sessionId=s1", "to"),
        ("sessionId=s1&to=", "to"),
        ("sessionId=s1&to=%2B15550002222", "to"),
        ("sessionId=s1&to=1555", "to"),
        ("sessionId=s1&to=123456789012345@lid", "to"),
        (f"sessionId=s1&to={PEER}&isGroup=true", "isGroup"),
    ],
)
async def test_bad_check_queries(gw: Gateway, query: str, field: str) -> None:
    code, body = await gw.get(f"/check?{query}")
    assert (code, body["error"], body["field"]) == (400, "invalid_field", field)
    assert gw.sessions.checks == []


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (SessionUnavailable("disconnected"), 503, "session_unavailable"),
        (SessionLoggedOut("s1"), 409, "session_logged_out"),
        (SessionNotLinked("s1"), 409, "session_not_linked"),
        (UnknownSession("s1"), 404, "session_not_found"),
    ],
)
async def test_check_errors(gw: Gateway, error: BaseException, status: int, code: str) -> None:
    gw.sessions.check_answer = error
    answer_code, body = await gw.get(f"/check?sessionId=s1&to={PEER}")
    assert (answer_code, body["error"]) == (status, code)


# ---------------------------------------------------------------- OpenAPI and helpers


async def test_every_route_is_documented(gw: Gateway) -> None:
    spec = await (await gw.client.get("/openapi.json")).get_json()
    for path, method in [("/send/text", "post"), ("/send/image", "post"), ("/send/document", "post"), ("/check", "get")]:
        operation = spec["paths"][f"/api/whatsapp{path}"][method]
        assert operation["tags"] == ["Messaging"]
        assert "No description" not in operation.get("description", "")
        assert "200" in operation["responses"]
    send = spec["paths"]["/api/whatsapp/send/text"]["post"]
    assert send["requestBody"]["content"]["application/json"]["schema"]["required"] == ["sessionId", "to", "text"]
    assert send["responses"]["502"]["content"]["application/json"]["schema"]["properties"]["attempts"]
    check = spec["paths"]["/api/whatsapp/check"]["get"]
    assert [p["name"] for p in check["parameters"]] == ["sessionId", "to"]


def test_is_a_builtin() -> None:
    assert "waporta_plugins.rest_messages" in DEFAULT_PLUGINS


def test_parse_recipient_directly() -> None:
    assert parse_recipient(PEER, is_group=False) == PEER_JID
    assert parse_recipient("12345-67890", is_group=True) == JID("12345-67890", "g.us")
    with pytest.raises(ApiError) as raised:
        parse_recipient("123-456", is_group=True)
    assert (raised.value.status, raised.value.body()["field"]) == (400, "to")


def test_image_info() -> None:
    assert image_info(png(3, 2)) == ("image/png", 3, 2)
    assert image_info(jpeg(10, 20)) == ("image/jpeg", 10, 20)
    assert image_info(b"GIF89a\x05\x00\x07\x00rest") == ("image/gif", 5, 7)
    assert image_info(b"RIFF\0\0\0\0WEBPVP8 ") == ("image/webp", None, None)
    assert image_info(b"\xff\xd8\xff") == ("image/jpeg", None, None)
    assert image_info(b"\x89PNG\r\n\x1a\n") == ("image/png", None, None)
    assert image_info(PDF) is None
    assert image_info(b"") is None


@given(st.binary(max_size=64))
def test_image_info_never_raises(tail: bytes) -> None:
    for head in (b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"\xff\xd8\xff\xe0\x00\x02\xff\xc0"):
        info = image_info(head + tail)
        assert info is None or info[0].startswith("image/")
