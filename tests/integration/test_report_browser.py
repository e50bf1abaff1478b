"""The report opens in a real browser (headless Debian Chromium) without console errors,
and the check itself can fail: a deliberately broken page is reported."""

from __future__ import annotations

import pytest

from reports import write_report
from tests.browser import check_renders, find_chromium

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium not found (/usr/bin/chromium or chromium on PATH); `./setup.sh --tests` installs it with apt",
)


def test_report_renders_without_console_errors(tmp_path, example_run):
    path = write_report(example_run, tmp_path / "report.html")
    check = check_renders(path)
    assert check.console_errors == [], check.console_errors
    assert check.requests == []  # self-contained: nothing fetched besides the page
    assert check.ok and check.loaded
    assert check.title == "Claims report · 20261122T071500Z-3f2a"


def test_a_broken_page_is_reported(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>broken</title></head><body><p>hi</p>"
        '<script>console.log("just a log"); console.warn("just a warning"); console.error("boom");</script>'
        "<script>undefinedFunction();</script>"
        "<script>setTimeout(function () { console.error('late boom'); }, 50);</script>"
        "</body></html>",
        encoding="utf-8",
    )
    check = check_renders(page)
    assert not check.ok
    assert check.title == "broken"
    errors = "\n".join(check.console_errors)
    assert "boom" in errors
    assert "ReferenceError" in errors and "undefinedFunction" in errors
    assert "late boom" in errors  # errors after the load event are waited for
    assert "just a log" not in errors and "just a warning" not in errors  # levels are told apart
    assert any("just a warning" in w for w in check.warnings)


def test_a_page_that_fetches_something_is_reported(tmp_path):
    page = tmp_path / "fetching.html"
    page.write_text(
        '<!DOCTYPE html><html><head><title>fetching</title></head><body><img alt="" src="missing.png"></body></html>',
        encoding="utf-8",
    )
    check = check_renders(page)
    assert not check.ok
    assert any(url.endswith("/missing.png") for url in check.requests)
    assert any("missing.png" in e for e in check.console_errors)
