"""`transcend report` on small, schema-true run directories (docs/INTERFACES.md)."""
import dataclasses
import json
import pathlib

import pytest

from experiments.cli import main as cli_main
from experiments.report.cli import write_report
from jaxformer.config import ModelConfig, get_preset


def _result(t: float, elo: float, lo: float | None, hi: float | None, ref: float, bound=None, games=40) -> dict:
    return {"temperature": t, "mode": "move", "games": games, "wins": 20, "draws": 5, "losses": 15, "score": 0.5625,
            "elo": elo, "elo_ci95": [lo, hi], "elo_bound": bound,
            "glicko2": {"rating": elo, "rd": 60.0, "volatility": 0.06},
            "margin": elo - ref, "margin_ci95": [None if lo is None else lo - ref, None if hi is None else hi - ref]}


def make_run(root: pathlib.Path, name: str, d_model: int, cutoff: int | None, ref: float, kind: str,
             results: dict[int, list[dict]], losses: list[float]) -> pathlib.Path:
    run = root / name
    (run / "eval").mkdir(parents=True)
    tiny = get_preset("tiny")
    cfg = dataclasses.replace(tiny, name=name, model=dataclasses.replace(tiny.model, d_model=d_model),
                              data=dataclasses.replace(tiny.data, cutoff=cutoff, dir="/data/shards"))
    (run / "config.json").write_text(cfg.to_json())
    lines = []
    for i, loss in enumerate(losses):
        step = 10 * (i + 1)
        lines.append({"step": step, "loss": loss, "lr": 1e-3, "grad_norm": 1.0, "tokens_per_s": 1e4,
                      "step_time_s": 0.1, "mfu": 0.01})
        if step % 20 == 0:
            lines.append({"step": step, "val_loss": loss + 0.1})
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    for step, rows in results.items():
        (run / "eval" / str(step)).mkdir()
        ratings = {"run": str(run), "step": step, "anchor_table": "ladder-sf15", "anchors": {"stockfish-l1": 1554},
                   "reference_rating": ref, "reference_kind": kind, "results": rows}
        (run / "eval" / str(step) / "ratings.json").write_text(json.dumps(ratings))
    return run


def _params(d_model: int) -> int:
    """Independent count: tied embeddings, learned positions, bias-free pre-LN blocks (norms: scale only)."""
    m = ModelConfig(n_layer=2, n_head=4, d_model=d_model, max_len=256)
    block = 4 * d_model * d_model + 2 * d_model * m.mlp_dim + 2 * d_model
    return m.vocab_size * d_model + m.max_len * d_model + m.n_layer * block + d_model


@pytest.fixture
def two_runs(tmp_path):
    small = make_run(tmp_path, "small", 64, 1000, 1000.0, "cutoff",
                     {100: [_result(0.001, 1010, 950, 1080, 1000), _result(1.0, 800, 700, 900, 1000)],
                      200: [_result(0.001, 1200, 1100, 1300, 1000), _result(0.5, 1050, 990, 1110, 1000),
                            _result(1.0, 850, 760, 950, 1000)]},
                     [3.0, 2.5, 2.2, 2.0])
    big = make_run(tmp_path, "big", 128, None, 1410.0, "best_player",
                   {300: [_result(0.001, 700, None, 700, 1410, bound="upper"), _result(1.0, 1500, 1420, 1580, 1410)]},
                   [3.1, 2.4, 2.0, 1.8, 1.7, 1.6])
    return small, big


def test_report_values_and_verdicts(two_runs, tmp_path):
    out = tmp_path / "report"
    summary = write_report([str(r) for r in two_runs], out)
    small, big = summary["runs"]
    assert small["eval_step"] == 200 and big["eval_step"] == 300  # latest step by default
    assert [r["temperature"] for r in small["results"]] == [0.001, 0.5, 1.0]
    # lower bound 1100 > cutoff 1000 transcends; 990 < 1000 does not, although the estimate 1050 is above.
    assert [r["transcended"] for r in small["results"]] == [True, False, False]
    assert small["transcended"] and "TRANSCENDED at T=0.001 (lower bound 1100)" in small["verdict"]
    # An all-loss "upper" bound never transcends; 1420 > best expert 1410 does.
    assert [r["transcended"] for r in big["results"]] == [False, True]
    assert big["reference_kind"] == "best_player" and big["reference_rating"] == 1410.0
    assert small["results"][0]["margin"] == pytest.approx(200.0)
    assert small["final_loss"] == 2.0 and small["final_val_loss"] == pytest.approx(2.1)
    assert big["trained_steps"] == 60 and big["final_val_loss"] == pytest.approx(1.7)
    assert small["params"] == _params(64) and big["params"] == _params(128)
    assert set(small["results_by_step"]) == {"100", "200"}
    assert summary["figures"] == ["rating_vs_temperature.png", "margin_vs_size.png", "loss_curves.png"]
    for fig in summary["figures"]:
        assert (out / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "summary.json").read_text()) == summary
    md = (out / "report.md").read_text()
    # Every (run, step, temperature) has a table row: 2 + 3 + 2.
    assert md.count("| small | 100 |") == 2 and md.count("| small | 200 |") == 3 and md.count("| big | 300 |") == 2
    assert "| small | 200 | 0.001 | move | 40 | 20 / 5 / 15 | 0.562 | 1200 | [1100, 1300] | +200 | yes |" in md
    assert "| big | 300 | 0.001 | move | 40 | 20 / 5 / 15 | 0.562 | 700 | [-inf, 700] | -710 | no |" in md
    assert "big: TRANSCENDED at T=1 (lower bound 1420)" in md


