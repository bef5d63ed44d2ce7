"""The docs stay true to the spec: embedded diagrams and the effect vocabulary."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import wsstate
from wsstate_tools.spec import load

ROOT = Path(__file__).resolve().parent.parent
DIAGRAM = (ROOT / "diagrams" / "connection.mmd").read_text(encoding="utf-8")
DIAGRAM_BODY = "".join(DIAGRAM.splitlines(keepends=True)[3:])  # without the 3-line header
EFFECTS = load(ROOT / "spec" / "connection.toml").effects


@pytest.mark.parametrize("page", ["README.md", "docs/index.md"])
def test_page_embeds_current_diagram(page: str) -> None:
    text = (ROOT / page).read_text(encoding="utf-8")
    blocks = re.findall(r"```mermaid\n(.*?)```", text, flags=re.S)
    assert any(DIAGRAM_BODY in block for block in blocks), (
        f"{page} does not embed the current diagrams/connection.mmd; copy it in"
    )


def test_spec_readme_documents_every_effect() -> None:
    text = (ROOT / "spec" / "README.md").read_text(encoding="utf-8")
    missing = [e for e in EFFECTS if f"`{e}`" not in text]
    assert not missing, f"spec/README.md does not document {missing}"


def test_public_api_is_documented() -> None:
    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for name in wsstate.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(wsstate, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"wsstate.{name} has no docstring"
        assert f"`{name}" in api or f"{name}(" in api or f"`wsstate.{name}" in api, (
            f"wsstate.{name} is not in docs/api.md"
        )


def test_readme_opens_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## ")[0]
    assert "make demo" in head
    assert "make test" in head
