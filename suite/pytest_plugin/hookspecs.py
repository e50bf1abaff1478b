"""Hooks the claims plugin offers to other plugins."""

from __future__ import annotations

import pytest

from ranker_claims.core.catalog import Catalog


@pytest.hookspec
def pytest_claims_catalog(catalog: Catalog) -> None:
    """Register embedded models and collections (``embedded:<name>``) with ``catalog.add_model`` /
    ``catalog.add_collection``; called once per session, at configure time."""
