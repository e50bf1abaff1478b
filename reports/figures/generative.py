"""Figures of the generative-retrieval wing (DSI-style T5 models, GR-* claims): stage
patching (Table 3), what each component adds by layer (Fig. 3), logit-lens ranks (Fig. 4),
one-layer patching, who reads whom (Fig. 5), measured shares as bars and the tokens the
stage-II heads promote (Table 6)."""

from __future__ import annotations

import numbers
from typing import Any

from ranker_claims.reports.figures.decoder_layers import (
    SPARE_COLOURS,
    component_key,
    component_style,
    decoder_depth,
    key_line,
    layer_chart,
    lens_style,
    read_stages,
    series_by_layer,
    series_styles,
    series_table,
    stage_text,
    stage_words,
)
from ranker_claims.reports.figures.registry import figure_renderer
from ranker_claims.reports.formatting import (
    Html,
    badge,
    escape,
    finite_real,
    interval,
    non_negative_int,
    num,
    plain,
    pval,
)
from ranker_claims.reports.svg import (
    BLUE,
    DROP,
    GREY,
    ORANGE,
    OUTLINE,
    hatch,
    mix,
    nice_ceiling,
    sequential,
    x_axis,
    y_gridline,
)

COMPONENT_RGB = {"mlp": (44, 111, 173), "cross_attention": (192, 102, 30), "self_attention": (91, 140, 58)}
STAGE_TINT = {"I": 0.0, "II": 0.38, "II+III": 0.38, "III": 0.62}
VERDICT_STROKE = {"SUPPORTED": "#1a7f37", "CONTRADICTED": "#a40e26", "INCONCLUSIVE": "#bf8700"}
VERDICT_MARK = {"SUPPORTED": "✓", "CONTRADICTED": "✗", "INCONCLUSIVE": "?"}


def _short(value: float) -> str:
    """A value for a tooltip or bar label: three decimals, or three significant digits when tiny or huge."""
    return Html("{0:.3f}").format(value) if value == 0 or 0.01 <= abs(value) < 1000 else Html("{0:.3g}").format(value)


