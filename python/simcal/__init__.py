"""simcal: is a vector search result good enough to act on?

The same library the ``simcal`` command line calls, from Python:

- :func:`topk` — exact top-k of query vectors against a corpus (cosine or dot), faiss's
  ``IndexFlatIP.search`` in one call, on the CPU or a GPU;
- :class:`IsotonicCalibrator`, :class:`PlattCalibrator` — score → probability maps with
  scikit-learn's numbers, scikit-learn estimators when scikit-learn is installed;
- :func:`evaluate` — trec_eval's measures from pytrec_eval's dicts, with pytrec_eval's numbers;
- :func:`fit` → :class:`Calibration` — thresholds for target precision or recall (held out by
  cross-fitting, optionally certified), maps, decisions; saved and loaded as the JSON artifact
  the CLI writes and reads;
- :func:`score`, :func:`fuse`, :func:`drift`, :func:`report`, :func:`run` — the CLI's other
  jobs, on files or Arrow tables, returning what the CLI writes or prints.

Every computation runs with the GIL released. Bad input raises :class:`SimcalError` (a
``ValueError``) naming the argument (or the row) at fault.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, Iterable, Mapping, NamedTuple

import numpy as np

from . import _simcal
from ._simcal import SimcalError


class SimcalWarning(UserWarning):
    """What the command line prints as ``warning: …``: nothing certified, deciding on the
    estimate, a forced model mismatch."""

__version__: str = _simcal.__version__

# The calibrators are scikit-learn estimators when scikit-learn is installed, and importing it
# takes about a second: they are imported on first use, so that `import simcal` stays quick for
# an agent that only decides.
_CALIBRATORS = ("IsotonicCalibrator", "PlattCalibrator", "NotFittedError")


def __getattr__(name: str) -> Any:
    if name in _CALIBRATORS:
        from . import calibrators

        return getattr(calibrators, name)
    raise AttributeError(f"module 'simcal' has no attribute {name!r}")

__all__ = [
    "SimcalError",
    "SimcalWarning",
    "NotFittedError",
    "topk",
    "score",
    "IsotonicCalibrator",
    "PlattCalibrator",
    "evaluate",
    "fuse",
    "drift",
    "report",
    "compare",
    "Comparison",
    "run",
    "promote",
    "fit",
    "Calibration",
    "Decision",
    "ann_recall",
]

_FLOATS = (np.float16, np.float32, np.float64)

# The library's defaults (each defined once, in the library; the CLI's help shows the same).
_D: dict[str, Any] = json.loads(_simcal.defaults())


def _matrix(x: Any, name: str) -> np.ndarray:
    """`x` as a 2-D float32 C-contiguous array: the same object when it already is one."""
    if isinstance(x, np.ndarray):
        a = x
    else:
        try:
            a = np.asarray(x)
        except ValueError as e:  # ragged nested lists
            raise SimcalError(f"{name}: not a rectangular array ({e})") from None
    if a.dtype == object:
        raise SimcalError(f"{name}: not a rectangular array of numbers (rows of different lengths?)")
    if a.dtype.type not in _FLOATS:
        raise SimcalError(f"{name}: expected a float array (float16, float32 or float64), got {a.dtype}")
    if a.ndim != 2:
        raise SimcalError(f"{name}: expected a 2-D array (rows × dimensions), got {a.ndim}-D of shape {a.shape}")
    if a.shape[0] == 0:
        raise SimcalError(f"{name}: no rows")
    if a.shape[1] == 0:
        raise SimcalError(f"{name}: vectors of dimension 0")
    return np.ascontiguousarray(a, dtype=np.float32)


def topk(
    queries: Any,
    corpus: Any,
    k: int = _D["k"],
    metric: str = _D["metric"],
    backend: str = _D["backend"],
    precision: str = _D["precision"],
    zero_vectors: str = _D["zero_vectors"],
    cpu_kernel: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of every query row against every corpus row.

    Returns ``(scores, indices)``, both of shape ``(len(queries), k)``, each row in rank order
    (score descending, ties by corpus row ascending) — faiss's ``search`` result. Where the
    corpus has fewer than ``k`` rows, the missing hits are index -1 with score
    ``np.finfo(np.float32).min``, as faiss pads them.

    ``queries`` and ``corpus`` are 2-D float arrays (float16, float32 or float64; C or Fortran
    order). A float32 C-contiguous corpus is read in place, never copied; other layouts and
    dtypes are converted to it first. ``metric`` is ``"cosine"`` (rows L2-normalised, in
    float32 as faiss's ``normalize_L2``) or ``"dot"``; ``backend`` ``"auto"`` (a hardware
    GPU when there is one, else the CPU), ``"cpu"`` or ``"gpu"``; ``precision`` the GPU's
    storage (``"f32"`` or ``"f16"``); ``zero_vectors`` under cosine: ``"error"`` (refused,
    naming the row) or ``"zero"`` (scored 0, as faiss does); ``cpu_kernel`` the CPU kernel
    (``"amx-bf16"``, ``"avx512-bf16"``, ``"avx512"``, ``"avx2"``, ``"portable"``) instead of the one measured
    fastest on this processor.

    Equivalent in faiss::

        faiss.normalize_L2(q); faiss.normalize_L2(c)
        index = faiss.IndexFlatIP(c.shape[1]); index.add(c)
        scores, indices = index.search(q, k)
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise SimcalError(f"k: expected a positive integer, got {k!r}")
    q = _matrix(queries, "queries")
    c = _matrix(corpus, "corpus")
    if q.shape[1] != c.shape[1]:
        raise SimcalError(f"dimension mismatch: queries has {q.shape[1]} columns, corpus has {c.shape[1]}")
    return _simcal.topk(q, c, int(k), metric, backend, precision, zero_vectors, cpu_kernel)


def _measures(measures: Iterable[str] | str) -> list[str]:
    """trec_eval names from pytrec_eval's: ``ndcg_cut.10``, ``ndcg_cut.5,10``, ``ndcg_cut``
    (its default cutoffs), ``P_5``, ``recip_rank``, ``map`` (expanded by the library)."""
    if isinstance(measures, str):
        measures = [measures]
    names = list(measures)
    for m in names:
        if not isinstance(m, str):
            raise SimcalError(f"measures: expected names such as 'ndcg_cut.10', got {m!r}")
    return _simcal.pytrec_eval_measures(names)


def evaluate(
    run: Any,
    qrels: Any = None,
    measures: Iterable[str] | str = ("ndcg_cut.10", "recall.100", "P.10", "recip_rank", "map"),
    relevance_level: int = _D["rel_level"],
) -> dict[str, dict[str, float]]:
    """trec_eval's measures per query, from pytrec_eval's shapes: ``run[query][doc] = score``,
    ``qrels[query][doc] = relevance``. A drop-in for
    ``pytrec_eval.RelevanceEvaluator(qrels, measures, relevance_level).evaluate(run)``: the same
    keys (``ndcg_cut_10``, ``P_5``, ``recall_100``, ``success_1``, ``recip_rank``, ``map``) and
    the same values; queries of the run without judgements are left out, as pytrec_eval leaves
    them. Documents are ranked as trec_eval ranks them: score descending, ties by document id
    descending.

    ``run`` may also be a score table (a pyarrow Table or RecordBatch, or a pandas DataFrame with
    ``query_id``, ``doc_id`` and ``score``), judged by the qrels file at ``qrels`` (a path: TREC,
    BEIR tsv or parquet) or, with ``qrels=None``, by the table's own ``label`` column, as
    ``simcal eval`` judges it; no dicts are built.
    """
    if _is_table(run):
        if qrels is not None and not isinstance(qrels, (str, os.PathLike)):
            raise SimcalError("qrels: with a score table, expected the path of a qrels file or None (the table's labels)")
        batch, meta = _batch(run, "run")
        return _simcal.evaluate_table(batch, meta, None if qrels is None else os.fspath(qrels), _measures(measures),
                                      int(relevance_level))
    if not isinstance(run, Mapping):
        raise SimcalError(f"run: expected a dict of query → {{document: score}} or a score table, got {type(run).__name__}")
    if not isinstance(qrels, Mapping):
        raise SimcalError(f"qrels: expected a dict of query → {{document: relevance}}, got {type(qrels).__name__}")
    run_d = run if isinstance(run, dict) else dict(run)
    qrels_d = qrels if isinstance(qrels, dict) else dict(qrels)
    return _simcal.evaluate(run_d, qrels_d, _measures(measures), int(relevance_level))


def fuse(
    runs: Iterable[Any],
    method: str = _D["fuse"]["method"],
    norm: str | None = None,
    k: int = _D["fuse"]["k"],
    rrf_k: float = _D["fuse"]["rrf_k"],
    weights: Iterable[float] | None = None,
) -> Any:
    """``simcal fuse`` on runs in ranx's shape (``run[query][doc] = score``, or ranx ``Run``
    objects): returns the fused run ``{query: {doc: score}}``, each query's documents best
    first, at most ``k``. Runs given as score tables (pyarrow Tables or RecordBatches, pandas
    DataFrames: ``query_id``, ``doc_id``, ``score``, optional ``label`` and other columns) give
    the table ``simcal fuse`` writes, as a pyarrow Table: ``query_id``, ``doc_id``, ``rank``,
    ``score`` (the fused score), ``label`` and ``query_relevant`` from the inputs, and the
    inputs' other columns. ``method`` is ``rrf``, ``combsum``, ``combmnz``, ``max`` or ``wsum``
    (ranx's ``rrf``, ``sum``, ``mnz``, ``max``, ``wsum``); ``norm`` ``minmax``, ``zscore``,
    ``max``, ``sum``, ``rank`` or ``none`` (ranx's ``min-max``, ``zmuv``, …; default: none for
    RRF, min-max otherwise); ``weights`` one per run (RRF and wsum). Each query's documents are
    ranked by score, ties in the dict's order; a run without a query adds nothing to it. The
    numbers are ranx's ``fuse``.
    """
    runs = list(runs)
    if not runs:
        raise SimcalError("runs: no run to fuse")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise SimcalError(f"k: expected a positive integer, got {k!r}")
    w = None if weights is None else _floats(weights, "weights")
    tables = [_is_table(r) for r in runs]
    if all(tables):
        import pyarrow as pa

        batches = [_batch(r, f"runs[{i}]") for i, r in enumerate(runs)]
        fused = _simcal.fuse_tables([b for b, _ in batches], [m for _, m in batches], method, norm, int(k), float(rrf_k), w)
        return pa.Table.from_batches([fused])
    if any(tables):
        raise SimcalError(f"runs[{tables.index(not tables[0])}]: give all runs as tables or all as dicts")
    lists = []
    for i, r in enumerate(runs):
        if hasattr(r, "to_dict") and not isinstance(r, Mapping):
            r = r.to_dict()
        if not isinstance(r, Mapping):
            raise SimcalError(f"runs[{i}]: expected a dict of query → {{document: score}}, got {type(r).__name__}")
        lists.append(r if isinstance(r, dict) else dict(r))
    return _simcal.fuse(lists, method, norm, int(k), float(rrf_k), w)


def _is_table(x: Any) -> bool:
    """Whether `x` is a table: pyarrow's, pandas', or anything with ``__arrow_c_stream__``."""
    mod = type(x).__module__
    return hasattr(x, "__arrow_c_stream__") or mod.startswith("pyarrow") or mod.startswith("pandas")


def _batch(table: Any, name: str = "table"):
    """A pyarrow RecordBatch of the whole table (pyarrow Table, RecordBatch, pandas DataFrame
    or anything with ``__arrow_c_stream__``) and its schema's metadata as text."""
    import pyarrow as pa

    if isinstance(table, pa.RecordBatch):
        return table, _meta(table.schema)
    if not isinstance(table, pa.Table):
        if hasattr(table, "__arrow_c_stream__"):
            table = pa.table(table)
        elif type(table).__module__.startswith("pandas"):
            table = pa.Table.from_pandas(table, preserve_index=False)
        else:
            raise SimcalError(f"{name}: expected a pyarrow Table or RecordBatch or a pandas DataFrame, got {type(table).__name__}")
    table = table.combine_chunks()
    batches = table.to_batches()
    if not batches:
        raise SimcalError(f"{name}: the table has no rows")
    return batches[0], _meta(table.schema)


def _meta(schema) -> dict[str, str]:
    return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in (schema.metadata or {}).items()}


