"""Root conftest: the model and collection fixtures the claims under ``claims/`` use.

The claims plugin itself (``suite.pytest_plugin``) is registered through the package's
``pytest11`` entry point, so ``pip install -e .`` is all a checkout needs.
"""

pytest_plugins = ["fixtures.studies", "fixtures.planted"]
