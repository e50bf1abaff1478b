"""Statistics: the tests, corrections, intervals, power and verdicts of claims.

Every claim is decided from per-query values (or counts of queries) by the functions of this
package, so that one set of rules, stated once below and quoted by the report, governs all of
them. The package re-exports its public API: callers write ``stats.paired_comparison(...)``.

Modules
-------
- :mod:`.tests`: the hypothesis tests (paired t, Wilcoxon, randomization, TOST, binomial, McNemar);
- :mod:`.corrections`: Holm, Benjamini-Hochberg and Bonferroni, and the correction of a family;
- :mod:`.intervals`: bootstrap and Clopper-Pearson confidence intervals;
- :mod:`.power`: power, the detectable effect, and effect sizes;
- :mod:`.comparisons`: per-query data turned into a judged comparison;
- :mod:`.verdicts`: the verdict rules below, for one comparison and for a claim;
- :mod:`.calibration`: those rules run on simulated data;
- :mod:`.choices`: the option names the functions accept.

Conventions
-----------
Paired values are aligned by query: ``x`` (treatment) and ``y`` (control). The effect is
mean(x - y); ``alternative="greater"`` means mean(x - y) > 0. Tests return a
:class:`TestResult`; decisions return a :class:`suite.core.results.Comparison`. Power is that of
the paired t-test (noncentral t; exact TOST power by integrating over the sample sd) at the
observed sd and n; for the Wilcoxon and randomization tests it is an approximation.

Verdict rules
-------------
Each comparison tests a hypothesis about effect = mean(treatment - control) and ends
SUPPORTED, CONTRADICTED or INCONCLUSIVE. A "significant" result has a p-value below alpha
after correction within the claim's family of m comparisons (Holm by default). Power is
computed at the observed sd and n, at level alpha/m for a corrected family of m (a lower
bound on the power of Holm, BH and Bonferroni; alpha alone when m = 1 or uncorrected).

- Superiority ("greater" / "less"): SUPPORTED if p_corrected < alpha and the effect has the
  claimed sign. CONTRADICTED if the effect is significant in the opposite direction
  (two-sided p_corrected < alpha with the wrong sign), or if it is not significant while the
  power to detect the declared expected effect is >= min_power. Otherwise INCONCLUSIVE, and
  the reason states the power; where no expected effect was declared, it states instead the
  smallest effect the test detects with probability min_power at this n (the detectable effect).
- Difference ("two-sided"): SUPPORTED if p_corrected < alpha. CONTRADICTED if not, while the
  power to detect the declared expected effect is >= min_power. Otherwise INCONCLUSIVE.
- Equivalence ("equivalent", within +-margin, by two one-sided tests, TOST): SUPPORTED if
  the TOST p_corrected < alpha. CONTRADICTED if the two-sided difference test is significant
  (corrected) and |effect| > margin. Otherwise INCONCLUSIVE, with the TOST power at a true
  effect of 0 stated.
- Proportions (k of n queries against a reference proportion p0) follow the superiority and
  equivalence rules with exact binomial tests; their effect is k/n - p0.
- Paired proportions (the same queries under two conditions, each a success or not) follow
  the superiority rules with the exact McNemar test on the discordant queries; their effect
  is the difference in success rates, and power is taken conditionally on the observed
  number of discordant queries.
- A claim of several comparisons requires all of them by default: SUPPORTED if every one is
  SUPPORTED, CONTRADICTED if any is CONTRADICTED, otherwise INCONCLUSIVE. A claim that
  requires any: SUPPORTED if any is SUPPORTED, CONTRADICTED if all are CONTRADICTED,
  otherwise INCONCLUSIVE.

Calibration
-----------
:func:`simulate_false_positive_rate` and :func:`simulate_power` (in :mod:`.calibration`) run
the decisions above on data simulated under a null or a known effect, so that the suite can
show (and its tests assert) that SUPPORTED comes out at most at rate alpha when nothing is there.
"""

from __future__ import annotations

from suite.core.stats.calibration import (
    CalibrationResult,
    PowerResult,
    simulate_false_positive_rate,
    simulate_power,
)
from suite.core.stats.choices import (
    ALTERNATIVES,
    CORRECTIONS,
    DECISIONS,
    HYPOTHESES,
    TESTS,
)
from suite.core.stats.comparisons import (
    independent_comparison,
    mcnemar_comparison,
    paired_comparison,
    proportion_comparison,
)
from suite.core.stats.corrections import (
    benjamini_hochberg,
    correct,
    correct_family,
    holm,
)
from suite.core.stats.intervals import bootstrap_ci, clopper_pearson
from suite.core.stats.power import (
    cohens_dz,
    cohens_h,
    detectable_effect,
    power_binomial,
    power_binomial_tost,
    power_mcnemar,
    power_paired,
    power_tost,
)
from suite.core.stats.tests import (
    TestResult,
    binomial_test,
    mcnemar,
    paired_t,
    paired_test,
    randomization,
    tost_binomial,
    tost_paired,
    wilcoxon,
)
from suite.core.stats.verdicts import family_verdict

__all__ = [
    "ALTERNATIVES",
    "CORRECTIONS",
    "DECISIONS",
    "HYPOTHESES",
    "TESTS",
    "CalibrationResult",
    "PowerResult",
    "TestResult",
    "benjamini_hochberg",
    "binomial_test",
    "bootstrap_ci",
    "clopper_pearson",
    "cohens_dz",
    "cohens_h",
    "correct",
    "correct_family",
    "detectable_effect",
    "family_verdict",
    "holm",
    "independent_comparison",
    "mcnemar",
    "mcnemar_comparison",
    "paired_comparison",
    "paired_t",
    "paired_test",
    "power_binomial",
    "power_binomial_tost",
    "power_mcnemar",
    "power_paired",
    "power_tost",
    "proportion_comparison",
    "randomization",
    "simulate_false_positive_rate",
    "simulate_power",
    "tost_binomial",
    "tost_paired",
    "wilcoxon",
]
