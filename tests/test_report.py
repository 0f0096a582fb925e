"""`transcend report` on small, schema-true run directories (docs/contracts.md)."""
import dataclasses
import json
import pathlib

import pytest

from experiments.cli import main as cli_main
from experiments.report.writer import write_report
from jaxformer.config import ModelConfig, get_preset


def _result(t: float, elo: float, lo: float | None, hi: float | None, ref: float, bound=None, games=40) -> dict:
    return {"temperature": t, "mode": "move", "games": games, "wins": 20, "draws": 5, "losses": 15, "score": 0.5625,
            "elo": elo, "elo_ci95": [lo, hi], "elo_bound": bound,
            "glicko2": {"rating": elo, "rd": 60.0, "volatility": 0.06},
            "margin": elo - ref, "margin_ci95": [None if lo is None else lo - ref, None if hi is None else hi - ref]}


def _unrated(t: float, unrated_games: int = 12) -> dict:
    """A temperature whose every game was against players outside the anchor table (what results.py writes)."""
    return {"temperature": t, "mode": "move", "games": 0, "wins": 0, "draws": 0, "losses": 0, "score": None,
            "unrated_games": unrated_games, "opponents": {"random": {"games": unrated_games}},
            "elo": None, "elo_ci95": [None, None], "elo_bound": None, "glicko2": None,
            "margin": None, "margin_ci95": [None, None]}


FIT = {"method": "bradley-terry-mle", "prior_draws": 0, "anchors_fixed": True, "interval": "bootstrap-95", "n_boot": 1000}


def make_run(root: pathlib.Path, name: str, d_model: int, cutoff: int | None, ref: float | None, kind: str | None,
             results: dict[int, list[dict]], losses: list[float], fit: dict | None = None,
             anchors: dict[str, float] | None = None) -> pathlib.Path:
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
        ratings = {"run": str(run), "step": step, "anchor_table": "ladder-sf15",
                   "anchors": anchors or {"stockfish-l1": 1554},
                   "reference_rating": ref, "reference_kind": kind, "results": rows}
        if fit is not None:
            ratings["fit"] = fit
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


def make_population(tmp_path: pathlib.Path, name: str, fit: dict | None, model_fit: dict | None) -> pathlib.Path:
    """A run trained on a synthetic population: shards whose manifest names the population's PGN."""
    synth, shards = tmp_path / f"{name}-synth", tmp_path / f"{name}-shards"
    synth.mkdir(), shards.mkdir()
    (shards / "manifest.json").write_text(json.dumps({"sources": [str(synth / "games.pgn.zst")], "rating_max": 1410}))
    experts = [{"name": "x00-uniform-n10-eps50", "engine": "stockfish-l20-n10", "bias": "uniform", "epsilon": 0.5,
                "rating": 600.4, "rating_ci95": [None, 600.4], "rating_bound": "upper", "games": 40, "score": 0.0},
               {"name": "x01-king-n1000-eps10", "engine": "stockfish-l20-n1000", "bias": "king", "epsilon": 0.1,
                "rating": 1410.2, "rating_ci95": [1300.0, 1500.0], "rating_bound": None, "games": 40, "score": 0.9}]
    population = {
        "kind": "diverse", "experts": experts,
        "anchors": [{"name": "stockfish-l0-n1000", "rating": 1100.0, "source": "anchor table ladder-sf15"},
                    {"name": "stockfish-l3-n1000", "rating": 1500.0, "source": "anchor table ladder-sf15"}],
        "best_expert": {"name": "x01-king-n1000-eps10", "rating": 1410.2, "rating_ci95": [1300.0, 1500.0]}}
    if fit is not None:
        population["fit"] = fit
    (synth / "population.json").write_text(json.dumps(population))
    run = make_run(tmp_path, name, 64, None, 1410.0, "best_player", {50: [_result(0.001, 900, 800, 1000, 1410)]},
                   [3.0, 2.0], fit=model_fit)
    cfg = json.loads((run / "config.json").read_text())
    cfg["data"]["dir"] = str(shards)
    (run / "config.json").write_text(json.dumps(cfg))
    return run


