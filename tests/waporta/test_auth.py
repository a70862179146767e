"""Tests for waporta.auth: dashboard password, login tokens, throttling, API keys, secrets at rest."""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import trio

import waporta.auth
from tests.fakes import FakeClock
from waporta.auth import (
    API_KEY_PREFIX,
    VERIFIED_TTL,
    Auth,
    InvalidKeyName,
    IssuedToken,
    LoginFailed,
    LoginThrottled,
    hash_password,
    verify_password,
)
from waporta.config import Config, default_config
from waporta.storage import Database, from_posix

START = 1_800_000_000.0
PASSWORD = "correct horse battery staple"



def make_config(
    *,
    password: str | None = PASSWORD,
    default_key: str | None = None,
    max_failures: int = 3,
    window: float = 60.0,
    ttl: float = 86400.0,
) -> Config:
    base = default_config()
    return replace(
        base,
        dashboard=replace(
            base.dashboard,
            password=password,
            login_max_failures=max_failures,
            login_window=window,
            token_ttl=ttl,
        ),
        api=replace(base.api, default_key=default_key),
    )


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


def data_dir_bytes(db_file: Path) -> bytes:
    """Everything SQLite has on disk for this database: the file, its WAL and its shared memory."""
    return b"".join(p.read_bytes() for p in sorted(db_file.parent.iterdir()) if p.is_file())


# ---------------------------------------------------------------- password hashing


def test_hash_password_round_trip_and_salting() -> None:
    first = hash_password("s3cret")
    second = hash_password("s3cret")
    assert first.startswith("scrypt$n=32768,r=8,p=1$")
    assert first != second  # a fresh salt each time
    assert verify_password("s3cret", first)
    assert verify_password("s3cret", second)
    assert not verify_password("s3cret!", first)
    assert not verify_password("", first)


@pytest.mark.parametrize(
    "encoded",
    ["", "garbage", "scrypt$n=3,r=8,p=1$AAAA$AAAA", "bcrypt$n=1024,r=8,p=1$AAAA$AAAA", "scrypt$x$AAAA$AAAA",
     "scrypt$n=1024,r=8,p=1$AAAA$", "scrypt$n=1024,r=8,p=1$!!$AAAA"],
)
def test_verify_password_refuses_malformed_hashes(encoded: str) -> None:
    assert verify_password("anything", encoded) is False


# ---------------------------------------------------------------- dashboard password


async def test_configured_password_logs_in_and_nothing_is_generated(
    db: Database, db_file: Path, clock: FakeClock
) -> None:
    auth = Auth(db, make_config(), clock=clock)
    assert await auth.ensure_dashboard_password() is None
    assert await db.read(lambda c: c.execute("SELECT count(*) FROM dashboard_credentials").fetchone()[0]) == 0
    issued = await auth.login("admin", PASSWORD, client="1.2.3.4")
    assert await auth.check_token(issued.token)
    with pytest.raises(LoginFailed):
        await auth.login("admin", PASSWORD + "x", client="1.2.3.4")
    with pytest.raises(LoginFailed):
        await auth.login("root", PASSWORD, client="1.2.3.4")


async def test_generated_password_is_returned_once_and_only_its_hash_stored(
    db_file: Path, clock: FakeClock
) -> None:
    config = make_config(password=None)
    db = await Database.open(db_file)
    auth = Auth(db, config, clock=clock)
    generated = await auth.ensure_dashboard_password()
    assert generated is not None
    assert len(generated) >= 20
    assert await auth.ensure_dashboard_password() is None
    stored = await db.read(lambda c: c.execute("SELECT password_hash FROM dashboard_credentials").fetchone()[0])
    assert stored.startswith("scrypt$")
    assert verify_password(generated, stored)
    issued = await auth.login("admin", generated, client="c")
    await db.aclose()

    assert generated.encode() not in data_dir_bytes(db_file)
    # After a restart: not generated again, the same password still works, the token too.
    db = await Database.open(db_file)
    try:
        auth = Auth(db, config, clock=clock)
        assert await auth.ensure_dashboard_password() is None
        assert await auth.check_token(issued.token)
        await auth.login("admin", generated, client="c")
        with pytest.raises(LoginFailed):
            await auth.login("admin", "admin", client="c")
    finally:
        await db.aclose()


async def test_no_password_at_all_lets_nobody_in(db: Database, clock: FakeClock) -> None:
    auth = Auth(db, make_config(password=None), clock=clock)
    for guess in ("", "admin", "password"):
        with pytest.raises(LoginFailed):
            await auth.login("admin", guess, client=guess or "empty")


