"""The plugin's fixtures: ``--claims-model`` / ``--claims-collection`` turned into studies, and the planted setups.

Models and collections are loaded once per session however many targets share them; an embedded
model is built here, on first use, with a progress bar.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ranker_claims.core.catalog import BuiltModel
from ranker_claims.core.collections import Collection, CollectionError
from ranker_claims.core.devices import Placement
from ranker_claims.core.models import ModelError
from ranker_claims.core.reranking import build_reranking_set
from ranker_claims.cross_encoder.method_checks import PlantedSetup, planted_setup
from ranker_claims.cross_encoder.model import CrossEncoder
from ranker_claims.cross_encoder.study import CrossEncoderStudy
from ranker_claims.generative.method_checks import (
    PlantedGenerativeSetup,
    planted_generative_setup,
)
from ranker_claims.generative.model import GenerativeRetriever, NoDocidTokens
from ranker_claims.generative.study import GenerativeStudy, HeldOut
from ranker_claims.pytest_plugin.session import CLAIMS_KEY, ClaimCheck, ClaimsSession


@pytest.fixture(scope="session")
def claims_session(pytestconfig: pytest.Config) -> ClaimsSession:
    """This session's claims state: options, catalog, the run being written."""
    return pytestconfig.stash[CLAIMS_KEY]


@pytest.fixture
def claims(claims_session: ClaimsSession, request: pytest.FixtureRequest) -> ClaimCheck:
    """What a claim test evaluates, records and asserts through; its verdict lands on this test's report."""
    return ClaimCheck(claims_session, request.node)


def _collection(session: ClaimsSession, spec: str) -> Collection:
    return session.remember(("collection", spec), lambda: session.catalog.resolve_collection(spec))


def _built(session: ClaimsSession, spec: str) -> BuiltModel | None:
    """An embedded model's build, or None for a user's directory or hub id. The first call builds what every
    embedded model of the session's claims lacks, side by side (see :meth:`ClaimsSession.build_models`)."""
    plan = session.remember(("builds",), session.build_models).get(spec)
    return None if plan is None else plan.model


@pytest.fixture(scope="session")
def cross_encoder_study(cross_encoder_target: tuple[str, str], claims_session: ClaimsSession) -> CrossEncoderStudy:
    """The cross-encoder of this target on its collection's re-ranking set."""
    model_spec, collection_spec = cross_encoder_target
    options = claims_session.options

    def load() -> CrossEncoder:
        built = _built(claims_session, model_spec)
        if built is not None:
            return CrossEncoder.load(built.path, name=model_spec, placement=claims_session.placement)
        return CrossEncoder.load(model_spec, trust_remote_code=options.trust_remote_code,
                                 allow_pickle=options.allow_pickle, placement=claims_session.placement)

    model = claims_session.remember(("model", model_spec), load)
    model.max_length = min(model.max_length, options.max_length)
    collection = _collection(claims_session, collection_spec)
    try:
        rerank = build_reranking_set(
            collection,
            relevant_grade=options.relevant_grade,
            depth=options.depth,
            easy_negatives=options.easy_negatives,
            seed=options.settings.seed,
            max_queries=options.max_queries,
            strict=options.strict,
            allow_empty=True,  # no query with a relevant document: each claim INCONCLUSIVE, saying so
        )
    except CollectionError as error:  # strict mode's refusal: its message says it all
        raise pytest.fail.Exception(str(error), pytrace=False) from None
    study = CrossEncoderStudy(
        model,
        collection,
        rerank,
        cache_dir=options.cache_dir,
        batch_size=options.batch_size,
        backend=options.backend,
        pairs_per_group=options.pairs_per_group,
        seed=options.settings.seed,
        ablation_mode=options.ablation_mode,
        convention=options.convention,
    )
    claims_session.add_target(model.describe(), study.describe())
    return study


def _load_generative(spec: str, name: str, trust: bool, allow_pickle: bool, placement: Placement) -> GenerativeRetriever:
    """A generative retriever; a companion without docid tokens (a pre-trained T5) is loaded as-is."""
    try:
        return GenerativeRetriever.load(spec, name=name, trust_remote_code=trust, allow_pickle=allow_pickle,
                                        placement=placement)
    except NoDocidTokens:
        pass
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    model = AutoModelForSeq2SeqLM.from_pretrained(spec, attn_implementation="eager", dtype=placement.torch_dtype,
                                                  trust_remote_code=trust)
    tokenizer = AutoTokenizer.from_pretrained(spec, trust_remote_code=trust)
    start = model.config.decoder_start_token_id if model.config.decoder_start_token_id is not None else 0
    return GenerativeRetriever(model, tokenizer, name=name, docid_tokens={int(start): "(none)"},
                               docid_rule="companion without document ids", source=str(spec), placement=placement)


