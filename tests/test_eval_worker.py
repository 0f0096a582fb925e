"""The worker CLI on a real Orbax checkpoint: kill-and-restart plays each planned game exactly once."""
import json
import logging
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import pytest
from run_fixtures import save_untrained_run

from arena import DEFAULT_LADDER
from arena.records import read_records
from jaxformer.config import RunConfig
from jaxformer.eval import worker

REPO = pathlib.Path(__file__).resolve().parents[1]


def _make_run(run: pathlib.Path, steps=(5,)) -> pathlib.Path:
    return save_untrained_run(run, "evaltest", cutoff=1000, steps=steps)


def _anchor_table(tmp_path: pathlib.Path, ratings: dict[str, float] | None = None) -> pathlib.Path:
    """TMP_PATH/anchors.json rating `ratings` (default: the random mover at 400, so every game is rated)."""
    path = tmp_path / "anchors.json"
    path.write_text(json.dumps({"ratings": ratings or {"random": 400.0}}))
    return path


def _args(run, anchors, games=6, extra=(), plies=12):
    return ["--run", str(run), "--levels", "random", "--temperatures", "0.5", "--games", str(games),
            "--max-plies", str(plies), "--concurrency", "2", "--workers", "1", "--n-boot", "50",
            "--anchors", str(anchors), *extra]


def _cli(run, anchors, games, plies, extra=()):
    return [sys.executable, "-m", "experiments.cli", "eval", *_args(run, anchors, games=games, plies=plies, extra=extra),
            "--no-tensorboard"]


ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}


@pytest.mark.slow
def test_worker_killed_mid_run_and_restarted_plays_each_game_exactly_once(tmp_path, stockfish_path):
    run = _make_run(tmp_path / "run")
    anchors = _anchor_table(tmp_path)
    cmd = _cli(run, anchors, games=8, plies=16)
    games = run / "eval" / "5" / "games.jsonl"
    proc = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and (not games.exists() or len(read_records(games)) < 2):
        time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {r["game_id"] for r in read_records(games)}
    assert 2 <= len(first) < 8
    out = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    records = read_records(games)
    ids = [r["game_id"] for r in records]
    assert len(ids) == len(set(ids)) == 8
    assert first <= set(ids)
    assert (run / "eval" / "5" / "games.pgn").read_text().count("[GameId ") == 8
    assert sum(r["white"] == "run@5" for r in records) == 4  # colours alternate
    ratings = json.loads((run / "eval" / "5" / "ratings.json").read_text())
    (res,) = ratings["results"]
    assert res["games"] == 8 and res["wins"] + res["draws"] + res["losses"] == 8
    assert ratings["reference_rating"] == 1000 and ratings["reference_kind"] == "cutoff"
    assert res["margin"] == pytest.approx(res["elo"] - 1000, abs=0.2)
    assert ratings["fit"] == {"method": "bradley-terry-mle", "prior_draws": 0, "anchors_fixed": True,
                              "interval": "bootstrap-95", "n_boot": 50}


def test_worker_skips_a_corrupt_checkpoint_and_writes_tensorboard(tmp_path, stockfish_path, caplog):
    run = _make_run(tmp_path / "run", steps=(3, 5))
    # Corrupt step 5's parameters: it is listed as complete but cannot be restored.
    for f in (run / "checkpoints" / "5" / "params").rglob("*"):
        if f.is_file() and f.stat().st_size > 0:
            f.write_bytes(b"garbage")
    anchors = _anchor_table(tmp_path)
    assert worker.main(_args(run, anchors, games=2, extra=["--steps", "all"])) == 0
    assert "skipping step 5" in caplog.text
    assert len(read_records(run / "eval" / "3" / "games.jsonl")) == 2
    assert not (run / "eval" / "5" / "ratings.json").exists()
    assert list((run / "tb").glob("*.eval"))
    assert "skipping step 5" in (run / "eval" / "worker.log").read_text()
    # Evaluating again plays nothing new.
    assert worker.main(_args(run, anchors, games=2, extra=["--steps", "3"])) == 0
    assert len(read_records(run / "eval" / "3" / "games.jsonl")) == 2
    # Nothing rated is a failure the caller can see.
    assert worker.main(_args(run, anchors, games=2, extra=["--steps", "5"])) == 1


