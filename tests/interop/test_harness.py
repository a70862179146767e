"""The harness bridge itself: versions are the pinned ones, bytes survive both ways."""

from __future__ import annotations

import pytest

from tests.interop.harness import Harness, HarnessError


def test_pinned_versions(baileys: Harness) -> None:
    versions = baileys.call("harness.versions")
    assert versions["baileys6"] == "6.7.24"
    assert versions["baileys7"] == "7.0.0-rc14"
    assert versions["libsignal"] == "6.0.0"


def test_bytes_round_trip(baileys: Harness) -> None:
    payload = {"a": bytes(range(256)), "nested": [b"", {"x": b"\x00\xff"}], "n": 3, "s": "é"}
    assert baileys.call("harness.echo", **payload) == payload


def test_unknown_op_is_an_error(baileys: Harness) -> None:
    with pytest.raises(HarnessError, match="unknown op"):
        baileys.call("no.such.op")