class Decision(NamedTuple):
    """One query's decision (:meth:`Calibration.decide`), as a row of ``apply``'s decisions."""

    #: ``act``, ``escalate``, ``not_found`` or ``ambiguous``.
    decision: str
    #: The top hit's probability (the map of top hits' where the calibration has one).
    probability: float | None
    #: The certified score the top hit was held to (None: no certificate for this query).
    threshold: float | None
    #: The precision target whose certificate ``act`` rested on (None: decided on the estimate).
    target: float | None
    #: The fit whose certificate that is: ``all`` or the group's key.
    certificate: str | None
    #: Top-1 minus top-2 probability among the hits left (top-1 alone with one hit).
    gap: float | None
    #: The group that decided (``all`` without groups).
    group: str
    #: The top hit's position among the scores given (None: no hit left).
    top: int | None


class Calibration:
    """A fitted calibration: the artifact ``simcal fit`` writes (JSON), with its thresholds as an
    Arrow table and :meth:`apply`. ``Calibration.load(path)`` reads (and validates) one the CLI
    wrote; :meth:`save` writes one the CLI reads."""

    def __init__(self, artifact_json: str) -> None:
        self._json = artifact_json
        # The sha256 of the file it was loaded from (None: hashed as the file it would be).
        self._sha256: str | None = None
        self._doc: dict[str, Any] = json.loads(artifact_json)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Calibration":
        """Reads an artifact file, validated as every simcal command validates it."""
        text, sha256 = _simcal.load_artifact(os.fspath(path))
        cal = cls(text)
        cal._sha256 = sha256
        return cal

    def save(self, path: str | os.PathLike) -> None:
        """Writes the artifact (atomically) for ``simcal apply``, ``eval`` or ``report``."""
        _simcal.save_artifact(self._json, os.fspath(path))

    def to_dict(self) -> dict[str, Any]:
        """The artifact as a dict (its JSON document)."""
        return json.loads(self._json)

    @property
    def thresholds(self):
        """One row per group and target: the threshold estimate with its precision and recall,
        exact intervals, the held-out (cross-fitted) precision and recall, and the certified
        threshold where one was asked for. A pyarrow Table."""
        import pyarrow as pa

        rows = []
        for g in [self._doc["global"], *self._doc.get("groups", [])]:
            for t in g.get("thresholds", []):
                held = t.get("held_out") or {}
                cert = t.get("certified") or {}
                rows.append({
                    "group": g["key"],
                    "target": t["target"],
                    "value": t["value"],
                    "reachable": t["reachable"],
                    "threshold": t.get("score"),
                    "precision": t.get("precision"),
                    "recall": t.get("recall"),
                    "n": t.get("n"),
                    "tp": t.get("tp"),
                    "held_out_precision": held.get("precision"),
                    "held_out_recall": held.get("recall"),
                    "certified_threshold": cert.get("score"),
                    "message": t.get("message"),
                })
        return pa.Table.from_pylist(rows, schema=pa.schema([
            ("group", pa.string()), ("target", pa.string()), ("value", pa.float64()), ("reachable", pa.bool_()),
            ("threshold", pa.float64()), ("precision", pa.float64()), ("recall", pa.float64()),
            ("n", pa.uint64()), ("tp", pa.uint64()), ("held_out_precision", pa.float64()),
            ("held_out_recall", pa.float64()), ("certified_threshold", pa.float64()), ("message", pa.string()),
        ]))

    def apply(self, table: Any, decide_on: str = _D["apply"]["decide_on"], method: str | None = None,
              floor: float | None = None, min_gap: float = _D["apply"]["min_gap"], force: bool = False, target: float | None = None, certified_by: str | None = None,
              abstain: tuple[float, float] | None = None):
        """``simcal apply``: returns ``(rows, decisions)``, the table with a ``probability``
        column (rows below ``floor`` dropped) and one decision per query (``act``,
        ``escalate``, ``not_found`` or ``ambiguous``, with the ``target``, ``threshold`` and
        ``certificate`` it acted on), both pyarrow Tables. ``act`` rests on the certificate of
        precision ``target`` (default: the fit's first target) at the query unit, of each
        query's own group (``certified_by="group"``) or of the whole table (``"global"``);
        by default whose the fit made. ``abstain=(low, high)`` replaces the fit's band without
        refitting: not found below ``low`` on the map of found, act at or above ``high`` on the
        map of top hits (on the estimate)."""
        import pyarrow as pa

        batch, meta = _batch(table)
        band = None if abstain is None else (float(abstain[0]), float(abstain[1]))
        rows, decisions, notes = _simcal.apply(self._json, batch, meta, decide_on, None if target is None else float(target),
                                               certified_by, method, floor, float(min_gap), bool(force), band,
                                               self._sha256)
        # What the command line prints as warnings (nothing certified, deciding on the
        # estimate, a forced model mismatch), as Python warnings.
        for note in notes:
            warnings.warn(note, SimcalWarning, stacklevel=2)
        return pa.Table.from_batches([rows]), pa.Table.from_batches([decisions])

    def _decider(self, decide_on: str, target: float | None, certified_by: str | None, method: str | None,
                 floor: float | None, min_gap: float, abstain: tuple[float, float] | None) -> "_simcal.Decider":
        """The decider for these options, built once (the artifact parsed, each group's cutoffs
        and certificate found) and kept for the next call; its warnings are issued then."""
        band = None if abstain is None else (float(abstain[0]), float(abstain[1]))
        key = (decide_on, None if target is None else float(target), certified_by, method,
               None if floor is None else float(floor), float(min_gap), band)
        cache = self.__dict__.setdefault("_deciders", {})
        d = cache.get(key)
        if d is None:
            d = _simcal.Decider(self._json, *key)
            for note in d.warnings():
                warnings.warn(note, SimcalWarning, stacklevel=3)
            cache[key] = d
        return d

    def _group(self, d: "_simcal.Decider", group: Any) -> str | None:
        """The group's key: given as one, or built from the group columns' values as ``fit``
        and ``apply`` write it (a null as ``null``, a boolean as ``true``/``false``). A key the
        fit does not have is warned of once: its queries get the global map and no
        certificate of their own."""
        if group is not None and not isinstance(group, str):
            if not isinstance(group, Mapping):
                raise SimcalError(f"group: expected a group key such as 'class=nav' or a dict of the group columns' values, got {type(group).__name__}")
            text = {str(k): None if v is None else (("true" if v else "false") if isinstance(v, (bool, np.bool_)) else str(v))
                    for k, v in group.items()}
            group = d.group_key(text)
        if group is not None and not d.knows_group(group):
            warned = self.__dict__.setdefault("_unseen_groups", set())
            if group not in warned and len(warned) < 1000:
                warned.add(group)
                warnings.warn(f"group {group!r} is not one the calibration was fitted on: decided by the global map, "
                              "with no certificate of its own", SimcalWarning, stacklevel=3)
        return group

    @staticmethod
    def _hits(scores: Any, name: str = "scores") -> np.ndarray:
        a = np.asarray(scores)
        if a.ndim != 1:
            raise SimcalError(f"{name}: expected a 1-D array of one query's hit scores, got shape {a.shape}")
        if a.dtype.kind not in "fiu":
            raise SimcalError(f"{name}: expected numbers, got {a.dtype}")
        if a.dtype != np.float32 and a.size:
            wide = a.astype(np.float64, copy=False)
            bad = ~(np.abs(wide) <= np.finfo(np.float32).max)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                v = "NaN" if np.isnan(wide[i]) else wide[i]
                raise SimcalError(f"{name}[{i}] is {v}: scores must be finite float32 numbers")
        return np.ascontiguousarray(a, dtype=np.float32)

    def decide(self, scores: Any, group: Any = None, *, decide_on: str = _D["apply"]["decide_on"],
               target: float | None = None, certified_by: str | None = None, method: str | None = None,
               floor: float | None = None, min_gap: float = _D["apply"]["min_gap"],
               abstain: tuple[float, float] | None = None) -> "Decision":
        """One query's decision at query time, from its hits' scores (a vector search's result,
        best first or in any order; cast to float32, a score table's type): what :meth:`apply`
        decides for that query's rows, with the same options, in microseconds. ``group`` is the
        query's group for a calibration fitted by group: its key (``"class=nav"``, as
        ``apply``'s decisions name it) or a dict of the group columns' values. Returns a
        :class:`Decision`; the rule is docs/decide.md's."""
        d = self._decider(decide_on, target, certified_by, method, floor, min_gap, abstain)
        return Decision(*d.decide(self._hits(scores), self._group(d, group)))

    def decide_many(self, queries: Any, groups: Any = None, **options: Any) -> list["Decision"]:
        """:meth:`decide` for many queries in one call (a list of score arrays, or a 2-D array
        of one row of hits per query), with ``groups`` one per query where the calibration has
        groups; the options are :meth:`decide`'s."""
        d = self._decider(options.pop("decide_on", _D["apply"]["decide_on"]), options.pop("target", None),
                          options.pop("certified_by", None), options.pop("method", None), options.pop("floor", None),
                          options.pop("min_gap", _D["apply"]["min_gap"]), options.pop("abstain", None))
        if options:
            raise SimcalError(f"decide_many: unknown option {next(iter(options))!r}")
        if isinstance(queries, np.ndarray) and queries.ndim == 2:
            flat = self._hits(queries.reshape(-1), "queries")
            offsets = np.arange(queries.shape[0] + 1, dtype=np.uint64) * np.uint64(queries.shape[1])
        else:
            rows = [self._hits(q, f"queries[{i}]") for i, q in enumerate(queries)]
            flat = np.concatenate(rows) if rows else np.empty(0, np.float32)
            offsets = np.zeros(len(rows) + 1, dtype=np.uint64)
            np.cumsum([r.size for r in rows], out=offsets[1:])
        keys = None if groups is None else [self._group(d, g) for g in groups]
        return [Decision(*v) for v in d.decide_many(flat, offsets, keys)]

    def predict_proba(self, scores: Any, group: Any = None, method: str | None = None) -> np.ndarray:
        """P(relevant) of each of one query's hits under its group's map: :meth:`apply`'s
        ``probability`` column for those rows."""
        # The probabilities decide nothing: no certificate is asked for (nor warned of).
        d = self._decider("estimate", None, None, method, None, 0.0, None)
        return d.probabilities(self._hits(scores), self._group(d, group))

    def __repr__(self) -> str:
        d = self._doc
        return f"Calibration(model={d.get('model')!r}, methods={d.get('methods')}, groups={len(d.get('groups', []))})"


