"""GR-9 and GR-12: which components read which (Fig. 5), and what the last layer does.

Contributions are exact decompositions of a reader's input into the earlier writers (the
start embedding and every earlier component output; see :mod:`ranker_claims.generative.analyses`),
on the study's analysis pass. Shares are taken per query: each group's contribution is
averaged over the reader layers, its positive part divided by the sum of the positive parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranker_claims.core.claims import Claim, Settings
from ranker_claims.core.decisions import SIGNED_UNIT, UNIT, bounded_mean, conclude, paired, proportion
from ranker_claims.core.results import ClaimResult
from ranker_claims.generative.analyses import (
    EMBEDDING,
    Attribution,
    cross_attention_attributions,
    docid_share_in_top,
    head_top_contributors,
    neuron_attributions,
    stage_of_layer,
)
from ranker_claims.generative.measurements import MEASUREMENTS
from ranker_claims.generative.measurements.common import per_query, stage_boundaries
from ranker_claims.generative.measurements.lens import lens, mean_curve
from ranker_claims.generative.study import GenerativeStudy


def _groups(attribution: Attribution, stages: dict[str, tuple[int, ...]], merge: dict[str, str]) -> tuple[list[str], np.ndarray]:
    """Per-query shares ``[n, G]`` of (component/stage) groups, ``merge`` renaming some groups into one."""
    stage_by_layer = stage_of_layer(stages)
    labels = [EMBEDDING if c == EMBEDDING else f"{c}/{stage_by_layer[layer]}" for c, layer in attribution.writers]
    labels = [merge.get(label, label) for label in labels]
    names = sorted(set(labels))
    values = np.nan_to_num(attribution.values, nan=0.0)  # writers after a reader contribute nothing
    per_reader = np.stack([values[..., [i for i, label in enumerate(labels) if label == g]].sum(-1) for g in names], -1)
    totals = np.clip(per_reader.mean(axis=1), 0.0, None)  # [n, G]: mean over readers, positive part
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = totals / totals.sum(axis=1, keepdims=True)
    return names, shares


def _dominance(names: list[str], shares: np.ndarray, group: str) -> np.ndarray:
    """Per query: the group's share minus the largest share among the other groups."""
    index = names.index(group)
    others = np.delete(shares, index, axis=1)
    return shares[:, index] - others.max(axis=1)


def _panel(attribution: Attribution, stages: dict[str, tuple[int, ...]], title: str) -> dict:
    shares = attribution.by_stage(stages)
    return {"title": title, "reader": attribution.reader, "layers": list(attribution.readers),
            "shares": {str(layer): groups for layer, groups in shares.items()}}


def neuron_reads(study: GenerativeStudy) -> Attribution:
    """Writers' contributions to the active neurons of the stage-III MLPs (shared by GR-9 and GR-12)."""
    passed, _, _ = study.analysis
    return study.derived("neuron_attributions", lambda: neuron_attributions(study.model, passed, study.stages["III"]))


@dataclass(frozen=True)
class CommunicationParams:
    head_k: int  # a head "contributes" to a query when it is among its top head_k
    head_p0: float  # "most" heads: the share tested against
    paper_head_share: float  # the paper's share of heads in every query's top 5 (expected effect)


@MEASUREMENTS.register(CommunicationParams)
def communication(claim: Claim, params: CommunicationParams, study: GenerativeStudy, settings: Settings) -> ClaimResult:
    """GR-9: stage-III MLPs read cross-attention (II, III); cross-attention (II, III) reads stage-I MLPs; shared heads."""
    if len(study.correct) < 2:
        return conclude(claim, study, settings, [], metric="share of positive contribution",
                        missing=[f"{len(study.correct)} correct queries (need 2)"])
    passed, encoded, rows = study.analysis
    stages = study.stages
    merged = {"cross_attention/II": "cross_attention/II+III", "cross_attention/III": "cross_attention/II+III"}
    mlp_reads = neuron_reads(study)
    names, shares = _groups(mlp_reads, stages, merged)
    cross_reads = cross_attention_attributions(study.model, passed, encoded, stages["II"] + stages["III"])
    cross_names, cross_shares = _groups(cross_reads, stages, {})
    heads = head_top_contributors(study.model, passed, stages["III"], k=params.head_k)
    in_all = heads.appears.all(axis=0)
    p0 = params.head_p0
    comparisons = [
        paired(settings, "stage-III MLP neurons: cross-attention II+III is the largest writer group (share margin > 0)",
               _dominance(names, shares, "cross_attention/II+III"), 0.0, hypothesis="greater", bounds=SIGNED_UNIT),
        paired(settings, "cross-attention II-III top scores: stage-I MLPs are the largest writer group (share margin > 0)",
               _dominance(cross_names, cross_shares, "mlp/I"), 0.0, hypothesis="greater", bounds=SIGNED_UNIT),
        # Heads are not independent units, so this share is a description with a CI, not a test that decides.
        proportion(settings, f"cross-attention heads in every correct query's top {heads.k} (over {len(heads.heads)} heads; "
                             "description, not deciding)", in_all, p0, hypothesis="greater",
                   expected_effect=params.paper_head_share - p0, unit="heads"),
    ]
    figure = {
        "panels": [_panel(cross_reads, stages, "What triggers cross-attention (stages II-III), by writer group"),
                   _panel(mlp_reads, stages, "What activates stage-III MLP neurons, by writer group")],
        "stages": stage_boundaries(study), "n": int(len(rows)),
        "heads": {"share_in_all": heads.share_in_all, "share_in_any": heads.share_in_any, "k": heads.k,
                  "candidates": len(heads.heads), "paper_share_in_all": params.paper_head_share},
    }
    return conclude(claim, study, settings, comparisons, metric="share of the positive contribution to a reader",
                    decided=[True, True, False], figures={"attribution_shares": figure},
                    per_query={"MLP III: cross-attention II+III share": per_query(study, rows, shares[:, names.index("cross_attention/II+III")]),
                               "cross-attention: stage-I MLP share": per_query(study, rows, cross_shares[:, cross_names.index("mlp/I")])})