def test_same_size_runs_have_no_size_plot_and_cli_works(two_runs, tmp_path, capsys):
    small, _ = two_runs
    out = tmp_path / "one"
    assert cli_main(["report", str(small), "--out", str(out), "--step", "100"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["figures"] == ["rating_vs_temperature.png", "loss_curves.png"]
    assert summary["runs"][0]["eval_step"] == 100 and not summary["runs"][0]["transcended"]
    assert "small: did not transcend: its highest lower bound, 950 at T=0.001" in capsys.readouterr().out


def test_bad_inputs_are_clear_errors(tmp_path, two_runs, capsys):
    assert cli_main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "no config.json" in capsys.readouterr().err
    small, _ = two_runs
    assert cli_main(["report", str(small), "--out", str(tmp_path / "o"), "--step", "7"]) == 2
    assert "no evaluation at step 7; evaluated steps: [100, 200]" in capsys.readouterr().err
    (small / "eval" / "200" / "ratings.json").write_text('{"results": []}')
    assert cli_main(["report", str(small), "--out", str(tmp_path / "o")]) == 2
    assert "missing 'reference_rating'" in capsys.readouterr().err


def test_synthetic_population_is_listed(tmp_path):
    synth, shards = tmp_path / "synth", tmp_path / "shards"
    synth.mkdir(), shards.mkdir()
    (shards / "manifest.json").write_text(json.dumps({"sources": [str(synth / "games.pgn.zst")], "rating_max": 1410}))
    experts = [{"name": "x00-uniform-n10-eps50", "engine": "stockfish-l20-n10", "bias": "uniform", "epsilon": 0.5,
                "rating": 600.4, "rating_ci95": [None, 600.4], "rating_bound": "upper", "games": 40, "score": 0.0},
               {"name": "x01-king-n1000-eps10", "engine": "stockfish-l20-n1000", "bias": "king", "epsilon": 0.1,
                "rating": 1410.2, "rating_ci95": [1300.0, 1500.0], "rating_bound": None, "games": 40, "score": 0.9}]
    (synth / "population.json").write_text(json.dumps({
        "kind": "diverse", "experts": experts,
        "anchors": [{"name": "stockfish-l0-n1000", "rating": 1100.0, "source": "anchor table ladder-sf15"},
                    {"name": "stockfish-l3-n1000", "rating": 1500.0, "source": "anchor table ladder-sf15"}],
        "best_expert": {"name": "x01-king-n1000-eps10", "rating": 1410.2, "rating_ci95": [1300.0, 1500.0]}}))
    run = make_run(tmp_path, "syn", 64, None, 1410.0, "best_player", {50: [_result(0.001, 900, 800, 1000, 1410)]},
                   [3.0, 2.0])
    cfg = json.loads((run / "config.json").read_text())
    cfg["data"]["dir"] = str(shards)
    (run / "config.json").write_text(json.dumps(cfg))
    summary = write_report([str(run)], tmp_path / "out")
    pop = summary["runs"][0]["population"]
    assert pop["best_expert"]["name"] == "x01-king-n1000-eps10" and len(pop["experts"]) == 2
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| x01-king-n1000-eps10 (best) | stockfish-l20-n1000 | king | 0.1 | 1410 | [1300, 1500] | 40 | 0.900 |" in md
    assert "| x00-uniform-n10-eps50 | stockfish-l20-n10 | uniform | 0.5 | 600 | [-inf, 600] | 40 | 0.000 |" in md
    assert "anchors stockfish-l0-n1000 at 1100, stockfish-l3-n1000 at 1500 held fixed" in md
