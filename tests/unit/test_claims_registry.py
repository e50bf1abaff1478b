"""Claims files against the measurement registries: what loads, what is refused at load, what a result records."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

import pytest

from ranker_claims.core.claims import ClaimsFileError, NoParams, Registry, Settings, load_claims
from ranker_claims.cross_encoder.measurements import MEASUREMENTS as CROSS_ENCODER
from ranker_claims.generative.measurements import MEASUREMENTS as GENERATIVE

REPO = Path(__file__).resolve().parents[2]
CLAIMS_DIR = REPO / "claims"
SHIPPED = [("cross_encoder.toml", CROSS_ENCODER, "CE"), ("generative.toml", GENERATIVE, "GR")]


def _variant(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of a shipped claims file with one exact edit."""
    text = (CLAIMS_DIR / name).read_text()
    assert text.count(old) == 1, f"the edit must hit exactly one place in {name}: {old!r}"
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return path


def _refused(path: Path, registry: Registry, message: str) -> None:
    with pytest.raises(ClaimsFileError) as error:
        load_claims(path, registry)
    assert str(error.value) == f"{path}: {message}"


@pytest.mark.parametrize("name, registry, prefix", SHIPPED)
def test_shipped_files_load(name, registry, prefix):
    claims = load_claims(CLAIMS_DIR / name, registry)
    assert [c.id for c in claims] == [f"{prefix}-{i}" for i in range(1, 13)]
    assert {c.measurement.name for c in claims} == set(registry)  # every registered measurement is used
    for claim in claims:
        assert isinstance(claim.params, claim.measurement.params)


def test_unknown_measurement(tmp_path):
    path = _variant(tmp_path, "generative.toml", 'measurement = "single_layers"', 'measurement = "single_layer"')
    _refused(path, GENERATIVE, f"claim GR-4: unknown measurement 'single_layer' (known: {', '.join(GENERATIVE)})")


def test_measurement_of_the_other_wing_is_unknown(tmp_path):
    path = _variant(tmp_path, "cross_encoder.toml", 'measurement = "fallback"', 'measurement = "last_layer"')
    with pytest.raises(ClaimsFileError, match=re.escape("claim CE-11: unknown measurement 'last_layer'")):
        load_claims(path, CROSS_ENCODER)


def test_misspelt_parameter(tmp_path):
    path = _variant(tmp_path, "generative.toml", "params = { boundary = 0.15, expected_single",
                    "params = { boundry = 0.15, expected_single")
    _refused(path, GENERATIVE, "claim GR-4: unknown parameter 'boundry' for measurement 'single_layers' "
                               "(known: boundary, expected_single, method, crucial_stages)")


def test_misspelt_parameter_in_a_nested_table(tmp_path):
    path = _variant(tmp_path, "cross_encoder.toml", 'hypothesis = "equivalent", margin = 0.05 }',
                    'hypothesis = "equivalent", margn = 0.05 }')
    _refused(path, CROSS_ENCODER, "claim CE-2: unknown parameter 'conditions[0].margn' for measurement "
                                  "'direction_effects' (known: label, ablate, against, hypothesis, margin, "
                                  "expected_effect, smallest_effect)")


def test_missing_parameter(tmp_path):
    path = _variant(tmp_path, "cross_encoder.toml", "params = { max_heads = 8, random_sets = 5 }",
                    "params = { random_sets = 5 }")
    _refused(path, CROSS_ENCODER, "claim CE-8: missing parameter 'max_heads' for measurement 'causal_role'")


def test_missing_parameter_table(tmp_path):
    path = _variant(tmp_path, "cross_encoder.toml", "params = { early_fraction = 0.67 }\n", "")
    _refused(path, CROSS_ENCODER, "claim CE-11: missing parameter 'early_fraction' for measurement 'fallback'")


