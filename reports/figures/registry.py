"""The figure registry: a claim's ``figures`` maps a kind to data, and a kind is drawn by
the one function registered for it. A kind without a renderer (or whose renderer fails on
odd data) is shown as its data, so a new figure kind is never silently lost.

A renderer is code, not data: what it returns is HTML. The project's renderers return
:class:`~ranker_claims.reports.formatting.Html` built by ``Html(...).format`` (so what they read from a run
is escaped by construction); a plain ``str`` from a renderer registered elsewhere is taken as
the HTML its author built, and escaping its run values is that renderer's job."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ranker_claims.reports.formatting import Html, render_data

FigureRenderer = Callable[[Any, dict[str, Any]], Html | str]
FIGURE_RENDERERS: dict[str, FigureRenderer] = {}


def figure_renderer(kind: str) -> Callable[[FigureRenderer], FigureRenderer]:
    """Register ``function(data, context) -> html`` as the renderer of figure ``kind``."""

    def register(function: FigureRenderer) -> FigureRenderer:
        FIGURE_RENDERERS[kind] = function
        return function

    return register


def render_figure(kind: str, data: Any, context: dict[str, Any]) -> Html:
    """A figure by its registered renderer; unknown kinds and renderer failures fall back
    to the generic data view, with a note saying why."""
    renderer = FIGURE_RENDERERS.get(kind)
    note = Html()
    if renderer is not None:
        try:
            return Html(renderer(data, context))
        except Exception as error:  # odd data must not cost the whole report
            note = Html('<p class="note">Could not draw this figure ({0}: {1}); its data:</p>').format(
                type(error).__name__, error
            )
    return Html('<figure class="fig generic"><figcaption>Figure <code>{0}</code></figcaption>{1}{2}</figure>').format(
        kind, note, render_data(data)
    )
