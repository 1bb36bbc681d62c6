"""The live benchmark's bookkeeping: medians of its samples and the PostgreSQL / SQLite ratios.

Nothing is timed here: the sample values are made up, and the run on a small store checks
only how many samples each cell gets.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_live  # found through the path above
from generate_store import generate_store

HEADER = "store_overview (header)"
DRIFT = "Drift: drift_report"


def test_medians_of_odd_and_even_counts_leave_out_empty_cells() -> None:
    samples: bench_live.Samples = {
        HEADER: {"cold": [3.0, 1.0, 2.0], "+1": [5.0, 1.0, 4.0, 2.0], "+10": []},
        DRIFT: {"indexed": [9.0]},
    }
    # [1, 2, 3] -> 2; [1, 2, 4, 5] -> (2 + 4) / 2 = 3.
    assert bench_live.medians(samples) == {HEADER: {"cold": 2.0, "+1": 3.0},
                                           DRIFT: {"indexed": 9.0}}


def test_ratios_only_where_both_backends_have_the_cell() -> None:
    backends = {
        "SQLite": {HEADER: {"cold": 2.0, "+1": 0.5, "+100": 4.0},
                   DRIFT: {"cold": 400.0, "indexed": 200.0},
                   "add_drift_index() build": {"cold": 100.0}},
        "PostgreSQL": {HEADER: {"cold": 5.0, "+1": 0.5, "+10": 1.0},
                       DRIFT: {"cold": 300.0, "indexed": 401.0},
                       "add_drift_index() build": {"cold": 500.0}},
    }
    # 5 / 2, 0.5 / 0.5, 300 / 400, 401 / 200; +10 and +100 are on one side only, and the
    # build is not a read.
    assert bench_live.ratios(backends) == {HEADER: {"cold": 2.5, "+1": 1.0},
                                           DRIFT: {"cold": 0.75, "indexed": 2.005}}
    assert bench_live.ratios({"SQLite": backends["SQLite"]}) == {}


def test_the_ratio_table_flags_what_is_over_twice(capsys: pytest.CaptureFixture[str]) -> None:
    bench_live.print_ratios({
        "SQLite": {HEADER: {"cold": 2.0, "+1": 0.5}, DRIFT: {"indexed": 200.0}},
        "PostgreSQL": {HEADER: {"cold": 5.0, "+1": 1.0}, DRIFT: {"indexed": 401.0}},
    })
    lines = capsys.readouterr().out.splitlines()
    # 2.5 and 2.005 are over 2 (the latter shown rounded to 2.0x); exactly 2.0 is not.
    assert lines[1].endswith(": 2 of 3 over")
    header = next(line for line in lines if line.startswith(f"| {HEADER} "))
    cells = [cell.strip() for cell in header.strip("|").split("|")]
    assert cells == [HEADER, "2.5x !", "—", "2.0x", "—", "—"]
    drift = next(line for line in lines if line.startswith(f"| {DRIFT} "))
    assert [cell.strip() for cell in drift.strip("|").split("|")][1:3] == ["—", "2.0x !"]


def test_print_ratios_says_nothing_without_postgresql(capsys: pytest.CaptureFixture[str]) -> None:
    bench_live.print_ratios({"SQLite": {HEADER: {"cold": 2.0}}})
    assert capsys.readouterr().out == ""


def test_each_cell_gets_its_number_of_samples(tmp_path: Path) -> None:
    path = tmp_path / "small.db"
    generate_store(path, patterns=40, applications=800, executions=40, seed=3)
    samples: bench_live.Samples = {}
    results = bench_live.measure_backend(str(path), False, samples,
                                         cold_samples=2, warm_samples=3)
    for label, *_ in bench_live.READS:
        counts = {column: len(values) for column, values in samples[label].items()}
        expected = {"cold": 2, "+1": 3, "+10": 3, "+100": 3}
        if label in bench_live.DRIFT_READS:
            expected["indexed"] = 2
        if label == bench_live.WARMING_READ:
            expected[bench_live.FIRST_INDEXED] = 1  # the warming read, not in the column
        assert counts == expected, label
        assert results[label] == bench_live.medians({label: samples[label]})[label]
    assert {column: len(values) for column, values
            in samples["add_drift_index() build"].items()} == {"cold": 1}