async def test_an_empty_configured_password_counts_as_not_configured(db: Database, clock: FakeClock) -> None:
    auth = Auth(db, make_config(password=""), clock=clock)
    with pytest.raises(LoginFailed):
        await auth.login("admin", "", client="c")
    generated = await auth.ensure_dashboard_password()
    assert generated
    await auth.login("admin", generated, client="c")


async def test_a_configured_password_wins_over_a_stored_one(db: Database, clock: FakeClock) -> None:
    generated = await Auth(db, make_config(password=None), clock=clock).ensure_dashboard_password()
    assert generated is not None
    auth = Auth(db, make_config(password=PASSWORD), clock=clock)
    await auth.login("admin", PASSWORD, client="c")
    with pytest.raises(LoginFailed):
        await auth.login("admin", generated, client="c")


async def test_odd_unicode_in_credentials_is_a_failed_login_not_a_crash(db: Database, clock: FakeClock) -> None:
    auth = Auth(db, make_config(), clock=clock)
    with pytest.raises(LoginFailed):
        await auth.login("adm\ud800in", "pass\udfffword", client="c")


# ---------------------------------------------------------------- tokens


async def test_token_expires_after_the_configured_ttl(db: Database, clock: FakeClock) -> None:
    auth = Auth(db, make_config(ttl=3600.0), clock=clock)
    issued = await auth.login("admin", PASSWORD, client="c")
    assert isinstance(issued, IssuedToken)
    assert issued.expires_at == from_posix(START + 3600.0)
    assert issued.to_json() == {"token": issued.token, "expiresAt": "2027-01-15T09:00:00.000Z"}
    assert len(issued.token) >= 43
    clock.now = START + 3599.0
    assert await auth.check_token(issued.token)
    clock.now = START + 3600.0
    assert not await auth.check_token(issued.token)


async def test_default_token_ttl_is_24_hours(db: Database, clock: FakeClock) -> None:
    auth = Auth(db, replace(default_config(), dashboard=replace(default_config().dashboard, password="pw")), clock=clock)
    issued = await auth.login("admin", "pw", client="c")
    assert issued.expires_at - from_posix(START) == timedelta(hours=24)


async def test_logout_and_unknown_tokens(db: Database, db_file: Path, clock: FakeClock) -> None:
    auth = Auth(db, make_config(), clock=clock)
    first = await auth.login("admin", PASSWORD, client="c")
    second = await auth.login("admin", PASSWORD, client="c")
    assert first.token != second.token
    await auth.logout(first.token)
    assert not await auth.check_token(first.token)
    assert await auth.check_token(second.token)
    await auth.logout(first.token)  # twice is fine
    await auth.logout("")
    for bogus in ("", "nope", second.token + "x", second.token[:-1], "x" * 10_000):
        assert not await auth.check_token(bogus)
    assert second.token.encode() not in data_dir_bytes(db_file)


async def test_expired_tokens_are_purged_at_the_next_login(db: Database, clock: FakeClock) -> None:
    auth = Auth(db, make_config(ttl=10.0), clock=clock)
    await auth.login("admin", PASSWORD, client="c")
    clock.now += 11.0
    await auth.login("admin", PASSWORD, client="c")
    assert await db.read(lambda c: c.execute("SELECT count(*) FROM dashboard_tokens").fetchone()[0]) == 1


# ---------------------------------------------------------------- throttling


async def test_throttle_after_max_failures_until_the_window_passes(db: Database, clock: FakeClock) -> None:
    auth = Auth(db, make_config(max_failures=3, window=60.0), clock=clock)
    for step in range(3):
        clock.now = START + 10.0 * step
        with pytest.raises(LoginFailed):
            await auth.login("admin", "wrong", client="10.0.0.1")
    clock.now = START + 30.0
    with pytest.raises(LoginThrottled) as caught:
        await auth.login("admin", PASSWORD, client="10.0.0.1")  # even the right password
    assert caught.value.retry_after == pytest.approx(30.0)
    assert "retry after 30 s" in str(caught.value)

    # Another client is not affected.
    await auth.login("admin", PASSWORD, client="10.0.0.2")

    # Sliding window: once the first failure is 60 s old, one more attempt is allowed...
    clock.now = START + 60.5
    with pytest.raises(LoginFailed):
        await auth.login("admin", "wrong", client="10.0.0.1")
    # ...and the next waits for the second failure (at +10 s) to leave the window.
    with pytest.raises(LoginThrottled) as caught:
        await auth.login("admin", PASSWORD, client="10.0.0.1")
    assert caught.value.retry_after == pytest.approx(9.5)

    clock.now = START + 200.0
    issued = await auth.login("admin", PASSWORD, client="10.0.0.1")
    assert await auth.check_token(issued.token)


