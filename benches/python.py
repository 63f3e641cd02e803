"""The simcal Python package against its peers, in one process on the same numpy arrays and dicts
(benches/python.sh builds the wheel and runs it). Times are in process (no interpreter start),
medians of ROUNDS, each peer called as its users call it:

  - topk: simcal.topk(q, c, k, backend="cpu") against faiss: normalize_L2 of copies, an
    IndexFlatIP, add, search (and search alone). Agreement: share of equal top-1 rows.
  - calibrators: IsotonicCalibrator + PlattCalibrator fits on CAL pairs against scikit-learn's
    IsotonicRegression(out_of_bounds="clip") and LogisticRegression(C=inf, newton-cholesky).
  - fuse: simcal.fuse(runs, "rrf") against ranx.fuse(runs, method="rrf") on ranx Runs built
    beforehand, after a first call (warm: numba compiled); simcal on the same dicts (dicts out)
    and on Arrow tables built beforehand from them (a table out), as ranx reads its Runs.
  - evaluate: simcal.evaluate(run, qrels, measures) against
    pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run) on the same prebuilt dicts, and
    simcal.evaluate(table, qrels_file) against pytrec_eval building its dicts from the same table
    and file.

    ROUNDS=3 TOPK=2048x100000x768 CAL=10000000 EVAL=10000 benches/python.sh
"""
import os
import statistics
import time

import numpy as np

import simcal

ROUNDS = int(os.environ.get("ROUNDS", 3))
TOPK = tuple(int(x) for x in os.environ.get("TOPK", "2048x100000x768").split("x"))
CAL = int(os.environ.get("CAL", 10_000_000))
EVAL = int(os.environ.get("EVAL", 10_000))
rng = np.random.default_rng(0)


def timed(f, rounds=ROUNDS):
    times, out = [], None
    for _ in range(rounds):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def bench_topk():
    import faiss

    nq, nc, d = TOPK
    q = rng.standard_normal((nq, d), dtype=np.float32)
    c = rng.standard_normal((nc, d), dtype=np.float32)
    k = 100

    def with_faiss():
        qn, cn = q.copy(), c.copy()
        faiss.normalize_L2(qn)
        faiss.normalize_L2(cn)
        index = faiss.IndexFlatIP(d)
        index.add(cn)
        return index.search(qn, k)

    qn, cn = q.copy(), c.copy()
    faiss.normalize_L2(qn)
    faiss.normalize_L2(cn)
    index = faiss.IndexFlatIP(d)
    index.add(cn)
    s_time, (s, r) = timed(lambda: simcal.topk(q, c, k=k, backend="cpu"))
    f_time, (fs, fr) = timed(with_faiss)
    search_time, _ = timed(lambda: index.search(qn, k))
    # The same work as that search: inner products of the arrays faiss was given, normalised.
    ip_time, _ = timed(lambda: simcal.topk(qn, cn, k=k, metric="dot", backend="cpu"))
    gflop = 2 * nq * nc * d / 1e9
    print(f"topk {nq} x {nc:,} x {d}, k={k} ({gflop:.0f} GFLOP), faiss {faiss.__version__} with {faiss.omp_get_max_threads()} threads")
    print(f"  simcal.topk                {s_time:7.3f} s  {gflop / s_time:6.1f} GFLOP/s")
    print(f"  faiss normalise+add+search {f_time:7.3f} s  ratio ×{f_time / s_time:.2f}")
    print(f"  faiss search alone         {search_time:7.3f} s  ratio ×{search_time / s_time:.2f}")
    print(f"  simcal.topk dot, normalised{ip_time:7.3f} s  {gflop / ip_time:6.1f} GFLOP/s; "
          f"faiss search alone ratio ×{search_time / ip_time:.2f}")
    print(f"  same top-1 row: {np.mean(r[:, 0] == fr[:, 0]):.4f}; max |score diff| at rank 1: {np.abs(s[:, 0] - fs[:, 0]).max():.2e}")


def bench_calibrators():
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    y = rng.random(CAL) < 0.1
    s = (rng.normal(0.45, 0.1, CAL) + 0.15 * y).astype(np.float32)
    s64 = s.astype(np.float64)

    def ours():
        return simcal.IsotonicCalibrator().fit(s, y), simcal.PlattCalibrator().fit(s, y)

    def theirs():
        iso = IsotonicRegression(out_of_bounds="clip").fit(s64, y)
        lr = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(s64.reshape(-1, 1), y)
        return iso, lr

    o_time, (iso, platt) = timed(ours)
    t_time, (siso, lr) = timed(theirs, rounds=max(1, ROUNDS - 1))
    grid = np.linspace(s.min(), s.max(), 101)
    print(f"isotonic + Platt on {CAL:,} pairs")
    print(f"  simcal       {o_time:7.3f} s")
    print(f"  scikit-learn {t_time:7.3f} s  ratio ×{t_time / o_time:.1f}")
    print(f"  isotonic max |diff| on 101 points {np.abs(iso.predict(grid) - siso.predict(grid)).max():.1e}; "
          f"Platt a {platt.a_:.9f} vs {-lr.coef_[0, 0]:.9f}, b {platt.b_:.9f} vs {-lr.intercept_[0]:.9f}")


