"""Golden fusion values for tests/fuse.rs, computed by ranx 0.3.21's `fuse` (docs/architecture.md §6).

Fixture: three runs over 12 queries, written as simcal reads them: fuse_a.parquet (a labeled
score table with a `section` column), fuse_b.txt (a TREC run with negative scores) and
fuse_c.parquet (an unlabeled score table with `section`). Lists share some documents and not
others; scores tie within lists (ties keep file order, which is rank order); one list has a
single document, one has all scores equal; q08 is missing from C, q09 from B, q10 is only in
B and q11 only in A. ranx's `fuse` needs every run to hold the same queries, so each query is
fused over the runs that hold it (a run without the query contributes an empty list, which
is what simcal does): `ranx.fuse` where two or more runs hold it, ranx's own normalisation and
fusion functions where one does. Lists stay under 16 documents, where ranx's sorts keep tied
documents in insertion order (the script checks that it did).

Cases: every method (rrf, combsum = ranx "sum", combmnz = "mnz", max, wsum) × every
normalisation (minmax = "min-max", zscore = "zmuv", max, sum, rank, none); wsum with weights
0.5, 1.5, 1; RRF with k = 10; weighted RRF (ranx's RRF scores combined by its `wsum`).

    python tests/golden/make_fuse.py
"""
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ranx
from ranx import Run
from ranx.fusion import fusion_switch
from ranx.fusion.rrf import _rrf_score_parallel
from ranx.fusion.wsum import wsum
from ranx.normalization import norm_switch

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(11)

QUERIES = [f"q{i:02d}" for i in range(12)]
PRESENT = {  # which runs (0 = A, 1 = B, 2 = C) hold each query
    **{q: (0, 1, 2) for q in QUERIES[:8]},
    "q08": (0, 1), "q09": (0, 2), "q10": (1,), "q11": (0,),
}
METHODS = {"rrf": "rrf", "combsum": "sum", "combmnz": "mnz", "max": "max", "wsum": "wsum"}
NORMS = {"minmax": "min-max", "zscore": "zmuv", "max": "max", "sum": "sum", "rank": "rank", "none": None}
WEIGHTS = [0.5, 1.5, 1.0]


def lists():
    """Per run, per query: [(doc, score)] in file (= rank) order."""
    out = [{}, {}, {}]
    for qi, q in enumerate(QUERIES):
        pool = [f"d{qi:02d}{j:02d}" for j in range(12)]
        for r in PRESENT[q]:
            n = int(rng.integers(3, 7))
            docs = list(rng.choice(pool, size=n, replace=False))
            if r == 1:  # TREC: negative scores too, six decimals, some ties
                s = np.round(rng.uniform(-0.9, 2.0, n), 1 if qi % 3 == 0 else 6)
            else:  # tables: float32 values, ties from a coarse grid on some queries
                s = rng.uniform(0.1, 0.9, n)
                if qi % 2 == 0:
                    s = np.round(s * 4) / 4
                s = s.astype(np.float32).astype(np.float64)
            if q == "q03" and r == 2:
                s[:] = 0.5  # all equal
            if q == "q05" and r == 0:
                docs, s = docs[:1], s[:1]  # one document
            order = sorted(range(len(docs)), key=lambda i: -s[i])  # stable: ties keep generation order
            out[r][q] = [(str(docs[i]), float(s[i])) for i in order]
    return out


def labels_of(q, doc):
    h = (sum(map(ord, q + doc)) * 7) % 10
    return 2 if h == 0 else 1 if h < 3 else 0


def write_table(path, run, labeled):
    rows = [(q, d, rank + 1, s) for q in QUERIES if q in run for rank, (d, s) in enumerate(run[q])]
    cols = {
        "query_id": pa.array([r[0] for r in rows], pa.string()),
        "doc_id": pa.array([r[1] for r in rows], pa.string()),
        "rank": pa.array([r[2] for r in rows], pa.uint32()),
        "score": pa.array([r[3] for r in rows], pa.float32()),
        "label": pa.array([labels_of(r[0], r[1]) if labeled else None for r in rows], pa.int32()),
        "query_relevant": pa.array([3 if labeled else None for r in rows], pa.uint32()),
        "section": pa.array([f"s{int(r[0][1:]) % 3}" for r in rows], pa.string()),
    }
    meta = {"simcal.schema_version": "1", "simcal.version": "golden", "simcal.model": os.path.basename(path).split(".")[0],
            "simcal.metric": "cosine", "simcal.k": "6", "simcal.backend": "cpu", "simcal.queries_sha256": "q",
            "simcal.corpus_sha256": "c"}
    pq.write_table(pa.table(cols).replace_schema_metadata(meta), path)


def write_trec(path, run):
    with open(path, "w") as f:
        for q in QUERIES:
            for rank, (d, s) in enumerate(run.get(q, [])):
                f.write(f"{q} Q0 {d} {rank + 1} {s!r} bm25\n")


def ranx_run(lists_of_run, queries):
    run = Run.from_dict({q: dict(lists_of_run[q]) for q in queries})
    for q in queries:  # ranx's sort kept file order on ties
        assert list(run.run[q].keys()) == [d for d, _ in lists_of_run[q]], (q, list(run.run[q].keys()))
    return run


def fuse_group(runs, weights, method, norm, rrf_k, rrf_weights):
    if rrf_weights is not None:
        scored = []
        for run in runs:
            r = Run()
            r.run = _rrf_score_parallel(run.run, rrf_k)
            scored.append(r)
        return wsum(scored, rrf_weights)
    params = {"k": rrf_k} if method == "rrf" else {"weights": weights} if method == "wsum" else {}
    if len(runs) > 1:
        return ranx.fuse(runs=runs, norm=norm, method=method, params=params)
    normed = [norm_switch(norm)(runs[0]) if norm is not None else runs[0]]
    return fusion_switch(method)(normed, **params)


def main():
    data = lists()
    write_table(os.path.join(HERE, "fuse_a.parquet"), data[0], True)
    write_trec(os.path.join(HERE, "fuse_b.txt"), data[1])
    write_table(os.path.join(HERE, "fuse_c.parquet"), data[2], False)
    cases = []
    combos = [(m, n, 60, None, None) for m in METHODS for n in NORMS]
    combos += [("rrf", "none", 10, None, None), ("rrf", "none", 60, None, WEIGHTS)]
    for method, norm, rrf_k, _, rrf_weights in combos:
        fused = {}
        groups = sorted(set(PRESENT.values()))
        for g in groups:
            qs = [q for q in QUERIES if PRESENT[q] == g]
            runs = [ranx_run(data[r], qs) for r in g]
            w = [WEIGHTS[r] for r in g]
            rw = [rrf_weights[r] for r in g] if rrf_weights else None
            out = fuse_group(runs, w, METHODS[method], NORMS[norm], rrf_k, rw)
            for q in qs:
                items = list(out.run[q].items())
                assert len(items) < 16
                fused[q] = [[d, float(s)] for d, s in items]
        cases.append({
            "method": method, "norm": norm, "rrf_k": rrf_k,
            "weights": rrf_weights if rrf_weights else (WEIGHTS if method == "wsum" else None),
            "queries": fused,
        })
    labels = {q: {d: labels_of(q, d) for d, _ in data[0][q]} for q in data[0]}
    with open(os.path.join(HERE, "fuse_golden.json"), "w") as f:
        json.dump({"ranx": ranx.__version__ if hasattr(ranx, "__version__") else "0.3.21", "cases": cases, "labels_a": labels}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
