"""The GR claims on the embedded DSI model, as `pytest claims/ -k GR` runs them by default.

The model, its pre-trained T5 and its held-out companion are built by the project
(ranker_claims.fixtures.generative, "embedded:dsi-synthetic"; about 7 minutes once, then cached) and checked on
the generated collection's query phrasings they were not trained on.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ranker_claims.core.claims import load_claims
from ranker_claims.core.runs import load_run
from ranker_claims.generative.measurements import MEASUREMENTS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
GR_FAMILY = {c.id for c in load_claims(REPO / "claims" / "generative.toml", MEASUREMENTS)}


@pytest.fixture(scope="module")
def dsi_run(tmp_path_factory) -> dict:
    project = tmp_path_factory.mktemp("dsi")
    shutil.copytree(REPO / "claims", project / "claims", ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [
            "python3", "-m", "pytest", "claims/", "-q", "-p", "no:cacheprovider", "-k", "GR",
            "--claims-model", "embedded:dsi-synthetic", "--claims-output-dir", "out", "--claims-bootstrap", "500",
        ],
        cwd=project, capture_output=True, text=True, timeout=3000,
    )
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    (run_path,) = (project / "out" / "runs").glob("*.json")
    return {"run": load_run(run_path), "report": (project / "out" / "report.html").read_text()}


def test_every_gr_claim_has_a_verdict_with_its_companions(dsi_run):
    run = dsi_run["run"]
    assert {c["claim_id"] for c in run["claims"]} == GR_FAMILY
    collection = run["targets"][0]["collection"]
    assert collection["seen_in_training"] == 0 and collection["correct_queries"] >= 30
    claims = {c["claim_id"]: c for c in run["claims"]}
    # The pre-trained T5 (Table 3's T5 column, encoder swap) and the held-out model were used.
    for claim_id in ("GR-3", "GR-6"):
        assert "not measured" not in claims[claim_id]["reason"], claims[claim_id]["reason"]
    cells = claims["GR-3"]["figures"]["stage_table"]["cells"]
    assert len(cells) == 27 and all(cell["measured"] is not None for cell in cells)


def test_the_embedded_dsi_model_retrieves_well_above_chance(dsi_run):
    gr1 = next(c for c in dsi_run["run"]["claims"] if c["claim_id"] == "GR-1")
    for comparison in gr1["comparisons"]:
        assert comparison["measured"] > 5 * comparison["reference"], comparison["label"]
    assert gr1["verdict"] == "SUPPORTED"


def test_the_report_draws_every_gr_figure(dsi_run):
    report = dsi_run["report"]
    for kind in ("stage-table", "contribution-profile", "lens-ranks", "layer-series", "attribution-shares",
                 "metric-bars", "promoted-tokens"):
        assert f'class="fig {kind}' in report, kind
    assert all(claim_id in report for claim_id in GR_FAMILY)
