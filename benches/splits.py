"""How often a threshold misses its target on queries it has not seen (benches/splits.sh runs it).

Scores the data/ sample (minilm, top K), then SPLITS times: split the queries in half at random,
`simcal fit --folds 5 --confidence 0.9` on one half (units pair-iid, pair and query), and measure
on the other half the precision of what each threshold selects: pairs at or above it (pair units)
or queries whose top hit is at or above it (query unit). The estimate is simcal's threshold for
the target over pairs (pair units) or the same rule over the fitting half's top hits (query
unit). Then `simcal apply` of the query-unit calibration to the other half, once per target
(`--target`, `--certified-by global`): how many queries act and the precision of their top hits.
Prints, per target, the share of splits in which the estimate and the certified threshold fall
short of the target, the decisions' figures, and how close the held-out (cross-fitted) estimate of
the fitting half came to the other half's precision.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SIMCAL = "target/release/simcal"
DIR = "bench-data/splits"
K = int(os.environ.get("K", "20"))
SPLITS = int(os.environ.get("SPLITS", "200"))
ENC = os.environ.get("ENC", "minilm")
DATA = os.environ.get("DATA", "data")
TARGETS = [0.9, 0.8, 0.5]


def top_hit_estimate(score, relevant, target):
    """The threshold with the best recall whose precision over these units reaches the target
    (the highest among equals), as simcal's sweep picks it; None when none does."""
    order = np.argsort(-score, kind="stable")
    s, r = score[order], relevant[order]
    tp = np.cumsum(r)
    n = np.arange(1, len(s) + 1)
    # Only the last position of each run of equal scores is a threshold.
    last = np.append(s[1:] != s[:-1], True)
    ok = last & (tp / n >= target)
    if not ok.any():
        return None
    best = tp[ok].max()
    i = np.flatnonzero(ok & (tp == best))[0]
    return float(s[i])


def main():
    os.makedirs(DIR, exist_ok=True)
    table = f"{DIR}/{ENC}.parquet"
    subprocess.run([SIMCAL, "score", "--backend", "cpu", "-k", str(K), "--queries", f"{DATA}/{ENC}.queries.parquet",
                    "--corpus", f"{DATA}/{ENC}.corpus.parquet", "--qrels", f"{DATA}/qrels.tsv", "--out", table],
                   check=True, capture_output=True)
    t = pq.read_table(table)
    # simcal's key-value metadata (pyarrow keeps it out of the schema it reads back).
    meta = {k: v for k, v in pq.ParquetFile(table).metadata.metadata.items() if k != b"ARROW:schema"}
    qids = np.asarray(pc.unique(t.column("query_id")).to_pylist(), dtype=object)
    rng = np.random.default_rng(0)
    units = ("pair-iid", "pair", "query")
    miss = {(u, w, tg): 0 for u in units for w in ("estimate", "certified") for tg in TARGETS}
    none = {(u, tg): 0 for u in units for tg in TARGETS}
    acted = {tg: [] for tg in TARGETS}
    gap = {tg: [] for tg in TARGETS}
    for i in range(SPLITS):
        perm = rng.permutation(len(qids))
        a = set(qids[perm[: len(qids) // 2]])
        in_a = np.array([q in a for q in t.column("query_id").to_pylist()])
        ta, tb = t.filter(pa.array(in_a)), t.filter(pa.array(~in_a))
        pq.write_table(ta.replace_schema_metadata(meta), f"{DIR}/a.parquet")
        pq.write_table(tb.replace_schema_metadata(meta), f"{DIR}/b.parquet")
        sa = ta.column("score").to_numpy().astype(np.float64)
        ya = ta.column("label").to_numpy() >= 1
        ra = ta.column("rank").to_numpy() == 1
        sb = tb.column("score").to_numpy().astype(np.float64)
        yb = tb.column("label").to_numpy() >= 1
        rank1 = tb.column("rank").to_numpy() == 1
        for unit in units:
            out = f"{DIR}/cal-{unit}.json"
            subprocess.run([SIMCAL, "fit", "--scores", f"{DIR}/a.parquet", "--out", out, "--bootstrap", "0", "--confidence", "0.9",
                            "--unit", unit, "--target-precision", *map(str, TARGETS)], check=True, capture_output=True)
            art = json.load(open(out))
            for th in art["global"]["thresholds"]:
                tg = th["value"]
                sel = rank1 if unit == "query" else np.ones_like(yb, dtype=bool)
                estimate = th["score"] if unit != "query" else top_hit_estimate(sa[ra], ya[ra], tg)
                for what, score in (("estimate", estimate), ("certified", (th.get("certified") or {}).get("score"))):
                    if score is None:
                        if what == "certified":
                            none[(unit, tg)] += 1
                        continue
                    pick = sel & (sb >= score)
                    prec = yb[pick].mean() if pick.any() else 1.0
                    miss[(unit, what, tg)] += prec < tg
                    if unit == "pair-iid" and what == "estimate" and th.get("held_out") and th["held_out"]["precision"] is not None:
                        gap[tg].append(th["held_out"]["precision"] - prec)
        # The decisions apply makes on the other half from the query-unit calibration.
        top = dict(zip(tb.filter(pa.array(rank1)).column("query_id").to_pylist(), yb[rank1]))
        for tg in TARGETS:
            subprocess.run([SIMCAL, "apply", "--calibration", f"{DIR}/cal-query.json", "--scores", f"{DIR}/b.parquet",
                            "--out", f"{DIR}/applied.parquet", "--decisions", f"{DIR}/decisions.parquet", "--target", str(tg),
                            "--certified-by", "global"], check=True, capture_output=True)
            d = pq.read_table(f"{DIR}/decisions.parquet")
            acting = [q for q, dec in zip(d.column("query_id").to_pylist(), d.column("decision").to_pylist()) if dec == "act"]
            acted[tg].append((len(acting), sum(bool(top[q]) for q in acting)))
    print(f"{ENC}, top {K}, {len(qids)} queries, {SPLITS} random halves: fit on one half, precision measured on the other")
    for unit in units:
        for tg in TARGETS:
            e, c = miss[(unit, "estimate", tg)], miss[(unit, "certified", tg)]
            print(f"  unit {unit:5} target {tg}: estimate misses in {100 * e / SPLITS:5.1f}% of splits; certified (0.9) misses in "
                  f"{100 * c / SPLITS:5.1f}% (nothing certified in {100 * none[(unit, tg)] / SPLITS:.1f}%)")
    for tg in TARGETS:
        n = np.array([a for a, _ in acted[tg]])
        tp = np.array([b for _, b in acted[tg]])
        some = n > 0
        prec = tp[some] / n[some]
        print(f"  apply --target {tg} (query unit, global certificate) on the other half: {100 * some.mean():.1f}% of splits act; "
              f"acting queries median {int(np.median(n))} of {len(qids) - len(qids) // 2}, their top-hit precision pooled "
              f"{tp.sum() / max(n.sum(), 1):.4f} (median {np.median(prec) if some.any() else float('nan'):.4f}); "
              f"below {tg} in {100 * (prec < tg).sum() / SPLITS:.1f}% of splits")
    for tg in TARGETS:
        g = np.asarray(gap[tg])
        print(f"  held-out precision of the fitting half minus the other half's (pairs, {tg}): median {np.median(g):+.4f}, "
              f"mean |gap| {np.abs(g).mean():.4f}")


if __name__ == "__main__":
    sys.exit(main())
