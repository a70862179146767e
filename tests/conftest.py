"""Fixtures shared by the whole suite.

``baileys``: one long-lived Node process running the interop harness (``tests/interop``). When Node
or the harness's packages are missing, tests that use it are skipped with the reason, except under
CI (``CI=true``), where the harness is required and its absence is an error.

``chromium``: the path of Debian's headless Chromium for browser tests (``tests/browser.py``); the
same rule: skipped where it is not installed, required under CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests import browser
from tests.interop.harness import Harness, unavailable_reason


@pytest.fixture(scope="session")
def baileys() -> Iterator[Harness]:
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the interop harness is required in CI: {reason}")
        pytest.skip(reason)
    with Harness() as harness:
        yield harness


@pytest.fixture(scope="session")
def chromium() -> str:
    path = browser.chromium_path()
    if path is None:
        reason = "chromium is not installed (scripts/test installs it under CI)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser tests are required in CI: {reason}")
        pytest.skip(reason)
    return path

# Tests are deterministic: hypothesis draws the same examples every run and keeps no database.
settings.register_profile("waporta", derandomize=True, database=None, deadline=None, print_blob=True)
settings.load_profile("waporta")
