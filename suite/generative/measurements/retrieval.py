"""GR-1: retrieval quality of the DSI model (paper Table 1), against a random ranking."""

from __future__ import annotations

import numpy as np

from suite.core.claims import Claim, Settings
from suite.core.results import ClaimResult
from suite.generative.measurements.common import decide, per_query, proportion
from suite.generative.study import GenerativeStudy


def retrieval_quality(claim: Claim, study: GenerativeStudy, settings: Settings) -> ClaimResult:
    """Hits@k on the evaluation split against chance, one exact binomial test per cutoff."""
    rows = study.eval_index
    ranks = study.ranks(rows="eval")
    n_docs = len(study.model.docids) if study.rank_over == "docids" else study.model.vocab_size
    relevant = np.array([len(study.targets[i]) for i in rows], dtype=float)
    paper = claim.params["paper"]
    comparisons, bars = [], []
    for k in claim.params["cutoffs"]:
        hits = ranks <= k
        chance = float(np.mean(np.minimum(1.0, k * relevant / n_docs)))
        expected = paper[str(k)] - chance
        comparison = proportion(settings, f"Hits@{k} vs a random ranking", hits, chance, hypothesis="greater",
                                expected_effect=expected if expected > 0 else None)
        comparisons.append(comparison)
        bars.append({"label": f"Hits@{k}", "measured": comparison.measured, "ci": list(comparison.ci),
                     "reference": chance, "paper": paper[str(k)],
                     "paper_other": {"NQ320k": claim.params["paper_nq320k"][str(k)],
                                     "Trivia-QA": claim.params["paper_trivia_qa"][str(k)]}})
    figure = {"title": "Retrieval quality on the evaluation split", "unit": "share of queries", "bars": bars,
              "reference_label": "random ranking", "n": int(len(rows))}
    return decide(claim, study, settings, comparisons, metric=f"Hits@k over {study.rank_over} ({len(rows)} queries)",
                  figures={"metric_bars": figure}, per_query={"rank": per_query(study, rows, ranks)})
