"""``python -m ranker_claims.reports RUN.json [-o report.html]``: re-render a saved run; nothing is recomputed.

RUN may also be a folder (an output dir such as ``.claims`` or its ``runs`` folder): its
latest run is rendered. Without ``-o`` the report is written beside the run as
``<run file stem>.html``. The output path is printed.

``python -m ranker_claims.reports trend RUN... -o trend.html`` renders several runs side by side instead
(:mod:`ranker_claims.reports.trend`); a run file named like a subcommand is given as ``./trend``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ranker_claims.core.caching import describe_os_error
from ranker_claims.core.runs import RunFormatError, latest_run, load_run
from ranker_claims.reports.page import write_report

DESCRIPTION = "Render a saved claims run as HTML."


def main(argv: list[str] | None = None) -> int:
    """``python -m ranker_claims.reports``: parse ``argv`` (default: the command line) and :func:`render`; the exit code.
    ``merge`` as the first argument merges shards' runs instead (:mod:`.merge`), ``trend`` renders several runs
    side by side (:mod:`.trend`)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["merge"]:
        from ranker_claims.reports import merge

        return merge.main(argv[1:])
    if argv[:1] == ["trend"]:
        from ranker_claims.reports import trend

        return trend.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m ranker_claims.reports", description=DESCRIPTION)
    add_arguments(parser)
    return render(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments :func:`render` reads, on ``parser``; shared with ``ranker-claims report``, so both say the same."""
    parser.add_argument("run", type=Path, help="a run JSON (or a folder: its latest run)")
    parser.add_argument("-o", "--output", type=Path, default=None, help="report path (default: beside the run, .html)")


def render(args: argparse.Namespace) -> int:
    """Render ``args.run`` to ``args.output``; print the path written and return 0, else one line on stderr and
    2 (no run, or not a readable run) or 1 (the report cannot be written)."""
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
    except OSError as error:  # unreadable: no permission, a folder, a disk error
        print(f"error: cannot read {path}: {describe_os_error(error)}", file=sys.stderr)
        return 2
    output = args.output if args.output is not None else path.with_suffix(".html")
    try:
        written = write_report(run, output)
    except OSError as error:  # a read-only folder, a full disk, no permission
        print(f"error: cannot write the report to {output}: {describe_os_error(error)}", file=sys.stderr)
        return 1
    print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
