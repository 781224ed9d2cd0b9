"""A small inline-SVG line chart of duplicate groups and lost primaries over past runs: no
JavaScript chart library, nothing fetched from elsewhere."""
from __future__ import annotations

from sync.models import SyncRun

WIDTH, HEIGHT, PAD = 640, 180, 28
SERIES = (("r2_groups", "Salesforce groups (R2)", "#0b5cad"), ("r7_groups", "HubSpot groups (R7)", "#9a6700"),
          ("r9_groups", "Company groups (R9)", "#6f42c1"), ("lost_primary", "Lost primaries", "#c62828"))


def history_chart(runs: list[SyncRun]) -> dict | None:
    if len(runs) < 2:
        return None
    top = max(1, *(int(r.snapshot.get(key, 0)) for r in runs for key, _, _ in SERIES))
    step = (WIDTH - 2 * PAD) / (len(runs) - 1)

    def y(v: int) -> float:
        return round(HEIGHT - PAD - (HEIGHT - 2 * PAD) * v / top, 1)

    lines = []
    for key, label, colour in SERIES:
        values = [int(r.snapshot.get(key, 0)) for r in runs]
        points = " ".join(f"{round(PAD + i * step, 1)},{y(v)}" for i, v in enumerate(values))
        lines.append({"label": label, "colour": colour, "points": points, "last": values[-1]})
    return {"width": WIDTH, "height": HEIGHT, "pad": PAD, "top": top, "y_top": y(top), "y_zero": y(0),
            "lines": lines, "first": runs[0].created_at, "last": runs[-1].created_at, "runs": len(runs)}
