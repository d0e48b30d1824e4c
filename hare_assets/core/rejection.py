"""The one way a stage says no: a reason (a short code, counted per stage) and a detail (free text)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rejection:
    """Why a row was not kept. `reason` is what the conservation check and removal tables count."""

    reason: str
    detail: str = ""

    def columns(self, stage: str) -> dict[str, str]:
        """The stage / reason / detail columns of its row in a rejection table."""
        return {"stage": stage, "reason": self.reason, "detail": self.detail}
