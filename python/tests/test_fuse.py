"""simcal.fuse on ranx-shaped dicts against ranx's golden fused lists (the fixture tests/fuse.rs
uses): every method × normalisation, weights, RRF's k; and bad input."""
import json

import pyarrow.parquet as pq
import pytest

import simcal
from conftest import GOLDEN


def runs():
    """The fixture's three runs as dicts, each query's documents in file (rank) order."""
    out = []
    for name in ("fuse_a.parquet", "fuse_b.txt", "fuse_c.parquet"):
        run = {}
        if name.endswith(".parquet"):
            t = pq.read_table(GOLDEN / name).to_pydict()
            rows = zip(t["query_id"], t["doc_id"], t["score"])
        else:
            rows = ((f[0], f[2], float(f[4])) for f in (line.split() for line in (GOLDEN / name).read_text().splitlines()))
        for q, d, s in rows:
            run.setdefault(q, {})[d] = float(s)
        out.append(run)
    return out


CASES = json.loads((GOLDEN / "fuse_golden.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['method']}-{c['norm']}-{c['rrf_k']}-{c['weights']}")
def test_matches_ranx(case):
    got = simcal.fuse(runs(), method=case["method"], norm=case["norm"], k=1000, rrf_k=case["rrf_k"] or 60,
                      weights=case["weights"])
    want = case["queries"]
    assert set(got) == set(want)
    for q, wlist in want.items():
        glist = list(got[q].items())
        assert [d for d, _ in glist] == [d for d, _ in wlist], q
        for (_, gs), (_, ws) in zip(glist, wlist):
            assert gs == pytest.approx(ws, rel=1e-12, abs=1e-12), q


def test_k_cuts_each_list():
    got = simcal.fuse(runs(), k=3)
    assert all(len(v) <= 3 for v in got.values()) and any(len(v) == 3 for v in got.values())


@pytest.mark.parametrize("args, words", [
    (([],), ["no run"]),
    (([{"q": [1]}],), ["runs[0]['q']", "dict"]),
    (([{"q": {"d": "x"}}],), ["runs[0]['q']['d']", "not a number"]),
    (([{"q": {"d": float("inf")}}],), ["runs[0]", "not finite"]),
    (([{"q": {"d": 1.0}}], "borda"), ["borda"]),
    (([{"q": {"d": 1.0}}], "combsum", "l2"), ["l2"]),
    (([{"q": {"d": 1.0}}, {"q": {"d": 2.0}}], "wsum", None, 100, 60, [1.0]), ["weight"]),
])
def test_bad_input_is_refused_naming_it(args, words):
    with pytest.raises(simcal.SimcalError) as e:
        simcal.fuse(*args)
    for w in words:
        assert w in str(e.value), (w, str(e.value))
