"""Parametrises every scenario test by transport, and prints what each does not run.

A test that takes ``transport`` runs on each :class:`support.transports.Transport`
its marks allow (:func:`support.catalogue.runs_on`). ``@pytest.mark.per_transport(
name, choose)`` parametrises ``name`` too, with the values ``choose(transport)``
returns (what a transport can show, such as the moments a test can act at).
After the run the catalogue's rows not applicable to each transport are printed
with their reasons; tests/scenarios/test_catalogue.py fails on a row that has
neither a test nor a reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.catalogue import not_applicable_report, runs_on

_ASGI_WARNINGS = [
    # uvicorn's legacy implementation, and websockets' legacy server under it.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "transport" not in metafunc.fixturenames:
        return
    transports = runs_on(metafunc.definition.iter_markers())
    variant = metafunc.definition.get_closest_marker("per_transport")
    params = []
    for t in transports:
        marks = _ASGI_WARNINGS if t.family == "asgi" else []
        if variant is None:
            params.append(pytest.param(t, id=t.id, marks=marks))
        else:
            _, choose = variant.args
            params += [
                pytest.param(t, value, id=f"{t.id}-{value}", marks=marks) for value in choose(t)
            ]
    names = "transport" if variant is None else ("transport", variant.args[0])
    metafunc.parametrize(names, params)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    # From the reports, not the collection: under xdist only the workers collect.
    here = Path(__file__).parent
    files = {
        report.nodeid.split("::", 1)[0]
        for reports in terminalreporter.stats.values()
        for report in reports
        if isinstance(getattr(report, "nodeid", None), str)
    }
    if not any(here in (config.rootpath / name).parents for name in files):
        return
    terminalreporter.section("scenario catalogue: rows not applicable, per transport")
    for line in not_applicable_report():
        terminalreporter.write_line(line)
