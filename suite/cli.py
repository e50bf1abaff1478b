"""``ranker-claims``: the suite's command line, so that running, rendering, comparing and listing claims need not
each be remembered as a different pytest or ``python -m`` incantation.

* ``run``: the claims through ``pytest.main`` (the shipped ones unless a test path is given), with the plugin's
  ``--claims-json`` and ``--claims-select`` under short names and every other argument passed to pytest;
* ``report``: ``python -m ranker_claims.reports`` (the same function, the same exit codes);
* ``trend``: ``python -m ranker_claims.reports trend``, several runs side by side on one page;
* ``merge``: ``python -m ranker_claims.reports merge``, the shards' runs of one session as one run and report;
* ``compare``: :func:`ranker_claims.core.runs.compare_runs` of two saved runs, as a table, CSV or JSON;
* ``list``: the shipped claims with their measurement and declared parameters, read through the registries the
  plugin checks them against. README's claims tables are its markdown output, so they cannot drift from the TOML
  (``tests/unit/test_cli.py`` checks them).

Anything that pulls in torch, transformers or pytest is imported by the subcommand that needs it: ``list``,
``compare`` and ``--help`` answer without loading a model stack.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import importlib.resources
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ranker_claims.reports import __main__ as report_cli
from ranker_claims.reports import merge as merge_cli
from ranker_claims.reports import trend as trend_cli

PROG = "ranker-claims"
#: The package holding the shipped claim files; ``run`` collects it with ``--pyargs`` when given no test path.
SHIPPED_CLAIMS = "ranker_claims.claims"
#: Model kind -> (its shipped claims file, the module whose ``MEASUREMENTS`` registry resolves that file).
KINDS: dict[str, tuple[str, str]] = {
    "cross-encoder": ("cross_encoder.toml", "ranker_claims.cross_encoder.measurements"),
    "generative": ("generative.toml", "ranker_claims.generative.measurements"),
}
#: A parameter value longer than this is summarised (``[27 tables]``) in tables: README rows stay readable, and
#: ``list --format json`` still gives every value in full.
INLINE_LIMIT = 48
#: A directory counts as a test path when it holds a file of one of these kinds (see :func:`names_test_path`).
TEST_FILE_SUFFIXES = (".py", ".toml")


# --------------------------------------------------------------------------- run


def pytest_args(args: argparse.Namespace, extra: Sequence[str]) -> list[str]:
    """The arguments ``run`` hands to ``pytest.main``: the plugin options ``--json`` / ``--select`` stand for, the
    user's other arguments in their order (a first ``--`` dropped: it only ends ``run``'s own options), and the
    shipped claims (``--pyargs ranker_claims.claims``) unless those arguments already name what to collect."""
    passed = list(extra)
    if "--" in passed:
        passed.remove("--")
    result: list[str] = []
    if args.json is not None:
        result += ["--claims-json", str(args.json)]
    if args.select is not None:
        result += ["--claims-select", args.select]
    result += passed
    if not ("--pyargs" in passed or any(names_test_path(arg) for arg in passed)):
        result += ["--pyargs", SHIPPED_CLAIMS]
    return result


def names_test_path(arg: str) -> bool:
    """Whether ``arg`` is a path pytest should collect: an existing ``.py`` or ``.toml`` file (``::`` node ids
    included), or a folder holding one. Option values that are paths too (a model or collection folder given to
    ``--claims-model``) hold neither, so they do not turn the shipped claims off."""
    if arg.startswith("-"):
        return False
    path = Path(arg.split("::", 1)[0])
    if path.is_file():
        return path.suffix in TEST_FILE_SUFFIXES
    if path.is_dir():
        return any(name.endswith(TEST_FILE_SUFFIXES) for _, _, files in os.walk(path) for name in files)
    return False


def _run(args: argparse.Namespace, extra: Sequence[str]) -> int:
    import pytest  # the plugin, torch and transformers come with it

    return int(pytest.main(pytest_args(args, extra)))


# --------------------------------------------------------------------------- compare

COMPARE_FIELDS = ("status", "claim_id", "model", "collection", "baseline_model", "baseline_collection",
                  "verdict_before", "verdict_after", "verdict_changed", "headline", "effect_before", "effect_after",
                  "effect_delta", "p_before", "p_after", "claim_file_changed")


def compare_rows(comparison: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per claim id x target of :func:`~ranker_claims.core.runs.compare_runs`' result: matched pairs (the
    target is the current run's, ``baseline_*`` the one it was paired with), then results found in one run only."""
    rows = [{
        "status": "changed" if change["verdict_changed"] else "same",
        "claim_id": change["claim_id"],
        "model": change["model_after"],
        "collection": change["collection_after"],
        "baseline_model": change["model_before"],
        "baseline_collection": change["collection_before"],
        "verdict_before": change["verdict_before"],
        "verdict_after": change["verdict_after"],
        "verdict_changed": change["verdict_changed"],
        "headline": change.get("headline"),
        "effect_before": change.get("effect_before"),
        "effect_after": change.get("effect_after"),
        "effect_delta": change.get("effect_shift"),
        "p_before": change.get("p_before"),
        "p_after": change.get("p_after"),
        "claim_file_changed": change.get("claim_file_changed"),
    } for change in comparison.get("changes", [])]
    for status, key, side in (("only in baseline", "only_in_baseline", "before"),
                              ("only in run", "only_in_current", "after")):
        for result in comparison.get(key, []):
            row: dict[str, Any] = dict.fromkeys(COMPARE_FIELDS)
            row.update(status=status, claim_id=result["claim_id"], model=result["model"],
                       collection=result["collection"], **{f"verdict_{side}": result["verdict"]})
            rows.append(row)
    return rows


