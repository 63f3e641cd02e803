"""simcal.evaluate as a drop-in for pytrec_eval: the golden per-query values computed by
pytrec_eval (the fixture tests/eval.rs uses), from dicts built as pytrec_eval takes them."""
import json

import pyarrow.parquet as pq
import pytest

import simcal
from conftest import GOLDEN

MEASURES = ["ndcg_cut.3", "ndcg_cut.10", "recall.5", "recall.20", "P.5", "P.10", "success.1", "success.5", "recip_rank", "map"]


def run_and_qrels():
    t = pq.read_table(GOLDEN / "eval_run.parquet").to_pydict()
    run = {}
    for q, d, s in zip(t["query_id"], t["doc_id"], t["score"]):
        run.setdefault(q, {})[d] = float(s)
    qrels = {}
    for line in (GOLDEN / "eval_qrels.txt").read_text().splitlines():
        q, _, d, r = line.split()
        qrels.setdefault(q, {})[d] = int(r)
    return run, qrels


@pytest.mark.parametrize("level", [1, 2])
def test_matches_pytrec_eval_per_query(level):
    want = json.loads((GOLDEN / "eval_golden.json").read_text())[f"level{level}"]["per_query"]
    run, qrels = run_and_qrels()
    got = simcal.evaluate(run, qrels, MEASURES, relevance_level=level)
    assert set(got) == set(want)  # judged and retrieved queries only, as pytrec_eval
    for q, values in want.items():
        assert set(got[q]) == set(values)
        for m, v in values.items():
            assert got[q][m] == pytest.approx(v, abs=1e-12), (q, m)


def test_measure_families_expand_as_pytrec_eval():
    run, qrels = run_and_qrels()
    got = simcal.evaluate(run, qrels, {"P", "success", "ndcg_cut.5,10"})
    keys = set(next(iter(got.values())))
    assert {"P_5", "P_1000", "success_1", "success_10", "ndcg_cut_5", "ndcg_cut_10"} <= keys
    assert len(keys) == 9 + 3 + 2


@pytest.mark.parametrize("run, qrels, measures, words", [
    ({"q": {"d": "x"}}, {"q": {"d": 1}}, ["map"], ["run['q']['d']", "not a number"]),
    ({"q": {"d": 1.0}}, {"q": {"d": 0.5}}, ["map"], ["qrels['q']['d']", "not an integer"]),
    ({"q": [1.0]}, {"q": {"d": 1}}, ["map"], ["run['q']", "dict"]),
    ({"q": {"d": 1.0}}, {"q": {"d": 1}}, ["ndcg_x"], ["unknown measure", "ndcg_x"]),
    ([("q", {})], {"q": {"d": 1}}, ["map"], ["run", "dict", "score table"]),
    ({"q": {"d": float("nan")}}, {"q": {"d": 1}}, ["map"], ["NaN"]),
])
def test_bad_input_is_refused_naming_it(run, qrels, measures, words):
    with pytest.raises(simcal.SimcalError) as e:
        simcal.evaluate(run, qrels, measures)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_a_score_table_is_evaluated_without_dicts():
    # The table's own labels (written by `simcal score --qrels`), and the qrels file: the same
    # numbers as the dicts give.
    run, qrels = run_and_qrels()
    table = pq.read_table(GOLDEN / "eval_run.parquet")
    from_dicts = simcal.evaluate(run, qrels, MEASURES)
    from_file = simcal.evaluate(table, GOLDEN / "eval_qrels.txt", MEASURES)
    assert set(from_file) == set(from_dicts)
    for q in from_dicts:
        for m, v in from_dicts[q].items():
            assert from_file[q][m] == pytest.approx(v, abs=1e-12), (q, m)
    with pytest.raises(simcal.SimcalError, match="qrels: with a score table"):
        simcal.evaluate(table, qrels, MEASURES)
    with pytest.raises(simcal.SimcalError, match="doc_id"):
        simcal.evaluate(table.drop(["doc_id"]), GOLDEN / "eval_qrels.txt", MEASURES)


def test_every_per_query_value_of_trec_evals_own_test_output():
    """trec_eval -m all_trec -q on its own test files (tests/trec_eval), read into pytrec_eval's
    dicts: every per-query value of out.test.aq, to the 4 decimals trec_eval prints."""
    import pathlib

    d = pathlib.Path(__file__).resolve().parents[2] / "tests" / "trec_eval"
    run, qrels = {}, {}
    for line in (d / "results.test").read_text().splitlines():
        q, _, doc, _, score, *_ = line.split()
        run.setdefault(q, {})[doc] = float(score)
    for line in (d / "qrels.test").read_text().splitlines():
        q, _, doc, rel = line.split()
        qrels.setdefault(q, {})[doc] = int(rel)
    got = simcal.evaluate(run, qrels, {"all_trec"})
    compared = 0
    for line in (d / "out.test.aq").read_text().splitlines():
        name, q, want = (f.strip() for f in line.split("\t"))
        if q == "all" or name in ("runid", "relstring"):
            continue
        v = got[q][name]
        assert (f"{v:.4f}" if "." in want else f"{v:.0f}") == want, (q, name, v, want)
        compared += 1
    assert compared == 285  # 95 measures × 3 queries
