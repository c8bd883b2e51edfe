"""What a rule says (`Recommendation`: the evidence, the gain to expect, the fix), what the rules know
of a shape's plan (`Explained`), and how the numbers in them read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .explain import Plan, Scan
from .proposals import Proposal


@dataclass
class Recommendation:
    rule: str
    title: str
    evidence: dict[str, Any]
    gain: str
    fix: str
    shape: str | None = None
    model: str | None = None
    action: str | None = None
    estimate: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "title": self.title,
            "shape": self.shape,
            "model": self.model,
            "action": self.action,
            "evidence": self.evidence,
            "gain": self.gain,
            "estimate": self.estimate,
            "fix": self.fix,
        }


@dataclass
class Explained:
    """A shape's generic plan, the index proposed for its seq scan, and the plan with it (hypopg)."""

    plan: Plan
    scan: Scan | None = None
    proposal: Proposal | None = None
    after: Plan | None = None


def round3(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def percent(share: float) -> str:
    return f"{max(0.0, share) * 100:.0f}%"


def byte_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.0f} TB"
