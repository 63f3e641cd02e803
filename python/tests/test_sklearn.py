"""The calibrators as scikit-learn estimators: scikit-learn's own check_estimator suite (with the
checks they are expected to fail, listed with the reason in simcal.calibrators), clone,
Pipeline and GridSearchCV; and the module without scikit-learn."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import simcal
from simcal.calibrators import EXPECTED_FAILED_CHECKS

try:
    import sklearn
    from sklearn.base import clone, is_classifier, is_regressor
    from sklearn.exceptions import NotFittedError
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.utils.estimator_checks import check_estimator
except ImportError:  # scripts/test installs it: in CI (CI set) its absence fails the suite
    sklearn = None

needs_sklearn = pytest.mark.skipif(sklearn is None and not os.environ.get("CI"),
                                   reason="scikit-learn is not installed (scripts/test installs it)")


@needs_sklearn
@pytest.mark.parametrize("cls", [simcal.IsotonicCalibrator, simcal.PlattCalibrator])
def test_check_estimator(cls):
    expected = EXPECTED_FAILED_CHECKS[cls.__name__]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(cls(), expected_failed_checks=expected, on_fail=None)
    failed = [(r["check_name"], repr(r["exception"])) for r in results if r["status"] == "failed"]
    assert not failed, failed
    ran = {r["check_name"] for r in results if r["status"] == "passed"}
    # The suite really ran (an estimator it cannot test gets a single skip warning instead).
    assert len(ran) >= 20, sorted(ran)
    # Every expected failure is one that really fails: the list holds nothing stale.
    xfailed = {r["check_name"] for r in results if r["status"] == "xfail"}
    assert set(expected) == xfailed, (set(expected), xfailed)


def _data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.uniform(0, 1, n)
    y = (rng.uniform(0, 1, n) < s).astype(int)
    return s.reshape(-1, 1), y


@needs_sklearn
def test_kinds_and_clone():
    assert is_regressor(simcal.IsotonicCalibrator()) and is_classifier(simcal.PlattCalibrator())
    X, y = _data()
    for est in (simcal.IsotonicCalibrator().fit(X, y), simcal.PlattCalibrator().fit(X, y)):
        c = clone(est)
        assert type(c) is type(est) and c.get_params() == est.get_params() == {}
        with pytest.raises(NotFittedError):
            c.predict(X)
        assert est.n_features_in_ == 1


@needs_sklearn
def test_pipeline_and_grid_search():
    X, y = _data()
    # A score transform tuned by GridSearchCV in front of each calibrator; the best is the one
    # that gives the calibrator the scores unchanged (the labels were drawn with P = s), not the
    # one that rounds them to 0 or 1.
    grid = {"functiontransformer__func": [np.round, None]}
    for cal, scoring in ((simcal.PlattCalibrator(), "neg_brier_score"), (simcal.IsotonicCalibrator(), "neg_mean_squared_error")):
        pipe = make_pipeline(FunctionTransformer(), cal)
        search = GridSearchCV(pipe, grid, scoring=scoring, cv=5).fit(X, y)
        assert search.best_params_["functiontransformer__func"] is None, search.cv_results_["mean_test_score"]
        p = search.predict_proba(X)[:, 1] if hasattr(search, "predict_proba") else search.predict(X)
        assert p.shape == (len(y),) and np.all((0 <= p) & (p <= 1))
        scores = cross_val_score(Pipeline([("cal", clone(cal))]), X, y, scoring=scoring, cv=4)
        assert scores.shape == (4,) and np.all(scores < 0) and np.all(scores > -0.3)


@needs_sklearn
def test_any_two_classes_as_scikit_learn_takes_them():
    X, y = _data()
    words = np.where(y == 1, "relevant", "other")
    m = simcal.PlattCalibrator().fit(X, words)
    assert list(m.classes_) == ["other", "relevant"]  # sorted: the second is the positive one
    ref = simcal.PlattCalibrator().fit(X, y)
    assert (m.a_, m.b_) == (ref.a_, ref.b_)
    assert set(m.predict(X)) <= {"other", "relevant"}
    np.testing.assert_allclose(m.decision_function(X), np.log(ref.predict_proba(X)[:, 1] / ref.predict_proba(X)[:, 0]),
                               atol=1e-9)


@needs_sklearn
def test_more_than_one_feature_is_refused_by_name():
    X, y = _data()
    for cls in (simcal.IsotonicCalibrator, simcal.PlattCalibrator):
        with pytest.raises(simcal.SimcalError, match="X has 2 features, but a calibrator maps one score per row"):
            cls().fit(np.hstack([X, X]), y)


def test_without_scikit_learn():
    """The module imports and the calibrators work with scikit-learn not importable."""
    code = """
import sys
sys.modules["sklearn"] = None  # import sklearn now raises ImportError
import numpy as np
import simcal, simcal.calibrators as c
assert not c.HAVE_SKLEARN
s = np.array([0.1, 0.4, 0.35, 0.8, 0.6, 0.2]); y = np.array([0, 0, 1, 1, 1, 0])
iso = simcal.IsotonicCalibrator().fit(s, y)
assert iso.get_params() == {} and repr(iso) == "IsotonicCalibrator()"
assert np.all(np.diff(iso.predict(np.sort(s))) >= 0)
pl = simcal.PlattCalibrator().fit(s.reshape(-1, 1), y)
assert pl.predict_proba(s).shape == (6, 2) and 0 <= pl.score(s, y) <= 1
try:
    simcal.PlattCalibrator().predict(s)
except simcal.NotFittedError as e:
    assert isinstance(e, simcal.SimcalError) and isinstance(e, AttributeError)
else:
    raise AssertionError("predict before fit did not raise")
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