def _floats(v: Any, name: str) -> list[float]:
    if v is None:
        return []
    if isinstance(v, (int, float)):
        return [float(v)]
    try:
        return [float(x) for x in v]
    except (TypeError, ValueError):
        raise SimcalError(f"{name}: expected a number or a list of numbers, got {v!r}") from None


def fit(
    table: Any,
    target_precision: float | Iterable[float] | None = tuple(_D["fit"]["target_precision"]),
    target_recall: float | Iterable[float] | None = None,
    method: str = _D["fit"]["method"],
    group_by: Iterable[str] | str | None = None,
    folds: int = _D["fit"]["folds"],
    confidence: float | None = None,
    unit: str = _D["fit"]["unit"],
    fwer: str = _D["fit"]["fwer"],
    grid: int = _D["fit"]["grid"],
    bootstrap: int = _D["fit"]["bootstrap"],
    seed: int = _D["fit"]["seed"],
    rel_level: int = _D["rel_level"],
    min_pairs: int = _D["fit"]["min_pairs"],
    min_relevant: int = _D["fit"]["min_relevant"],
    abstain: tuple[float, float] = tuple(_D["fit"]["abstain"]),
    certified_by: str = _D["fit"]["certified_by"],
    qrels: str | os.PathLike | None = None,
) -> Calibration:
    """``simcal fit`` on a labeled score table: a pyarrow Table or RecordBatch (columns
    ``query_id``, ``doc_id``, ``rank``, ``score``, ``label``; tables of other tools are read as
    the CLI reads them), a pandas or Polars DataFrame, or the path of a parquet score table. The
    arguments are the CLI's options; the defaults are the CLI's (5 folds of cross-fitting by
    query, 1,000 bootstrap resamples, no certification unless ``confidence`` is given).
    ``qrels`` (the path of a TREC, BEIR tsv or parquet qrels file) labels the table's rows, as
    ``simcal fit --qrels`` does: a vector database's hits need no label column of their own.
    """
    if not isinstance(method, str):
        raise SimcalError(f"method: expected isotonic, platt or all, got {method!r}")
    if isinstance(group_by, str):
        group_by = [group_by]
    if isinstance(table, (str, os.PathLike)):
        batch, meta, path = None, {}, os.fspath(table)
    else:
        (batch, meta), path = _batch(table), None
    return Calibration(_simcal.fit(
        batch, meta, path, method, _floats(target_precision, "target_precision"), _floats(target_recall, "target_recall"),
        (float(abstain[0]), float(abstain[1])), list(group_by or []), int(min_pairs), int(min_relevant), int(folds),
        None if confidence is None else float(confidence), unit, fwer, int(grid), int(bootstrap), int(seed), int(rel_level),
        certified_by, _path_or_none(qrels, "qrels"),
    ))


