"""The search table of the diversity experiment: one row per (configuration, seed) demo output, from its files.

    python -m experiments.demo.search_table runs/search/move-300-s0 runs/search/move-300-s1 ...

Each OUT is a `make demo` output directory (summary.json, timings.json, each arm's run config and population).
A row: the configuration (tokenizer, population, training budget), the seed, the demo's wall time, and per arm
the model's best low-temperature rating (T <= LOW_T, highest lower bound) and its rating at T=1 (imitation), each
with its 95% interval, against its best expert's, and the verdict. The last line is the table as JSON.
docs/demo.md keeps the table.
"""
from __future__ import annotations

import json
import pathlib
import sys

LOW_T = 0.1  # "low temperature": the theory's majority vote


def _config(out: pathlib.Path, arm: str) -> dict:
    cfg = json.loads((out / arm / "run" / "config.json").read_text())
    population = json.loads((out / arm / "synth" / "population.json").read_text())
    options = population.get("options", {})
    return {"tokenizer": cfg["data"]["tokenizer"], "steps": cfg["train"]["steps"],
            "tokens_per_step": cfg["train"]["batch_size"] * cfg["data"]["seq_len"],
            "model": f"{cfg['model']['n_layer']}x{cfg['model']['d_model']}", "games": options.get("games"),
            "experts": len(population["experts"]), "nodes": options.get("nodes"), "epsilon": options.get("epsilon"),
            "seed": cfg["train"]["seed"]}


def _best_low_t(temps: list[dict]) -> dict | None:
    low = [t for t in temps if t["temperature"] <= LOW_T and t["lo"] is not None]
    return max(low, key=lambda t: t["lo"]) if low else None


def row(out: pathlib.Path) -> dict:
    summary = json.loads((out / "summary.json").read_text())["arms"]
    timings = json.loads((out / "timings.json").read_text())
    arms = {}
    for name, arm in summary["arms"].items():
        best = _best_low_t(arm["temperatures"])
        arms[name] = {"model": best, "best_expert": arm["best_expert"], "transcends": arm["transcends"],
                      "all_temperatures": arm["temperatures"]}
    config = _config(out, next(iter(summary["arms"])))
    return {"out": str(out), "config": config, "seed": config.pop("seed"), "wall_min": round(timings["total_s"] / 60, 1),
            "arms": arms, "prediction_holds": summary["prediction"]["holds"]}


def _cell(x: dict | None) -> str:
    return "-" if x is None or x.get("elo") is None else f"{x['elo']:.0f} [{x['lo']:.0f}, {x['hi']:.0f}]"


def markdown(rows: list[dict]) -> list[str]:
    head = ["configuration", "seed", "wall min", "diverse: model at low T", "diverse: model at T=1", "diverse: best expert",
            "diverse transcends", "clones: model at low T", "clones: model at T=1", "clones: clone expert",
            "clones transcend", "prediction holds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        c = r["config"]
        name = (f"{c['tokenizer']}, {c['model']}, {c['steps']} steps x {c['tokens_per_step']} tokens; {c['experts']} experts, "
                f"{c['games']} games, nodes {c['nodes']}, b {c['epsilon']}")
        cells = [name, str(r["seed"]), f"{r['wall_min']:.1f}"]
        for arm in ("diverse", "clones"):
            a = r["arms"].get(arm)
            model = None if a is None or a["model"] is None else {**a["model"], "T": a["model"]["temperature"]}
            at_one = None if a is None else next((t for t in a["all_temperatures"] if t["temperature"] == 1.0), None)
            cells += [f"{_cell(model)} (T={model['T']:g})" if model else "-", _cell(at_one), _cell(a and a["best_expert"]),
                      "-" if a is None else {True: "yes", False: "no", None: "-"}[a["transcends"]]]
        cells.append({True: "yes", False: "no", None: "-"}[r["prediction_holds"]])
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    outs = [pathlib.Path(a) for a in (sys.argv[1:] if argv is None else argv)]
    missing = [str(o) for o in outs if not (o / "summary.json").is_file()]
    if not outs or missing:
        raise SystemExit(f"search_table: give `make demo` output directories with a summary.json; missing: {missing}")
    rows = [row(o) for o in outs]
    print("\n".join(markdown(rows)))
    print(json.dumps({"search": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
