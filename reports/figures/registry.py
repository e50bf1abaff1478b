"""The figure registry: a claim's ``figures`` maps a kind to data, and a kind is drawn by
the one function registered for it. A kind without a renderer (or whose renderer fails on
odd data) is shown as its data, so a new figure kind is never silently lost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reports.formatting import esc, render_data

FigureRenderer = Callable[[Any, dict[str, Any]], str]
FIGURE_RENDERERS: dict[str, FigureRenderer] = {}


def figure_renderer(kind: str) -> Callable[[FigureRenderer], FigureRenderer]:
    """Register ``function(data, context) -> html`` as the renderer of figure ``kind``."""

    def register(function: FigureRenderer) -> FigureRenderer:
        FIGURE_RENDERERS[kind] = function
        return function

    return register


def render_figure(kind: str, data: Any, context: dict[str, Any]) -> str:
    """A figure by its registered renderer; unknown kinds and renderer failures fall back
    to the generic data view, with a note saying why."""
    renderer = FIGURE_RENDERERS.get(kind)
    note = ""
    if renderer is not None:
        try:
            return renderer(data, context)
        except Exception as error:  # odd data must not cost the whole report
            note = f'<p class="note">Could not draw this figure ({esc(type(error).__name__)}: {esc(error)}); its data:</p>'
    return (
        f'<figure class="fig generic"><figcaption>Figure <code>{esc(kind)}</code></figcaption>'
        f"{note}{render_data(data)}</figure>"
    )
