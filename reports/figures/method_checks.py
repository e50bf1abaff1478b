"""Figures of the method checks (the suite checking itself): a decision's false-positive
rate under a simulated null against the limit it must stay under."""

from __future__ import annotations

from typing import Any

from reports.figures.registry import figure_renderer
from reports.formatting import esc, num, positive_int
from reports.svg import BLUE, GREY, ORANGE, nice_ceiling


@figure_renderer("calibration")
def render_calibration(data: dict[str, Any], context: dict[str, Any]) -> str:
    """A decision's false-positive rate under a simulated null: the rate with its Monte-Carlo
    interval (± 3 s.e.) against alpha and the limit alpha + 3 s.e., on one 0..max axis."""
    rate, error = float(data["rate"]), float(data["mc_error"])
    alpha, limit = float(data["alpha"]), float(data["limit"])
    sims, n = positive_int(data.get("n_sims")), positive_int(data.get("n"))
    high = nice_ceiling(max(rate + 3 * error, limit) * 1.15)
    left, width, plot_w = 14, 480, 452

    def x(value: float) -> float:
        return left + plot_w * min(max(value, 0.0), high) / high

    colour = BLUE if rate <= limit else "#b2182b"
    svg = [
        f'<svg class="chart" viewBox="0 0 {width} 70" width="{width}" height="70" role="img" '
        f'aria-label="false-positive rate {num(rate)} against alpha {num(alpha)} and limit {num(limit)}">',
        f'<line x1="{left}" y1="40" x2="{left + plot_w}" y2="40" class="grid"/>',
        f'<line x1="{x(alpha):.1f}" y1="14" x2="{x(alpha):.1f}" y2="48" stroke="{GREY}" stroke-dasharray="3 3"/>',
        f'<text class="tick" x="{x(alpha):.1f}" y="10" text-anchor="middle">alpha {num(alpha)}</text>',
        f'<line x1="{x(limit):.1f}" y1="14" x2="{x(limit):.1f}" y2="48" stroke="{ORANGE}"/>',
        f'<text class="tick" x="{x(limit):.1f}" y="62" text-anchor="middle">limit {num(limit)}</text>',
        f'<line x1="{x(rate - 3 * error):.1f}" y1="30" x2="{x(rate + 3 * error):.1f}" y2="30" stroke="{colour}" stroke-width="2"/>',
        f'<circle cx="{x(rate):.1f}" cy="30" r="5" fill="{colour}"><title>rate {num(rate)} ± {num(error)} (1 s.e.)</title></circle>',
        f'<text class="tick" x="{left}" y="62">0</text><text class="tick" x="{left + plot_w}" y="62" text-anchor="end">{num(high)}</text>',
        "</svg>",
    ]
    runs = f" over {sims} simulations" + (f" of n = {n}" if n else "") if sims else ""
    return (
        '<figure class="fig calibration">'
        f"<figcaption>{esc(data.get('decision', 'decision'))}: rate of SUPPORTED under the null{esc(runs)}</figcaption>"
        + "".join(svg)
        + '<p class="caption">Dot = observed rate, bar = ± 3 Monte-Carlo standard errors; dashed = alpha; '
        "solid = the limit alpha + 3 s.e. the rate must not exceed.</p></figure>"
    )

