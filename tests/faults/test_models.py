"""Faults in ``--claims-model``: every model that cannot serve is refused before any claim runs.

A GPT-2, a directory without or with a broken config.json, a sequence classifier of a family the
interventions do not reach, a pickle-only checkpoint of either kind and an unknown hub id without
network each end ``pytest claims/`` with exit code 4 and one line naming the spec and the reason;
never an internal error, a traceback or a minute of retries. Tiny random models only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    BertTokenizerFast,
    GPT2Config,
    GPT2ForSequenceClassification,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

from ranker_claims.core.catalog import MODEL_TYPES, Catalog, ModelKind
from ranker_claims.core.models import ModelError
from ranker_claims.cross_encoder.interventions import ATTN_IMPLEMENTATION, attention_layers, intervening, register
from ranker_claims.cross_encoder.model import CrossEncoder
from ranker_claims.generative.model import GenerativeRetriever
from ranker_claims.pytest_plugin.options import parse_options
from ranker_claims.pytest_plugin.session import ClaimsSession

REPO = Path(__file__).resolve().parents[2]
REFUSED = ("pytorch_model.bin refused: pickle checkpoints can run code when loaded; pass --claims-allow-pickle "
           "to load it with transformers' weights-only loader")
UNKNOWN_HUB_ID = "nobody-here/no-such-ranker"


def _save(model: torch.nn.Module, path: Path, *, pickle: bool) -> Path:
    """Save as safetensors, or as a pickle checkpoint only (config + pytorch_model.bin), as old checkpoints are."""
    if pickle:
        model.config.save_pretrained(path)
        torch.save(model.state_dict(), path / "pytorch_model.bin")
    else:
        model.save_pretrained(path)
    return path


def tiny_cross_encoder(path: Path, *, pickle: bool = False) -> Path:
    """A 2-layer BERT cross-encoder (random weights) with a character WordPiece tokenizer."""
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *letters, *(f"##{c}" for c in letters), *"0123456789"]
    path.mkdir(parents=True)
    (path / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizerFast(vocab_file=str(path / "vocab.txt")).save_pretrained(path)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=128, num_labels=1)
    return _save(BertForSequenceClassification(config), path, pickle=pickle)


def _tiny_t5(path: Path, *, pickle: bool) -> Path:
    """A 1+1-layer T5 with four document-id tokens, as a DSI checkpoint has."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["<pad>", "</s>", "<unk>", *(f"w{i}" for i in range(20))]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>",
                                        unk_token="<unk>")
    tokenizer.add_tokens([f"<doc_{i}>" for i in range(4)])
    tokenizer.save_pretrained(path)
    config = T5Config(vocab_size=len(tokenizer), d_model=16, d_kv=4, num_heads=2, d_ff=32, num_layers=1,
                      num_decoder_layers=1, decoder_start_token_id=0)
    return _save(T5ForConditionalGeneration(config), path, pickle=pickle)


def _gpt2(**extra: int) -> GPT2Config:
    return GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64, n_positions=64, **extra)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One directory per fault, and the pickle-only checkpoints of both kinds."""
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    found = {
        "gpt2": _save(GPT2LMHeadModel(_gpt2()), root / "gpt2", pickle=False),
        "gpt2-classifier": _save(GPT2ForSequenceClassification(_gpt2(num_labels=1, pad_token_id=0)),
                                 root / "gpt2-classifier", pickle=False),
        "bert-bin": tiny_cross_encoder(root / "bert-bin", pickle=True),
        "t5-bin": _tiny_t5(root / "t5-bin", pickle=True),
    }
    for name, config in (("no-config", None), ("broken-config", '{"architectures": ['), ("list-config", "[1, 2]")):
        (root / name).mkdir()
        if config is not None:
            (root / name / "config.json").write_text(config)
        found[name] = root / name
    return found


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A directory with the claims alone: the installed plugins provide everything else."""
    shutil.copytree(REPO / "claims", pytester.path / "claims", ignore=shutil.ignore_patterns("__pycache__"))
    return pytester


def collect(project: pytest.Pytester, *args: str, subprocess: bool = False) -> pytest.RunResult:
    """``pytest claims/ --collect-only`` as a user's command line: in this process unless asked (a fresh
    interpreter costs seconds of imports per case)."""
    run = project.runpytest_subprocess if subprocess else project.runpytest_inprocess
    # importlib mode: in this process, the claims' test modules must not clash with the suite's own by name.
    return run("claims/", "--collect-only", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
               "--claims-output-dir", "out", *args)


