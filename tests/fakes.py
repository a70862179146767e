"""Fakes shared across the suite (fakes over mocks: small real objects with test-controlled state)."""

from __future__ import annotations

#: A fixed instant (POSIX seconds, in 2026) that fake clocks start at.
START = 1_780_000_000.0


class FakeClock:
    """A ``clock()`` callable returning POSIX seconds that move only when a test sets ``now``."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
