"""The method checks on the planted cross-encoder: they pass on the suite as it is, and
they fail when a detector or a decision is broken (each broken on purpose below).

The planted model is tiny (3 layers x 4 heads, 128 dimensions): everything here takes
seconds. Each teeth test builds its own setup, since a study caches what it measured.
"""

from __future__ import annotations

import numpy as np
import pytest

from ranker_claims.core import method_checks as calibration
from ranker_claims.core import stats
from ranker_claims.core.claims import Settings
from ranker_claims.cross_encoder import interventions as attention
from ranker_claims.cross_encoder import method_checks
from ranker_claims.cross_encoder.analyses import head_statistics, query_key
from ranker_claims.generative import method_checks as generative_checks


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
    """Every row of the calibration at the claims' default n, each cell audited against the comparison functions."""
    checks = calibration.calibration_checks(Settings())
    names = {c["name"] for c in checks}
    assert names >= {f"calibration: {d} on {k} data" for d, k in calibration.CALIBRATION_ROWS}
    for check in checks:
        if "calibration" in check["figures"]:
            figure = check["figures"]["calibration"]
            assert figure["n_sims"] >= 1000
            assert all(c["mismatches"] == 0 for c in figure["cells"]), check["detail"]
        assert check["passed"], check["detail"]


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
    from ranker_claims.cross_encoder.analyses import decomposition

    def contextual(queries, keys, x, y, w_q, b_q, w_k, b_k, scale):
        logits = scale * queries @ keys.T
        return logits, logits, np.zeros_like(logits)

    monkeypatch.setattr(decomposition, "decompose_logits", contextual)
    check = method_checks.PLANTED_CHECKS["decomposition"](fresh)
    assert not check["passed"], check["detail"]


def test_uncorrected_head_screen_fails_calibration(monkeypatch):
    """With the multiple-comparison correction disabled, null screens of 8 heads find a head
    far more often than alpha."""
    monkeypatch.setattr(stats.corrections, "correct", lambda pvalues, method: np.asarray(pvalues, dtype=float))
    check = calibration.check_calibration("screen", "normal", Settings(), sizes=(30,))
    assert not check["passed"], check["detail"]


# --------------------------------------------------------------------------- planted T5


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory) -> object:
    return tmp_path_factory.mktemp("planted-t5")


@pytest.fixture(scope="module")
def t5_setup(t5_dir) -> generative_checks.PlantedGenerativeSetup:
    return generative_checks.planted_generative_setup(t5_dir)


@pytest.fixture
def fresh_t5(t5_dir) -> generative_checks.PlantedGenerativeSetup:
    """A new study (studies cache what they measured), so a broken detector really runs."""
    return generative_checks.planted_generative_setup(t5_dir)


def test_planted_t5_loads_as_a_checkpoint_and_answers_every_query(t5_setup):
    study, planted = t5_setup.study, t5_setup.planted
    assert study.model.describe()["docid_rule"].startswith("docids.json")
    assert (study.model.n_layers, study.stages[planted.stage]) == (planted.decoder_layers, planted.layers)
    assert len(study.correct) == len(study.eval_index) >= generative_checks.MIN_CORRECT
    assert (study.baseline_ranks == 1).all()


@pytest.mark.parametrize("name", list(generative_checks.PLANTED_GENERATIVE_CHECKS))
def test_every_generative_detector_recovers_the_planted_stage(t5_setup, name):
    check = generative_checks.PLANTED_GENERATIVE_CHECKS[name](t5_setup)
    assert check["kind"] == "planted"
    assert check["passed"], check["detail"]
    assert check["figures"]


def test_planted_t5_checks_appear_in_the_report(t5_setup, tmp_path):
    from ranker_claims.core.runs import add_method_check, new_run
    from ranker_claims.reports import write_report

    run = new_run({"alpha": 0.05}, {"python": "3.11"})
    for check in generative_checks.PLANTED_GENERATIVE_CHECKS.values():
        add_method_check(run, check(t5_setup))
    path = write_report(run, tmp_path / "report.html") or tmp_path / "report.html"
    section = path.read_text().split('id="method-checks"', 1)[1]
    n = len(generative_checks.PLANTED_GENERATIVE_CHECKS)
    assert f"<strong>{n} of {n}</strong> passed" in section
    assert "planted T5: stage patching" in section and "planted_stage_grid" in section


