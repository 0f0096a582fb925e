"""`transcend report --compare-protocols`: the evaluation protocols of one step side by side, with the difference
from `fixed` and its interval, on ratings.json files written by the eval's own rating code from games written here,
and once end to end on a real (tiny) checkpoint played under both protocols."""
import dataclasses
import json
import math
import pathlib

import jax
import numpy as np
import pytest
from flax import nnx

from experiments.cli import main as cli_main
from experiments.report.load import load_run
from experiments.report.protocols import (
    INTERVAL_ENDS,
    JOINT_BOOTSTRAP,
    QUADRATURE,
    compare_protocols,
    differing_switches,
    row_name,
)
from experiments.report.writer import write_report
from jaxformer.checkpoint import RunCheckpointer
from jaxformer.config import CheckpointConfig, DataConfig, ModelConfig, RunConfig
from jaxformer.eval import worker
from jaxformer.eval.protocol import PRESETS
from jaxformer.eval.results import prepare_rungs, rate_step
from jaxformer.model import Transformer

MODEL = "run-0123456789ab@10"
TABLE = "ladder-sf15-s20"  # ships its games: the eval refits its rungs, so ratings include the rungs' uncertainty
CAP_DRAW = dataclasses.replace(PRESETS["fixed"], cap_result="draw")
N_BOOT = 100


def _games(protocol: dict, temp: float, opponent: str, wins: int, draws: int, losses: int) -> list[dict]:
    """Game records as the eval writes them (games.jsonl), colours alternating; the model's score as given."""
    label, mode = protocol["label"], protocol["mode"]
    prefix = "s10-move" if label == "fixed" else f"s10-{label}-{mode}"
    out = []
    for k, score in enumerate([1.0] * wins + [0.5] * draws + [0.0] * losses):
        white, black = (MODEL, opponent) if k % 2 == 0 else (opponent, MODEL)
        out.append({"game_id": f"{prefix}-T{temp:g}-{opponent}-{k:04d}", "round": k + 1, "white": white, "black": black,
                    "white_score": score if white == MODEL else 1.0 - score, "result": "*", "temperature": temp,
                    "mode": mode, "protocol": protocol, "adjudicated": False, "plies": 60, "termination": "checkmate",
                    "players": {"white": {"illegal_attempts": 0}, "black": {"illegal_attempts": 0}}})
    return out


