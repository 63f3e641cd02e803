"""simcal.compare: the CLI's comparison from Python (the same JSON document), per-query values
from simcal.evaluate compared with scipy's paired t-test, the Comparison object's views, and
refused arguments."""
import json
import subprocess

import numpy as np
import pytest
from scipy.stats import ttest_rel

import simcal
from conftest import DATA


def test_files_equal_the_cli(simcal_bin, minilm_table, lsa_table):
    c = simcal.compare([minilm_table, lsa_table], test="fisher", permutations=2000, resamples=300)
    cli = subprocess.run([simcal_bin, "compare", "--scores", minilm_table, lsa_table, "--test", "fisher",
                          "--permutations", "2000", "--resamples", "300", "--json"], check=True, capture_output=True)
    assert c.to_dict() == json.loads(cli.stdout)
    assert c.paired_queries == 300
    assert [r["name"] for r in c.runs] == ["minilm", "lsa"]
    assert c.calibration is not None and c.calibration["paired_queries"] == 300
    # ranx's superscripts: minilm beats lsa on every default measure.
    line = next(x for x in c.table.splitlines() if x.startswith("a  minilm"))
    assert line.count("ᵇ") == len(c.to_dict()["measures"])
    assert str(c).startswith(c.table)
    df = c.to_dataframe()
    assert list(df["a"].unique()) == ["minilm"] and len(df) == len(c.pairs)
    assert set(c.per_query) == {"minilm", "lsa"}
    assert len(c.per_query["minilm"]["ndcg_cut_10"]) == 300


def test_per_query_values_equal_scipy(minilm_table, lsa_table):
    import pyarrow.parquet as pq

    a = simcal.evaluate(pq.read_table(minilm_table), DATA / "qrels.tsv", ["ndcg_cut.10", "P.5"])
    b = simcal.evaluate(pq.read_table(lsa_table), DATA / "qrels.tsv", ["ndcg_cut.10", "P.5"])
    c = simcal.compare({"minilm": a, "lsa": b}, correction="none")
    assert c.calibration is None
    queries = sorted(a)
    for t in c.pairs:
        x = np.array([a[q][t["measure"]] for q in queries])
        y = np.array([b[q][t["measure"]] for q in queries])
        r = ttest_rel(x, y)
        assert t["p"] == pytest.approx(r.pvalue, rel=1e-9, abs=1e-300)
        assert t["statistic"] == pytest.approx(r.statistic, rel=1e-12)
        assert t["p_corrected"] == t["p"]
        assert t["difference"] == pytest.approx(np.mean(x - y), abs=1e-14)
        assert t["wins"] == int(np.sum(x > y)) and t["losses"] == int(np.sum(x < y))
    # The same values from the files, judged by the same qrels: the same tests.
    f = simcal.compare([minilm_table, lsa_table], qrels=DATA / "qrels.tsv", measures=["ndcg_cut.10", "P.5"],
                       correction="none")
    assert [t["p"] for t in f.pairs] == [t["p"] for t in c.pairs]


def test_refused_arguments(minilm_table, lsa_table):
    with pytest.raises(simcal.SimcalError, match="test"):
        simcal.compare([minilm_table, lsa_table], test="wilcoxon")
    with pytest.raises(simcal.SimcalError, match="max_p"):
        simcal.compare([minilm_table, lsa_table], max_p=2.0)
    with pytest.raises(simcal.SimcalError, match="runs"):
        simcal.compare(minilm_table)
    with pytest.raises(simcal.SimcalError, match="2 runs"):
        simcal.compare([minilm_table])
    with pytest.raises(simcal.SimcalError, match="permutations"):
        simcal.compare([minilm_table, lsa_table], permutations=-1)
    with pytest.raises(simcal.SimcalError, match="differ on query"):
        simcal.compare({"a": {"q1": {"m": 1.0}}, "b": {"q2": {"m": 1.0}}})
    with pytest.raises(simcal.SimcalError, match="no value"):
        simcal.compare({"a": {"q1": {"m": 1.0}}, "b": {"q1": {"n": 1.0}}}, measures=["m"])
