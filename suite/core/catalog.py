"""What ``--claims-model`` and ``--claims-collection`` name, which claims a model is checked by, and how
its weights may be read.

A spec is ``embedded:<name>`` (a model or collection some plugin registered through the
``pytest_claims_catalog`` hook, built on first use), a local directory, or a Hugging Face id /
``ir_datasets`` id. The library registers nothing itself: the repository's ``fixtures`` package
registers the embedded default, and any other plugin may add its own models the same way.

:meth:`Catalog.model_kind` checks a model spec as far as it can without loading weights, so a
model that cannot serve is refused before any claim runs; both wings load weights under one
policy, :func:`use_safetensors`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from ranker_claims.core.builds import BuildJob, run_builds
from ranker_claims.core.collections import Collection, CollectionError, check_collection, load_collection
from ranker_claims.core.models import ModelError

EMBEDDED = "embedded:"


class ModelKind(str, Enum):
    """Which wing checks a model: cross-encoders run the CE claims, generative retrievers the GR claims."""

    CROSS_ENCODER = "cross-encoder"
    GENERATIVE = "generative"


#: The model families each wing's adapter serves: cross-encoders whose every self-attention module runs
#: through the interventions' attention function and has the ``query`` / ``key`` projections the analyses
#: read (tests/faults/test_models.py checks each); encoder-decoders whose decoder blocks are T5's
#: [self-attention, cross-attention, MLP]. Any other family would be measured wrongly (an ablation that
#: never reaches the attention changes nothing) or fail half-way.
MODEL_TYPES: dict[ModelKind, frozenset[str]] = {
    ModelKind.CROSS_ENCODER: frozenset({"bert", "camembert", "data2vec-text", "electra", "ernie", "roberta",
                                        "xlm-roberta"}),
    ModelKind.GENERATIVE: frozenset({"t5", "mt5"}),
}

ALLOW_PICKLE = "--claims-allow-pickle"


@dataclass(frozen=True)
class BuiltModel:
    """A model directory, ready to load, with what came with its build.

    ``companions`` are further checkpoints a wing's claims need (for a DSI model: the pre-trained
    T5 it started from); ``held_out`` are DSI models each trained without some documents, named in
    its ``build.json`` (``held_out_docids``); ``collection`` is the collection spec it was trained
    for, used when the user names none."""

    path: Path
    companions: dict[str, Path] = field(default_factory=dict)
    held_out: tuple[Path, ...] = ()
    collection: str | None = None


@dataclass(frozen=True)
class BuildPlan:
    """What an embedded model takes to build (each job a model directory, named by its content) and the
    :class:`BuiltModel` those jobs make."""

    jobs: tuple[BuildJob, ...]
    model: BuiltModel


@dataclass(frozen=True)
class EmbeddedModel:
    """A model the project builds itself: ``plan(cache_dir)`` names its builds without making any."""

    kind: ModelKind
    description: str
    plan: Callable[[Path], BuildPlan]


@dataclass
class Catalog:
    """The embedded models and collections of this session, filled by ``pytest_claims_catalog``."""

    models: dict[str, EmbeddedModel] = field(default_factory=dict)
    collections: dict[str, Callable[[], Collection]] = field(default_factory=dict)

    def add_model(self, name: str, model: EmbeddedModel) -> None:
        if name in self.models:
            raise ValueError(f"embedded model {name!r} is registered twice")
        self.models[name] = model

    def add_collection(self, name: str, load: Callable[[], Collection]) -> None:
        if name in self.collections:
            raise ValueError(f"embedded collection {name!r} is registered twice")
        self.collections[name] = load

    def embedded_model(self, spec: str) -> EmbeddedModel | None:
        """The registered model an ``embedded:`` spec names; None for any other spec."""
        if not spec.startswith(EMBEDDED):
            return None
        name = spec.removeprefix(EMBEDDED)
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise ModelError(f"{spec}: unknown embedded model {name!r}; known: {known}")
        return self.models[name]

    def build(self, spec: str, cache_dir: Path) -> BuiltModel | None:
        """Build (first use) or find cached the embedded model a spec names; None for any other spec."""
        plan = self.build_all([spec], cache_dir).get(spec)
        return None if plan is None else plan.model

    def build_all(self, specs: Iterable[str], cache_dir: Path, *, workers: int | None = None,
                  say: Callable[[str], None] = print) -> dict[str, BuildPlan]:
        """The embedded models among ``specs``, every missing build of all of them made in one go: one
        line says what will be built and about how long, then independent builds run side by side, one
        thread each (:func:`ranker_claims.core.builds.run_builds`)."""
        plans = {spec: model.plan(Path(cache_dir)) for spec in dict.fromkeys(specs)
                 if (model := self.embedded_model(spec)) is not None}
        run_builds([job for plan in plans.values() for job in plan.jobs], workers=workers, say=say)
        return plans

    def model_kind(self, spec: str, *, trust_remote_code: bool = False, allow_pickle: bool = False) -> ModelKind:
        """Which claims check a model, once everything that can be known without loading its weights says
        it can serve: its config is readable, its family is one its wing supports, and its weights pass the
        loading policy. Embedded models are known by their registration (the project builds them as
        safetensors). A hub id is looked up once (the network, or the local cache offline)."""
        embedded = self.embedded_model(spec)
        if embedded is not None:
            return embedded.kind
        files = checkpoint_files(spec)
        kind = kind_of_config(spec, _config(spec, trust_remote_code), trust_remote_code=trust_remote_code)
        use_safetensors(spec, files, allow_pickle=allow_pickle)
        return kind

    def check_collection(self, spec: str) -> None:
        """Raise CollectionError if a spec cannot name a collection (an unknown embedded name, a directory
        without queries or qrels, an unknown ir_datasets id), without loading it."""
        if spec.startswith(EMBEDDED):
            name = spec.removeprefix(EMBEDDED)
            if name not in self.collections:
                known = ", ".join(sorted(self.collections)) or "none"
                raise CollectionError(f"unknown embedded collection {name!r}; known: {known}")
            return
        check_collection(spec)

    def resolve_collection(self, spec: str) -> Collection:
        """Load the collection a spec names."""
        if spec.startswith(EMBEDDED):
            name = spec.removeprefix(EMBEDDED)
            if name not in self.collections:
                known = ", ".join(sorted(self.collections)) or "none"
                raise CollectionError(f"unknown embedded collection {name!r}; known: {known}")
            return self.collections[name]()
        return load_collection(spec)


def _one_line(error: BaseException) -> str:
    """An error's text on one line (the hub's messages span several)."""
    return " ".join(str(error).split()) or type(error).__name__


def _config(spec: str, trust_remote_code: bool) -> dict[str, Any]:
    """A local directory's config.json, or a hub model's config as transformers resolves it."""
    path = Path(spec)
    if path.is_dir():
        config_file = path / "config.json"
        if not config_file.is_file():
            raise ModelError(f"{spec}: no config.json, so its kind (cross-encoder or generative) is unknown")
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ModelError(f"{spec}: config.json is not readable JSON ({_one_line(error)})") from None
        if not isinstance(config, dict):
            raise ModelError(f"{spec}: config.json holds a JSON {type(config).__name__}, not an object")
        return config
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(spec, trust_remote_code=trust_remote_code).to_dict()
    except (OSError, ValueError) as error:
        raise ModelError(f"{spec}: cannot read its config ({_one_line(error)})") from None


_ENCODER_TYPES = ("bert", "roberta", "electra", "xlm-roberta", "distilbert")


def kind_of_config(spec: str, config: dict, *, trust_remote_code: bool = False) -> ModelKind:
    """Encoder-decoders (``*ForConditionalGeneration``) are generative retrievers; sequence classifiers
    and plain BERT-family encoders are cross-encoders; anything else is refused with its architecture,
    and so is a family its wing does not serve (:data:`MODEL_TYPES`; a cross-encoder with custom code is
    let through, and refused at load if its attention bypasses the interventions)."""
    architectures = " ".join(config.get("architectures") or [])
    model_type = config.get("model_type")
    if config.get("is_encoder_decoder") or "ForConditionalGeneration" in architectures:
        kind = ModelKind.GENERATIVE
    elif "ForSequenceClassification" in architectures or model_type in _ENCODER_TYPES:
        kind = ModelKind.CROSS_ENCODER
    else:
        raise ModelError(
            f"{spec}: architectures {architectures or 'none'} (model_type {model_type!r}) is neither a "
            "sequence-classification cross-encoder nor an encoder-decoder generative retriever"
        )
    supported = MODEL_TYPES[kind]
    if model_type not in supported and not (trust_remote_code and kind is ModelKind.CROSS_ENCODER):
        raise ModelError(
            f"{spec}: {architectures or 'a model'} (model_type {model_type!r}) is not a {kind.value} family the "
            f"claims support; supported: {', '.join(sorted(supported))}"
        )
    return kind


def checkpoint_files(spec: str) -> list[str]:
    """The files of a local model directory or of a hub repository (looked up once per process)."""
    path = Path(spec)
    if path.is_dir():
        return sorted(p.name for p in path.iterdir())
    if path.exists():
        raise ModelError(f"{spec}: a file, not a model directory")
    if path.is_absolute() or spec.startswith((".", "~")):
        raise ModelError(f"{spec}: no such model directory")
    return list(_hub_files(spec))


@functools.cache
def _hub_files(repo_id: str) -> tuple[str, ...]:
    """A hub repository's files, from ONE request: huggingface_hub retries an unreachable hub for about
    25 s per file before giving up (not configurable), so a missing network would cost minutes. Offline
    (no network, or ``HF_HUB_OFFLINE``), a model used before is listed from the local cache."""
    from huggingface_hub import HfApi, constants, try_to_load_from_cache

    try:
        info = HfApi().model_info(repo_id, timeout=constants.HF_HUB_ETAG_TIMEOUT)
    except ValueError as error:  # not even shaped like a repository id
        raise ModelError(f"{repo_id}: neither a local directory nor a Hugging Face id ({_one_line(error)})") from None
    except Exception as error:  # the hub client's network errors are its own classes, not OSError
        cached = try_to_load_from_cache(repo_id, "config.json")
        if isinstance(cached, str):
            return tuple(sorted(p.name for p in Path(cached).parent.iterdir()))
        raise ModelError(
            f"{repo_id}: not a local directory, and looking it up on the Hugging Face Hub failed with nothing in "
            f"the local cache ({type(error).__name__}: {_one_line(error)})"
        ) from None
    return tuple(sibling.rfilename for sibling in info.siblings or ())


def use_safetensors(spec: str, files: Iterable[str], *, allow_pickle: bool = False) -> bool:
    """The loading policy of both wings: safetensors when the checkpoint has them (returns True); a pickle
    checkpoint (``pytorch_model.bin``) only when allowed (returns False: transformers reads it with its
    weights-only loader), since unpickling a file can run code; anything else is refused, saying why."""
    names = set(files)
    if any(name.endswith(".safetensors") for name in names):
        return True
    pickled = sorted(n for n in names if n.startswith("pytorch_model") and n.endswith((".bin", ".bin.index.json")))
    if not pickled:
        raise ModelError(f"{spec}: no weights found (model.safetensors, or pytorch_model.bin with {ALLOW_PICKLE})")
    if not allow_pickle:
        raise ModelError(
            f"{spec}: {pickled[0]} refused: pickle checkpoints can run code when loaded; pass {ALLOW_PICKLE} to "
            "load it with transformers' weights-only loader"
        )
    return False