def _source(t: Any, name: str):
    """A score table as the library takes it: (batch, metadata, None) or (None, {}, path)."""
    if isinstance(t, (str, os.PathLike)):
        return None, {}, os.fspath(t)
    batch, meta = _batch(t, name)
    return batch, meta, None


def ann_recall(approx: Any, exact: Any, cutoffs: Iterable[int] | None = None) -> dict[str, Any]:
    """How far an approximate index's top k is from the exact top k (``simcal eval --scores
    APPROX --reference EXACT``): recall@c of the exact neighbours for each cutoff c (default 1,
    10 and the exact table's k), per query and overall, by document id. Both are score tables
    (pyarrow, pandas or Polars, or paths of parquet tables or TREC runs): ``approx`` the index's
    hits, ``exact`` :func:`score`'s exact top k of the same queries. Returns the document the CLI
    prints: ``{"cutoffs", "queries", "missing", "not_in_reference", "mean": {"recall@10": …},
    "below_one": {…}, "per_query": {query: {"recall@10": …}}}``."""
    cuts = [] if cutoffs is None else [int(c) for c in cutoffs]
    return json.loads(_simcal.ann_recall(_source(approx, "approx"), _source(exact, "exact"), cuts))


def drift(
    baseline: "Calibration | str | os.PathLike",
    table: Any,
    max_ks: float = _D["drift"]["max_ks"],
    max_precision_drop: float = _D["drift"]["max_precision_drop"],
    min_pairs: int = _D["drift"]["min_pairs"],
    significance: float = _D["drift"]["significance"],
) -> dict[str, Any]:
    """``simcal drift``: a new labeled score table (pyarrow, pandas, or the path of a parquet
    score table) against a baseline calibration (a :class:`Calibration` or the path of an
    artifact): each group's KS statistics per class against the baseline's stored
    distributions, and the precision its thresholds give now. Returns the document
    ``simcal drift --json`` prints; ``result["drifted"]`` is the gate (a tolerance exceeded at
    family-wise level ``significance``). Groups with fewer than ``min_pairs`` labeled pairs are
    measured but not gated."""
    if isinstance(baseline, Calibration):
        art, name = baseline._json, "calibration"
    elif isinstance(baseline, (str, os.PathLike)):
        art, name = _simcal.load_artifact(os.fspath(baseline))[0], os.fspath(baseline)
    else:
        raise SimcalError(f"baseline: expected a Calibration or the path of one, got {type(baseline).__name__}")
    if isinstance(table, (str, os.PathLike)):
        batch, meta, path = None, {}, os.fspath(table)
    else:
        (batch, meta), path = _batch(table), None
    if not isinstance(min_pairs, (int, np.integer)) or isinstance(min_pairs, bool) or min_pairs < 0:
        raise SimcalError(f"min_pairs: expected a non-negative integer, got {min_pairs!r}")
    tol = []
    for v, n in ((max_ks, "max_ks"), (max_precision_drop, "max_precision_drop"), (significance, "significance")):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise SimcalError(f"{n}: expected a number, got {v!r}")
        tol.append(float(v))
    return json.loads(_simcal.drift(art, name, batch, meta, path, tol[0], tol[1], int(min_pairs), tol[2]))


