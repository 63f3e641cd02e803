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


def tables():
    """The fixture's three runs as pyarrow tables: two score tables as simcal wrote them, and the
    TREC run as another tool's table (query_id, doc_id, score)."""
    import pyarrow as pa

    a, c = pq.read_table(GOLDEN / "fuse_a.parquet"), pq.read_table(GOLDEN / "fuse_c.parquet")
    fields = [line.split() for line in (GOLDEN / "fuse_b.txt").read_text().splitlines()]
    b = pa.table({"query_id": [f[0] for f in fields], "doc_id": [f[2] for f in fields],
                  "score": pa.array([float(f[4]) for f in fields], pa.float64())})
    return [a, b, c]


@pytest.mark.parametrize("method, norm", [("rrf", None), ("combmnz", "zscore"), ("wsum", "minmax")])
def test_tables_give_the_table_the_cli_writes(tmp_path, simcal_bin, method, norm):
    import subprocess

    a, b, c = tables()
    pq.write_table(b, tmp_path / "b.parquet")
    weights = [0.5, 1.0, 2.0] if method == "wsum" else None
    got = simcal.fuse([a, b.to_pandas(), c.to_batches()[0]], method=method, norm=norm, k=7, weights=weights)
    args = [simcal_bin, "fuse", "--run", GOLDEN / "fuse_a.parquet", "--run", tmp_path / "b.parquet",
            "--run", GOLDEN / "fuse_c.parquet", "--method", method, "-k", "7", "--out", tmp_path / "f.parquet"]
    args += ["--norm", norm] if norm else []
    args += ["--weights", ",".join(map(str, weights))] if weights else []
    subprocess.run(args, check=True, capture_output=True)
    want = pq.read_table(tmp_path / "f.parquet")
    assert got.column_names == want.column_names
    for name in want.column_names:
        assert got.column(name).to_pylist() == want.column(name).to_pylist(), name
    assert got.num_rows > 0 and max(got.column("rank").to_pylist()) == 7
    # The same numbers as the dict path (ranx's shape), document for document.
    d = simcal.fuse(runs(), method=method, norm=norm, k=7, weights=weights)
    rows = got.to_pydict()
    assert [(q, x) for q, x in zip(rows["query_id"], rows["doc_id"])] == [(q, x) for q, v in d.items() for x in v]
    for q, x, s in zip(rows["query_id"], rows["doc_id"], rows["score"]):
        assert s == pytest.approx(d[q][x], rel=1e-6)


def test_tables_and_dicts_do_not_mix():
    with pytest.raises(simcal.SimcalError, match=r"runs\[1\].*all runs as tables or all as dicts"):
        simcal.fuse([tables()[0], runs()[1]])


@pytest.mark.parametrize("kwargs, words", [
    ({"method": "borda"}, ['method "borda": expected rrf, combsum, combmnz, max or wsum']),
    ({"method": "combsum", "norm": "l2"}, ['norm "l2": expected minmax, zscore, max, sum, rank or none']),
])
def test_unknown_choices_are_named_with_the_clis_spellings(kwargs, words):
    with pytest.raises(simcal.SimcalError) as e:
        simcal.fuse([{"q": {"a": 1.0}}], **kwargs)
    for w in words:
        assert w in str(e.value), str(e.value)
