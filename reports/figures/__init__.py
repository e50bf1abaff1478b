"""Figures of the report, drawn by kind as inline SVG.

:data:`FIGURE_RENDERERS` maps a kind (a key of a claim's ``figures``) to
``render(data, context) -> Html``; adding a kind is one function in the module of its wing,
building its HTML with :class:`~ranker_claims.reports.formatting.Html` so that the data is escaped::

    @figure_renderer("my_kind")
    def _my_kind(data, context):
        return Html("<figure>{0}</figure>").format(data["label"])

Importing this package imports every wing's module, which registers its kinds.
"""

from ranker_claims.reports.figures import cross_encoder, generative, method_checks
from ranker_claims.reports.figures.registry import FIGURE_RENDERERS, figure_renderer, render_figure

__all__ = ["FIGURE_RENDERERS", "cross_encoder", "figure_renderer", "generative", "method_checks", "render_figure"]
