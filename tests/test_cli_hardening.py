"""Command-line and demo items of issue 19: ``wsstate fuzz --minutes`` refuses a
campaign that would run nothing, ``wsstate table`` names its columns, the demo
says why its last two rows differ."""

from __future__ import annotations

import pytest

from wsstate_tools.cli import main
from wsstate_tools.demo import DemoResult, format_results


@pytest.mark.parametrize("minutes", ["0", "-1", "nan", "inf", "-inf", "soon"])
def test_fuzz_refuses_minutes_that_run_nothing(
    minutes: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["fuzz", f"--minutes={minutes}"])
    assert info.value.code == 2  # argparse's usage error, before anything runs
    assert "--minutes" in capsys.readouterr().err


def test_table_prints_column_headers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    assert header[:4] == ["event", "next", "state", "log"]
    assert "effects" in lines[0]
    assert set(lines[1].replace(" ", "")) == {"-"}


def test_demo_table_says_why_delivered_and_wall_time_differ() -> None:
    table = format_results([DemoResult("naive"), DemoResult("wsstate")])
    assert "why the last two rows differ" in table
    assert "messages delivered" in table.split("why the last two rows differ")[1]
    assert "wall time" in table.split("why the last two rows differ")[1]
