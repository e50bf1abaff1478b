"""GR-6 (Table 2): the full model's decoder on another model's encoder outputs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranker_claims.core.claims import Claim, Settings
from ranker_claims.core.decisions import conclude, proportion
from ranker_claims.core.results import ClaimResult
from ranker_claims.generative.measurements import MEASUREMENTS
from ranker_claims.generative.measurements.common import per_query
from ranker_claims.generative.study import GenerativeStudy, MissingCompanion


@dataclass(frozen=True)
class EncoderSwapParams:
    p0: float  # "most" queries: the share tested against
    paper_hybrid_hits1: tuple[float, ...]  # the paper's held-out-encoder Hits@1 (their mean: the expected share)
    paper_hybrid_mrr: tuple[float, ...]  # the paper's held-out-encoder MRRs, quoted beside the measured one
    paper_t5_mean_rank: float  # the paper's mean rank with the pre-trained T5 encoder, quoted likewise


@MEASUREMENTS.register(EncoderSwapParams)
def encoder_swap(claim: Claim, params: EncoderSwapParams, study: GenerativeStudy, settings: Settings) -> ClaimResult:
    """Held-out encoders on their removed documents' queries, pooled over the held-out models; the
    pre-trained T5 encoder on the correct queries."""
    p0 = params.p0
    comparisons, missing, bars, stored = [], [], [], {}
    try:
        pooled, figures = [], []
        for held in study.require_held_out():
            name, removed = held.model.name, set(held.docids)
            if not removed:
                missing.append(f"held-out encoder of {name} (it names no removed documents: --claims-held-out-docids)")
                continue
            # The paper's Table 2 asks whether the REMOVED document itself is retrieved: each query of the
            # part is ranked by its relevant documents that this model was trained without, so a query
            # with another relevant document, one the held-out model did learn, cannot pass on that one.
            queries = np.array([i for i, docs in enumerate(study.relevant) if docs & removed], dtype=np.int64)
            own = [study.relevant[i] & removed for i in queries]
            full = study.ranks(rows=queries, documents=own, label=f"removed documents of {name}")
            kept = full == 1
            chosen, own = queries[kept], [docs for docs, k in zip(own, kept) if k]
            hybrid = (study.ranks(rows=chosen, encoder=held.model, documents=own,
                                  label=f"encoder of {name}, removed documents") if len(chosen) else np.zeros(0))
            pooled.append(hybrid)
            figures.append(f"{name}: {int((hybrid == 1).sum())} of {len(chosen)} (full model {len(chosen)} of "
                           f"{len(queries)})")
            stored[f"rank, held-out encoder of {name}"] = per_query(study, chosen, hybrid)
        hybrid = np.concatenate(pooled) if pooled else np.zeros(0)
        if not len(hybrid):
            raise MissingCompanion("the full model ranks none of the removed documents' queries first")
        # The paper's Table 2: several models, each without its own documents. Their removed
        # documents' queries are pooled into one count (a query counts once per model removing one
        # of its relevant documents); each model's own figure is reported beside it.
        expected = float(np.mean(params.paper_hybrid_hits1))
        models = f"{len(pooled)} model{'s' if len(pooled) > 1 else ''}"
        comparisons.append(proportion(settings, f"held-out encoders ({models}): removed documents kept at rank 1",
                                      hybrid == 1, p0, hypothesis="greater", expected_effect=expected - p0))
        bars.append({"label": "held-out encoders: Hits@1", "measured": comparisons[-1].measured,
                     "ci": list(comparisons[-1].ci), "reference": p0, "paper": expected,
                     "note": f"MRR {np.mean(1 / hybrid):.3f} (paper {min(params.paper_hybrid_mrr):.3f}-"
                             f"{max(params.paper_hybrid_mrr):.3f}); per model: {'; '.join(figures)}"})
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