def _paths(v: Any, name: str) -> list[str]:
    if isinstance(v, (str, os.PathLike)):
        v = [v]
    out = []
    for i, p in enumerate(v):
        if not isinstance(p, (str, os.PathLike)):
            hint = " (save it first: Calibration.save(path))" if isinstance(p, Calibration) else ""
            raise SimcalError(f"{name}[{i}]: expected the path of a file, got {type(p).__name__}{hint}")
        out.append(os.fspath(p))
    return out


def report(
    tables: Any,
    out: str | os.PathLike,
    calibrations: Any = (),
    qrels: str | os.PathLike | None = None,
    group_by: Iterable[str] | str = (),
    measures: Iterable[str] | str | None = None,
    rel_level: int = _D["rel_level"],
) -> str:
    """``simcal report``: writes the self-contained HTML page comparing encoders to ``out`` and
    returns its path. ``tables`` are the paths of score tables, one per encoder;
    ``calibrations`` the paths of their calibrations, matched by model (a table without one
    gets an in-sample fit, marked so); ``qrels`` a judgements file (default: the tables'
    labels); ``measures`` ranking measures as :func:`evaluate` names them (default: the CLI's)."""
    scores = _paths(tables, "tables")
    if not scores:
        raise SimcalError("tables: no score table")
    cals = _paths(calibrations, "calibrations")
    if isinstance(group_by, str):
        group_by = [group_by]
    names = [] if measures is None else _measures(measures)
    _simcal.report(scores, cals, None if qrels is None else os.fspath(qrels), list(group_by), names, int(rel_level),
                   os.fspath(out))
    return os.fspath(out)


