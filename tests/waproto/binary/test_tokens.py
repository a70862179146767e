"""The generated token tables: shape, known entries, PROTOCOL.md's checksums, freshness."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.interop.harness import Harness
from waproto.binary import tokens

ROOT = Path(__file__).resolve().parents[3]


def _sha(value: object) -> str:
    # JavaScript's JSON.stringify spelling: no spaces, non-ASCII kept.
    return hashlib.sha256(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def test_shapes_and_known_entries() -> None:
    assert len(tokens.SINGLE_BYTE_TOKENS) == 236
    assert tokens.SINGLE_BYTE_TOKENS[0] == ""
    assert tokens.SINGLE_BYTE_TOKENS[3] == "s.whatsapp.net"
    assert [len(d) for d in tokens.DOUBLE_BYTE_TOKENS] == [256, 256, 256, 256]
    assert tokens.DOUBLE_BYTE_TOKENS[0][0] == "read-self"


def test_no_duplicates() -> None:
    everything = list(tokens.SINGLE_BYTE_TOKENS) + [t for d in tokens.DOUBLE_BYTE_TOKENS for t in d]
    assert len(set(everything)) == len(everything)


def test_checksums_match_protocol_md() -> None:
    single = _sha(list(tokens.SINGLE_BYTE_TOKENS))
    double = _sha([list(d) for d in tokens.DOUBLE_BYTE_TOKENS])
    assert single.startswith("5fd87b09")
    assert single.endswith("46690")
    assert double.startswith("0c785ca4")
    assert double.endswith("12570")


def test_tag_bytes() -> None:
    assert (tokens.LIST_EMPTY, tokens.LIST_8, tokens.LIST_16) == (0, 248, 249)
    assert (tokens.DICTIONARY_0, tokens.DICTIONARY_3) == (236, 239)
    assert (tokens.INTEROP_JID, tokens.FB_JID, tokens.AD_JID, tokens.JID_PAIR) == (245, 246, 247, 250)
    assert (tokens.HEX_8, tokens.BINARY_8, tokens.BINARY_20, tokens.BINARY_32, tokens.NIBBLE_8) == (
        251, 252, 253, 254, 255,
    )  # fmt: skip
    assert tokens.PACKED_MAX == 127


@pytest.mark.interop
def test_generated_file_is_fresh(baileys: Harness) -> None:
    # Needs the installed Baileys (the `baileys` fixture skips, or fails under CI, without it).
    node = shutil.which("node")
    assert node is not None
    result = subprocess.run(
        [node, "scripts/extract_tokens.mjs", "--check"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
