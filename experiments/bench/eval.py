"""Evaluation throughput: model moves/s (cached, batched, exact move mode) vs the paper's sampler.

The paper's approach, run side by side on the same model: no KV cache, one full forward pass over a
1023-token window for every generated character. It is timed at its minimum cost: each move is
written in len(SAN) + 1 passes (its characters and the separator), with no illegal retries.
Ours: move mode (every legal move scored exactly), KV cache per game, `--games` games batched into
one forward pass, against a uniform random mover (so engine time does not enter moves/s).
Beside it, the move-token player (jaxformer.eval.move_player) of the same model size on the `move` tokenizer
(its vocabulary instead of char32's): one batched forward step per move, no candidate scoring.
Then games/hour of the full worker pipeline against Stockfish level 1 (default node limit) with all
cores. The model is the `tiny` preset with max_len 1024 (the paper's context; tiny's own is 256).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import jax
import numpy as np
from flax import nnx

from arena import DEFAULT_NODES, EngineSpec, MatchRunner, PlannedGame, RandomMover, Stockfish, StockfishPlayer
from data_pipeline import get_tokenizer
from jaxformer.config import get_preset
from jaxformer.eval.model_player import ModelPlayer
from jaxformer.eval.move_player import MoveTokenPlayer, model_player
from jaxformer.model import Transformer

WINDOW = 1023


def _model(max_len: int, vocab_size: int | None = None) -> Transformer:
    base = get_preset("tiny").model
    cfg = dataclasses.replace(base, max_len=max_len, vocab_size=vocab_size or base.vocab_size)
    return Transformer(cfg, rngs=nnx.Rngs(0))


def bench_ours(model, games: int, plies: int, tokenizer: str = "char32") -> tuple[float, int, list[str]]:
    """Model moves/s (char32: move mode; move: the move-token player) over `games` concurrent games of `plies`
    plies vs the random mover."""
    tok = get_tokenizer(tokenizer)
    player = model_player(model, tok, name="model", slots=games)
    plan = [PlannedGame(f"g{k}", k, "model" if k % 2 == 0 else "random", "random" if k % 2 == 0 else "model",
                        temperature=1.0, mode="move") for k in range(games)]
    # Warm-up: the same games (per-game seeds) once, so the timed run meets only compiled shapes;
    # compilation is a one-time cost per worker process and shape.
    t0 = time.perf_counter()
    _play_plies(player, plan, plies)
    print(f"warm-up incl. compilation: {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    moves, sans = _play_plies(player, plan, plies)
    return moves / (time.perf_counter() - t0), moves, sans


def _play_plies(player: ModelPlayer | MoveTokenPlayer, plan: list[PlannedGame], plies: int) -> tuple[int, list[str]]:
    """Play every game of `plan` to `plies` plies (a game reaching the cap is a draw; none needs an engine);
    returns the model's moves (count, SANs)."""
    records: list[dict] = []
    runner = MatchRunner({"model": player, "random": RandomMover()}, None, records.append, max_plies=plies,
                         cap_result="draw", concurrency=len(plan), workers=1)
    runner.run(plan, desc="model vs random")
    sans = []
    for r in records:
        for ply, san in enumerate(r["moves_san"]):
            if (r["white"] if ply % 2 == 0 else r["black"]) == "model":  # games start from the initial position
                sans.append(san)
    return len(sans), sans


def bench_paper(model, sans: list[str], n_moves: int) -> float:
    """The paper's sampler: a full uncached forward over a 1023-token window per generated character."""
    tok = get_tokenizer("char32")
    graphdef, state = nnx.split(model)
    forward = jax.jit(lambda st, t: nnx.merge(graphdef, st)(t)[:, -1])
    window = np.zeros((1, WINDOW), np.int32)
    forward(state, window).block_until_ready()
    passes = 0
    t0 = time.perf_counter()
    for san in sans[:n_moves]:
        for ch in san + " ":  # each character of the move and its separator costs one full pass
            logits = np.asarray(forward(state, window))
            window = np.roll(window, -1, axis=1)
            window[0, -1] = tok.encode(ch)[0] if ch in tok.vocab else 0
            passes += 1
        del logits
    dt = time.perf_counter() - t0
    return min(n_moves, len(sans)) / dt


