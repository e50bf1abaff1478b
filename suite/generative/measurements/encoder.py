"""GR-6 (Table 2): the full model's decoder on another model's encoder outputs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suite.core.claims import Claim, Settings
from suite.core.decisions import conclude, proportion
from suite.core.results import ClaimResult
from suite.generative.measurements import MEASUREMENTS
from suite.generative.measurements.common import per_query
from suite.generative.study import GenerativeStudy, MissingCompanion


@dataclass(frozen=True)
class EncoderSwapParams:
    p0: float  # "most" queries: the share tested against
    paper_hybrid_hits1: tuple[float, ...]  # the paper's held-out-encoder Hits@1 (their mean: the expected share)
    paper_hybrid_mrr: tuple[float, ...]  # the paper's held-out-encoder MRRs, quoted beside the measured one
    paper_t5_mean_rank: float  # the paper's mean rank with the pre-trained T5 encoder, quoted likewise


@MEASUREMENTS.register(EncoderSwapParams)
def encoder_swap(claim: Claim, params: EncoderSwapParams, study: GenerativeStudy, settings: Settings) -> ClaimResult:
    """Held-out encoder on the removed documents' queries; pre-trained T5 encoder on the correct queries."""
    p0 = params.p0
    comparisons, missing, bars, stored = [], [], [], {}
    try:
        held_out = study.require("held_out")
        removed = set(study.held_out_docids)
        if not removed:
            raise MissingCompanion("the held-out model names no removed documents (--claims-held-out-docids)")
        queries = np.array([i for i, docs in enumerate(study.relevant) if docs & removed], dtype=np.int64)
        full = study.ranks(rows=queries)
        chosen = queries[full == 1]
        if not len(chosen):
            raise MissingCompanion(f"the full model ranks none of the {len(queries)} removed documents' queries first")
        hybrid = study.ranks(rows=chosen, encoder=held_out, label=f"encoder of {held_out.name}")
        expected = float(np.mean(params.paper_hybrid_hits1))
        comparisons.append(proportion(settings, f"held-out encoder ({held_out.name}): removed documents kept at rank 1",
                                      hybrid == 1, p0, hypothesis="greater", expected_effect=expected - p0))
        bars.append({"label": "held-out encoder: Hits@1", "measured": comparisons[-1].measured,
                     "ci": list(comparisons[-1].ci), "reference": p0, "paper": expected,
                     "note": f"MRR {np.mean(1 / hybrid):.3f} (paper {min(params.paper_hybrid_mrr):.3f}-"
                             f"{max(params.paper_hybrid_mrr):.3f}); full model Hits@1 "
                             f"{len(chosen)} of {len(queries)}"})
        stored["rank, held-out encoder"] = per_query(study, chosen, hybrid)
    except MissingCompanion as error:
        missing.append(f"held-out encoder swap ({error})")
    try:
        t5 = study.require("pretrained")
        rows = study.correct
        if not len(rows):
            raise MissingCompanion("no correct query in the evaluation split")
        if t5.d_model != study.model.d_model:
            raise MissingCompanion(f"{t5.name} has width {t5.d_model}, the DSI decoder {study.model.d_model}")
        swapped = study.ranks(rows=rows, encoder=t5, label=f"encoder of {t5.name}")
        comparisons.append(proportion(settings, f"pre-trained encoder ({t5.name}): correct queries kept at rank 1",
                                      swapped == 1, p0, hypothesis="greater"))
        bars.append({"label": "pre-trained encoder: kept at rank 1", "measured": comparisons[-1].measured,
                     "ci": list(comparisons[-1].ci), "reference": p0, "paper": None,
                     "note": f"mean rank {np.nanmean(swapped):.2f} (paper {params.paper_t5_mean_rank})"})
        stored["rank, pre-trained encoder"] = per_query(study, rows, swapped)
    except MissingCompanion as error:
        missing.append(f"pre-trained encoder swap ({error})")
    figure = {"title": "Encoder swap: the full decoder on a foreign encoder", "unit": "share of queries", "bars": bars,
              "reference_label": "most (1/2)"}
    return conclude(claim, study, settings, comparisons, metric="share of queries kept at rank 1", missing=missing,
                    figures={"metric_bars": figure} if bars else {}, per_query=stored)
