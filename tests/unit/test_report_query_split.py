"""The report's view of CE-8..CE-11's query split and of CE-7's heads left out of both groups."""

from __future__ import annotations

from ranker_claims.reports.figures import render_figure

CLAIM = {"correction": "holm", "alpha": 0.05}


def test_the_split_shows_both_counts_with_the_seed_and_lists_the_ids():
    figure = render_figure("query_split", {"seed": 7, "selection": ["q1", "q4"], "test": ["q2", "q3", "<q5>"]}, CLAIM)
    assert "Query split (seed 7): heads selected on 2 queries, tested on 3" in figure
    assert "<code>q1, q4</code>" in figure and "&lt;q5&gt;" in figure and "<q5>" not in figure
    assert 'class="fig generic"' not in figure


def test_a_split_without_its_seed_falls_back_to_the_data_view():
    figure = render_figure("query_split", {"selection": ["q1"], "test": ["q2"]}, CLAIM)
    assert "Could not draw this figure" in figure


def test_head_depths_name_the_heads_left_out_of_both_groups():
    data = {"lexical": [[0, 1]], "semantic": [[4, 2]], "both": [[2, 3], [3, 0]], "layers": 6}
    figure = render_figure("head_depths", data, CLAIM)
    assert "2 heads significant in both screens (2/3, 3/0) are left out of both" in figure
    assert "left out" not in render_figure("head_depths", {**data, "both": []}, CLAIM)


def test_head_depths_with_every_head_in_both_groups_still_draw():
    figure = render_figure("head_depths", {"lexical": [], "semantic": [], "both": [[1, 0]], "layers": 6}, CLAIM)
    assert "Could not draw" not in figure and "1 head significant in both screens (1/0) is left out of both" in figure
