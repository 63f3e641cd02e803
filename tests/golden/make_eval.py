"""Golden evaluation values for tests/eval.rs, computed by the references (docs/architecture.md §6).

Ranking: a score table (eval_run.parquet) and qrels (eval_qrels.txt) with score ties (trec_eval
breaks them by doc id descending), graded labels, judged-negative documents, unjudged retrieved
documents, a judged query without relevant documents, a judged query missing from the run and a
retrieved query without judgements; pytrec_eval's per-query values for every measure, at
relevance levels 1 and 2, and the means over judged retrieved queries and over all judged
queries (trec_eval -c).

Probabilities: pairs of (probability, label) including probabilities exactly on bin edges, 0
and 1, and scores with ties; scikit-learn's calibration_curve (uniform and quantile),
roc_auc_score, average_precision_score, brier_score_loss and log_loss, scipy's ks_2samp, and
netcal's ECE and MCE.

    python tests/golden/make_eval.py
"""
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytrec_eval
from scipy.stats import ks_2samp
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from netcal.metrics import ECE, MCE

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(5)

MEASURES = ["ndcg_cut.3", "ndcg_cut.10", "recall.5", "recall.20", "P.5", "P.10", "success.1", "success.5", "recip_rank", "map"]


def ranking_fixture():
    queries = [f"q{i}" for i in range(40)]
    docs = [f"d{i:03d}" for i in range(300)]
    run, qrels = {}, {}
    rows = []
    for qi, q in enumerate(queries):
        n = int(rng.integers(5, 30))
        ds = rng.choice(docs, size=n, replace=False)
        # Scores on a coarse grid: many ties.
        sc = np.round(rng.uniform(0, 1, size=n) * 8) / 8
        sc = sc.astype(np.float32)
        if qi != 7:  # q7: retrieved, never judged
            judged = {}
            for d in rng.choice(docs, size=25, replace=False):
                judged[str(d)] = int(rng.choice([-1, 0, 0, 1, 2, 3]))
            # Some retrieved documents judged too.
            for d in ds[: n // 2]:
                judged[str(d)] = int(rng.choice([-1, 0, 1, 1, 2, 3]))
            if qi == 3:  # judged, nothing relevant
                judged = {d: min(r, 0) for d, r in judged.items()}
            qrels[q] = judged
        if qi == 11:  # judged but not retrieved
            continue
        run[q] = {str(d): float(s) for d, s in zip(ds, sc)}
        for r, (d, s) in enumerate(sorted(zip(ds, sc), key=lambda x: -x[1])):
            rows.append((q, str(d), r + 1, s))
    return run, qrels, rows


def write_run(rows, qrels):
    t = pa.table({
        "query_id": pa.array([r[0] for r in rows]),
        "doc_id": pa.array([r[1] for r in rows]),
        "rank": pa.array([r[2] for r in rows], pa.uint32()),
        "score": pa.array([r[3] for r in rows], pa.float32()),
        "label": pa.array([qrels.get(r[0], {}).get(r[1], 0) if r[0] in qrels else None for r in rows], pa.int32()),
        "query_relevant": pa.array([sum(v >= 1 for v in qrels[r[0]].values()) if r[0] in qrels else None for r in rows], pa.uint32()),
    })
    meta = {"simcal.schema_version": "1", "simcal.version": "golden", "simcal.model": "golden", "simcal.metric": "cosine",
            "simcal.k": "30", "simcal.backend": "cpu", "simcal.queries_sha256": "", "simcal.corpus_sha256": ""}
    pq.write_table(t.replace_schema_metadata(meta), os.path.join(HERE, "eval_run.parquet"))
    with open(os.path.join(HERE, "eval_qrels.txt"), "w") as f:
        for q, judged in qrels.items():
            for d, r in sorted(judged.items()):
                f.write(f"{q} 0 {d} {r}\n")


def trec(run, qrels, level):
    ev = pytrec_eval.RelevanceEvaluator(qrels, set(MEASURES), relevance_level=level)
    per = ev.evaluate(run)
    names = sorted({k for v in per.values() for k in v})
    mean = {m: float(np.mean([per[q][m] for q in per])) for m in names}
    complete = {m: float(sum(per[q][m] for q in per) / len(qrels)) for m in names}
    return {"per_query": per, "mean": mean, "complete": complete, "queries": len(per)}


def probabilities():
    n = 3000
    y = (rng.uniform(size=n) < 0.3).astype(int)
    p = np.clip(np.where(y == 1, rng.beta(4, 2, n), rng.beta(2, 4, n)), 0, 1)
    # Exact edges, 0 and 1, and repeats.
    p[:40] = np.repeat([0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0], 5)
    p[40:200] = np.round(p[40:200] * 20) / 20
    s = np.round(rng.normal(0.5 + 0.2 * y, 0.15) * 64).astype(np.float32) / np.float32(64)
    out = {"prob": p.tolist(), "label": y.tolist(), "score": s.astype(float).tolist(), "curves": {}}
    for strategy in ["uniform", "quantile"]:
        for bins in [10, 7]:
            t, pr = calibration_curve(y, p, n_bins=bins, strategy=strategy)
            out["curves"][f"{strategy}-{bins}"] = {"observed": t.tolist(), "predicted": pr.tolist()}
    out["roc_auc"] = float(roc_auc_score(y, s))
    out["average_precision"] = float(average_precision_score(y, s))
    out["ks"] = float(ks_2samp(s[y == 1], s[y == 0]).statistic)
    out["brier"] = float(brier_score_loss(y, p))
    out["log_loss"] = float(log_loss(y, p))
    for bins in [10, 15]:
        out[f"ece-{bins}"] = float(ECE(bins=bins).measure(p, y))
        out[f"mce-{bins}"] = float(MCE(bins=bins).measure(p, y))
    return out


def main():
    run, qrels, rows = ranking_fixture()
    write_run(rows, qrels)
    golden = {
        "pytrec_eval": pytrec_eval.__version__ if hasattr(pytrec_eval, "__version__") else "pytrec_eval-terrier",
        "level1": trec(run, qrels, 1),
        "level2": trec(run, qrels, 2),
        "judged_queries": len(qrels),
        "probabilities": probabilities(),
    }
    with open(os.path.join(HERE, "eval_golden.json"), "w") as f:
        json.dump(golden, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
