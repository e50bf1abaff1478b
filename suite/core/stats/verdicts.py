"""The verdict rules of the package docstring, applied to one comparison and to a claim's family.

The rules live only here, so that the docstring that states them (and that every run
stores) and the code that applies them cannot drift apart across the kinds of comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from suite.core.results import Comparison, Verdict
from suite.core.stats.choices import check_choice
from suite.core.stats.power import (
    detectable_effect,
    power_binomial,
    power_binomial_tost,
    power_mcnemar,
    power_paired,
    power_tost,
)


def judge(
    c: Comparison, correction: str, alpha: float, min_power: float, level: float, p_difference: float | None = None
) -> Comparison:
    """The comparison with its power, verdict and reason derived by the package's verdict rules at
    ``level`` (alpha, or alpha/m in a corrected family): every comparison, alone or in a family,
    is decided here, so that no kind of comparison has rules of its own."""
    details = {
        **c.details,
        "correction": correction,
        "alpha": alpha,
        "min_power": min_power,
        "power_level": level,
        "p_difference_corrected": c.details["p_difference"] if p_difference is None else p_difference,
    }
    c = replace(c, details=details)
    c = replace(c, power=_power(c, level))
    if c.power is None:
        c.details["detectable_effect"] = detectable_effect(c, level, min_power)
    verdict, reason = _verdict(c, alpha)
    return replace(c, verdict=verdict, reason=reason)


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
    """Power of a comparison's test at ``level`` (see the package docstring), or None if no
    effect to detect was declared."""
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
    if hypothesis == "equivalent":
        return power_tost(details["sd_diff"], c.n, details["margin"], level)
    if expected is None:
        return None
    return power_paired(expected, details["sd_diff"], c.n, level, hypothesis)


def _verdict(c: Comparison, alpha: float) -> tuple[Verdict, str]:
    """The package's verdict rules applied to one comparison, with a reason in numbers."""
    details = c.details
    hypothesis, min_power = details["hypothesis"], details["min_power"]
    name = "p" if details["correction"] == "none" else f"p_{details['correction']}"
    p = f"{name}={c.p_corrected:.3g}"
    p_difference = f"{name}={details['p_difference_corrected']:.3g}"
    below, effect = f"< {alpha:g}", f"effect {c.effect:+.3g}"
    significant = c.p_corrected < alpha
    different = details["p_difference_corrected"] < alpha
    if hypothesis == "equivalent":
        margin = f"±{details['margin']:.3g}"
        if significant:
            return Verdict.SUPPORTED, f"equivalent within {margin}: {effect}, TOST {p} {below}"
        if different and abs(c.effect) > details["margin"]:
            reason = f"not equivalent: {effect} is beyond {margin} and significant ({p_difference} {below})"
            return Verdict.CONTRADICTED, reason
        comparator = "<" if c.power < min_power else ">="
        power = f"TOST power {c.power:.3g} {comparator} {min_power:.2f} at n={c.n}"
        return Verdict.INCONCLUSIVE, f"equivalence within {margin} not shown (TOST {p}); {power}"
    if hypothesis == "two-sided":
        if significant:
            return Verdict.SUPPORTED, f"significant difference: {effect} ({p} {below})"
        return _not_significant(c, p, min_power)
    sign = 1 if hypothesis == "greater" else -1
    if significant and sign * c.effect > 0:
        direction = "increase" if hypothesis == "greater" else "decrease"
        return Verdict.SUPPORTED, f"significant {direction}: {effect} ({p} {below})"
    if different and sign * c.effect < 0:
        reason = f"significant effect in the opposite direction: {effect} (two-sided {p_difference} {below})"
        return Verdict.CONTRADICTED, reason
    if significant:
        return Verdict.INCONCLUSIVE, f"one-sided {p} {below} but the mean {effect} has the opposite sign"
    return _not_significant(c, p, min_power)


def _not_significant(c: Comparison, p: str, min_power: float) -> tuple[Verdict, str]:
    if c.power is None:
        detectable = c.details.get("detectable_effect")
        if detectable is None:
            return Verdict.INCONCLUSIVE, f"not significant ({p}); no expected effect declared, so power is unknown"
        size = f"±{abs(detectable):.3g}" if c.details["hypothesis"] == "two-sided" else f"{detectable:+.3g}"
        return Verdict.INCONCLUSIVE, (
            f"not significant ({p}); no expected effect declared: at n={c.n} only an effect of "
            f"{size} or beyond is detected with power {min_power:.2f}"
        )
    target = f"at n={c.n} to detect {c.details['expected_effect']:+.3g}"
    if c.power >= min_power:
        return Verdict.CONTRADICTED, f"not significant ({p}) although power {c.power:.3g} >= {min_power:.2f} {target}"
    return Verdict.INCONCLUSIVE, f"not significant ({p}); power {c.power:.3g} < {min_power:.2f} {target}"