def _run_t5(setup: generative_checks.PlantedGenerativeSetup, name: str) -> dict:
    check = generative_checks.PLANTED_GENERATIVE_CHECKS[name](setup)
    assert not check["passed"], check["detail"]
    return check


def test_stage_patching_with_zero_patches_ignored_fails(fresh_t5, monkeypatch):
    """Patch.zero as a no-op (the hook engine drops zero patches): no cell moves the answer."""
    from ranker_claims.generative import model as generative
    from ranker_claims.generative.interventions import Method

    real = generative.intervening
    monkeypatch.setattr(generative, "intervening", lambda model, patches, index, recording=None: real(
        model, [p for p in patches if p.method is not Method.ZERO], index, recording))
    assert "zero 0/" in _run_t5(fresh_t5, "stage-patching")["detail"]


def test_stage_patching_with_stages_off_by_one_fails(fresh_t5, monkeypatch):
    """Stage II mapped to layers 5-9: the layer-4 copy and write survive every 'stage II' patch."""
    from ranker_claims.generative import study as generative_study
    from ranker_claims.generative.interventions import _split

    monkeypatch.setattr(generative_study, "stages", lambda n: _split(n, 5, 10))
    _run_t5(fresh_t5, "stage-patching")


def test_logit_lens_skipping_the_final_norm_fails(fresh_t5, monkeypatch):
    """The lens without the final norm reads the decoy dimension: the answer is never first."""
    from ranker_claims.generative.model import GenerativeRetriever

    real = GenerativeRetriever.unembed
    monkeypatch.setattr(GenerativeRetriever, "unembed",
                        lambda self, v, normed=True, **kw: real(self, v, normed=False, **kw))
    _run_t5(fresh_t5, "logit-lens")


def test_logit_lens_that_cannot_skip_the_norm_fails(fresh_t5, monkeypatch):
    """normed=False ignored: the contrast that shows the norm matters is gone."""
    from ranker_claims.generative.model import GenerativeRetriever

    real = GenerativeRetriever.unembed
    monkeypatch.setattr(GenerativeRetriever, "unembed",
                        lambda self, v, normed=True, **kw: real(self, v, normed=True, **kw))
    _run_t5(fresh_t5, "logit-lens")


def test_data_driven_stages_shifted_fail(fresh_t5, monkeypatch):
    from ranker_claims.generative import study as generative_study
    from ranker_claims.generative.interventions import _split

    real = generative_study.data_driven_stages

    def shifted(ratios):
        found = real(ratios)
        n = sum(map(len, found.values()))
        return _split(n, len(found["I"]) + 1, len(found["I"]) + len(found["II"]))

    monkeypatch.setattr(generative_study, "data_driven_stages", shifted)
    _run_t5(fresh_t5, "contribution-profile")


def test_outputs_recorded_under_the_wrong_component_fail(fresh_t5, monkeypatch):
    """Cross-attention and MLP outputs stored under each other's name: the 'MLP' sums are the
    copies, which name no document, and the profile's stages come out inverted."""
    from ranker_claims.generative.interventions import Component
    from ranker_claims.generative.model import GenerativeRetriever

    real = GenerativeRetriever._store

    def swapped(recording, store, index):
        outputs = recording.outputs
        recording.outputs = {**outputs, Component.MLP: outputs[Component.CROSS_ATTENTION],
                             Component.CROSS_ATTENTION: outputs[Component.MLP]}
        real(recording, store, index)

    monkeypatch.setattr(GenerativeRetriever, "_store", staticmethod(swapped))
    _run_t5(fresh_t5, "component-sums")
    _run_t5(fresh_t5, "contribution-profile")


def test_t5_checks_fail_on_too_few_correct_queries(fresh_t5, monkeypatch):
    from ranker_claims.generative.study import GenerativeStudy

    too_few = property(lambda self: self.eval_index[: generative_checks.MIN_CORRECT - 1])
    monkeypatch.setattr(GenerativeStudy, "correct", too_few)
    for name in generative_checks.PLANTED_GENERATIVE_CHECKS:
        assert f"need >= {generative_checks.MIN_CORRECT}" in _run_t5(fresh_t5, name)["detail"]