@pytest.mark.parametrize("old, new, message", [
    ("params = { head_k = 5,", 'params = { head_k = "5",',
     "claim GR-9: parameter 'head_k' for measurement 'communication' must be int, got str '5'"),
    ("params = { head_k = 5,", "params = { head_k = 5.0,",
     "claim GR-9: parameter 'head_k' for measurement 'communication' must be int, got float 5.0"),
    ("exclude_last_layer = true", "exclude_last_layer = 1",
     "claim GR-2: parameter 'exclude_last_layer' for measurement 'contributions' must be bool, got int 1"),
    ("params = { ks = [10, 100, 1000]", "params = { ks = 10",
     "claim GR-10: parameter 'ks' for measurement 'word_space' must be an array of int, got int 10"),
    ('method = "zero", crucial_stages', 'method = "zeros", crucial_stages',
     "claim GR-4: parameter 'method' for measurement 'single_layers' must be one of 'zero', 'mean', 'model', "
     "got str 'zeros'"),
    ('bounds = { "10" = 0.01,', 'bounds = { "10" = "1%",',
     "claim GR-10: parameter 'bounds.10' for measurement 'word_space' must be float, got str '1%'"),
])
def test_wrong_type(tmp_path, old, new, message):
    _refused(_variant(tmp_path, "generative.toml", old, new), GENERATIVE, message)


def test_an_integer_reads_as_a_float(tmp_path):
    path = _variant(tmp_path, "generative.toml", "read_bound = 0.05", "read_bound = 1")
    (claim,) = [c for c in load_claims(path, GENERATIVE) if c.id == "GR-12"]
    assert claim.params.read_bound == 1.0 and isinstance(claim.params.read_bound, float)
    assert claim.declared_params["read_bound"] == 1  # recorded as written


def test_schema_checks_across_fields(tmp_path):
    """Margins go with equivalence: stats would refuse them mid-run, the schema refuses them at load."""
    path = _variant(tmp_path, "cross_encoder.toml", "params = { margin = 0.05, paper_cells", "params = { paper_cells")
    _refused(path, CROSS_ENCODER, "claim CE-5: missing parameter 'margin', which the paper's 'equivalent' cells need")
    path = _variant(tmp_path, "cross_encoder.toml", 'hypothesis = "less", expected_effect = -0.14, smallest_effect = -0.05 },\n] }',
                    'hypothesis = "less", margin = 0.1, expected_effect = -0.14, smallest_effect = -0.05 },\n] }')
    with pytest.raises(ClaimsFileError, match=re.escape("claim CE-3: condition 'Query->Document': a margin goes")):
        load_claims(path, CROSS_ENCODER)


def test_duplicate_ids(tmp_path):
    path = _variant(tmp_path, "generative.toml", 'id = "GR-12"', 'id = "GR-11"')
    _refused(path, GENERATIVE, "duplicate claim ids ['GR-11']")


# --------------------------------------------------------------------------- the registry itself


@dataclass(frozen=True)
class _Toy:
    level: float
    mode: Literal["a", "b"] = "a"


def test_registry_holds_what_is_registered():
    registry = Registry("toy")

    @registry.register(_Toy)
    def measure(claim, params, study, settings):
        return params

    @registry.register(name="bare")
    def other(claim, params, study, settings):
        return params

    assert list(registry) == ["bare", "measure"] and len(registry) == 2 and "measure" in registry
    assert registry["measure"].function is measure and registry["measure"].params is _Toy
    assert registry["bare"].params is NoParams
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(_Toy)(measure)
    with pytest.raises(TypeError, match="frozen dataclass"):
        registry.register(dict)


def test_evaluate_calls_the_function_with_typed_params(tmp_path):
    registry = Registry("toy")
    seen = []

    @registry.register(_Toy)
    def measure(claim, params, study, settings):
        seen.append((claim.id, params, study, settings))
        return "result"

    path = tmp_path / "toy.toml"
    path.write_text('[[claim]]\nid = "T-1"\ntitle = "t"\nstatement = "s"\npaper = "p"\nfigure = "f"\n'
                    'measurement = "measure"\nparams = { level = 2 }\n')
    (claim,) = load_claims(path, registry)
    assert claim.evaluate("study", Settings()) == "result"
    assert seen == [("T-1", _Toy(level=2.0), "study", Settings())]


# --------------------------------------------------------------------------- what a result records


def _study(**options):
    return SimpleNamespace(model=SimpleNamespace(name="m"), collection=SimpleNamespace(id="c"),
                           recorded_options=lambda: dict(options))


