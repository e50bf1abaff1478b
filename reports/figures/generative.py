"""Figures of the generative-retrieval wing (DSI-style T5 models, GR-* claims): stage
patching (Table 3), what each component adds by layer (Fig. 3), logit-lens ranks (Fig. 4),
one-layer patching, who reads whom (Fig. 5), measured shares as bars and the tokens the
stage-II heads promote (Table 6)."""

from __future__ import annotations

import numbers
from typing import Any

from reports.figures.decoder_layers import (
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
from reports.figures.registry import figure_renderer
from reports.formatting import badge, esc, finite_real, interval, non_negative_int, num, plain, pval
from reports.svg import BLUE, DROP, GREY, ORANGE, OUTLINE, hatch, mix, nice_ceiling, sequential

COMPONENT_RGB = {"mlp": (44, 111, 173), "cross_attention": (192, 102, 30), "self_attention": (91, 140, 58)}
STAGE_TINT = {"I": 0.0, "II": 0.38, "II+III": 0.38, "III": 0.62}
VERDICT_STROKE = {"SUPPORTED": "#1a7f37", "CONTRADICTED": "#a40e26", "INCONCLUSIVE": "#bf8700"}
VERDICT_MARK = {"SUPPORTED": "✓", "CONTRADICTED": "✗", "INCONCLUSIVE": "?"}


def _short(value: float) -> str:
    """A value for a tooltip or bar label: three decimals, or three significant digits when tiny or huge."""
    return f"{value:.3f}" if value == 0 or 0.01 <= abs(value) < 1000 else f"{value:.3g}"


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
    removable_below, crucial_above = (finite_real(data.get(k, data.get("boundary"))) for k in ("removable_below", "crucial_above"))
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
        f'<svg class="heatmap stages" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        'aria-label="share of correct queries leaving rank 1 per component, patching method and stage">'
    ]
    for j, stage in enumerate(stages):
        cx = label_w + j * cw + cw / 2
        svg.append(f'<text class="part" x="{cx}" y="18" text-anchor="middle">stage {esc(stage)}</text>')
        if layers_of.get(stage) is not None:
            svg.append(f'<text class="sub" x="{cx}" y="34" text-anchor="middle" fill="#59636e">layers {esc(layers_of[stage])}</text>')
    for g, component in enumerate(components):
        y0 = top + g * len(methods) * ch
        if g:
            svg.append(f'<line x1="4" y1="{y0}" x2="{width - 4}" y2="{y0}" stroke="#8c959f"/>')
        svg.append(
            f'<text class="part" x="6" y="{y0 + len(methods) * ch / 2 + 4}" style="font-weight:650">{esc(cname(component))}</text>'
        )
    for i, (component, method) in enumerate(rows):
        y0 = top + i * ch
        svg.append(f'<text class="part" x="{label_w - 10}" y="{y0 + ch / 2 + 4}" text-anchor="end">{esc(mname(method))}</text>')
        for j, stage in enumerate(stages):
            x0 = label_w + j * cw
            cell = grid.get((component, method, stage))
            name = f"{cname(component)}, {mname(method)}, stage {stage}"
            if cell is None:
                svg.append(
                    f'<g><title>{esc(name)}: not in this run</title>{hatch(x0 + 1, y0 + 1, cw - 2, ch - 2)}'
                    f'<text class="sub" x="{x0 + cw / 2}" y="{y0 + ch / 2 + 4}" text-anchor="middle" fill="#59636e">not declared</text></g>'
                )
                continue
            value, role, verdict = finite_real(cell.get("measured")), str(cell.get("role", "")), cell.get("verdict")
            tip = [f"{name} (layers {cell.get('layers', '?')}), {role}"]
            if value is not None:
                tip.append(f"measured {value:.3f}" + (f" ({cell['k']} of {cell['n']})" if "k" in cell and "n" in cell else "")
                           + (f", 95% CI {interval(cell.get('ci'))}" if cell.get("ci") is not None else ""))
            if cell.get("p_corrected") is not None:
                tip.append(f"p corrected {pval(cell.get('p_corrected'))}, {verdict}")
            tip.append("paper " + ", ".join(f"{label} {num(finite_real(cell.get(field)), 3)}" for field, label in models.items()
                                            if cell.get(field) is not None))
            if cell.get("missing"):
                tip.append(f"not measured: {cell['missing']}")
            if value is None:
                ink, main = "#59636e", "not measured" if cell.get("missing") else "no value"
                background = hatch(x0 + 1, y0 + 1, cw - 2, ch - 2)
            else:
                fill, ink = sequential(value, DROP)
                background = f'<rect x="{x0 + 1}" y="{y0 + 1}" width="{cw - 2}" height="{ch - 2}" rx="3" fill="{fill}"/>'
                main = num(value) + (f" {VERDICT_MARK[str(verdict)]}" if str(verdict) in VERDICT_MARK else "")
            paper = finite_real(cell.get("paper"))
            svg.append(
                f"<g><title>{esc('; '.join(tip))}</title>{background}"
                f'<text class="val" x="{x0 + cw / 2}" y="{y0 + 21}" text-anchor="middle" fill="{ink}">{esc(main)}</text>'
                f'<text class="sub" x="{x0 + cw / 2}" y="{y0 + 38}" text-anchor="middle" fill="{ink}">'
                f'{esc(role)}{" · paper " + num(paper, 3) if paper is not None else ""}</text>'
            )
            if str(verdict) in VERDICT_STROKE:
                svg.append(
                    f'<rect x="{x0 + 2.5}" y="{y0 + 2.5}" width="{cw - 5}" height="{ch - 5}" rx="3" fill="none" '
                    f'stroke="{VERDICT_STROKE[str(verdict)]}" stroke-width="2.2"/>'
                )
            svg.append("</g>")
    svg.append("</svg>")
    legend = "".join(
        f'<span class="swatch" style="background:{sequential(t, DROP)[0]}"></span><span class="tick">{t:g}</span>'
        for t in (0.0, 0.25, 0.5, 0.75, 1.0)
    )
    legend += "".join(
        f'<span class="swatch" style="background:#fff;border:2px solid {colour}"></span>'
        f'<span class="tick">{VERDICT_MARK[v]} {v.lower()}</span>'
        for v, colour in VERDICT_STROKE.items()
    )
    legend += '<span class="swatch" style="background:repeating-linear-gradient(45deg,#eef0f2 0 3px,#c3c9d0 3px 5px)"></span>' \
              '<span class="tick">not measured</span>'
    missing = sorted({str(c["missing"]) for c in grid.values() if c.get("missing")})
    body = "".join(
        f"<tr><td>{esc(cname(c))}</td><td>{esc(mname(m))}</td><td>{esc(s)}</td><td>{esc(cell.get('layers', ''))}</td>"
        f"<td>{esc(cell.get('role', ''))}</td>"
        f'<td class="num">{num(finite_real(cell.get("measured")))}</td><td class="num">{interval(cell.get("ci"))}</td>'
        f'<td class="num">{num(cell.get("k"))} / {num(cell.get("n"))}</td><td class="num">{pval(cell.get("p_corrected"))}</td>'
        f"<td>{badge(cell['verdict']) if cell.get('verdict') else ''}</td>"
        + "".join(f'<td class="num">{num(finite_real(cell.get(field)), 4)}</td>' for field in models)
        + f"<td>{esc(cell.get('missing') or '')}</td></tr>"
        for (c, m, s), cell in sorted(grid.items(), key=lambda kv: (components.index(kv[0][0]), methods.index(kv[0][1]),
                                                                   stages.index(kv[0][2])))
    )
    paper_heads = "".join(f'<th class="num">paper {esc(label)}</th>' for label in models.values())
    data_driven = data.get("stages_data_driven")
    n = non_negative_int(data.get("n"))
    return (
        '<figure class="fig stage-table">'
        "<figcaption>Stage patching (Table 3): share of correct queries whose relevant document leaves rank 1</figcaption>"
        f'<div class="heatmap-wrap">{"".join(svg)}</div>'
        f'<div class="legend"><span class="muted">share leaving rank 1:</span> {legend}</div>'
        f'<p class="caption">Each cell: the component\'s output patched in every layer of the stage (zero, the mean '
        f"output over a held-apart split, or the pre-trained T5's output for the same query), over the "
        f"{n if n is not None else 'recorded'} correct queries; big number = measured share leaving rank 1, small type = "
        f"the role the paper gives the cell and its NQ10k value (NQ320k and Trivia-QA in the tooltip and the numbers). "
        + (f"A removable cell must lie significantly below {plain(removable_below)}, a crucial one significantly above "
           f"{plain(crucial_above)}; reported cells are not tested. "
           if removable_below is not None and crucial_above is not None else "")
        + f"Mapped stage layers: {esc(', '.join(f'{k} {v}' for k, v in layers_of.items()) or '—')}; data-driven stages "
        f"(reported, never deciding): {esc(stage_text(data_driven) if isinstance(data_driven, dict) else 'none')}.</p>"
        + (f'<p class="caption">Not measured: {esc("; ".join(missing))}.</p>' if missing else "")
        + '<details><summary>Numbers (measured, CI, corrected p, paper)</summary><div class="scroll"><table class="small">'
        "<thead><tr><th>Component</th><th>Method</th><th>Stage</th><th>Layers</th><th>Role</th>"
        '<th class="num">Measured</th><th class="num">95% CI</th><th class="num">k / n</th><th class="num">p (corrected)</th>'
        f"<th>Verdict</th>{paper_heads}<th>Not measured</th></tr></thead><tbody>{body}</tbody></table></div></details>"
        "</figure>"
    )


