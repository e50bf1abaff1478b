"""CE-6..CE-12: matching heads, their depth, causal role, weights, fallback and aggregation.

Every claim here reads the per-head attention statistics of :meth:`CrossEncoderStudy.head_statistics`
(one pass over the analysis pairs) and the matching-head screen of CE-6, both computed
once per study. Per-query values are compared in pairs: for each query, the mean over
its relevant pairs against the mean over its easy (or hard) negatives.

CE-6 (discovery) and CE-7 screen all queries. CE-8..CE-11 test heads that a screen picked, so
re-testing them on the queries that picked them would favour SUPPORTED (and make CE-11 nearly
circular): their heads are screened on one seeded half of the queries (:func:`query_split`) and
their tests read only the other half.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np

from ranker_claims.core import decisions
from ranker_claims.core.claims import Claim, NoParams, Settings
from ranker_claims.core.results import ClaimResult, Comparison, InsufficientData, Verdict
from ranker_claims.cross_encoder.analyses import decomposition, query_key
from ranker_claims.cross_encoder.interventions import DirectionAblation, HeadAblation, expand
from ranker_claims.cross_encoder.measurements import MEASUREMENTS
from ranker_claims.cross_encoder.study import CrossEncoderStudy

T = TypeVar("T")

SCREENED = {"max_query_to_document": "Query->Document", "max_document_to_query": "Document->Query"}
# A matching head must also differ by a visible amount of attention weight: with enough
# queries a consistent difference of floating-point size (a head that never attends across
# the parts, say) is significant, and it is not matching. Recorded with every screen.
MIN_DIFFERENCE = 0.01
# Queries with relevant and negative pairs that each half of the split needs: a paired test needs two.
MIN_SPLIT_QUERIES = 2
# Where each negative group comes from, for the reason given when a collection has too few of them.
NEGATIVE_SOURCES = {"hard": "hard negatives are documents the qrels judge 0",
                    "easy": "easy negatives are random passages of other queries, --claims-easy-negatives a query"}
# The negatives against which the paper's named heads of each kind were found.
PAPER_HEAD_NEGATIVES = {"lexical": "easy", "semantic": "hard"}


@dataclass
class HeadScreen:
    """Per-head tests of relevant pairs against one negative group, corrected across heads."""

    negative: str
    effect: dict[str, np.ndarray]  # statistic -> [layers, heads] Cohen's d_z
    significant: dict[str, np.ndarray]  # statistic -> [layers, heads] bool
    comparisons: list[Comparison]  # one per head and statistic, corrected
    raw: list[Comparison]  # the same before correction, for hypotheses named before the screen

    def heads(self) -> list[tuple[int, int]]:
        """Heads significant on either statistic, strongest first."""
        strength = np.maximum(*(np.where(self.significant[s], self.effect[s], -np.inf) for s in SCREENED))
        found = [(int(l), int(h)) for l, h in zip(*np.nonzero(np.isfinite(strength)))]
        return sorted(found, key=lambda lh: -strength[lh])


def _screen(study: CrossEncoderStudy, settings: Settings, negative: str, qids: Collection[str] | None) -> HeadScreen:
    pairs = study.analysis_pairs
    statistics = study.head_statistics()
    n_layers, n_heads = study.model.n_layers, study.model.n_heads
    comparisons = []
    for name, label in SCREENED.items():
        relevant, negatives = (_only(pairs.by_query(statistics[name], group), qids) for group in ("relevant", negative))
        x, y = decisions.align(relevant, negatives)
        if len(x) < 2:  # e.g. qrels that judge no document 0 leave no hard negative: a reason, not an IndexError
            raise InsufficientData(
                f"{len(x)} queries with both relevant and {negative}-negative analysis pairs (the head screen "
                f"needs 2; {NEGATIVE_SOURCES[negative]})")
        for layer in range(n_layers):
            for head in range(n_heads):
                # Per-head CIs are for display (200 resamples); the decision uses the test.
                comparisons.append(decisions.paired(settings, f"{label} {layer}/{head}", x[:, layer, head],
                                                    y[:, layer, head], hypothesis="greater", bounds=decisions.UNIT,
                                                    resamples=200))
    corrected = decisions.correct(settings, comparisons, require="any")
    shape = (n_layers, n_heads)
    effect, significant = {}, {}
    for i, name in enumerate(SCREENED):
        block = corrected[i * n_layers * n_heads : (i + 1) * n_layers * n_heads]
        effect[name] = np.array([c.effect_size for c in block]).reshape(shape)
        significant[name] = np.array([_matching(c) for c in block]).reshape(shape)
    return HeadScreen(negative, effect, significant, corrected, comparisons)


def _matching(c: Comparison) -> bool:
    return c.verdict is Verdict.SUPPORTED and c.effect >= MIN_DIFFERENCE


def _only(values: Mapping[str, T], qids: Collection[str] | None) -> dict[str, T]:
    """The per-query ``values`` of the queries in ``qids`` (all when None)."""
    if qids is None:
        return dict(values)
    keep = set(qids)
    return {q: v for q, v in values.items() if q in keep}


def screen(study: CrossEncoderStudy, settings: Settings, negative: str, qids: Collection[str] | None = None) -> HeadScreen:
    """The per-head screen against ``negative`` ("easy" or "hard") on the queries ``qids`` (all when None),
    computed once per study, settings and subset."""
    subset = "all" if qids is None else hashlib.sha256("\n".join(sorted(qids)).encode()).hexdigest()[:16]
    return study.derived(f"screen:{negative}:{settings}:{subset}", lambda: _screen(study, settings, negative, qids))


@dataclass(frozen=True)
class QuerySplit:
    """The analysis queries in two halves by the session's seed: heads are selected on one, tested on the other."""

    seed: int
    selection: tuple[str, ...]
    test: tuple[str, ...]

    def figure(self) -> dict[str, Any]:
        return {"seed": self.seed, "selection": list(self.selection), "test": list(self.test)}


