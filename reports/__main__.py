"""``python -m reports RUN.json [-o report.html]``: re-render a saved run; nothing is recomputed.

RUN may also be a folder (an output dir such as ``.claims`` or its ``runs`` folder): its
latest run is rendered. Without ``-o`` the report is written beside the run as
``<run file stem>.html``. The output path is printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports.page import write_report
from suite.core.runs import RunFormatError, latest_run, load_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports", description="Render a saved claims run as HTML.")
    parser.add_argument("run", type=Path, help="a run JSON (or a folder: its latest run)")
    parser.add_argument("-o", "--output", type=Path, default=None, help="report path (default: beside the run, .html)")
    args = parser.parse_args(argv)

    path = args.run
    if path.is_dir():
        found = latest_run(path)
        if found is None:
            print(f"error: no run JSON in {path}", file=sys.stderr)
            return 2
        path = found
    try:
        run = load_run(path)
    except RunFormatError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    output = args.output if args.output is not None else path.with_suffix(".html")
    print(write_report(run, output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
