"""The method checks on the planted cross-encoder: they pass on the suite as it is, and
they fail when a detector or a decision is broken (each broken on purpose below).

The planted model is tiny (3 layers x 4 heads, 128 dimensions): everything here takes
seconds. Each teeth test builds its own setup, since a study caches what it measured.
"""

from __future__ import annotations

import numpy as np
import pytest

from suite import method_checks, stats
from suite.analyses import head_statistics, query_key
from suite.claims import Settings
from suite.interventions import attention


@pytest.fixture(scope="module")
def planted_dir(tmp_path_factory) -> object:
    return tmp_path_factory.mktemp("planted")


@pytest.fixture(scope="module")
def setup(planted_dir) -> method_checks.PlantedSetup:
    return method_checks.planted_setup(planted_dir)


@pytest.fixture
def fresh(planted_dir) -> method_checks.PlantedSetup:
    return method_checks.planted_setup(planted_dir)


def test_planted_model_scores_by_exact_token_overlap(setup):
    model, planted = setup.study.model, setup.planted
    query = "cinnamon variance mixed priory"
    relevant, hard, easy = model.score([
        (query, "banned cinnamon priory ithaca seconds variance prelate striking padua concerned"),
        (query, "pledge magnolia capcom benfica canteen cinnamon burkina margot eagle electric"),
        (query, "finals impatient caldwell joseph reader mild noodles covert jerseys liking"),
    ])
    assert relevant > hard > easy
    assert (setup.study.model.describe()["layers"], setup.study.model.n_heads) == (planted.layers, planted.heads)


@pytest.mark.parametrize("name", list(method_checks.PLANTED_CHECKS))
def test_every_detector_recovers_the_planted_mechanism(setup, name):
    check = method_checks.PLANTED_CHECKS[name](setup)
    assert check["kind"] == "planted"
    assert check["passed"], check["detail"]
    assert check["figures"], "each planted check draws its detector's figure"


def test_calibration_checks_pass_with_at_least_1000_simulations():
    checks = method_checks.calibration_checks(Settings(), n=30, heads=24)
    assert {c["name"] for c in checks} >= {f"calibration: {d} false-positive rate" for d in stats.DECISIONS}
    for check in checks:
        assert check["passed"], check["detail"]
        if "calibration" in check["figures"]:
            assert check["figures"]["calibration"]["n_sims"] >= 1000


# --------------------------------------------------------------------------- teeth


def test_alignment_on_wq_wq_fails(fresh, monkeypatch):
    """W_Q W_Q^T is positive semi-definite for every head: alignment 1 everywhere, nothing stands out."""
    real = query_key.head_alignment
    monkeypatch.setattr(query_key, "head_alignment", lambda w_q, w_k: real(w_q, w_q))
    check = method_checks.PLANTED_CHECKS["alignment"](fresh)
    assert not check["passed"], check["detail"]


def test_screen_reading_the_wrong_block_fails(fresh, monkeypatch):
    """max Query->Document taken over query rows x document columns (the other direction)."""
    real = head_statistics.reduce_attention

    def swapped(probs, parts):
        out = real(probs, parts)
        out["max_query_to_document"], out["max_document_to_query"] = out["max_document_to_query"], out["max_query_to_document"]
        return {**out, "max_document_to_query": out["max_document_to_query"] * 0}

    monkeypatch.setattr(head_statistics, "reduce_attention", swapped)
    check = method_checks.PLANTED_CHECKS["matching-screen"](fresh)
    assert not check["passed"], check["detail"]


def test_direction_ablation_with_the_convention_flipped_fails(fresh, monkeypatch):
    """Blocking rows of the source and columns of the target: 'query->document' then removes
    Document->Query, and the planted path is no longer the one that hurts."""
    real = attention.blocked_mask
    monkeypatch.setattr(attention, "blocked_mask",
                        lambda parts, directions: real(parts, [attention.Direction(d.target, d.source) for d in directions]))
    check = method_checks.PLANTED_CHECKS["directions"](fresh)
    assert not check["passed"], check["detail"]


def test_head_ablation_that_zeroes_the_wrong_head_fails(fresh, monkeypatch):
    """An off-by-one in the head index: the planted head survives its own ablation."""
    real = attention.HeadAblation.__init__

    def shifted(self, heads):
        real(self, frozenset((layer, (head + 1) % fresh.planted.heads) for layer, head in heads))

    monkeypatch.setattr(attention.HeadAblation, "__init__", shifted)
    check = method_checks.PLANTED_CHECKS["head-ablation"](fresh)
    assert not check["passed"], check["detail"]


def test_decomposition_against_contextual_states_fails(fresh, monkeypatch):
    """The 'context-free' part computed from the head's own (contextual) queries and keys
    explains every head fully, so the planted head no longer stands out."""
    from suite.analyses import decomposition

    def contextual(queries, keys, x, y, w_q, b_q, w_k, b_k, scale):
        logits = scale * queries @ keys.T
        return logits, logits, np.zeros_like(logits)

    monkeypatch.setattr(decomposition, "decompose_logits", contextual)
    check = method_checks.PLANTED_CHECKS["decomposition"](fresh)
    assert not check["passed"], check["detail"]


def test_uncorrected_head_screen_fails_calibration(monkeypatch):
    """With the multiple-comparison correction disabled, null screens of 24 heads find a head
    far more often than alpha."""
    monkeypatch.setattr(stats, "correct", lambda pvalues, method: np.asarray(pvalues, dtype=float))
    check = method_checks.check_false_positive_rate("heads", Settings(), n=30, heads=24)
    assert not check["passed"], check["detail"]

