"""Shared paths and fixtures of the Python tests: the repository's golden fixtures (the same
files the Rust tests check against) and the `simcal` binary for CLI parity."""
import json
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


SCHEMA = REPO / "docs" / "artifact.schema.json"
# Every artifact a test made in memory (simcal.fit, Calibration(...)), as its JSON text.
_ARTIFACTS: list[str] = []


def is_artifact(doc):
    """Whether a JSON document is a calibration artifact (not an eval or run summary)."""
    return isinstance(doc, dict) and {"schema_version", "global", "abstain", "methods"} <= doc.keys()


def artifact_errors(doc):
    """What is wrong with an artifact document against docs/artifact.schema.json (empty: nothing)."""
    import jsonschema  # scripts/test installs it

    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


@pytest.fixture(scope="session", autouse=True)
def every_artifact_meets_the_schema(tmp_path_factory):
    """After the session: every calibration artifact the tests wrote (files under the session's
    temporary folders, and the ones made in memory) validates against the published schema."""
    import simcal

    init = simcal.Calibration.__init__

    def recording_init(self, artifact_json):
        _ARTIFACTS.append(artifact_json)
        init(self, artifact_json)

    simcal.Calibration.__init__ = recording_init
    yield
    simcal.Calibration.__init__ = init
    docs = [(f"in memory #{i}", json.loads(t)) for i, t in enumerate(_ARTIFACTS)]
    for path in sorted(tmp_path_factory.getbasetemp().rglob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            continue
        if is_artifact(doc):
            docs.append((str(path), doc))
    bad = [(name, errs) for name, doc in docs if (errs := artifact_errors(doc))]
    assert docs, "no artifact was written"
    assert not bad, f"{len(bad)} of {len(docs)} artifacts do not meet {SCHEMA}: {bad[:3]}"
