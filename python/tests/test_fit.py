"""simcal.fit and Calibration: the CLI's numbers from a table in memory, the artifact the CLI
reads and writes, apply, and bad input."""
import json
import subprocess

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import simcal


def without_provenance(doc):
    doc = dict(doc)
    for k in ("created", "scores_sha256", "simcal_version"):
        doc.pop(k, None)
    return doc


def test_fit_in_memory_gives_the_clis_calibration(tmp_path, simcal_bin, minilm_table):
    art = tmp_path / "cli.json"
    subprocess.run([simcal_bin, "fit", "--scores", minilm_table, "--out", art, "--bootstrap", "200",
                    "--target-precision", "0.8", "0.9", "--confidence", "0.9"], check=True, capture_output=True)
    cli = json.loads(art.read_text())
    table = pq.read_table(minilm_table)
    cal = simcal.fit(table, target_precision=[0.8, 0.9], bootstrap=200, confidence=0.9)
    assert without_provenance(cal.to_dict()) == without_provenance(cli)
    # From the path, the file's hash is recorded as the CLI records it.
    by_path = simcal.fit(str(minilm_table), target_precision=[0.8, 0.9], bootstrap=200, confidence=0.9)
    assert by_path.to_dict()["scores_sha256"] == cli["scores_sha256"] != ""
    t = cal.thresholds
    assert t.num_rows == 2 and t.column("target").to_pylist() == ["precision", "precision"]
    held = t.column("held_out_precision").to_pylist()
    assert all(0 < h <= 1 for h in held)
    assert t.column("certified_threshold").to_pylist()[0] is not None


def test_artifacts_round_trip_with_the_cli(tmp_path, simcal_bin, minilm_table):
    cal = simcal.fit(pq.read_table(minilm_table), bootstrap=0)
    path = tmp_path / "py.json"
    cal.save(path)
    assert simcal.Calibration.load(path).to_dict() == cal.to_dict()
    # The CLI applies what Python saved, and Python applies it the same way.
    out, dec = tmp_path / "applied.parquet", tmp_path / "decisions.parquet"
    subprocess.run([simcal_bin, "apply", "--calibration", path, "--scores", minilm_table, "--out", out,
                    "--decisions", dec], check=True, capture_output=True)
    rows, decisions = cal.apply(pq.read_table(minilm_table))
    cli_rows = pq.read_table(out)
    np.testing.assert_array_equal(rows.column("probability").to_numpy(), cli_rows.column("probability").to_numpy())
    assert decisions.column("decision").to_pylist() == pq.read_table(dec).column("decision").to_pylist()


def test_a_pandas_frame_and_a_foreign_table_are_read(minilm_table):
    df = pq.read_table(minilm_table).to_pandas()
    a = simcal.fit(df, bootstrap=0).to_dict()
    # Another tool's table: no simcal metadata, float64 scores, no rank.
    plain = pa.table({"query_id": df["query_id"], "doc_id": df["doc_id"], "score": df["score"].astype("float64"),
                      "label": df["label"]})
    b = simcal.fit(plain, bootstrap=0).to_dict()
    assert a["global"]["thresholds"] == b["global"]["thresholds"]


def test_bad_input_is_refused_naming_it(tmp_path, minilm_table):
    t = pq.read_table(minilm_table)
    with pytest.raises(simcal.SimcalError, match="target precision 1.5"):
        simcal.fit(t, target_precision=1.5, bootstrap=0)
    with pytest.raises(simcal.SimcalError, match="method"):
        simcal.fit(t, method="svm")
    with pytest.raises(simcal.SimcalError, match="table: expected"):
        simcal.fit(42)
    with pytest.raises(simcal.SimcalError, match="no labels"):
        simcal.fit(t.drop(["label"]), bootstrap=0)
    with pytest.raises(simcal.SimcalError, match="no score column"):
        simcal.fit(t.drop(["score"]), bootstrap=0)
    with pytest.raises(simcal.SimcalError, match="nope.parquet"):
        simcal.fit(str(tmp_path / "nope.parquet"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 999}')
    with pytest.raises(simcal.SimcalError, match="schema version 999"):
        simcal.Calibration.load(bad)
    with pytest.raises(simcal.SimcalError, match="decide_on"):
        simcal.fit(t, bootstrap=0).apply(t, decide_on="vote")


@pytest.mark.parametrize("codec", ["none", "snappy", "gzip", "brotli", "zstd", "lz4"])
def test_every_codec_pyarrow_writes_is_read(tmp_path, simcal_bin, minilm_table, codec):
    # The same table under each codec pyarrow offers gives the same calibration.
    table = pq.read_table(minilm_table)
    path = tmp_path / f"{codec}.parquet"
    pq.write_table(table, path, compression=codec)
    plain = simcal.fit(str(minilm_table), bootstrap=0).to_dict()
    other = simcal.fit(str(path), bootstrap=0).to_dict()
    assert without_provenance(other) == without_provenance(plain)
    r = subprocess.run([simcal_bin, "fit", "--scores", path, "--out", tmp_path / "c.json", "--bootstrap", "0"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_apply_issues_the_clis_warnings_as_python_warnings(minilm_table):
    table = pq.read_table(minilm_table)
    cal = simcal.fit(table, bootstrap=0)
    # Nothing certified: the decisions rest on the estimate, as the CLI warns.
    with pytest.warns(simcal.SimcalWarning, match="no certified thresholds"):
        cal.apply(table)


def test_the_calibrations_hash_is_the_clis_for_the_same_calibration(tmp_path, simcal_bin, minilm_table):
    key = b"simcal.calibration_sha256"
    table = pq.read_table(minilm_table)
    # Fitted in memory: hashed as the file it is saved as.
    cal = simcal.fit(table, bootstrap=0)
    path = tmp_path / "c.json"
    cal.save(path)
    out = tmp_path / "applied.parquet"
    subprocess.run([simcal_bin, "apply", "--calibration", path, "--scores", minilm_table, "--out", out],
                   check=True, capture_output=True)
    cli = pq.read_schema(out).metadata[key]
    assert cal.apply(table)[0].schema.metadata[key] == cli
    # Loaded from a file the CLI wrote (and one edited by hand: other spacing): the file's hash.
    subprocess.run([simcal_bin, "fit", "--scores", minilm_table, "--bootstrap", "0", "--out", path],
                   check=True, capture_output=True)
    path.write_text(json.dumps(json.loads(path.read_text())))
    subprocess.run([simcal_bin, "apply", "--calibration", path, "--scores", minilm_table, "--out", out],
                   check=True, capture_output=True)
    cli = pq.read_schema(out).metadata[key]
    import hashlib
    assert cli == hashlib.sha256(path.read_bytes()).hexdigest().encode()
    assert simcal.Calibration.load(path).apply(table)[0].schema.metadata[key] == cli
    # With a byte-order mark (which the reader skips): still the file's hash.
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    subprocess.run([simcal_bin, "apply", "--calibration", path, "--scores", minilm_table, "--out", out],
                   check=True, capture_output=True)
    cli = pq.read_schema(out).metadata[key]
    assert cli == hashlib.sha256(path.read_bytes()).hexdigest().encode()
    assert simcal.Calibration.load(path).apply(table)[0].schema.metadata[key] == cli
