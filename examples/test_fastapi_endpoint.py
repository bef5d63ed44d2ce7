"""Fuzz the FastAPI tutorial's endpoint (examples/tutorial_fastapi.py) with the pytest plugin.

An installed wsstate provides the plugin to any project (a ``pytest11`` entry
point): the ``wsstate_fuzz`` fixture and the ``wsstate_fuzz`` marker. Run::

    pip install 'wsstate[starlette,testing]' fastapi pytest
    pytest examples/test_fastapi_endpoint.py      # or: python examples/test_fastapi_endpoint.py

A failure prints the counterexample (events, wire, ERROR records) and the
pytest command that replays it (``--wsstate-seed``). CI runs this file as a
program (tests/test_docs_site.py), and with the installed wheel in a project
outside this checkout (tests/test_wheel.py).
"""

from __future__ import annotations

import pytest
from tutorial_fastapi import app

from wsstate.testing import FuzzReport


def test_tutorial_endpoint(wsstate_fuzz) -> None:  # type: ignore[no-untyped-def]
    """Real clients, faults and the table's checks against the app served on uvicorn."""
    report: FuzzReport = wsstate_fuzz(app, path="/ws", examples=15)
    assert report.examples >= 15


@pytest.mark.wsstate_fuzz("tutorial_fastapi:app", path="/ws", examples=10)
def test_tutorial_endpoint_by_marker() -> None:
    """The same with the marker: the plugin fuzzes the target before the (empty) body."""


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
