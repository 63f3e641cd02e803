"""The calibrators: score → probability maps with scikit-learn's numbers.

When scikit-learn is importable they are scikit-learn estimators, as LightGBM's and XGBoost's
are: :class:`IsotonicCalibrator` is a regressor and transformer (as ``IsotonicRegression``),
:class:`PlattCalibrator` a binary classifier (as ``LogisticRegression``), both built on
``BaseEstimator`` with its tags, so ``clone``, ``Pipeline``, ``GridSearchCV`` and
``check_estimator`` take them. Without scikit-learn they keep the same methods (numpy stays the
one required dependency). :data:`EXPECTED_FAILED_CHECKS` lists the ``check_estimator`` checks they
do not pass, and why, as scikit-learn lists its own.

Input, as ``IsotonicRegression`` takes it: ``X`` is the scores, one per row, as a 1-D array or
one column (``n_features_in_`` is 1); more columns are refused.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from . import _simcal
from ._simcal import SimcalError

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
    from sklearn.exceptions import DataConversionWarning
    from sklearn.exceptions import NotFittedError as _NotFitted

    HAVE_SKLEARN = True
except ImportError:  # the same methods, without scikit-learn's machinery
    HAVE_SKLEARN = False

    class BaseEstimator:  # type: ignore[no-redef]
        """get_params/set_params as scikit-learn's: the parameters are ``__init__``'s."""

        def get_params(self, deep: bool = True) -> dict[str, Any]:
            return {}

        def set_params(self, **params: Any):
            if params:
                raise SimcalError(f"{type(self).__name__} has no parameter {next(iter(params))!r} (it has none)")
            return self

        def __repr__(self) -> str:
            return f"{type(self).__name__}()"

    class ClassifierMixin:  # type: ignore[no-redef]
        _estimator_type = "classifier"

        def score(self, X: Any, y: Any) -> float:
            """Accuracy of :meth:`predict` on ``(X, y)``."""
            return float(np.mean(self.predict(X) == np.asarray(y)))

    class RegressorMixin:  # type: ignore[no-redef]
        _estimator_type = "regressor"

        def score(self, X: Any, y: Any) -> float:
            """R² of :meth:`predict` on ``(X, y)``."""
            y = np.asarray(y, dtype=np.float64)
            residual = float(np.sum((y - self.predict(X)) ** 2))
            total = float(np.sum((y - y.mean()) ** 2))
            return 1.0 - residual / total if total else (1.0 if residual == 0 else 0.0)

    class TransformerMixin:  # type: ignore[no-redef]
        def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
            return self.fit(X, y).transform(X)

    class DataConversionWarning(UserWarning):  # type: ignore[no-redef]
        """A column vector y was passed where a 1-D array was expected."""

    class _NotFitted(ValueError, AttributeError):  # type: ignore[no-redef]
        pass


class NotFittedError(SimcalError, _NotFitted):
    """A calibrator used before ``fit``: a :class:`SimcalError` and, with scikit-learn, its
    ``NotFittedError``."""


# Why a check of scikit-learn's check_estimator fails, by cause.
ONE_D = ("the check passes X as the 1-D array the one_d_array tag asks for, then indexes it as 2-D (scikit-learn "
         "runs no check at all on IsotonicRegression, which takes X the same way)")
ONE_D_ACCURACY = ("the check wants accuracy above 0.83 from the first feature alone of two-feature blobs (the "
                  "one_d_array tag keeps only that one), which does not separate its classes that well")
BINARY_Y = ("the check fits real-valued or multi-valued targets: IsotonicCalibrator fits P(relevant) from 0/1 "
            "relevance labels, exactly on their counts (IsotonicRegression's real-valued y is not supported)")
SEPARABLE = ("the check's data are perfectly separated by the score: the maximum-likelihood logistic fit "
             "(LogisticRegression(C=inf)) has no finite solution there, and Platt refuses it rather than "
             "return an arbitrary slope (IsotonicCalibrator fits such data)")
ONE_SCORE = "the check fits two features: a calibrator maps one score per row and refuses more columns"

# The checks of scikit-learn's check_estimator these estimators do not pass, with the reason (the
# shape of `check_estimator(..., expected_failed_checks=...)`); python/tests/test_sklearn.py
# checks that each of them does fail, and every other check passes.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "IsotonicCalibrator": {
        "check_fit_score_takes_y": BINARY_Y,
        "check_estimators_overwrite_params": BINARY_Y,
        "check_dont_overwrite_parameters": ONE_D,
        "check_estimators_fit_returns_self": BINARY_Y,
        "check_readonly_memmap_input": BINARY_Y,
        "check_n_features_in_after_fitting": BINARY_Y,
        "check_positive_only_tag_during_fit": BINARY_Y,
        "check_estimators_dtypes": BINARY_Y,
        "check_dtype_object": BINARY_Y,
        "check_estimator_sparse_array": ONE_D,
        "check_f_contiguous_array_estimator": ONE_D,
        "check_regressors_train": BINARY_Y,
        "check_regressor_data_not_an_array": BINARY_Y,
        "check_regressors_no_decision_function": ONE_D,
        "check_supervised_y_2d": BINARY_Y,
        "check_regressors_int": BINARY_Y,
        "check_transformer_data_not_an_array": ONE_D,
        "check_transformer_general": ONE_D,
        "check_methods_sample_order_invariance": ONE_D,
        "check_methods_subset_invariance": ONE_D,
        "check_fit2d_1sample": ONE_D,
        "check_fit2d_1feature": ONE_D,
        "check_dict_unchanged": ONE_D,
        "check_fit_idempotent": BINARY_Y,
        "check_fit_check_is_fitted": BINARY_Y,
        "check_n_features_in": BINARY_Y,
        "check_fit2d_predict1d": ONE_D,
    },
    "PlattCalibrator": {
        "check_dont_overwrite_parameters": ONE_D,
        "check_n_features_in_after_fitting": ONE_D,
        "check_dtype_object": ONE_D,
        "check_pipeline_consistency": SEPARABLE,
        "check_estimator_sparse_array": ONE_D,
        "check_estimators_pickle": SEPARABLE,
        "check_f_contiguous_array_estimator": ONE_D,
        "check_classifiers_classes": SEPARABLE,
        "check_classifiers_train": ONE_D_ACCURACY,
        "check_decision_proba_consistency": ONE_SCORE,
        "check_methods_sample_order_invariance": ONE_D,
        "check_methods_subset_invariance": ONE_D,
        "check_fit2d_1sample": ONE_D,
        "check_fit2d_1feature": ONE_D,
        "check_dict_unchanged": ONE_D,
        "check_n_features_in": ONE_D,
        "check_fit2d_predict1d": ONE_D,
    },
}


def _dense(X: Any, name: str = "X") -> None:
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise SimcalError(f"{name}: sparse input is not supported (pass a dense array of scores)")


def _scores(X: Any, name: str = "X") -> np.ndarray:
    """The scores of ``X`` (1-D, or 2-D with one column) as finite float64."""
    _dense(X, name)
    a = np.asarray(X)
    if a.dtype.kind == "c":
        raise SimcalError(f"{name}: Complex data not supported (scores are real numbers)")
    if a.dtype == object:
        try:
            a = a.astype(np.float64)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{name}: {e}") from None
    if a.ndim == 0:
        raise SimcalError(f"{name}: expected a 1-D array of scores or one column, got a scalar. Reshape your data "
                          "with array.reshape(-1, 1) or array.reshape(1, -1)")
    if a.ndim > 2:
        raise SimcalError(f"{name}: expected a 1-D array of scores (or one column), got shape {a.shape}")
    if a.dtype.kind not in "fiub":
        raise SimcalError(f"{name}: expected numbers, got {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if a.size and not np.isfinite(a).all():
        at = np.argwhere(~np.isfinite(a))[0]
        v = a[tuple(at)]
        where = ", ".join(str(int(i)) for i in at)
        raise SimcalError(f"{name}[{where}] is {'NaN' if np.isnan(v) else v}: scores must be finite (no NaN or inf)")
    if a.ndim == 2:
        if a.shape[1] != 1:
            raise SimcalError(f"{name}: {a.shape[1]} feature(s) (shape={a.shape}) while a minimum of 1 is required."
                              if a.shape[1] == 0 else
                              f"{name} has {a.shape[1]} features, but a calibrator maps one score per row "
                              f"(expected a 1-D array or one column, got shape {a.shape})")
        a = a[:, 0]
    return a


def _rows(X: Any) -> int | None:
    """The rows of ``X`` (None for a scalar)."""
    try:
        return len(X)
    except TypeError:
        return None


def _target(y: Any, n: int | None) -> np.ndarray:
    """``y`` as a 1-D array of ``n`` labels (a column vector is taken with scikit-learn's warning)."""
    if y is None:
        raise SimcalError("y: requires y to be passed, but the target y is None (the relevance of each score)")
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected. Please change the shape of y to "
                      "(n_samples,), for example using ravel().", DataConversionWarning, stacklevel=3)
        a = a[:, 0]
    if a.ndim != 1:
        raise SimcalError(f"y: expected a 1-D array of labels, got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise SimcalError(f"y has {a.shape[0]} labels but X has {n} scores")
    return a


def _relevant01(y: Any, n: int) -> np.ndarray:
    """Relevance labels given as 0/1 or booleans."""
    a = _target(y, n)
    if a.dtype == bool:
        return a
    if a.dtype.kind not in "fiu":
        raise SimcalError(f"y: expected 0/1 or boolean labels, got {a.dtype}")
    bad = (a != 0) & (a != 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SimcalError(f"y[{i}] is {a[i]}: labels must be 0 or 1 (relevant)")
    return a.astype(bool)


def _fit_input(X: Any) -> np.ndarray:
    s = _scores(X)
    if s.shape[0] == 0:
        raise SimcalError("X: no scores (0 samples)")
    return s


class _Calibrator(BaseEstimator):
    """What both calibrators share: the input checks and the fitted state."""

    def __init__(self) -> None:
        pass

    def _fitted(self, attribute: str) -> None:
        if not hasattr(self, attribute):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet: call fit first")

    def _check_features(self, X: Any) -> np.ndarray:
        return _scores(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # As IsotonicRegression's: one score per row, as a 1-D array or one column.
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = True
        return tags


class IsotonicCalibrator(RegressorMixin, TransformerMixin, _Calibrator):
    """Isotonic regression of relevance on score, as scikit-learn's
    ``IsotonicRegression(out_of_bounds="clip")`` fits it (ties pooled, PAV, interior points of
    flat runs dropped), with the same breakpoints.

    ``fit(X, y)``: the scores (a 1-D array or one column) are cast to float32 (simcal's score
    type; scikit-learn's numbers are matched on float32 scores), ``y`` holds 0/1 or booleans.
    ``predict(X)`` gives P(relevant) (linear between breakpoints, clipped outside), as
    ``transform``; ``predict_proba`` the two columns ``[1 − p, p]``. Fitted: ``X_thresholds_``,
    ``y_thresholds_`` (scikit-learn's names), ``n_features_in_``.
    """

    def fit(self, X: Any, y: Any) -> "IsotonicCalibrator":
        s = _fit_input(X)
        labels = _relevant01(y, s.shape[0])
        self.X_thresholds_, self.y_thresholds_ = _simcal.isotonic_fit(s.astype(np.float32), labels)
        self.X_min_, self.X_max_ = float(self.X_thresholds_[0]), float(self.X_thresholds_[-1])
        self.n_features_in_ = 1
        return self

    def predict(self, X: Any) -> np.ndarray:
        self._fitted("X_thresholds_")
        return _simcal.isotonic_predict(self.X_thresholds_, self.y_thresholds_, np.ascontiguousarray(_scores(X)))

    def transform(self, X: Any) -> np.ndarray:
        """The probabilities, as :meth:`predict` (``IsotonicRegression.transform``)."""
        return self.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        p = self.predict(X)
        return np.column_stack([1.0 - p, p])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """One output, named as scikit-learn names ``IsotonicRegression``'s."""
        return np.asarray([f"{type(self).__name__.lower()}0"], dtype=object)


class PlattCalibrator(ClassifierMixin, _Calibrator):
    """Platt scaling, P(relevant | s) = 1 / (1 + exp(a·s + b)): the maximum-likelihood
    logistic fit without regularisation, scikit-learn's ``LogisticRegression(C=np.inf)`` on the
    one score feature (``a = −coef_``, ``b = −intercept_``), with its numbers.

    A binary classifier as ``LogisticRegression`` is one: ``y`` holds any two classes
    (``classes_``, sorted; the second is the relevant one, as scikit-learn takes it).
    ``predict_proba(X)`` gives ``[1 − p, p]``, ``predict(X)`` the class (p ≥ 0.5) and
    ``decision_function(X)`` the log-odds. Perfectly separated data has no finite fit and is
    refused (use :class:`IsotonicCalibrator`). Fitted: ``a_``, ``b_``, ``coef_``/``intercept_`` in
    scikit-learn's shapes, ``classes_``, ``n_features_in_``.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X: Any, y: Any) -> "PlattCalibrator":
        # The labels first, as scikit-learn's classifiers check them: a multiclass y is named
        # as such whatever X is.
        _dense(X)
        labels = _target(y, _rows(X))
        if labels.size == 0:
            raise SimcalError("X: no scores (0 samples)")
        if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
            raise SimcalError("y: Unknown label type: continuous (a calibrator's y holds two classes, "
                              "relevant and not)")
        classes = np.unique(labels)
        if classes.shape[0] != 2:
            raise SimcalError(f"y: Only binary classification is supported: y has {classes.shape[0]} "
                              f"class{'es' if classes.shape[0] != 1 else ''} ({classes[:5].tolist()}); "
                              "a calibrator needs relevant and non-relevant pairs")
        s = _fit_input(X)
        self.a_, self.b_ = _simcal.platt_fit(s.astype(np.float32), labels == classes[1])
        self.coef_ = np.array([[-self.a_]])
        self.intercept_ = np.array([-self.b_])
        self.classes_ = classes
        self.n_features_in_ = 1
        return self

    def _proba(self, X: Any) -> np.ndarray:
        self._fitted("a_")
        return _simcal.platt_predict(self.a_, self.b_, np.ascontiguousarray(_scores(X)))

    def decision_function(self, X: Any) -> np.ndarray:
        """The log-odds of the relevant class, −(a·s + b)."""
        self._fitted("a_")
        return -(self.a_ * _scores(X) + self.b_)

    def predict_proba(self, X: Any) -> np.ndarray:
        p = self._proba(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        p = self._proba(X)
        return self.classes_[(p >= 0.5).astype(int)]
