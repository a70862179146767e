"""Tests for waporta.webhooks: session ids, URL rules and normalisation, the per-session registry."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from tests.fakes import FakeClock
from waporta.storage import Database, from_posix
from waporta.webhooks import (
    MAX_URL_CHARS,
    SESSION_ID_RE,
    URL_RULES,
    DuplicateWebhookUrl,
    InvalidSessionId,
    InvalidWebhookUrl,
    Webhook,
    WebhookRegistry,
    normalize_url,
    validate_session_id,
    validate_url,
)

START = 1_800_000_000.0



@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "waporta.db"


@pytest.fixture
async def db(db_file: Path) -> AsyncIterator[Database]:
    database = await Database.open(db_file)
    try:
        yield database
    finally:
        await database.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def registry(db: Database, clock: FakeClock) -> WebhookRegistry:
    return WebhookRegistry(db, clock=clock)


# ---------------------------------------------------------------- session ids


@pytest.mark.parametrize("session_id", ["a", "A", "0", "my-session", "my_session_2", "x" * 64, "S-1_b"])
def test_valid_session_ids(session_id: str) -> None:
    assert validate_session_id(session_id) == session_id
    assert SESSION_ID_RE.match(session_id)


@pytest.mark.parametrize(
    "session_id",
    ["", "-a", "_a", "x" * 65, "a b", "a/b", "a.b", "a\n", "ä", "a\x00", "../x", "a%2F", "١"],
)
def test_invalid_session_ids(session_id: str) -> None:
    with pytest.raises(InvalidSessionId) as caught:
        validate_session_id(session_id)
    assert isinstance(caught.value, ValueError)
    assert caught.value.field == "sessionId"
    assert SESSION_ID_RE.pattern.replace(r"\A", "^").replace(r"\Z", "$") in str(caught.value)


def test_session_id_pattern_is_documented() -> None:
    import waporta.webhooks as module

    assert module.__doc__ is not None
    assert "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$" in module.__doc__


# ---------------------------------------------------------------- URL rules


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("", "url_required"),
        ("   ", "url_required"),
        ("https://example.com/" + "a" * (MAX_URL_CHARS - 19), "too_long"),
        ("https://exa mple.com/", "invalid_characters"),
        ("https://example.com/a b", "invalid_characters"),
        ("https://example.com/\x00", "invalid_characters"),
        ("https://example.com\\@evil.com/", "invalid_characters"),
        ("/hooks/incoming", "absolute_url_required"),
        ("hooks/incoming", "absolute_url_required"),
        ("example.com/hook", "absolute_url_required"),
        ("localhost:3000/hook", "absolute_url_required"),
        ("//example.com/hook", "absolute_url_required"),
        ("https:/example.com", "absolute_url_required"),
        ("https:///path", "absolute_url_required"),
        ("http://example.com/hook", "https_required"),
        ("HTTP://example.com/hook", "https_required"),
        ("ftp://example.com/hook", "https_required"),
        ("wss://example.com/hook", "https_required"),
        ("https://example.com/hook#section", "fragment_not_allowed"),
        ("https://example.com/#", "fragment_not_allowed"),
        ("https://user:secret@example.com/hook", "credentials_not_allowed"),
        ("https://token@example.com/hook", "credentials_not_allowed"),
        ("https://example.com:0/", "invalid_port"),
        ("https://example.com:65536/", "invalid_port"),
        ("https://example.com:https/", "invalid_port"),
        ("https://example.com:٤٤٣/", "invalid_port"),
        ("https://:443/", "invalid_host"),
        ("https://a..b/", "invalid_host"),
        ("https://exa<mple.com/", "invalid_host"),
        ("https://exa%6dple.com/", "invalid_host"),
        ("https://[::1/", "invalid_host"),
        ("https://[::zz]/", "invalid_host"),
        ("https://[1.2.3.4]/", "invalid_host"),
        ("https://[fe80::1%25eth0]/", "invalid_host"),
        ("https://[::1]junk/", "invalid_host"),
        ("https://2001:db8::1/", "invalid_host"),
        ("https://\u00ad/", "invalid_host"),
        ("https://" + "a" * 64 + ".com/", "invalid_host"),
    ],
)
def test_url_rules(url: str, rule: str) -> None:
    assert rule in URL_RULES
    with pytest.raises(InvalidWebhookUrl) as caught:
        normalize_url(url)
    assert caught.value.rule == rule
    assert caught.value.field == "url"
    assert isinstance(caught.value, ValueError)


def test_the_issue_examples_break_distinct_rules() -> None:
    examples = {
        "http://example.com/hook": "https_required",
        "https://example.com/hook#frag": "fragment_not_allowed",
        "https://example.com/" + "a" * (MAX_URL_CHARS + 1 - len("https://example.com/")): "too_long",
        "/relative/hook": "absolute_url_required",
    }
    assert len(next(u for u, r in examples.items() if r == "too_long")) == 2049
    rules = set()
    for url, rule in examples.items():
        with pytest.raises(InvalidWebhookUrl) as caught:
            validate_url(url)
        assert caught.value.rule == rule
        rules.add(caught.value.rule)
    assert len(rules) == 4


def test_2048_characters_is_allowed() -> None:
    url = "https://example.com/" + "a" * (MAX_URL_CHARS - len("https://example.com/"))
    assert len(url) == MAX_URL_CHARS
    assert normalize_url(url) == url


def test_normalisation_that_would_exceed_the_limit_is_too_long() -> None:
    url = "https://example.com?" + "q" * (MAX_URL_CHARS - len("https://example.com?"))
    assert len(url) == MAX_URL_CHARS
    with pytest.raises(InvalidWebhookUrl) as caught:
        normalize_url(url)  # the added "/" would make it 2049
    assert caught.value.rule == "too_long"


def test_messages_never_echo_the_url() -> None:
    with pytest.raises(InvalidWebhookUrl) as caught:
        normalize_url("https://alice:hunter2@example.com/")
    assert "hunter2" not in str(caught.value)
    assert "url" in str(caught.value)


@pytest.mark.parametrize("value", [None, 42, b"https://example.com/", ["https://example.com/"]])
def test_non_string_urls(value: object) -> None:
    with pytest.raises(InvalidWebhookUrl) as caught:
        normalize_url(value)  # type: ignore[arg-type]
    assert caught.value.rule == "url_required"


# ---------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("HTTPS://Example.com:443", "https://example.com/"),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com", "https://example.com/"),
        ("https://EXAMPLE.com:0443/x", "https://example.com/x"),
        ("https://example.com:8443", "https://example.com:8443/"),
        ("https://example.com:08443/", "https://example.com:8443/"),
        ("https://example.com:/", "https://example.com/"),
        ("https://example.com/Path/Case?Q=Keep&b=2", "https://example.com/Path/Case?Q=Keep&b=2"),
        ("https://example.com?x=1", "https://example.com/?x=1"),
        ("https://example.com/?", "https://example.com/"),
        ("https://example.com/a/../b/%7e", "https://example.com/a/../b/%7e"),
        ("  https://example.com/hook \n", "https://example.com/hook"),
        ("https://[2001:DB8:0:0::1]:443/x", "https://[2001:db8::1]/x"),
        ("https://[::1]:8443/", "https://[::1]:8443/"),
        ("https://127.0.0.1/", "https://127.0.0.1/"),
        ("https://Bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://BÜCHER.example/", "https://xn--bcher-kva.example/"),
        ("https://XN--BCHER-KVA.example/", "https://xn--bcher-kva.example/"),
        ("https://例え.テスト/パス", "https://xn--r8jz45g.xn--zckzah/パス"),
        ("https://my_host.example/", "https://my_host.example/"),
        ("https://example.com./", "https://example.com./"),
    ],
)
def test_normalize_url(url: str, normalized: str) -> None:
    assert normalize_url(url) == normalized
    assert normalize_url(normalized) == normalized


def test_validate_url_keeps_the_given_url() -> None:
    assert validate_url(" HTTPS://Example.com:443 ") == ("HTTPS://Example.com:443", "https://example.com/")


_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=12)
_PATH = st.text(alphabet="abcXYZ019-._~%!$&'()*+,;=:@/", max_size=40)
_QUERY = st.text(alphabet="abcXYZ019-._~%!$&'()*+,;=:@/?", max_size=40)


@st.composite
def https_urls(draw: st.DrawFn) -> tuple[str, str, int | None, str, str]:
    host = ".".join(draw(st.lists(_LABEL, min_size=1, max_size=4)))
    port = draw(st.one_of(st.none(), st.just(443), st.integers(min_value=1, max_value=65535)))
    path = draw(st.one_of(st.just(""), _PATH.map(lambda p: "/" + p)))
    query = draw(_QUERY)
    scheme = draw(st.sampled_from(["https", "HTTPS", "Https", "hTTpS"]))
    url = f"{scheme}://{host}" + ("" if port is None else f":{port}") + path + (f"?{query}" if query else "")
    return url, host, port, path, query


@given(https_urls())
def test_normalize_url_is_idempotent_and_canonical(parts: tuple[str, str, int | None, str, str]) -> None:
    url, host, port, path, query = parts
    normalized = normalize_url(url)
    assert normalize_url(normalized) == normalized
    assert normalized.startswith("https://" + host.lower())
    # Case of scheme and host, and the default port, never matter.
    canonical = f"https://{host.lower()}" + ("" if port in (None, 443) else f":{port}") + (path or "/")
    assert normalized == canonical + (f"?{query}" if query else "")
    assert normalize_url(f"https://{host.upper()}:443{path}" + (f"?{query}" if query else "")) == (
        normalize_url(f"https://{host.lower()}{path}" + (f"?{query}" if query else ""))
    )


def outcome(url: str) -> tuple[str | None, str | None]:
    """(normalised url, None) or (None, the broken rule): nothing else may come out of normalize_url."""
    try:
        return normalize_url(url), None
    except InvalidWebhookUrl as exc:
        return None, exc.rule


@given(st.text(max_size=80))
def test_normalize_url_on_any_text_is_a_url_or_a_named_rule(text: str) -> None:
    for candidate in (text, "https://" + text):
        normalized, rule = outcome(candidate)
        if normalized is None:
            assert rule in URL_RULES
        else:
            assert normalized.startswith("https://")
            assert len(normalized) <= MAX_URL_CHARS
            assert "#" not in normalized
            assert normalize_url(normalized) == normalized


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Zs"]), min_size=1, max_size=20))
def test_unicode_hosts_normalize_to_ascii_or_are_refused(label: str) -> None:
    normalized, rule = outcome(f"https://{label}.example/")
    if normalized is None:
        assert rule in URL_RULES
    else:
        authority = normalized[len("https://") :].split("/", 1)[0]
        assert authority.isascii()
        assert normalize_url(normalized) == normalized


# ---------------------------------------------------------------- registry


async def test_create_returns_the_record(registry: WebhookRegistry) -> None:
    hook = await registry.create("main", "HTTPS://Example.com:443")
    assert isinstance(hook, Webhook)
    assert re.fullmatch(r"[0-9a-f]{16}", hook.id)
    assert hook.to_json() == {
        "id": hook.id,
        "sessionId": "main",
        "url": "HTTPS://Example.com:443",
        "normalizedUrl": "https://example.com/",
        "enabled": True,
        "createdAt": "2027-01-15T08:00:00.000Z",
        "updatedAt": "2027-01-15T08:00:00.000Z",
    }
    assert hook.created_at == hook.updated_at == from_posix(START)


async def test_duplicate_normalized_url_in_one_session(registry: WebhookRegistry) -> None:
    first = await registry.create("main", "https://example.com/")
    with pytest.raises(DuplicateWebhookUrl) as caught:
        await registry.create("main", "HTTPS://Example.com:443")
    assert caught.value.existing_id == first.id
    assert first.id in str(caught.value)
    assert [h.id for h in await registry.list("main")] == [first.id]
    # Another session may register the same URL.
    other = await registry.create("other", "HTTPS://Example.com:443")
    assert other.id != first.id


async def test_concurrent_duplicate_creates_keep_one(registry: WebhookRegistry) -> None:
    outcomes: list[str] = []

    async def create() -> None:
        try:
            await registry.create("main", "https://example.com/hook")
            outcomes.append("created")
        except DuplicateWebhookUrl:
            outcomes.append("duplicate")

    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(create)
    assert sorted(outcomes) == ["created"] + ["duplicate"] * 9
    assert len(await registry.list("main")) == 1


async def test_list_is_scoped_and_ordered(registry: WebhookRegistry, clock: FakeClock) -> None:
    a1 = await registry.create("a", "https://one.example/")
    clock.now += 1
    b1 = await registry.create("b", "https://two.example/")
    clock.now += 1
    a2 = await registry.create("a", "https://two.example/")
    assert [h.id for h in await registry.list("a")] == [a1.id, a2.id]
    assert [h.id for h in await registry.list("b")] == [b1.id]
    assert await registry.list("c") == []
    assert all(h.session_id == "a" for h in await registry.list("a"))


async def test_delete_is_scoped_to_the_session(registry: WebhookRegistry) -> None:
    hook = await registry.create("a", "https://one.example/")
    assert not await registry.delete("b", hook.id)  # another session cannot delete it
    assert [h.id for h in await registry.list("a")] == [hook.id]
    assert not await registry.delete("a", "0123456789abcdef")
    assert not await registry.delete("a", "not-an-id")
    assert not await registry.delete("a", hook.id.upper())
    assert await registry.delete("a", hook.id)
    assert not await registry.delete("a", hook.id)
    assert await registry.list("a") == []
    # After deleting, the same URL can be registered again.
    again = await registry.create("a", "https://one.example")
    assert again.id != hook.id


async def test_registry_validates_its_inputs(registry: WebhookRegistry) -> None:
    with pytest.raises(InvalidSessionId):
        await registry.create("../etc", "https://example.com/")
    with pytest.raises(InvalidSessionId):
        await registry.list("")
    with pytest.raises(InvalidSessionId):
        await registry.delete("bad id", "0123456789abcdef")
    with pytest.raises(InvalidWebhookUrl) as caught:
        await registry.create("main", "http://example.com/")
    assert caught.value.rule == "https_required"
    assert await registry.list("main") == []


async def test_webhooks_survive_a_restart(db_file: Path, clock: FakeClock) -> None:
    db = await Database.open(db_file)
    registry = WebhookRegistry(db, clock=clock)
    hook = await registry.create("main", "https://Example.com:8443/hook?x=1")
    await db.aclose()
    db = await Database.open(db_file)
    try:
        registry = WebhookRegistry(db, clock=clock)
        assert await registry.list("main") == [hook]
        with pytest.raises(DuplicateWebhookUrl) as caught:
            await registry.create("main", "https://example.com:8443/hook?x=1")
        assert caught.value.existing_id == hook.id
    finally:
        await db.aclose()