def usage_error(result: pytest.RunResult) -> str:
    """The one line a usage error shows (exit code 4), with no internal error or traceback anywhere."""
    output = "\n".join(result.outlines + result.errlines)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert "INTERNALERROR" not in output and "Traceback" not in output, output
    lines = [line for line in result.errlines if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), output
    return lines[0].removeprefix("ERROR: ")


@pytest.mark.parametrize(("fault", "reason"), [
    pytest.param("gpt2", "architectures GPT2LMHeadModel (model_type 'gpt2') is neither a sequence-classification "
                 "cross-encoder nor an encoder-decoder generative retriever", id="gpt2"),
    pytest.param("no-config", "no config.json, so its kind (cross-encoder or generative) is unknown", id="no-config"),
    pytest.param("broken-config", "config.json is not readable JSON (Expecting value: line 1 column 20 (char 19))",
                 id="broken-config"),
    pytest.param("list-config", "config.json holds a JSON list, not an object", id="list-config"),
    pytest.param("gpt2-classifier", "GPT2ForSequenceClassification (model_type 'gpt2') is not a cross-encoder family "
                 "the claims support; supported: bert, camembert, data2vec-text, electra, ernie, roberta, xlm-roberta",
                 id="gpt2-classifier"),
    pytest.param("bert-bin", REFUSED, id="bert-bin"),
    pytest.param("t5-bin", REFUSED, id="t5-bin"),
])
def test_a_model_that_cannot_serve_is_a_usage_error(project, models, fault, reason):
    spec = str(models[fault])
    assert usage_error(collect(project, "--claims-model", spec)) == f"--claims-model {spec}: {reason}"
    assert not (project.path / "out").exists()


@pytest.mark.parametrize("fault", ["bert-bin", "t5-bin"])
def test_pickle_checkpoints_load_when_allowed_on_the_command_line_or_in_the_ini(project, models, fault):
    args = ("--claims-model", str(models[fault]), "--claims-collection", "embedded:synthetic")
    assert REFUSED in usage_error(collect(project, *args))
    allowed = collect(project, *args, "--claims-allow-pickle")
    assert allowed.ret == pytest.ExitCode.OK and "tests collected" in allowed.stdout.str(), allowed.stdout.str()
    project.makeini("[pytest]\nclaims_allow_pickle = true\n")
    assert collect(project, *args).ret == pytest.ExitCode.OK


def test_every_bad_model_is_named_in_one_line(project, models):
    result = collect(project, "--claims-model", str(models["gpt2"]), "--claims-model", "embedded:nope",
                     "--claims-pretrained", str(models["bert-bin"]), "--claims-allow-pickle")
    line = usage_error(result)
    assert line.count("--claims-model") == 2 and f"--claims-pretrained {models['bert-bin']}: a cross-encoder" in line
    assert "unknown embedded model 'nope'; known: " in line


def test_a_generative_model_of_ones_own_needs_a_collection(project, models):
    spec = str(models["t5-bin"])
    line = usage_error(collect(project, "--claims-model", spec, "--claims-allow-pickle"))
    assert line == f"--claims-model {spec}: give --claims-collection (the collection its document ids index)"


def test_an_unknown_hub_id_fails_fast(project):
    """Without network huggingface_hub retries ~25 s per file; the catalog looks the id up in one request."""
    started = time.perf_counter()
    with pytest.raises(ModelError, match=f"^{UNKNOWN_HUB_ID}: "):
        Catalog().model_kind(UNKNOWN_HUB_ID)
    assert time.perf_counter() - started < 15
    started = time.perf_counter()
    line = usage_error(collect(project, "--claims-model", UNKNOWN_HUB_ID, subprocess=True))
    elapsed = time.perf_counter() - started
    assert line.startswith(f"--claims-model {UNKNOWN_HUB_ID}: not a local directory"), line
    assert elapsed < 60, f"{elapsed:.0f} s"  # 83 s before: five retries, the lookup made twice


def test_paths_that_are_no_directory_are_not_looked_up_on_the_hub(tmp_path):
    for spec in (str(tmp_path / "missing"), "./missing", "~/missing"):
        with pytest.raises(ModelError, match=r"no such model directory$"):
            Catalog().model_kind(spec)
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelError, match=r"a file, not a model directory$"):
        Catalog().model_kind(str(tmp_path / "model.safetensors"))


def test_a_failed_check_is_remembered_not_retried(pytestconfig, models, monkeypatch):
    calls = []
    catalog = Catalog()
    checked = catalog.model_kind
    monkeypatch.setattr(catalog, "model_kind", lambda spec, **kw: calls.append(spec) or checked(spec, **kw))
    options = dataclasses.replace(parse_options(pytestconfig), models=(str(models["gpt2"]),))
    session = ClaimsSession(config=pytestconfig, options=options, catalog=catalog, run={}, run_path=Path("unused"))
    for _ in range(3):  # during collection the spec is left out; the check after it names it
        assert session.targets_of(ModelKind.CROSS_ENCODER) == []
        with pytest.raises(pytest.UsageError, match="neither a sequence-classification"):
            session.check_models()
    assert calls == [str(models["gpt2"])]

    def load() -> None:
        calls.append("load")
        raise ModelError("cannot load")

    for _ in range(2):
        with pytest.raises(ModelError, match="cannot load"):
            session.remember(("model", "x"), load)
    assert calls.count("load") == 1