def _held_out_docids(given: tuple[str, ...] | None, held_out: str) -> tuple[str, ...]:
    """--claims-held-out-docids, else what the held-out model's build.json records."""
    if given:
        return given
    if (Path(held_out) / "build.json").is_file():
        build = json.loads((Path(held_out) / "build.json").read_text())
        for key in ("held_out_docids", "removed_docids"):
            if build.get(key):
                return tuple(str(d) for d in build[key])
    return ()


@pytest.fixture(scope="session")
def generative_study(generative_target: tuple[str, str | None], claims_session: ClaimsSession) -> GenerativeStudy:
    """The generative (DSI) model of this target on its collection, with its companion models."""
    model_spec, collection_spec = generative_target
    options = claims_session.options
    trust = options.trust_remote_code
    built = _built(claims_session, model_spec)
    paths: dict[str, str | Path]
    if built is not None:
        paths = {"dsi": built.path, **built.companions}
        own_collection, held_out_paths = built.collection, [str(p) for p in built.held_out]
    else:
        paths = {"dsi": model_spec}
        own_collection, held_out_paths = None, []
    if options.pretrained:
        paths["pretrained"] = options.pretrained
    if options.held_out:
        held_out_paths = [options.held_out]
    collection_spec = collection_spec or own_collection
    if collection_spec is None:
        raise pytest.UsageError(f"{model_spec}: give --claims-collection (the collection its document ids index)")
    model = claims_session.remember(
        ("model", model_spec),
        lambda: _load_generative(str(paths["dsi"]), model_spec, trust, options.allow_pickle, claims_session.placement),
    )
    missing: dict[str, str] = {}

    def load(companion: str, path: str) -> GenerativeRetriever | None:
        try:
            return claims_session.remember(
                ("model", path),
                lambda: _load_generative(path, f"{companion}:{path}", trust, options.allow_pickle,
                                         claims_session.placement),
            )
        except (ModelError, OSError, ValueError) as error:
            missing[companion] = "; ".join(filter(None, (missing.get(companion), f"{path} could not be loaded ({error})")))
            return None

    pretrained = load("pretrained", str(paths["pretrained"])) if "pretrained" in paths else None
    held_out = [HeldOut(held, _held_out_docids(options.held_out_docids, path))
                for path in held_out_paths if (held := load("held_out", path)) is not None]
    collection = _collection(claims_session, collection_spec)
    study = GenerativeStudy(
        model,
        collection,
        pretrained=pretrained,
        held_out=held_out,
        missing=missing,
        cache_dir=options.cache_dir,
        relevant_grade=options.relevant_grade,
        rank_over=options.rank_over,
        mean_split=options.mean_split,
        analysis_queries=options.analysis_queries,
        max_queries=options.max_queries,
        batch_size=options.batch_size,
        seed=options.settings.seed,
    )
    with claims_session.visible():
        described = study.describe()
    claims_session.add_target({**model.describe(), "layers": model.n_layers, "heads": model.n_heads}, described)
    return study


@pytest.fixture(scope="session")
def planted_cross_encoder(claims_session: ClaimsSession) -> PlantedSetup:
    """The planted cross-encoder on its collection, built once per session (about a second) under the cache dir."""
    seed = claims_session.settings.seed
    directory = claims_session.options.cache_dir / "planted" / f"seed-{seed}"
    return claims_session.remember(("planted", seed),
                                   lambda: planted_setup(directory, claims_session.settings, seed=seed))


@pytest.fixture(scope="session")
def planted_generative(claims_session: ClaimsSession) -> PlantedGenerativeSetup:
    """The planted T5 (stage II holds the answer), built once per session (about a second) under the cache dir."""
    seed = claims_session.settings.seed
    directory = claims_session.options.cache_dir / "planted-generative" / f"seed-{seed}"
    return claims_session.remember(("planted-generative", seed), lambda: planted_generative_setup(directory, seed=seed))
