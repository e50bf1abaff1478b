"""Statistics: the tests, corrections, intervals, power and verdicts of claims.

Every claim is decided from per-query values (or counts of queries) by the functions of this
package, so that one set of rules, stated once below and quoted by the report, governs all of
them. The package re-exports its public API: callers write ``stats.paired_comparison(...)``.

Modules
-------
- :mod:`.tests`: the hypothesis tests (paired t, Wilcoxon, randomization, exact sign-flip, TOST, binomial,
  McNemar, Mann-Whitney) and the smallest p-value each can give;
- :mod:`.corrections`: Holm, Benjamini-Hochberg and Bonferroni, and the correction of a family;
- :mod:`.intervals`: bootstrap and Clopper-Pearson confidence intervals;
- :mod:`.power`: power, the detectable effect, and effect sizes;
- :mod:`.comparisons`: per-query data turned into a judged comparison;
- :mod:`.verdicts`: the verdict rules below, for one comparison and for a claim;
- :mod:`.calibration`: those rules run on simulated data, for both verdicts;
- :mod:`.choices`: the option names the functions accept.

Conventions
-----------
Paired values are aligned by query: ``x`` (treatment) and ``y`` (control). The effect is
mean(x - y); ``alternative="greater"`` means mean(x - y) > 0. Tests return a
:class:`TestResult`; decisions return a :class:`suite.core.results.Comparison`, which records
its unit of analysis (queries, heads) and n.

Verdict rules
-------------
Each comparison has two tests, each with a controlled error rate: a support test, whose
rejection says SUPPORTED, and a contradiction test, whose rejection says CONTRADICTED. Neither
rejecting is INCONCLUSIVE, and the reason says why in numbers (power against the paper's
expected effect, or the smallest effect the test detects). A contradiction takes precedence.

- Superiority ("greater" / "less"): supported if the one-sided test rejects "no effect" and
  the mean has the claimed sign. Contradicted if a one-sided test rejects "effect >= the
  smallest effect of interest" (for "less": <=), declared per claim in the TOML from the paper
  before measuring; where none is declared it is 0: only a significant effect the other way
  contradicts. An effect significant but shown smaller than the smallest of interest is
  contradicted: it exists, and is too small to be the paper's.
- Difference ("two-sided"): supported if the two-sided test rejects; contradicted only where a
  smallest effect is declared, by the TOST showing |effect| below it.
- Equivalence ("equivalent", within +-margin): supported if the TOST (two one-sided tests)
  rejects; contradicted if the (1 - 2 alpha) interval lies wholly outside +-margin (one of the
  one-sided tests of effect > margin or effect < -margin rejects).
- Proportions (k of n queries against p0) follow the same rules with exact binomial tests;
  bounded shares against a constant with the exact binomial test on one seeded Bernoulli draw
  per unit; paired proportions with the exact McNemar test; two unpaired samples (heads) with
  the exact Mann-Whitney test, whose effect is the Hodges-Lehmann shift.
- A proportion that is the worst of L candidates (a layer picked as the worst) has its
  contradiction p-value multiplied by L; its support needs no correction.
- Minimum n: below EXACT_BELOW (16) pairs the exact sign-flip test replaces the session's
  paired test. A comparison whose test cannot give a p-value below its level at its n
  (2**-n one-sided for sign-flip and Wilcoxon tests, p0**n for a binomial test, 1 / C(n1 + n2,
  n1) for Mann-Whitney, 2**-m for McNemar on m discordant queries) is INCONCLUSIVE as
  undecidable, and its power is 0. Paired differences without spread (all equal) are
  INCONCLUSIVE: there is nothing to test the mean against.
- Power is that of the test that decided: analytic for the t-test (noncentral t, the exact
  TOST integral) and binomial tests, simulated for the sign-flip, Wilcoxon and randomization
  tests. It words the INCONCLUSIVE reason; it never decides.
- A claim of several comparisons requires all of them by default (an intersection-union
  test): SUPPORTED if every one is supported, each at alpha; CONTRADICTED if any is
  contradicted, the contradiction p-values corrected within the claim (Holm by default).
  A claim that requires any (a screen over heads): SUPPORTED if any is supported, the support
  p-values corrected; CONTRADICTED if all are contradicted.

Calibration
-----------
:func:`simulate_verdict_rate` (in :mod:`.calibration`) runs each decision on data simulated
at the boundary of its null, for SUPPORTED and for CONTRADICTED, on continuous and discrete
data at small and real n, so that the suite shows (and its tests assert) that neither comes
out at more than alpha where it should not; :func:`simulate_power` checks the analytic power
against simulation.
"""

from __future__ import annotations

from suite.core.stats.calibration import (
    CalibrationResult,
    PowerResult,
    simulate_power,
    simulate_verdict_rate,
)
from suite.core.stats.choices import (
    ALTERNATIVES,
    CORRECTIONS,
    DECISIONS,
    HYPOTHESES,
    TESTS,
)
from suite.core.stats.comparisons import (
    bounded_mean_comparison,
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
    power_paired_test,
    power_tost,
)
from suite.core.stats.tests import (
    EXACT_BELOW,
    TestResult,
    binomial_test,
    mann_whitney,
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
    "EXACT_BELOW",
    "benjamini_hochberg",
    "bounded_mean_comparison",
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
    "mann_whitney",
    "mcnemar",
    "mcnemar_comparison",
    "paired_comparison",
    "paired_t",
    "paired_test",
    "power_binomial",
    "power_binomial_tost",
    "power_mcnemar",
    "power_paired",
    "power_paired_test",
    "power_tost",
    "proportion_comparison",
    "randomization",
    "simulate_power",
    "simulate_verdict_rate",
    "tost_binomial",
    "tost_paired",
    "wilcoxon",
]