@figure_renderer("contribution_profile")
def render_contribution_profile(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Fig. 3: per layer, each component's share of the residual change, its cosine with the
    residual, and (stage III) its cosine with the summed stage-I MLP output."""
    layers = decoder_depth(data, "ratios", "cosines")
    ratios = series_by_layer(data, "ratios", layers)
    cosines = series_by_layer(data, "cosines", layers, required=False)
    at = data.get("stage_cosine_layers")
    if at is not None and (not isinstance(at, (list, tuple)) or any(non_negative_int(v) is None or v >= layers for v in at)):
        raise ValueError("stage_cosine_layers is not a list of this decoder's layers")
    primed = series_by_layer(data, "stage_cosines", layers, at=[int(v) for v in at] if at is not None else None, required=False)
    threshold = finite_real(data.get("threshold"))
    paper, driven, why = read_stages(data.get("stages"), layers)
    names = list(dict.fromkeys([*ratios, *cosines, *primed]))
    styles = series_styles(names, component_style)
    panels = [layer_chart(ratios, styles, layers, title="‖c_out‖ / ‖r_end − r_begin‖", y_label="ratio", floor=0.0,
                           paper=paper, data=driven)]
    if cosines:
        panels.append(layer_chart(cosines, styles, layers, title="cosine with the residual at the layer's start",
                                   y_label="cosine", fixed=(-1.0, 1.0), paper=paper, data=driven))
    if primed:
        lines = [(threshold, "threshold", "#b2182b", "5 3")] if threshold is not None else []
        panels.append(layer_chart(primed, styles, layers, title="stage III: cosine with the summed stage-I MLP output",
                                   y_label="cosine", fixed=(-1.0, 1.0), lines=lines, paper=paper, data=driven))
    n = non_negative_int(data.get("n"))
    columns = [("ratio", ratios), ("cos residual", cosines), ("cos stage-I MLPs", primed)]
    return (
        '<figure class="fig contribution-profile">'
        "<figcaption>What each decoder component adds to the residual stream, layer by layer (Fig. 3)</figcaption>"
        f'<div class="legend">{"".join(key_line(styles[name]) for name in names)}</div>'
        f'<div class="panels">{"".join(panels)}</div>'
        f'<p class="caption">Each point is a mean over the {n if n is not None else "recorded"} correct queries of '
        f"one decoder layer (0 = first of {layers}): left, the norm of the component's output over the norm of the "
        "layer's whole change to the residual; middle, its cosine with the residual entering the layer; right, for the "
        "stage-III layers the claim tests, its cosine with the summed output of the stage-I MLPs"
        + (f" (red dashed: the threshold {num(threshold, 2)})" if threshold is not None and primed else "")
        + f". {stage_words(paper, driven, why)}</p>"
        f"<details><summary>Numbers (mean per layer)</summary>{series_table([c for c in columns if c[1]], layers)}</details>"
        "</figure>"
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
        panels.append(layer_chart(residual, styles, layers, title="residual stream after each layer", y_label="mean rank",
                                   log=True, paper=paper, data=driven))
    if components:
        panels.append(layer_chart(components, styles, layers, title="each component's output alone (relevant document)",
                                   y_label="mean rank", log=True, paper=paper, data=driven))
    n, vocab, docids = (non_negative_int(data.get(k)) for k in ("n", "vocab", "docids"))
    sizes = ", ".join(p for p in (f"{vocab} vocabulary tokens" if vocab else "", f"{docids} document ids" if docids else "") if p)
    return (
        '<figure class="fig lens-ranks">'
        "<figcaption>Logit lens: ranks by layer (Fig. 4)</figcaption>"
        f'<div class="legend">{"".join(key_line(s) for s in styles.values())}</div>'
        f'<div class="panels">{"".join(panels)}</div>'
        f'<p class="caption">Each point is a mean over the {n if n is not None else "recorded"} analysed correct queries '
        f"of a rank read through the model's own final norm and unembedding after a decoder layer (0 = first of {layers}); "
        f"log scale, lower is better. The relevant document is ranked among the {esc(over)}; the docid and other-token "
        f"lines are the mean rank of those tokens in the whole vocabulary{f' ({esc(sizes)})' if sizes else ''}. "
        f"{stage_words(paper, driven, why)}</p>"
        f"<details><summary>Numbers (mean rank per layer)</summary>"
        f"{series_table([c for c in (('residual', residual), ('component', components)) if c[1]], layers, 2)}</details>"
        "</figure>"
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
    segments, listed = [], []
    for spec, value in whole.items():
        component, _, stage = str(spec).partition(":")
        number = finite_real(value)
        style = component_style(component)
        label = f"{style[2] if style else component}, whole stage {stage}"
        listed.append(f"{esc(label)} {num(number)}")
        members = (paper or {}).get(stage)
        if number is not None and members:
            segments.append((members[0], members[-1], number, style[0] if style else GREY, label))
    log = str(data.get("scale", "linear")) == "log"
    y_label = str(data.get("y_label") or "value")
    chart = layer_chart(series, styles, layers, title="", y_label=y_label, log=log,
                         floor=None if log else 0.0, lines=[(boundary, "boundary", "#b2182b", "5 3")] if boundary is not None else [],
                         segments=segments, paper=paper, data=driven)
    n = non_negative_int(data.get("n"))
    return (
        '<figure class="fig layer-series">'
        f"<figcaption>{esc(data.get('title') or 'Values by layer')}</figcaption>"
        f'<div class="legend">{"".join(key_line(styles[name]) for name in series)}</div>'
        f'<div class="panels">{chart}</div>'
        f'<p class="caption">Each point: {esc(y_label)} over the {n if n is not None else "recorded"} correct queries '
        f"with that one layer's component patched (layer 0 = first of {layers})"
        + (f"; red dashed: the boundary {num(boundary, 2)}" if boundary is not None else "")
        + ("; thick bars: the same component patched in its whole stage, drawn across the stage" if segments else "")
        + f". Whole stages: {'; '.join(listed) or 'none'}. {stage_words(paper, driven, why)}</p>"
        f"<details><summary>Numbers (per layer)</summary>{series_table([('', series)], layers)}</details>"
        "</figure>"
    )


def _group_colour(group: str, spare: dict[str, str]) -> str:
    """A writer group's colour: its component's hue, lighter for later stages; the embedding grey."""
    if group == "embedding":
        return "#b6bdc5"
    component, _, stage = group.partition("/")
    base = COMPONENT_RGB.get(component_key(component))
    if base is None:
        return spare.setdefault(group, SPARE_COLOURS[len(spare) % len(SPARE_COLOURS)])
    return "#%02x%02x%02x" % mix(base, (255, 255, 255), STAGE_TINT.get(stage, 0.2))


def _group_order(group: str) -> tuple[int, int, str]:
    """Writer groups in a fixed order: the embedding, MLP, cross-, self-attention; earlier stages first."""
    component, _, stage = group.partition("/")
    order = ["embedding", "mlp", "cross_attention", "self_attention"]
    key = component_key(component)
    return (order.index(key) if key in order else len(order), list(STAGE_TINT).index(stage) if stage in STAGE_TINT else 9, group)


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
        parsed.append((str(panel.get("title") or panel.get("reader") or f"panel {k + 1}"), readers, shares))
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
            f'<svg class="heatmap chart stacked" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{esc(title)}: writer group shares per reader layer">'
        ]
        for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
            position = top + plot_h * (1 - tick)
            svg.append(f'<line x1="{left}" y1="{position:.1f}" x2="{left + plot_w}" y2="{position:.1f}" class="grid"/>')
            svg.append(f'<text class="tick" x="{left - 6}" y="{position + 3.5:.1f}" text-anchor="end">{tick:g}</text>')
        for k, layer in enumerate(readers):
            x0, bottom = left + k * bw, top + plot_h
            row = shares[layer]
            known = [(g, v) for g in groups if (v := row.get(g)) is not None and v > 0]
            if not known:
                svg.append(f'<text class="tick" x="{x0 + bw / 2}" y="{bottom - 4}" text-anchor="middle">—</text>')
            for group, value in known:
                h = plot_h * min(value, 1.0)
                bottom -= h
                svg.append(
                    f'<rect x="{x0 + 2}" y="{bottom:.1f}" width="{bw - 4}" height="{h:.1f}" fill="{colours[group]}">'
                    f"<title>{esc(f'reader layer {layer}: {group} {value:.3f}')}</title></rect>"
                )
            svg.append(f'<text class="tick" x="{x0 + bw / 2}" y="{top + plot_h + 14}" text-anchor="middle">{layer}</text>')
        svg.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="base"/>')
        svg.append(f'<text class="axis" x="{left + plot_w / 2}" y="{top + plot_h + 32}" text-anchor="middle">reader layer</text>')
        if not readers:
            svg.append(f'<text class="tick" x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle">no readers</text>')
        svg.append("</svg>")
        figures.append(f'<div class="panel-wide"><div class="panel-title">{esc(title)}</div>{"".join(svg)}</div>')
        head = "".join(f'<th class="num">{esc(g)}</th>' for g in groups)
        body = "".join(
            f"<tr><th>{layer}</th>" + "".join(f'<td class="num">{num(shares[layer].get(g))}</td>' for g in groups) + "</tr>"
            for layer in readers
        )
        tables.append(f"<h4>{esc(title)}</h4>"
                      f'<div class="scroll"><table class="small grid-table"><thead><tr><th>reader</th>{head}</tr></thead>'
                      f"<tbody>{body}</tbody></table></div>")
    legend = "".join(
        f'<span class="swatch" style="background:{colours[g]}"></span><span class="tick">{esc(g)}</span>' for g in groups
    )
    heads = data.get("heads")
    head_words = ""
    if isinstance(heads, dict):
        k, candidates = non_negative_int(heads.get("k")), non_negative_int(heads.get("candidates"))
        paper = finite_real(heads.get("paper_share_in_all"))
        head_words = (
            f'<p class="caption"><strong>Shared heads:</strong> of the {candidates if candidates is not None else "?"} '
            f"candidate cross-attention heads, {num(finite_real(heads.get('share_in_all')))} are among the top "
            f"{k if k is not None else '?'} contributors to some active stage-III neuron for every analysed correct query, "
            f"{num(finite_real(heads.get('share_in_any')))} for at least one"
            + (f" (paper: {num(paper, 2)} for every query)" if paper is not None else "") + ".</p>"
        )
    paper, driven, why = read_stages(data.get("stages"), non_negative_int(data.get("layers")) or 10**6)  # only named here
    n = non_negative_int(data.get("n"))
    return (
        '<figure class="fig attribution-shares">'
        "<figcaption>Who reads whom: writer groups' shares of what each reader reads (Fig. 5)</figcaption>"
        f'<div class="legend"><span class="muted">writer group (component/stage):</span> {legend or "none"}</div>'
        f'<div class="panels">{"".join(figures) or "<p class=muted>no panels</p>"}</div>'
        f'<p class="caption">One bar per reader layer: each writer group\'s share of the positive contribution to the '
        f"reader's activations (exact decomposition into the start embedding and every earlier component output), "
        f"averaged over the {n if n is not None else 'recorded'} analysed correct queries; darker = earlier stage. "
        f"{stage_words(paper, driven, why, drawn=False)}</p>"
        f"{head_words}"
        f"<details><summary>Numbers (share per reader layer)</summary>{''.join(tables)}</details>"
        "</figure>"
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
    values = [v for b in bars for v in (finite_real(b.get("measured")), finite_real(b.get("reference")), finite_real(b.get("paper")),
                                        finite_real(b.get("bound")), *[finite_real(c) for c in (b.get("ci") or [])]) if v is not None]
    start = min(values + [0.0])
    end = nice_ceiling(max(values + [0.0])) if max(values + [0.0]) > 0 else 1.0
    left, plot_w, row, top = 24, 440, 50, 6
    width, height = left + plot_w + 90, top + row * len(bars) + 30

    def x(value: float) -> float:
        return left + plot_w * (min(max(value, start), end) - start) / (end - start)

    svg = [
        f'<svg class="heatmap chart hbars" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(title)}">'
    ]
    for tick in (start + (end - start) * t / 4 for t in range(5)):
        svg.append(f'<line x1="{x(tick):.1f}" y1="{top}" x2="{x(tick):.1f}" y2="{top + row * len(bars)}" class="grid"/>')
        svg.append(f'<text class="tick" x="{x(tick):.1f}" y="{top + row * len(bars) + 14}" text-anchor="middle">{tick:.4g}</text>')
    for k, bar in enumerate(bars):
        y0 = top + k * row
        measured, reference, paper, bound = (finite_real(bar.get(f)) for f in ("measured", "reference", "paper", "bound"))
        ci = [finite_real(c) for c in bar.get("ci") or []]
        tip = [f"{bar['label']}: {_short(measured) if measured is not None else 'not measured'}"]
        if len(ci) == 2 and None not in ci:
            tip.append(f"95% CI [{_short(ci[0])}, {_short(ci[1])}]")
        for name, value in ((reference_label, reference), ("paper", paper), ("bound", bound)):
            if value is not None:
                tip.append(f"{name} {_short(value)}")
        other = bar.get("paper_other")
        if isinstance(other, dict):
            tip.extend(f"paper {name} {_short(v)}" for name, v in other.items() if finite_real(v) is not None)
        parts = [f'<text class="part" x="{left}" y="{y0 + 12}">{esc(bar["label"])}</text>']
        cy = y0 + 27
        if measured is not None:
            parts.append(f'<rect x="{x(min(0.0, measured)):.1f}" y="{cy - 8}" width="{max(abs(x(measured) - x(0.0)), 0.8):.1f}" '
                         f'height="16" rx="1.5" fill="{BLUE}" fill-opacity="0.85"/>')
            parts.append(f'<text class="barval" x="{left + plot_w + 8}" y="{cy + 4}">{_short(measured)}</text>')
        else:
            parts.append(f'<text class="tick" x="{left + plot_w + 8}" y="{cy + 4}">—</text>')
        if len(ci) == 2 and None not in ci:
            a, b = x(ci[0]), x(ci[1])
            parts.append(f'<path d="M{a:.1f} {cy - 5}v10M{a:.1f} {cy}H{b:.1f}M{b:.1f} {cy - 5}v10" stroke="{OUTLINE}" '
                         'stroke-width="1.4" fill="none"/>')
        if reference is not None:
            parts.append(f'<line x1="{x(reference):.1f}" y1="{cy - 12}" x2="{x(reference):.1f}" y2="{cy + 12}" '
                         f'stroke="{OUTLINE}" stroke-width="2.2"/>')
        if bound is not None:
            parts.append(f'<line x1="{x(bound):.1f}" y1="{cy - 12}" x2="{x(bound):.1f}" y2="{cy + 12}" stroke="#b2182b" '
                         'stroke-width="1.6" stroke-dasharray="3 2"/>')
        if paper is not None:
            parts.append(f'<path d="M{x(paper):.1f} {cy - 6}l6 6l-6 6l-6 -6z" fill="{ORANGE}" stroke="#ffffff" stroke-width="1"/>')
        svg.append(f"<g><title>{esc('; '.join(tip))}</title>{''.join(parts)}</g>")
    if not bars:
        svg.append(f'<text class="tick" x="{left + plot_w / 2}" y="{top + 14}" text-anchor="middle">nothing measured</text>')
    svg.append("</svg>")
    has_bound = any(finite_real(b.get("bound")) is not None for b in bars)
    legend = (
        f'<span class="swatch" style="background:{BLUE}"></span><span class="tick">measured (whisker: 95% CI)</span>'
        f'<span class="line-key"><svg width="12" height="14" aria-hidden="true"><line x1="6" y1="0" x2="6" y2="14" '
        f'stroke="{OUTLINE}" stroke-width="2.2"/></svg>{esc(reference_label)}</span>'
        f'<span class="line-key"><svg width="14" height="14" aria-hidden="true"><path d="M7 1l6 6l-6 6l-6 -6z" '
        f'fill="{ORANGE}"/></svg>paper</span>'
        + ('<span class="line-key"><svg width="12" height="14" aria-hidden="true"><line x1="6" y1="0" x2="6" y2="14" '
           'stroke="#b2182b" stroke-width="1.6" stroke-dasharray="3 2"/></svg>declared bound</span>' if has_bound else "")
    )
    notes = [f"{esc(b['label'])}: {esc(b['note'])}" for b in bars if b.get("note")]
    rows = "".join(
        f"<tr><td>{esc(b['label'])}</td><td class=\"num\">{num(finite_real(b.get('measured')), 4)}</td>"
        f'<td class="num">{interval([finite_real(c) for c in b["ci"]], 4) if b.get("ci") else "—"}</td>'
        f'<td class="num">{num(finite_real(b.get("reference")), 4)}</td><td class="num">{num(finite_real(b.get("paper")), 4)}</td>'
        f'<td class="num">{num(finite_real(b.get("bound")), 4)}</td>'
        f"<td>{esc(', '.join(f'{k} {plain(v)}' for k, v in b['paper_other'].items())) if isinstance(b.get('paper_other'), dict) else ''}"
        f"{esc(b.get('note') or '')}</td></tr>"
        for b in bars
    )
    n = non_negative_int(data.get("n"))
    return (
        '<figure class="fig metric-bars">'
        f"<figcaption>{esc(title)}</figcaption>"
        f'<div class="heatmap-wrap">{"".join(svg)}</div>'
        f'<div class="legend">{legend}</div>'
        f'<p class="caption">Each bar: a measured {esc(unit)}'
        + (f" over {n} queries" if n is not None else "")
        + f"; black tick: {esc(reference_label)}; diamond: the paper's value where it has one."
        + (f" {esc(data['caption'])}" if data.get("caption") else "")
        + (f" {esc(data['note'])}" if data.get("note") else "")
        + "</p>"
        + (f'<ul class="caption found">{"".join(f"<li>{n}</li>" for n in notes)}</ul>' if notes else "")
        + '<details><summary>Numbers</summary><div class="scroll"><table class="small"><thead><tr><th>Bar</th>'
        f'<th class="num">Measured</th><th class="num">95% CI</th><th class="num">{esc(reference_label)}</th>'
        '<th class="num">Paper</th><th class="num">Bound</th><th>Other</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div></details>"
        "</figure>"
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
            chips = " ".join(f'<code class="tok">{esc(t)}</code>' if str(t) else '<code class="tok muted">∅</code>'
                             for t in tokens)
            cells.append(f'<td class="nowrap">{esc(head.get("layer", "?"))}/{esc(head.get("head", "?"))}</td>'
                         f"<td>{chips or '<span class=muted>none</span>'}</td>")
        query = f'<td rowspan="{max(len(cells), 1)}">{esc(example.get("query", ""))}</td>'
        if not cells:
            rows.append(f'<tr>{query}<td colspan="2" class="muted">no heads</td></tr>')
        rows.extend(f"<tr>{query if k == 0 else ''}{cell}</tr>" for k, cell in enumerate(cells))
    promoted, random_ = finite_real(data.get("mean_promoted")), finite_real(data.get("mean_random"))
    other = finite_real(data.get("mean_other_query"))  # absent from runs before the shuffled-query control
    judged = (
        f"Mean cosine to the query by {esc(data.get('judge') or 'the judge')}: promoted tokens "
        f"<strong>{num(promoted)}</strong>, as many random vocabulary tokens <strong>{num(random_)}</strong>"
        + (f" (difference {num(promoted - random_, signed=True)})" if promoted is not None and random_ is not None else "")
        + (f"; the same promoted tokens to another query of the study (seeded derangement) <strong>{num(other)}</strong>"
           if other is not None else "")
        + "."
    )
    return (
        '<figure class="fig promoted-tokens">'
        "<figcaption>Tokens promoted by stage-II cross-attention heads (Table 6)</figcaption>"
        '<div class="scroll"><table class="small tokens"><thead><tr><th>Query</th><th>Head (layer/head)</th>'
        f'<th>Promoted tokens (logit lens, top first)</th></tr></thead><tbody>{"".join(rows) or "<tr><td colspan=3 class=muted>no examples</td></tr>"}'
        "</tbody></table></div>"
        f'<p class="caption">{esc(data.get("caption") or "")} {judged}</p>'
        "</figure>"
    )
