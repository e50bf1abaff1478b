"""ranker_claims.core.decisions reproduces, number for number, what each wing computed before it existed.

The pairing references below are the code of the three former call sites, copied as they were
(CE directions ``_aligned``, CE heads ``_paired`` and its screen, GR ``common.paired``); bootstrap
CIs and randomization tests depend on the order of the pairs, so the arrays must agree element
by element, in order. The family references started as GR ``common.decide`` and CE ``_decide``
and now spell out the verdict rules of ranker_claims.core.stats with direct calls: the deciding
comparisons corrected as an intersection-union family (``require="all"``), the reported ones as
a screen (``require="any"``), the two-sided p-values over all of them.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ranker_claims.core import decisions, stats
from ranker_claims.core.claims import Claim, Measurement, NoParams, Settings
from ranker_claims.core.results import Verdict

QUICK = settings(max_examples=100, deadline=None)
FEW = settings(max_examples=10, deadline=None)

_QIDS = st.text(alphabet="0123456789abcdefghijklmnopqrstuvwxyz_-", min_size=1, max_size=8)
_FINITE = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
_ANY = st.one_of(_FINITE, st.just(float("nan")), st.just(float("inf")), st.just(float("-inf")))


# --------------------------------------------------------------------------- the former call sites


def ce_directions_aligned(a, b):
    qids = sorted(a)
    return np.array([a[q] for q in qids]), np.array([b[q] for q in qids])


def ce_heads_paired(treatment, control):
    qids = sorted(set(treatment) & set(control))
    return np.array([treatment[q] for q in qids]), np.array([control[q] for q in qids])


def gr_paired(treatment, control):
    x = np.asarray(treatment, dtype=float)
    y = np.full_like(x, float(control)) if np.isscalar(control) else np.asarray(control, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _same(new, old):
    """Same pairs in the same order, as the float64 values stats would read."""
    for n, o in zip(new, old):
        assert n.dtype == np.float64
        np.testing.assert_array_equal(n, np.asarray(o, dtype=float))
        assert n.shape == np.asarray(o).shape


# --------------------------------------------------------------------------- pairing


@QUICK
@given(st.dictionaries(_QIDS, st.tuples(_FINITE, _FINITE), max_size=40))
def test_ce_directions(values):
    """study.quality and random_quality give every query of the pools, nDCG values finite."""
    a = {q: v[0] for q, v in values.items()}
    b = {q: v[1] for q, v in reversed(values.items())}  # insertion order must not matter
    _same(decisions.align(a, b), ce_directions_aligned(a, b))


@QUICK
@given(st.dictionaries(_QIDS, _FINITE, max_size=40), st.dictionaries(_QIDS, _FINITE, max_size=40))
def test_ce_heads(treatment, control):
    """Any two key sets: their intersection, sorted."""
    _same(decisions.align(treatment, control), ce_heads_paired(treatment, control))


@QUICK
@given(st.data(), st.integers(1, 3), st.integers(1, 3))
def test_ce_screen(data, layers, heads):
    """The screen aligns per-query [layers, heads] arrays once, then tests each head's column."""
    draw = st.dictionaries(_QIDS, st.lists(_FINITE, min_size=layers * heads, max_size=layers * heads), max_size=20)
    relevant = {q: np.array(v, dtype=np.float32).reshape(layers, heads) for q, v in data.draw(draw).items()}
    other = {q: np.array(v, dtype=np.float32).reshape(layers, heads) for q, v in data.draw(draw).items()}
    old_x, old_y = ce_heads_paired(relevant, other)
    x, y = decisions.align(relevant, other)
    if not len(old_x):
        assert not len(x)
        return
    for layer in range(layers):
        for head in range(heads):
            column = decisions.align(x[:, layer, head], y[:, layer, head])
            _same(column, (old_x[:, layer, head], old_y[:, layer, head]))


@QUICK
@given(st.lists(_ANY, max_size=40), st.data())
def test_gr(treatment, data):
    """Arrays in the study's row order; a scalar control; non-finite pairs dropped."""
    n = len(treatment)
    control = data.draw(st.one_of(_FINITE, st.lists(_ANY, min_size=n, max_size=n).map(np.array)))
    _same(decisions.align(np.array(treatment), control), gr_paired(treatment, control))


