"""Whether each evaluated (temperature, mode) and each of its opponents has all the games it was planned to have.

A result whose ratings.json carries "planned_games" (every game planned for that temperature and mode, over all
opponents, rated or not) is "partial" when fewer games are recorded. Without it (older files), the counts of one
step are compared with each other: a temperature, or an opponent, with fewer games than the most any has is
"partial?", since the plan gives every temperature and opponent the same number of games. Otherwise "complete".
"""
from __future__ import annotations

COMPLETE, PARTIAL, MAYBE_PARTIAL = "complete", "partial", "partial?"


def recorded_games(result: dict) -> int:
    """Every game recorded for a result: the rated ones and those against opponents outside the anchor table."""
    return int(result["games"]) + int(result.get("unrated_games") or 0)


def mark_completeness(rows: list[dict]) -> None:
    """Sets "status" on each result row of one step and on each of its opponent rows (in place)."""
    most_recorded = max((r["recorded_games"] for r in rows), default=0)
    most_per_opponent = max((o["games"] for r in rows for o in r["opponents"]), default=0)
    n_opponents = len({o["name"] for r in rows for o in r["opponents"]})
    for r in rows:
        planned = r["planned_games"]
        if planned is not None:
            r["status"] = PARTIAL if r["recorded_games"] < planned else COMPLETE
        else:
            r["status"] = MAYBE_PARTIAL if r["recorded_games"] < most_recorded else COMPLETE
        per_opponent = planned // n_opponents if planned is not None and n_opponents and planned % n_opponents == 0 \
            else None
        for o in r["opponents"]:
            if per_opponent is not None:
                o["status"] = PARTIAL if o["games"] < per_opponent else COMPLETE
            else:
                o["status"] = MAYBE_PARTIAL if o["games"] < most_per_opponent else COMPLETE


def describe_incomplete(rows: list[dict]) -> str | None:
    """The partial temperatures of one step in words, or None when every one is complete."""
    partial = [f"T={r['temperature']:g} ({r['recorded_games']} of {r['planned_games']} planned games)"
               for r in rows if r["status"] == PARTIAL]
    maybe = [f"T={r['temperature']:g} ({r['recorded_games']} games)" for r in rows if r["status"] == MAYBE_PARTIAL]
    parts = []
    if partial:
        parts.append(f"partial evaluation: {', '.join(partial)}")
    if maybe:
        most = max(r["recorded_games"] for r in rows)
        parts.append(f"partial? {', '.join(maybe)}, where another temperature has {most}")
    return "; ".join(parts) or None
