"""docs/artifact.schema.json describes the artifacts simcal writes: each kind of fit the CLI makes
(global, by group, certified at each unit and by each rule, from histograms, from the nightly
job) validates, and a document that breaks it is caught. (conftest.py also validates every
artifact the whole suite writes, after the session.)"""
import json
import subprocess

import pytest

from conftest import DATA, artifact_errors, is_artifact

FITS = {
    "global": [],
    "certified": ["--confidence", "0.9", "--target-precision", "0.8", "0.9", "--target-recall", "0.5"],
    "by group": ["--group-by", "section", "--min-pairs", "200", "--confidence", "0.9", "--certified-by", "global"],
    "pair unit": ["--confidence", "0.9", "--unit", "pair"],
    "platt only": ["--method", "platt", "--folds", "1"],
}


@pytest.mark.parametrize("name", FITS)
def test_each_kind_of_fit_meets_the_schema(tmp_path, simcal_bin, minilm_table, name):
    out = tmp_path / "c.json"
    subprocess.run([simcal_bin, "fit", "--scores", minilm_table, "--out", out, "--bootstrap", "50", *FITS[name]],
                   check=True, capture_output=True)
    doc = json.loads(out.read_text())
    assert artifact_errors(doc) == []


def test_a_fit_from_histograms_and_the_nightly_jobs_meet_the_schema(tmp_path, simcal_bin, minilm_table):
    hist = tmp_path / "h.json"
    subprocess.run([simcal_bin, "hist", "--scores", minilm_table, "--out", hist], check=True, capture_output=True)
    out = tmp_path / "from-hist.json"
    subprocess.run([simcal_bin, "fit", "--from-histograms", hist, "--out", out], check=True, capture_output=True)
    assert artifact_errors(json.loads(out.read_text())) == []
    run = tmp_path / "run"
    subprocess.run([simcal_bin, "run", "--data", DATA, "--out", run, "--backend", "cpu"], check=True, capture_output=True)
    written = [p for p in run.rglob("*.json") if is_artifact(json.loads(p.read_text()))]
    assert written
    for p in written:
        assert artifact_errors(json.loads(p.read_text())) == [], p


def test_a_broken_artifact_is_caught(tmp_path, simcal_bin, minilm_table):
    out = tmp_path / "c.json"
    subprocess.run([simcal_bin, "fit", "--scores", minilm_table, "--out", out, "--bootstrap", "0"], check=True,
                   capture_output=True)
    doc = json.loads(out.read_text())
    for breaks in (lambda d: d.pop("global"), lambda d: d.__setitem__("abstain", {"low": "0.2", "high": 0.8}),
                   lambda d: d["global"].__setitem__("isotonic", {"x": [0.1]}),
                   lambda d: d.__setitem__("methods", ["logistic"]), lambda d: d.__setitem__("schema_version", 2),
                   lambda d: d["abstain"].__setitem__("high", 1.5),
                   lambda d: d["global"]["isotonic"]["y"].__setitem__(0, 1.2)):
        broken = json.loads(json.dumps(doc))
        breaks(broken)
        assert artifact_errors(broken), breaks
