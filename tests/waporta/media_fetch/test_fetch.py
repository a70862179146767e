"""Tests for waporta.media_fetch.fetch: fetch_media's dispatch and the URL fetch against a local server.

Redirects, size limits, HTTP errors, timeouts, the names and types found for the media, and URLs that
never show their secrets.
"""

from __future__ import annotations

import ipaddress
import logging

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.waporta.media_fetch.helpers import (
    ALLOW_LOCAL,
    FUZZ_CONFIG,
    LOOPBACK,
    PDF,
    PNG,
    Server,
    refused,
    resolver_for,
)
from waporta.config import MediaConfig
from waporta.media_fetch import (
    Address,
    FetchedMedia,
    MediaInputError,
    fetch_media,
    safe_url,
)

# ---------------------------------------------------------------- URL fetches that work


async def test_fetch_ok(server: Server) -> None:
    media = await fetch_media(server.url("/ok"), ALLOW_LOCAL)
    assert media == FetchedMedia(PNG, "image/png", "ok")
    assert server.requests[0].method == "GET"
    assert server.requests[0].headers["accept-encoding"] == "identity"
    assert server.requests[0].headers["host"] == f"127.0.0.1:{server.port}"
    assert "bytes" in repr(media)
    assert str(PNG[:4]) not in repr(media)


async def test_mimetype_parameters_stripped_and_filename_from_content_disposition(server: Server) -> None:
    media = await fetch_media(server.url("/doc?x=1"), ALLOW_LOCAL)
    assert (media.mimetype, media.filename, media.data) == ("application/pdf", "report.pdf", PDF)


async def test_rfc5987_filename_is_preferred(server: Server) -> None:
    media = await fetch_media(server.url("/doc-utf8"), ALLOW_LOCAL)
    assert media.filename == "naïve résumé.pdf"


async def test_filename_never_carries_folders(server: Server) -> None:
    media = await fetch_media(server.url("/traversal"), ALLOW_LOCAL)
    assert media.filename == "passwd"
    assert media.mimetype == "application/pdf"  # no Content-Type: sniffed


async def test_filename_from_url_path_and_sniffed_type(server: Server) -> None:
    media = await fetch_media(server.url("/files/photo.jpg?token=abc"), ALLOW_LOCAL)
    assert (media.mimetype, media.filename) == ("image/jpeg", "photo.jpg")
    generic = await fetch_media(server.url("/octet/x.bin"), ALLOW_LOCAL)
    assert (generic.mimetype, generic.filename) == ("image/jpeg", "x.bin")


async def test_body_delimited_by_connection_close(server: Server) -> None:
    media = await fetch_media(server.url("/eof"), ALLOW_LOCAL)
    assert media.data == PNG


async def test_exactly_max_bytes_is_accepted(server: Server) -> None:
    media = await fetch_media(server.url("/exactly"), ALLOW_LOCAL)
    assert len(media.data) == 1000


async def test_redirect_chain_within_the_limit(server: Server) -> None:
    media = await fetch_media(server.url("/r/5"), ALLOW_LOCAL)
    assert media.data == PNG
    assert [r.path for r in server.requests] == ["/r/5", "/r/4", "/r/3", "/r/2", "/r/1", "/r/0"]


# ---------------------------------------------------------------- size limits


async def test_content_length_too_big_is_refused_before_reading(server: Server) -> None:
    with trio.fail_after(2):  # the route stalls after the headers; only the header check is fast
        error = await refused(server.url("/big-declared"))
    assert (error.status, error.code) == (413, "media_too_large")
    assert error.as_json() == {
        "error": "media_too_large",
        "message": error.message,
        "field": "media",
        "maxBytes": 1000,
    }
    assert "2000 bytes" in error.message


async def test_streamed_body_too_big_stops_at_the_limit(server: Server) -> None:
    with trio.fail_after(5):  # the route streams forever: only the running count can stop it
        error = await refused(server.url("/big-stream"))
    assert (error.status, error.code) == (413, "media_too_large")


async def test_compressed_answer_is_refused(server: Server) -> None:
    error = await refused(server.url("/gzip"))
    assert (error.status, error.code) == (422, "media_unreachable")
    assert "gzip" in error.message


async def test_empty_body_is_invalid(server: Server) -> None:
    error = await refused(server.url("/empty"))
    assert (error.status, error.code) == (400, "invalid_media")
    empty = await refused(server.url("/204"))
    assert empty.code == "invalid_media"


# ---------------------------------------------------------------- redirects


async def test_too_many_redirects(server: Server) -> None:
    error = await refused(server.url("/r/6"))
    assert (error.status, error.code) == (422, "media_unreachable")
    assert "redirected more than 5 times" in error.message
    assert len(server.requests) == 6


async def test_no_redirects_allowed(server: Server) -> None:
    config = MediaConfig(max_bytes=1000, fetch_timeout=5.0, max_redirects=0, allow_networks=LOOPBACK)
    assert (await fetch_media(server.url("/ok"), config)).data == PNG
    error = await refused(server.url("/r/1"), config)
    assert error.code == "media_unreachable"


