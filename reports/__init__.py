"""HTML reports of claim runs: ``render_report(run)``, ``write_report(run, path)``, ``python -m reports RUN.json``.

One self-contained HTML file per run document (see :mod:`suite.core.runs`); the modules:
:mod:`reports.page` (sections and the page), :mod:`reports.figures` (figures by kind, one
module per wing), :mod:`reports.svg` (drawing primitives), :mod:`reports.formatting` (text
and numbers) and ``reports/static`` (the inlined CSS and JavaScript).
"""

from reports.page import render_report, write_report

__all__ = ["render_report", "write_report"]
