"""Calibration.decide, decide_many and predict_proba, the agent's per-query calls: on every query of
the sample, under each kind of fit and each apply option, the same numbers as Calibration.apply."""
import math
import warnings

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import simcal


@pytest.fixture(scope="module")
def table(minilm_table):
    return pq.read_table(minilm_table)


@pytest.fixture(scope="module")
def fits(table):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", simcal.SimcalWarning)
        return {
            "certified": simcal.fit(table, target_precision=[0.8, 0.9], confidence=0.9, bootstrap=0),
            "by section": simcal.fit(table, target_precision=[0.8], confidence=0.9, bootstrap=0, group_by="section",
                                     min_pairs=200),
            "estimate": simcal.fit(table, bootstrap=0),
        }


OPTIONS = [
    {},
    {"decide_on": "estimate"},
    {"floor": 0.3},
    {"min_gap": 0.2, "decide_on": "estimate"},
    {"target": 0.9},
    {"method": "platt"},
    {"abstain": (0.2, 0.6), "decide_on": "estimate"},
    {"certified_by": "global"},
]


def same(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


@pytest.mark.parametrize("fit", ["certified", "by section", "estimate"])
@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_decide_equals_apply_on_every_query(table, fits, fit, opts):
    cal = fits[fit]
    if "target" in opts and 0.9 not in cal.to_dict()["targets"]["precision"]:
        # A target the fit was not given: both refuse it alike.
        for call in (lambda: cal.apply(table, **opts), lambda: cal.decide([0.5], **opts)):
            with pytest.raises(simcal.SimcalError, match="no precision target 0.9"):
                call()
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", simcal.SimcalWarning)
        rows, decisions = cal.apply(table, **opts)
        prob_rows, _ = cal.apply(table, method=opts.get("method"))
    grouped = fit == "by section"
    qids = table.column("query_id").to_pylist()
    scores = table.column("score").to_numpy()
    docs = table.column("doc_id").to_pylist()
    sections = table.column("section").to_pylist()
    probability = prob_rows.column("probability").to_numpy()
    starts = [i for i in range(len(qids)) if i == 0 or qids[i] != qids[i - 1]] + [len(qids)]
    want = decisions.to_pylist()
    assert len(want) == len(starts) - 1 == 300
    queries, groups = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", simcal.SimcalWarning)
        for q, (r, end) in enumerate(zip(starts, starts[1:])):
            group = {"section": sections[r]} if grouped else None
            got = cal.decide(scores[r:end], group, **opts)
            w = want[q]
            assert w["query_id"] == qids[r]
            for field, key in (("decision", "decision"), ("probability", "top_probability"), ("gap", "gap"),
                               ("threshold", "threshold"), ("target", "target"), ("certificate", "certificate"),
                               ("group", "group")):
                assert same(getattr(got, field), w[key]), (qids[r], field, getattr(got, field), w[key])
            assert (None if got.top is None else docs[r + got.top]) == w["top_doc_id"]
            p = cal.predict_proba(scores[r:end], group, method=opts.get("method"))
            np.testing.assert_array_equal(p, probability[r:end])
            queries.append(scores[r:end])
            groups.append(group)
        # The batch form: the same decisions, one call.
        many = cal.decide_many(queries, groups if grouped else None, **opts)
    assert [m.decision for m in many] == [w["decision"] for w in want]
    assert [m.probability for m in many] == [w["top_probability"] for w in want]
    # Every query has its 100 hits: one 2-D array of them is the same batch.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", simcal.SimcalWarning)
        assert cal.decide_many(np.stack(queries), groups if grouped else None, **opts) == many


def test_decide_takes_the_hits_in_any_order(fits, table):
    cal = fits["certified"]
    s = table.column("score").to_numpy()[:100]
    a, b = cal.decide(s), cal.decide(s[::-1])
    assert (a.decision, a.probability, a.gap) == (b.decision, b.probability, b.gap) and b.top == 99 - a.top


def test_decide_refuses_bad_input_naming_it(fits):
    cal, grouped = fits["certified"], fits["by section"]
    with pytest.raises(simcal.SimcalError, match=r"scores\[1\] is NaN"):
        cal.decide([0.5, np.nan])
    with pytest.raises(simcal.SimcalError, match="1-D"):
        cal.decide([[0.5]])
    with pytest.raises(simcal.SimcalError, match="fitted per group of section: name the query's group"):
        grouped.decide([0.5])
    with pytest.raises(simcal.SimcalError, match="not a group column"):
        grouped.decide([0.5], {"lang": "en"})
    with pytest.raises(simcal.SimcalError, match="fitted without groups"):
        cal.decide([0.5], "section=perl")
    with pytest.raises(simcal.SimcalError, match="no precision target 0.7"):
        cal.decide([0.5], target=0.7)
    for call in (lambda: cal.predict_proba([0.5, np.inf]), lambda: cal.decide([0.5, 1e40])):
        with pytest.raises(simcal.SimcalError, match=r"scores\[1\] is"):
            call()
    # A batch of queries without hits: each not found.
    assert [d.decision for d in cal.decide_many(np.zeros((3, 0)))] == ["not_found"] * 3
    # No hits at all: not found, as apply decides a query whose rows the floor dropped.
    assert cal.decide([]).decision == "not_found"
    # A group the fit never saw: the global map, and no certificate of its own, with a warning
    # (once); a null group column's value is written `null`, as apply writes it.
    with pytest.warns(simcal.SimcalWarning, match="not one the calibration was fitted on"):
        unseen = grouped.decide([0.9], {"section": "no-such-section"})
    assert unseen.group == "section=no-such-section" and unseen.certificate is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grouped.decide([0.9], {"section": "no-such-section"})  # warned once only
    with pytest.warns(simcal.SimcalWarning):
        assert grouped.decide([0.9], {"section": None}).group == "section=null"


def test_predict_proba_decides_nothing_and_warns_of_nothing(fits):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = fits["estimate"].predict_proba([0.2, 0.9])
    assert p.shape == (2,) and p[0] <= p[1]
