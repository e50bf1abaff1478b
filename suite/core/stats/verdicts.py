"""The verdict rules of the package docstring, applied to one comparison and to a claim's family.

The rules live only here, so that the docstring that states them (and that every run
stores) and the code that applies them cannot drift apart across the kinds of comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ranker_claims.core.results import Comparison, Verdict
from ranker_claims.core.stats.choices import check_choice
from ranker_claims.core.stats.power import (
    detectable_effect,
    power_binomial,
    power_binomial_tost,
    power_mcnemar,
    power_paired_test,
)


def judge(
    c: Comparison, correction: str, alpha: float, min_power: float, level: float, *,
    p_contradiction: float | None = None, p_difference: float | None = None,
    corrected: tuple[bool, bool] = (False, False), describe: bool = True,
) -> Comparison:
    """The comparison with its power, verdict and reason derived by the package's verdict rules.

    ``level`` is the level its support test faces (alpha, or alpha/m where the family's support
    p-values are corrected); ``c.p_corrected`` and ``p_contradiction`` are its support and
    contradiction p-values after the family's correction (default: as measured), and
    ``corrected`` says which of the two were corrected, for the names the reason gives them. Every
    comparison, alone or in a family, is decided here, so no kind of comparison has rules of its
    own. ``describe=False`` skips power and the detectable effect, which only word the reason
    (the calibration simulations decide thousands of comparisons)."""
    details = {
        **c.details,
        "correction": correction,
        "alpha": alpha,
        "min_power": min_power,
        "power_level": level,
        "p_difference_corrected": c.details["p_difference"] if p_difference is None else p_difference,
        "p_contradiction_corrected": c.details["p_contradiction"] if p_contradiction is None else p_contradiction,
        "corrected": {"support": corrected[0], "contradiction": corrected[1]},
    }
    c = replace(c, details=details)
    if describe:
        c = replace(c, power=_power(c, level))
        if c.power is None:
            c.details["detectable_effect"] = detectable_effect(c, level, min_power)
    verdict, reason = _verdict(c, alpha, describe)
    note = _shape_note(c)
    return replace(c, verdict=verdict, reason=f"{reason}; {note}" if note else reason)


def family_verdict(comparisons: Sequence[Comparison], require: str = "all") -> tuple[Verdict, str]:
    """A claim's verdict from its (corrected) comparisons; the rule is in the package docstring."""
    check_choice(require, ("all", "any"), "require")
    if not comparisons:
        raise ValueError("a claim needs at least one comparison")
    m = len(comparisons)
    counts = {v: sum(c.verdict is v for c in comparisons) for v in Verdict}
    if require == "all":
        if counts[Verdict.CONTRADICTED]:
            verdict = Verdict.CONTRADICTED
        else:
            verdict = Verdict.SUPPORTED if counts[Verdict.SUPPORTED] == m else Verdict.INCONCLUSIVE
    elif counts[Verdict.SUPPORTED]:
        verdict = Verdict.SUPPORTED
    else:
        verdict = Verdict.CONTRADICTED if counts[Verdict.CONTRADICTED] == m else Verdict.INCONCLUSIVE
    if m == 1:
        return verdict, comparisons[0].reason
    summary = ", ".join(f"{counts[v]} {v.value.lower()}" for v in Verdict if counts[v])
    reason = f"{summary} of {m} comparisons (requires {require})"
    if verdict is not Verdict.SUPPORTED:
        labels = [c.label for c in comparisons if c.verdict is verdict]
        shown = ", ".join(labels[:3]) + (f" and {len(labels) - 3} more" if len(labels) > 3 else "")
        reason += f"; {verdict.value.lower()}: {shown}"
    return verdict, reason


# --------------------------------------------------------------------------- internals


def _power(c: Comparison, level: float) -> float | None:
    """Power of a comparison's support test at ``level`` against its expected effect (TOST: at a
    true effect of 0), by the test that decided it; None if no effect to detect was declared."""
    details = c.details
    hypothesis, expected = details["hypothesis"], details.get("expected_effect")
    if details["kind"] == "independent":
        return None
    if details["kind"] == "mcnemar":
        if expected is None or hypothesis == "two-sided":
            return None
        return power_mcnemar(expected, c.n, sum(details["discordant"]), level, hypothesis)
    if details["kind"] == "proportion":
        if hypothesis == "equivalent":
            return power_binomial_tost(c.n, details["p0"], details["margin"], level)
        if expected is None:
            return None
        return power_binomial(min(max(details["p0"] + expected, 0.0), 1.0), c.n, details["p0"], level, hypothesis)
    bounds = details.get("bounds")
    if hypothesis == "equivalent":
        return power_paired_test(details["test"], 0.0, details["sd_diff"], c.n, level, margin=details["margin"],
                                 bounds=bounds)
    if expected is None:
        return None
    return power_paired_test(details["test"], expected, details["sd_diff"], c.n, level, hypothesis, bounds=bounds)


