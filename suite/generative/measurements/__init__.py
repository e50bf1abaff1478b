"""The generative-retrieval measurements (GR-*), registered by name for ``claims/generative.toml``.

Importing the package imports every measurement module, so :data:`MEASUREMENTS` is complete
before a claims file is checked against it.
"""

from ranker_claims.core.claims import Registry

MEASUREMENTS = Registry("generative")

from ranker_claims.generative.measurements import (  # noqa: E402  (each registers its functions)
    communication,
    encoder,
    lens,
    patching,
    residual,
    retrieval,
)

__all__ = ["MEASUREMENTS", "communication", "encoder", "lens", "patching", "residual", "retrieval"]