@figure_renderer("stage_table")
def render_stage_table(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Table 3 as a heatmap: rows = component x patching method, columns = stages; each cell the
    share of correct queries leaving rank 1, the paper's NQ10k value, the role and the verdict."""
    components, methods, stages = (list(data[k]) for k in ("components", "methods", "stages"))
    cells = data["cells"]
    if not (components and methods and stages) or not isinstance(cells, list) or not cells:
        raise ValueError("no components, methods, stages or cells")
    component_names = data.get("component_names") or {}
    method_names = data.get("method_names") or {}
    models = data.get("paper_models") or {"paper": "NQ10k", "nq320k": "NQ320k", "trivia_qa": "Trivia-QA"}
    # Runs before the two bounds recorded one "boundary" for both roles.
    removable_below, crucial_above = (
        finite_real(data.get(k, data.get("boundary"))) for k in ("removable_below", "crucial_above")
    )
    layers_of = data.get("stage_layers") or {}
    grid: dict[tuple[str, str, str], dict[str, Any]] = {}
    for cell in cells:
        if not isinstance(cell, dict):
            raise ValueError("a cell is not a mapping")
        key = (str(cell["component"]), str(cell["method"]), str(cell["stage"]))
        if key[0] not in components or key[1] not in methods or key[2] not in stages:
            raise ValueError(f"cell {key} is outside the declared components, methods and stages")
        measured = cell.get("measured")
        if measured is not None and not isinstance(measured, numbers.Real):
            raise ValueError(f"cell {key}: measured is {measured!r}")
        grid[key] = cell

    def cname(component: str) -> str:
        return str(component_names.get(component, component))

    def mname(method: str) -> str:
        return str(method_names.get(method, method))

    label_w, cw, ch = 190, 150, 48
    top = 46
    rows = [(c, m) for c in components for m in methods]
    width, height = label_w + len(stages) * cw + 8, top + len(rows) * ch + 8
    svg = [
        (
            Html('<svg class="heatmap stages" viewBox="0 0 {0} {1}" width="{2}" height="{3}" role="img" ').format(
                width, height, width, height
            )
            + Html('aria-label="share of correct queries leaving rank 1 per component, patching method and stage">')
        )
    ]
    for j, stage in enumerate(stages):
        cx = label_w + j * cw + cw / 2
        svg.append(Html('<text class="part" x="{0}" y="18" text-anchor="middle">stage {1}</text>').format(cx, stage))
        if layers_of.get(stage) is not None:
            svg.append(
                Html('<text class="sub" x="{0}" y="34" text-anchor="middle" fill="#59636e">layers {1}</text>').format(
                    cx, layers_of[stage]
                )
            )
    for g, component in enumerate(components):
        y0 = top + g * len(methods) * ch
        if g:
            svg.append(Html('<line x1="4" y1="{0}" x2="{1}" y2="{2}" stroke="#8c959f"/>').format(y0, width - 4, y0))
        svg.append(
            Html('<text class="part" x="6" y="{0}" style="font-weight:650">{1}</text>').format(
                y0 + len(methods) * ch / 2 + 4, cname(component)
            )
        )
    for i, (component, method) in enumerate(rows):
        y0 = top + i * ch
        svg.append(
            Html('<text class="part" x="{0}" y="{1}" text-anchor="end">{2}</text>').format(
                label_w - 10, y0 + ch / 2 + 4, mname(method)
            )
        )
        for j, stage in enumerate(stages):
            x0 = label_w + j * cw
            cell = grid.get((component, method, stage))
            name = Html("{0}, {1}, stage {2}").format(cname(component), mname(method), stage)
            if cell is None:
                svg.append(
                    Html("<g><title>{0}: not in this run</title>{1}").format(
                        name, hatch(x0 + 1, y0 + 1, cw - 2, ch - 2)
                    )
                    + Html(
                        '<text class="sub" x="{0}" y="{1}" text-anchor="middle" fill="#59636e">not declared</text></g>'
                    ).format(x0 + cw / 2, y0 + ch / 2 + 4)
                )
                continue
            value, role, verdict = finite_real(cell.get("measured")), str(cell.get("role", "")), cell.get("verdict")
            tip = [Html("{0} (layers {1}), {2}").format(name, cell.get("layers", "?"), role)]
            if value is not None:
                tip.append(
                    Html("measured {0:.3f}").format(value)
                    + (Html(" ({0} of {1})").format(cell["k"], cell["n"]) if "k" in cell and "n" in cell else "")
                    + (Html(", 95% CI {0}").format(interval(cell.get("ci"))) if cell.get("ci") is not None else "")
                )
            if cell.get("p_corrected") is not None:
                tip.append(Html("p corrected {0}, {1}").format(pval(cell.get("p_corrected")), verdict))
            tip.append(
                "paper "
                + Html(", ").join(
                    Html("{0} {1}").format(label, num(finite_real(cell.get(field)), 3))
                    for field, label in models.items()
                    if cell.get(field) is not None
                )
            )
            if cell.get("missing"):
                tip.append(Html("not measured: {0}").format(cell["missing"]))
            if value is None:
                ink, main = "#59636e", "not measured" if cell.get("missing") else "no value"
                background = hatch(x0 + 1, y0 + 1, cw - 2, ch - 2)
            else:
                fill, ink = sequential(value, DROP)
                background = Html('<rect x="{0}" y="{1}" width="{2}" height="{3}" rx="3" fill="{4}"/>').format(
                    x0 + 1, y0 + 1, cw - 2, ch - 2, fill
                )
                main = num(value) + (
                    Html(" {0}").format(VERDICT_MARK[str(verdict)]) if str(verdict) in VERDICT_MARK else ""
                )
            paper = finite_real(cell.get("paper"))
            svg.append(
                Html("<g><title>{0}</title>{1}").format(Html("; ").join(tip), background)
                + Html('<text class="val" x="{0}" y="{1}" text-anchor="middle" fill="{2}">{3}</text>').format(
                    x0 + cw / 2, y0 + 21, ink, main
                )
                + Html('<text class="sub" x="{0}" y="{1}" text-anchor="middle" fill="{2}">').format(
                    x0 + cw / 2, y0 + 38, ink
                )
                + Html("{0}{1}</text>").format(role, " · paper " + num(paper, 3) if paper is not None else "")
            )
            if str(verdict) in VERDICT_STROKE:
                svg.append(
                    Html('<rect x="{0}" y="{1}" width="{2}" height="{3}" rx="3" fill="none" ').format(
                        x0 + 2.5, y0 + 2.5, cw - 5, ch - 5
                    )
                    + Html('stroke="{0}" stroke-width="2.2"/>').format(VERDICT_STROKE[str(verdict)])
                )
            svg.append(Html("</g>"))
    svg.append(Html("</svg>"))
    legend = Html("").join(
        Html('<span class="swatch" style="background:{0}"></span><span class="tick">{1:g}</span>').format(
            sequential(t, DROP)[0], t
        )
        for t in (0.0, 0.25, 0.5, 0.75, 1.0)
    )
    legend += Html("").join(
        (
            Html('<span class="swatch" style="background:#fff;border:2px solid {0}"></span>').format(colour)
            + Html('<span class="tick">{0} {1}</span>').format(VERDICT_MARK[v], v.lower())
        )
        for v, colour in VERDICT_STROKE.items()
    )
    legend += Html(
        '<span class="swatch" style="background:repeating-linear-gradient(45deg,#eef0f2 0 3px,#c3c9d0 3px 5px)"></span>'
    ) + Html('<span class="tick">not measured</span>')
    missing = sorted({str(c["missing"]) for c in grid.values() if c.get("missing")})
    body = Html("").join(
        (
            Html("<tr><td>{0}</td><td>{1}</td><td>{2}</td><td>{3}</td>").format(
                cname(c), mname(m), s, cell.get("layers", "")
            )
            + Html("<td>{0}</td>").format(cell.get("role", ""))
            + Html('<td class="num">{0}</td><td class="num">{1}</td>').format(
                num(finite_real(cell.get("measured"))), interval(cell.get("ci"))
            )
            + Html('<td class="num">{0} / {1}</td><td class="num">{2}</td>').format(
                num(cell.get("k")), num(cell.get("n")), pval(cell.get("p_corrected"))
            )
            + Html("<td>{0}</td>").format(badge(cell["verdict"]) if cell.get("verdict") else "")
        )
        + Html("").join(
            Html('<td class="num">{0}</td>').format(num(finite_real(cell.get(field)), 4)) for field in models
        )
        + Html("<td>{0}</td></tr>").format(cell.get("missing") or "")
        for (c, m, s), cell in sorted(
            grid.items(), key=lambda kv: (components.index(kv[0][0]), methods.index(kv[0][1]), stages.index(kv[0][2]))
        )
    )
    paper_heads = Html("").join(Html('<th class="num">paper {0}</th>').format(label) for label in models.values())
    data_driven = data.get("stages_data_driven")
    n = non_negative_int(data.get("n"))
    return (
        (
            Html('<figure class="fig stage-table">')
            + Html(
                "<figcaption>Stage patching (Table 3): share of correct queries whose relevant document leaves rank 1</figcaption>"
            )
            + Html('<div class="heatmap-wrap">{0}</div>').format(Html("").join(svg))
            + Html('<div class="legend"><span class="muted">share leaving rank 1:</span> {0}</div>').format(legend)
            + Html(
                '<p class="caption">Each cell: the component\'s output patched in every layer of the stage (zero, the mean '
            )
            + Html("output over a held-apart split, or the pre-trained T5's output for the same query), over the ")
            + Html("{0} correct queries; big number = measured share leaving rank 1, small type = ").format(
                n if n is not None else "recorded"
            )
            + Html(
                "the role the paper gives the cell and its NQ10k value (NQ320k and Trivia-QA in the tooltip and the numbers). "
            )
        )
        + (
            (
                Html("A removable cell must lie significantly below {0}, a crucial one significantly above ").format(
                    plain(removable_below)
                )
                + Html("{0}; reported cells are not tested. ").format(plain(crucial_above))
            )
            if removable_below is not None and crucial_above is not None
            else ""
        )
        + (
            Html("Mapped stage layers: {0}; data-driven stages ").format(
                Html(", ").join(Html("{0} {1}").format(k, v) for k, v in layers_of.items()) or "—"
            )
            + Html("(reported, never deciding): {0}.</p>").format(
                stage_text(data_driven) if isinstance(data_driven, dict) else "none"
            )
        )
        + (Html('<p class="caption">Not measured: {0}.</p>').format(Html("; ").join(missing)) if missing else "")
        + (
            Html(
                '<details><summary>Numbers (measured, CI, corrected p, paper)</summary><div class="scroll"><table class="small">'
            )
            + Html("<thead><tr><th>Component</th><th>Method</th><th>Stage</th><th>Layers</th><th>Role</th>")
            + Html(
                '<th class="num">Measured</th><th class="num">95% CI</th><th class="num">k / n</th><th class="num">p (corrected)</th>'
            )
            + Html(
                "<th>Verdict</th>{0}<th>Not measured</th></tr></thead><tbody>{1}</tbody></table></div></details>"
            ).format(paper_heads, body)
            + Html("</figure>")
        )
    )


@figure_renderer("contribution_profile")
def render_contribution_profile(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Fig. 3: per layer, each component's share of the residual change, its cosine with the
    residual, and (stage III) its cosine with the summed stage-I MLP output."""
    layers = decoder_depth(data, "ratios", "cosines")
    ratios = series_by_layer(data, "ratios", layers)
    cosines = series_by_layer(data, "cosines", layers, required=False)
    at = data.get("stage_cosine_layers")
    if at is not None and (
        not isinstance(at, (list, tuple)) or any(non_negative_int(v) is None or v >= layers for v in at)
    ):
        raise ValueError("stage_cosine_layers is not a list of this decoder's layers")
    primed = series_by_layer(
        data, "stage_cosines", layers, at=[int(v) for v in at] if at is not None else None, required=False
    )
    threshold = finite_real(data.get("threshold"))
    paper, driven, why = read_stages(data.get("stages"), layers)
    names = list(dict.fromkeys([*ratios, *cosines, *primed]))
    styles = series_styles(names, component_style)
    panels = [
        layer_chart(
            ratios,
            styles,
            layers,
            title="‖c_out‖ / ‖r_end − r_begin‖",
            y_label="ratio",
            floor=0.0,
            paper=paper,
            data=driven,
        )
    ]
    if cosines:
        panels.append(
            layer_chart(
                cosines,
                styles,
                layers,
                title="cosine with the residual at the layer's start",
                y_label="cosine",
                fixed=(-1.0, 1.0),
                paper=paper,
                data=driven,
            )
        )
    if primed:
        lines = [(threshold, "threshold", "#b2182b", "5 3")] if threshold is not None else []
        panels.append(
            layer_chart(
                primed,
                styles,
                layers,
                title="stage III: cosine with the summed stage-I MLP output",
                y_label="cosine",
                fixed=(-1.0, 1.0),
                lines=lines,
                paper=paper,
                data=driven,
            )
        )
    n = non_negative_int(data.get("n"))
    columns = [("ratio", ratios), ("cos residual", cosines), ("cos stage-I MLPs", primed)]
    return (
        (
            Html('<figure class="fig contribution-profile">')
            + Html(
                "<figcaption>What each decoder component adds to the residual stream, layer by layer (Fig. 3)</figcaption>"
            )
            + Html('<div class="legend">{0}</div>').format(Html("").join(key_line(styles[name]) for name in names))
            + Html('<div class="panels">{0}</div>').format(Html("").join(panels))
            + Html('<p class="caption">Each point is a mean over the {0} correct queries of ').format(
                n if n is not None else "recorded"
            )
            + Html(
                "one decoder layer (0 = first of {0}): left, the norm of the component's output over the norm of the "
            ).format(layers)
            + Html(
                "layer's whole change to the residual; middle, its cosine with the residual entering the layer; right, for the "
            )
            + Html("stage-III layers the claim tests, its cosine with the summed output of the stage-I MLPs")
        )
        + (
            Html(" (red dashed: the threshold {0})").format(num(threshold, 2))
            if threshold is not None and primed
            else ""
        )
        + (
            Html(". {0}</p>").format(stage_words(paper, driven, why))
            + Html("<details><summary>Numbers (mean per layer)</summary>{0}</details>").format(
                series_table([c for c in columns if c[1]], layers)
            )
            + Html("</figure>")
        )
    )


@figure_renderer("lens_ranks")
def render_lens_ranks(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Fig. 4: mean logit-lens ranks by layer on a log axis, for the residual and the component outputs."""
    layers = decoder_depth(data, "residual", "components")
    residual = series_by_layer(data, "residual", layers)
    components = series_by_layer(data, "components", layers, required=False)
    if not residual and not components:
        raise ValueError("no rank series")
    paper, driven, why = read_stages(data.get("stages"), layers)
    over = str(data.get("over") or "docids")
    styles = series_styles(list(residual), lens_style)
    styles.update(series_styles(list(components), component_style))
    panels = []
    if residual:
        panels.append(
            layer_chart(
                residual,
                styles,
                layers,
                title="residual stream after each layer",
                y_label="mean rank",
                log=True,
                paper=paper,
                data=driven,
            )
        )
    if components:
        panels.append(
            layer_chart(
                components,
                styles,
                layers,
                title="each component's output alone (relevant document)",
                y_label="mean rank",
                log=True,
                paper=paper,
                data=driven,
            )
        )
    n, vocab, docids = (non_negative_int(data.get(k)) for k in ("n", "vocab", "docids"))
    sizes = Html(", ").join(
        p
        for p in (
            Html("{0} vocabulary tokens").format(vocab) if vocab else "",
            Html("{0} document ids").format(docids) if docids else "",
        )
        if p
    )
    return (
        Html('<figure class="fig lens-ranks">')
        + Html("<figcaption>Logit lens: ranks by layer (Fig. 4)</figcaption>")
        + Html('<div class="legend">{0}</div>').format(Html("").join(key_line(s) for s in styles.values()))
        + Html('<div class="panels">{0}</div>').format(Html("").join(panels))
        + Html('<p class="caption">Each point is a mean over the {0} analysed correct queries ').format(
            n if n is not None else "recorded"
        )
        + Html(
            "of a rank read through the model's own final norm and unembedding after a decoder layer (0 = first of {0}); "
        ).format(layers)
        + Html(
            "log scale, lower is better. The relevant document is ranked among the {0}; the docid and other-token "
        ).format(over)
        + Html("lines are the mean rank of those tokens in the whole vocabulary{0}. ").format(
            Html(" ({0})").format(sizes) if sizes else ""
        )
        + Html("{0}</p>").format(stage_words(paper, driven, why))
        + Html("<details><summary>Numbers (mean rank per layer)</summary>")
        + Html("{0}</details>").format(
            series_table([c for c in (("residual", residual), ("component", components)) if c[1]], layers, 2)
        )
        + Html("</figure>")
    )


@figure_renderer("layer_series")
def render_layer_series(data: dict[str, Any], context: dict[str, Any]) -> str:
    """GR-4: a value per layer per component (one layer patched at a time), the boundary as a
    line and each whole-stage value as a bar across its stage."""
    layers = decoder_depth(data, "series")
    series = series_by_layer(data, "series", layers)
    if not series:
        raise ValueError("no series")
    paper, driven, why = read_stages(data.get("stages"), layers)
    boundary = finite_real(data.get("boundary"))
    styles = series_styles(list(series), component_style)
    whole = data.get("whole_stage") or {}
    if not isinstance(whole, dict):
        raise ValueError("whole_stage is not a mapping")
    segments: list[tuple[int, int, float, str, str]] = []
    listed = []
    for spec, value in whole.items():
        component, _, stage = str(spec).partition(":")
        number = finite_real(value)
        style = component_style(component)
        label = Html("{0}, whole stage {1}").format(style[2] if style else component, stage)
        listed.append(Html("{0} {1}").format(label, num(number)))
        members = (paper or {}).get(stage)
        if number is not None and members:
            segments.append((members[0], members[-1], number, style[0] if style else GREY, label))
    log = str(data.get("scale", "linear")) == "log"
    y_label = str(data.get("y_label") or "value")
    chart = layer_chart(
        series,
        styles,
        layers,
        title="",
        y_label=y_label,
        log=log,
        floor=None if log else 0.0,
        lines=[(boundary, "boundary", "#b2182b", "5 3")] if boundary is not None else [],
        segments=segments,
        paper=paper,
        data=driven,
    )
    n = non_negative_int(data.get("n"))
    return (
        (
            Html('<figure class="fig layer-series">')
            + Html("<figcaption>{0}</figcaption>").format(data.get("title") or "Values by layer")
            + Html('<div class="legend">{0}</div>').format(Html("").join(key_line(styles[name]) for name in series))
            + Html('<div class="panels">{0}</div>').format(chart)
            + Html('<p class="caption">Each point: {0} over the {1} correct queries ').format(
                y_label, n if n is not None else "recorded"
            )
            + Html("with that one layer's component patched (layer 0 = first of {0})").format(layers)
        )
        + (Html("; red dashed: the boundary {0}").format(num(boundary, 2)) if boundary is not None else "")
        + ("; thick bars: the same component patched in its whole stage, drawn across the stage" if segments else "")
        + (
            Html(". Whole stages: {0}. {1}</p>").format(
                Html("; ").join(listed) or "none", stage_words(paper, driven, why)
            )
            + Html("<details><summary>Numbers (per layer)</summary>{0}</details>").format(
                series_table([("", series)], layers)
            )
            + Html("</figure>")
        )
    )


def _group_colour(group: str, spare: dict[str, str]) -> str:
    """A writer group's colour: its component's hue, lighter for later stages; the embedding grey."""
    if group == "embedding":
        return "#b6bdc5"
    component, _, stage = group.partition("/")
    base = COMPONENT_RGB.get(component_key(component))
    if base is None:
        return spare.setdefault(group, SPARE_COLOURS[len(spare) % len(SPARE_COLOURS)])
    return "#{:02x}{:02x}{:02x}".format(*mix(base, (255, 255, 255), STAGE_TINT.get(stage, 0.2)))


def _group_order(group: str) -> tuple[int, int, str]:
    """Writer groups in a fixed order: the embedding, MLP, cross-, self-attention; earlier stages first."""
    component, _, stage = group.partition("/")
    order = ["embedding", "mlp", "cross_attention", "self_attention"]
    key = component_key(component)
    return (
        order.index(key) if key in order else len(order),
        list(STAGE_TINT).index(stage) if stage in STAGE_TINT else 9,
        group,
    )


@figure_renderer("attribution_shares")
def render_attribution_shares(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Fig. 5: for each reader layer, the writer groups' shares of the positive contribution to
    what it reads, as stacked bars; one panel per reader; the head-sharing numbers below."""
    panels = data["panels"]
    if not isinstance(panels, list):
        raise ValueError("panels is not a list")
    parsed = []
    for k, panel in enumerate(panels):
        if not isinstance(panel, dict) or not isinstance(panel.get("shares"), dict):
            raise ValueError(f"panel {k + 1} has no shares by reader layer")
        readers = [non_negative_int(v) for v in panel.get("layers") or [int(key) for key in panel["shares"]]]
        if any(r is None for r in readers):
            raise ValueError(f"panel {k + 1}: reader layers are not layer numbers")
        shares = {}
        for layer in readers:
            groups = panel["shares"].get(str(layer), {})
            if not isinstance(groups, dict):
                raise ValueError(f"panel {k + 1}, layer {layer}: shares are not a mapping of group to share")
            shares[layer] = {str(g): finite_real(v) for g, v in groups.items()}
        parsed.append(
            (str(panel.get("title") or panel.get("reader") or Html("panel {0}").format(k + 1)), readers, shares)
        )
    groups = sorted({g for _, _, shares in parsed for row in shares.values() for g in row}, key=_group_order)
    spare: dict[str, str] = {}
    colours = {g: _group_colour(g, spare) for g in groups}
    figures, tables = [], []
    for title, readers, shares in parsed:
        bw = max(20, min(44, 420 // max(len(readers), 1)))
        left, top, plot_h = 44, 10, 180
        plot_w = max(bw * len(readers), 110)
        width, height = left + plot_w + 10, top + plot_h + 40
        svg = [
            (
                Html('<svg class="heatmap chart stacked" viewBox="0 0 {0} {1}" width="{2}" height="{3}" ').format(
                    width, height, width, height
                )
                + Html('role="img" aria-label="{0}: writer group shares per reader layer">').format(title)
            )
        ]
        for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
            position = top + plot_h * (1 - tick)
            svg.append(y_gridline(left, left + plot_w, position, f"{tick:g}"))
        for k, layer in enumerate(readers):
            bottom: float
            x0, bottom = left + k * bw, top + plot_h
            row = shares[layer]
            known = [(g, v) for g in groups if (v := row.get(g)) is not None and v > 0]
            if not known:
                svg.append(
                    Html('<text class="tick" x="{0}" y="{1}" text-anchor="middle">—</text>').format(
                        x0 + bw / 2, bottom - 4
                    )
                )
            for group, value in known:
                h = plot_h * min(value, 1.0)
                bottom -= h
                svg.append(
                    Html('<rect x="{0}" y="{1:.1f}" width="{2}" height="{3:.1f}" fill="{4}">').format(
                        x0 + 2, bottom, bw - 4, h, colours[group]
                    )
                    + Html("<title>{0}</title></rect>").format(
                        Html("reader layer {0}: {1} {2:.3f}").format(layer, group, value)
                    )
                )
            svg.append(
                Html('<text class="tick" x="{0}" y="{1}" text-anchor="middle">{2}</text>').format(
                    x0 + bw / 2, top + plot_h + 14, layer
                )
            )
        svg.append(x_axis(left, left + plot_w, top + plot_h, "reader layer", top + plot_h + 32))
        if not readers:
            svg.append(
                Html('<text class="tick" x="{0}" y="{1}" text-anchor="middle">no readers</text>').format(
                    left + plot_w / 2, top + plot_h / 2
                )
            )
        svg.append(Html("</svg>"))
        figures.append(
            Html('<div class="panel-wide"><div class="panel-title">{0}</div>{1}</div>').format(
                title, Html("").join(svg)
            )
        )
        head = Html("").join(Html('<th class="num">{0}</th>').format(g) for g in groups)
        body = Html("").join(
            Html("<tr><th>{0}</th>").format(layer)
            + Html("").join(Html('<td class="num">{0}</td>').format(num(shares[layer].get(g))) for g in groups)
            + Html("</tr>")
            for layer in readers
        )
        tables.append(
            Html("<h4>{0}</h4>").format(title)
            + Html(
                '<div class="scroll"><table class="small grid-table"><thead><tr><th>reader</th>{0}</tr></thead>'
            ).format(head)
            + Html("<tbody>{0}</tbody></table></div>").format(body)
        )
    legend = Html("").join(
        Html('<span class="swatch" style="background:{0}"></span><span class="tick">{1}</span>').format(colours[g], g)
        for g in groups
    )
    heads = data.get("heads")
    head_words = ""
    if isinstance(heads, dict):
        top_k, candidates = non_negative_int(heads.get("k")), non_negative_int(heads.get("candidates"))
        paper_share = finite_real(heads.get("paper_share_in_all"))
        head_words = (
            (
                Html('<p class="caption"><strong>Shared heads:</strong> of the {0} ').format(
                    candidates if candidates is not None else "?"
                )
                + Html("candidate cross-attention heads, {0} are among the top ").format(
                    num(finite_real(heads.get("share_in_all")))
                )
                + Html("{0} contributors to some active stage-III neuron for every analysed correct query, ").format(
                    top_k if top_k is not None else "?"
                )
                + Html("{0} for at least one").format(num(finite_real(heads.get("share_in_any"))))
            )
            + (Html(" (paper: {0} for every query)").format(num(paper_share, 2)) if paper_share is not None else "")
            + Html(".</p>")
        )
    paper, driven, why = read_stages(
        data.get("stages"), non_negative_int(data.get("layers")) or 10**6
    )  # only named here
    n = non_negative_int(data.get("n"))
    return (
        Html('<figure class="fig attribution-shares">')
        + Html("<figcaption>Who reads whom: writer groups' shares of what each reader reads (Fig. 5)</figcaption>")
        + Html('<div class="legend"><span class="muted">writer group (component/stage):</span> {0}</div>').format(
            legend or "none"
        )
        + Html('<div class="panels">{0}</div>').format(Html("").join(figures) or Html("<p class=muted>no panels</p>"))
        + Html(
            '<p class="caption">One bar per reader layer: each writer group\'s share of the positive contribution to the '
        )
        + Html(
            "reader's activations (exact decomposition into the start embedding and every earlier component output), "
        )
        + Html("averaged over the {0} analysed correct queries; darker = earlier stage. ").format(
            n if n is not None else "recorded"
        )
        + Html("{0}</p>").format(stage_words(paper, driven, why, drawn=False))
        + Html("{0}").format(head_words)
        + Html("<details><summary>Numbers (share per reader layer)</summary>{0}</details>").format(
            Html("").join(tables)
        )
        + Html("</figure>")
    )


@figure_renderer("metric_bars")
def render_metric_bars(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Measured shares as horizontal bars with their CI, a reference tick per bar and the paper's value."""
    bars = data["bars"]
    if not isinstance(bars, list) or not all(isinstance(b, dict) and "label" in b for b in bars):
        raise ValueError("bars is not a list of labelled bars")
    for bar in bars:
        ci = bar.get("ci")
        if ci is not None and not (isinstance(ci, (list, tuple)) and len(ci) == 2):
            raise ValueError(f"bar {bar['label']!r}: ci is not a pair")
    unit = str(data.get("unit") or "value")
    reference_label = str(data.get("reference_label") or "reference")
    title = str(data.get("title") or unit)
    values = [
        v
        for b in bars
        for v in (
            finite_real(b.get("measured")),
            finite_real(b.get("reference")),
            finite_real(b.get("paper")),
            finite_real(b.get("bound")),
            *[finite_real(c) for c in (b.get("ci") or [])],
        )
        if v is not None
    ]
    start = min(values + [0.0])
    end = nice_ceiling(max(values + [0.0])) if max(values + [0.0]) > 0 else 1.0
    left, plot_w, row, top = 24, 440, 50, 6
    width, height = left + plot_w + 90, top + row * len(bars) + 30

    def x(value: float) -> float:
        return left + plot_w * (min(max(value, start), end) - start) / (end - start)

    svg = [
        (
            Html('<svg class="heatmap chart hbars" viewBox="0 0 {0} {1}" width="{2}" height="{3}" role="img" ').format(
                width, height, width, height
            )
            + Html('aria-label="{0}">').format(title)
        )
    ]
    for tick in (start + (end - start) * t / 4 for t in range(5)):
        svg.append(
            Html('<line x1="{0:.1f}" y1="{1}" x2="{2:.1f}" y2="{3}" class="grid"/>').format(
                x(tick), top, x(tick), top + row * len(bars)
            )
        )
        svg.append(
            Html('<text class="tick" x="{0:.1f}" y="{1}" text-anchor="middle">{2:.4g}</text>').format(
                x(tick), top + row * len(bars) + 14, tick
            )
        )
    for k, bar in enumerate(bars):
        y0 = top + k * row
        measured, reference, paper, bound = (
            finite_real(bar.get(f)) for f in ("measured", "reference", "paper", "bound")
        )
        ci = [finite_real(c) for c in bar.get("ci") or []]
        tip = [Html("{0}: {1}").format(bar["label"], _short(measured) if measured is not None else "not measured")]
        if len(ci) == 2 and None not in ci:
            tip.append(Html("95% CI [{0}, {1}]").format(_short(ci[0]), _short(ci[1])))
        for name, value in ((reference_label, reference), ("paper", paper), ("bound", bound)):
            if value is not None:
                tip.append(Html("{0} {1}").format(name, _short(value)))
        other = bar.get("paper_other")
        if isinstance(other, dict):
            tip.extend(
                Html("paper {0} {1}").format(name, _short(v)) for name, v in other.items() if finite_real(v) is not None
            )
        parts = [Html('<text class="part" x="{0}" y="{1}">{2}</text>').format(left, y0 + 12, bar["label"])]
        cy = y0 + 27
        if measured is not None:
            parts.append(
                Html('<rect x="{0:.1f}" y="{1}" width="{2:.1f}" ').format(
                    x(min(0.0, measured)), cy - 8, max(abs(x(measured) - x(0.0)), 0.8)
                )
                + Html('height="16" rx="1.5" fill="{0}" fill-opacity="0.85"/>').format(BLUE)
            )
            parts.append(
                Html('<text class="barval" x="{0}" y="{1}">{2}</text>').format(
                    left + plot_w + 8, cy + 4, _short(measured)
                )
            )
        else:
            parts.append(Html('<text class="tick" x="{0}" y="{1}">—</text>').format(left + plot_w + 8, cy + 4))
        if len(ci) == 2 and None not in ci:
            a, b = x(ci[0]), x(ci[1])
            parts.append(
                Html('<path d="M{0:.1f} {1}v10M{2:.1f} {3}H{4:.1f}M{5:.1f} {6}v10" stroke="{7}" ').format(
                    a, cy - 5, a, cy, b, b, cy - 5, OUTLINE
                )
                + Html('stroke-width="1.4" fill="none"/>')
            )
        if reference is not None:
            parts.append(
                Html('<line x1="{0:.1f}" y1="{1}" x2="{2:.1f}" y2="{3}" ').format(
                    x(reference), cy - 12, x(reference), cy + 12
                )
                + Html('stroke="{0}" stroke-width="2.2"/>').format(OUTLINE)
            )
        if bound is not None:
            parts.append(
                Html('<line x1="{0:.1f}" y1="{1}" x2="{2:.1f}" y2="{3}" stroke="#b2182b" ').format(
                    x(bound), cy - 12, x(bound), cy + 12
                )
                + Html('stroke-width="1.6" stroke-dasharray="3 2"/>')
            )
        if paper is not None:
            parts.append(
                Html('<path d="M{0:.1f} {1}l6 6l-6 6l-6 -6z" fill="{2}" stroke="#ffffff" stroke-width="1"/>').format(
                    x(paper), cy - 6, ORANGE
                )
            )
        svg.append(Html("<g><title>{0}</title>{1}</g>").format(Html("; ").join(tip), Html("").join(parts)))
    if not bars:
        svg.append(
            Html('<text class="tick" x="{0}" y="{1}" text-anchor="middle">nothing measured</text>').format(
                left + plot_w / 2, top + 14
            )
        )
    svg.append(Html("</svg>"))
    has_bound = any(finite_real(b.get("bound")) is not None for b in bars)
    legend = (
        Html(
            '<span class="swatch" style="background:{0}"></span><span class="tick">measured (whisker: 95% CI)</span>'
        ).format(BLUE)
        + Html(
            '<span class="line-key"><svg width="12" height="14" aria-hidden="true"><line x1="6" y1="0" x2="6" y2="14" '
        )
        + Html('stroke="{0}" stroke-width="2.2"/></svg>{1}</span>').format(OUTLINE, reference_label)
        + Html('<span class="line-key"><svg width="14" height="14" aria-hidden="true"><path d="M7 1l6 6l-6 6l-6 -6z" ')
        + Html('fill="{0}"/></svg>paper</span>').format(ORANGE)
    ) + (
        (
            Html(
                '<span class="line-key"><svg width="12" height="14" aria-hidden="true"><line x1="6" y1="0" x2="6" y2="14" '
            )
            + Html('stroke="#b2182b" stroke-width="1.6" stroke-dasharray="3 2"/></svg>declared bound</span>')
        )
        if has_bound
        else ""
    )
    notes = [Html("{0}: {1}").format(b["label"], b["note"]) for b in bars if b.get("note")]
    rows = Html("").join(
        (
            Html('<tr><td>{0}</td><td class="num">{1}</td>').format(b["label"], num(finite_real(b.get("measured")), 4))
            + Html('<td class="num">{0}</td>').format(
                interval([finite_real(c) for c in b["ci"]], 4) if b.get("ci") else "—"
            )
            + Html('<td class="num">{0}</td><td class="num">{1}</td>').format(
                num(finite_real(b.get("reference")), 4), num(finite_real(b.get("paper")), 4)
            )
            + Html('<td class="num">{0}</td>').format(num(finite_real(b.get("bound")), 4))
            + Html("<td>{0}").format(
                escape(Html(", ").join(Html("{0} {1}").format(k, plain(v)) for k, v in b["paper_other"].items()))
                if isinstance(b.get("paper_other"), dict)
                else ""
            )
            + Html("{0}</td></tr>").format(b.get("note") or "")
        )
        for b in bars
    )
    n = non_negative_int(data.get("n"))
    return (
        (
            Html('<figure class="fig metric-bars">')
            + Html("<figcaption>{0}</figcaption>").format(title)
            + Html('<div class="heatmap-wrap">{0}</div>').format(Html("").join(svg))
            + Html('<div class="legend">{0}</div>').format(legend)
            + Html('<p class="caption">Each bar: a measured {0}').format(unit)
        )
        + (Html(" over {0} queries").format(n) if n is not None else "")
        + Html("; black tick: {0}; diamond: the paper's value where it has one.").format(reference_label)
        + (Html(" {0}").format(data["caption"]) if data.get("caption") else "")
        + (Html(" {0}").format(data["note"]) if data.get("note") else "")
        + Html("</p>")
        + (
            Html('<ul class="caption found">{0}</ul>').format(
                Html("").join(Html("<li>{0}</li>").format(n) for n in notes)
            )
            if notes
            else ""
        )
        + (
            Html('<details><summary>Numbers</summary><div class="scroll"><table class="small"><thead><tr><th>Bar</th>')
            + Html('<th class="num">Measured</th><th class="num">95% CI</th><th class="num">{0}</th>').format(
                reference_label
            )
            + Html('<th class="num">Paper</th><th class="num">Bound</th><th>Other</th></tr></thead>')
            + Html("<tbody>{0}</tbody></table></div></details>").format(rows)
            + Html("</figure>")
        )
    )


@figure_renderer("promoted_tokens")
def render_promoted_tokens(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Table 6: per example query, the strongest stage-II cross-attention heads and the tokens
    their output promotes (model vocabulary: escaped like everything else), with the judge's cosines."""
    examples = data["examples"]
    if not isinstance(examples, list):
        raise ValueError("examples is not a list")
    rows = []
    for example in examples:
        heads = example.get("heads") if isinstance(example, dict) else None
        if not isinstance(heads, list):
            raise ValueError("an example has no list of heads")
        cells = []
        for head in heads:
            tokens = head.get("tokens") if isinstance(head, dict) else None
            if not isinstance(tokens, list):
                raise ValueError("a head has no list of tokens")
            chips = Html(" ").join(
                Html('<code class="tok">{0}</code>').format(t) if str(t) else Html('<code class="tok muted">∅</code>')
                for t in tokens
            )
            cells.append(
                Html('<td class="nowrap">{0}/{1}</td>').format(head.get("layer", "?"), head.get("head", "?"))
                + Html("<td>{0}</td>").format(chips or Html("<span class=muted>none</span>"))
            )
        query = Html('<td rowspan="{0}">{1}</td>').format(max(len(cells), 1), example.get("query", ""))
        if not cells:
            rows.append(Html('<tr>{0}<td colspan="2" class="muted">no heads</td></tr>').format(query))
        rows.extend(Html("<tr>{0}{1}</tr>").format(query if k == 0 else "", cell) for k, cell in enumerate(cells))
    promoted, random_ = finite_real(data.get("mean_promoted")), finite_real(data.get("mean_random"))
    other = finite_real(data.get("mean_other_query"))  # absent from runs before the shuffled-query control
    judged = (
        (
            Html("Mean cosine to the query by {0}: promoted tokens ").format(data.get("judge") or "the judge")
            + Html("<strong>{0}</strong>, as many random vocabulary tokens <strong>{1}</strong>").format(
                num(promoted), num(random_)
            )
        )
        + (
            Html(" (difference {0})").format(num(promoted - random_, signed=True))
            if promoted is not None and random_ is not None
            else ""
        )
        + (
            Html(
                "; the same promoted tokens to another query of the study (seeded derangement) <strong>{0}</strong>"
            ).format(num(other))
            if other is not None
            else ""
        )
        + "."
    )
    return (
        Html('<figure class="fig promoted-tokens">')
        + Html("<figcaption>Tokens promoted by stage-II cross-attention heads (Table 6)</figcaption>")
        + Html('<div class="scroll"><table class="small tokens"><thead><tr><th>Query</th><th>Head (layer/head)</th>')
        + Html("<th>Promoted tokens (logit lens, top first)</th></tr></thead><tbody>{0}").format(
            Html("").join(rows) or Html("<tr><td colspan=3 class=muted>no examples</td></tr>")
        )
        + Html("</tbody></table></div>")
        + Html('<p class="caption">{0} {1}</p>').format(data.get("caption") or "", judged)
        + Html("</figure>")
    )