def _number(value: Any, signed: bool = False) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _target(now: Any, before: Any) -> str:
    return str(now) if before is None or before == now else f"{before} -> {now}"


def compare_table(comparison: Mapping[str, Any]) -> str:
    """The terminal view: what was compared, one aligned row per claim id x target (``*`` marks a changed verdict,
    ``-`` a result only the baseline has, ``+`` one only the run has), and the options and package versions that
    differ between the runs."""
    head = (f"baseline {comparison.get('baseline_run_id')} ({comparison.get('baseline_started') or 'start unknown'})"
            f" -> run {comparison.get('current_run_id')}: {comparison.get('matched', 0)} matched, "
            f"{comparison.get('verdict_changes', 0)} with a changed verdict")
    rows = [[
        {"changed": "*", "only in baseline": "-", "only in run": "+"}.get(row["status"], ""),
        row["claim_id"],
        _target(row["model"], row["baseline_model"]),
        _target(row["collection"], row["baseline_collection"]),
        f"{row['verdict_before'] or '(none)'} -> {row['verdict_after'] or '(none)'}",
        _number(row["effect_before"]),
        _number(row["effect_after"]),
        _number(row["effect_delta"], signed=True),
        row["headline"] or ("(" + row["status"] + ")" if row["status"].startswith("only") else ""),
    ] for row in compare_rows(comparison)]
    header = ["", "claim", "model", "collection", "verdict", "effect before", "after", "delta", "headline"]
    lines = [head, ""] + _aligned([header, *rows], right={5, 6, 7})
    for title, key in (("options changed", "option_changes"), ("packages changed", "package_changes"),
                       ("decided by different claim files (SHA-256)", "claim_file_changes")):
        if changes := comparison.get(key):
            lines += ["", f"{title}:"] + [f"  {name}: {old!r} -> {new!r}" for name, (old, new) in changes.items()]
    return "\n".join(lines)


def _aligned(rows: Sequence[Sequence[str]], right: Iterable[int] = ()) -> list[str]:
    """``rows`` as lines of columns padded to their widest cell (numbers right-aligned), two spaces apart."""
    right = set(right)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in
                      enumerate(zip(row, widths))).rstrip() for row in rows]


class RunFileError(Exception):
    """A run ``compare`` cannot read; :func:`main` prints it as one line on stderr and exits 2, as reports' CLI does."""


def _load(path: Path) -> dict[str, Any]:
    """A run file (a folder: its latest run), read and checked as ``python -m ranker_claims.reports`` reads one."""
    from ranker_claims.core.caching import describe_os_error
    from ranker_claims.core.runs import RunFormatError, latest_run, load_run

    if path.is_dir():
        found = latest_run(path)
        if found is None:
            raise RunFileError(f"no run JSON in {path}")
        path = found
    try:
        return load_run(path)
    except RunFormatError as error:
        raise RunFileError(str(error)) from None
    except OSError as error:  # unreadable: no permission, a folder, a disk error
        raise RunFileError(f"cannot read {path}: {describe_os_error(error)}") from None