async def test_a_successful_login_clears_the_failure_count(db: Database, clock: FakeClock) -> None:
    auth = Auth(db, make_config(max_failures=3), clock=clock)
    for _ in range(2):
        with pytest.raises(LoginFailed):
            await auth.login("admin", "wrong", client="c")
    await auth.login("admin", PASSWORD, client="c")
    for _ in range(3):
        with pytest.raises(LoginFailed):
            await auth.login("admin", "wrong", client="c")
    with pytest.raises(LoginThrottled):
        await auth.login("admin", "wrong", client="c")


async def test_concurrent_guesses_are_all_counted(db: Database, clock: FakeClock) -> None:
    auth = Auth(db, make_config(password=None, max_failures=3), clock=clock)
    await auth.ensure_dashboard_password()  # a slow (scrypt) check, so the guesses overlap
    outcomes: list[str] = []

    async def guess(n: int) -> None:
        try:
            await auth.login("admin", f"guess-{n}", client="attacker")
        except LoginFailed:
            outcomes.append("failed")
        except LoginThrottled:
            outcomes.append("throttled")

    async with trio.open_nursery() as nursery:
        for n in range(8):
            nursery.start_soon(guess, n)
    assert sorted(outcomes) == ["failed"] * 3 + ["throttled"] * 5


