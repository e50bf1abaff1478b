"""Multiple-comparison corrections, and the correction of a claim's family of comparisons.

A claim of several comparisons is significant only after correction within the claim, so
correcting the family also re-derives each comparison's verdict at the corrected level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike

from ranker_claims.core.results import Comparison
from ranker_claims.core.stats.choices import CORRECTIONS, check_choice
from ranker_claims.core.stats.verdicts import judge


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control), in the input order."""
    p = _pvalues(pvalues)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def benjamini_hochberg(pvalues: ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (false-discovery rate), in the input order."""
    p = _pvalues(pvalues)
    m = p.size
    order = np.argsort(p, kind="stable")[::-1]
    adjusted = np.minimum.accumulate(p[order] * m / (m - np.arange(m)))
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def correct(pvalues: ArrayLike, method: str) -> np.ndarray:
    """Adjusted p-values by ``method``: "holm", "bh", "bonferroni" or "none"."""
    check_choice(method, CORRECTIONS, "correction")
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    p = _pvalues(pvalues)
    return np.minimum(p * p.size, 1.0) if method == "bonferroni" else p


def correct_family(
    comparisons: Sequence[Comparison], method: str = "holm", alpha: float = 0.05, *, require: str,
    describe: bool = True,
) -> list[Comparison]:
    """Correct a claim's comparisons together and re-derive their verdicts.

    Which p-values need correcting follows from what the family concludes (``require``):
    "all" (the claim holds if every comparison does) is an intersection-union test, level alpha
    with each support test at alpha, while it is contradicted if ANY comparison is, so the
    contradiction p-values are corrected; "any" (a screen: some head, some layer) is the mirror
    image. The two-sided difference p-values, shown in tables, are always corrected. Returns new
    comparisons; applying it twice gives the same result."""
    check_choice(method, CORRECTIONS, "correction")
    check_choice(require, ("all", "any"), "require")
    if not comparisons:
        return []
    m = len(comparisons)
    support: ArrayLike = [c.p_value for c in comparisons]
    contradiction: ArrayLike = [c.details["p_contradiction"] for c in comparisons]
    if require == "all":
        support, contradiction = correct(support, "none"), correct(contradiction, method)
    else:
        support, contradiction = correct(support, method), correct(contradiction, "none")
    difference = correct([c.details["p_difference"] for c in comparisons], method)
    level = alpha / m if require == "any" and method != "none" else alpha
    return [
        judge(replace(c, p_corrected=float(p)), method, alpha, c.details["min_power"], level,
              p_contradiction=float(pc), p_difference=float(pd), describe=describe,
              corrected=(require == "any", require == "all"))
        for c, p, pc, pd in zip(comparisons, support, contradiction, difference)
    ]


# --------------------------------------------------------------------------- internals


def _pvalues(pvalues: ArrayLike) -> np.ndarray:
    p = np.asarray(pvalues, dtype=float).ravel()
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    return p
