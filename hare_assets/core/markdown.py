"""Markdown tables (pure: the cards and the Dagster metadata both use them)."""

from __future__ import annotations

from typing import Mapping


def markdown_table(rows: list[Mapping], columns: list[str] | None = None, width: int = 80) -> str:
    if not rows:
        return "_(no rows)_"
    columns = columns or list(rows[0])

    def cell(v) -> str:
        s = f"{v:.4g}" if isinstance(v, float) else str(v)
        s = s.replace("\n", " ").replace("|", "\\|")
        return s if len(s) <= width else s[: width - 1] + "…"

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
