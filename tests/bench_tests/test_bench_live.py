"""The live benchmark's bookkeeping: the medians of its samples.

Nothing is timed here: the sample values are made up, and the run on a small store checks
only how many samples each cell gets.
"""

from __future__ import annotations

import sys
from pathlib import Path

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
        assert counts == expected, label
        assert results[label] == bench_live.medians({label: samples[label]})[label]
    assert {column: len(values) for column, values
            in samples["add_drift_index() build"].items()} == {"cold": 1}
