"""Claim files as pytest collects them: any ``*.toml`` declaring ``[[claim]]`` tables is a test module.

The shipped claims (``ranker_claims.claims``) and a team's own claim file next to its code are
collected alike, so ``pytest --pyargs ranker_claims.claims`` and ``pytest my_claims.toml`` both run
claims with nothing to copy. A file's claims are checked against the registered measurements at
collection (a misspelt measurement or parameter is a collection error naming the file and claim,
before any model is built). A file holds the claims of one model kind; its measurements say which.
Each file becomes a module holding one test function, ``test_claim``, parametrized over the file's
claims (here) and the session's targets of that kind (by the plugin), so claim tests are ordinary
pytest functions: fixtures, marks, ``-k`` and xdist all apply.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ranker_claims.core.catalog import ModelKind
from ranker_claims.core.claims import Claim, ClaimsFileError, Registry, load_claims
from ranker_claims.pytest_plugin.session import CLAIMS_KEY

#: A claim file declares at least one ``[[claim]]`` table; other TOML files (pyproject.toml) are not read.
_DECLARES_CLAIMS = re.compile(rb"^\s*\[\[\s*claim\s*\]\]", re.MULTILINE)
#: Where the shipped claim files live: the files' key in a run does not depend on where it is installed.
SHIPPED_PACKAGE = "ranker_claims.claims"


def _registries() -> dict[ModelKind, Registry]:
    """The measurement registries by model kind, imported when a claim file is first collected."""
    from ranker_claims.cross_encoder.measurements import MEASUREMENTS as CROSS_ENCODER
    from ranker_claims.generative.measurements import MEASUREMENTS as GENERATIVE

    return {ModelKind.CROSS_ENCODER: CROSS_ENCODER, ModelKind.GENERATIVE: GENERATIVE}


def _claim_on_cross_encoder(claim: Claim, cross_encoder_study: Any, claims: Any) -> None:
    claims.assert_verdict(claims.evaluate(claim, cross_encoder_study))


def _claim_on_generative(claim: Claim, generative_study: Any, claims: Any) -> None:
    claims.assert_verdict(claims.evaluate(claim, generative_study))


#: The test each kind's claims run as: its study fixture is what the plugin parametrizes over targets.
CLAIM_TESTS = {ModelKind.CROSS_ENCODER: _claim_on_cross_encoder, ModelKind.GENERATIVE: _claim_on_generative}


def _claim_test(claim_file: ClaimFile) -> Callable[..., None]:
    """A file's test: its kind's function, copied so the file's ``parametrize`` mark is its own. A mark (not a
    call in a hook) gives pytest the parameter indices by which it groups a target's items together."""
    base = CLAIM_TESTS[claim_file.kind]
    test = types.FunctionType(base.__code__, base.__globals__, "test_claim", base.__defaults__, base.__closure__)
    test.__test__ = True  # type: ignore[attr-defined]  # collected whatever python_functions says
    return pytest.mark.parametrize("claim", claim_file.claims, ids=str)(test)


@dataclass(frozen=True)
class ClaimFile:
    """One claim file as loaded: its claims, their model kind, the key and hash a run records it under."""

    path: Path
    key: str
    sha256: str
    kind: ModelKind
    claims: tuple[Claim, ...]


def file_key(path: Path, nodeid: str) -> str:
    """How runs name a claim file: a shipped one by package (``ranker_claims.claims/cross_encoder.toml``,
    from a checkout or a wheel alike), another as pytest names it in node ids."""
    from importlib import resources

    shipped = Path(str(resources.files(SHIPPED_PACKAGE))).resolve()
    if path.resolve().parent == shipped:
        return f"{SHIPPED_PACKAGE}/{path.name}"
    return nodeid.split("::")[0]


def read_claim_file(path: Path, nodeid: str) -> ClaimFile:
    """Load ``path``'s claims against the registry of the model kind its measurements belong to.

    Raises :class:`ClaimsFileError` for what :func:`load_claims` refuses, a measurement no registry
    knows, or a file mixing the two kinds."""
    raw = path.read_bytes()
    try:
        entries = tomllib.loads(raw.decode("utf-8")).get("claim", [])
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ClaimsFileError(f"{path}: not a TOML file ({error})") from None
    registries = _registries()
    names = [entry.get("measurement") for entry in entries if isinstance(entry, dict)]
    kinds = {kind for name in names for kind, registry in registries.items() if name in registry}
    if len(kinds) > 1:
        raise ClaimsFileError(f"{path}: mixes cross-encoder and generative measurements; "
                              "declare each model kind's claims in a file of its own")
    if not kinds:
        known = "; ".join(f"{kind.value}: {', '.join(registry)}" for kind, registry in registries.items())
        raise ClaimsFileError(f"{path}: no claim names a registered measurement (got {names}; known: {known})")
    kind = kinds.pop()
    claims = tuple(load_claims(path, registries[kind]))
    return ClaimFile(path, file_key(path, nodeid), hashlib.sha256(raw).hexdigest(), kind, claims)


class ClaimModule(pytest.Module):
    """A claim file collected as a module: its object is built from the TOML instead of imported."""

    claim_file: ClaimFile

    def _getobj(self) -> types.ModuleType:
        try:
            self.claim_file = read_claim_file(self.path, self.nodeid)
        except (ClaimsFileError, OSError) as error:
            raise self.CollectError(str(error)) from None
        claim_file = self.claim_file
        problem = self.config.stash[CLAIMS_KEY].add_claim_file(claim_file.key, claim_file.sha256,
                                                               [claim.id for claim in claim_file.claims])
        if problem is not None:
            raise self.CollectError(problem)
        module = types.ModuleType(self.path.stem)
        module.__file__ = str(self.path)
        module.test_claim = _claim_test(self.claim_file)  # type: ignore[attr-defined]
        return module


def collect_claim_file(file_path: Path, parent: pytest.Collector) -> ClaimModule | None:
    """The collector of ``file_path`` if it is a claim file, else None (pytest's ``pytest_collect_file``)."""
    if file_path.suffix != ".toml":
        return None
    try:
        declares = _DECLARES_CLAIMS.search(file_path.read_bytes()) is not None
    except OSError:
        return None
    return ClaimModule.from_parent(parent, path=file_path) if declares else None