def query_split(study: CrossEncoderStudy, settings: Settings) -> QuerySplit:
    """The sorted qids of the analysis pairs shuffled with ``settings.seed``: the first half selects, the rest tests."""
    qids = sorted(set(study.analysis_pairs.qids))
    shuffled = [qids[i] for i in np.random.default_rng(settings.seed).permutation(len(qids))]
    half = len(qids) // 2
    return QuerySplit(settings.seed, tuple(sorted(shuffled[:half])), tuple(sorted(shuffled[half:])))


def _too_few(study: CrossEncoderStudy, split: QuerySplit, selection: tuple[str, ...], test: tuple[str, ...]) -> str | None:
    """Why a half cannot be screened (``selection``'s negatives) or tested (``test``'s), or None."""
    pairs = study.analysis_pairs
    groups: dict[str, set[str]] = {}
    for qid, group in zip(pairs.qids, pairs.groups):
        groups.setdefault(qid, set()).add(group)
    for half, negatives in (("selection", selection), ("test", test)):
        for negative in negatives:
            usable = sum({"relevant", negative} <= groups[q] for q in getattr(split, half))
            if usable < MIN_SPLIT_QUERIES:
                return (f"the {half} half of the queries (seed {split.seed}) has {usable} with relevant and {negative} "
                        f"pairs (need {MIN_SPLIT_QUERIES})")
    return None


def selected_heads(study: CrossEncoderStudy, settings: Settings, split: QuerySplit, negative: str) -> list[tuple[int, int]]:
    """The matching heads of the screen against ``negative`` on the selection half, strongest first."""
    return screen(study, settings, negative, split.selection).heads()


def _heatmap(screen_: HeadScreen, title: str) -> dict[str, Any]:
    return {
        "title": title,
        "negative": screen_.negative,
        "layers": int(next(iter(screen_.effect.values())).shape[0]),
        "statistics": {
            SCREENED[name]: {"effect": screen_.effect[name].round(4).tolist(), "significant": screen_.significant[name].tolist()}
            for name in SCREENED
        },
    }


@dataclass(frozen=True)
class MatchingHeadsParams:
    # The paper's named heads ({kind: ["layer/head", ...]}, kinds as in PAPER_HEAD_NEGATIVES), tested on
    # models of paper_shape (layers, heads).
    paper_shape: tuple[int, ...] = ()
    paper_heads: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.paper_heads) - set(PAPER_HEAD_NEGATIVES))
        if unknown:
            raise ValueError(f"paper_heads: unknown kind(s) {', '.join(unknown)} (known: {', '.join(PAPER_HEAD_NEGATIVES)})")


