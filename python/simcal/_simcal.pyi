"""Type stubs of simcal's compiled part. Call it through the `simcal` package, which checks
arguments and converts inputs first; these are its internals."""

from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

class SimcalError(ValueError):
    """An error of simcal's: bad input, named with what was at fault."""

def topk(
    queries: npt.NDArray[np.float32],
    corpus: npt.NDArray[np.float32],
    k: int,
    metric: str,
    backend: str,
    precision: str,
    zero_vectors: str,
    cpu_kernel: str | None = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...
def isotonic_fit(
    scores: npt.NDArray[np.float32], labels: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def isotonic_predict(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], scores: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]: ...
def platt_fit(scores: npt.NDArray[np.float32], labels: npt.NDArray[np.bool_]) -> tuple[float, float]: ...
def platt_predict(a: float, b: float, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
def evaluate(
    run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]], measures: list[str], relevance_level: int
) -> dict[str, dict[str, float]]: ...
def evaluate_table(
    table: Any, meta: dict[str, str], qrels: str | None, measures: list[str], relevance_level: int
) -> dict[str, dict[str, float]]: ...
def fuse(
    runs: list[dict[str, dict[str, float]]],
    method: str,
    norm: str | None,
    k: int,
    rrf_k: float,
    weights: list[float] | None,
) -> dict[str, dict[str, float]]: ...
def fuse_tables(
    tables: list[Any],
    metas: list[dict[str, str]],
    method: str,
    norm: str | None,
    k: int,
    rrf_k: float,
    weights: list[float] | None,
) -> Any: ...
def fit(
    table: Any | None,
    meta: dict[str, str],
    path: str | None,
    method: str,
    target_precision: list[float],
    target_recall: list[float],
    abstain: tuple[float, float],
    group_by: list[str],
    min_pairs: int,
    min_relevant: int,
    folds: int,
    confidence: float | None,
    unit: str,
    fwer: str,
    grid: int,
    bootstrap: int,
    seed: int,
    rel_level: int,
    certified_by: str,
    qrels: str | None = None,
) -> str: ...
def load_artifact(path: str) -> tuple[str, str]: ...
def save_artifact(json: str, path: str) -> None: ...
def apply(
    json: str,
    table: Any,
    meta: dict[str, str],
    decide_on: str,
    target: float | None,
    certified_by: str | None,
    method: str | None,
    floor: float | None,
    min_gap: float,
    force: bool,
    abstain: tuple[float, float] | None = None,
    sha256: str | None = None,
) -> tuple[Any, Any, list[str]]: ...
def drift(
    json: str,
    baseline_name: str,
    table: Any | None,
    meta: dict[str, str],
    path: str | None,
    max_ks: float,
    max_precision_drop: float,
    min_pairs: int,
    significance: float,
) -> str: ...
def compare(
    scores: list[str],
    qrels: str | None,
    measures: list[str],
    test: str,
    max_p: float,
    permutations: int,
    resamples: int,
    level: float,
    seed: int,
    correction: str,
    rel_level: int,
    calibration: bool,
    target_precision: float,
) -> tuple[str, str, str, str]: ...
def compare_values(
    runs: list[tuple[str, dict[str, dict[str, float]]]],
    measures: list[str],
    test: str,
    max_p: float,
    permutations: int,
    resamples: int,
    level: float,
    seed: int,
    correction: str,
) -> tuple[str, str, str, str]: ...
def report(
    scores: list[str],
    calibrations: list[str],
    qrels: str | None,
    group_by: list[str],
    measures: list[str],
    rel_level: int,
    out: str,
) -> None: ...
def score(
    queries: str,
    corpus: str,
    qrels: str | None,
    k: int,
    metric: str,
    backend: str,
    precision: str,
    model: str | None,
    rel_level: int,
    zero_vectors: str,
    cpu_kernel: str | None = None,
) -> Any: ...
def run(
    config: str | None,
    data: str | None,
    out: str | None,
    k: int,
    seed: int,
    backend: str | None,
    allow_missing_baseline: bool,
) -> tuple[str, list[str]]: ...
def promote(config: str, name: str) -> str: ...
def allocator_purge_options() -> list[int]: ...

_Verdict = tuple[str, float | None, float | None, float | None, str | None, float | None, str, int | None]

class Decider:
    def __init__(
        self,
        json: str,
        decide_on: str,
        target: float | None,
        certified_by: str | None,
        method: str | None,
        floor: float | None,
        min_gap: float,
        abstain: tuple[float, float] | None = None,
    ) -> None: ...
    def warnings(self) -> list[str]: ...
    def group_key(self, values: dict[str, str | None]) -> str: ...
    def knows_group(self, key: str) -> bool: ...
    def decide(self, scores: np.ndarray, group: str | None = None) -> _Verdict: ...
    def decide_many(self, scores: np.ndarray, offsets: np.ndarray, groups: list[str | None] | None = None) -> list[_Verdict]: ...
    def probabilities(self, scores: np.ndarray, group: str | None = None) -> np.ndarray: ...

def ann_recall(
    approx: tuple[Any | None, dict[str, str], str | None],
    exact: tuple[Any | None, dict[str, str], str | None],
    cutoffs: list[int],
) -> str: ...
