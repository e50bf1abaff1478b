"""What fails a claims session, apart from what the claims found (``--claims-fail-on``).

A verdict is a finding about a model; whether it should fail a build is the user's call. A model
team whose model already contradicts a claim wants its CI to fail when something *changes*, as
pytest-benchmark fails on ``--benchmark-compare-fail=mean:5%`` and not on slow tests. The rules:

* ``contradicted`` (the default): a CONTRADICTED claim fails its test;
* ``changed``: a verdict differs from the baseline's (``--claims-compare``);
* ``lost``: a claim SUPPORTED in the baseline is not SUPPORTED now;
* ``effect:X`` / ``effect:X%``: a claim's headline effect moved by more than X (absolute), or by more than
  X% of the baseline's effect;
* ``none``: nothing; verdicts are reported (terminal, run, report, junitxml properties) only.

Rules against the baseline fail the session at its end, each failure named in the summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

_BASELINE_RULES = ("changed", "lost", "effect")


@dataclass(frozen=True)
class Gate:
    """The parsed ``--claims-fail-on`` rules."""

    contradicted: bool = True
    changed: bool = False
    lost: bool = False
    effect: float | None = None  # the largest headline effect shift allowed
    effect_relative: bool = False  # ``effect`` is a fraction of the baseline's effect

    @classmethod
    def parse(cls, text: str) -> Gate:
        """``"contradicted,effect:5%"`` -> a Gate; raises ValueError naming a rule it does not know."""
        rules = [rule.strip() for rule in text.split(",") if rule.strip()]
        if not rules:
            raise ValueError("no rule given (use none to fail on nothing)")
        if "none" in rules and len(rules) > 1:
            raise ValueError("none cannot be combined with other rules")
        values: dict[str, Any] = {"contradicted": False}
        for rule in rules:
            name, _, argument = rule.partition(":")
            if name in ("contradicted", "changed", "lost") and not argument:
                values[name] = True
            elif name == "effect" and argument:
                relative = argument.endswith("%")
                try:
                    threshold = float(argument.rstrip("%"))
                except ValueError:
                    raise ValueError(f"{rule}: the threshold is not a number") from None
                if not (math.isfinite(threshold) and threshold >= 0):
                    raise ValueError(f"{rule}: the threshold must be a non-negative number")
                values.update(effect=threshold / 100 if relative else threshold, effect_relative=relative)
            elif name != "none":
                raise ValueError(f"unknown rule {rule!r} (known: contradicted, changed, lost, effect:X, "
                                 "effect:X%, none)")
        return cls(**values)

    @property
    def needs_baseline(self) -> bool:
        return self.changed or self.lost or self.effect is not None

    def describe(self) -> str:
        """As the run records it and ``--claims-fail-on`` takes it back."""
        rules = [name for name in ("contradicted", "changed", "lost") if getattr(self, name)]
        if self.effect is not None:
            rules.append(f"effect:{self.effect * 100:g}%" if self.effect_relative else f"effect:{self.effect:g}")
        return ",".join(rules) or "none"

    def failures(self, comparison: dict[str, Any]) -> list[str]:
        """One line per matched result that breaks a baseline rule (``comparison`` from ``compare_runs``)."""
        lines = []
        for change in comparison["changes"]:
            where = f"{change['claim_id']} {change['model_after']} @ {change['collection_after']}"
            before, after = change["verdict_before"], change["verdict_after"]
            if self.changed and change["verdict_changed"]:
                lines.append(f"changed: {where}: {before} -> {after}")
            if self.lost and before == "SUPPORTED" and after != "SUPPORTED":
                lines.append(f"lost: {where}: SUPPORTED -> {after}")
            shift = change.get("effect_shift")
            if self.effect is not None and shift is not None:
                allowed = self.effect * abs(change["effect_before"]) if self.effect_relative else self.effect
                if abs(shift) > allowed:
                    lines.append(f"effect: {where}: {change['headline']} moved {shift:+.4g} "
                                 f"({change['effect_before']:.4g} -> {change['effect_after']:.4g}; allowed "
                                 f"{self.describe_effect()})")
        return lines

    def describe_effect(self) -> str:
        effect = self.effect or 0.0
        return f"{effect * 100:g}% of its size" if self.effect_relative else f"{effect:g}"