async def test_at_most_two_password_hashes_run_at_once(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = Auth(db, make_config(password=None), clock=clock)
    await auth.ensure_dashboard_password()
    lock = threading.Lock()
    active = 0
    peak = 0
    real_verify = waporta.auth.verify_password

    def counting_verify(password: str, encoded: str) -> bool:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            return real_verify(password, encoded)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(waporta.auth, "verify_password", counting_verify)

    async def guess(n: int) -> None:
        with pytest.raises(LoginFailed):
            await auth.login("admin", "wrong", client=f"client-{n}")

    async with trio.open_nursery() as nursery:
        for n in range(6):
            nursery.start_soon(guess, n)
    assert 1 <= peak <= 2


async def test_many_clients_do_not_accumulate_forever(db: Database, clock: FakeClock) -> None:
    auth = Auth(db, make_config(max_failures=3, window=60.0), clock=clock)
    for n in range(300):
        with pytest.raises(LoginFailed):
            await auth.login("admin", "wrong", client=f"10.0.{n // 256}.{n % 256}")
    clock.now += 61.0
    with pytest.raises(LoginFailed):
        await auth.login("admin", "wrong", client="fresh")
    assert len(auth._failures) <= 2


# ---------------------------------------------------------------- API keys


async def test_create_list_check_and_revoke_keys(db: Database, clock: FakeClock) -> None:
    auth = Auth(db, make_config(), clock=clock)
    info, raw = await auth.create_key("  ci pipeline  ")
    assert re.fullmatch(r"wap_[A-Za-z0-9_-]{43}", raw)
    assert re.fullmatch(r"[0-9a-f]{16}", info.id)
    assert info.name == "ci pipeline"
    assert info.prefix == raw[:12]
    assert info.prefix.startswith(API_KEY_PREFIX)
    assert info.created_at == from_posix(START)
    assert info.last_used_at is None
    assert info.to_json() == {
        "id": info.id,
        "name": "ci pipeline",
        "prefix": raw[:12],
        "createdAt": "2027-01-15T08:00:00.000Z",
        "lastUsedAt": None,
    }
    assert raw not in str(info.to_json())

    clock.now += 5.0
    other, other_raw = await auth.create_key("other")
    assert other_raw != raw
    assert other.id != info.id

    clock.now += 5.0
    assert await auth.check_api_key(raw)
    listed = await auth.list_keys()
    assert [k.id for k in listed] == [info.id, other.id]
    assert listed[0].last_used_at == from_posix(START + 10.0)
    assert listed[0].to_json()["lastUsedAt"] == "2027-01-15T08:00:10.000Z"
    assert listed[1].last_used_at is None

    for wrong in ("", raw + "x", raw[:-1] + ("A" if raw[-1] != "A" else "B"), raw[4:], "wap_", "wap_short", "x" * 600):
        assert not await auth.check_api_key(wrong)

    assert await auth.revoke_key(info.id)
    assert not await auth.check_api_key(raw)
    assert not await auth.revoke_key(info.id)
    assert not await auth.revoke_key("does-not-exist")
    assert [k.id for k in await auth.list_keys()] == [other.id]
    assert await auth.check_api_key(other_raw)


async def test_keys_survive_a_restart_and_raw_keys_never_reach_the_disk(db_file: Path, clock: FakeClock) -> None:
    config = make_config()
    db = await Database.open(db_file)
    auth = Auth(db, config, clock=clock)
    info, raw = await auth.create_key("kept")
    assert await auth.check_api_key(raw)  # also writes last_used_at
    issued = await auth.login("admin", PASSWORD, client="c")
    on_disk = data_dir_bytes(db_file)  # while open: the WAL holds the recent pages
    await db.aclose()
    on_disk += data_dir_bytes(db_file)  # after close: checkpointed into the main file

    for secret in (raw, raw[len(API_KEY_PREFIX):], issued.token, PASSWORD):
        assert secret.encode() not in on_disk
    assert info.prefix.encode() in on_disk  # the sanity check: the data is really there

    db = await Database.open(db_file)
    try:
        auth = Auth(db, config, clock=clock)
        assert [k.id for k in await auth.list_keys()] == [info.id]
        assert await auth.check_api_key(raw)
    finally:
        await db.aclose()


async def test_default_key_is_accepted_without_being_stored(db: Database, db_file: Path, clock: FakeClock) -> None:
    auth = Auth(db, make_config(default_key="my-default-key"), clock=clock)
    assert await auth.check_api_key("my-default-key")
    assert not await auth.check_api_key("my-default-key ")
    assert not await auth.check_api_key("my-default-ke")
    assert await auth.list_keys() == []
    assert b"my-default-key" not in data_dir_bytes(db_file)


@pytest.mark.parametrize("default_key", [None, ""])
async def test_no_default_key_accepts_nothing(db: Database, clock: FakeClock, default_key: str | None) -> None:
    auth = Auth(db, make_config(default_key=default_key), clock=clock)
    assert not await auth.check_api_key("")
    assert not await auth.check_api_key("anything")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * 101, "at most 100 characters"),
        ("bad\nname", "control characters"),
        ("bell\x07", "control characters"),
    ],
)
async def test_bad_key_names_are_refused(db: Database, clock: FakeClock, name: str, message: str) -> None:
    auth = Auth(db, make_config(), clock=clock)
    with pytest.raises(InvalidKeyName, match=message) as caught:
        await auth.create_key(name)
    assert isinstance(caught.value, ValueError)
    assert caught.value.field == "name"
    assert await auth.list_keys() == []


async def test_a_100_character_unicode_name_is_fine(db: Database, clock: FakeClock) -> None:
    auth = Auth(db, make_config(), clock=clock)
    info, _ = await auth.create_key("ü" * 100)
    assert (await auth.list_keys())[0].name == "ü" * 100
    assert info.name == "ü" * 100


# ---------------------------------------------------------------- verified credentials are remembered briefly


