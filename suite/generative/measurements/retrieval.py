"""GR-1: retrieval quality of the DSI model (paper Table 1), against a random ranking."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ranker_claims.core.claims import Claim, Settings
from ranker_claims.core.decisions import conclude, proportion
from ranker_claims.core.results import ClaimResult
from ranker_claims.generative.measurements import MEASUREMENTS
from ranker_claims.generative.measurements.common import per_query
from ranker_claims.generative.study import GenerativeStudy


@dataclass(frozen=True)
class RetrievalQualityParams:
    cutoffs: tuple[int, ...]  # k of Hits@k
    # Per cutoff (as a string, TOML keys being strings): the paper's NQ10k figure (expected effects)
    # and, quoted beside it, its NQ320k and Trivia-QA figures.
    paper: Mapping[str, float]
    paper_nq320k: Mapping[str, float]
    paper_trivia_qa: Mapping[str, float]


@MEASUREMENTS.register(RetrievalQualityParams)
def retrieval_quality(claim: Claim, params: RetrievalQualityParams, study: GenerativeStudy,
                      settings: Settings) -> ClaimResult:
    """Hits@k on the evaluation split against chance, one exact binomial test per cutoff."""
    rows = study.eval_index
    ranks = study.ranks(rows="eval")
    n_docs = len(study.model.docids) if study.rank_over == "docids" else study.model.vocab_size
    relevant = np.array([len(study.targets[i]) for i in rows], dtype=float)
    paper = params.paper
    comparisons, bars = [], []
    for k in params.cutoffs:
        hits = ranks <= k
        chance = float(np.mean(np.minimum(1.0, k * relevant / n_docs)))
        expected = paper[str(k)] - chance
        comparison = proportion(settings, f"Hits@{k} vs a random ranking", hits, chance, hypothesis="greater",
                                expected_effect=expected if expected > 0 else None)
        comparisons.append(comparison)
        bars.append({"label": f"Hits@{k}", "measured": comparison.measured, "ci": list(comparison.ci),
                     "reference": chance, "paper": paper[str(k)],
                     "paper_other": {"NQ320k": params.paper_nq320k[str(k)],
                                     "Trivia-QA": params.paper_trivia_qa[str(k)]}})
    figure = {"title": "Retrieval quality on the evaluation split", "unit": "share of queries", "bars": bars,
              "reference_label": "random ranking", "n": int(len(rows))}
    return conclude(claim, study, settings, comparisons, metric=f"Hits@k over {study.rank_over} ({len(rows)} queries)",
                    figures={"metric_bars": figure}, per_query={"rank": per_query(study, rows, ranks)})