def test_loaders_refuse_pickle_unless_allowed(models):
    with pytest.raises(ModelError, match=REFUSED):
        CrossEncoder.load(models["bert-bin"])
    assert CrossEncoder.load(models["bert-bin"], allow_pickle=True).n_layers == 2
    with pytest.raises(ModelError, match=REFUSED):
        GenerativeRetriever.load(models["t5-bin"])
    loaded = GenerativeRetriever.load(models["t5-bin"], allow_pickle=True)
    assert loaded.weights_format == "pytorch .bin (weights-only loader)" and len(loaded.docids) == 4


def test_an_unsupported_classifier_is_a_model_error_not_a_type_error(models):
    with pytest.raises(ModelError, match="family the interventions reach is needed: bert, "):
        CrossEncoder.load(models["gpt2-classifier"])
    # Custom code skips the family check; what the interventions cannot reach is still refused.
    with pytest.raises(ModelError, match="no \\*SelfAttention modules"):
        CrossEncoder.load(models["gpt2-classifier"], trust_remote_code=True)


def _reached_layers(model_type: str) -> tuple[int, set[int], bool]:
    """Layers of a tiny random model of ``model_type``; those whose attention the interventions' function ran;
    whether every self-attention module has the query / key projections the analyses read."""
    register()
    config = AutoConfig.for_model(model_type, num_hidden_layers=2, hidden_size=32, num_attention_heads=2,
                                  intermediate_size=37, vocab_size=100, num_labels=1, pad_token_id=0)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation=ATTN_IMPLEMENTATION).eval()
    layers = attention_layers(model)
    reached: set[int] = set()
    parts = torch.tensor([[0, 1, 1, 2, 3, 3, 4]])

    def record(layer: int, _probs: torch.Tensor) -> None:
        reached.add(layer)

    with torch.inference_mode(), intervening(model, parts, layer_of=layers, recorder=record):
        model(input_ids=torch.tensor([[2, 5, 6, 3, 7, 8, 3]]))
    projections = all(hasattr(m, "query") and hasattr(m, "key") for m in model.modules()
                      if type(m).__name__.endswith("SelfAttention"))
    return len(layers), reached, projections


@pytest.mark.parametrize("model_type", sorted(MODEL_TYPES[ModelKind.CROSS_ENCODER]))
def test_every_supported_cross_encoder_family_is_reached_by_the_interventions(model_type):
    n_layers, reached, projections = _reached_layers(model_type)
    assert reached == set(range(n_layers)) and projections


@pytest.mark.parametrize("model_type", ["deberta-v2", "mpnet", "distilbert"])
def test_families_left_out_would_be_measured_wrongly(model_type):
    """DeBERTa and MPNet run attention of their own (ablations would change nothing); DistilBERT's
    attention has no query / key modules for the analyses."""
    n_layers, reached, projections = _reached_layers(model_type)
    assert reached != set(range(n_layers)) or not projections


def test_an_undecodable_config_and_missing_weights_are_model_errors(tmp_path):
    (tmp_path / "config.json").write_bytes(b"\xff\xfe not text")
    with pytest.raises(ModelError, match=r"config.json is not readable JSON"):
        Catalog().model_kind(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertForSequenceClassification"],
                                                      "model_type": "bert"}))
    with pytest.raises(ModelError, match="no weights found"):
        Catalog().model_kind(str(tmp_path))


def test_a_hub_model_used_before_is_checked_from_the_cache_offline(tmp_path, models):
    """Offline, the hub cannot list a repository; a model in the local hub cache is still checked, from there."""
    snapshot = tmp_path / "hub" / "models--someone--tiny-ranker" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0123abc")
    for name in ("config.json", "pytorch_model.bin"):
        shutil.copy(models["bert-bin"] / name, snapshot / name)
    check = ("from ranker_claims.core.catalog import Catalog\n"
             "print(Catalog().model_kind('someone/tiny-ranker', allow_pickle=True).value)\n"
             "Catalog().model_kind('someone/tiny-ranker')\n")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=120)
    assert result.stdout == "cross-encoder\n", result.stderr
    assert f"ModelError: someone/tiny-ranker: {REFUSED}" in result.stderr
