"""What ``--claims-model`` and ``--claims-collection`` name, and which claims a model is checked by.

A spec is ``embedded:<name>`` (a model or collection some plugin registered through the
``pytest_claims_catalog`` hook, built on first use), a local directory, or a Hugging Face id /
``ir_datasets`` id. The library registers nothing itself: the repository's ``fixtures`` package
registers the embedded default, and any other plugin may add its own models the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from suite.core.collections import Collection, CollectionError, load_collection
from suite.core.models import ModelError

EMBEDDED = "embedded:"


class ModelKind(str, Enum):
    """Which wing checks a model: cross-encoders run the CE claims, generative retrievers the GR claims."""

    CROSS_ENCODER = "cross-encoder"
    GENERATIVE = "generative"


@dataclass(frozen=True)
class BuiltModel:
    """A model directory, ready to load, with what came with its build.

    ``companions`` are further checkpoints a wing's claims need (for a DSI model: the pre-trained
    T5 it started from, and a model trained without ``held_out_docids``); ``collection`` is the
    collection spec it was trained for, used when the user names none."""

    path: Path
    companions: dict[str, Path] = field(default_factory=dict)
    held_out_docids: tuple[str, ...] = ()
    collection: str | None = None


@dataclass(frozen=True)
class EmbeddedModel:
    """A model the project builds itself: ``build(cache_dir)`` trains it on first use, then finds it cached."""

    kind: ModelKind
    description: str
    build: Callable[[Path], BuiltModel]


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
            raise ModelError(f"unknown embedded model {name!r}; known: {', '.join(sorted(self.models)) or 'none'}")
        return self.models[name]

    def build(self, spec: str, cache_dir: Path) -> BuiltModel | None:
        """Build (first use) or find cached the embedded model a spec names; None for any other spec."""
        embedded = self.embedded_model(spec)
        return None if embedded is None else embedded.build(cache_dir)

    def model_kind(self, spec: str, *, trust_remote_code: bool = False) -> ModelKind:
        """Which claims check a model: embedded names from their registration, a local directory from
        its config.json, a hub id from its fetched config (needs the network)."""
        embedded = self.embedded_model(spec)
        if embedded is not None:
            return embedded.kind
        path = Path(spec)
        if path.is_dir():
            config_file = path / "config.json"
            if not config_file.is_file():
                raise ModelError(f"{spec}: no config.json, so its kind (cross-encoder or generative) is unknown")
            config = json.loads(config_file.read_text())
        else:
            try:
                from transformers import AutoConfig

                config = AutoConfig.from_pretrained(spec, trust_remote_code=trust_remote_code).to_dict()
            except (OSError, ValueError) as error:
                raise ModelError(f"cannot tell the kind of model {spec!r} (cross-encoder or generative): {error}") from None
        return kind_of_config(spec, config)

    def resolve_collection(self, spec: str) -> Collection:
        """Load the collection a spec names."""
        if spec.startswith(EMBEDDED):
            name = spec.removeprefix(EMBEDDED)
            if name not in self.collections:
                known = ", ".join(sorted(self.collections)) or "none"
                raise CollectionError(f"unknown embedded collection {name!r}; known: {known}")
            return self.collections[name]()
        return load_collection(spec)


_ENCODER_TYPES = ("bert", "roberta", "electra", "xlm-roberta", "distilbert")


def kind_of_config(spec: str, config: dict) -> ModelKind:
    """Encoder-decoders (``*ForConditionalGeneration``) are generative retrievers; sequence classifiers
    and plain BERT-family encoders are cross-encoders; anything else is refused with its architecture."""
    architectures = " ".join(config.get("architectures") or [])
    if config.get("is_encoder_decoder") or "ForConditionalGeneration" in architectures:
        return ModelKind.GENERATIVE
    if "ForSequenceClassification" in architectures or config.get("model_type") in _ENCODER_TYPES:
        return ModelKind.CROSS_ENCODER
    raise ModelError(
        f"{spec}: architectures {architectures or 'none'} (model_type {config.get('model_type')!r}) is neither a "
        "sequence-classification cross-encoder nor an encoder-decoder generative retriever"
    )
