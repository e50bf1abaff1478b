"""The real-text setting: a cross-encoder trained on TREC DL 2020 checked on TREC DL 2019.

The DL20-trained model is built by the project (ranker_claims.fixtures.embedded, "embedded:minilm-dl20")
from the packaged MiniLM and ../shared/data; the claims run on DL19's BM25 candidates,
re-ranking the top 20 per query so CI can afford every claim.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ranker_claims.core.runs import load_run
from ranker_claims.fixtures.shared import shared_data

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dl19_run(tmp_path_factory) -> dict:
    if not (shared_data() / "trec-dl-2019").is_dir() or not (shared_data() / "trec-dl-2020").is_dir():
        pytest.skip(f"TREC DL collections not found under {shared_data()}")
    project = tmp_path_factory.mktemp("dl19")
    shutil.copytree(REPO / "claims", project / "claims", ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [
            "python3", "-m", "pytest", "claims/", "-q", "-p", "no:cacheprovider",
            "--claims-model", "embedded:minilm-dl20", "--claims-collection", "embedded:trec-dl-2019",
            "--claims-depth", "20", "--claims-output-dir", "out", "--claims-bootstrap", "500",
        ],
        cwd=project, capture_output=True, text=True, timeout=3000,
    )
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    (run_path,) = (project / "out" / "runs").glob("*.json")
    return load_run(run_path)


def test_every_cross_encoder_claim_has_a_verdict_on_dl19(dl19_run):
    ids = {c["claim_id"] for c in dl19_run["claims"]}
    assert ids == {f"CE-{i}" for i in range(1, 13)}
    collection = dl19_run["targets"][0]["collection"]
    assert collection["queries"] == 43 and collection["candidates"] == 43 * 20


def test_dl20_model_beats_bm25_on_dl19(dl19_run):
    ce1 = next(c for c in dl19_run["claims"] if c["claim_id"] == "CE-1")
    versus_bm25 = next(c for c in ce1["comparisons"] if "first-stage" in c["label"])
    assert versus_bm25["measured"] > versus_bm25["reference"], (
        f"nDCG@10 {versus_bm25['measured']:.3f} does not beat BM25's {versus_bm25['reference']:.3f}"
    )
