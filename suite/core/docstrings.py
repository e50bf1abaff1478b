"""Reading a named section out of a module docstring.

The verdict rules live in one place, the docstring of :mod:`ranker_claims.core.stats`; a run stores
that section's text when it is made (``run["verdict_rules"]``) so that its report shows the
rules that decided it, not whatever rules are installed when it is re-rendered.
"""

from __future__ import annotations

import inspect
import re
import textwrap

_UNDERLINE = re.compile(r"^\s*([-=~^*+#])\1{2,}\s*$")


def docstring_section(doc: str, heading: str) -> str | None:
    """The text of the docstring section whose first line starts with ``heading``, up to the
    next heading (an RST-underlined line or a Markdown ``#`` line); None if absent."""
    lines = inspect.cleandoc(doc).splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().lstrip("#").strip().startswith(heading)), None)
    if start is None:
        return None
    body_start = start + 1
    if body_start < len(lines) and _UNDERLINE.match(lines[body_start]):
        body_start += 1
    end = len(lines)
    for i in range(body_start, len(lines)):
        if lines[i].lstrip().startswith("#") or (
            lines[i].strip() and i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1])
        ):
            end = i
            break
    title = lines[start].strip().lstrip("#").strip().rstrip(":")
    body = "\n".join(lines[body_start:end]).strip("\n")
    body = textwrap.dedent(body) if body.strip() else ""
    first_rest = title[len(heading):].lstrip(" :.-—")
    if first_rest and not body:
        body = first_rest
    elif first_rest:
        body = first_rest + "\n" + body
    return body.strip() or None
