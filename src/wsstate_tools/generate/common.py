"""What every generator shares: the banner, names, literals."""

from __future__ import annotations

import keyword
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..spec import Spec

__all__ = [
    "REGENERATE",
    "Output",
    "class_prefix",
    "doc_literal",
    "effect_member",
    "header",
    "py_literal",
    "state_id",
]

REGENERATE: Final = "wsstate generate"


@dataclass(frozen=True, slots=True)
class Output:
    """One generated file: where it goes (relative to the project root) and what it holds."""

    path: Path
    text: str


def header(spec: Spec, comment: str) -> str:
    """The banner every generated file starts with."""
    lines = [
        "GENERATED FILE - DO NOT EDIT.",
        f"Source: {Path(spec.path).as_posix()}",
        f"Regenerate with `{REGENERATE}`; `wsstate check` fails if this file is stale.",
    ]
    return "".join(f"{comment} {line}\n" for line in lines)


def effect_member(effect: str) -> str:
    """The ``Effect`` enum member name for an effect: ``arm:close_timer`` -> ``ARM_CLOSE_TIMER``."""
    out: list[str] = []
    for ch in effect.replace(":", "_"):
        if ch.isupper() and out and out[-1] != "_":
            out.append("_")
        out.append(ch.upper())
    return "".join(out)


def state_id(name: str) -> str:
    """The reference chart's attribute for state ``name``."""
    ident = name.lower()
    return ident + "_" if keyword.iskeyword(ident) else ident


def class_prefix(spec: Spec) -> str:
    """``connection`` -> ``Connection``, ``broker_link`` -> ``BrokerLink``."""
    return "".join(part.capitalize() for part in spec.name.replace("-", "_").split("_"))


def doc_literal(text: str) -> str:
    """A docstring literal for ``text`` (escapes backslashes and quotes)."""
    return '"""' + text.replace("\\", "\\\\").replace('"', '\\"') + '"""'


def py_literal(value: object) -> str:
    """A Python literal for a str/int/None, with double quotes as ruff formats them."""
    if isinstance(value, str):
        r = repr(value)
        if r.startswith("'") and '"' not in value:
            r = '"' + r[1:-1].replace("\\'", "'") + '"'
        return r
    return repr(value)
