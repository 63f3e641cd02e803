"""examples/vector_db.py, run as a user runs it: the sample indexed in LanceDB behind an approximate
IVF-PQ index, its recall against the exact top k, a calibration fitted on its hits and the agent
loop. Its numbers are checked for sense, its recall against `simcal eval --reference`, and its files
(the score table it wrote, the calibration: conftest validates it against the schema) are read back."""
import importlib.util
import json
import os
import re
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from conftest import REPO

MISSING = [m for m in ("lancedb", "polars") if importlib.util.find_spec(m) is None]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if MISSING and not os.environ.get("CI"):  # scripts/test installs both; CI fails without them
        pytest.skip(f"the example needs {' and '.join(MISSING)} (pip install lancedb polars)")
    out = tmp_path_factory.mktemp("vector_db")
    p = subprocess.run([sys.executable, REPO / "examples" / "vector_db.py", "--out", out, "-k", "10"],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return out, p.stdout


def number(pattern, text):
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in the output:\n{text}"
    return m.groups()


def test_the_index_is_approximate(run):
    out, text = run
    for cut in (1, 10):
        recall, below = number(rf"recall@{cut} ([0-9.]+) \((\d+) queries below 1\)", text)
        assert 0 < float(recall) < 1 and 0 < int(below) <= 300, text
    hits = pq.read_table(out / "ann.parquet")
    assert hits.num_rows == 300 * 10
    assert sorted(set(hits.column("rank").to_pylist())) == list(range(1, 11))
    assert {"query_id", "doc_id", "rank", "score", "section"} <= set(hits.column_names)


def test_recall_is_simcal_evals(run, simcal_bin):
    """The recall printed is the CLI's on the files the example wrote."""
    out, text = run
    p = subprocess.run([simcal_bin, "eval", "--scores", out / "ann.parquet", "--reference", out / "exact.parquet",
                        "--json"], capture_output=True, text=True, check=True)
    doc = json.loads(p.stdout)
    for cut in (1, 10):
        recall, below = number(rf"recall@{cut} ([0-9.]+) \((\d+) queries below 1\)", text)
        assert f"{doc['mean'][f'recall@{cut}']:.3f}" == recall
        assert doc["below_one"][f"recall@{cut}"] == int(below)


def test_the_agent_acts_at_the_certified_precision(run):
    out, text = run
    (target,) = number(r"certified precision >= ([0-9.]+)", text)
    for fit in ("the index's hits", "the exact top k"):
        decisions, right, acted, precision = number(
            rf"fitted on {re.escape(fit)}: +(.*); precision (\d+)/(\d+) = ([0-9.]+)", text)
        counts = {k: int(v) for k, v in re.findall(r"\b(act|escalate|not_found|ambiguous) (\d+)", decisions)}
        assert counts.get("act", 0) > 0 and sum(counts.values()) == 300, text
        assert int(acted) == counts["act"] and 0 < int(right) <= int(acted)
        assert 0 < float(precision) <= 1
        if fit == "the index's hits":  # in sample, at its certified threshold: at least the target
            assert float(precision) >= float(target), text
    cal = json.loads((out / "calibration.json").read_text())
    assert cal.get("certification"), "the calibration certified nothing"