class Comparison:
    """What :func:`compare` returns: ranx's table of runs with the letters of the runs each one
    beats (``str(c)`` or :attr:`table`), every pair on every measure (:attr:`pairs`, or
    :meth:`to_dataframe`), the calibrations compared (:attr:`calibration`, None without labels in
    the tables), each run's per-query values (:attr:`per_query`: ``{run: {measure: {query:
    value}}}``) and the whole JSON document ``simcal compare --json`` prints (:meth:`to_dict`)."""

    def __init__(self, document: str, table: str, pairs_table: str, per_query: str) -> None:
        self._doc = json.loads(document)
        self.table: str = table
        self.pairs_table: str = pairs_table
        self.per_query: dict[str, dict[str, dict[str, float]]] = json.loads(per_query)

    @property
    def runs(self) -> list[dict[str, Any]]:
        """Each run: name, letter, values by measure, queries filled as empty rankings."""
        return self._doc["runs"]

    @property
    def pairs(self) -> list[dict[str, Any]]:
        """Each pair on each measure: ``a``, ``b`` (run indices), ``measure``, ``difference``
        (mean of a − b), ``interval``, ``statistic``, ``p``, ``p_corrected``, ``significant``,
        ``wins``, ``ties``, ``losses``."""
        return self._doc["pairs"]

    @property
    def calibration(self) -> dict[str, Any] | None:
        return self._doc.get("calibration")

    @property
    def paired_queries(self) -> int:
        return self._doc["paired_queries"]

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._doc))

    def to_dataframe(self):
        """The pairs as a pandas DataFrame, one row per pair and measure, runs by name."""
        import pandas as pd

        names = [r["name"] for r in self.runs]
        rows = [{"a": names[p["a"]], "b": names[p["b"]], **{k: v for k, v in p.items() if k not in ("a", "b")}}
                for p in self.pairs]
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        return self.table + "\n\n" + self.pairs_table

    def __repr__(self) -> str:
        names = ", ".join(r["name"] for r in self.runs)
        return f"Comparison({names}; {self.paired_queries} paired queries, {self._doc['test']})"