def test_synthetic_population_is_listed(tmp_path):
    run = make_population(tmp_path, "syn", fit=None, model_fit=None)
    summary = write_report([str(run)], tmp_path / "out")
    pop = summary["runs"][0]["population"]
    assert pop["best_expert"]["name"] == "x01-king-n1000-eps10" and len(pop["experts"]) == 2
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| x01-king-n1000-eps10 (best) | stockfish-l20-n1000 | king | 0.1 | 1410 | [1300, 1500] | 40 | 0.900 |" in md
    assert "| x00-uniform-n10-eps50 | stockfish-l20-n10 | uniform | 0.5 | 600 | [-inf, 600] | 40 | 0.000 |" in md
    assert "anchors stockfish-l0-n1000 at 1100, stockfish-l3-n1000 at 1500 held fixed" in md
    # Files from before the "fit" field still load, and say so.
    assert "| syn | fit not recorded | fit not recorded | unknown (fit not recorded) |" in md
    assert "syn: cannot check that experts and model were rated by the same fit: fit not recorded for the model's " \
           "ratings and the experts' ratings" in md


def test_report_states_each_fit_and_flags_different_fits(tmp_path):
    # The same fit, bootstrapped with fewer resamples for the experts: comparable (n_boot is precision only).
    same = make_population(tmp_path, "same", fit={**FIT, "n_boot": 200}, model_fit=FIT)
    # Experts with one virtual draw per anchor as a prior, the model with none: the defect of issue 8.
    prior = make_population(tmp_path, "prior", fit={**FIT, "prior_draws": 1}, model_fit=FIT)
    # Real data (no population): only the model's fit is stated.
    real = make_run(tmp_path, "real", 64, 1000, 1000.0, "cutoff", {10: [_result(0.001, 1010, 950, 1080, 1000)]},
                    [3.0, 2.0], fit=FIT)
    summary = write_report([str(same), str(prior), str(real)], tmp_path / "out")
    by_name = {r["name"]: r for r in summary["runs"]}
    assert by_name["same"]["fit"]["comparable"] is True and by_name["same"]["fit"]["note"] is None
    assert by_name["prior"]["fit"]["comparable"] is False
    assert by_name["prior"]["fit"]["experts"] == {**FIT, "prior_draws": 1} and by_name["prior"]["fit"]["model"] == FIT
    assert by_name["real"]["fit"]["comparable"] is None and by_name["real"]["fit"]["experts"] is None
    assert by_name["prior"]["verdict"].endswith("WARNING: experts and model were rated by different fits: not comparable")
    assert "WARNING" not in by_name["same"]["verdict"] and "WARNING" not in by_name["real"]["verdict"]
    md = (tmp_path / "out" / "report.md").read_text()
    described = "bradley-terry-mle, anchors fixed, no prior, bootstrap-95 (1000 resamples)"
    assert f"| same | {described} | bradley-terry-mle, anchors fixed, no prior, bootstrap-95 (200 resamples) | yes |" in md
    assert (f"| prior | {described} | bradley-terry-mle, anchors fixed, prior: 1 virtual draw(s) with each anchor, "
            "bootstrap-95 (1000 resamples) | **NO: experts and model were rated by different fits: not comparable** |") in md
    assert f"| real | {described} | - | - |" in md
    assert "> **WARNING: experts and model were rated by different fits: not comparable** (prior)" in md


