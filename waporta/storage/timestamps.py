"""UTC timestamps as the hub stores and shows them: ISO-8601 with milliseconds and a ``Z``.

``2026-01-02T03:04:05.678Z`` is the shape JavaScript's ``Date.toISOString()`` gives, which is what the
original gateway's API returned; the fixed width also makes stored values sort as text. This module is
NOT a clock: callers pass the POSIX seconds they got from their (injected) clock.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

__all__ = ["format_iso", "from_posix", "parse_iso"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_posix(seconds: float) -> datetime:
    """An aware UTC datetime for POSIX ``seconds``, truncated to whole milliseconds."""
    return _EPOCH + timedelta(milliseconds=math.floor(seconds * 1000))


def format_iso(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` for an aware datetime (converted to UTC first)."""
    if moment.tzinfo is None:
        raise ValueError("format_iso needs an aware datetime")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """The inverse of :func:`format_iso` (also accepts any ISO-8601 string with an offset)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text!r}")
    return moment.astimezone(UTC)
