"""The option names the statistics accept, and the one check that rejects any other."""

from __future__ import annotations

ALTERNATIVES = ("two-sided", "greater", "less")
HYPOTHESES = ("greater", "less", "two-sided", "equivalent")
TESTS = ("t", "wilcoxon", "randomization", "betting")
CORRECTIONS = ("holm", "bh", "bonferroni", "none")
# The kinds of decision the calibration simulates (ranker_claims.core.stats.calibration.CALIBRATED).
DECISIONS = ("superiority", "superiority-smallest", "difference", "equivalence", "proportion",
             "proportion-equivalence", "worst-of-L", "bounded", "mcnemar", "mann-whitney", "screen", "family")


def check_choice(value: str, allowed: tuple[str, ...], what: str) -> None:
    """Fail loudly on a misspelt option rather than fall through to some default branch."""
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
