"""The chess arena: every game the project plays, and every rating it reports, goes through here.

Chess only: this package imports nothing from the repository except `safeio`. Its parts:

    stockfish   the engine, located, configured and limited by nodes (never wall time)
    players     the Player protocol; the random mover, engine players, opponent names
    biases      the bias policies of synthetic experts (subset and systematic)
    experts     a synthetic expert as a Player (an engine that deviates by its bias)
    rules       how a game ends: the rules, the ply cap and its adjudication
    match       the match runner: plays planned games to their end, many at once
    openings    opening suites: files or bundled names (opening_suites/)
    records     games.jsonl (append-only) and games.pgn
    claims      claims on planned games, so concurrent workers split them
    likelihood  the fit's outcome models (draws as half points or Davidson's; a White advantage)
    ratings     the one rating fit (maximum likelihood, bootstrap intervals, refitted ladder rungs)
    glicko2     Glicko-2: one rating period over all games, or the paper's one period per game
    anchors     anchor tables: the paper's, the bundled measured ones (tables/), files
    ladder      `transcend ladder`: rates opponents on one scale

`jaxformer` imports only the names below.
"""
from arena.anchors import DEFAULT_LADDER, PAPER_ANCHORS, anchor_games_path, load_anchor_games, load_anchor_table, load_anchored_to
from arena.biases import BIAS_POLICIES, DEFAULT_BIAS_MIX, SYSTEMATIC_BIASES, BiasPolicy, get_bias
from arena.claims import ClaimBoard
from arena.experts import Expert, ExpertPlayer
from arena.glicko2 import glicko2_per_game, glicko2_update, glicko2_vs_anchors
from arena.likelihood import DRAW_MODELS
from arena.match import MatchRunner, PlannedGame
from arena.openings import bundled_suites, load_openings
from arena.players import MoveChoice, MoveRequest, Player, RandomMover, StockfishPlayer, make_opponent, parse_opponents
from arena.ratings import PRIOR_DRAWS, PlayerRating, RungDraws, fit_info, rate_players, rung_draws
from arena.records import GameStore, read_all_records, read_records
from arena.rules import DEFAULT_MAX_PLIES, SCORES, Ending, adjudicate, rules_ending
from arena.stockfish import DEFAULT_NODES, EngineCrash, EngineSpec, Stockfish, find_stockfish

__all__ = [
    "BIAS_POLICIES", "ClaimBoard", "DEFAULT_BIAS_MIX", "Expert", "ExpertPlayer",
    "DEFAULT_MAX_PLIES", "DEFAULT_NODES", "Ending", "EngineCrash", "EngineSpec", "GameStore",
    "DEFAULT_LADDER", "MatchRunner", "MoveChoice", "MoveRequest", "PAPER_ANCHORS", "PRIOR_DRAWS", "PlannedGame", "Player",
    "PlayerRating", "RandomMover", "SCORES", "Stockfish", "StockfishPlayer", "adjudicate", "find_stockfish",
    "fit_info", "glicko2_update", "glicko2_vs_anchors", "load_anchor_table", "load_openings", "make_opponent",
    "DRAW_MODELS", "RungDraws", "anchor_games_path", "bundled_suites", "glicko2_per_game", "load_anchor_games",
    "load_anchored_to", "rung_draws", "SYSTEMATIC_BIASES", "BiasPolicy", "get_bias",
    "parse_opponents", "rate_players", "read_all_records", "read_records", "rules_ending",
]
