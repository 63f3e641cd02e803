"""Shared paths and fixtures of the Python tests: the repository's golden fixtures (the same
files the Rust tests check against) and the `simcal` binary for CLI parity."""
import os
import pathlib
import subprocess

import numpy as np
import pyarrow.parquet as pq
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"
DATA = REPO / "data"


def embeddings(path):
    """(ids, float32 matrix) of an embeddings parquet file (id, fixed-size list column)."""
    t = pq.read_table(path)
    emb = t.column("embedding").combine_chunks()
    d = emb.type.list_size
    return t.column("id").to_pylist(), emb.flatten().to_numpy().reshape(-1, d)


@pytest.fixture(scope="session")
def simcal_bin():
    """The CLI built by `cargo build --release` (CI builds it before the Python tests)."""
    path = pathlib.Path(os.environ.get("SIMCAL_BIN", REPO / "target" / "release" / "simcal"))
    assert path.exists(), f"{path} is missing: run `cargo build --release` first (or set SIMCAL_BIN)"
    return path


def score_sample(tmp_path_factory, simcal_bin, encoder):
    """The data/ sample's score table of `encoder`, as `simcal score` writes it (top 100, labeled)."""
    out = tmp_path_factory.mktemp(encoder) / f"{encoder}.parquet"
    subprocess.run([simcal_bin, "score", "--backend", "cpu", "-k", "100",
                    "--queries", DATA / f"{encoder}.queries.parquet", "--corpus", DATA / f"{encoder}.corpus.parquet",
                    "--qrels", DATA / "qrels.tsv", "--out", out], check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def minilm_table(tmp_path_factory, simcal_bin):
    return score_sample(tmp_path_factory, simcal_bin, "minilm")


@pytest.fixture(scope="session")
def lsa_table(tmp_path_factory, simcal_bin):
    return score_sample(tmp_path_factory, simcal_bin, "lsa")
