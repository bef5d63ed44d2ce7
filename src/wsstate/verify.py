"""``wsstate verify``: placeholder until the model checker lands (issue 5)."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""


def main(args: argparse.Namespace) -> int:
    """Not implemented yet."""
    print("wsstate verify: not implemented yet")
    return 1
