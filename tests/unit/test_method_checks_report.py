"""Calibration checks as the report shows them: recorded in a run, drawn as one table."""

from __future__ import annotations

from ranker_claims.core import method_checks
from ranker_claims.core.claims import Settings
from ranker_claims.core.runs import add_method_check, new_run
from ranker_claims.reports import write_report
from ranker_claims.reports.figures import FIGURE_RENDERERS, render_figure


def test_calibration_checks_are_drawn_as_one_table_in_the_method_checks_section(tmp_path):
    check = method_checks.check_calibration("superiority", "normal", Settings(), sizes=(20,), n_sims=1000)
    figure = check["figures"]["calibration"]
    assert check["passed"] and figure["n_sims"] == 1000
    assert len(figure["cells"]) == 10 and all(c["rate"] <= c["limit"] for c in figure["cells"])
    assert "calibration" in FIGURE_RENDERERS
    drawn = render_figure("calibration", figure, check)
    assert "fig calibration" in drawn and "Could not draw" not in drawn
    assert drawn.count("v-supported-cell") == 10 and "claims' n" in drawn

    broken = {**check, "name": "calibration: broken", "passed": False,
              "figures": {"calibration": {**figure, "data": "skewed", "cells": [
                  {**c, "rate": 0.2, "passed": False} if c["n"] == "20" else c for c in figure["cells"]]}}}
    run = new_run({"alpha": 0.05}, {"python": "3.11"})
    add_method_check(run, check)
    add_method_check(run, broken)
    path = write_report(run, tmp_path / "report.html") or tmp_path / "report.html"
    page = path.read_text()
    section = page[page.index('id="method-checks"'):]
    assert "<strong>1 of 2</strong> passed" in section
    assert section.count("fig calibration") == 1  # one table for every row
    assert section.count("v-contradicted-cell") == 2  # the failing claims' n cell of each verdict
    assert "<strong>" in section.split("fig calibration")[1] and "n=20: 0.2" in section
