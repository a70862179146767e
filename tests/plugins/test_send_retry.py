"""waporta_plugins.send_retry: the default send-retry policy (backoff with jitter, retryable errors only),
its ``[plugins.send_retry]`` settings, and its place among plugins (built-in, so any later plugin wins)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from tests.fakes import FakeClock
from waporta import hookimpl
from waporta.app import create_app
from waporta.config import Config, PluginsConfig
from waporta.hub import open_hub
from waporta.plugins import DEFAULT_PLUGINS, PluginError, Plugins
from waporta.sessions import SessionUnavailable
from waporta_plugins import send_retry
from waporta_plugins.send_retry import RetrySettings, SendRetryPolicy, is_retryable
from waproto.errors import MessageRefused, NotOnWhatsApp


class FakeHub:
    """Just what the policy reads from a hub: ``plugin_config``."""

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.settings = dict(settings or {})

    def plugin_config(self, name: str) -> Mapping[str, Any]:
        assert name == "send_retry"
        return self.settings


def with_settings(config: Config, table: Mapping[str, Any]) -> Config:
    return dataclasses.replace(
        config, plugins=PluginsConfig(settings=MappingProxyType({"send_retry": MappingProxyType(dict(table))}))
    )


def test_is_registered_as_a_builtin() -> None:
    assert "waporta_plugins.send_retry" in DEFAULT_PLUGINS


@pytest.mark.parametrize(
    "error",
    [SessionUnavailable("disconnected"), TimeoutError(), trio.TooSlowError()],
)
def test_retryable_errors(error: BaseException) -> None:
    assert is_retryable(error)


@pytest.mark.parametrize(
    "error", [MessageRefused("refused"), NotOnWhatsApp("nobody"), ValueError("x"), PermissionError()]
)
def test_other_errors_are_given_up_at_once(error: BaseException) -> None:
    assert not is_retryable(error)
    assert SendRetryPolicy(random=lambda: 0.0).delay(RetrySettings(), 1, error) == math.inf


def test_defaults_are_three_attempts_one_second() -> None:
    assert RetrySettings.from_table({}) == RetrySettings(attempts=3, base_delay=1.0, max_delay=60.0)


def test_backoff_doubles_with_jitter_up_to_the_attempts() -> None:
    settings = RetrySettings()
    assert [settings.delay(n, 0.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, None, None]
    assert settings.delay(1, 0.5) == 1.5
    assert settings.delay(2, 0.999) == pytest.approx(2.999)
    long = RetrySettings(attempts=10, base_delay=2.0, max_delay=10.0)
    assert [long.delay(n, 0.0) for n in range(1, 10)] == [2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0]
    assert long.delay(10, 0.0) is None
    assert RetrySettings(attempts=1).delay(1, 0.0) is None


@given(attempt=st.integers(1, 200), jitter=st.floats(0.0, 0.999999), base=st.floats(0.0, 30.0))
def test_a_wait_is_bounded(attempt: int, jitter: float, base: float) -> None:
    settings = RetrySettings(attempts=100, base_delay=base, max_delay=max(base, 60.0))
    wait = settings.delay(attempt, jitter)
    if attempt >= 100:
        assert wait is None
    else:
        assert wait is not None
        assert 0.0 <= wait <= settings.max_delay + base
        assert wait >= min(settings.max_delay, base)


def test_the_policy_uses_its_random_source_for_jitter() -> None:
    draws = iter([0.25, 0.75])
    policy = SendRetryPolicy(random=lambda: next(draws))
    hub: Any = FakeHub({"attempts": 4, "base_delay": 2})
    error = SessionUnavailable("connecting")
    assert policy.send_retry_policy(hub, "s", 1, error) == 2.5
    assert policy.send_retry_policy(hub, "s", 2, error) == 5.5
    assert policy.send_retry_policy(hub, "s", 4, error) == math.inf


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"attempts": 0}, "attempts"),
        ({"attempts": True}, "attempts"),
        ({"attempts": "3"}, "attempts"),
        ({"attempts": 2.5}, "attempts"),
        ({"attempts": 101}, "attempts"),
        ({"base_delay": -1}, "base_delay"),
        ({"base_delay": "1s"}, "base_delay"),
        ({"base_delay": math.nan}, "base_delay"),
        ({"base_delay": math.inf}, "base_delay"),
        ({"max_delay": False}, "max_delay"),
        ({"base_delay": 5, "max_delay": 2}, "max_delay"),
        ({"atempts": 3}, "atempts"),
    ],
)
def test_bad_settings_name_the_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        RetrySettings.from_table(table)


def test_settings_from_the_table() -> None:
    settings = RetrySettings.from_table({"attempts": 5, "base_delay": 0, "max_delay": 3})
    assert settings == RetrySettings(attempts=5, base_delay=0.0, max_delay=3.0)
    assert RetrySettings.from_table({"base_delay": 100}).max_delay == 100.0  # the cap follows a large base


def builtin_plugins() -> Plugins:
    plugins = Plugins()
    plugins.register(send_retry, "waporta_plugins.send_retry")
    return plugins


def test_through_the_plugin_manager_the_builtin_answers() -> None:
    plugins = builtin_plugins()
    hub: Any = FakeHub()
    first = plugins.send_retry_policy(hub, "s", 1, SessionUnavailable("x"))
    assert first is not None
    assert 1.0 <= first < 2.0
    assert plugins.send_retry_policy(hub, "s", 3, SessionUnavailable("x")) is None  # inf → give up
    assert plugins.send_retry_policy(hub, "s", 1, MessageRefused("no")) is None


class AlwaysQuick:
    """A third-party policy: retry anything at once, five attempts in all."""

    @hookimpl
    def send_retry_policy(self, attempt: int, error: BaseException) -> float | None:
        return 0.0 if attempt < 5 else math.inf


class OnlyRefusals:
    """A third-party policy with an opinion on refusals only; no opinion otherwise."""

    @hookimpl
    def send_retry_policy(self, error: BaseException) -> float | None:
        return 7.0 if isinstance(error, MessageRefused) else None


def test_a_plugin_registered_later_overrides_the_builtin() -> None:
    plugins = builtin_plugins()
    plugins.register(AlwaysQuick(), "quick")
    hub: Any = FakeHub()
    assert plugins.send_retry_policy(hub, "s", 3, SessionUnavailable("x")) == 0.0  # the built-in would give up
    assert plugins.send_retry_policy(hub, "s", 1, MessageRefused("no")) == 0.0
    assert plugins.send_retry_policy(hub, "s", 5, SessionUnavailable("x")) is None


def test_no_opinion_falls_through_to_the_builtin() -> None:
    plugins = builtin_plugins()
    plugins.register(OnlyRefusals(), "refusals")
    hub: Any = FakeHub()
    assert plugins.send_retry_policy(hub, "s", 1, MessageRefused("no")) == 7.0
    wait = plugins.send_retry_policy(hub, "s", 1, SessionUnavailable("x"))
    assert wait is not None
    assert 1.0 <= wait < 2.0


async def test_bad_settings_stop_the_app_from_being_built(config: Config, clock: FakeClock) -> None:
    async with open_hub(with_settings(config, {"attempts": 0}), builtin_plugins(), clock=clock) as hub:
        with pytest.raises(PluginError, match=r"send_retry.*attempts must be an integer"):
            create_app(hub)


async def test_good_settings_reach_the_policy(config: Config, clock: FakeClock) -> None:
    async with open_hub(with_settings(config, {"attempts": 2, "base_delay": 0.5}), builtin_plugins(), clock=clock) as hub:
        create_app(hub)
        wait = hub.plugins.send_retry_policy(hub, "s", 1, SessionUnavailable("x"))
        assert wait is not None
        assert 0.5 <= wait < 1.0
        assert hub.plugins.send_retry_policy(hub, "s", 2, SessionUnavailable("x")) is None