@dataclass(frozen=True)
class LastLayerParams:
    separated: float  # a query is separated when this share of its top-|docids| final tokens are docids
    p0: float  # "most" queries: the share tested against
    read_bound: float  # "does not read": the last MLP's share from the last cross-attention stays below this


@MEASUREMENTS.register(LastLayerParams)
def last_layer(claim: Claim, params: LastLayerParams, study: GenerativeStudy, settings: Settings) -> ClaimResult:
    """GR-12: the last layer separates docids from other tokens; its MLP does not read its cross-attention."""
    if len(study.correct) < 2:
        return conclude(claim, study, settings, [], metric="rank", missing=[f"{len(study.correct)} correct queries (need 2)"])
    passed, _, rows = study.analysis
    assert passed.residual is not None  # the analysis pass records it
    L, model = study.n_layers, study.model
    ranks, _ = lens(study)
    n_docids = len(model.docids)
    final = docid_share_in_top(model, passed.residual[:, L], [n_docids])[min(n_docids, model.vocab_size)]
    before = docid_share_in_top(model, passed.residual[:, L - 1], [n_docids])[min(n_docids, model.vocab_size)]
    separated = final >= params.separated
    reads = neuron_reads(study)
    stage_III = list(study.stages["III"])
    values = np.nan_to_num(reads.values, nan=0.0)  # [n, R, W]
    positive = np.clip(values, 0.0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.stack([positive[:, r, reads.writers.index(("cross_attention", layer))] / positive[:, r].sum(-1)
                        for r, layer in enumerate(stage_III)], axis=1)  # [n, |III|]
    last_share = own[:, -1]
    comparisons = [
        paired(settings, f"non-docid tokens' mean rank rises across the last layer ({L - 1})",
               ranks.other_mean[:, L - 1], ranks.other_mean[:, L - 2], hypothesis="greater", bounds=None),
        proportion(settings, f"queries whose top {n_docids} final tokens are >= {params.separated:g} docids",
                   separated, params.p0, hypothesis="greater"),
        bounded_mean(settings, f"last MLP: share read from the last cross-attention < {params.read_bound:g}",
                     last_share, params.read_bound, hypothesis="less"),
    ]
    if own.shape[1] > 1:
        comparisons.append(paired(settings, "last MLP reads its own layer's cross-attention less than the other stage-III MLPs do",
                                  last_share, np.nanmean(own[:, :-1], axis=1), hypothesis="less", bounds=UNIT))
    bars = [
        {"label": "docid share of the top |docids|, after the last layer", "measured": float(final.mean()),
         "ci": None, "reference": float(before.mean()), "paper": 1.0, "note": "reference: before the last layer"},
        {"label": "queries fully separated", "measured": comparisons[1].measured, "ci": list(comparisons[1].ci),
         "reference": params.p0, "paper": None},
        {"label": "last MLP: share from last cross-attention", "measured": comparisons[2].measured,
         "ci": list(comparisons[2].ci), "reference": params.read_bound, "paper": 0.0},
    ]
    figures = {
        "metric_bars": {"title": "The last layer", "unit": "share", "bars": bars, "reference_label": "reference",
                        "n": int(len(rows))},
        "lens_ranks": {"layers": L, "over": ranks.over, "n": int(len(rows)), "stages": stage_boundaries(study),
                       "residual": {"docid tokens (mean, vocabulary)": mean_curve(ranks.docid_mean),
                                    "other tokens (mean, vocabulary)": mean_curve(ranks.other_mean)},
                       "vocab": model.vocab_size, "docids": n_docids},
    }
    return conclude(claim, study, settings, comparisons, metric="ranks and read shares at the last layer", figures=figures,
                    per_query={"final docid share": per_query(study, rows, final),
                               "last MLP share from last cross-attention": per_query(study, rows, last_share)})