@MEASUREMENTS.register(MatchingHeadsParams)
def matching_heads(claim: Claim, params: MatchingHeadsParams, study: CrossEncoderStudy,
                   settings: Settings) -> ClaimResult:
    """CE-6: heads with higher max Query<->Document attention on relevant than on easy pairs."""
    lexical = screen(study, settings, "easy")
    heads = lexical.heads()
    rows = [c for c in lexical.comparisons if _matching(c)]
    rows.sort(key=lambda c: -c.effect_size)
    paper = []
    if (study.model.n_layers, study.model.n_heads) == tuple(params.paper_shape):
        negatives = sorted({PAPER_HEAD_NEGATIVES[kind] for kind in params.paper_heads})
        paper = paper_head_rows(settings, params.paper_heads, {n: screen(study, settings, n) for n in negatives})
    if heads:
        verdict, reason = Verdict.SUPPORTED, f"{len(heads)} matching head(s) after {settings.correction} correction over {len(lexical.comparisons)} tests"
    else:
        verdict, reason = Verdict.INCONCLUSIVE, f"no head significant after {settings.correction} correction over {len(lexical.comparisons)} tests"
    return claim.result(
        study,
        settings,
        metric="max attention, relevant vs easy negatives",
        decision=(
            "per-head one-sided paired tests, corrected across all heads; a matching head also differs by "
            f">= {MIN_DIFFERENCE} attention weight"
            + ("; the paper's named heads are reported beside them, corrected among themselves, not deciding" if paper else "")
        ),
        verdict=verdict,
        reason=reason,
        comparisons=rows + paper,
        figures={"head_heatmap": _heatmap(lexical, "Matching heads: relevant vs easy negatives (Cohen's d_z)")},
        per_query={},
    )


def paper_head_rows(settings: Settings, paper_heads: Mapping[str, Collection[str]],
                    screens: Mapping[str, HeadScreen]) -> list[Comparison]:
    """The paper's named heads as hypotheses named before the screen: each head's uncorrected tests in the
    screen of its kind's negatives, corrected among the named heads only, so that they neither pay for
    the other heads' tests nor are picked by them."""
    named = []
    for kind, names in paper_heads.items():
        negative = PAPER_HEAD_NEGATIVES[kind]
        by_head: dict[str, list[Comparison]] = {c.label.rsplit(" ", 1)[1]: [] for c in screens[negative].raw}
        for c in screens[negative].raw:
            by_head[c.label.rsplit(" ", 1)[1]].append(c)
        for name in names:
            for c in by_head[name]:
                statistic = c.label.rsplit(" ", 1)[0]
                named.append(replace(c, label=f"paper's {kind} head {name}: {statistic}, relevant vs {negative} negatives"))
    return decisions.correct(settings, named, require="all") if named else []


@MEASUREMENTS.register()
def layered_progression(claim: Claim, params: NoParams, study: CrossEncoderStudy, settings: Settings) -> ClaimResult:
    """CE-7: heads separating relevant from easy sit earlier than those separating it from hard.

    A head significant in both screens would count on both sides of the depth comparison, so it
    is left out of both."""
    found = {negative: screen(study, settings, negative).heads() for negative in ("easy", "hard")}
    both = set(found["easy"]) & set(found["hard"])
    lexical, semantic = ([h for h in found[n] if h not in both] for n in ("easy", "hard"))
    dropped = f"{len(both)} head(s) significant in both groups left out of both"
    figures = {
        "head_heatmap": _heatmap(screen(study, settings, "hard"), "Semantic heads: relevant vs hard negatives (Cohen's d_z)"),
        "head_depths": {"lexical": [list(h) for h in lexical], "semantic": [list(h) for h in semantic],
                        "both": [list(h) for h in sorted(both)], "layers": study.model.n_layers},
    }
    if not lexical or not semantic:
        missing = "lexical (relevant vs easy)" if not lexical else "semantic (relevant vs hard)"
        return claim.result(
            study, settings, metric="relative layer depth", decision=f"needs both kinds of matching heads; {dropped}",
            verdict=Verdict.INCONCLUSIVE, reason=f"no {missing} head remains ({dropped}), so depths cannot be compared",
            comparisons=[], figures=figures,
        )
    depth = max(study.model.n_layers - 1, 1)
    lexical_depths = np.array([l / depth for l, _ in lexical])
    semantic_depths = np.array([l / depth for l, _ in semantic])
    comparison = decisions.independent(settings, "relative depth: semantic vs lexical heads", semantic_depths,
                                       lexical_depths, hypothesis="greater", unit="heads")
    return decisions.conclude(
        claim,
        study,
        settings,
        [comparison],
        metric="relative layer depth (layer / (layers - 1))",
        decision=f"one-sided Mann-Whitney U on head depths; {dropped}",
        corrected=False,
        figures=figures,
    )


