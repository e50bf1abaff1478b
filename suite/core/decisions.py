"""From per-query values and the session's settings to comparisons and a claim's result, in one place.

Every measurement of both wings decides through these functions, so the mapping from
:class:`Settings` (alpha, correction, test, min_power, bootstrap, seed) to :mod:`ranker_claims.core.stats`
and the rule pairing treatment with control values are each written once.

Pairing rule (:func:`align`): per-query values come either as a mapping ``{qid: value}`` or as
an array whose position is the query (a study's row order). The pairs are the treatment's keys
that the control also has, in sorted key order (for an array: position order), keeping only
those where both values are finite; a scalar control is that constant for every query. The
order matters: the betting test bets on the values in this order, and bootstrap intervals
resample by position with the session's seed, so the same pairs in another order would give
other numbers (the order is the sorted qids, never a draw).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from ranker_claims.core import stats
from ranker_claims.core.claims import Claim, Settings
from ranker_claims.core.results import ClaimResult, Comparison, Verdict
from ranker_claims.core.study import Study

# Per-query values: {qid: value} or an array in the study's row order; a value may itself be an array.
PerQuery = Mapping[Any, Any] | Sequence[float] | np.ndarray

# The ranges measured values are known to lie in, declared with each paired comparison so that a
# test valid for every distribution on the range can decide (see ranker_claims.core.stats.paired).
UNIT = (0.0, 1.0)  # effectiveness measures (nDCG, MRR), attention weights, shares
SIGNED_UNIT = (-1.0, 1.0)  # cosines, rank correlations, differences of shares


def align(treatment: PerQuery, control: PerQuery | float) -> tuple[np.ndarray, np.ndarray]:
    """The paired arrays a test sees, by the rule in the module docstring (rows: queries, as float)."""
    if isinstance(treatment, Mapping):
        if isinstance(control, Mapping):
            keys = sorted(k for k in treatment if k in control)
            y = np.array([control[k] for k in keys], dtype=float)
        elif np.isscalar(control):
            keys = sorted(treatment)
            y = np.full(len(keys), float(cast(float, control)))
        else:
            raise TypeError("a per-query mapping pairs with a mapping or a constant, not with an array")
        x = np.array([treatment[k] for k in keys], dtype=float)
    else:
        if isinstance(control, Mapping):
            raise TypeError("a per-query array pairs with an array or a constant, not with a mapping")
        x = np.asarray(treatment, dtype=float)
        y = np.full_like(x, float(cast(float, control))) if np.isscalar(control) else np.asarray(control, dtype=float)
        if len(x) != len(y):
            raise ValueError(f"per-query arrays differ in length: {len(x)} and {len(y)}")
    finite = _finite_rows(x) & _finite_rows(y)
    return x[finite], y[finite]


def _finite_rows(values: np.ndarray) -> np.ndarray:
    """Per query (first axis), whether every entry of its value is finite."""
    return np.isfinite(values).all(axis=tuple(range(1, values.ndim)))


def paired(settings: Settings, label: str, treatment: PerQuery, control: PerQuery | float, *, hypothesis: str,
           bounds: tuple[float, float] | None, margin: float | None = None, expected_effect: float | None = None,
           smallest_effect: float | None = None, resamples: int | None = None, unit: str = "queries") -> Comparison:
    """A paired test of mean(treatment - control) over the aligned queries: the session's test where
    it holds its level on the data's own shape, else betting on values within ``bounds`` (the
    range every value lies in, or None where none is known; see ranker_claims.core.stats.paired).

    ``resamples`` overrides ``settings.bootstrap`` for intervals that are only displayed where no
    range is declared (the per-head screen of CE-6 uses 200)."""
    x, y = align(treatment, control)
    return stats.paired_comparison(
        label, x, float(cast(float, control)) if np.isscalar(control) else y, hypothesis=hypothesis, margin=margin, expected_effect=expected_effect,
        smallest_effect=smallest_effect, bounds=bounds, test=settings.test, alpha=settings.alpha, min_power=settings.min_power,
        n_resamples=settings.bootstrap if resamples is None else resamples, seed=settings.seed, unit=unit,
    )


def proportion(settings: Settings, label: str, hits: ArrayLike, p0: float, *, hypothesis: str,
               margin: float | None = None, expected_effect: float | None = None,
               smallest_effect: float | None = None, selection: int = 1, unit: str = "queries") -> Comparison:
    """k of n queries (``hits``, one boolean per query) against p0, exact binomial; ``selection``:
    the proportion is the worst of that many candidates (see :func:`stats.proportion_comparison`)."""
    hits = np.asarray(hits, dtype=bool)
    return stats.proportion_comparison(
        label, int(hits.sum()), int(hits.size), p0, hypothesis=hypothesis, margin=margin,
        expected_effect=expected_effect, smallest_effect=smallest_effect, selection=selection,
        alpha=settings.alpha, min_power=settings.min_power, unit=unit,
    )


def bounded_mean(settings: Settings, label: str, values: PerQuery, bound: float, *, hypothesis: str,
                 unit: str = "queries") -> Comparison:
    """The mean of per-query values in [0, 1] (shares) against a constant, by the betting test
    (see :func:`stats.bounded_mean_comparison`): no draw, no seed."""
    x, _ = align(values, bound)
    return stats.bounded_mean_comparison(label, x, bound, hypothesis=hypothesis, alpha=settings.alpha,
                                         min_power=settings.min_power, unit=unit)


def mcnemar(settings: Settings, label: str, treatment: Sequence[bool] | np.ndarray,
            control: Sequence[bool] | np.ndarray, *, hypothesis: str, expected_effect: float | None = None,
            unit: str = "queries") -> Comparison:
    """Two success rates on the same queries (same positions), exact McNemar."""
    return stats.mcnemar_comparison(label, treatment, control, hypothesis=hypothesis, expected_effect=expected_effect,
                                    alpha=settings.alpha, min_power=settings.min_power, unit=unit)


def mcnemar_against_each(settings: Settings, label: str, treatment: Sequence[bool] | np.ndarray,
                         controls: Mapping[str, Sequence[bool] | np.ndarray], *, hypothesis: str,
                         expected_effect: float | None = None, unit: str = "queries") -> Comparison:
    """A success rate against EACH of several named controls on the same queries (same positions),
    one exact McNemar per control: supported if it beats every one (the largest p-value: an
    intersection-union test), contradicted if any one beats it (Bonferroni over the controls); see
    :func:`stats.mcnemar_against_each`. Use it where the control would otherwise be picked by the data
    (the worst of a stage's layers)."""
    return stats.mcnemar_against_each(label, treatment, list(controls.values()), names=list(controls),
                                      hypothesis=hypothesis, expected_effect=expected_effect, alpha=settings.alpha,
                                      min_power=settings.min_power, unit=unit)


def independent(settings: Settings, label: str, treatment: Sequence[float] | np.ndarray,
                control: Sequence[float] | np.ndarray, *, hypothesis: str, unit: str = "heads") -> Comparison:
    """Two unpaired samples (e.g. the depths of two sets of heads), exact Mann-Whitney U."""
    return stats.independent_comparison(label, treatment, control, hypothesis=hypothesis, alpha=settings.alpha,
                                        min_power=settings.min_power, n_resamples=settings.bootstrap,
                                        seed=settings.seed, unit=unit)


def stratified(settings: Settings, label: str, treatment: Sequence[float] | np.ndarray,
               control: Sequence[float] | np.ndarray, strata_treatment: Sequence[Any] | np.ndarray,
               strata_control: Sequence[Any] | np.ndarray, *, hypothesis: str, unit: str = "heads",
               stratum: str = "layer") -> Comparison:
    """Two unpaired samples compared within strata (heads within their layers), van Elteren's
    stratified rank-sum test; strata holding only one sample drop out. Its p-values, sampled
    beyond 20,000 within-stratum splits, use a fixed seed: the session's seeds only the interval."""
    return stats.stratified_comparison(label, treatment, control, strata_treatment, strata_control,
                                       hypothesis=hypothesis, alpha=settings.alpha, min_power=settings.min_power,
                                       n_resamples=settings.bootstrap, seed=settings.seed, unit=unit,
                                       stratum=stratum)


def correct(settings: Settings, comparisons: Sequence[Comparison], *, require: str) -> list[Comparison]:
    """The comparisons corrected together by ``settings.correction``, their verdicts re-derived;
    ``require`` is what they conclude together ("all" or "any", see :func:`stats.correct_family`)."""
    return stats.correct_family(comparisons, method=settings.correction, alpha=settings.alpha, require=require)


@dataclass(frozen=True)
class Family:
    """A claim's comparisons after correction, and the verdict of those that decide it."""

    comparisons: list[Comparison]
    deciding: list[Comparison]
    verdict: Verdict
    reason: str


def decide_family(settings: Settings, comparisons: Sequence[Comparison], *, decided: Sequence[bool] | None = None,
                  missing: Sequence[str] = (), corrected: bool = True) -> Family:
    """Correct the comparisons and take the family's verdict: every deciding comparison must hold.

    ``decided``: which comparisons decide (default all); they are corrected together as the
    claim's family (an intersection-union test: see :func:`stats.correct_family`), and the
    others, reported beside them, among themselves as a screen. The two-sided p-values that
    tables show are corrected over all of them. ``missing``: parts of the claim that could not
    be measured (with why); the claim is then at best INCONCLUSIVE, and a CONTRADICTED part
    still contradicts it. ``corrected=False`` keeps a lone comparison as judged alone (its
    reason then quotes ``p``, not ``p_holm``)."""
    flags = [True] * len(comparisons) if decided is None else list(decided)
    if corrected and comparisons:
        deciding = correct(settings, [c for c, d in zip(comparisons, flags) if d], require="all")
        reported = correct(settings, [c for c, d in zip(comparisons, flags) if not d], require="any")
        shown = stats.correct([c.details["p_difference"] for c in comparisons], settings.correction)
        parts = {True: iter(deciding), False: iter(reported)}
        family = [next(parts[d]) for d in flags]
        for c, p in zip(family, shown):
            c.details["p_difference_corrected"] = float(p)
    else:
        family = list(comparisons)
    family = [replace(c, details={**c.details, "decides": bool(d)}) for c, d in zip(family, flags)]
    deciding = [c for c, d in zip(family, flags) if d]
    if deciding:
        verdict, reason = stats.family_verdict(deciding)
    else:
        verdict, reason = Verdict.INCONCLUSIVE, "nothing could be measured"
    if missing:
        note = "; ".join(missing)
        if verdict is Verdict.SUPPORTED:
            verdict, reason = Verdict.INCONCLUSIVE, f"{reason}, but not measured: {note}"
        else:
            reason = f"{reason}; not measured: {note}"
    return Family(family, deciding, verdict, reason)


def hypotheses(comparisons: Sequence[Comparison]) -> str:
    """The distinct hypotheses tested, sorted: "equivalent, less"."""
    return ", ".join(sorted({c.details.get("hypothesis", "") for c in comparisons} - {""}))


def kinds_and_hypotheses(comparisons: Sequence[Comparison]) -> str:
    """The distinct kinds of test and hypotheses: "paired, proportion: greater, less" ("none" if empty)."""
    if not comparisons:
        return "none"
    kinds = ", ".join(sorted({c.details.get("kind", "") for c in comparisons} - {""}))
    return f"{kinds}: {hypotheses(comparisons)}"


def conclude(claim: Claim, study: Study, settings: Settings, comparisons: Sequence[Comparison], *, metric: str,
             decision: str | None = None, decided: Sequence[bool] | None = None, missing: Sequence[str] = (),
             corrected: bool = True, **fields: Any) -> ClaimResult:
    """The claim's result: its family decided by :func:`decide_family`, described by ``decision``
    (default: :func:`kinds_and_hypotheses` of the deciding comparisons); ``fields`` go to the
    result as they are (figures, per_query)."""
    family = decide_family(settings, comparisons, decided=decided, missing=missing, corrected=corrected)
    return claim.result(
        study,
        settings,
        metric=metric,
        decision=kinds_and_hypotheses(family.deciding) if decision is None else decision,
        verdict=family.verdict,
        reason=family.reason,
        comparisons=family.comparisons,
        **fields,
    )