def _compare(args: argparse.Namespace, out: IO[str]) -> int:
    from ranker_claims.core.runs import compare_runs, json_default

    comparison = compare_runs(_load(args.baseline), _load(args.run))
    if args.format == "json":
        out.write(json.dumps(comparison, indent=2, default=json_default) + "\n")
    elif args.format == "csv":
        writer = csv.DictWriter(out, fieldnames=COMPARE_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(compare_rows(comparison))
    else:
        out.write(compare_table(comparison) + "\n")
    return 0


# --------------------------------------------------------------------------- list


def shipped_claims(kind: str) -> list[Any]:
    """The claims of ``kind``'s shipped file, loaded through its wing's registry (as the plugin loads them), found as
    package data so an installed wheel lists the same claims as a checkout."""
    from ranker_claims.core.claims import load_claims

    file_name, module = KINDS[kind]
    registry = importlib.import_module(module).MEASUREMENTS
    with importlib.resources.as_file(importlib.resources.files(SHIPPED_CLAIMS) / file_name) as path:
        return load_claims(path, registry)


def claim_rows(kinds: Iterable[str]) -> list[dict[str, Any]]:
    """Every shipped claim of ``kinds`` as plain data: what ``list`` prints in each format."""
    return [{
        "id": claim.id,
        "kind": kind,
        "title": claim.title,
        "measures": claim.measures,
        "decided_by": claim.decided_by,
        "measurement": claim.measurement.name,
        "params": claim.declared_params,
        "requires": [required.id for required in claim.requires],
    } for kind in kinds for claim in shipped_claims(kind)]


def format_value(value: Any) -> str:
    """A declared parameter value as the TOML reads, compact; one longer than :data:`INLINE_LIMIT` summarised (an array
    by its length, a table by its keys)."""
    shown = _inline(value)
    if len(shown) <= INLINE_LIMIT:
        return shown
    if isinstance(value, list):
        tables = all(isinstance(item, Mapping) for item in value)
        return f"[{len(value)} {'table' if tables else 'value'}{'' if len(value) == 1 else 's'}]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}=..." for key in value) + "}"
    return shown


def _inline(value: Any) -> str:
    """``value`` in full, on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_inline(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}={_inline(item)}" for key, item in value.items()) + "}"
    return str(value)


def format_params(params: Mapping[str, Any]) -> list[str]:
    """``name=value`` for each declared parameter, in declaration order."""
    return [f"{name}={format_value(value)}" for name, value in params.items()]


def _cell(text: str) -> str:
    """Text as one markdown table cell: a ``|`` would end the cell, a newline the row."""
    return " ".join(text.split("\n")).replace("|", "\\|")


def claims_markdown(kind: str) -> str:
    """The markdown table of ``kind``'s claims, as README.md carries it between its ``claims-table`` markers."""
    lines = ["| id | what is measured | decided by | measurement and declared parameters |",
             "| --- | --- | --- | --- |"]
    for row in claim_rows([kind]):
        params = ", ".join(f"`{p}`" for p in format_params(row["params"]))
        measurement = f"`{row['measurement']}`" + (f": {params}" if params else "")
        lines.append(f"| {row['id']} | {_cell(row['measures'])} | {_cell(row['decided_by'])} | {_cell(measurement)} |")
    return "\n".join(lines)


def claims_table(kinds: Iterable[str]) -> str:
    """The terminal view: one aligned row per claim with its measurement, the claims it requires and its parameters."""
    rows = [[row["id"], row["measurement"], ",".join(row["requires"]) or "-", ", ".join(format_params(row["params"]))]
            for row in claim_rows(kinds)]
    return "\n".join(_aligned([["id", "measurement", "requires", "declared parameters"], *rows]))


def _list(args: argparse.Namespace, out: IO[str]) -> int:
    kinds = [args.kind] if args.kind else list(KINDS)
    if args.format == "json":
        out.write(json.dumps(claim_rows(kinds), indent=2, ensure_ascii=False) + "\n")
    elif args.format == "markdown":
        out.write("\n\n".join(claims_markdown(kind) if len(kinds) == 1 else f"### {kind}\n\n{claims_markdown(kind)}"
                              for kind in kinds) + "\n")
    else:
        out.write(claims_table(kinds) + "\n")
    return 0