def bench_games_per_hour(model, games: int, workers: int, nodes: int) -> tuple[float, dict]:
    tok = get_tokenizer("char32")
    spec = EngineSpec(skill=1, nodes=nodes)
    player = ModelPlayer(model, tok, mode="move", name="model", slots=games)
    sf = StockfishPlayer(spec)
    records = []
    try:
        with Stockfish(EngineSpec(skill=20, nodes=DEFAULT_NODES)) as adj:
            runner = MatchRunner({"model": player, spec.name: sf}, adj, records.append, concurrency=games,
                                 workers=workers)
            plan = [PlannedGame(f"sf{k}", k, "model" if k % 2 == 0 else spec.name,
                                spec.name if k % 2 == 0 else "model", temperature=1.0, mode="move")
                    for k in range(games)]
            t0 = time.perf_counter()
            runner.run(plan, desc="vs stockfish-l1")
            dt = time.perf_counter() - t0
    finally:
        sf.close()
    plies = [r["plies"] for r in records]
    return games / dt * 3600.0, {"games": games, "seconds": round(dt, 1), "mean_plies": float(np.mean(plies)),
                                 "engine_version": sf.version()}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.bench eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--games", type=int, default=32, help="concurrent games for our moves/s")
    p.add_argument("--plies", type=int, default=60, help="plies per game for our moves/s")
    p.add_argument("--baseline-moves", type=int, default=40, help="moves timed for the paper's sampler")
    p.add_argument("--sf-games", type=int, default=4, help="games vs Stockfish level 1 for games/hour")
    p.add_argument("--nodes", type=int, default=DEFAULT_NODES, help="Stockfish node limit for games/hour")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="engine threads (all cores)")
    args = p.parse_args(argv)
    model = _model(WINDOW + 1)
    cfg = model.cfg
    print(f"model: tiny preset, n_layer={cfg.n_layer} d_model={cfg.d_model} max_len={cfg.max_len}; "
          f"{jax.device_count()} {jax.devices()[0].platform} device(s), {os.cpu_count()} cores")
    ours, n_ours, sans = bench_ours(model, args.games, args.plies)
    print(f"ours (move mode, KV cache, {args.games} games batched): {ours:.1f} model moves/s over {n_ours} moves")
    move_tok = get_tokenizer("move")
    move_model = _model(WINDOW + 1, move_tok.vocab_size)
    tokens, n_tokens, _ = bench_ours(move_model, args.games, args.plies, "move")
    print(f"move tokens (same size, {move_tok.vocab_size}-token vocabulary, {args.games} games batched): "
          f"{tokens:.1f} model moves/s over {n_tokens} moves")
    base = bench_paper(model, sans, args.baseline_moves)
    print(f"paper (char sampling, full {WINDOW}-token forward per character): {base:.2f} moves/s")
    gph, info = bench_games_per_hour(model, args.sf_games, args.workers, args.nodes)
    print(f"vs stockfish-l1 ({args.nodes} nodes, {args.workers} engine threads): {gph:.0f} games/hour ({info})")
    print(json.dumps({"moves_per_s": round(ours, 2), "move_token_moves_per_s": round(tokens, 2),
                      "baseline_moves_per_s": round(base, 3),
                      "speedup": round(ours / base, 1), "games_per_hour": round(gph, 1),
                      "conditions": {"model": "tiny preset, max_len 1024", "mode": "move", "temperature": 1.0,
                                     "move_token_vocab_size": move_tok.vocab_size,
                                     "concurrent_games": args.games, "plies_per_game": args.plies,
                                     "baseline_window": WINDOW, "baseline_moves": min(args.baseline_moves, len(sans)),
                                     "stockfish": {"skill": 1, "nodes": args.nodes, "workers": args.workers, **info},
                                     "cores": os.cpu_count(), "platform": jax.devices()[0].platform}}))
    return 0