def test_unrated_results_and_unknown_reference_are_reported_not_crashed(tmp_path, capsys):
    # --levels random with the paper anchors: every game against an unrated opponent, "elo": null.
    unrated = make_run(tmp_path, "unrated", 64, 1000, 1000.0, "cutoff", {10: [_unrated(0.001), _unrated(1.0)]}, [3.0, 2.0])
    # No cutoff and no manifest rating_max: reference_rating null, although the model has an Elo.
    noref = make_run(tmp_path, "noref", 64, None, None, None,
                     {10: [{**_result(0.001, 900, 800, 1000, 0), "margin": None, "margin_ci95": [None, None]}]}, [3.0])
    # One temperature rated (and above the cutoff), the other not.
    mixed = make_run(tmp_path, "mixed", 64, 1000, 1000.0, "cutoff",
                     {10: [_result(0.001, 1200, 1100, 1300, 1000), _unrated(1.0, 40)]}, [3.0, 2.0])
    out = tmp_path / "out"
    assert cli_main(["report", str(unrated), str(noref), str(mixed), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    runs = {r["name"]: r for r in summary["runs"]}
    assert runs["unrated"]["verdict"] == ("unrated: not rated: no game against a rated opponent "
                                          "(all 24 games were against players missing from the anchor table)")
    assert runs["noref"]["verdict"].startswith("noref: no verdict: no reference rating")
    assert runs["noref"]["verdict"].endswith("highest Elo 900 at T=0.001")
    assert runs["mixed"]["verdict"] == ("mixed: TRANSCENDED at T=0.001 (lower bound 1100): the 95% interval lies above "
                                        "the cutoff 1000; T=1 not rated: no game against a rated opponent")
    assert [r["transcended"] for r in runs["unrated"]["results"]] == [None, None]
    assert runs["noref"]["results"][0]["transcended"] is None and runs["noref"]["reference_kind"] is None
    assert not runs["unrated"]["transcended"] and runs["mixed"]["transcended"]
    for name in ("unrated", "noref", "mixed"):
        assert runs[name]["verdict"] in printed
    # The rated points are drawn (noref without a reference line); one size only: no margin-vs-size figure.
    assert summary["figures"] == ["rating_vs_temperature.png", "loss_curves.png"]
    for fig in summary["figures"]:
        assert (out / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text()
    assert "| unrated | 10 | 0.001 | move | 0 (+12 unrated) | 0 / 0 / 0 | - | - | - | - | - |" in md
    assert "| noref | 10 | 0.001 | move | 40 | 20 / 5 / 15 | 0.562 | 900 | [800, 1000] | - | - |" in md
    assert "| mixed | 10 | 1 | move | 0 (+40 unrated) | 0 / 0 / 0 | - | - | - | - | - |" in md
    assert f"| noref | {_params(64):,} | 2 x 64 | - | 10 | 3.0000 | - | 10 | - |" in md  # no reference: "-"


def test_only_unrated_results_write_a_report_without_rating_figures(tmp_path):
    run = make_run(tmp_path, "unrated", 64, 1000, 1000.0, "cutoff", {10: [_unrated(0.001)]}, [3.0, 2.0])
    summary = write_report([str(run)], tmp_path / "out")
    assert summary["figures"] == ["loss_curves.png"]
    assert "not rated: no game against a rated opponent" in (tmp_path / "out" / "report.md").read_text()


def test_margin_vs_size_with_two_runs_of_one_size(tmp_path):
    # Two runs of one size and different cutoffs next to a larger one: the size plot is drawn, and equal sizes sort.
    c1000 = make_run(tmp_path, "c1000", 64, 1000, 1000.0, "cutoff",
                     {10: [_result(0.001, 1200, 1100, 1300, 1000), _result(1.0, 900, 800, 1000, 1000)]}, [3.0])
    c1300 = make_run(tmp_path, "c1300", 64, 1300, 1300.0, "cutoff",
                     {10: [_result(0.001, 1350, 1250, 1450, 1300), _result(1.0, 1100, 1000, 1200, 1300)]}, [3.0])
    big = make_run(tmp_path, "big", 128, 1000, 1000.0, "cutoff",
                   {10: [_result(0.001, 1400, 1300, 1500, 1000), _result(1.0, 950, 850, 1050, 1000)]}, [3.0])
    out = tmp_path / "out"
    summary = write_report([str(c1000), str(c1300), str(big)], out)
    assert summary["figures"] == ["rating_vs_temperature.png", "margin_vs_size.png", "loss_curves.png"]
    assert (out / "margin_vs_size.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    margins = {r["name"]: [x["margin"] for x in r["results"]] for r in summary["runs"]}
    assert margins == {"c1000": [200, -100], "c1300": [50, -200], "big": [400, -50]}
    assert summary["runs"][0]["params"] == summary["runs"][1]["params"] == _params(64)


# ---------------------------------------------------------------- issue 12: what the figure and tables show

LADDER = {"random": 400.0, "stockfish-l0-n1000": 1100.0}


def _played(result: dict, opponents: dict[str, tuple[int, int, int, int]], planned: int | None = None) -> dict:
    """A result with its per-opponent record (games, wins, draws, losses), as results.py writes it."""
    out = {**result, "opponents": {name: {"games": g, "wins": w, "draws": d, "losses": n_lost, "adjudicated": 1,
                                          "illegal_attempts": 0}
                                   for name, (g, w, d, n_lost) in opponents.items()}}
    return out if planned is None else {**out, "planned_games": planned}


def _figure(summary: dict):
    from experiments.report.plots import rating_vs_temperature_figure

    fig = rating_vs_temperature_figure(summary["runs"])
    (ax,) = fig.axes
    return fig, ax, ax.get_legend_handles_labels()[1]


def test_argmax_alone_is_plotted_at_its_own_tick(tmp_path):
    from experiments.report.plots import ARGMAX_LABEL

    run = make_run(tmp_path, "argmax", 64, 1000, 1000.0, "cutoff", {10: [_result(0.0, 900, 800, 1000, 1000)]}, [3.0])
    out = tmp_path / "out"
    summary = write_report([str(run)], out)
    assert summary["figures"][0] == "rating_vs_temperature.png"
    assert (out / "rating_vs_temperature.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig, ax, labels = _figure(summary)
    assert [t.get_text() for t in ax.get_xticklabels()] == [ARGMAX_LABEL]
    (bar,) = ax.containers  # the arg-max point with its interval, at a finite position of the log axis
    (x,), (y,) = bar.lines[0].get_data()
    assert x == 1.0 and y == 900
    lo, hi = ax.get_ylim()
    assert lo < 800 and hi > 1000
    assert labels == ["cutoff 1000", "argmax (step 10): arg-max, 95% interval"]
    assert "| argmax | 10 | 0 | move | 40 | 20 / 5 / 15 |" in (out / "report.md").read_text()


def test_argmax_sits_left_of_the_positive_temperatures(tmp_path):
    from experiments.report.plots import ARGMAX_LABEL, temperature_positions

    assert temperature_positions([0.0, 0.01, 1.0]) == {0.0: 0.001, 0.01: 0.01, 1.0: 1.0}
    run = make_run(tmp_path, "r", 64, 1000, 1000.0, "cutoff",
                   {10: [_result(0.0, 950, 900, 1000, 1000), _result(0.01, 930, 880, 980, 1000),
                         _result(1.0, 800, 700, 900, 1000)]}, [3.0])
    fig, ax, _ = _figure(write_report([str(run)], tmp_path / "out"))
    assert [t.get_text() for t in ax.get_xticklabels()] == [ARGMAX_LABEL, "0.01", "1"]
    assert list(ax.get_xticks()) == pytest.approx([0.001, 0.01, 1.0])
    curve = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert len(curve) == 1 and list(curve[0].get_xdata()) == [0.01, 1.0]  # the positive temperatures
    (bar,) = ax.containers
    assert list(bar.lines[0].get_xdata()) == [0.001]


def test_each_run_has_its_own_colour_band_and_legend_entry(two_runs, tmp_path):
    from matplotlib.colors import to_rgba

    fig, ax, labels = _figure(write_report([str(r) for r in two_runs], tmp_path / "out"))
    assert "small: 95% interval" in labels and "big: 95% interval" in labels
    assert "small (step 200)" in labels and "big (step 300)" in labels
    bands = [c for c in ax.collections if c.get_label().endswith("95% interval")]
    assert len(bands) == 2
    colours = [tuple(to_rgba(c.get_facecolor()[0], 1.0)) for c in bands]
    assert colours[0] != colours[1]
    assert bands[0].get_hatch() != bands[1].get_hatch()


def test_opponent_lines_and_game_counts(tmp_path):
    rows = [_played(_result(0.001, 300, 200, 420, 1000), {"random": (20, 8, 2, 10), "stockfish-l0-n1000": (20, 0, 0, 20)}),
            _played(_result(1.0, 250, 150, 350, 1000), {"random": (20, 5, 5, 10), "stockfish-l0-n1000": (20, 0, 0, 20)}),
            _played(_unrated(0.5, 20), {"unknown-engine": (20, 0, 0, 20)})]
    run = make_run(tmp_path, "weak", 64, 1000, 1000.0, "cutoff", {10: rows}, [3.0], anchors=LADDER)
    summary = write_report([str(run)], tmp_path / "out")
    assert summary["runs"][0]["opponent_ratings"] == {"random": 400.0, "stockfish-l0-n1000": 1100.0,
                                                      "unknown-engine": None}
    fig, ax, labels = _figure(summary)
    assert "opponent random (400)" in labels and "opponent stockfish-l0-n1000 (1100)" in labels
    assert not any("unknown-engine" in label for label in labels)  # unrated: no rating, no line
    dotted = sorted(line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == ":")
    assert dotted == [400.0, 1100.0]
    texts = [t.get_text() for t in ax.texts]
    assert "random 400" in texts and "stockfish-l0-n1000 1100" in texts
    assert sorted(a.get_text() for a in ax.texts if a.get_text().startswith("n=")) == ["n=40", "n=40"]


def test_per_opponent_table(tmp_path):
    rows = [_played(_result(0.001, 1010, 950, 1080, 1000), {"random": (20, 15, 3, 2), "stockfish-l0-n1000": (20, 5, 2, 13)}),
            _played(_unrated(1.0, 40), {"nowhere": (20, 1, 0, 19), "elsewhere": (20, 0, 0, 20)})]
    run = make_run(tmp_path, "wdl", 64, 1000, 1000.0, "cutoff", {10: rows}, [3.0], anchors=LADDER)
    write_report([str(run)], tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Games per opponent" in md
    assert "| wdl | 10 | 0.001 | move | random | 400 | 20 | 15 / 3 / 2 | 0.825 | 1 | 0 | complete |" in md
    assert "| wdl | 10 | 0.001 | move | stockfish-l0-n1000 | 1100 | 20 | 5 / 2 / 13 | 0.300 | 1 | 0 | complete |" in md
    assert "| wdl | 10 | 1 | move | nowhere | - | 20 | 1 / 0 / 19 | 0.050 | 1 | 0 | complete |" in md


def test_partial_evaluations_are_marked(tmp_path):
    # planned_games recorded: T=1 has 30 of 40 planned games, its random cell 10 of 20.
    planned = make_run(tmp_path, "planned", 64, 1000, 1000.0, "cutoff",
                       {10: [_played(_result(0.001, 1010, 950, 1080, 1000),
                                     {"random": (20, 9, 2, 9), "stockfish-l0-n1000": (20, 9, 2, 9)}, 40),
                             _played(_result(1.0, 900, 800, 1000, 1000, games=30),
                                     {"random": (10, 5, 0, 5), "stockfish-l0-n1000": (20, 9, 2, 9)}, 40)]},
                       [3.0], anchors=LADDER)
    # No planned_games (an older file): T=1 has fewer games than T=0.001, so it may be partial.
    unplanned = make_run(tmp_path, "unplanned", 64, 1000, 1000.0, "cutoff",
                         {10: [_result(0.001, 1010, 950, 1080, 1000), _result(1.0, 900, 800, 1000, 1000, games=12)]}, [3.0])
    # Every temperature complete: no mark.
    complete = make_run(tmp_path, "complete", 64, 1000, 1000.0, "cutoff",
                        {10: [_played(_result(0.001, 1010, 950, 1080, 1000), {"random": (40, 9, 2, 29)}, 40)]}, [3.0],
                        anchors=LADDER)
    out = tmp_path / "out"
    summary = write_report([str(planned), str(unplanned), str(complete)], out)
    runs = {r["name"]: r for r in summary["runs"]}
    assert [r["status"] for r in runs["planned"]["results"]] == ["complete", "partial"]
    assert [o["status"] for o in runs["planned"]["results"][1]["opponents"]] == ["partial", "complete"]
    assert [r["status"] for r in runs["unplanned"]["results"]] == ["complete", "partial?"]
    assert not runs["planned"]["complete"] and runs["complete"]["complete"]
    assert runs["planned"]["verdict"].endswith("; partial evaluation: T=1 (30 of 40 planned games)")
    assert runs["unplanned"]["verdict"].endswith("; partial? T=1 (12 games), where another temperature has 40")
    assert "partial" not in runs["complete"]["verdict"]
    md = (out / "report.md").read_text()
    assert "| planned | 10 | 1 | move | 30, partial: 30 of 40 planned | 20 / 5 / 15 |" in md
    assert "| unplanned | 10 | 1 | move | 12, partial? | 20 / 5 / 15 |" in md
    assert "| planned | 10 | 1 | move | random | 400 | 10 | 5 / 0 / 5 | 0.500 | 1 | 0 | partial |" in md
    fig, ax, _ = _figure({"runs": [runs["planned"]]})
    assert sorted(a.get_text() for a in ax.texts if a.get_text().startswith("n=")) == \
        ["n=30 (partial: 30 of 40)", "n=40"]


def test_games_recorded_but_not_rated_are_a_partial_evaluation_not_none(tmp_path, capsys):
    """An evaluation interrupted before it rated its step leaves games.jsonl without ratings.json."""
    run = make_run(tmp_path, "stopped", 64, 1000, 1000.0, "cutoff", {}, [3.0, 2.0])
    (run / "eval" / "300").mkdir()
    (run / "eval" / "300" / "games.jsonl").write_text("".join(json.dumps({"game_id": f"g{i}"}) + "\n" for i in range(7)))
    assert cli_main(["report", str(run), "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    (verdict,) = [r["verdict"] for r in summary["runs"]]
    assert "not evaluated yet" not in verdict
    assert verdict == (f"stopped: partly evaluated: 7 game(s) at step 300 recorded but not rated yet (rerun "
                       f"`transcend eval --run {run}` to finish and rate them; finished games are kept)")
    assert summary["runs"][0]["unrated_steps"] == {"300": 7}
    # With an earlier rated step, the report rates that one and says the later step is waiting.
    (run / "eval" / "200").mkdir()
    (run / "eval" / "200" / "ratings.json").write_text(json.dumps(
        {"reference_rating": 1000.0, "reference_kind": "cutoff", "results": [_result(0.001, 1010, 950, 1080, 1000)]}))
    summary = write_report([str(run)], tmp_path / "out2")
    assert summary["runs"][0]["eval_step"] == 200
    assert summary["runs"][0]["verdict"].endswith("; partly evaluated: 7 game(s) at step 300 recorded but not rated yet "
                                                  f"(rerun `transcend eval --run {run}` to finish and rate them; "
                                                  "finished games are kept)")
    # The empty run is still "not evaluated yet".
    empty = make_run(tmp_path, "empty", 64, 1000, 1000.0, "cutoff", {}, [3.0])
    assert "not evaluated yet" in write_report([str(empty)], tmp_path / "out3")["runs"][0]["verdict"]


def test_resumed_metrics_never_double_back(tmp_path):
    run = make_run(tmp_path, "resumed", 64, 1000, 1000.0, "cutoff", {}, [])
    rows = [{"step": s, "loss": 3.0 - s / 100} for s in (10, 20, 30)] + \
           [{"step": s, "loss": 2.0 - s / 100} for s in (20, 30, 40)]  # resumed from the checkpoint at step 10
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = write_report([str(run)], tmp_path / "out")
    from experiments.report.load import load_run

    train = load_run(run).train
    assert [m["step"] for m in train] == [10, 20, 30, 40]
    assert [m["loss"] for m in train] == pytest.approx([2.9, 1.8, 1.7, 1.6])  # the last line of each step
    assert summary["runs"][0]["trained_steps"] == 40 and summary["runs"][0]["final_loss"] == pytest.approx(1.6)


def test_help_shows_each_default_once(capsys):
    with pytest.raises(SystemExit):
        cli_main(["report", "--help"])
    text = capsys.readouterr().out
    assert "(default: None) (default" not in text and ") (default: None)" not in text
    entries = _help_entries(text)
    assert set(entries) == {"--out", "--arm", "--step", "--compare-protocols", "--n-boot"}
    for flag in ("--arm", "--step", "--compare-protocols", "--n-boot"):
        assert entries[flag].count("(default:") == 1, entries[flag]
    assert "(default:" not in entries["--out"]  # required: it has no default


def _help_entries(text: str) -> dict[str, str]:
    """Option -> its help text (the lines from its flag to the next flag), -h excluded."""
    import re

    entries: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^  (-\w, )?(--[\w-]+)", line)
        if m:
            current = m.group(2)
            entries[current] = line
        elif current and line.startswith("    "):
            entries[current] += " " + line.strip()
        else:
            current = None
    entries.pop("--help", None)
    return entries