def test_result_records_the_params_as_written(tmp_path):
    """Options are settings, then the study's options, then the TOML's params: same keys, values and order,
    and no defaults that were not written."""
    settings = Settings(alpha=0.01, seed=3)
    path = _variant(tmp_path, "generative.toml", ", exclude_last_layer = true", "")
    claims = {c.id: c for c in load_claims(path, GENERATIVE)}
    assert claims["GR-2"].params.exclude_last_layer is True  # the default, used but not recorded
    for claim in claims.values():
        options = claim.result(_study(rank_over="docids"), settings, metric="", decision="", verdict=None,
                               reason="", comparisons=[]).options
        assert list(options.items()) == [*settings.to_dict().items(), ("rank_over", "docids"),
                                         *claim.declared_params.items()]
    assert "exclude_last_layer" not in claims["GR-2"].declared_params
    written = load_claims(CLAIMS_DIR / "generative.toml", GENERATIVE)[2].declared_params
    assert list(written) == ["removable_below", "crucial_above", "order", "cells"]
    assert written["cells"][0] == {"component": "self_attention", "method": "zero", "stage": "I", "paper": 0.0152,
                                   "nq320k": 0.0267, "trivia_qa": 0.1258, "role": "removable"}


def test_every_labelled_stage_cell_lies_on_its_roles_side_of_its_bound():
    """GR-3's bounds hold the paper's own cells on NQ10k and NQ320k: a removable cell is below
    removable_below, a crucial one above crucial_above. The bounds must not overlap (issue 22: with
    removable < 25% and crucial > 15%, one share of 20% could be shown both), and no pair of
    non-overlapping bounds holds Trivia-QA too (its removable cells reach 20.93%, NQ10k's crucial ones
    start at 20.45%): on Trivia-QA exactly the two named removable cells lie above the bound."""
    params = next(c for c in load_claims(CLAIMS_DIR / "generative.toml", GENERATIVE) if c.id == "GR-3").params
    assert params.removable_below <= params.crucial_above
    labelled = [cell for cell in params.cells if cell.role != "reported"]
    assert {cell.role for cell in labelled} == {"removable", "crucial"}
    across = []
    for cell in labelled:
        for model in ("paper", "nq320k", "trivia_qa"):
            value = getattr(cell, model)
            where = f"{cell.component}, {cell.method}, stage {cell.stage}, {model}: {value}"
            on_its_side = value < params.removable_below if cell.role == "removable" else value > params.crucial_above
            if model == "trivia_qa" and not on_its_side:
                across.append((cell.component, cell.method, cell.stage, cell.role, value))
            else:
                assert on_its_side, where
    assert across == [("self_attention", "zero", "III", "removable", 0.1997),
                      ("self_attention", "mean", "III", "removable", 0.2093)]
    removable = max(getattr(c, m) for c in labelled if c.role == "removable" for m in ("paper", "nq320k"))
    crucial = min(getattr(c, m) for c in labelled if c.role == "crucial" for m in ("paper", "nq320k"))
    assert params.removable_below == params.crucial_above == pytest.approx((removable + crucial) / 2, abs=1e-4)


# --------------------------------------------------------------------------- at pytest collection


def test_a_misspelt_claim_fails_collection(pytester):
    """``pytest claims/ --collect-only`` stops at collection on a parameter the measurement does not know."""
    claims = pytester.path / "claims"
    claims.mkdir()
    shutil.copy(CLAIMS_DIR / "cross_encoder.toml", claims / "cross_encoder.toml")
    text = (CLAIMS_DIR / "generative.toml").read_text()
    (claims / "generative.toml").write_text(text.replace("params = { boundary = 0.15, expected_single",
                                                         "params = { boundry = 0.15, expected_single"))
    result = pytester.runpytest_inprocess("claims", "--collect-only", "-q", "-p", "no:cacheprovider", "--import-mode=importlib")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([
        "*generative.toml: claim GR-4: unknown parameter 'boundry' for measurement 'single_layers'*",
        "*1 error*",
    ])
    result.stdout.no_fnmatch_line("*cross_encoder.toml*error*")
