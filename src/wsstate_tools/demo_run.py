"""``wsstate demo``: every section in turn, then the exit status.

The storm on websockets (:mod:`.demo`), the same storm on aiohttp and tornado
(:mod:`.demo_frameworks`), and Solara #1013 on Starlette and uvicorn
(:func:`.demo.solara_1013_section`). Exit 1 if any wsstate column is not clean.
"""

from __future__ import annotations

import argparse
import logging

from .demo import solara_1013_section, storm_section
from .demo_frameworks import frameworks_section

__all__ = ["main"]


def main(args: argparse.Namespace | None = None) -> int:
    """Run every section of the demo; exit 1 if wsstate logged an ERROR in any."""
    # Keep the demo's own output readable: records are counted, not printed.
    logging.getLogger().setLevel(logging.DEBUG)
    logging.getLogger().handlers[:] = [logging.NullHandler()]
    storm = storm_section()
    if storm:
        return storm
    frameworks = frameworks_section()
    return solara_1013_section() or frameworks
