"""The catalogue is covered: every row a transport can show is run there, or says why not."""

from __future__ import annotations

import re
from pathlib import Path

from support.catalogue import ROWS, coverage
from support.transports import TRANSPORTS


def test_every_row_has_a_test_or_a_reason() -> None:
    problems = coverage().problems()
    assert not problems, "\n".join(problems)


def test_no_row_has_both_a_test_and_a_reason() -> None:
    cov = coverage()
    both = [
        f"{t.id}: row {row}"
        for t in TRANSPORTS
        for row in t.not_applicable
        if cov.tests.get((t.id, row))
    ]
    assert not both, both  # runs_on() excludes them: this guards that rule
    assert all(set(t.not_applicable) <= set(ROWS) for t in TRANSPORTS)


def test_docs_page_links_the_tests_of_every_row() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "scenarios.md").read_text()
    lines = {int(m[1]): m[0] for m in re.finditer(r"^\| (\d+) \|.*$", page, flags=re.M)}
    assert sorted(lines) == sorted(ROWS)
    cov = coverage()
    for (_, row), names in cov.tests.items():
        for name in names:
            link = f"(../tests/scenarios/{name.split('::')[0]})"
            assert link in lines[row], f"docs/scenarios.md row {row} does not link {link}"
