"""The ``--claims-*`` options: declared once, each with an ini setting, parsed once into :class:`ClaimsOptions`.

The command line wins over the ini file. Paths given on the command line are relative to the
working directory (as a shell user means them), paths in an ini file to that file's directory.
A bad value is a one-line usage error at configure time, before any model is loaded: a value that
does not parse, is not one of an option's ``choices`` or lies outside its ``check`` (a :class:`Range`,
declared with the option and shown in ``pytest --help``). What needs more than the text (a device this
machine lacks, a model spec, a baseline run) is checked once the session has collected claims.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest

from ranker_claims.core.caching import default_cache_dir
from ranker_claims.core.claims import Settings
from ranker_claims.core.stats import CORRECTIONS, TESTS
from ranker_claims.cross_encoder.interventions import Convention, Mode
from ranker_claims.pytest_plugin.gating import Gate

# A cross-encoder runs the CE claims on the default collections; a generative (DSI) model runs
# the GR claims on the collection it was trained on unless --claims-collection names others.
DEFAULT_MODELS = ["embedded:minilm-synthetic", "embedded:dsi-synthetic"]
DEFAULT_COLLECTIONS = ["embedded:synthetic"]


@dataclass(frozen=True)
class Range:
    """The values a numeric option accepts: ``low`` .. ``high`` (None: unbounded), each end open or closed."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if math.isnan(value):  # NaN is in no range
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"

    def describe(self) -> str:
        """As help and errors say it: ``in (0, 0.5]``, ``>= 1``."""
        return f"in {self}" if self.high is not None else str(self)


POSITIVE = Range(1)  # a count: at least 1
NON_NEGATIVE = Range(0)
PROPORTION = Range(0, 1, low_open=True, high_open=True)  # strictly between 0 and 1


@dataclass(frozen=True)
class Option:
    """One ``--claims-*`` option and its ini twin (``--claims-alpha`` <-> ``claims_alpha``)."""

    name: str  # without the prefix: "alpha"
    parse: Callable[[str], Any] | None  # None: a flag
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    check: Range | None = None  # the values accepted, on the command line and in the ini file alike

    @property
    def flag(self) -> str:
        return "--claims-" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "claims_" + self.name


OPTIONS: tuple[Option, ...] = (
    Option("output_dir", str, ".claims", "where runs (runs/*.json) and report.html go"),
    Option("cache_dir", str, None, "built models and cached scores (default ~/.cache/ranker-claims)"),
    Option("report", str, None, "HTML report path (default <output-dir>/report.html)"),
    Option("compare", str, None, "a saved run JSON (or 'latest') to compare verdicts and effects with"),
    Option("alpha", float, 0.05, "significance level of every claim family",
           check=Range(0, 0.5, low_open=True)),
    Option("correction", str, "holm", "multiple-comparison correction", CORRECTIONS),
    Option("test", str, "t", "paired test on per-query values where it holds its level on their shape "
                             "(betting: values with a range by betting alone)", TESTS),
    Option("min_power", float, 0.8, "power at which the report calls a non-significant test informative (never decides)",
           check=PROPORTION),
    Option("bootstrap", int, 2000, "bootstrap resamples for confidence intervals", check=POSITIVE),
    Option("seed", int, 0, "seed of easy negatives, random orderings, resampling and the CE-8..CE-11 query split",
           check=NON_NEGATIVE),
    Option("ablation_mode", str, "pre-softmax", "pre-softmax (masked, renormalised) or post-softmax (zeroed)",
           tuple(m.value for m in Mode)),
    Option("convention", str, "flow", "how 'X->Y' reads: flow (X informs Y) or attend (X attends to Y)",
           tuple(c.value for c in Convention)),
    Option("relevant_grade", int, 2, "lowest judged grade that counts as relevant (grade 0 is judged not relevant)",
           check=POSITIVE),
    Option("depth", int, 30, "first-stage candidates re-ranked per query", check=POSITIVE),
    Option("max_queries", int, None, "use at most this many queries (sorted by id)", check=POSITIVE),
    Option("easy_negatives", int, 1, "random passages of other queries added per query",
           check=NON_NEGATIVE),
    Option("strict", None, False,
           "treat candidates without text, duplicate or unknown ids and non-finite first-stage scores as errors"),
    Option("pairs_per_group", int, 4, "relevant / hard / easy pairs per query whose attention is analysed",
           check=POSITIVE),
    Option("batch_size", int, 32, "at most this many pairs (or GR queries) per forward pass", check=POSITIVE),
    Option("max_tokens", int, None,
           "padded tokens per forward pass (default per device: cpu 16384, cuda 131072, mps 32768); out of "
           "memory halves it and retries", check=POSITIVE),
    Option("device", str, "auto", "where models run: auto (CUDA, then MPS, else CPU), cpu, cuda, cuda:N, mps"),
    Option("dtype", str, "float32", "model precision (reduced precision moves scores: see the README)",
           ("float32", "bfloat16", "float16")),
    Option("max_length", int, 512, "token budget of a pair; the document is cut, never the query",
           check=POSITIVE),
    Option("backend", str, "sdpa", "attention kernel outside recorded layers", ("sdpa", "eager")),
    Option("fail_on", str, "contradicted",
           "what fails the session, comma-separated: contradicted (a CONTRADICTED claim fails its test), and "
           "against --claims-compare: changed (a verdict changed), lost (a SUPPORTED claim no longer is), "
           "effect:X or effect:X% (a headline effect moved by more than X, or X% of its size); none: verdicts "
           "are reported only"),
    Option("select", str, None, "run only the claims with these ids, comma-separated, * and ? as wildcards "
                                "(CE-1,CE-3,GR-*); the method checks are left out"),
    Option("json", str, None, "also write the run to this path (for CI)"),
    Option("label", str, None, "a label this run is known by, such as a checkpoint's training step; "
                               "`reports trend` orders runs by it (numerically where every label is a number)"),
    Option("shard", str, None, "run part K of N (K from 0 to N-1) of this session, split by study: K/N"),
    Option("session_id", str, None, "the id the shards of one session share (default: derived from its options and "
                                    "targets)"),
    Option("trust_remote_code", None, False, "allow models with custom code (off by default)"),
    Option("allow_pickle", None, False,
           "load pickle checkpoints (pytorch_model.bin; unpickling can run code) with transformers' weights-only "
           "loader when a model has no safetensors (off by default)"),
    Option("share", None, False,
           "write the run and report fit to share: local paths shortened to their last part, platform left out"),
    Option("pretrained", str, None,
           "GR: the pre-trained T5 a user's DSI checkpoint started from (T5 patching, encoder swap)"),
    Option("held_out", str, None, "GR: a DSI model trained without some documents (encoder swap, GR-6)"),
    Option("held_out_docids", str, None,
           "GR: comma-separated docids the held-out model lacks (default: its build.json)"),
    Option("rank_over", str, "docids",
           "GR: rank documents among the docid tokens (docids) or the whole vocabulary (vocab)", ("docids", "vocab")),
    Option("mean_split", float, 0.3, "GR: share of queries held apart (seeded) to compute mean patches from",
           check=PROPORTION),
    Option("analysis_queries", int, 200,
           "GR: at most this many correct queries for the per-head analyses (GR-9..GR-11)", check=POSITIVE),
)


