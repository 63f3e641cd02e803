"""simcal.report writes the page `simcal report` writes (the same bytes, but for the creation
time), refuses a calibration no table matches and an output over an input."""
import re
import subprocess

import pytest

import simcal


@pytest.fixture(scope="module")
def calibration(tmp_path_factory, simcal_bin, minilm_table):
    art = tmp_path_factory.mktemp("cal") / "minilm.json"
    subprocess.run([simcal_bin, "fit", "--scores", minilm_table, "--out", art, "--folds", "5"], check=True, capture_output=True)
    return art


def page(path):
    # The page records when it was made; everything else must be equal.
    return re.sub(r"20\d\d-\d\d-\d\dT[0-9:.]+Z?", "TIME", path.read_text())


def test_the_page_the_cli_writes(tmp_path, simcal_bin, minilm_table, calibration):
    want = tmp_path / "cli.html"
    subprocess.run([simcal_bin, "report", "--scores", minilm_table, "--calibration", calibration,
                    "--metrics", "ndcg_cut_10", "map", "--out", want], check=True, capture_output=True)
    got = simcal.report([minilm_table], tmp_path / "py.html", calibrations=[calibration], measures=["ndcg_cut.10", "map"])
    assert got == str(tmp_path / "py.html")
    text = page(tmp_path / "py.html")
    assert text.startswith("<!DOCTYPE html>") and "minilm" in text
    assert text == page(want)


def test_defaults_and_refusals(tmp_path, minilm_table, calibration):
    simcal.report(minilm_table, tmp_path / "one.html")
    assert "ndcg_cut_10" in (tmp_path / "one.html").read_text()
    with pytest.raises(simcal.SimcalError, match="calibrations\\[0\\].*Calibration.save"):
        simcal.report([minilm_table], tmp_path / "x.html", calibrations=[simcal.Calibration.load(calibration)])
    with pytest.raises(simcal.SimcalError, match="`out` .*is the input"):
        simcal.report([minilm_table], minilm_table)
    with pytest.raises(simcal.SimcalError, match="tables: no score table"):
        simcal.report([], tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


def test_a_calibration_fitted_in_memory_is_never_shown_as_held_out(tmp_path, minilm_table):
    import pyarrow.parquet as pq
    cal = simcal.fit(pq.read_table(minilm_table), bootstrap=0, folds=5)
    cal.save(tmp_path / "mem.json")
    simcal.report([minilm_table], tmp_path / "r.html", calibrations=[tmp_path / "mem.json"])
    text = (tmp_path / "r.html").read_text()
    assert "fitted in memory" in text
    assert "held out (fitted" not in text
    # Its reliability is the cross-fitted one, as for a calibration fitted on the file.
    assert "cross-fitted, 5 folds" in text