# --------------------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    """The ``ranker-claims`` parser: one subparser per subcommand, each with an example in its help."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Re-check mechanistic-interpretability claims on neural rankers.",
        epilog=f"'{PROG} COMMAND --help' describes a command.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="run the claims with pytest (the shipped claims unless a test path is given)",
        usage=f"{PROG} run [-h] [--json PATH] [--select IDS] [PYTEST_ARG ...]",
        description="Run claims through pytest.main and exit with pytest's exit code. Arguments run does not know "
                    "go to pytest unchanged (-k, -n, --claims-model, ...; after '--' even those run knows, so "
                    f"'{PROG} run -- --help' shows pytest's options). Without a test path (a .py or .toml claims "
                    "file, or a folder holding one) the shipped claims run: --pyargs ranker_claims.claims.",
        epilog=f"example: {PROG} run --select 'CE-1,CE-3' --json ci/run.json -- -x",
        allow_abbrev=False)  # a pytest option must never be read as an abbreviation of one of run's
    run.add_argument("--json", metavar="PATH", type=Path, default=None,
                     help="also write the run JSON at PATH (the plugin's --claims-json), e.g. for CI")
    run.add_argument("--select", metavar="IDS", default=None,
                     help="only these claims: a comma list of ids or fnmatch patterns, e.g. 'CE-1,CE-3,GR-*' "
                          "(the plugin's --claims-select)")

    # The report commands are python -m ranker_claims.reports' own: the same arguments and function.
    for name, module, handler, help_, example in (
        ("report", report_cli, report_cli.render, "render a saved run as an HTML report (nothing is recomputed)",
         "report .claims/runs -o report.html"),
        ("trend", trend_cli, trend_cli.render, "several saved runs side by side: verdicts and headline values by run",
         "trend ckpt-50.json ckpt-100.json .claims/runs -o trend.html"),
        ("merge", merge_cli, merge_cli.merge,
         "the runs of a session's shards (--claims-shard K/N) as one run and its report",
         "merge shards/shard-*.json -o merged.json"),
    ):
        same = "python -m ranker_claims.reports" + ("" if name == "report" else f" {name}")
        command = commands.add_parser(name, help=help_, description=f"{module.DESCRIPTION} The same as '{same}'.",
                                      epilog=f"example: {PROG} {example}")
        module.add_arguments(command)
        command.set_defaults(delegate=handler)

    compare = commands.add_parser(
        "compare", help="verdict and effect changes between two saved runs",
        description="Compare two saved runs per claim id x target: the verdict before -> after and the headline "
                    "comparison's effect before, after and their difference. A run may be a folder (its latest "
                    "run). A file that is not a readable run is one line on stderr, exit 2.",
        epilog=f"example: {PROG} compare baseline.json .claims/runs --format csv")
    compare.add_argument("baseline", type=Path, help="the earlier run JSON (or a folder: its latest run)")
    compare.add_argument("run", type=Path, help="the run to compare with it (or a folder: its latest run)")
    compare.add_argument("--format", choices=("table", "csv", "json"), default="table",
                         help="table (aligned, for a terminal; default), csv, or json (compare_runs' whole result)")

    listing = commands.add_parser(
        "list", help="the shipped claims with their measurement and declared parameters",
        description="List the shipped claims as their files declare them, resolved against the measurement "
                    "registries. README's claims tables are this command's markdown output.",
        epilog=f"example: {PROG} list --format markdown --kind cross-encoder")
    listing.add_argument("--format", choices=("table", "markdown", "json"), default="table",
                         help="table (default), markdown (README's claims tables) or json (every parameter in full)")
    listing.add_argument("--kind", choices=tuple(KINDS), default=None, help="only the claims of this model kind")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ranker-claims")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """The ``ranker-claims`` entry point: parse ``argv`` (default: the command line) and run the subcommand; its exit
    code (pytest's for ``run``; 2 for a bad run file; 0 otherwise)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "run":
            return _run(args, extra)
        if getattr(args, "delegate", None) is not None:
            return int(args.delegate(args))
        if args.command == "compare":
            return _compare(args, sys.stdout)
        return _list(args, sys.stdout)
    except RunFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `ranker-claims list | head`: the reader left; no traceback for that
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the interpreter's final flush goes nowhere
        return 1


if __name__ == "__main__":
    sys.exit(main())
