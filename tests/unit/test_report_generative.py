"""The GR figure renderers: each kind drawn from hand-built data in the measurements' own format
(12-layer decoder unless said), escaped, and falling back to the data view when malformed."""

from __future__ import annotations

import copy
import math
from html.parser import HTMLParser

import pytest

from ranker_claims.reports.figures import FIGURE_RENDERERS, render_figure

XSS = "<script>alert(1)</script>"
L = 12
PAPER = {"I": [0, 1, 2, 3], "II": [4, 5, 6, 7, 8], "III": [9, 10, 11]}  # stages(12)
STAGES = {"paper": PAPER, "data_driven": {"I": [0, 1, 2], "II": [3, 4, 5, 6], "III": [7, 8, 9, 10, 11]}}
CONTEXT = {"correction": "holm", "alpha": 0.05, "metric": "share"}
VOID = {"br", "meta", "img", "hr", "input"}


class _Nesting(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def _well_formed(page: str) -> bool:
    parser = _Nesting()
    parser.feed(page)
    parser.close()
    return parser.problems == [] and parser.stack == []


def _curve(scale: float = 1.0, offset: float = 0.0, layers: int = L) -> list[float]:
    return [offset + scale * math.sin(layer / 3) for layer in range(layers)]


def stage_table() -> dict:
    components, methods = ["self_attention", "cross_attention", "mlp"], ["zero", "mean", "model"]
    cells = []
    for c in components:
        for m in methods:
            for s, layers in (("I", "0-3"), ("II", "4-8"), ("III", "9-11")):
                cell = {"component": c, "method": m, "stage": s, "paper": 0.05, "nq320k": 0.1, "trivia_qa": 0.2,
                        "role": "removable", "layers": layers}
                if m == "model":
                    cell.update(measured=None, missing="no pre-trained companion (--claims-pretrained)")
                else:
                    cell.update(measured=0.25, k=5, n=20, ci=[0.09, 0.49], p_corrected=0.01, verdict="SUPPORTED")
                cells.append(cell)
    cells[3].update(role="crucial", measured=0.9, verdict="CONTRADICTED", paper=0.9286)
    cells[4].update(role="reported", verdict=None, p_corrected=None)
    return {"components": components, "component_names": {"self_attention": "self-attention",
            "cross_attention": "cross-attention", "mlp": "MLP"}, "methods": methods,
            "method_names": {"zero": "zero", "mean": "mean", "model": "T5"}, "stages": ["I", "II", "III"],
            "cells": cells, "removable_below": 0.25, "crucial_above": 0.15, "n": 20, "stage_layers": {"I": "0-3", "II": "4-8", "III": "9-11"},
            "stages_data_driven": STAGES["data_driven"],
            "paper_models": {"paper": "NQ10k", "nq320k": "NQ320k", "trivia_qa": "Trivia-QA"}}


def contribution_profile(layers: int = L, stages: dict | None = STAGES) -> dict:
    names = ("self_attention", "cross_attention", "mlp")
    last = list(range(max(layers - 3, 0), max(layers - 1, 1)))
    return {"layers": layers, "ratios": {c: _curve(0.2, 0.5 + k / 10, layers) for k, c in enumerate(names)},
            "cosines": {c: _curve(0.3, -0.1, layers) for c in names},
            "stage_cosines": {c: [-0.95] * len(last) for c in names}, "stage_cosine_layers": last,
            "threshold": -0.9, "stages": stages, "n": 17}


def lens_ranks() -> dict:
    return {"layers": L, "over": "docids", "n": 8, "stages": STAGES,
            "residual": {"relevant document": [100 / (layer + 1) for layer in range(L)],
                         "docid tokens (mean, vocabulary)": [30000.0 - 2000 * layer for layer in range(L)],
                         "other tokens (mean, vocabulary)": [15000.0] * L},
            "components": {"self_attention": [50.0] * L, "cross_attention": [40.0] * (L - 1) + [None],
                           "mlp": [float(L - layer) for layer in range(L)]},
            "vocab": 32100, "docids": 100}


def layer_series() -> dict:
    return {"title": "Share of correct queries leaving rank 1, one layer zero-patched at a time", "layers": L,
            "series": {"self-attention": [0.0] * L, "cross-attention": [0.05] * L, "MLP": _curve(0.05, 0.08)},
            "boundary": 0.15, "whole_stage": {"mlp:I": 0.9, "mlp:III": 0.95, "cross_attention:II": 0.3,
                                              "cross_attention:III": 0.4},
            "stages": STAGES, "n": 20, "scale": "linear", "y_label": "share leaving rank 1"}


def attribution_shares() -> dict:
    cross = {str(layer): {"embedding": 0.05, "mlp/I": 0.6, "cross_attention/I": 0.1, "self_attention/II": 0.25}
             for layer in range(4, 12)}
    mlp = {str(layer): {"embedding": 0.0, "mlp/I": 0.2, "cross_attention/II+III": 0.7, "mlp/II": 0.1}
           for layer in range(9, 12)}
    mlp["11"] = {"embedding": float("nan"), "mlp/I": None}  # nothing positive: no bar
    return {"panels": [{"title": "What triggers cross-attention (stages II-III), by writer group",
                        "reader": "cross_attention", "layers": list(range(4, 12)), "shares": cross},
                       {"title": "What activates stage-III MLP neurons, by writer group", "reader": "mlp",
                        "layers": [9, 10, 11], "shares": mlp}],
            "stages": STAGES, "n": 8,
            "heads": {"share_in_all": 0.625, "share_in_any": 1.0, "k": 5, "candidates": 192, "paper_share_in_all": 0.66}}


def metric_bars() -> dict:
    return {"title": "Retrieval quality on the evaluation split", "unit": "share of queries", "reference_label": "random ranking",
            "n": 40, "caption": "A caption from the measurement.",
            "bars": [{"label": "Hits@1", "measured": 0.4, "ci": [0.25, 0.56], "reference": 0.01, "paper": 0.404,
                      "paper_other": {"NQ320k": 0.2, "Trivia-QA": 0.604}},
                     {"label": "docid share", "measured": 0.9, "ci": None, "reference": 0.5, "paper": None,
                      "note": "reference: before the last layer"},
                     {"label": "top 1000", "measured": float("nan"), "ci": [0.0, 0.1], "reference": 0.003, "paper": 0.023,
                      "bound": 0.09}]}


def promoted_tokens() -> dict:
    return {"examples": [{"query": "who wrote the harry potter books",
                          "heads": [{"layer": 5, "head": 3, "tokens": ["books", "ouvrage", XSS, ""]},
                                    {"layer": 6, "head": 0, "tokens": ["authors"]}]},
                         {"query": "empty", "heads": []}],
            "mean_promoted": 0.31, "mean_random": 0.12, "mean_other_query": 0.18, "judge": "all-MiniLM-L6-v2 (mean pooling, cosine)",
            "caption": "Per query, the 3 stage-II heads with the largest output norm."}


BUILDERS = {
    "stage_table": (stage_table, "stage-table"),
    "contribution_profile": (contribution_profile, "contribution-profile"),
    "lens_ranks": (lens_ranks, "lens-ranks"),
    "layer_series": (layer_series, "layer-series"),
    "attribution_shares": (attribution_shares, "attribution-shares"),
    "metric_bars": (metric_bars, "metric-bars"),
    "promoted_tokens": (promoted_tokens, "promoted-tokens"),
}


def _drawn(kind: str, data: dict) -> str:
    figure = render_figure(kind, data, CONTEXT)
    assert "Could not draw" not in figure and "fig generic" not in figure, figure[:600]
    assert _well_formed(figure)
    assert "url(" not in figure and "<script" not in figure
    return figure


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_every_gr_kind_has_a_renderer_that_draws_valid_data(kind):
    build, css = BUILDERS[kind]
    assert kind in FIGURE_RENDERERS
    figure = _drawn(kind, build())
    assert f'<figure class="fig {css}">' in figure
    assert "<details>" in figure or kind == "promoted_tokens"  # every chart has its numbers


def test_stage_table_draws_nine_rows_of_three_stages_with_roles_verdicts_and_missing_cells():
    figure = _drawn("stage_table", stage_table())
    svg = figure[figure.index("<svg"): figure.index("</svg>")]
    assert svg.count("<g><title>") == 27
    assert "0.900 ✗" in svg and "0.250 ✓" in svg and "not measured" in svg
    assert "crucial · paper 0.929" in svg and "reported · paper 0.050" in svg
    assert "NQ320k 0.100" in svg and "Trivia-QA 0.200" in svg  # the other datasets in the tooltip
    assert "no pre-trained companion" in figure  # the missing cells' reason
    assert "significantly below 0.25, a crucial one significantly above 0.15" in figure and "layers 4-8" in svg
    assert "I 0-2, II 3-6, III 7-11" in figure  # data-driven stages stated
    table = stage_table()
    table["cells"] = table["cells"][:-1]  # an undeclared cell is drawn as such, not dropped
    assert "not declared" in _drawn("stage_table", table)


def test_stage_table_of_a_run_with_one_boundary_states_it_for_both_roles():
    table = stage_table()
    del table["removable_below"], table["crucial_above"]
    table["boundary"] = 0.15
    assert "significantly below 0.15, a crucial one significantly above 0.15" in _drawn("stage_table", table)


def test_contribution_profile_has_three_panels_stages_and_the_threshold():
    figure = _drawn("contribution_profile", contribution_profile())
    assert figure.count("<svg class=\"heatmap chart layers\"") == 3
    assert "threshold: -0.9" in figure and "(red dashed: the threshold -0.90)" in figure
    assert "I 0-3, II 4-8, III 9-11" in figure and "I 0-2, II 3-6, III 7-11" in figure
    assert figure.count("stroke-dasharray=\"4 3\"") == 3 * 2  # two data-driven starts per panel
    assert ">II</text>" in figure and 'fill="#f1f3f5"' in figure  # stage II labelled and shaded


def test_profiles_draw_for_one_and_twenty_four_layers():
    one = contribution_profile(layers=1, stages={"data_driven_error": "three stages need at least 3 decoder layers"})
    figure = _drawn("contribution_profile", one)
    assert "first of 1" in figure and "no data-driven stages (three stages need" in figure
    deep = contribution_profile(layers=24, stages={"paper": {"I": list(range(7)), "II": list(range(7, 18)),
                                                             "III": list(range(18, 24))}})
    figure = _drawn("contribution_profile", deep)
    assert "I 0-6, II 7-17, III 18-23" in figure and "first of 24" in figure
    series = layer_series()
    series.update(layers=1, series={"MLP": [0.5]}, stages=None, whole_stage={})
    assert "first of 1" in _drawn("layer_series", series)


def test_lens_ranks_use_a_log_axis_and_skip_missing_points():
    figure = _drawn("lens_ranks", lens_ranks())
    assert figure.count("mean rank (log)") == 2
    assert ">10 000</text>" in figure and ">1</text>" in figure  # decade ticks
    svg_components = figure[figure.index("each component"):]
    assert "cross-attention, layer 11" not in svg_components  # None is skipped
    # GR-12 sends only two residual series and no components: one panel.
    last = lens_ranks()
    del last["components"], last["residual"]["relevant document"]
    figure = _drawn("lens_ranks", last)
    assert figure.count("mean rank (log)") == 1 and "docid tokens (mean, vocabulary)" in figure


def test_layer_series_marks_the_boundary_and_lists_whole_stages():
    figure = _drawn("layer_series", layer_series())
    assert "boundary: 0.15" in figure and "MLP, whole stage I 0.900" in figure
    assert "cross-attention, whole stage III 0.400" in figure
    assert figure.count('stroke-width="5"') == 4  # one whole-stage bar per stage cell


def test_attribution_shares_stack_writer_groups_per_reader_layer():
    figure = _drawn("attribution_shares", attribution_shares())
    assert figure.count("<svg") == 2
    assert "reader layer 4: mlp/I 0.600" in figure and "cross_attention/II+III 0.700" in figure
    assert "reader layer 11" not in figure.split("What activates")[1].split("</svg>")[0]  # no positive share: no bar
    assert "0.625" in figure and "paper: 0.66" in figure and "192" in figure


def test_metric_bars_draw_whiskers_references_paper_and_skip_missing_values():
    figure = _drawn("metric_bars", metric_bars())
    assert figure.count("<g><title>") == 3
    assert "95% CI [0.250, 0.560]" in figure and "random ranking 0.010" in figure and "paper NQ320k 0.200" in figure
    assert "top 1000: not measured" in figure and "bound 0.090" in figure and "declared bound" in figure
    assert "reference: before the last layer" in figure and "A caption from the measurement." in figure
    empty = _drawn("metric_bars", {"title": "t", "unit": "share", "bars": [], "reference_label": "r"})
    assert "nothing measured" in empty


def test_promoted_tokens_are_escaped_model_vocabulary():
    figure = _drawn("promoted_tokens", promoted_tokens())
    assert XSS not in figure and "&lt;script&gt;alert(1)&lt;/script&gt;" in figure
    assert '<code class="tok">ouvrage</code>' in figure and "5/3" in figure and "no heads" in figure
    assert "0.310" in figure and "0.120" in figure and "+0.190" in figure
    assert "another query of the study (seeded derangement) <strong>0.180</strong>" in figure


def test_everything_in_gr_figures_is_escaped():
    hostile = {
        "stage_table": lambda d: (d["component_names"].update(mlp=XSS), d["cells"][0].update(missing=XSS, layers=XSS)),
        "contribution_profile": lambda d: d["ratios"].update({XSS: [0.1] * L}),
        "lens_ranks": lambda d: d.update(over=XSS),
        "layer_series": lambda d: d.update(title=XSS, y_label=XSS),
        "attribution_shares": lambda d: d["panels"][0]["shares"]["4"].update({XSS: 0.2}),
        "metric_bars": lambda d: (d.update(caption=XSS, reference_label=XSS), d["bars"][0].update(label=XSS, note=XSS)),
        "promoted_tokens": lambda d: d["examples"][0].update(query=XSS),
    }
    for kind, (build, _) in BUILDERS.items():
        data = build()
        hostile[kind](data)
        figure = _drawn(kind, data)
        assert XSS not in figure and "&lt;script&gt;" in figure, kind


def _broken(kind: str, change) -> dict:
    data = copy.deepcopy(BUILDERS[kind][0]())
    change(data)
    return data


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("stage_table", _broken("stage_table", lambda d: d.update(cells="none"))),
        ("stage_table", _broken("stage_table", lambda d: d["cells"][0].update(stage="IV"))),
        ("stage_table", _broken("stage_table", lambda d: d["cells"][0].update(measured="high"))),
        ("contribution_profile", _broken("contribution_profile", lambda d: d["ratios"].update(mlp=[0.1, 0.2]))),
        ("contribution_profile", _broken("contribution_profile", lambda d: d.update(stage_cosine_layers=[99]))),
        ("contribution_profile", _broken("contribution_profile", lambda d: d["stages"].update(paper={"I": [0, 40]}))),
        ("lens_ranks", _broken("lens_ranks", lambda d: d.update(residual={}, components={}))),
        ("lens_ranks", _broken("lens_ranks", lambda d: d.update(residual=[1, 2, 3]))),
        ("layer_series", _broken("layer_series", lambda d: d.update(series={}))),
        ("layer_series", _broken("layer_series", lambda d: d.update(whole_stage=[0.3]))),
        ("attribution_shares", _broken("attribution_shares", lambda d: d.update(panels={"a": 1}))),
        ("attribution_shares", _broken("attribution_shares", lambda d: d["panels"][0].update(layers=["x"]))),
        ("metric_bars", _broken("metric_bars", lambda d: d["bars"][0].update(ci=[0.1]))),
        ("metric_bars", _broken("metric_bars", lambda d: d.update(bars=[{"measured": 0.3}]))),
        ("promoted_tokens", _broken("promoted_tokens", lambda d: d["examples"][0]["heads"][0].update(tokens="books"))),
        ("promoted_tokens", {"examples": None}),
        ("lens_ranks", None),
        ("metric_bars", [1, 2]),
    ],
)
def test_malformed_gr_figures_fall_back_to_their_data(kind, data):
    figure = render_figure(kind, data, CONTEXT)
    assert "Could not draw this figure" in figure and f"<code>{kind}</code>" in figure
    assert _well_formed(figure)
