"""Hypothesis strategies for node trees that exercise every encoding.

Three families, because the encoders do not all agree (see ``nodejson`` and ``encode.py``):

- ``trees(agreeing=True)``: trees on which our encoder and Baileys 6's follow the same rules, so their
  bytes must be identical: strings with ``@`` only in the JID forms both round-trip, JID values only in
  the forms Baileys 6 writes the same way from their string, no attribute key JavaScript reorders
  (integer-like keys come first in a JS object) and no string JavaScript's token lookup mistakes for an
  inherited ``Object.prototype`` property (Baileys writes ``00`` for ``"constructor"``, ``"__proto__"`` ...).
- ``trees(agreeing=False, v6=...)``: any tree our encoder accepts, with JIDs of every kind (agents,
  hosted, ``msgr``, ``interop`` unless ``v6``, which cannot read the last two) for "Baileys decodes ours".
- ``baileys_trees()``: JSON trees with arbitrary strings (lossy JID-looking ones included) for "ours
  decodes Baileys'": only what Baileys itself cannot decode is left out (several ``@``, an empty server,
  a prototype name as tag) and the few shapes whose rendering depends on the wire form (see below).

Test infrastructure, not part of waproto.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import strategies as st

from tests.waproto.binary.nodejson import TOKENS, written_as_jid_string
from waproto.binary import Node
from waproto.jid import JID

#: Names every JavaScript object inherits: Baileys' TOKEN_MAP lookup finds them and writes byte 00.
JS_PROTO_NAMES = frozenset(
    {
        "constructor", "__proto__", "__defineGetter__", "__defineSetter__", "__lookupGetter__",
        "__lookupSetter__", "hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable", "toLocaleString",
        "toString", "valueOf",
    }
)  # fmt: skip
_INTEGER_KEY = re.compile(r"0|[1-9][0-9]{0,9}")

_text_chars = st.characters(exclude_categories=("Cs",))
_sorted_tokens = sorted(TOKENS - {""})
tokens = st.integers(0, len(_sorted_tokens) - 1).map(lambda i: _sorted_tokens[i])  # a short repr
_NIBBLE_SOURCE = "1234567890.-" * 12
_HEX_SOURCE = "0123456789ABCDEF" * 9
_TEXT_SOURCE = "abcdé€😀 " * 40
# Long strings are cut from fixed sources so they cost hypothesis few choices.
nibbles = st.one_of(
    st.from_regex(r"[0-9.\-]{1,16}", fullmatch=True),
    st.tuples(st.integers(0, 11), st.integers(1, 127)).map(lambda p: _NIBBLE_SOURCE[p[0] : p[0] + p[1]]),
)
hexes = st.one_of(
    st.from_regex(r"[0-9A-F]{1,16}", fullmatch=True),
    st.tuples(st.integers(0, 15), st.integers(1, 127)).map(lambda p: _HEX_SOURCE[p[0] : p[0] + p[1]]),
)
long_packable = st.integers(128, 140).map(lambda n: ("9" * n))  # too long to pack: raw
raw_text = st.text(_text_chars, max_size=12)
long_text = st.integers(60, 300).map(lambda n: _TEXT_SOURCE[:n])  # often >= 256 bytes: BINARY_20
_plain_users = st.one_of(st.text(alphabet="0123456789", min_size=1, max_size=18), tokens, st.just(""))
_jid_string_servers = st.sampled_from(["s.whatsapp.net", "lid", "g.us", "broadcast", "newsletter", "c.us", "bot"])


@st.composite
def jid_strings(draw: st.DrawFn) -> str:
    """Strings our encoder writes as JIDs (and Baileys 6 the same way)."""
    user = draw(st.one_of(_plain_users, st.text(_text_chars, max_size=8))).replace("_", "").replace(":", "").replace("@", "")
    if draw(st.booleans()):
        return f"{user}:{draw(st.integers(1, 255))}@{draw(st.sampled_from(['s.whatsapp.net', 'lid']))}"
    server = draw(st.one_of(_jid_string_servers, st.text(_text_chars, min_size=1, max_size=8).filter(lambda s: "@" not in s)))
    return f"{user}@{server}"


def _agreeable(text: str) -> bool:
    return text not in JS_PROTO_NAMES and ("@" not in text or written_as_jid_string(text))


agreeing_strings = st.one_of(
    tokens, nibbles, hexes, long_packable, raw_text, long_text, jid_strings(), st.just("")
).filter(_agreeable)
agreeing_keys = agreeing_strings.filter(lambda k: not _INTEGER_KEY.fullmatch(k))
agreeing_tags = agreeing_strings.filter(bool)


@st.composite
def typed_jids(draw: st.DrawFn, *, agreeing: bool = False, v6: bool = False) -> JID:
    """JID values. ``agreeing``: only forms Baileys 6 writes identically from the JID's string."""
    user = draw(_plain_users)
    if agreeing:
        user = user.replace("_", "").replace(":", "")  # Baileys 6 drops what follows '_' in a JID string
        if draw(st.booleans()):
            return JID(user, draw(st.sampled_from(["s.whatsapp.net", "lid"])), device=draw(st.integers(1, 255)))
        return JID(user, draw(_jid_string_servers))
    kind = draw(st.sampled_from(["pair", "ad", "agent", "hosted"] + ([] if v6 else ["msgr", "interop"])))
    if kind == "pair":
        return JID(user, draw(_jid_string_servers))
    if kind == "ad":
        return JID(user, draw(st.sampled_from(["s.whatsapp.net", "lid"])), device=draw(st.integers(0, 255)))
    if kind == "agent":
        agent = draw(st.integers(2, 255).filter(lambda a: a not in (128, 129)))
        return JID(user, "s.whatsapp.net", device=draw(st.integers(0, 255)), agent=agent)
    if kind == "hosted":
        return JID(user, draw(st.sampled_from(["hosted", "hosted.lid"])), device=draw(st.sampled_from([0, 99, 7])))
    if kind == "msgr":
        return JID(user, "msgr", device=draw(st.integers(0, 0xFFFF)))
    return JID(user, "interop", device=draw(st.integers(0, 0xFFFF)), integrator=draw(st.integers(0, 0xFFFF)))