def _random_head_sets(heads: list[tuple[int, int]], n_heads: int, count: int, seed: int) -> list[frozenset]:
    """Head sets with as many heads per layer as ``heads``, drawn from the other heads."""
    rng = np.random.default_rng(seed)
    per_layer: dict[int, int] = {}
    for layer, _ in heads:
        per_layer[layer] = per_layer.get(layer, 0) + 1
    chosen = set(heads)
    sets = []
    for _ in range(count):
        drawn: set[tuple[int, int]] = set()
        for layer, k in per_layer.items():
            pool = [h for h in range(n_heads) if (layer, h) not in chosen]
            pool = pool if len(pool) >= k else list(range(n_heads))
            drawn.update((layer, int(h)) for h in rng.choice(pool, size=k, replace=False))
        sets.append(frozenset(drawn))
    return sets


@dataclass(frozen=True)
class CausalRoleParams:
    max_heads: int  # the strongest matching heads ablated together
    random_sets: int  # random head sets of the same layers whose mean is the control


@MEASUREMENTS.register(CausalRoleParams)
def causal_role(claim: Claim, params: CausalRoleParams, study: CrossEncoderStudy, settings: Settings) -> ClaimResult:
    """CE-8: ablating the matching heads hurts more than ablating random heads of the same layers."""
    split = query_split(study, settings)
    short = _too_few(study, split, ("easy",), ("easy",))
    heads = [] if short else selected_heads(study, settings, split, "easy")[: params.max_heads]
    if not heads:
        return _no_heads(claim, study, settings, split, short)
    random_sets = _random_head_sets(heads, study.model.n_heads, params.random_sets, settings.seed)
    variants: dict[str, Callable[[frozenset[tuple[int, int]]], list[HeadAblation | DirectionAblation]]] = {
        "whole head output": lambda hs: [HeadAblation(hs)],
        "Query<->Document attention only": lambda hs: [DirectionAblation(expand("query<->document"), heads=hs, mode=study.ablation_mode)],
    }
    comparisons, per_query = [], {}
    for name, make in variants.items():
        matched = _only(study.quality(make(frozenset(heads)), label=f"{name} of matching heads"), split.test)
        null = [study.quality(make(hs), label=f"{name} of random heads {i + 1}/{len(random_sets)}") for i, hs in enumerate(random_sets)]
        null_mean = {q: float(np.mean([n[q] for n in null])) for q in matched}
        per_query[f"matching heads: {name}"] = matched
        per_query[f"random heads (mean of {len(null)}): {name}"] = null_mean
        comparisons.append(decisions.paired(settings, f"ablate matching heads ({name}) vs random heads", matched,
                                            null_mean, hypothesis="less", bounds=decisions.UNIT))
    return decisions.conclude(
        claim,
        study,
        settings,
        comparisons,
        metric=study.measure,
        decision="one-sided paired tests on the test half of the queries, against the mean of random head sets of the same layers",
        figures={
            "query_split": split.figure(),
            "ablated_heads": {
                "matching": [list(h) for h in heads],
                "random_sets": [sorted(map(list, s)) for s in random_sets],
                "layers": study.model.n_layers,
                "heads": study.model.n_heads,
            },
        },
        per_query=per_query,
    )


def _no_heads(claim: Claim, study: CrossEncoderStudy, settings: Settings, split: QuerySplit,
              short: str | None) -> ClaimResult:
    """INCONCLUSIVE: a half of the split is too small (``short`` says why), or its screen found no head."""
    return claim.result(
        study,
        settings,
        metric="",
        decision="needs matching heads screened on the selection half of the queries",
        verdict=Verdict.INCONCLUSIVE,
        reason=short or "the screen of the selection half of the queries found no matching head, so there is nothing to test",
        comparisons=[],
        figures={"query_split": split.figure()},
    )


