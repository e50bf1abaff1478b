"""Statistics: the tests, corrections, intervals, power and verdicts of claims.

Every claim is decided from per-query values (or counts of queries) by the functions of this
package, so that one set of rules, stated once below and quoted by the report, governs all of
them. The package re-exports its public API: callers write ``stats.paired_comparison(...)``.

Modules
-------
- :mod:`.tests`: the hypothesis tests (paired t, Wilcoxon, randomization, exact sign-flip, TOST, binomial,
  McNemar, Mann-Whitney, stratified rank sum) and the smallest p-value each can give;
- :mod:`.betting`: tests and intervals for means of bounded values by betting;
- :mod:`.paired`: which test decides a paired comparison, and the check on its own data;
- :mod:`.corrections`: Holm, Benjamini-Hochberg and Bonferroni, and the correction of a family;
- :mod:`.intervals`: bootstrap and Clopper-Pearson confidence intervals (betting intervals: :mod:`.betting`);
- :mod:`.power`: power, the detectable effect, and effect sizes;
- :mod:`.comparisons`: per-query data turned into a judged comparison;
- :mod:`.verdicts`: the verdict rules below, for one comparison and for a claim;
- :mod:`.calibration`: those rules run on simulated data, for both verdicts;
- :mod:`.choices`: the option names the functions accept.

Conventions
-----------
Paired values are aligned by query: ``x`` (treatment) and ``y`` (control). The effect is
mean(x - y); ``alternative="greater"`` means mean(x - y) > 0. Tests return a
:class:`TestResult`; decisions return a :class:`ranker_claims.core.results.Comparison`, which records
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
- Which test decides a paired comparison (:mod:`.paired`). A comparison declares the range its
  values lie in where one is known (nDCG and shares in [0, 1], cosines in [-1, 1]). On such
  values the betting test (:mod:`.betting`; Waudby-Smith and Ramdas, JRSS-B 2024) is valid at
  every n for every distribution on that range, skewed or mostly zero. The session's test (the
  t-test by default) decides instead only where it is shown valid on this comparison's data:
  at least CHECKED_FROM (16) differences off the most common one, and its false rate on
  resamples of the comparison's own differences, shifted onto each null's boundary (the design
  of Urbano, Lima and Hanjalic, SIGIR 2019), at most alpha + 3 Monte-Carlo standard errors.
  Where it fails, the reason gives its rate and betting decides; on values without a declared
  range nothing does (below CHECKED_FROM (16) differences off the most common one, a mean of
  unbounded values has no valid test). No decision rule depends on the session's seed: the
  tests that sample (a randomization test, a Mann-Whitney or stratified test of many splits)
  and the shape check draw from fixed streams. The seed picks what a measurement's design
  leaves to chance (random orderings, query splits) and the displayed bootstrap intervals.
- Proportions (k of n queries against p0) follow the same rules with exact binomial tests;
  bounded shares against a constant by betting on [0, 1] alone (mostly-zero shares are the
  shape the check above cannot see); paired proportions with the exact McNemar test; a whole
  stage against each of its layers by exact McNemar tests (supported if it beats every layer,
  contradicted if a layer beats it, Bonferroni over the layers); two unpaired samples (heads)
  with the exact Mann-Whitney test, whose effect is the Hodges-Lehmann shift, and heads
  compared within their layers by van Elteren's stratified rank-sum test.
- A proportion that is the worst of L candidates (a layer picked as the worst) has its
  contradiction p-value multiplied by L; its support needs no correction.
- Minimum n. A comparison whose test cannot give a p-value below its level at its n (betting:
  every value at the range's end; 2**-m one-sided for sign-flip and Wilcoxon tests with m the
  differences that are not zero, p0**n for a binomial test, 1 / C(n1 + n2, n1) for
  Mann-Whitney, 2**-m for McNemar on m discordant queries) is INCONCLUSIVE as undecidable, and
  its power is 0. Equal differences are decided by what they show: ten gains of +1 on [0, 1]
  are a stronger case than nine and a zero.
- A claim may presuppose others on the same target (``requires`` in its TOML: the mechanism
  claims presuppose CE-1 / GR-1, a model that ranks); where one is not SUPPORTED the claim is
  INCONCLUSIVE, its measurements kept.
- Power is that of the test that decided: analytic for the t-test (noncentral t, the exact
  TOST integral) and binomial tests, simulated for the betting, Wilcoxon and randomization
  tests; so is the smallest effect a reason says the test detects. It words the INCONCLUSIVE
  reason; it never decides.
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

from ranker_claims.core.stats.betting import betting_ci, betting_p
from ranker_claims.core.stats.calibration import (
    CalibrationResult,
    PowerResult,
    simulate_power,
    simulate_verdict_rate,
)
from ranker_claims.core.stats.choices import (
    ALTERNATIVES,
    CORRECTIONS,
    DECISIONS,
    HYPOTHESES,
    TESTS,
)
from ranker_claims.core.stats.comparisons import (
    bounded_mean_comparison,
    independent_comparison,
    mcnemar_against_each,
    mcnemar_comparison,
    paired_comparison,
    proportion_comparison,
    stratified_comparison,
)
from ranker_claims.core.stats.corrections import (
    benjamini_hochberg,
    correct,
    correct_family,
    holm,
)
from ranker_claims.core.stats.intervals import bootstrap_ci, clopper_pearson
from ranker_claims.core.stats.paired import CHECKED_FROM, PairedDeclaration, decide_paired, shape_rates
from ranker_claims.core.stats.power import (
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
from ranker_claims.core.stats.tests import (
    TestResult,
    binomial_test,
    mann_whitney,
    mcnemar,
    paired_t,
    paired_test,
    randomization,
    stratified_rank_sum,
    tost_binomial,
    tost_paired,
    wilcoxon,
)
from ranker_claims.core.stats.verdicts import family_verdict

__all__ = [
    "ALTERNATIVES",
    "CHECKED_FROM",
    "CORRECTIONS",
    "DECISIONS",
    "HYPOTHESES",
    "TESTS",
    "CalibrationResult",
    "PairedDeclaration",
    "PowerResult",
    "TestResult",
    "benjamini_hochberg",
    "betting_ci",
    "betting_p",
    "binomial_test",
    "bootstrap_ci",
    "bounded_mean_comparison",
    "clopper_pearson",
    "cohens_dz",
    "cohens_h",
    "correct",
    "correct_family",
    "decide_paired",
    "detectable_effect",
    "family_verdict",
    "holm",
    "independent_comparison",
    "mann_whitney",
    "mcnemar",
    "mcnemar_against_each",
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
    "shape_rates",
    "simulate_power",
    "simulate_verdict_rate",
    "stratified_comparison",
    "stratified_rank_sum",
    "tost_binomial",
    "tost_paired",
    "wilcoxon",
]
