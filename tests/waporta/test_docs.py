"""The documentation keeps up with the code: every hook, config key and env variable is documented."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from waporta import hookspecs
from waporta.config import (
    ENV_OVERRIDES,
    ApiConfig,
    DashboardConfig,
    PluginsConfig,
    ServerConfig,
    StorageConfig,
    WhatsAppConfig,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"
HEADING = re.compile(r"^## (\w+)\((.*)\)\s*$", re.MULTILINE)


def spec_functions() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(value)
        for name, value in vars(hookspecs).items()
        if inspect.isfunction(value) and hasattr(value, f"{hookspecs.PROJECT}_spec")
    }


def hook_sections() -> dict[str, tuple[str, str]]:
    """Map hook name -> (argument list as written in the heading, the section's text)."""
    text = (DOCS / "plugin_hooks.md").read_text(encoding="utf-8")
    matches = list(HEADING.finditer(text))
    sections = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        sections[match.group(1)] = (match.group(2), text[match.end() : end])
    return sections


def test_there_are_hooks_to_document() -> None:
    assert len(spec_functions()) >= 7


@pytest.mark.parametrize("name", sorted(spec_functions()))
def test_plugin_hook_is_documented_with_its_exact_signature(name: str) -> None:
    sections = hook_sections()
    assert name in sections, f"docs/plugin_hooks.md has no '## {name}(...)' heading"
    documented = sections[name][0]
    expected = ", ".join(spec_functions()[name].parameters)
    assert documented == expected, f"heading says {name}({documented}), the spec is {name}({expected})"


@pytest.mark.parametrize("name", sorted(spec_functions()))
def test_plugin_hook_section_has_arguments_timing_and_an_example(name: str) -> None:
    body = hook_sections()[name][1]
    for argument in spec_functions()[name].parameters:
        assert f"- `{argument}`" in body, f"{name}: argument {argument} is not described"
    assert "**When:**" in body
    assert "sync only" in body.lower() or "sync or async:** either" in body.lower()
    assert "```python" in body
    assert f"def {name}(" in body, f"{name}: the example does not implement the hook"


def test_no_heading_for_a_hook_that_does_not_exist() -> None:
    assert set(hook_sections()) <= set(spec_functions())


def test_plugin_hooks_page_opens_with_the_subset_rule() -> None:
    text = (DOCS / "plugin_hooks.md").read_text(encoding="utf-8")
    first_paragraph = text.split("\n\n")[1]
    assert "implementations may take any subset of the arguments" in " ".join(first_paragraph.split()).lower()


def test_writing_plugins_covers_files_packaging_and_settings() -> None:
    text = (DOCS / "writing_plugins.md").read_text(encoding="utf-8")
    assert 'modules = ["hello.py"]' in text
    assert '[project.entry-points."waporta"]' in text
    assert "[plugins.hello]" in text
    assert 'hub.plugin_config("' in text
    assert "disabled = [" in text


def test_configuration_documents_every_key_and_variable() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    sections = {
        "server": ServerConfig,
        "storage": StorageConfig,
        "dashboard": DashboardConfig,
        "api": ApiConfig,
        "plugins": PluginsConfig,
        "whatsapp": WhatsAppConfig,
    }
    for section, schema in sections.items():
        assert f"### `[{section}]`" in text
        for field in dataclasses.fields(schema):
            if field.name in {"settings", "secret_paths"}:
                continue
            assert f"| `{field.name}` |" in text, f"{section}.{field.name} is undocumented"
    assert "### `[plugins.<name>]`" in text
    for variable, key in ENV_OVERRIDES.items():
        assert f"| `{variable}` | `{key}` |" in text