def make_step(root: pathlib.Path, groups: list[list[dict]], table: str = TABLE) -> pathlib.Path:
    """A run whose step 10 holds `groups` (one list of records per protocol), rated by the eval's own code."""
    run = root / "run"
    (run / "eval" / "10").mkdir(parents=True)
    (run / "config.json").write_text(RunConfig(name="p", data=DataConfig(cutoff=1000)).to_json())
    records = [r for g in groups for r in g]
    (run / "eval" / "10" / "games.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    anchors = worker.load_anchor_table(table)
    rungs = prepare_rungs(table, anchors, n_boot=N_BOOT)
    results = []
    ratings: dict = {}
    for g in groups:
        ratings = rate_step(g, MODEL, anchors, run=str(run), step=10, anchor_table=table, reference=(1000.0, "cutoff"),
                            n_boot=N_BOOT, glicko=g[0]["protocol"]["glicko"], rungs=rungs)
        results += [{**r, "protocol": g[0]["protocol"]} for r in ratings["results"]]
    (run / "eval" / "10" / "ratings.json").write_text(json.dumps({**ratings, "results": results}))
    return run


def _elo_vs_one_anchor(anchor: float, score: float) -> float:
    """The Bradley-Terry MLE against one opponent of fixed rating, draws as half points: a closed form."""
    return anchor + 400 * math.log10(score / (1 - score))


@pytest.fixture(scope="module")
def short_ladder(tmp_path_factory) -> str:
    """The bundled ladder cut to its first 16 games a pair and refitted: rungs as uncertain as a short measurement's,
    so their share of a model's interval, which the joint bootstrap cancels in a difference, is large."""
    from arena import ladder
    from arena.anchors import load_anchor_games, load_anchored_to, table_path

    games = [g for g in load_anchor_games(TABLE) if int(g["game_id"].rsplit("-", 1)[1]) < 16]
    out = tmp_path_factory.mktemp("short-ladder") / "short.json"
    table = {**json.loads(table_path(TABLE).read_text()), **ladder.rate_ladder(games, load_anchored_to(TABLE), 200),
             "games": len(games)}
    out.write_text(json.dumps(table))
    ladder.export_games(games, out.with_name("short.games.jsonl.zst"))
    return str(out)


@pytest.fixture(scope="module")
def three_protocols(tmp_path_factory, short_ladder):
    fixed, paper, cap = PRESETS["fixed"].record(), PRESETS["paper"].record(), CAP_DRAW.record()
    return make_step(tmp_path_factory.mktemp("three"), [_games(fixed, 1.0, "stockfish-l20-n1-r85", 30, 4, 6),
                                                        _games(paper, 1.0, "stockfish-l20-n1-r85", 10, 4, 26),
                                                        _games(cap, 1.0, "stockfish-l20-n1-r85", 28, 6, 6)],
                     table=short_ladder)


def test_switches_and_names_of_protocols():
    fixed, paper, cap = PRESETS["fixed"].record(), PRESETS["paper"].record(), CAP_DRAW.record()
    assert differing_switches(cap, fixed) == ["--cap-result draw"]
    assert row_name(cap, ["--cap-result draw"]) == "only --cap-result draw"
    assert cap["label"].startswith("custom-")
    short = dataclasses.replace(PRESETS["paper"], max_plies=40).record()
    assert row_name(short, differing_switches(short, fixed)) == "paper with --max-plies 40"
    assert differing_switches(paper, fixed) == [
        "--movetime 0.1", "--engine-per-match yes", "--max-plies 180", "--cap-result draw", "--claim-threefold no",
        "--score-bug-white-to-move yes", "--mode char", "--char-sampler paper", "--illegal forfeit:5",
        "--strip-own-check yes", "--glicko per-game"]
    assert row_name(paper, differing_switches(paper, fixed)) == "paper"
    assert differing_switches(fixed, paper)[0] == "--movetime off (node limit)"


def test_the_difference_from_fixed_is_a_joint_bootstrap_that_cancels_the_rungs(three_protocols):
    run = load_run(three_protocols)
    comparison = compare_protocols(run, 10)
    assert comparison["labels"] == ["fixed", CAP_DRAW.label, "paper"]
    assert comparison["method"].startswith(
        f"{JOINT_BOOTSTRAP} where both ratings are two-sided ({N_BOOT} resamples; the ladder's ")
    (table,) = comparison["tables"]
    fixed, cap, paper = table["rows"]
    assert [r["name"] for r in table["rows"]] == ["fixed", "only --cap-result draw", "paper"]
    assert fixed["baseline"] and fixed["diff"] is None and fixed["switches"] == []
    assert (paper["games"], paper["wins"], paper["draws"], paper["losses"], paper["mode"]) == (40, 10, 4, 26, "char")
    # One opponent: each Elo is the closed form around the refitted rung, so the difference is the rung-free
    # 400 log10 of the odds ratio, -388.1 for scores 0.8 and 0.3.
    expected = _elo_vs_one_anchor(0, 0.3) - _elo_vs_one_anchor(0, 0.8)
    assert paper["diff"] == pytest.approx(expected, abs=0.2) and paper["diff_method"] == JOINT_BOOTSTRAP
    lo, hi = paper["diff_ci95"]
    assert lo < paper["diff"] < hi
    # The rungs' uncertainty is in both ratings' intervals and cancels in the difference: the joint interval is
    # narrower than the two intervals in quadrature, which count it twice.
    quadrature = math.hypot(paper["elo"] - paper["elo_ci95"][0], fixed["elo_ci95"][1] - fixed["elo"]) + \
        math.hypot(paper["elo_ci95"][1] - paper["elo"], fixed["elo"] - fixed["elo_ci95"][0])
    assert paper["anchor_uncertainty"] and fixed["anchor_uncertainty"]
    assert hi - lo < 0.9 * quadrature
    assert cap["diff"] == pytest.approx(_elo_vs_one_anchor(0, 31 / 40) - _elo_vs_one_anchor(0, 0.8), abs=0.2)
    assert paper["glicko2_method"] == "per-game" and fixed["glicko2_method"] == "one-period"


def test_without_game_records_the_intervals_are_combined_in_quadrature(three_protocols, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(three_protocols, copy)
    (copy / "eval" / "10" / "games.jsonl").unlink()
    fixed, _, paper = compare_protocols(load_run(copy), 10)["tables"][0]["rows"]
    assert paper["diff_method"] == QUADRATURE
    d = paper["elo"] - fixed["elo"]
    down = math.hypot(paper["elo"] - paper["elo_ci95"][0], fixed["elo_ci95"][1] - fixed["elo"])
    up = math.hypot(paper["elo_ci95"][1] - paper["elo"], fixed["elo"] - fixed["elo_ci95"][0])
    assert paper["diff_ci95"] == [pytest.approx(d - down, abs=0.1), pytest.approx(d + up, abs=0.1)]


def test_a_protocol_that_lost_every_game_is_bounded_by_the_interval_ends(tmp_path):
    fixed, paper = PRESETS["fixed"].record(), PRESETS["paper"].record()
    run = make_step(tmp_path, [_games(fixed, 0.5, "random", 20, 10, 10), _games(paper, 0.5, "random", 0, 0, 20)])
    fixed_row, paper_row = compare_protocols(load_run(run), 10)["tables"][0]["rows"]
    assert paper_row["elo_bound"] == "upper" and paper_row["diff"] is None
    assert paper_row["diff_method"] == INTERVAL_ENDS
    assert paper_row["diff_ci95"] == [None, pytest.approx(paper_row["elo"] - fixed_row["elo_ci95"][0], abs=0.1)]
    assert "won or lost every game" in paper_row["diff_note"]
    md = (tmp_path / "md")
    write_report([str(run)], md)
    bound = paper_row["diff_ci95"][1]
    assert f"| at most {bound:+.0f} | [-inf, {bound:+.0f}] |" in (md / "report.md").read_text()


def test_the_section_and_figure_appear_whenever_a_step_holds_several_protocols(three_protocols, tmp_path):
    summary = write_report([str(three_protocols)], tmp_path / "out")
    assert "protocols.png" in summary["figures"]
    assert (tmp_path / "out" / "protocols.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Protocols side by side: run, step 10" in md
    paper = summary["runs"][0]["protocols"]["tables"][0]["rows"][2]
    lo, hi = paper["diff_ci95"]
    assert "| paper | `--movetime 0.1`, " in md and f"| {paper['diff']:+.0f} | [{lo:+.0f}, {hi:+.0f}] |" in md
    assert "| only --cap-result draw | `--cap-result draw` | move | 40 | 28 / 6 / 6 |" in md
    # The main ratings table names the protocol of every row that is not `fixed`.
    assert "| run | 10 | 1 | char (paper) | 40 | 10 / 4 / 26 |" in md
    rows = summary["runs"][0]["results"]
    assert [r["protocol"] for r in rows] == ["paper", "fixed", CAP_DRAW.label]  # by temperature, mode, protocol
    assert all(r["status"] == "complete" for r in rows)


def test_compare_protocols_flag_on_a_single_protocol_says_how_to_get_a_second(tmp_path, capsys):
    run = make_step(tmp_path, [_games(PRESETS["fixed"].record(), 0.5, "random", 20, 10, 10)])
    assert cli_main(["report", str(run), "--out", str(tmp_path / "out"), "--compare-protocols"]) == 0
    assert "holds results of one protocol only (fixed); evaluate it with `transcend eval" in capsys.readouterr().out
    assert "holds results of one protocol only (fixed)" in (tmp_path / "out" / "report.md").read_text()
    assert cli_main(["report", str(run), "--out", str(tmp_path / "plain")]) == 0
    assert "Protocols side by side" not in (tmp_path / "plain" / "report.md").read_text()


def _make_checkpoint(run: pathlib.Path) -> None:
    """A tiny run with one checkpoint, as tests/test_eval_worker.py makes it."""
    cfg = RunConfig(name="protocols", model=ModelConfig(n_layer=1, n_head=2, d_model=32, max_len=256, init_std=0.3),
                    data=DataConfig(cutoff=1000, seq_len=256), checkpoint=CheckpointConfig(async_save=False))
    run.mkdir(parents=True)
    (run / "config.json").write_text(cfg.to_json())
    params = nnx.to_pure_dict(nnx.state(Transformer(cfg.model, rngs=nnx.Rngs(0)), nnx.Param))
    ckpt = RunCheckpointer(run, cfg.checkpoint)
    ckpt.save(5, params, {"mu": np.zeros(2, np.float32)}, jax.random.key(0), None)
    ckpt.close()


@pytest.mark.slow
def test_a_real_checkpoint_under_both_protocols_is_compared_end_to_end(tmp_path, stockfish_path, capsys):
    run = tmp_path / "run"
    _make_checkpoint(run)
    common = ["--run", str(run), "--levels", "random", "--temperatures", "1.0", "--games", "4", "--max-plies", "40",
              "--anchors", "ladder-sf15", "--workers", "1", "--concurrency", "4", "--n-boot", "50", "--no-tensorboard"]
    assert worker.main([*common, "--protocol", "fixed"]) == 0
    assert worker.main([*common, "--protocol", "paper"]) == 0
    capsys.readouterr()
    assert cli_main(["report", str(run), "--out", str(tmp_path / "out"), "--compare-protocols"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    (table,) = summary["runs"][0]["protocols"]["tables"]
    fixed, paper = table["rows"]
    assert (fixed["name"], fixed["mode"], fixed["games"]) == ("fixed", "move", 4)
    # The paper's protocol with a shorter game is its own protocol, named by the change.
    assert (paper["name"], paper["mode"], paper["games"]) == ("paper with --max-plies 40", "char", 4)
    # --max-plies 40 was given to both: it is not a difference between them.
    assert "--max-plies 40" not in paper["switches"] and "--illegal forfeit:5" in paper["switches"]
    for row in (fixed, paper):  # every rating has an interval, one-sided where a protocol won or lost every game
        lo, hi = row["elo_ci95"]
        assert (lo is not None and hi is not None) or row["elo_bound"] is not None
        assert lo is None or hi is None or lo <= row["elo"] <= hi
    assert paper["diff_method"] in (QUADRATURE, INTERVAL_ENDS, JOINT_BOOTSTRAP)
    assert paper["diff_ci95"] != [None, None]
    for row in (fixed, paper):
        assert f"| {row['name']} | " in printed
    assert "95% interval of the difference" in printed
    assert (tmp_path / "out" / "protocols.png").is_file()
