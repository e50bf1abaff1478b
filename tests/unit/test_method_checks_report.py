"""Calibration checks as the report shows them: recorded in a run, drawn by their renderer."""

from __future__ import annotations

from reports import write_report
from reports.figures import FIGURE_RENDERERS, render_figure
from suite.core import method_checks
from suite.core.claims import Settings
from suite.core.runs import add_method_check, new_run


def test_calibration_check_is_drawn_in_the_method_checks_section(tmp_path):
    check = method_checks.check_false_positive_rate("superiority", Settings(), n=20, n_sims=1000)
    figure = check["figures"]["calibration"]
    assert check["passed"] and figure["n_sims"] == 1000 and figure["rate"] <= figure["limit"]
    assert "calibration" in FIGURE_RENDERERS
    drawn = render_figure("calibration", figure, check)
    assert "fig calibration" in drawn and "Could not draw" not in drawn
    assert f"limit {figure['limit']:.3f}" in drawn

    run = new_run({"alpha": 0.05}, {"python": "3.11"})
    add_method_check(run, check)
    add_method_check(run, {**check, "name": "calibration: broken", "passed": False})
    path = write_report(run, tmp_path / "report.html") or tmp_path / "report.html"
    page = path.read_text()
    section = page[page.index('id="method-checks"'):]
    assert "<strong>1 of 2</strong> passed" in section
    assert section.count("fig calibration") == 2
