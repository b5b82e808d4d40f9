"""Small helpers the human formats share for table cells (sizes come from :func:`imgopt.progress.human`)."""

from __future__ import annotations


def pct(part: int, whole: int) -> str:
    """``part`` of ``whole`` as "12.3 %" ("-" when there is no whole)."""
    return f"{100 * part / whole:.1f} %" if whole else "-"


def short(text: str | None, n: int = 60) -> str:
    """``text`` on one line, cut to ``n`` characters with an ellipsis ("-" when empty)."""
    t = " ".join((text or "-").split())
    return t if len(t) <= n else t[: n - 1] + "…"
