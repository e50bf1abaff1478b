"""CE-6..CE-11 on a fake study with planted heads: the query split that keeps CE-8..CE-11 from
re-testing heads on the queries that picked them, CE-7's heads in both groups, and CE-6's
named heads tested as hypotheses named before the screen. Studies of 40 queries: each half of 20
is enough for the t-test to decide where it holds its level; below 16 only betting on [0, 1]
would, and it needs far larger effects than a sharp-null test did."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ranker_claims.core import decisions
from ranker_claims.core.claims import Settings, load_claims
from ranker_claims.core.results import Verdict
from ranker_claims.cross_encoder.analyses.head_statistics import STATISTICS
from ranker_claims.cross_encoder.interventions import Mode
from ranker_claims.cross_encoder.measurements import MEASUREMENTS
from ranker_claims.cross_encoder.measurements.heads import (
    MatchingHeadsParams,
    paper_head_rows,
    query_split,
    screen,
    selected_heads,
)
from ranker_claims.cross_encoder.study import AnalysisPairs

CLAIMS = {c.id: c for c in load_claims(Path(__file__).resolve().parents[2] / "claims" / "cross_encoder.toml", MEASUREMENTS)}
SETTINGS = Settings(bootstrap=50, seed=3)
# Planted on max Query->Document attention (relevant, hard, easy): lexical only, both, semantic only.
PLANTED = {(0, 1): (0.6, 0.6, 0.1), (1, 2): (0.6, 0.1, 0.1), (1, 3): (0.6, 0.1, 0.6)}


def _study(n_queries: int, layers: int = 2, heads: int = 4, seed: int = 0) -> SimpleNamespace:
    """Two pairs per query and group; every head's statistics noise around 0.15 but the planted ones."""
    rng = np.random.default_rng(seed)
    qids = [f"q{q:02d}" for q in range(n_queries) for _ in range(6)]
    groups = ["relevant", "relevant", "hard", "hard", "easy", "easy"] * n_queries
    statistics = {name: rng.normal(0.15, 0.02, size=(len(qids), layers, heads)).astype(np.float32) for name in STATISTICS}
    for (layer, head), levels in PLANTED.items():
        if layer < layers:
            by_group = dict(zip(("relevant", "hard", "easy"), levels))
            statistics["max_query_to_document"][:, layer, head] += [by_group[g] for g in groups]
    cache: dict[str, object] = {"alignment": rng.normal(size=(layers, heads))}
    return SimpleNamespace(
        model=SimpleNamespace(name="m", n_layers=layers, n_heads=heads), collection=SimpleNamespace(id="c"),
        recorded_options=dict, analysis_pairs=AnalysisPairs(qids, groups, [("q", "d")] * len(qids), "k"),
        head_statistics=lambda: statistics, derived=lambda key, compute: cache[key] if key in cache else cache.setdefault(key, compute()),
        quality=lambda interventions, label=None: {q: 0.5 + 0.01 * int(q[1:]) for q in set(qids)},
        measure="nDCG@10", ablation_mode=Mode.PRE_SOFTMAX, cache=cache,
    )


def _run(claim_id: str, study: SimpleNamespace, params=None):
    claim = CLAIMS[claim_id]
    return claim.measurement.function(claim, claim.params if params is None else params, study, SETTINGS)


def test_the_split_is_seeded_disjoint_and_covers_the_analysis_queries():
    study = _study(11)
    split = query_split(study, SETTINGS)
    assert split == query_split(_study(11, seed=1), SETTINGS)  # the qids, not the values, decide
    assert split.seed == 3 and (len(split.selection), len(split.test)) == (5, 6)
    assert not set(split.selection) & set(split.test)
    assert sorted(split.selection + split.test) == sorted(set(study.analysis_pairs.qids))
    assert query_split(study, Settings(seed=4)) != split


def test_heads_are_screened_on_the_selection_half_only():
    study = _study(40)
    split = query_split(study, SETTINGS)
    selection = screen(study, SETTINGS, "easy", split.selection)
    assert {c.n for c in selection.raw} == {len(split.selection)}
    assert {c.n for c in screen(study, SETTINGS, "easy").raw} == {40}
    assert set(selected_heads(study, SETTINGS, split, "easy")) == {(0, 1), (1, 2)}
    assert len([k for k in study.cache if k.startswith("screen:easy:")]) == 2  # the subset is part of the key


@pytest.mark.parametrize("claim_id", ["CE-8", "CE-9", "CE-11"])
def test_the_claims_test_only_the_test_half_and_record_the_split(claim_id):
    study = _study(40)
    split = query_split(study, SETTINGS)
    result = _run(claim_id, study)
    assert result.figures["query_split"] == {"seed": 3, "selection": list(split.selection), "test": list(split.test)}
    assert result.comparisons
    for values in result.per_query.values():
        assert set(values) == set(split.test)
    if claim_id != "CE-9":  # CE-9 compares heads' weights: no query is read
        assert {c.n for c in result.comparisons} == {len(split.test)}


@pytest.mark.parametrize("claim_id", ["CE-8", "CE-9", "CE-10", "CE-11"])
def test_a_half_too_small_to_screen_is_inconclusive_with_the_reason(claim_id):
    result = _run(claim_id, _study(3))
    assert result.verdict is Verdict.INCONCLUSIVE and not result.comparisons
    assert result.reason.startswith("the selection half of the queries (seed 3) has 1 with relevant and")
    assert len(result.figures["query_split"]["selection"]) == 1