def add_options(parser: pytest.Parser) -> None:
    """Every option in the ``claims`` group of ``pytest --help``, each with its ini setting."""
    group = parser.getgroup("claims", "re-check interpretability claims on neural rankers")
    group.addoption("--claims-model", action="append", default=None, metavar="SPEC",
                    help="model to check (repeatable): embedded:NAME, a local directory or a Hugging Face id")
    group.addoption("--claims-collection", action="append", default=None, metavar="SPEC",
                    help="collection (repeatable): embedded:NAME, a local directory or an ir_datasets id")
    parser.addini("claims_models", "default models, one per line", type="linelist", default=DEFAULT_MODELS)
    parser.addini("claims_collections", "default collections, one per line", type="linelist",
                  default=DEFAULT_COLLECTIONS)
    for option in OPTIONS:
        text = option.help + (f": {', '.join(option.choices)}" if option.choices else "")
        text += f", {option.check.describe()}" if option.check is not None else ""
        if option.parse is None:
            group.addoption(option.flag, action="store_true", dest=option.ini, default=None,
                            help=text.replace("%", "%%"))
            parser.addini(option.ini, text, type="bool", default=option.default)
        else:
            group.addoption(option.flag, dest=option.ini, default=None, metavar=option.name.upper(),
                            help=f"{text} (default: {option.default})".replace("%", "%%"))  # argparse formats help
            parser.addini(option.ini, text, type="string", default="" if option.default is None else str(option.default))


@dataclass(frozen=True)
class ClaimsOptions:
    """Every claims setting of one session, read and checked once at configure time."""

    models: tuple[str, ...]
    collections: tuple[str, ...]
    collections_given: bool  # a generative model runs on its own collection unless collections were named
    output_dir: Path
    cache_dir: Path
    report: Path
    compare: str | None
    settings: Settings
    ablation_mode: Mode
    convention: Convention
    relevant_grade: int
    depth: int
    max_queries: int | None
    easy_negatives: int
    strict: bool  # candidates no pool can use are errors, not counted exclusions
    pairs_per_group: int
    batch_size: int
    max_tokens: int | None
    device: str
    dtype: str
    max_length: int
    backend: str
    gate: Gate
    select: tuple[str, ...]  # fnmatch patterns of claim ids; empty: every claim
    json: Path | None
    label: str | None
    shard: tuple[int, int] | None  # (K, N): this session runs part K of N
    session_id: str | None
    trust_remote_code: bool
    allow_pickle: bool  # pickle checkpoints are refused unless allowed
    share: bool  # runs and reports leave local paths and the platform out
    pretrained: str | None
    held_out: str | None
    held_out_docids: tuple[str, ...] | None
    rank_over: str
    mean_split: float
    analysis_queries: int
    values: dict[str, Any]  # each option's parsed value by name, as recorded in the run

    def recorded(self) -> dict[str, Any]:
        """The run's ``options``: the statistical settings, how directions are ablated and read, the
        models and collections, and every other option that can change a number (paths are not results)."""
        return {
            **self.settings.to_dict(),
            "ablation_mode": self.ablation_mode.value,
            "direction_convention": self.convention.describe(),
            "models": list(self.models),
            "collections": list(self.collections),
            **{name: value for name, value in self.values.items() if name not in _NOT_RECORDED},
        }