def test_worker_accepts_a_relative_run_directory(tmp_path, stockfish_path, monkeypatch):
    _make_run(tmp_path / "run", steps=(2,))
    anchors = _anchor_table(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert worker.main(_args(pathlib.Path("run"), anchors, games=2, extra=["--no-tensorboard"])) == 0
    assert len(read_records(tmp_path / "run" / "eval" / "2" / "games.jsonl")) == 2


def test_plan_alternates_colours_shards_and_keeps_stable_ids():
    plan = worker.plan_step(7, "m@7", ["stockfish-l1", "random"], [0.1, 1.0], 4, "move", [("e2e4",), ("d2d4",)])
    assert len(plan) == 16 and len({g.game_id for g in plan}) == 16
    assert plan == worker.plan_step(7, "m@7", ["stockfish-l1", "random"], [0.1, 1.0], 4, "move",
                                    [("e2e4",), ("d2d4",)])
    first = [g for g in plan if g.temperature == 0.1 and g.black == "stockfish-l1" or g.white == "stockfish-l1"][:4]
    assert [g.white for g in first[:2]] == ["m@7", "stockfish-l1"]
    assert [g.opening for g in plan[:4]] == [("e2e4",), ("e2e4",), ("d2d4",), ("d2d4",)]
    shards = [worker.shard_of(plan, (i, 3)) for i in range(3)]
    assert sorted(g.game_id for s in shards for g in s) == sorted(g.game_id for g in plan)
    assert worker.parse_opponents("random,1,l0-n100", 80000) == ["random", "stockfish-l1", "stockfish-l0-n100"]


def test_worker_rejects_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert worker.main(["--run", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


# --------------------------------------------------------------------------- issue 12: concurrency, Ctrl-C, identity
@pytest.mark.slow
def test_two_unsharded_workers_on_one_step_split_its_games(tmp_path, stockfish_path):
    run = _make_run(tmp_path / "run")
    anchors = _anchor_table(tmp_path)
    cmd = _cli(run, anchors, games=12, plies=16)
    procs = [subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    logs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    ids = [r["game_id"] for r in read_records(run / "eval" / "5" / "games.jsonl")]
    plan = {g.game_id for g in worker.plan_step(5, "run@5", ["random"], [0.5], 12, "move", None)}
    assert sorted(ids) == sorted(plan)  # every planned game once: none twice, none missing
    assert any("claimed by other workers" in log for log in logs), logs  # they did play side by side
    assert (run / "eval" / "5" / "games.pgn").read_text().count("[GameId ") == 12
    ratings = json.loads((run / "eval" / "5" / "ratings.json").read_text())
    assert ratings["duplicate_games"] == 0
    assert ratings["results"][0]["games"] == ratings["results"][0]["planned_games"] == 12


@pytest.mark.slow
def test_ctrl_c_stops_the_worker_at_once_without_an_engine_crash_and_keeps_its_games(tmp_path, stockfish_path):
    run = _make_run(tmp_path / "run")
    anchors = _anchor_table(tmp_path, {"random": 400.0, "stockfish-l0-n100000": 1500.0})
    # Engine searches of ~0.2 s take most of the time, so the signal finds engines searching.
    cmd = _cli(run, anchors, games=10, plies=30, extra=["--levels", "l0-n100000,random", "--workers", "2"])
    games = run / "eval" / "5" / "games.jsonl"
    # Its own session, so the signal goes to its whole process group, as the terminal's Ctrl-C does.
    proc = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline and (not games.exists() or len(read_records(games)) < 2):
        time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read()[-2000:]
    os.killpg(proc.pid, signal.SIGINT)
    sent = time.time()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err[-2000:]
    assert time.time() - sent < 8
    assert "crashed" not in err and "Traceback" not in err, err[-3000:]
    assert "interrupted" in err.splitlines()[-1]
    kept = {r["game_id"] for r in read_records(games)}
    assert 2 <= len(kept) < 20
    assert not list((run / "eval" / "5" / "claims").glob("s5-*.json")) or all(
        json.loads(p.read_text())["finished"] for p in (run / "eval" / "5" / "claims").glob("s5-*.json"))
    out = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"{len(kept)} already recorded, {20 - len(kept)} to play" in out.stderr
    ids = [r["game_id"] for r in read_records(games)]
    assert len(ids) == len(set(ids)) == 20 and kept <= set(ids)


def test_the_model_is_named_by_its_run_id_not_its_directory(tmp_path):
    from types import SimpleNamespace

    run = worker.RunDir(tmp_path / "copy-of-run")
    assert worker.model_name(run, SimpleNamespace(run_id="0123456789abcdef0123"), 7) == "run-0123456789ab@7"
    assert worker.model_name(run, SimpleNamespace(run_id=""), 7) == "copy-of-run@7"
    assert worker.model_name(run, SimpleNamespace(), 7) == "copy-of-run@7"  # a config from before run_id


def test_a_copied_run_directory_keeps_its_games_and_ratings(tmp_path, stockfish_path):
    import shutil

    if "run_id" not in RunConfig.__dataclass_fields__:
        pytest.skip("RunConfig.run_id is not there yet (added by the training side)")
    run = _make_run(tmp_path / "run", steps=(2,))
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "run_id": "feedc0ffee0123456789abcdef012345"}))
    anchors = _anchor_table(tmp_path)
    assert worker.main(_args(run, anchors, games=2, extra=["--no-tensorboard"])) == 0
    before = json.loads((run / "eval" / "2" / "ratings.json").read_text())
    assert before["model"] == "run-feedc0ffee01@2" and before["results"][0]["games"] == 2
    copy = tmp_path / "renamed"
    shutil.copytree(run, copy)
    assert worker.main(_args(copy, anchors, games=2, extra=["--no-tensorboard"])) == 0
    assert len(read_records(copy / "eval" / "2" / "games.jsonl")) == 2  # nothing played again
    after = json.loads((copy / "eval" / "2" / "ratings.json").read_text())
    assert after["results"] == before["results"] and after["model"] == before["model"]


def test_eval_says_its_plan_and_what_is_missing(tmp_path, stockfish_path, caplog):
    caplog.set_level(logging.INFO)
    anchors = _anchor_table(tmp_path)
    empty = tmp_path / "untrained"
    empty.mkdir()
    (empty / "config.json").write_text(RunConfig(name="x").to_json())
    assert worker.main(_args(empty, anchors, games=2)) == 1
    assert "has no complete checkpoint yet" in caplog.text and "--watch" in caplog.text
    run = _make_run(tmp_path / "run", steps=(2,))
    assert worker.main(_args(run, anchors, games=2, extra=["--no-tensorboard"])) == 0
    assert ("step 2 plan: 2 games per opponent and temperature x 1 opponents (random) x 1 temperatures (0.5) = 2 games; "
            "0 already recorded, 2 to play, roughly") in caplog.text
    (res,) = json.loads((run / "eval" / "2" / "ratings.json").read_text())["results"]
    assert res["planned_games"] == 2


@pytest.mark.parametrize("bad, words", [(["--temperatures", "abc"], ["--temperatures", "comma-separated"]),
                                        (["--games", "0"], ["--games", "at least 1"]),
                                        (["--games", "-2"], ["--games", "at least 1"])])
def test_bad_flags_are_named_with_the_expected_form(tmp_path, capsys, bad, words):
    with pytest.raises(SystemExit) as exit_:
        worker.main(["--run", str(tmp_path), *bad])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words), err


