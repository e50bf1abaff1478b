"""HTML reports of claim runs: ``render_report(run)``, ``write_report(run, path)``, ``python -m reports RUN.json``."""

from reports.html import render_report, write_report

__all__ = ["render_report", "write_report"]
