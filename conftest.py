"""Repository conftest: only what the suite's own tests need.

The claims plugin (``ranker_claims.pytest_plugin``) and the embedded models (``ranker_claims.fixtures.embedded``) are
registered through the package's ``pytest11`` entry points, so ``pip install -e .`` is all a
checkout needs to run ``pytest claims/``; this file adds pytester for the tests under ``tests/``.
"""

pytest_plugins = ["pytester"]