_binaries = st.one_of(
    st.binary(max_size=24),
    st.integers(256, 3000).map(lambda n: bytes(range(256)) * (n // 256) + bytes(n % 256)),
)


#: Any string our encoder takes: with '@' anywhere (written raw unless it round-trips as a JID),
#: prototype names, integer-like keys.
any_strings = st.one_of(
    agreeing_strings,
    st.sampled_from(sorted(JS_PROTO_NAMES)),
    st.builds(lambda a, b: f"{a}@{b}", st.text(_text_chars, max_size=8), st.text(_text_chars, max_size=8)),
    st.integers(0, 10**9).map(str),
)


def trees(*, agreeing: bool, v6: bool = True, max_leaves: int = 6) -> st.SearchStrategy[Node]:
    """Node trees for our encoder (see the module docstring)."""
    strings = agreeing_strings if agreeing else any_strings
    # A "__proto__" key is lost by Baileys' decoder (assigning it sets the object's prototype).
    keys = agreeing_keys if agreeing else any_strings.filter(lambda k: k != "__proto__")
    tags = agreeing_tags if agreeing else any_strings.filter(bool)
    values = st.one_of(strings, typed_jids(agreeing=agreeing, v6=v6))
    attrs = st.dictionaries(keys, values, max_size=4)
    leaf_content = st.one_of(st.none(), _binaries, strings, st.just([]))
    leaves = st.deferred(lambda: st.builds(Node, tags, attrs, leaf_content))
    # deferred: keeps the strategy's repr short (hypothesis warns about huge reprs, and warnings fail tests)
    return st.deferred(
        lambda: st.recursive(
            leaves,
            lambda children: st.builds(Node, tags, attrs, st.lists(children, min_size=1, max_size=4)),
            max_leaves=max_leaves,
        )
    )


# ------------------------------------------------------------------ trees for Baileys' encoders


def _baileys_decodable(text: str) -> bool:
    if text.count("@") > 1:
        return False  # written as a JID nested in a JID: whatsmeow and we refuse it
    if "@" in text:
        user, _, server = text.partition("@")
        if not server:
            return False  # Baileys cannot decode its own JID_PAIR with an empty server
        if "_" in user:
            return False  # Baileys 7 reads "_agent" as a domain type; see test_interop for agents
        if ":" not in user and server in ("hosted", "hosted.lid", "msgr", "interop"):
            return False  # JID_PAIR on these servers renders differently from our typed form
    return True


_any_strings = st.one_of(
    tokens, nibbles, hexes, raw_text, long_text, st.just(""),
    st.builds(lambda u, s: f"{u}@{s}", st.text(_text_chars, max_size=10), st.one_of(_jid_string_servers, st.sampled_from(["hosted", "hosted.lid", "msgr", "interop"]), st.text(_text_chars, min_size=1, max_size=6))),
    st.builds(lambda u, d, s: f"{u}:{d}@{s}", _plain_users, st.one_of(st.integers(-5, 400).map(str), st.sampled_from(["x", "", "1.5", "+7", "0x10"])), st.sampled_from(["s.whatsapp.net", "lid", "hosted", "hosted.lid", "g.us", "msgr"])),
).filter(_baileys_decodable)  # fmt: skip
_any_keys = _any_strings.filter(lambda k: k not in JS_PROTO_NAMES)
_any_tags = _any_strings.filter(lambda k: bool(k) and k not in JS_PROTO_NAMES)


def baileys_trees(max_leaves: int = 6) -> st.SearchStrategy[dict[str, Any]]:
    """JSON node trees for Baileys' encoders (see the module docstring)."""
    attrs = st.dictionaries(_any_keys, _any_strings, max_size=4)
    leaf_content = st.one_of(st.none(), _binaries, _any_strings, st.just([]))
    leaves = st.deferred(lambda: st.fixed_dictionaries({"tag": _any_tags, "attrs": attrs, "content": leaf_content}))
    return st.deferred(
        lambda: st.recursive(
            leaves,
            lambda children: st.fixed_dictionaries(
                {"tag": _any_tags, "attrs": attrs, "content": st.lists(children, min_size=1, max_size=4)}
            ),
            max_leaves=max_leaves,
        )
    )
