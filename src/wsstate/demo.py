"""``wsstate demo``: until the runtime lands, print the table and write the diagrams."""

from __future__ import annotations

import argparse
import sys

from .generate import SPEC_PATH, find_root, write
from .spec import load
from .tableview import format_table

__all__ = ["main"]


def main(args: argparse.Namespace) -> int:
    """Print the transition table and (re)write the generated files."""
    root = find_root()
    spec = load(root / SPEC_PATH)
    sys.stdout.write(format_table(spec))
    changed = write(root)
    print(
        "diagrams: diagrams/connection.mmd, diagrams/connection.dot"
        + (f" (rewrote {len(changed)} file(s))" if changed else " (up to date)")
    )
    return 0
