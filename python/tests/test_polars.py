"""Polars DataFrames are taken wherever pyarrow and pandas tables are: fit (with qrels), apply,
evaluate, ann_recall, drift, with the numbers of the same table in pyarrow."""
import os
import warnings

import pyarrow.parquet as pq
import pytest

import simcal
from conftest import DATA

try:
    import polars as pl
except ImportError:  # scripts/test installs it: in CI (CI set) its absence fails the suite
    pl = None


@pytest.mark.skipif(pl is None and not os.environ.get("CI"), reason="polars is not installed (scripts/test installs it)")
def test_polars_frames_give_the_pyarrow_tables_numbers(minilm_table):
    table = pq.read_table(minilm_table)
    frame = pl.from_arrow(table)
    hits = frame.select("query_id", "doc_id", "rank", "score", "section")  # no labels: from the qrels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", simcal.SimcalWarning)
        a = simcal.fit(hits, qrels=DATA / "qrels.tsv", bootstrap=0, confidence=0.9, target_precision=0.8)
        b = simcal.fit(table, bootstrap=0, confidence=0.9, target_precision=0.8)
        assert a.to_dict()["global"]["thresholds"] == b.to_dict()["global"]["thresholds"]
        # Polars keeps no schema metadata: the frame names no model, so apply is forced.
        rows_a, dec_a = b.apply(frame, force=True)
        rows_b, dec_b = b.apply(table)
    assert dec_a.equals(dec_b) and rows_a.column("probability").equals(rows_b.column("probability"))
    assert simcal.evaluate(frame, measures=["ndcg_cut.10"]) == simcal.evaluate(table, measures=["ndcg_cut.10"])
    r = simcal.ann_recall(hits.filter(pl.col("rank") != 2), table)
    assert r["mean"]["recall@1"] == 1.0 and abs(r["mean"]["recall@10"] - 0.9) < 1e-12
    assert simcal.drift(b, frame)["drifted"] == simcal.drift(b, table)["drifted"]
