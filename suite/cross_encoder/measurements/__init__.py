"""The cross-encoder measurements (CE-*), registered by name for ``claims/cross_encoder.toml``.

Importing the package imports every measurement module, so :data:`MEASUREMENTS` is complete
before a claims file is checked against it.
"""

from ranker_claims.core.claims import Registry

MEASUREMENTS = Registry("cross-encoder")

from ranker_claims.cross_encoder.measurements import directions, heads  # noqa: E402  (each registers its functions)

__all__ = ["MEASUREMENTS", "directions", "heads"]
