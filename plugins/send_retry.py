"""Built-in plugin: the default ``send_retry_policy`` — exponential backoff with jitter for retryable sends.

A send is retried only when its error is retryable: :class:`waporta.sessions.SessionUnavailable` (the
session is connecting or disconnected, the connection dropped mid-send, or the server did not ack in
time) or a timeout (``TimeoutError``, ``trio.TooSlowError``). Anything else (a refused message, a
protocol error) is given up at once. After the ``n``-th failed attempt the wait is
``min(max_delay, base_delay * 2 ** (n - 1)) + U(0, base_delay)``; after ``attempts`` attempts in all the
send is given up (the REST API then answers ``502 delivery_failed``).

Settings, ``[plugins.send_retry]`` in ``waporta.toml`` (checked when the app is built: a bad value stops
start-up with one line naming it)::

    [plugins.send_retry]
    attempts = 3        # attempts in all, the first included (>= 1)
    base_delay = 1.0    # seconds (>= 0)
    max_delay = 60.0    # seconds, cap of the exponential part (>= base_delay)

This is a built-in, so it is registered first and asked last: any other plugin implementing
``send_retry_policy`` answers before it, and its answer (other than None) wins. To replace the policy
entirely, disable this one (``[plugins] disabled = ["waporta_plugins.send_retry"]``).

This module does NOT send or retry anything itself (the REST plugin ``waporta_plugins.rest_messages``
runs the attempts and sleeps); it only answers "how long to wait".
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import trio

from waporta import hookimpl
from waporta.sessions import SessionUnavailable

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from waporta.hub import Hub

__all__ = [
    "SETTINGS_NAME",
    "RetrySettings",
    "SendRetryPolicy",
    "is_retryable",
    "register_routes",
    "send_retry_policy",
]

#: The ``[plugins.<name>]`` table this plugin reads.
SETTINGS_NAME: Final = "send_retry"

#: Errors worth another attempt.
RETRYABLE: Final[tuple[type[BaseException], ...]] = (SessionUnavailable, TimeoutError, trio.TooSlowError)


def is_retryable(error: BaseException) -> bool:
    """True for errors that another attempt may cure (an unavailable session, a timeout)."""
    return isinstance(error, RETRYABLE)


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """The policy's settings (``[plugins.send_retry]``)."""

    #: Attempts in all, the first one included.
    attempts: int = 3
    #: Seconds: the first wait, the doubling unit and the jitter's range.
    base_delay: float = 1.0
    #: Seconds: the cap of the exponential part of a wait.
    max_delay: float = 60.0

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> RetrySettings:
        """Read a ``[plugins.send_retry]`` table; ValueError (one line naming the key) when it is wrong."""
        known = {"attempts", "base_delay", "max_delay"}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(f"[plugins.{SETTINGS_NAME}] has unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}")
        defaults = cls()
        attempts = table.get("attempts", defaults.attempts)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 100:
            raise ValueError(f"[plugins.{SETTINGS_NAME}] attempts must be an integer from 1 to 100, got {attempts!r}")
        base_delay = _seconds(table, "base_delay", defaults.base_delay)
        max_delay = _seconds(table, "max_delay", max(defaults.max_delay, base_delay))
        if max_delay < base_delay:
            raise ValueError(
                f"[plugins.{SETTINGS_NAME}] max_delay ({max_delay:g}) must not be less than base_delay ({base_delay:g})"
            )
        return cls(attempts=attempts, base_delay=base_delay, max_delay=max_delay)

    def delay(self, attempt: int, jitter: float) -> float | None:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), or None when it was the last.

        ``jitter`` is a number in [0, 1) (a uniform draw).
        """
        if attempt >= self.attempts:
            return None
        exponential = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 64))
        return exponential + jitter * self.base_delay


def _seconds(table: Mapping[str, Any], key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or not 0 <= value <= 3600:
        raise ValueError(f"[plugins.{SETTINGS_NAME}] {key} must be a number of seconds from 0 to 3600, got {value!r}")
    return float(value)


class SendRetryPolicy:
    """The policy as a plugin object, with its random source injected (the module registers one instance)."""

    def __init__(self, *, random: Callable[[], float] = random.random) -> None:
        self._random = random

    def delay(self, settings: RetrySettings, attempt: int, error: BaseException) -> float:
        """Seconds to wait before the next attempt; ``math.inf`` to give up."""
        if not is_retryable(error) or attempt >= settings.attempts:
            return math.inf
        wait = settings.delay(attempt, self._random())
        return math.inf if wait is None else wait

    @hookimpl
    def send_retry_policy(self, hub: Hub, session_id: str, attempt: int, error: BaseException) -> float | None:
        """The default answer: backoff with jitter for retryable errors, ``math.inf`` (give up) otherwise."""
        return self.delay(RetrySettings.from_table(hub.plugin_config(SETTINGS_NAME)), attempt, error)


_POLICY: Final = SendRetryPolicy()


@hookimpl
def send_retry_policy(hub: Hub, session_id: str, attempt: int, error: BaseException) -> float | None:
    """The built-in policy (see the module docstring)."""
    return _POLICY.send_retry_policy(hub, session_id, attempt, error)


@hookimpl
def register_routes(hub: Hub, app: QuartTrio) -> None:
    """Adds no route: checks ``[plugins.send_retry]`` while the app is built, so a bad value stops start-up."""
    RetrySettings.from_table(hub.plugin_config(SETTINGS_NAME))