def compare(
    runs: Any,
    qrels: str | os.PathLike | None = None,
    measures: Iterable[str] | str | None = None,
    test: str = _D["compare"]["test"],
    max_p: float = _D["compare"]["max_p"],
    permutations: int = _D["compare"]["permutations"],
    resamples: int = _D["compare"]["resamples"],
    level: float = _D["compare"]["level"],
    seed: int = _D["compare"]["seed"],
    correction: str = _D["compare"]["correction"],
    rel_level: int = _D["rel_level"],
    calibration: bool = _D["compare"]["calibration"],
    target_precision: float = _D["compare"]["target_precision"],
) -> Comparison:
    """``simcal compare``: paired significance tests between runs, as ranx's ``compare`` makes
    them, with bootstrap intervals, a family-wise correction and the calibrations compared.

    ``runs`` is either a list of paths (score tables or TREC runs; judged by ``qrels`` or the
    tables' labels, a query a run lacks measured on an empty ranking) or a dict of run name →
    per-query values ``{query: {measure: value}}`` (what :func:`evaluate` returns; the queries
    every run has are compared, ``measures`` defaulting to the first query's). ``test`` is
    ``student``, ``fisher``, ``tukey`` or ``bootstrap``; ``correction`` ``holm``, ``bonferroni``
    or ``none``."""
    for v, n in ((max_p, "max_p"), (level, "level"), (target_precision, "target_precision")):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise SimcalError(f"{n}: expected a number, got {v!r}")
    for v, n in ((permutations, "permutations"), (resamples, "resamples"), (seed, "seed")):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise SimcalError(f"{n}: expected a non-negative integer, got {v!r}")
    for v, n in ((test, "test"), (correction, "correction")):
        if not isinstance(v, str):
            raise SimcalError(f"{n}: expected a name, got {v!r}")
    if isinstance(runs, Mapping):
        given = []
        for name, per_query in runs.items():
            if not isinstance(per_query, Mapping):
                raise SimcalError(f"runs[{name!r}]: expected a dict of query → {{measure: value}}, got {type(per_query).__name__}")
            values = {str(q): dict(v) for q, v in per_query.items()}
            if len(values) != len(per_query):
                raise SimcalError(f"runs[{name!r}]: two query ids are the same string ({len(per_query) - len(values)} collide)")
            given.append((str(name), values))
        if measures is None:
            first = next((v for _, pq in given for v in pq.values()), None)
            names = [] if first is None else list(first)
        else:
            names = [measures] if isinstance(measures, str) else list(measures)
        return Comparison(*_simcal.compare_values(given, names, test, float(max_p), int(permutations), int(resamples),
                                                  float(level), int(seed), correction))
    if isinstance(runs, (str, os.PathLike)):
        raise SimcalError("runs: expected several runs (a list of paths, or a dict of name → per-query values)")
    paths = _paths(runs, "runs")
    names = [] if measures is None else _measures(measures)
    return Comparison(*_simcal.compare(paths, None if qrels is None else os.fspath(qrels), names, test, float(max_p),
                                       int(permutations), int(resamples), float(level), int(seed), correction,
                                       int(rel_level), bool(calibration), float(target_precision)))


