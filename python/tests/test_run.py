"""simcal.run: the nightly job from Python, checked against `simcal run`; the drift gate,
promote, bad arguments, and Ctrl-C during a job that reads files."""
import json
import os
import signal
import subprocess
import threading
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

import simcal
from conftest import DATA


def config(tmp_path, name, files, baseline=None):
    """A config scoring encoder `name` from the sample's `files` vectors, gated when `baseline`."""
    text = (f'out = "out"\nqrels = "{DATA / "qrels.tsv"}"\nk = 50\nbackend = "cpu"\ngroup_by = ["section"]\n\n'
            f'[[encoder]]\nname = "{name}"\nqueries = "{DATA / f"{files}.queries.parquet"}"\n'
            f'corpus = "{DATA / f"{files}.corpus.parquet"}"\n')
    if baseline is not None:
        text += f'\n[drift]\nbaseline = "{baseline}"\nmax_ks = 0.1\n'
    path = tmp_path / f"{name}-{files}.toml"
    path.write_text(text)
    return path


def test_run_on_the_sample_is_the_clis(tmp_path, simcal_bin):
    cli_out, py_out = tmp_path / "cli", tmp_path / "py"
    p = subprocess.run([simcal_bin, "run", "--json", "--backend", "cpu", "--data", DATA, "--out", cli_out],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    cli = json.loads(p.stdout)
    with pytest.warns(UserWarning, match="nothing was certified"):
        py = simcal.run(data=DATA, out=py_out, backend="cpu")
    assert py == json.loads((py_out / "run.json").read_text())
    assert [s["step"] for s in py["steps"]] == [s["step"] for s in cli["steps"]]
    assert [s["step"] for s in py["steps"]] == ["score", "fit", "apply", "eval"] * 2 + ["report"]
    names = [os.path.basename(o["path"]) for o in py["outputs"]]
    assert names == [os.path.basename(o["path"]) for o in cli["outputs"]]
    # The same tables, decisions and evaluations: the score tables are byte for byte the CLI's.
    for c, p_ in zip(cli["outputs"], py["outputs"]):
        if c["path"].endswith(".scores.parquet"):
            assert c["sha256"] == p_["sha256"], c["path"]
    for c, p_ in zip(cli["steps"], py["steps"]):
        if c["step"] == "apply":
            assert c["decisions"] == p_["decisions"]
        if c["step"] == "eval":
            assert c["ranking"] == p_["ranking"]
        if c["step"] == "fit":
            assert c["summary"]["global"]["thresholds"] == p_["summary"]["global"]["thresholds"]
    assert pq.read_table(py_out / "minilm.calibrated.parquet").num_rows == 300 * 100


@pytest.mark.filterwarnings("ignore:apply minilm")
def test_the_drift_gate_and_promote(tmp_path):
    base = tmp_path / "baseline"
    same = config(tmp_path, "minilm", "minilm", base)
    # A first night without a baseline must be allowed explicitly.
    with pytest.raises(simcal.SimcalError, match="no baseline calibration for encoder minilm.*allow_missing_baseline"):
        simcal.run(same)
    with pytest.warns(UserWarning, match="not gated tonight"):
        first = simcal.run(same, allow_missing_baseline=True)
    assert first["promoted"] == ["minilm"] and first["drifted"] == []
    cal = tmp_path / "out" / "minilm.calibration.json"
    assert (base / "minilm.calibration.json").read_bytes() == cal.read_bytes()
    good = cal.read_bytes()
    # "minilm" served by another model's vectors: the gate trips; the baseline is kept.
    other = config(tmp_path, "minilm", "lsa", base)
    night = simcal.run(other)
    assert night["drifted"] == ["minilm"] and night["promoted"] == []
    drift = [s for s in night["steps"] if s["step"] == "drift"]
    assert len(drift) == 1 and drift[0]["drifted"] and drift[0]["violations"]
    assert (base / "minilm.calibration.json").read_bytes() == good
    # Until a person promotes it.
    assert simcal.promote(other, "minilm") == str(base / "minilm.calibration.json")
    assert (base / "minilm.calibration.json").read_bytes() == cal.read_bytes() != good
    assert simcal.run(other)["drifted"] == []
    with pytest.raises(simcal.SimcalError, match="no such encoder in the config"):
        simcal.promote(other, "nosuch")


@pytest.mark.parametrize("args, kwargs, words", [
    (("nope.toml",), {}, ["nope.toml", "No such file"]),
    ((), {"data": "/nonexistent"}, ["/nonexistent", "no sample here"]),
    (("x.toml",), {"data": "data"}, ["data", "for a run without a config"]),
    ((), {"k": 0}, ["k", "positive integer"]),
    ((), {"seed": -1}, ["seed"]),
    ((), {"backend": "tpu"}, ["tpu"]),
    ((3,), {}, ["config", "expected a path"]),
])
def test_bad_arguments_are_refused_by_name(tmp_path, args, kwargs, words):
    with pytest.raises(simcal.SimcalError) as e:
        simcal.run(*args, out=tmp_path / "out", **kwargs)
    for w in words:
        assert w in str(e.value), (w, str(e.value))
    assert not (tmp_path / "out" / "run.json").exists()


def test_a_bad_config_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('qrels = "q"\ncolour = 1\n[[encoder]]\nname = "a"\nqueries = "q"\ncorpus = "c"\n')
    with pytest.raises(simcal.SimcalError, match="(?s)bad.toml.*unknown field 'colour'"):
        simcal.run(path)


def test_ctrl_c_interrupts_scoring_files(tmp_path):
    rng = np.random.default_rng(5)
    np.save(tmp_path / "q.npy", rng.standard_normal((4096, 128), dtype=np.float32))
    np.save(tmp_path / "c.npy", rng.standard_normal((250_000, 128), dtype=np.float32))
    # Early in the call (reading the files, then ~0.5 s of scoring at this processor's best):
    # a signal after the call ended would interrupt the next test instead.
    timer = threading.Timer(0.05, lambda: os.kill(os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        simcal.score(tmp_path / "q.npy", tmp_path / "c.npy", k=10, backend="cpu")
    timer.join()
    # Stopped after the next corpus chunk, long before the ~260 GFLOP job would end.
    assert time.perf_counter() - t0 < 2.5