def _verdict(c: Comparison, alpha: float, describe: bool = True) -> tuple[Verdict, str]:
    """The package's verdict rules applied to one comparison, with a reason in numbers."""
    details = c.details
    hypothesis = details["hypothesis"]
    name, name_contra = (f"p_{details['correction']}" if flag and details["correction"] != "none" else "p"
                         for flag in (details["corrected"]["support"], details["corrected"]["contradiction"]))
    p_contra = details["p_contradiction_corrected"]
    below, effect = f"< {alpha:g}", f"effect {c.effect:+.3g}"
    if p_contra < alpha:
        if not _against_claim(c):
            return Verdict.INCONCLUSIVE, (f"the contradiction test rejects ({name_contra}={p_contra:.3g} {below}) but the "
                                          f"{effect} lies on the claim's side: the test and the mean disagree")
        return Verdict.CONTRADICTED, (
            f"{details['contradiction_means']}: {effect} ({details['contradiction_null']} rejected, "
            f"{name_contra}={p_contra:.3g} {below})")
    supported = c.p_corrected < alpha
    if hypothesis in ("greater", "less") and supported and (1 if hypothesis == "greater" else -1) * c.effect <= 0:
        return Verdict.INCONCLUSIVE, f"one-sided {name}={c.p_corrected:.3g} {below} but the {effect} has the opposite sign"
    if supported:
        what = {"equivalent": f"equivalent within ±{details.get('margin') or 0:.3g}", "two-sided": "significant difference",
                "greater": "significant increase", "less": "significant decrease"}[hypothesis]
        test = "TOST " if hypothesis == "equivalent" else ""
        return Verdict.SUPPORTED, f"{what}: {effect} ({test}{name}={c.p_corrected:.3g} {below})"
    return Verdict.INCONCLUSIVE, _undecided(c, name, name_contra, describe)


def _shape_note(c: Comparison) -> str | None:
    """Where the session's test failed its check on the comparison's own shape: its false rate, and
    which test decided instead (or that none could)."""
    check = c.details.get("shape_check")
    if not check or not check["failed"]:
        return None
    from ranker_claims.core.stats.paired import DECIDING_NAMES

    rates = ", ".join(f"{check['rates'][a]:.1%} ({a})" for a in check["failed"])
    fallback = "the betting test decides there" if c.details.get("bounds") else "no test decides there (no range declared)"
    return (f"on this data's own shape the {DECIDING_NAMES[check['test']]} rejects a true null at a rate of {rates} "
            f"over {check['resamples']} resamples, above its limit {check['limit']:.1%}: {fallback}")


def _against_claim(c: Comparison) -> bool:
    """Whether the estimate itself lies where a contradiction puts it: below the smallest effect of
    interest (above, for "less"), beyond the margin, within the declared size. A rank test can
    reject while the mean sits on the claim's side; then the data disagree, and nothing is decided."""
    details = c.details
    hypothesis, smallest = details["hypothesis"], details.get("smallest_effect") or 0.0
    if hypothesis == "greater":
        return c.effect < smallest
    if hypothesis == "less":
        return c.effect > smallest
    if hypothesis == "equivalent":
        return abs(c.effect) > details["margin"]
    return abs(c.effect) < abs(smallest)


def _undecided(c: Comparison, name: str, name_contra: str, describe: bool) -> str:
    """Why neither test rejected: the test cannot at this n, or its power, or what it could detect."""
    details = c.details
    unit, level, min_power = details.get("unit", "queries"), details["power_level"], details["min_power"]
    test = "TOST" if details["hypothesis"] == "equivalent" else "test"
    shown = f"not significant ({test} {name}={c.p_corrected:.3g})"
    if details.get("contradiction_null"):
        shown += (f" and not contradicted ({details['contradiction_null']} not rejected, "
                  f"{name_contra}={details['p_contradiction_corrected']:.3g})")
    if details.get("untestable"):
        return f"undecidable: {details['untestable']} (n={c.n} {unit})"
    if details["smallest_p"] >= level:
        return (f"undecidable: at n={c.n} {unit} the smallest p-value this test can give is {details['smallest_p']:.3g}, "
                f"not below its level {level:.3g}")
    if not describe:
        return shown
    if c.power is not None:
        target = "at a true effect of 0" if details["hypothesis"] == "equivalent" else f"to detect {details['expected_effect']:+.3g}"
        return f"{shown}; power {c.power:.3g} {'<' if c.power < min_power else '>='} {min_power:.2f} at n={c.n} {target}"
    detectable = details.get("detectable_effect")
    if detectable is None:
        return f"{shown}; no expected effect declared"
    size = f"±{abs(detectable):.3g}" if details["hypothesis"] == "two-sided" else f"{detectable:+.3g}"
    return f"{shown}; at n={c.n} {unit} only an effect of {size} or beyond is detected with power {min_power:.2f}"