@QUICK
@given(st.dictionaries(_QIDS, st.tuples(_ANY, _ANY), max_size=40))
def test_non_finite_values_are_dropped_where_stats_refused_them(values):
    """Where a CE site met NaN or inf, stats raised; now the query is left out, the others kept in order."""
    a = {q: v[0] for q, v in values.items()}
    b = {q: v[1] for q, v in values.items()}
    x, y = decisions.align(a, b)
    old_x, old_y = ce_directions_aligned(a, b)
    keep = np.isfinite(old_x) & np.isfinite(old_y)
    _same((x, y), (old_x[keep], old_y[keep]))


def test_mixed_kinds_are_refused():
    with pytest.raises(TypeError):
        decisions.align({"q": 1.0}, [1.0])
    with pytest.raises(TypeError):
        decisions.align([1.0], {"q": 1.0})
    with pytest.raises(ValueError, match="differ in length"):
        decisions.align([1.0, 2.0], [1.0])


# --------------------------------------------------------------------------- settings -> stats


@FEW
@given(st.dictionaries(_QIDS, st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=3, max_size=25),
       st.sampled_from(["t", "wilcoxon", "randomization"]), st.sampled_from(["greater", "less", "two-sided"]),
       st.integers(0, 5))
def test_paired_is_the_former_call(values, test, hypothesis, seed):
    a = {q: v[0] for q, v in values.items()}
    b = {q: v[1] for q, v in values.items()}
    assume(len({round(x - y, 9) for x, y in values.values()}) > 1)
    session = Settings(test=test, bootstrap=100, seed=seed, min_power=0.9, alpha=0.1)
    old = stats.paired_comparison("c", *ce_directions_aligned(a, b), hypothesis=hypothesis, bounds=(0.0, 1.0), test=test,
                                  alpha=0.1, min_power=0.9, n_resamples=100, seed=seed)
    assert decisions.paired(session, "c", a, b, hypothesis=hypothesis, bounds=decisions.UNIT) == old
    screen = stats.paired_comparison("c", *ce_directions_aligned(a, b), hypothesis=hypothesis, test=test, alpha=0.1,
                                     min_power=0.9, n_resamples=200, seed=seed)
    assert decisions.paired(session, "c", a, b, hypothesis=hypothesis, bounds=None, resamples=200) == screen


def test_other_decisions_are_the_former_calls():
    session = Settings(alpha=0.1, min_power=0.9, bootstrap=150, seed=4)
    rng = np.random.default_rng(0)
    hits, other = rng.random(30) < 0.6, rng.random(30) < 0.4
    assert decisions.proportion(session, "p", hits, 0.5, hypothesis="greater", expected_effect=0.1) == \
        stats.proportion_comparison("p", int(hits.sum()), 30, 0.5, hypothesis="greater", expected_effect=0.1,
                                    alpha=0.1, min_power=0.9)
    assert decisions.mcnemar(session, "m", hits, other, hypothesis="greater") == \
        stats.mcnemar_comparison("m", hits, other, hypothesis="greater", alpha=0.1, min_power=0.9)
    assert decisions.proportion(session, "w", hits, 0.5, hypothesis="less", smallest_effect=-0.05, selection=3,
                                unit="layers") == \
        stats.proportion_comparison("w", int(hits.sum()), 30, 0.5, hypothesis="less", smallest_effect=-0.05,
                                    selection=3, alpha=0.1, min_power=0.9, unit="layers")
    x, y = rng.random(12), rng.random(40)
    # The session's min_power now reaches the unpaired test too (it words the detectable effect).
    assert decisions.independent(session, "i", x, y, hypothesis="greater") == \
        stats.independent_comparison("i", x, y, hypothesis="greater", alpha=0.1, min_power=0.9, n_resamples=150,
                                     seed=4)
    shares = rng.random(30) * 0.1
    assert decisions.bounded_mean(session, "b", shares, 0.2, hypothesis="less") == \
        stats.bounded_mean_comparison("b", shares, 0.2, hypothesis="less", alpha=0.1, min_power=0.9)
    # A scalar control is a declared constant: the differences' range is [low - c, high - c].
    assert decisions.paired(session, "d", x, 0.5, hypothesis="greater", bounds=decisions.UNIT, smallest_effect=0.1,
                            unit="heads") == \
        stats.paired_comparison("d", x, 0.5, hypothesis="greater", bounds=(0.0, 1.0), smallest_effect=0.1, alpha=0.1,
                                min_power=0.9, n_resamples=150, seed=4, unit="heads")


# --------------------------------------------------------------------------- families


def _claim():
    return Claim(id="X-1", title="t", statement="s", paper="p", paper_value=None, figure="f", citation="c",
                 measurement=Measurement("m", lambda *a: None, NoParams))


_STUDY = SimpleNamespace(model=SimpleNamespace(name="m"), collection=SimpleNamespace(id="c"),
                         recorded_options=dict)


