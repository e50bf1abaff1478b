"""``python -m ranker_claims.reports merge RUN... -o RUN``: the shards of one session as one run and report.

Each machine of a split session (``--claims-shard K/N``) writes its own run; this puts them back
together as one machine would have written it (:func:`ranker_claims.core.runs.merge_shards`), after
checking they are the shards of one session, and renders the report beside it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ranker_claims.core.caching import describe_os_error
from ranker_claims.core.runs import MergeError, RunFormatError, load_run, merge_shards, save_run
from ranker_claims.reports.page import write_report

DESCRIPTION = "Merge the runs of a session's shards (--claims-shard K/N) into one run and its report."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", type=Path, nargs="+", help="the shards' run JSON files, each shard once")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the merged run's path")
    parser.add_argument("--report", type=Path, default=None, help="the report's path (default: beside the run, .html)")


def merge(args: argparse.Namespace) -> int:
    """Write the merged run and its report and print both paths: 0; a run that cannot be read, or runs that
    are not one session's shards: one line on stderr and 2, nothing written; a write that fails: 1."""
    try:
        merged = merge_shards([load_run(path) for path in args.runs])
    except (RunFormatError, MergeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot read {error.filename}: {describe_os_error(error)}", file=sys.stderr)
        return 2
    report = args.report if args.report is not None else args.output.with_suffix(".html")
    try:
        print(save_run(merged, args.output))
        print(write_report(merged, report))
    except OSError as error:
        print(f"error: cannot write {error.filename}: {describe_os_error(error)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ranker_claims.reports merge", description=DESCRIPTION)
    add_arguments(parser)
    return merge(parser.parse_args(argv))