def score(
    queries: str | os.PathLike,
    corpus: str | os.PathLike,
    qrels: str | os.PathLike | None = None,
    k: int = _D["k"],
    metric: str = _D["metric"],
    backend: str = _D["backend"],
    precision: str = _D["precision"],
    model: str | None = None,
    rel_level: int = _D["rel_level"],
    zero_vectors: str = _D["zero_vectors"],
    cpu_kernel: str | None = None,
):
    """``simcal score`` on embedding files (parquet with ``id`` and a vector column, or .npy):
    the score table it writes, as a pyarrow Table (``query_id``, ``doc_id``, ``rank``,
    ``score``, and with ``qrels`` (TREC, BEIR tsv or parquet) ``label`` and
    ``query_relevant``), with the same metadata (model, metric, k, backend, the files' hashes,
    the CPU kernel and how it was chosen; ``cpu_kernel`` forces one, as ``--cpu-kernel`` does).
    :func:`topk` is the same search on arrays in memory."""
    import pyarrow as pa

    paths = {}
    for name, p in (("queries", queries), ("corpus", corpus), ("qrels", qrels)):
        if p is None:
            continue
        if not isinstance(p, (str, os.PathLike)):
            raise SimcalError(f"{name}: expected the path of a file, got {type(p).__name__} (for arrays, use topk)")
        paths[name] = os.fspath(p)
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise SimcalError(f"k: expected a positive integer, got {k!r}")
    batch = _simcal.score(paths["queries"], paths["corpus"], paths.get("qrels"), int(k), metric, backend, precision, model,
                          int(rel_level), zero_vectors, cpu_kernel)
    return pa.Table.from_batches([batch])


def _path_or_none(v: Any, name: str) -> str | None:
    if v is None:
        return None
    if not isinstance(v, (str, os.PathLike)):
        raise SimcalError(f"{name}: expected a path, got {type(v).__name__}")
    return os.fspath(v)


def run(
    config: str | os.PathLike | None = None,
    *,
    data: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    k: int = _D["k"],
    seed: int = _D["fit"]["seed"],
    backend: str | None = None,
    allow_missing_baseline: bool = False,
) -> dict:
    """``simcal run``: the nightly job. With ``config`` (the TOML file ``simcal run --config``
    reads), every encoder it names is scored, calibrated, applied, evaluated and gated for drift
    against its baseline calibration, then compared in ``report.html``; without it, the sample
    in ``data`` (default ``./data``) with ``k`` hits and the bootstrap ``seed``. ``out`` and
    ``backend`` (auto, cpu, gpu) override the config's.

    Returns the manifest the job writes as ``run.json``: every output with its sha256, each
    step's summary, ``drifted`` (the encoders whose gate tripped: the CLI's exit code 1) and
    ``promoted`` (those whose calibration became the baseline). Notes the CLI prints (a missing
    baseline let through, a forced apply) are issued as warnings. Ctrl-C stops the job; the
    files already written are complete."""
    import warnings

    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise SimcalError(f"k: expected a positive integer, got {k!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise SimcalError(f"seed: expected a non-negative integer, got {seed!r}")
    if config is not None and data is not None:
        raise SimcalError("data: the sample's folder is for a run without a config; the config names its own files")
    if backend is not None and not isinstance(backend, str):
        raise SimcalError(f"backend: expected auto, cpu or gpu, got {backend!r}")
    manifest, notes = _simcal.run(_path_or_none(config, "config"), _path_or_none(data, "data"), _path_or_none(out, "out"),
                                  int(k), int(seed), backend, bool(allow_missing_baseline))
    for n in notes:
        warnings.warn(n, stacklevel=2)
    return json.loads(manifest)


def promote(config: str | os.PathLike, encoder: str) -> str:
    """``simcal run --config F --promote NAME``: after a person reviewed a drifted night, the
    last run's calibration of ``encoder`` becomes its drift baseline. Returns the baseline's
    path."""
    path = _path_or_none(config, "config")
    if path is None:
        raise SimcalError("config: expected the path of the job's config file")
    if not isinstance(encoder, str):
        raise SimcalError(f"encoder: expected an encoder's name, got {type(encoder).__name__}")
    return _simcal.promote(path, encoder)
