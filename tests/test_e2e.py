"""The main job end to end through the CLI, on a minutes-sized configuration:
`transcend data synth` -> `data build` -> `train` -> `eval` -> `report`, checking every artifact."""
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

from experiments.synth.pgn import header_elo, read_pgn_zst

REPO = pathlib.Path(__file__).resolve().parents[1]
STEPS = 20
TEMPERATURES = (0.001, 1.0)
EVAL_GAMES = 2  # per temperature (one with each colour), against the random mover


def transcend(*args: str) -> str:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"transcend {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    print(f"transcend {' '.join(args[:2])}: {time.time() - start:.1f} s")
    return proc.stdout


@pytest.mark.slow
@pytest.mark.heavy
def test_synth_build_train_eval_report(tmp_path, stockfish_path):
    # One anchor table for both synth and eval, so the experts' and the model's ratings share a scale.
    table = tmp_path / "anchors.json"
    table.write_text(json.dumps({"ratings": {"random": 400.0, "stockfish-l20-n20": 1300.0}}))

    synth, shards, run, report = (tmp_path / n for n in ("synth", "shards", "run", "report"))
    transcend("data", "synth", "--out", str(synth), "--games", "80", "--experts", "4", "--nodes", "5", "200",
              "--calibration-games", "16", "--max-plies", "100", "--bootstrap", "30", "--workers", "2",
              "--anchor-table", str(table), "--stockfish", stockfish_path)
    pop = json.loads((synth / "population.json").read_text())
    assert len(pop["experts"]) == 4 and [a["name"] for a in pop["anchors"]] == ["stockfish-l20-n20"]
    games = read_pgn_zst(synth / "games.pgn.zst")
    assert len(games) == 80 and not any(g.errors for g in games)
    best_elo = int(header_elo(pop["best_expert"]["rating"]))

    transcend("data", "build", "--source", str(synth / "games.pgn.zst"), "--out", str(shards), "--workers", "2",
              "--val-fraction", "0.1")
    manifest = json.loads((shards / "manifest.json").read_text())
    assert manifest["games"]["train"] + manifest["games"]["validation"] == 80
    assert manifest["games"]["validation"] > 0
    assert manifest["rating_max"] == best_elo

    transcend("train", "--config", "tiny", "--run-dir", str(run), "--set", f"data.dir={shards}",
              "--set", f"train.steps={STEPS}", "--set", "train.batch_size=8", "--set", "train.log_every=5",
              "--set", "train.eval_every=10", "--set", "train.eval_batches=2", "--set", "checkpoint.every=10",
              "--set", "train.progress=false")
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["dir"] == str(shards) and config["data"]["cutoff"] is None
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train_steps = [x["step"] for x in lines if "loss" in x]
    val = {x["step"]: x["val_loss"] for x in lines if "val_loss" in x}
    assert train_steps[-1] == STEPS and set(val) >= {10, STEPS}
    losses = [x["loss"] for x in lines if "loss" in x]
    assert losses[-1] < losses[0] - 0.3, f"{STEPS} steps of training should lower the loss clearly: {losses}"
    from jaxformer.checkpoint import list_complete_steps

    assert list_complete_steps(run)[-1] == STEPS

    transcend("eval", "--run", str(run), "--levels", "random", "--temperatures", ",".join(map(str, TEMPERATURES)),
              "--games", str(EVAL_GAMES), "--anchors", str(table), "--n-boot", "50", "--workers", "2",
              "--stockfish", stockfish_path, "--no-tensorboard", "--concurrency", "8")
    eval_dir = run / "eval" / str(STEPS)
    records = [json.loads(x) for x in (eval_dir / "games.jsonl").read_text().splitlines()]
    assert len(records) == len(TEMPERATURES) * EVAL_GAMES
    pgn_games = read_pgn_zst(eval_dir / "games.pgn")
    assert len(pgn_games) == len(records) and not any(g.errors for g in pgn_games)
    ratings = json.loads((eval_dir / "ratings.json").read_text())
    assert ratings["step"] == STEPS and ratings["reference_kind"] == "best_player"
    assert ratings["reference_rating"] == best_elo
    assert sorted(r["temperature"] for r in ratings["results"]) == list(TEMPERATURES)
    assert all(r["games"] == EVAL_GAMES and r["wins"] + r["draws"] + r["losses"] == EVAL_GAMES
               for r in ratings["results"])

    out = transcend("report", str(run), "--out", str(report))
    summary = json.loads((report / "summary.json").read_text())
    (run_summary,) = summary["runs"]
    assert run_summary["eval_step"] == STEPS and run_summary["trained_steps"] == STEPS
    assert run_summary["reference_rating"] == best_elo
    by_t = {r["temperature"]: r for r in ratings["results"]}
    for row in run_summary["results"]:
        assert row["elo"] == by_t[row["temperature"]]["elo"] and row["games"] == EVAL_GAMES
    assert summary["figures"] == ["rating_vs_temperature.png", "loss_curves.png"]
    for fig in summary["figures"]:
        assert (report / fig).stat().st_size > 1000
    md = (report / "report.md").read_text()
    ratings_table = md.split("\n## Ratings\n", 1)[1].split("\n## ", 1)[0]  # one row per temperature there
    assert ratings_table.count(f"| run | {STEPS} |") == len(TEMPERATURES)
    per_opponent = md.split("\n## Games per opponent\n", 1)[1].split("\n## ", 1)[0]
    assert per_opponent.count(f"| run | {STEPS} |") == len(TEMPERATURES)  # one opponent: a row per temperature
    assert run_summary["verdict"] in out and run_summary["verdict"] in md


def test_demo_rates_the_model_against_the_weakest_varied_opponents(tmp_path):
    from experiments.demo import weakest_opponents

    table = tmp_path / "ladder.json"
    table.write_text(json.dumps({"ratings": {
        "random": 300.0, "stockfish-l20-n1": 700.0, "stockfish-l0-n1000-r75": 650.0, "stockfish-l0-n1": 900.0,
        "stockfish-l0-n1000": 1100.0, "stockfish-l1": 1554.0}}))
    # The deterministic skill-20 engine is skipped although it is weak: at T -> 0 its games would all repeat.
    assert weakest_opponents(str(table), 2) == ["random", "stockfish-l0-n1000-r75", "stockfish-l0-n1"]