class CountingDatabase:
    """The Database interface Auth uses, counting reads and writes; ``hold`` pauses the next write after it ran."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.reads = 0
        self.writes = 0
        self.hold: trio.Event | None = None
        self.held = trio.Event()

    async def read(self, fn: Any) -> Any:
        self.reads += 1
        return await self.db.read(fn)

    async def write(self, fn: Any) -> Any:
        self.writes += 1
        result = await self.db.write(fn)
        if self.hold is not None:
            hold, self.hold = self.hold, None
            self.held.set()
            await hold.wait()
        return result


def delete_everywhere(db: Database) -> Any:
    """What another process (``waporta keys revoke``, a logout in another hub) does to the database."""

    def delete(conn: Any) -> None:
        conn.execute("DELETE FROM api_keys")
        conn.execute("DELETE FROM dashboard_tokens")

    return db.write(delete)


async def last_used(auth: Auth) -> Any:
    return (await auth.list_keys())[0].last_used_at


async def test_a_verified_key_costs_no_database_call_for_a_second(db: Database, clock: FakeClock) -> None:
    counting = CountingDatabase(db)
    auth = Auth(counting, make_config(), clock=clock)  # type: ignore[arg-type]
    _, raw = await auth.create_key("busy")
    assert await auth.check_api_key(raw)
    calls = counting.reads, counting.writes
    for step in range(10):
        clock.now = START + step * 0.099
        assert await auth.check_api_key(raw)
    assert (counting.reads, counting.writes) == calls
    clock.now = START + VERIFIED_TTL
    assert await auth.check_api_key(raw)
    assert (counting.reads, counting.writes) == (calls[0] + 1, calls[1] + 1)


async def test_last_used_at_is_written_once_per_second_of_use(db: Database, clock: FakeClock) -> None:
    auth = Auth(db, make_config(), clock=clock)
    _, raw = await auth.create_key("busy")
    assert await auth.check_api_key(raw)
    clock.now = START + 0.5
    assert await auth.check_api_key(raw)
    assert await last_used(auth) == from_posix(START)
    clock.now = START + 1.25
    assert await auth.check_api_key(raw)
    assert await last_used(auth) == from_posix(START + 1.25)


async def test_a_key_revoked_elsewhere_is_refused_within_a_second(db: Database, clock: FakeClock) -> None:
    auth = Auth(db, make_config(), clock=clock)
    _, raw = await auth.create_key("doomed")
    assert await auth.check_api_key(raw)
    await delete_everywhere(db)
    clock.now = START + 0.9
    assert await auth.check_api_key(raw)  # remembered
    clock.now = START + VERIFIED_TTL
    assert not await auth.check_api_key(raw)
    clock.now = START + 1.5
    assert not await auth.check_api_key(raw)  # a refusal is not remembered as anything


async def test_a_clock_that_went_back_does_not_extend_the_memory(db: Database, clock: FakeClock) -> None:
    auth = Auth(db, make_config(), clock=clock)
    _, raw = await auth.create_key("k")
    assert await auth.check_api_key(raw)
    await delete_everywhere(db)
    clock.now = START - 5.0
    assert not await auth.check_api_key(raw)


async def test_revocation_here_is_immediate_even_against_a_check_in_flight(db: Database, clock: FakeClock) -> None:
    counting = CountingDatabase(db)
    auth = Auth(counting, make_config(), clock=clock)  # type: ignore[arg-type]
    info, raw = await auth.create_key("raced")
    results: list[bool] = []

    async def check() -> None:
        results.append(await auth.check_api_key(raw))

    release = trio.Event()
    counting.hold = release  # the check's last_used_at write commits, then the check waits
    async with trio.open_nursery() as nursery:
        nursery.start_soon(check)
        await counting.held.wait()
        assert await auth.revoke_key(info.id)
        release.set()
    assert results == [True]  # it was live when the check's write committed
    assert not await auth.check_api_key(raw)  # ...but that answer was not remembered past the revocation


async def test_a_verified_token_is_remembered_for_a_second_but_expiry_is_exact(db: Database, clock: FakeClock) -> None:
    counting = CountingDatabase(db)
    auth = Auth(counting, make_config(ttl=100.0), clock=clock)  # type: ignore[arg-type]
    issued = await auth.login("admin", PASSWORD, client="c")
    clock.now = START + 99.5
    assert await auth.check_token(issued.token)
    reads = counting.reads
    clock.now = START + 99.9
    assert await auth.check_token(issued.token)
    assert counting.reads == reads
    clock.now = START + 100.0
    assert not await auth.check_token(issued.token)  # expired, remembered or not


async def test_a_token_logged_out_elsewhere_is_refused_within_a_second_here_at_once(db: Database, clock: FakeClock) -> None:
    auth = Auth(db, make_config(), clock=clock)
    first = await auth.login("admin", PASSWORD, client="c")
    assert await auth.check_token(first.token)
    await delete_everywhere(db)
    assert await auth.check_token(first.token)  # remembered
    clock.now = START + VERIFIED_TTL
    assert not await auth.check_token(first.token)
    second = await auth.login("admin", PASSWORD, client="c")
    assert await auth.check_token(second.token)
    await auth.logout(second.token)
    assert not await auth.check_token(second.token)


async def test_the_memory_is_bounded(db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waporta.auth, "_CACHE_MAX", 3)
    auth = Auth(db, make_config(), clock=clock)
    raws = [(await auth.create_key(f"k{n}"))[1] for n in range(5)]
    for raw in raws:
        assert await auth.check_api_key(raw)
    assert len(auth._keys) <= 3
