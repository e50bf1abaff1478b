"""Claim preconditions (``requires``): checked at load, applied to verdicts, independent of test selection,
recorded in the run and marked in the report.

A mechanism claim ("ablating X changes nothing") is vacuous on a model that does not rank: where the claim
it presupposes (CE-1, GR-1) is not SUPPORTED on a target, it is INCONCLUSIVE there, its measurements kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

import pytest

from ranker_claims.core.claims import ClaimsFileError, Registry, Settings, load_claims
from ranker_claims.core.results import ClaimResult, Comparison, Verdict
from ranker_claims.core.runs import load_run, new_run
from ranker_claims.cross_encoder.measurements import MEASUREMENTS as CROSS_ENCODER
from ranker_claims.generative.measurements import MEASUREMENTS as GENERATIVE
from ranker_claims.pytest_plugin.session import ClaimsSession
from ranker_claims.reports import render_report
from tests.unit.test_report_matrix import matrix

REPO = Path(__file__).resolve().parents[2]

VerdictWord = Literal["SUPPORTED", "CONTRADICTED", "INCONCLUSIVE"]


# --------------------------------------------------------------------------- the shipped files


@pytest.mark.parametrize("name, registry, prefix", [("cross_encoder.toml", CROSS_ENCODER, "CE"),
                                                    ("generative.toml", GENERATIVE, "GR")])
def test_every_mechanism_claim_requires_the_working_model_claim(name, registry, prefix):
    claims = load_claims(REPO / "claims" / name, registry)
    first, *mechanisms = claims
    assert first.id == f"{prefix}-1" and first.requires == ()
    for claim in mechanisms:
        assert [required.id for required in claim.requires] == [f"{prefix}-1"], claim.id
        assert claim.requires[0] is first  # the claim itself, resolved at load: what is evaluated as the precondition


# --------------------------------------------------------------------------- loading


def _file(tmp_path: Path, *claims: tuple[str, str]) -> Path:
    """A claims file of toy claims: (id, extra TOML lines) each, all measured by ``fixed``."""
    text = "".join(
        f'[[claim]]\nid = "{claim_id}"\ntitle = "title of {claim_id}"\nstatement = "s"\npaper = "p"\nfigure = "f"\n'
        f'measurement = "fixed"\n{extra}\n'
        for claim_id, extra in claims
    )
    path = tmp_path / "toy.toml"
    path.write_text(text)
    return path


@dataclass(frozen=True)
class _Fixed:
    verdict: VerdictWord = "SUPPORTED"


def _registry(calls: list[str] | None = None) -> Registry:
    """One measurement, ``fixed``: the verdict its params name, one comparison, per-query values and a figure."""
    registry = Registry("toy")

    @registry.register(_Fixed)
    def fixed(claim, params, study, settings):
        if calls is not None:
            calls.append(claim.id)
        verdict = Verdict(params.verdict)
        comparison = Comparison(label="ablated vs baseline", measured=0.5, ci=(0.4, 0.6), reference=0.5, effect=0.0,
                                effect_size=0.0, effect_size_name="d_z", test="paired t", p_value=0.01,
                                p_corrected=0.01, n=30, power=0.9, verdict=verdict, reason="as measured")
        return claim.result(study, settings, metric="nDCG@10", decision="equivalence", verdict=verdict,
                            reason=f"own evidence of {claim.id}", comparisons=[comparison],
                            figures={"bars": {"values": [1, 2]}}, per_query={"ablated": {"q1": 0.5}})

    return registry


def _refused(path: Path, message: str) -> None:
    with pytest.raises(ClaimsFileError) as error:
        load_claims(path, _registry())
    assert str(error.value) == f"{path}: {message}"


def test_requires_resolves_to_the_claims_of_the_file(tmp_path):
    path = _file(tmp_path, ("T-2", 'requires = ["T-1"]'), ("T-1", ""), ("T-3", 'requires = ["T-2", "T-1"]'))
    claims = {claim.id: claim for claim in load_claims(path, _registry())}
    assert list(claims) == ["T-2", "T-1", "T-3"]  # file order, whatever the dependencies
    assert claims["T-2"].requires == (claims["T-1"],) and claims["T-1"].requires == ()
    assert [c.id for c in claims["T-3"].requires] == ["T-2", "T-1"]
    assert claims["T-3"].requires[0].requires[0] is claims["T-1"]


def test_an_unknown_required_id_is_refused(tmp_path):
    path = _file(tmp_path, ("T-1", ""), ("T-2", 'requires = ["T-1", "T-9"]'))
    _refused(path, "claim T-2: requires unknown claim ids ['T-9'] (claims of this file: T-1, T-2)")


def test_a_claim_of_another_file_is_unknown(tmp_path):
    path = _file(tmp_path, ("T-2", 'requires = ["CE-1"]'))
    _refused(path, "claim T-2: requires unknown claim ids ['CE-1'] (claims of this file: T-2)")


def test_a_cycle_is_refused(tmp_path):
    path = _file(tmp_path, ("T-1", ""), ("T-2", 'requires = ["T-1", "T-3"]'), ("T-3", 'requires = ["T-4"]'),
                 ("T-4", 'requires = ["T-2"]'))
    _refused(path, "claims require each other in a cycle: T-2 -> T-3 -> T-4 -> T-2")


def test_a_claim_requiring_itself_is_a_cycle(tmp_path):
    path = _file(tmp_path, ("T-1", 'requires = ["T-1"]'))
    _refused(path, "claims require each other in a cycle: T-1 -> T-1")


def test_requires_must_be_an_array_of_ids(tmp_path):
    path = _file(tmp_path, ("T-1", ""), ("T-2", 'requires = "T-1"'))
    _refused(path, "claim T-2: requires must be an array of claim ids, got str 'T-1'")


# --------------------------------------------------------------------------- verdicts


def _study(model: str = "m", collection: str = "c") -> SimpleNamespace:
    return SimpleNamespace(model=SimpleNamespace(name=model), collection=SimpleNamespace(id=collection),
                           recorded_options=dict)


def _pair(tmp_path: Path, base: str, own: str, calls: list[str] | None = None) -> dict:
    """A precondition T-1 measuring ``base`` and a mechanism claim T-2 requiring it, measuring ``own``."""
    path = _file(tmp_path, ("T-1", f'params = {{ verdict = "{base}" }}'),
                 ("T-2", f'requires = ["T-1"]\nparams = {{ verdict = "{own}" }}'))
    return {claim.id: claim for claim in load_claims(path, _registry(calls))}


@pytest.mark.parametrize("base", ["CONTRADICTED", "INCONCLUSIVE"])
@pytest.mark.parametrize("own", ["SUPPORTED", "CONTRADICTED"])
def test_a_precondition_not_supported_makes_the_claim_inconclusive(tmp_path, base, own):
    claims = _pair(tmp_path, base, own)
    result = claims["T-2"].evaluate(_study(), Settings())
    how = {"CONTRADICTED": "shown not to hold", "INCONCLUSIVE": "not shown to hold"}[base]
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.reason == (f'precondition T-1 is {base} on this target ({how}: "title of T-1"): its mechanisms '
                             f"cannot be tested here; its own evidence gave {own}")
    assert result.preconditions == {"T-1": base}
    assert result.verdict_unconditioned is Verdict(own) and result.reason_unconditioned == "own evidence of T-2"
    assert result.unmet_preconditions == {"T-1": base}
    # The measurements stay as made.
    assert [c.verdict for c in result.comparisons] == [Verdict(own)]
    assert result.figures == {"bars": {"values": [1, 2]}} and result.per_query == {"ablated": {"q1": 0.5}}


@pytest.mark.parametrize("own", ["SUPPORTED", "CONTRADICTED", "INCONCLUSIVE"])
def test_a_supported_precondition_leaves_the_verdict_as_it_is(tmp_path, own):
    claims = _pair(tmp_path, "SUPPORTED", own)
    result = claims["T-2"].evaluate(_study(), Settings())
    assert result.verdict is Verdict(own) and result.reason == "own evidence of T-2"
    assert result.preconditions == {"T-1": "SUPPORTED"} and result.unmet_preconditions == {}
    assert result.verdict_unconditioned is Verdict(own)


def test_a_claim_requiring_nothing_records_no_precondition(tmp_path):
    result = _pair(tmp_path, "CONTRADICTED", "SUPPORTED")["T-1"].evaluate(_study(), Settings())
    assert result.verdict is Verdict.CONTRADICTED and result.reason == "own evidence of T-1"
    assert result.preconditions == {} and result.verdict_unconditioned is None and result.reason_unconditioned is None


def test_given_precondition_verdicts_are_used_instead_of_evaluating(tmp_path):
    calls: list[str] = []
    claims = _pair(tmp_path, "SUPPORTED", "SUPPORTED", calls)
    result = claims["T-2"].evaluate(_study(), Settings(), {"T-1": Verdict.CONTRADICTED})
    assert calls == ["T-2"]
    assert result.verdict is Verdict.INCONCLUSIVE and result.preconditions == {"T-1": "CONTRADICTED"}


def test_the_new_fields_round_trip_through_a_run(tmp_path):
    result = _pair(tmp_path, "CONTRADICTED", "SUPPORTED")["T-2"].evaluate(_study(), Settings())
    written = json.loads(json.dumps(result.to_dict()))
    assert written["verdict"] == "INCONCLUSIVE" and written["verdict_unconditioned"] == "SUPPORTED"
    assert written["preconditions"] == {"T-1": "CONTRADICTED"}
    assert ClaimResult.from_dict(written) == result
    old = {key: value for key, value in written.items()
           if key not in ("preconditions", "verdict_unconditioned", "reason_unconditioned")}
    assert ClaimResult.from_dict(old).preconditions == {}  # a run from before preconditions still reads


# --------------------------------------------------------------------------- the session


def _session(tmp_path: Path) -> ClaimsSession:
    config = SimpleNamespace(pluginmanager=SimpleNamespace(getplugin=lambda name: None))
    return ClaimsSession(config=config, options=SimpleNamespace(share=False, settings=Settings()), catalog=None,
                         run=new_run({}, {}), run_path=tmp_path / "run.json")


def test_an_unselected_precondition_is_evaluated_and_stored(tmp_path):
    """``-k T-2``: the session evaluates T-1 on the same target anyway, and the run holds both results."""
    calls: list[str] = []
    claims = _pair(tmp_path, "CONTRADICTED", "SUPPORTED", calls)
    session = _session(tmp_path)
    result = session.evaluate(claims["T-2"], _study())
    assert calls == ["T-1", "T-2"]
    assert result.verdict is Verdict.INCONCLUSIVE and result.preconditions == {"T-1": "CONTRADICTED"}
    stored = {c["claim_id"]: c for c in load_run(session.run_path)["claims"]}
    assert stored["T-1"]["verdict"] == "CONTRADICTED" and "seconds" in stored["T-1"]
    assert stored["T-2"]["verdict"] == "INCONCLUSIVE" and stored["T-2"]["verdict_unconditioned"] == "SUPPORTED"
    assert stored["T-2"]["comparisons"][0]["verdict"] == "SUPPORTED" and stored["T-2"]["per_query"]


def test_a_precondition_already_evaluated_is_reused_per_target(tmp_path):
    calls: list[str] = []
    claims = _pair(tmp_path, "CONTRADICTED", "SUPPORTED", calls)
    session = _session(tmp_path)
    session.evaluate(claims["T-1"], _study())
    session.evaluate(claims["T-2"], _study())
    assert calls == ["T-1", "T-2"]  # T-1 measured once for this target
    session.evaluate(claims["T-2"], _study(collection="other"))
    assert calls == ["T-1", "T-2", "T-1", "T-2"]  # another target: its own precondition
    assert len(load_run(session.run_path)["claims"]) == 4


def test_the_verdict_does_not_depend_on_order(tmp_path):
    written = []
    for order in (("T-1", "T-2"), ("T-2", "T-1"), ("T-2",)):
        claims = _pair(tmp_path, "INCONCLUSIVE", "CONTRADICTED")
        session = _session(tmp_path)
        results = {claim_id: session.evaluate(claims[claim_id], _study()) for claim_id in order}
        assert results["T-2"].verdict is Verdict.INCONCLUSIVE
        assert results["T-2"].verdict_unconditioned is Verdict.CONTRADICTED
        written.append({c["claim_id"]: (c["verdict"], c.get("preconditions")) for c in session.run["claims"]})
    assert written[0] == written[1] == written[2] == {"T-1": ("INCONCLUSIVE", {}),
                                                      "T-2": ("INCONCLUSIVE", {"T-1": "INCONCLUSIVE"})}


# --------------------------------------------------------------------------- the report


def _report_run(precondition: str, claim_id: str = "CE-1") -> dict:
    comparison = {"label": "Document->Query vs baseline", "measured": 0.31, "ci": [0.29, 0.33], "reference": 0.31,
                  "effect": 0.0, "p_corrected": 0.001, "verdict": "SUPPORTED", "reason": "within the margin"}
    base = {"claim_id": claim_id, "title": "The unablated model ranks well", "model": "m", "collection": "c",
            "verdict": precondition, "reason": "no gain over random", "comparisons": [], "preconditions": {}}
    dependent = {"claim_id": "CE-2", "title": "Document->Query attention is dispensable", "model": "m",
                 "collection": "c", "verdict": "INCONCLUSIVE",
                 "reason": f"precondition {claim_id} is {precondition} on this target: its mechanisms cannot be "
                           "tested here",
                 "comparisons": [comparison], "preconditions": {claim_id: precondition},
                 "verdict_unconditioned": "SUPPORTED", "reason_unconditioned": "the drop lies within the margin"}
    return {"schema": 1, "run_id": "r", "started": "2026-12-01T10:00:00+00:00", "targets": [],
            "claims": [base, dependent]}


def test_the_matrix_marks_a_cell_whose_precondition_was_not_met():
    page = render_report(_report_run("CONTRADICTED"))
    _, rows = matrix(page)
    (cell,) = rows["CE-2"]
    assert "precondition-unmet" in cell.attrs["class"].split() and "v-inconclusive-cell" in cell.attrs["class"].split()
    assert "precondition not met: CE-1 CONTRADICTED" in cell.text
    assert "0.310" in cell.text  # the measurement is still shown
    assert cell.attrs["title"] == "CE-2 on m @ c: INCONCLUSIVE; precondition not met: CE-1 CONTRADICTED"
    assert "precondition-unmet" not in rows["CE-1"][0].attrs["class"]
    section = page.split('<section id="matrix">')[1].split("</section>")[0]
    assert 'class="precondition-key"' in section  # the legend says what the marking means


def test_the_card_says_the_precondition_was_not_met_and_what_the_evidence_gave():
    page = render_report(_report_run("INCONCLUSIVE"))
    card = page.split('id="claim-1"')[1].split("</article>")[0]
    banner = card.split('class="banner warn precondition-banner">')[1].split("</p>")[0]
    assert "Precondition not met: CE-1 INCONCLUSIVE" in banner
    assert "SUPPORTED" in banner and "the drop lies within the margin" in banner
    assert "<dt>Requires</dt>" in card and "Document-&gt;Query vs baseline" in card  # comparisons still listed
    summary = page.split('<section id="summary">')[1].split("</section>")[0]
    assert "precondition not met: CE-1 INCONCLUSIVE" in summary


def test_a_met_precondition_is_not_marked():
    run = _report_run("SUPPORTED")
    run["claims"][1].update(verdict="SUPPORTED", reason="within the margin")
    page = render_report(run)
    assert "precondition-unmet" not in page.split('<section id="matrix">')[1].split("</section>")[0]
    assert "precondition-banner" not in page and "precondition not met" not in page
    assert "<dt>Requires</dt>" in page.split('id="claim-1"')[1]


def test_precondition_ids_are_escaped():
    page = render_report(_report_run("CONTRADICTED", claim_id='<script>alert("x")</script>'))
    assert "<script>alert" not in page
    assert "precondition not met: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; CONTRADICTED" in page