def test_every_option_shows_its_default_once():
    text = worker.build_parser().format_help()
    blocks = re.split(r"\n  (?=--)", text.split("show this help message and exit", 1)[1])[1:]
    assert len(blocks) == 33  # the protocol switches (jaxformer/eval/protocol.py) and the rating options included
    for block in blocks:
        flat = " ".join(block.split())
        assert flat.count("(default") + flat.count("(required)") == 1, flat


def test_paper_anchors_with_random_warn_and_name_the_ladder_table():
    warning = worker.anchor_warning(["random", "stockfish-l1"], worker.load_anchor_table("paper"), "paper")
    assert "random" in warning and f"--anchors {DEFAULT_LADDER}" in warning
    assert worker.anchor_warning(["stockfish-l1"], worker.load_anchor_table("paper"), "paper") is None


def test_paper_and_fixed_games_of_one_step_live_side_by_side_and_are_rated_apart(tmp_path, stockfish_path):
    run = _make_run(tmp_path / "run", steps=(3,))
    anchors = _anchor_table(tmp_path)
    paper = ["--run", str(run), "--levels", "random", "--temperatures", "1.0", "--games", "2", "--concurrency", "2",
             "--workers", "1", "--n-boot", "20", "--anchors", str(anchors), "--no-tensorboard"]
    assert worker.main([*paper, "--protocol", "paper"]) == 0
    assert worker.main(_args(run, anchors, games=2, extra=["--no-tensorboard"])) == 0
    records = read_records(run / "eval" / "3" / "games.jsonl")
    by_label = {label: [r for r in records if r["protocol"]["label"] == label] for label in ("paper", "fixed")}
    assert [len(v) for v in by_label.values()] == [2, 2]
    assert all(r["game_id"].startswith("s3-paper-char-T1-random-") for r in by_label["paper"])
    assert all(r["game_id"].startswith("s3-move-T0.5-random-") for r in by_label["fixed"])
    assert by_label["paper"][0]["protocol"] == {"label": "paper", "name": "paper", "movetime": 0.1,
                                                "engine_per_match": True, "max_plies": 180, "cap_result": "draw",
                                                "claim_threefold": False, "white_to_move_bug": True, "mode": "char",
                                                "char_sampler": "paper", "illegal": "forfeit:5",
                                                "strip_own_check": True, "glicko": "per-game"}
    assert all(r["plies"] <= 180 and r["termination"] != "adjudication" for r in by_label["paper"])
    pgn = (run / "eval" / "3" / "games.pgn").read_text()
    assert pgn.count('[Protocol "paper"]') == 2 and pgn.count('[Protocol "fixed"]') == 2
    results = json.loads((run / "eval" / "3" / "ratings.json").read_text())["results"]
    assert sorted((r["protocol"]["label"], r["mode"], r["temperature"], r["games"]) for r in results) == \
        [("fixed", "move", 0.5, 2), ("paper", "char", 1.0, 2)]
