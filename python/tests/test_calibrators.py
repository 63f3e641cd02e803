"""IsotonicCalibrator and PlattCalibrator against scikit-learn's golden numbers (the fixture the
Rust tests use), scikit-learn's estimator protocol, and bad input."""
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import simcal
from conftest import GOLDEN


def cases():
    doc = json.loads((GOLDEN / "sklearn_calibration.json").read_text())
    for c in doc["cases"]:
        if c["name"] == "sample":
            t = pq.read_table(GOLDEN / "sample_pairs.parquet")
            label = t.column("label").to_numpy(zero_copy_only=False)
            keep = ~np.isnan(label.astype(float))
            s = t.column("score").to_numpy()[keep]
            y = label[keep] >= 1
        else:
            s = np.asarray(c["scores"], dtype=np.float32)
            y = np.asarray(c["labels"]) == 1
        yield c["name"], s, y, c


@pytest.mark.parametrize("name, s, y, want", list(cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_isotonic_matches_scikit_learn(name, s, y, want):
    iso = simcal.IsotonicCalibrator().fit(s, y)
    got = iso.predict(np.asarray(want["isotonic"]["grid"]))
    np.testing.assert_allclose(got, want["isotonic"]["predict"], atol=1e-9, rtol=0)
    p = iso.predict_proba(np.asarray(want["isotonic"]["grid"]))
    assert p.shape == (len(got), 2)
    np.testing.assert_allclose(p[:, 1], got)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


@pytest.mark.parametrize("name, s, y, want", list(cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_platt_matches_scikit_learn(name, s, y, want):
    m = simcal.PlattCalibrator().fit(s, y)
    a, b = want["platt"]["a"], want["platt"]["b"]
    if name == "constant":  # one distinct score: only a·s + b is determined
        np.testing.assert_allclose(m.predict_proba([0.5])[0, 1], 1 / (1 + np.exp(a * 0.5 + b)), atol=1e-9)
        return
    assert abs(m.a_ - a) <= 1e-6 and abs(m.b_ - b) <= 1e-6, (m.a_, m.b_, a, b)
    assert m.coef_.shape == (1, 1) and m.intercept_.shape == (1,)
    x = np.linspace(0, 1, 11)
    np.testing.assert_allclose(m.predict_proba(x)[:, 1], 1 / (1 + np.exp(a * x + b)), atol=1e-6)
    np.testing.assert_array_equal(m.predict(x), (m.predict_proba(x)[:, 1] >= 0.5).astype(int))


def test_scikit_learn_clone_and_params():
    from sklearn.base import clone  # scripts/test installs scikit-learn

    for cls in (simcal.IsotonicCalibrator, simcal.PlattCalibrator):
        est = cls().fit([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
        c = clone(est)
        assert type(c) is cls and c.get_params() == est.get_params() == {}
        assert not hasattr(c, "a_") and not hasattr(c, "X_thresholds_")
        assert est.set_params() is est
        with pytest.raises(ValueError, match="'alpha'"):
            est.set_params(alpha=1)


def test_scores_as_one_feature_column_like_scikit_learn():
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.6, 0.2])
    y = np.array([0, 0, 1, 1, 1, 0])
    a = simcal.PlattCalibrator().fit(s.reshape(-1, 1), y)
    b = simcal.PlattCalibrator().fit(s, y)
    assert (a.a_, a.b_) == (b.a_, b.b_)


@pytest.mark.parametrize("cls", [simcal.IsotonicCalibrator, simcal.PlattCalibrator])
@pytest.mark.parametrize("s, y, words", [
    ([0.1, 0.2], [0, 1, 1], ["y has 3", "X has 2"]),
    ([0.1, np.nan], [0, 1], ["X[1]", "finite"]),
    ([0.1, 0.2], [0, 1, 2], ["y has 3"]),
    (np.ones((2, 2)), [0, 1], ["X has 2 features", "one score per row"]),
    (["a", "b"], [0, 1], ["X", "numbers"]),
    ([], [], ["no scores"]),
])
def test_bad_input_is_refused_naming_it(cls, s, y, words):
    with pytest.raises(simcal.SimcalError) as e:
        cls().fit(s, y)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_unfitted_and_separated():
    with pytest.raises(simcal.SimcalError, match="not fitted"):
        simcal.IsotonicCalibrator().predict([0.5])
    with pytest.raises(simcal.SimcalError, match="separate"):
        simcal.PlattCalibrator().fit([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])