@MEASUREMENTS.register()
def qk_alignment(claim: Claim, params: NoParams, study: CrossEncoderStudy, settings: Settings) -> ClaimResult:
    """CE-9: matching heads' query-key matrices have more aligned singular vectors than other heads
    of the same layers.

    The alignment is read from the weights, so the test half's queries are not read: the heads are
    still the selection half's, as for CE-8, CE-10 and CE-11. Heads are compared within their layers
    (van Elteren's stratified rank-sum test): alignment may trend with depth, and matching heads sit
    in some layers, so against all other heads a trend alone would pass for the claim."""
    scores = study.derived("alignment", lambda: query_key.alignments(study.model.model, study.model.n_heads))
    split = query_split(study, settings)
    short = _too_few(study, split, ("easy", "hard"), ())
    heads = set() if short else {h for n in ("easy", "hard") for h in selected_heads(study, settings, split, n)}
    if not heads:
        return _no_heads(claim, study, settings, split, short)
    mask = np.zeros(scores.shape, dtype=bool)
    for layer, head in heads:
        mask[layer, head] = True
    layers = np.broadcast_to(np.arange(scores.shape[0])[:, None], scores.shape)
    metric = "sum_k s_k u_k.v_k / sum_k s_k of W_Q W_K^T (biases excluded)"
    decision = ("one-sided van Elteren stratified rank-sum test, matching heads (lexical or semantic, selection half) "
                "vs the other heads of their layers; layers with no matching or no other head left out")
    figures = {"query_split": split.figure(), "alignment": {"values": scores.round(4).tolist(), "matching": mask.tolist()}}
    informative = [l for l in range(scores.shape[0]) if mask[l].any() and not mask[l].all()]
    if not informative:
        return claim.result(
            study, settings, metric=metric, decision=decision, verdict=Verdict.INCONCLUSIVE,
            reason=(f"every layer of the {len(heads)} matching head(s) has no other head, so no matching head can be "
                    "compared with the other heads of its layer"),
            comparisons=[], figures=figures,
        )
    comparison = decisions.stratified(settings, "alignment: matching vs other heads of the same layers", scores[mask],
                                      scores[~mask], layers[mask], layers[~mask], hypothesis="greater", unit="heads",
                                      stratum="layer")
    return decisions.conclude(claim, study, settings, [comparison], metric=metric, decision=decision, corrected=False,
                              figures=figures)


@dataclass(frozen=True)
class LogitDecompositionParams:
    max_heads: int  # the strongest matching heads decomposed


@MEASUREMENTS.register(LogitDecompositionParams)
def logit_decomposition(claim: Claim, params: LogitDecompositionParams, study: CrossEncoderStudy,
                        settings: Settings) -> ClaimResult:
    """CE-10: the context-free part explains more of matching heads' logits than of other heads'."""
    split = query_split(study, settings)
    short = _too_few(study, split, ("easy",), ("easy",))
    heads = [] if short else selected_heads(study, settings, split, "easy")[: params.max_heads]
    if not heads:
        return _no_heads(claim, study, settings, split, short)
    controls = list(_random_head_sets(heads, study.model.n_heads, 1, settings.seed)[0])
    pairs = study.analysis_pairs
    test = set(split.test)
    relevant = [i for i, (q, g) in enumerate(zip(pairs.qids, pairs.groups)) if g == "relevant" and q in test]
    shares = decomposition.explained_shares(study.model, [pairs.texts[i] for i in relevant], heads + controls)
    qids = [pairs.qids[i] for i in relevant]
    matched = _mean_by_query(qids, shares[:, : len(heads)].mean(axis=1))
    control = _mean_by_query(qids, shares[:, len(heads) :].mean(axis=1))
    comparison = decisions.paired(settings, "context-free share: matching vs control heads", matched, control,
                                  hypothesis="greater", bounds=None)  # a share of variance, not known to stay in [0, 1]
    return decisions.conclude(
        claim,
        study,
        settings,
        [comparison],
        metric="share of logit variance explained by the context-free part (R^2)",
        decision="one-sided paired test per query of the test half, matching heads vs as many random heads of the same layers",
        corrected=False,
        figures={"query_split": split.figure(),
                 "decomposition": {"heads": [list(h) for h in heads], "controls": [list(h) for h in controls],
                                   "mean_share": shares.mean(axis=0).round(4).tolist()}},
        per_query={"matching heads": matched, "control heads": control},
    )


def _mean_by_query(qids: list[str], values: np.ndarray) -> dict[str, float]:
    out: dict[str, list[float]] = {}
    for qid, value in zip(qids, values):
        out.setdefault(qid, []).append(float(value))
    return {qid: float(np.mean(v)) for qid, v in out.items()}


@dataclass(frozen=True)
class FallbackParams:
    early_fraction: float  # heads up to this relative depth count as early-to-middle for [CLS]


