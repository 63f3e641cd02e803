"""simcal.drift against `simcal drift --json` on the data/ sample: the same document from a
Calibration and a table in memory as from the files; a table from another encoder drifts, the
calibration's own table does not; bad arguments are refused naming them."""
import json
import subprocess

import pyarrow.parquet as pq
import pytest

import simcal


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, simcal_bin, minilm_table):
    art = tmp_path_factory.mktemp("cal") / "minilm.json"
    subprocess.run([simcal_bin, "fit", "--scores", minilm_table, "--out", art, "--folds", "5"], check=True, capture_output=True)
    return art


def cli(simcal_bin, baseline, table, *extra):
    p = subprocess.run([simcal_bin, "drift", "--baseline", baseline, "--scores", table, "--json", *extra],
                       capture_output=True, text=True)
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout), p.returncode


@pytest.mark.parametrize("which", ["minilm", "lsa"])
def test_the_clis_document_from_memory_and_from_files(simcal_bin, baseline, minilm_table, lsa_table, which):
    table = minilm_table if which == "minilm" else lsa_table
    want, code = cli(simcal_bin, baseline, table)
    assert want["drifted"] == (code == 1) == (which == "lsa")
    from_files = simcal.drift(str(baseline), str(table))
    assert from_files == want
    in_memory = simcal.drift(simcal.Calibration.load(baseline), pq.read_table(table))
    assert {k: v for k, v in in_memory.items() if k not in ("baseline", "scores")} == \
        {k: v for k, v in want.items() if k not in ("baseline", "scores")}
    assert (in_memory["baseline"], in_memory["scores"]) == ("calibration", "table")


def test_tolerances_are_the_clis(simcal_bin, baseline, lsa_table):
    want, _ = cli(simcal_bin, baseline, lsa_table, "--max-ks", "0.5", "--max-precision-drop", "0.9",
                  "--min-pairs", "10", "--significance", "0.01")
    got = simcal.drift(str(baseline), str(lsa_table), max_ks=0.5, max_precision_drop=0.9, min_pairs=10, significance=0.01)
    assert got == want and not got["drifted"]


@pytest.mark.parametrize("kwargs, words", [
    ({"baseline": 3}, ["baseline", "Calibration"]),
    ({"max_ks": "x"}, ["max_ks", "number"]),
    ({"max_ks": 2.0}, ["`max_ks` 2", "outside [0, 1]"]),
    ({"min_pairs": -1}, ["min_pairs", "non-negative"]),
    ({"table": "missing.parquet"}, ["missing.parquet"]),
])
def test_bad_arguments_are_refused_naming_them(baseline, minilm_table, kwargs, words):
    args = {"baseline": str(baseline), "table": str(minilm_table), **kwargs}
    with pytest.raises(simcal.SimcalError) as e:
        simcal.drift(**args)
    for w in words:
        assert w in str(e.value), str(e.value)