@pytest.mark.parametrize(("path", "scheme"), [("/to-file", "file"), ("/to-ftp", "ftp")])
async def test_redirect_to_another_scheme(server: Server, path: str, scheme: str) -> None:
    error = await refused(server.url(path))
    assert (error.status, error.code) == (422, "media_unreachable")
    assert f"redirected to a {scheme}: URL" in error.message


async def test_redirect_without_location(server: Server) -> None:
    error = await refused(server.url("/no-location"))
    assert error.code == "media_unreachable"
    assert "without a Location" in error.message


# ---------------------------------------------------------------- HTTP errors and timeouts


@pytest.mark.parametrize("path", ["/missing", "/500", "/304"])
async def test_http_errors_are_unreachable(server: Server, path: str) -> None:
    error = await refused(server.url(path))
    assert (error.status, error.code) == (422, "media_unreachable")


async def test_connection_refused_is_unreachable() -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = await refused(f"http://127.0.0.1:{port}/x")
    assert error.code == "media_unreachable"
    assert "could not connect" in error.message


@pytest.mark.parametrize("path", ["/stall", "/drip"])
async def test_timeouts(server: Server, path: str) -> None:
    config = MediaConfig(max_bytes=1000, fetch_timeout=0.3, allow_networks=LOOPBACK)
    with trio.fail_after(3):
        error = await refused(server.url(path), config)
    assert (error.status, error.code) == (422, "media_unreachable")
    assert "took longer than 0.3 s" in error.message or "timed out" in error.message


async def test_a_stalled_lookup_is_bounded_by_the_deadline() -> None:
    async def stalled(host: str, port: int) -> list[Address]:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    config = MediaConfig(max_bytes=1000, fetch_timeout=0.2)
    with trio.fail_after(3):
        error = await refused("http://slow-dns.invalid/x", config, resolver=stalled)
    assert error.code == "media_unreachable"
    assert "took longer than 0.2 s" in error.message


async def test_errors_and_logs_never_show_query_or_userinfo(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="waporta.media_fetch")
    url = f"http://user:pw-SECRET1@127.0.0.1:{server.port}/missing?token=SECRET2#frag-SECRET3"
    error = await refused(url)
    assert error.message == f"media: http://127.0.0.1:{server.port}/missing answered HTTP 404"
    unresolvable = await refused("http://a.invalid/p?token=SECRET4", resolver=resolver_for({}))
    for text in (error.message, str(error.as_json()), unresolvable.message, caplog.text):
        for secret in ("SECRET1", "SECRET2", "SECRET3", "SECRET4", "pw-"):
            assert secret not in text
    assert "127.0.0.1" in caplog.text


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("", "is empty"),
        ("   \n ", "is empty"),
        ("====", "is empty"),
        ("==", "is empty"),
        ("abcde", "wrong length or padding"),
        ("ab=c", "unexpected characters"),
        ("abc===", "wrong length or padding"),
        ("ab=", "wrong length or padding"),
        ("héllo", "unexpected characters"),
        ("not base64!", "unexpected characters"),
        ("file:///etc/passwd", "file: URLs are not accepted"),
        ("ftp://example.com/a.png", "ftp: URLs are not accepted"),
        ("javascript:alert(1)", "javascript: URLs are not accepted"),
        ("http://", "not a valid http(s) URL"),
        ("https:///path-only", "not a valid http(s) URL"),
        ("http://[::1/x", "not a valid http(s) URL"),
        ("http://exa\x00mple.com/x", "not a valid http(s) URL"),
    ],
)
async def test_invalid_media(spec: str, fragment: str) -> None:
    error = await refused(spec, MediaConfig(), field="document")
    assert (error.status, error.code, error.field) == (400, "invalid_media", "document")
    assert error.message.startswith("document: ")
    assert fragment in error.message


async def test_not_a_string_is_invalid() -> None:
    error = await refused(b"aGVsbG8=")  # type: ignore[arg-type]
    assert error.code == "invalid_media"


def test_safe_url() -> None:
    assert safe_url("https://u:p@Example.COM:8443/a/b%20c?q=1#f") == "https://example.com:8443/a/b c"
    assert safe_url("http://[::1]/x?y") == "http://[::1]/x"
    assert safe_url("http://[::1") == "<unparseable URL>"


# ---------------------------------------------------------------- arbitrary input


async def _never_connect(host: str, port: int) -> list[Address]:
    return [ipaddress.ip_address("127.0.0.1")]  # refused: nothing in these tests may leave the machine



@settings(max_examples=300)
@given(
    prefix=st.sampled_from(
        ["", "http://", "https://", "data:", "data:;base64,", "data:;base64,%", "data:text/plain,", "HTTP://x", "a:"]
    ),
    rest=st.text(max_size=80),
)
async def test_arbitrary_strings_give_media_or_media_input_error(prefix: str, rest: str) -> None:
    spec = prefix + rest
    outcome: FetchedMedia | MediaInputError
    try:
        outcome = await fetch_media(spec, FUZZ_CONFIG, resolver=_never_connect)
    except MediaInputError as error:
        outcome = error
    if isinstance(outcome, MediaInputError):
        assert outcome.status in (400, 413, 422)
        assert outcome.code in ("invalid_media", "media_host_not_allowed", "media_too_large", "media_unreachable")
    else:
        assert outcome.data
        assert "/" in outcome.mimetype