@MEASUREMENTS.register(FallbackParams)
def fallback(claim: Claim, params: FallbackParams, study: CrossEncoderStudy, settings: Settings) -> ClaimResult:
    """CE-11: with no match (easy negatives) matching heads attend to [SEP] (and early [CLS]) more."""
    split = query_split(study, settings)
    short = _too_few(study, split, ("easy",), ("easy",))
    heads = [] if short else selected_heads(study, settings, split, "easy")
    if not heads:
        return _no_heads(claim, study, settings, split, short)
    statistics = study.head_statistics()
    pairs = study.analysis_pairs
    early = [(l, h) for l, h in heads if l / max(study.model.n_layers - 1, 1) <= params.early_fraction]
    comparisons, per_query = [], {}
    for name, label, chosen in (("sep_mass", "[SEP]", heads), ("cls_mass", "[CLS] (early-to-middle heads)", early)):
        if not chosen:
            continue
        layers, cols = zip(*chosen)
        values = statistics[name][:, list(layers), list(cols)].mean(axis=1)
        easy = {q: float(v) for q, v in _only(pairs.by_query(values, "easy"), split.test).items()}
        relevant = {q: float(v) for q, v in _only(pairs.by_query(values, "relevant"), split.test).items()}
        per_query[f"{label} mass, easy"] = easy
        per_query[f"{label} mass, relevant"] = relevant
        comparisons.append(decisions.paired(settings, f"attention to {label}: easy vs relevant", easy, relevant,
                                            hypothesis="greater", bounds=decisions.UNIT))
    return decisions.conclude(
        claim,
        study,
        settings,
        comparisons,
        metric="mean attention mass of query and document tokens on the special token",
        decision="one-sided paired tests per query of the test half over the matching heads",
        figures={"query_split": split.figure(), "layer_profile": _layer_profile(study)},
        per_query=per_query,
    )


@dataclass(frozen=True)
class AggregationParams:
    late_fraction: float  # layers beyond this relative depth are "late" (the paper's 16 of 24)


@MEASUREMENTS.register(AggregationParams)
def aggregation(claim: Claim, params: AggregationParams, study: CrossEncoderStudy, settings: Settings) -> ClaimResult:
    """CE-12: [CLS] attends broadly (higher entropy, less [SEP]) in late layers than before."""
    statistics = study.head_statistics()
    pairs = study.analysis_pairs
    n_layers = study.model.n_layers
    late = np.array([l / max(n_layers - 1, 1) > params.late_fraction for l in range(n_layers)])
    comparisons, per_query = [], {}
    # Entropy in nats has no range fixed in advance (it grows with the pair's length); a share of attention lies in [0, 1].
    for name, label, hypothesis, bounds in (("cls_entropy", "[CLS] attention entropy", "greater", None),
                                            ("cls_to_sep", "[CLS] attention to [SEP]", "less", decisions.UNIT)):
        by_layer = statistics[name].mean(axis=2)  # [pairs, layers], mean over heads
        later = {q: float(v) for q, v in pairs.by_query(by_layer[:, late].mean(axis=1), "relevant").items()}
        earlier = {q: float(v) for q, v in pairs.by_query(by_layer[:, ~late].mean(axis=1), "relevant").items()}
        per_query[f"{label}, late layers"] = later
        per_query[f"{label}, earlier layers"] = earlier
        comparisons.append(decisions.paired(settings, f"{label}: late vs earlier layers", later, earlier,
                                            hypothesis=hypothesis, bounds=bounds))
    return decisions.conclude(
        claim,
        study,
        settings,
        comparisons,
        metric="per-query mean over relevant pairs and all heads",
        decision=f"one-sided paired tests, late layers = relative depth > {params.late_fraction:.2f}",
        figures={"layer_profile": _layer_profile(study)},
        per_query=per_query,
    )


def _layer_profile(study: CrossEncoderStudy) -> dict[str, Any]:
    """Per group and layer, the mean of each statistic over pairs and heads."""
    statistics = study.head_statistics()
    groups = np.array(study.analysis_pairs.groups)
    profile = {}
    for name in ("cls_mass", "sep_mass", "cls_entropy", "cls_to_sep"):
        profile[name] = {
            group: statistics[name][groups == group].mean(axis=(0, 2)).round(4).tolist()
            for group in ("relevant", "hard", "easy")
            if (groups == group).any()
        }
    return {"layers": study.model.n_layers, "statistics": profile}