def reference_family(session, comparisons, decided):
    """The rules with direct stats calls: deciding ones "all", reported ones "any", p_difference over all."""
    flags = list(decided) if decided is not None else [True] * len(comparisons)
    method, alpha = session.correction, session.alpha
    deciding = stats.correct_family([c for c, d in zip(comparisons, flags) if d], method, alpha, require="all")
    reported = stats.correct_family([c for c, d in zip(comparisons, flags) if not d], method, alpha, require="any")
    shown = stats.correct([c.details["p_difference"] for c in comparisons], method)
    corrected, i, j = [], 0, 0
    for flag, p in zip(flags, shown):
        if flag:
            c, i = deciding[i], i + 1
        else:
            c, j = reported[j], j + 1
        corrected.append(replace(c, details={**c.details, "p_difference_corrected": float(p), "decides": flag}))
    return corrected, flags


def gr_decide(claim, study, session, comparisons, *, metric, missing=(), decided=None, **fields):
    corrected, flags = reference_family(session, comparisons, decided)
    chosen = [c for c, d in zip(corrected, flags) if d]
    if chosen:
        verdict, reason = stats.family_verdict(chosen)
    else:
        verdict, reason = Verdict.INCONCLUSIVE, "nothing could be measured"
    if missing:
        note = "; ".join(missing)
        if verdict is Verdict.SUPPORTED:
            verdict, reason = Verdict.INCONCLUSIVE, f"{reason}, but not measured: {note}"
        else:
            reason = f"{reason}; not measured: {note}"
    hypotheses = sorted({c.details.get("hypothesis", "") for c in chosen} - {""})
    kinds = sorted({c.details.get("kind", "") for c in chosen} - {""})
    return claim.result(study, session, metric=metric,
                        decision=f"{', '.join(kinds)}: {', '.join(hypotheses)}" if chosen else "none",
                        verdict=verdict, reason=reason, comparisons=corrected, **fields)


def ce_decide(claim, study, session, comparisons, **fields):
    corrected, _ = reference_family(session, comparisons, None)
    verdict, reason = stats.family_verdict(corrected)
    return claim.result(study, session, metric="ndcg_cut_10",
                        decision=", ".join(sorted({c.details.get("hypothesis", "") for c in corrected} - {""})),
                        verdict=verdict, reason=reason, comparisons=corrected, **fields)


def _comparisons(rng, n):
    out = []
    for i in range(n):
        shift = rng.choice([-0.3, 0.0, 0.3])
        if i % 2:
            hits = rng.random(25) < 0.5 + shift
            out.append(stats.proportion_comparison(f"p{i}", int(hits.sum()), 25, 0.5, hypothesis="greater"))
        else:
            x = rng.random(25)
            out.append(stats.paired_comparison(f"d{i}", x + shift + 0.1 * rng.standard_normal(25), x,
                                               hypothesis=rng.choice(["greater", "less", "two-sided"]),
                                               n_resamples=50))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_families_are_the_former_ones(seed):
    rng = np.random.default_rng(seed)
    session = Settings(correction=["holm", "bh", "bonferroni", "none"][seed % 4])
    comparisons = _comparisons(rng, int(rng.integers(0, 6)))
    missing = [] if seed % 3 else ["held-out encoder (no companion)"]
    decided = None if seed % 2 or not comparisons else list(rng.random(len(comparisons)) < 0.6)
    new = decisions.conclude(_claim(), _STUDY, session, comparisons, metric="m", missing=missing, decided=decided,
                             figures={"f": 1})
    assert new == gr_decide(_claim(), _STUDY, session, comparisons, metric="m", missing=missing, decided=decided,
                            figures={"f": 1})
    if comparisons:
        ce = decisions.conclude(_claim(), _STUDY, session, comparisons, metric="ndcg_cut_10",
                                decision=decisions.hypotheses(comparisons), per_query={"a": {}})
        assert ce == ce_decide(_claim(), _STUDY, session, comparisons, per_query={"a": {}})


def test_a_lone_comparison_can_stay_uncorrected():
    """CE-7, CE-9 and CE-10 judge their one comparison alone (reason quotes p, not p_holm)."""
    (comparison,) = _comparisons(np.random.default_rng(1), 1)
    family = decisions.decide_family(Settings(), [comparison], corrected=False)
    assert family.comparisons == [replace(comparison, details={**comparison.details, "decides": True})]
    assert "decides" not in comparison.details  # the caller's comparison is left as it was
    assert (family.verdict, family.reason) == stats.family_verdict([comparison])