# Paths are not results, strict mode changes no number; the statistical settings and direction options
# are recorded above; the device and token budget go into the run's environment as resolved (they move
# numbers by float rounding at most).
_NOT_RECORDED = {
    "output_dir", "cache_dir", "report", "alpha", "correction", "test", "min_power", "bootstrap", "seed",
    "ablation_mode", "convention", "strict", "device", "max_tokens", "fail_on", "select", "json", "label", "shard",
    "session_id",
}


def parse_options(config: pytest.Config) -> ClaimsOptions:
    """Read every ``--claims-*`` option (command line over ini) into one frozen object."""
    values = {option.name: _value(config, option) for option in OPTIONS}
    given = config.getoption("claims_model")
    collections_given = config.getoption("claims_collection")
    cache_dir = _path(config, OPTIONS_BY_NAME["cache_dir"], values["cache_dir"]) or default_cache_dir()
    output_dir = _path(config, OPTIONS_BY_NAME["output_dir"], values["output_dir"])
    assert output_dir is not None  # the option has a default
    report = _path(config, OPTIONS_BY_NAME["report"], values["report"]) or output_dir / "report.html"
    held_out_docids = values["held_out_docids"]
    plain = {f.name for f in fields(ClaimsOptions)} & set(values) - {
        "cache_dir", "output_dir", "report", "held_out_docids", "ablation_mode", "convention", "select", "json",
        "shard"}
    try:
        gate = Gate.parse(values["fail_on"])
    except ValueError as error:
        raise pytest.UsageError(f"{_where(config, OPTIONS_BY_NAME['fail_on'])} {values['fail_on']}: {error}") from None
    return ClaimsOptions(
        models=tuple(given or config.getini("claims_models")),
        collections=tuple(collections_given or config.getini("claims_collections")),
        collections_given=bool(collections_given),
        output_dir=output_dir,
        cache_dir=cache_dir,
        report=report,
        settings=Settings(**{f.name: values[f.name] for f in fields(Settings)}),
        ablation_mode=Mode(values["ablation_mode"]),
        convention=Convention(values["convention"]),
        held_out_docids=(tuple(d.strip() for d in held_out_docids.split(",") if d.strip())
                         if held_out_docids else None),
        gate=gate,
        select=tuple(p.strip() for p in (values["select"] or "").split(",") if p.strip()),
        json=_path(config, OPTIONS_BY_NAME["json"], values["json"]),
        shard=_shard(config, values["shard"]),
        values=values,
        **{name: values[name] for name in plain},
    )


OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def _value(config: pytest.Config, option: Option) -> Any:
    value = config.getoption(option.ini)
    if value is None:
        value = config.getini(option.ini)
    if option.parse is None:
        return bool(value)
    if value in ("", None):
        return None
    try:
        parsed = option.parse(value)
    except ValueError:
        raise pytest.UsageError(f"{option.flag}: expected {option.parse.__name__}, got {value!r}") from None
    if option.name == "device" and not DEVICE.fullmatch(parsed):
        raise pytest.UsageError(f"{option.flag}: {parsed!r} is not auto, cpu, cuda, cuda:N or mps")
    if option.choices and parsed not in option.choices:
        raise pytest.UsageError(f"{option.flag}: {parsed!r} is not one of {', '.join(option.choices)}")
    if option.check is not None and parsed not in option.check:
        raise pytest.UsageError(f"{_where(config, option)} {value}: out of range, must be {option.check.describe()}")
    return parsed


def _shard(config: pytest.Config, text: str | None) -> tuple[int, int] | None:
    """``"K/N"`` -> (K, N), K counted from 0 as scheduler array indices are (``$SLURM_ARRAY_TASK_ID``)."""
    if text is None:
        return None
    index, _, count = text.partition("/")
    if not (index.strip().isdigit() and count.strip().isdigit() and 0 <= int(index) < int(count)):
        raise pytest.UsageError(f"{_where(config, OPTIONS_BY_NAME['shard'])} {text}: expected K/N with N >= 1 and "
                                "K from 0 to N-1 (0/3, 1/3 and 2/3 are the three shards of three)")
    return int(index), int(count)


def _where(config: pytest.Config, option: Option) -> str:
    """Where a value came from, as an error names it: the flag, or the ini setting."""
    return option.flag if config.getoption(option.ini) is not None else f"{option.ini} (ini setting)"


def _path(config: pytest.Config, option: Option, value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    # A flag is relative to where pytest was started; an ini value or a default to the ini file's folder,
    # and without one to where pytest was started too (never the rootdir: under --pyargs that is the
    # installed package).
    on_command_line = config.getoption(option.ini) is not None
    base = config.inipath.parent if config.inipath and not on_command_line else config.invocation_params.dir
    return path if path.is_absolute() else base / path
