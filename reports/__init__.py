"""HTML reports of claim runs: ``render_report(run)``, ``write_report(run, path)``, ``python -m ranker_claims.reports RUN.json``.

One self-contained HTML file per run document (see :mod:`ranker_claims.core.runs`); the modules:
:mod:`ranker_claims.reports.page` (sections and the page), :mod:`ranker_claims.reports.figures` (figures by kind, one
module per wing), :mod:`ranker_claims.reports.svg` (drawing primitives), :mod:`ranker_claims.reports.formatting` (text
and numbers) and ``reports/static`` (the inlined CSS and JavaScript).
"""

from ranker_claims.reports.page import render_report, write_report

__all__ = ["render_report", "write_report"]
