"""The hook contract: names, argument names, sync-only rules and documentation in the specs."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import pytest

from waporta import hookspecs

#: The public contract. Changing a name here breaks every plugin that uses it.
CONTRACT = {
    "waporta_startup": ("hub",),
    "waporta_shutdown": ("hub",),
    "register_routes": ("hub", "app"),
    "message_received": ("hub", "session_id", "message"),
    "session_status_changed": ("hub", "session_id", "status"),
    "send_retry_policy": ("hub", "session_id", "attempt", "error"),
    "delivery_failed": ("hub", "failure"),
}


def specs() -> dict[str, typing.Any]:
    marker = f"{hookspecs.PROJECT}_spec"
    return {name: fn for name, fn in vars(hookspecs).items() if inspect.isfunction(fn) and hasattr(fn, marker)}


def test_the_hooks_and_their_argument_names() -> None:
    found = {name: tuple(inspect.signature(fn).parameters) for name, fn in specs().items()}
    assert found == CONTRACT


def test_firstresult_hooks_are_sync_only() -> None:
    marker = f"{hookspecs.PROJECT}_spec"
    firstresult = {name for name, fn in specs().items() if getattr(fn, marker)["firstresult"]}
    assert firstresult == {"send_retry_policy"}
    assert firstresult <= hookspecs.SYNC_ONLY
    assert {"register_routes", "send_retry_policy"} == hookspecs.SYNC_ONLY
    assert set(specs()) >= hookspecs.SYNC_ONLY


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_spec_is_typed_and_documents_every_argument(name: str) -> None:
    fn = specs()[name]
    signature = inspect.signature(fn)
    assert signature.return_annotation is not inspect.Signature.empty
    doc = inspect.getdoc(fn) or ""
    for argument, parameter in signature.parameters.items():
        assert parameter.annotation is not inspect.Parameter.empty, f"{name}({argument}) is untyped"
        assert f":param {argument}:" in doc, f"{name}: {argument} is not documented"
    lowered = doc.lower()
    assert "sync only" in lowered or "sync or async" in lowered


def test_exports() -> None:
    assert sorted(hookspecs.__all__) == ["PROJECT", "SYNC_ONLY", "hookspec"]
    assert hookspecs.PROJECT == "waporta"


def test_message_received_documents_the_message_and_its_payload() -> None:
    from pathlib import Path

    from waporta.messages import InboundMessage

    fn = specs()["message_received"]
    assert inspect.signature(fn).parameters["message"].annotation == "InboundMessage"
    doc = inspect.getdoc(fn) or ""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "plugin_hooks.md").read_text(encoding="utf-8")
    section = docs[docs.index("## message_received(") : docs.index("## session_status_changed(")]
    for field in dataclasses.fields(InboundMessage):
        assert f"``{field.name}``" in doc, f"the spec does not name message.{field.name}"
        assert f"| `{field.name}` |" in section, f"docs/plugin_hooks.md does not list message.{field.name}"
    for key in ("event", "sessionId", "messageId", "sender", "recipient", "timestamp", "messageType", "content", "raw"):
        assert key in doc
        assert f'"{key}":' in section
    assert "as_payload()" in doc
    assert "REDACTED" in section
