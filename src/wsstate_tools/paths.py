"""Where the specs and the generated files of a project live.

A *project root* is a directory whose ``spec/`` folder holds one ``*.toml`` file
per machine (a wsstate checkout, or a temporary copy of one in the tests).
``wsstate generate`` and ``wsstate check`` work on a root. ``wsstate table``,
``diagram`` and ``verify`` also work on an installed package outside any
checkout: the wheel carries the specs as package data (``wsstate_tools/specs``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Final

__all__ = [
    "SPEC_DIR",
    "bundled_spec_dir",
    "find_root",
    "machine_names",
    "spec_path",
    "spec_paths",
]

#: The specs' folder, relative to a project root.
SPEC_DIR: Final = Path("spec")


def spec_paths(root: Path) -> list[Path]:
    """Every machine spec of the project at ``root``, sorted by name."""
    return sorted((root / SPEC_DIR).glob("*.toml"))


def machine_names(root: Path) -> list[str]:
    """The machines of the project at ``root`` (spec file names without ``.toml``)."""
    return [p.stem for p in spec_paths(root)]


def find_root(start: Path | None = None) -> Path:
    """The project root: the nearest directory at or above ``start`` with ``spec/*.toml``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if spec_paths(candidate):
            return candidate
    raise FileNotFoundError(
        f"no {SPEC_DIR.as_posix()}/*.toml found in {here} or above: "
        "run from a wsstate checkout or pass --root"
    )


def bundled_spec_dir() -> Path:
    """The specs shipped with this installation.

    In a wheel they are package data; in a checkout (an editable install) they
    are the checkout's own ``spec/`` beside ``src/``.
    """
    packaged = Path(str(resources.files("wsstate_tools"))) / "specs"
    if any(packaged.glob("*.toml")):
        return packaged
    checkout = Path(__file__).resolve().parents[2] / SPEC_DIR
    if any(checkout.glob("*.toml")):
        return checkout
    raise FileNotFoundError("this installation carries no machine specs (wsstate_tools/specs)")


def spec_path(name: str, root: Path | None = None) -> Path:
    """The spec of machine ``name``: under ``root`` if given, else the nearest checkout's,
    else the installed package's."""
    if root is None:
        try:
            root = find_root()
        except FileNotFoundError:
            base = bundled_spec_dir()
            path = base / f"{name}.toml"
            if not path.is_file():
                known = ", ".join(sorted(p.stem for p in base.glob("*.toml")))
                raise FileNotFoundError(f"no machine {name!r}; known: {known}") from None
            return path
    path = root / SPEC_DIR / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(machine_names(root)) or "none"
        raise FileNotFoundError(f"no machine {name!r} in {root / SPEC_DIR}; known: {known}")
    return path