def test_ce7_leaves_heads_of_both_groups_out_of_both():
    result = _run("CE-7", _study(40))
    depths = result.figures["head_depths"]
    assert depths["lexical"] == [[0, 1]] and depths["semantic"] == [[1, 3]] and depths["both"] == [[1, 2]]
    assert "1 head(s) significant in both groups left out of both" in result.decision


def test_ce6_reports_the_papers_named_heads_without_deciding():
    study = _study(40)
    params = MatchingHeadsParams(paper_shape=(2, 4), paper_heads={"lexical": ("0/1", "1/0"), "semantic": ("1/3",)})
    result = _run("CE-6", study, params)
    named = [c for c in result.comparisons if c.label.startswith("paper's")]
    assert [c.label for c in named] == [
        "paper's lexical head 0/1: Query->Document, relevant vs easy negatives",
        "paper's lexical head 0/1: Document->Query, relevant vs easy negatives",
        "paper's lexical head 1/0: Query->Document, relevant vs easy negatives",
        "paper's lexical head 1/0: Document->Query, relevant vs easy negatives",
        "paper's semantic head 1/3: Query->Document, relevant vs hard negatives",
        "paper's semantic head 1/3: Document->Query, relevant vs hard negatives",
    ]
    assert named[0].verdict is Verdict.SUPPORTED and named[4].verdict is Verdict.SUPPORTED
    assert result.verdict is Verdict.SUPPORTED and "named heads are reported" in result.decision
    assert not any(c.label.startswith("paper's") for c in _run("CE-6", _study(20, layers=3), params).comparisons)


def test_named_heads_are_corrected_among_themselves_only():
    """The named heads' p-values do not depend on how many other heads the screen tested."""
    heads = {"lexical": ("0/1",), "semantic": ("1/3",)}

    study = _study(40)
    screens = {n: screen(study, SETTINGS, n) for n in ("easy", "hard")}
    more = {n: replace(s, raw=s.raw + [replace(c, label=f"{c.label.split()[0]} {5 + i}/0", p_value=0.5)
                                      for i, c in enumerate(s.raw)]) for n, s in screens.items()}
    small, large = paper_head_rows(SETTINGS, heads, screens), paper_head_rows(SETTINGS, heads, more)
    assert len(small) == 4
    for a, b in zip(small, large):
        assert a.label == b.label and a.p_value == b.p_value and a.p_corrected == b.p_corrected
        assert a.details["p_contradiction_corrected"] == b.details["p_contradiction_corrected"]


def test_unknown_kind_of_named_head_is_refused():
    with pytest.raises(ValueError, match="unknown kind"):
        MatchingHeadsParams(paper_shape=(2, 4), paper_heads={"positional": ("0/1",)})


def _ce9_with(monkeypatch, study, matching):
    """CE-9 on ``study`` with the screens' heads replaced by ``matching`` (all from the lexical screen)."""
    from ranker_claims.cross_encoder.measurements import heads as measurement

    monkeypatch.setattr(measurement, "selected_heads",
                        lambda study, settings, split, negative: list(matching) if negative == "easy" else [])
    return _run("CE-9", study)


def test_ce9_compares_heads_within_their_layers(monkeypatch):
    """Alignment rising with depth and matching heads in the deep layers, no within-layer difference:
    against all other heads this was SUPPORTED; within their layers it is not."""
    study = _study(20, layers=6, heads=12)
    rng = np.random.default_rng(1)
    study.cache["alignment"] = np.arange(6)[:, None] * 1.0 + rng.normal(size=(6, 12))
    matching = [(layer, head) for layer, k in enumerate((0, 0, 1, 2, 3, 4)) for head in range(k)]
    result = _ce9_with(monkeypatch, study, matching)
    (comparison,) = result.comparisons
    assert comparison.details["kind"] == "stratified" and comparison.details["unit"] == "heads"
    assert comparison.label == "alignment: matching vs other heads of the same layers"
    assert [row["layer"] for row in comparison.details["strata"]] == [2, 3, 4, 5]
    assert [row["layer"] for row in comparison.details["dropped_strata"]] == [0, 1]
    assert comparison.details["sizes"] == [10, 38]
    assert "van Elteren" in result.decision and result.verdict is not Verdict.SUPPORTED
    scores, mask = study.cache["alignment"], np.array(result.figures["alignment"]["matching"])
    pooled = decisions.independent(SETTINGS, "pooled", scores[mask], scores[~mask], hypothesis="greater")
    assert pooled.verdict is Verdict.SUPPORTED  # what the all-heads comparison said
    # A real within-layer difference is found.
    study.cache["alignment"] = study.cache["alignment"] + 3.0 * mask
    assert _ce9_with(monkeypatch, study, matching).verdict is Verdict.SUPPORTED


def test_ce9_without_a_layer_holding_other_heads_is_inconclusive(monkeypatch):
    study = _study(20, layers=2, heads=4)
    result = _ce9_with(monkeypatch, study, [(1, h) for h in range(4)])
    assert result.verdict is Verdict.INCONCLUSIVE and not result.comparisons
    assert result.reason.startswith("every layer of the 4 matching head(s) has no other head")