def bench_evaluate():
    import pyarrow as pa
    import pytrec_eval

    docs = [f"d{i}" for i in range(50_000)]
    run, qrels = {}, {}
    rows = {"query_id": [], "doc_id": [], "score": []}
    for i in range(EVAL):
        q = f"q{i}"
        ids = rng.choice(len(docs), 150, replace=False)
        sc = rng.random(100).astype(np.float32)
        run[q] = {docs[j]: float(v) for j, v in zip(ids[:100], sc)}
        qrels[q] = {docs[j]: int(rng.integers(0, 3)) for j in ids[rng.choice(150, 20, replace=False)]}
        rows["query_id"] += [q] * 100
        rows["doc_id"] += [docs[j] for j in ids[:100]]
        rows["score"] += sc.tolist()
    table = pa.table({"query_id": rows["query_id"], "doc_id": rows["doc_id"], "score": pa.array(rows["score"], pa.float32())})
    qrels_path = "bench-data/python-bench.qrels"
    with open(qrels_path, "w") as f:
        for q, judged in qrels.items():
            for d, r in judged.items():
                f.write(f"{q} 0 {d} {r}\n")
    measures = {"ndcg_cut.10", "recall.100", "P.10", "recip_rank", "map"}

    def pytrec_from_table():
        cols = table.to_pydict()
        r = {}
        for q, d, v in zip(cols["query_id"], cols["doc_id"], cols["score"]):
            r.setdefault(q, {})[d] = v
        j = {}
        with open(qrels_path) as f:
            for line in f:
                q, _, d, rel = line.split()
                j.setdefault(q, {})[d] = int(rel)
        return pytrec_eval.RelevanceEvaluator(j, measures).evaluate(r)

    o_time, ours = timed(lambda: simcal.evaluate(run, qrels, measures))
    t_time, theirs = timed(lambda: pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run))
    ot_time, ours_t = timed(lambda: simcal.evaluate(table, qrels_path, measures))
    tt_time, _ = timed(pytrec_from_table)
    diff = max(max(abs(ours[q][m] - v), abs(ours_t[q][m] - v)) for q, vals in theirs.items() for m, v in vals.items())
    print(f"evaluate on {EVAL:,} queries x 100")
    print(f"  the same prebuilt dicts:   simcal {o_time:6.3f} s, pytrec_eval {t_time:6.3f} s  ratio ×{t_time / o_time:.1f}")
    print(f"  from a table and a qrels file (pytrec_eval builds its dicts): simcal {ot_time:6.3f} s, "
          f"pytrec_eval {tt_time:6.3f} s  ratio ×{tt_time / ot_time:.1f}")
    print(f"  max |diff| {diff:.1e} over {len(theirs):,} queries")


def bench_fuse():
    from ranx import Run, fuse

    docs = [f"d{i}" for i in range(50_000)]
    runs = []
    for _ in range(3):
        run = {}
        for i in range(EVAL):
            ids = rng.choice(len(docs), 100, replace=False)
            run[f"q{i}"] = {docs[j]: float(v) for j, v in zip(ids, rng.random(100))}
        runs.append(run)
    ranx_runs = [Run(r) for r in runs]
    fuse(ranx_runs, method="rrf")  # numba compiles on the first call: ranx warm
    # Each tool's own prebuilt form of the same runs: ranx's Runs, simcal's Arrow tables.
    import pyarrow as pa

    def table_of(run):
        q = [qq for qq, docs in run.items() for _ in docs]
        d = [dd for docs in run.values() for dd in docs]
        s = [v for docs in run.values() for v in docs.values()]
        return pa.table({"query_id": q, "doc_id": d, "score": pa.array(s, pa.float64())})

    tables = [table_of(r) for r in runs]
    o_time, ours = timed(lambda: simcal.fuse(runs, method="rrf", k=300))
    ot_time, ours_t = timed(lambda: simcal.fuse(tables, method="rrf", k=300))
    t_time, theirs = timed(lambda: fuse(ranx_runs, method="rrf"))
    theirs = theirs.to_dict()
    diff = max(abs(ours[q][d] - v) for q, vals in theirs.items() for d, v in vals.items())
    rows = ours_t.to_pydict()
    diff_t = max(abs(s - theirs[q][d]) for q, d, s in zip(rows["query_id"], rows["doc_id"], rows["score"]))
    print(f"RRF of 3 runs, {EVAL:,} queries x 100 (ranx's Runs built beforehand, warm)")
    print(f"  simcal.fuse, dicts in and out    {o_time:7.3f} s  ratio ×{t_time / o_time:.1f}; max |diff| {diff:.1e}")
    print(f"  simcal.fuse, Arrow tables in/out {ot_time:7.3f} s  ratio ×{t_time / ot_time:.1f}; "
          f"max |diff| {diff_t:.1e} (float32 scores)")
    print(f"  ranx.fuse, Runs in and out       {t_time:7.3f} s")


if __name__ == "__main__":
    print(f"simcal {simcal.__version__}, {ROUNDS} rounds, in process")
    bench_evaluate()
    bench_fuse()
    bench_calibrators()
    bench_topk()
