"""`transcend eval --protocol paper`: each of the paper's evaluation items, alone, on constructed positions."""
import dataclasses

import chess
import numpy as np
import pytest
from flax import nnx

from arena.match import MatchRunner, PlannedGame
from arena.players import MoveChoice, MoveRequest, Player, RandomMover, make_opponent
from arena.records import record_to_pgn
from arena.stockfish import EngineSpec
from data_pipeline.tokenizer import get_tokenizer
from jaxformer.config import ModelConfig
from jaxformer.eval import worker
from jaxformer.eval.model_player import PAPER_CHARS, ModelPlayer, paper_token
from jaxformer.eval.protocol import PRESETS, SWITCHES, resolve_protocol
from jaxformer.model import Transformer

TOK = get_tokenizer("char32")


class Scripted(Player):
    """A test player: plays the given SAN moves in order (one list for all its games), logs what it was asked."""

    def __init__(self, name: str, sans: list[str], log: list | None = None):
        self.name, self.sans, self.asked, self.ended_matches = name, list(sans), [] if log is None else log, []

    def choose(self, requests: list[MoveRequest]) -> list[MoveChoice]:
        self.asked += [(self.name, r.game_id, r.match) for r in requests]
        return [MoveChoice(r.board.parse_san(self.sans.pop(0))) for r in requests]

    def end_match(self, match: str) -> None:
        self.ended_matches.append(match)


def _play(white: Player, black: Player, fen: str = chess.STARTING_FEN, **runner) -> dict:
    records: list[dict] = []
    MatchRunner({"w": white, "b": black}, None, records.append, cap_result="draw", **runner).run(
        [PlannedGame("g", 1, "w", "b", start_fen=fen)])
    (record,) = records
    return record


WHITE_STALEMATES = "7k/8/6K1/8/8/8/8/5Q2 w - - 0 1"  # Qf7 stalemates Black


def test_white_stalemating_black_is_1_0_with_the_bug_and_a_draw_without():
    paper = _play(Scripted("w", ["Qf7"]), Scripted("b", []), WHITE_STALEMATES, white_to_move_bug=True)
    assert (paper["result"], paper["termination"], paper["result_override"]) == ("1-0", "stalemate", "white_to_move_bug")
    assert "[ResultOverride \"white_to_move_bug\"]" in record_to_pgn(paper)
    fixed = _play(Scripted("w", ["Qf7"]), Scripted("b", []), WHITE_STALEMATES)
    assert (fixed["result"], fixed["termination"], fixed["result_override"]) == ("1/2-1/2", "stalemate", None)


def test_insufficient_material_on_whites_move_asks_black_once_more_as_the_paper_did():
    fen = "8/8/4k3/8/8/3K4/4r3/8 w - - 0 1"  # Kxe2 leaves K vs K; Black still has legal moves
    black = Scripted("b", ["Ke5"])
    paper = _play(Scripted("w", ["Kxe2"]), black, fen, white_to_move_bug=True)
    assert paper["moves_san"] == ["Kxe2", "Ke5"] and black.asked == [("b", "g", None)]
    assert (paper["result"], paper["termination"], paper["result_override"]) == \
        ("1/2-1/2", "insufficient_material", "white_to_move_bug")
    fixed = _play(Scripted("w", ["Kxe2"]), Scripted("b", []), fen)
    assert fixed["moves_san"] == ["Kxe2"] and fixed["result_override"] is None


def test_the_180_ply_cap_is_a_draw():
    assert (PRESETS["paper"].max_plies, PRESETS["paper"].cap_result) == (180, "draw")
    records: list[dict] = []
    runner = MatchRunner({"a": RandomMover(), "b": RandomMover()}, None, records.append, max_plies=180, cap_result="draw",
                         claim_threefold=False)
    runner.run([PlannedGame(f"g{k}", k, "a", "b") for k in range(6)])
    capped = [r for r in records if r["termination"] == "ply_cap"]
    assert capped and all(r["plies"] == 180 and r["result"] == "1/2-1/2" and not r["adjudicated"] for r in capped)
    assert max(r["plies"] for r in records) == 180


def test_threefold_is_claimed_only_when_asked():
    shuffle = ["Nf3", "Ng1"] * 4
    claimed = _play(Scripted("w", shuffle), Scripted("b", ["Nf6", "Ng8"] * 4))
    assert (claimed["termination"], claimed["plies"]) == ("threefold_repetition", 8)
    unclaimed = _play(Scripted("w", shuffle), Scripted("b", ["Nf6", "Ng8"] * 4), claim_threefold=False)
    assert (unclaimed["termination"], unclaimed["plies"]) == ("fivefold_repetition", 16)


def test_a_match_is_played_game_after_game_and_then_ended():
    def play(match: str | None) -> tuple[list, Scripted]:
        log: list = []
        white, black = Scripted("w", ["e4", "d4", "c4"], log), Scripted("b", ["e5", "d5", "c5"], log)
        plan = [PlannedGame(f"g{k}", k, "w", "b", match=match) for k in range(3)]
        MatchRunner({"w": white, "b": black}, None, lambda r: None, max_plies=2, cap_result="draw", concurrency=8).run(plan)
        return [(name, game) for name, game, _ in log], white

    in_turn, white = play("m")
    assert in_turn == [("w", "g0"), ("b", "g0"), ("w", "g1"), ("b", "g1"), ("w", "g2"), ("b", "g2")]
    assert white.ended_matches == ["m"]
    at_once, white = play(None)
    assert at_once[:3] == [("w", "g0"), ("w", "g1"), ("w", "g2")] and white.ended_matches == []


def test_movetime_is_recorded_in_the_engines_name_settings_and_pgn(stockfish_path):
    assert EngineSpec.parse("l1-m100") == EngineSpec(skill=1, nodes=None, movetime=0.1)
    assert EngineSpec(skill=1, nodes=None, movetime=0.1).name == "stockfish-l1-m100"
    engine = make_opponent("stockfish-l1", stockfish_path, movetime=0.05, per_match=True)
    try:
        assert engine.name == "stockfish-l1-m50"
        assert engine.settings()["movetime"] == 0.05 and engine.settings()["nodes"] is None
        assert engine.settings()["engine_per_match"] is True
        records: list[dict] = []
        MatchRunner({"sf": engine, "r": RandomMover()}, None, records.append, max_plies=4, cap_result="draw",
                    meta={"protocol": PRESETS["paper"].record()}).run(
            [PlannedGame("g", 1, "sf", "r", match="m")])
        assert records[0]["players"]["white"]["settings"]["movetime"] == 0.05
        pgn = record_to_pgn(records[0])
        assert "movetime=0.05" in pgn and '[Protocol "paper"]' in pgn and "movetime=0.1" in pgn
    finally:
        engine.close()


# ------------------------------------------------------------------ the model player
@pytest.fixture(scope="module")
def model():
    return Transformer(ModelConfig(n_layer=1, n_head=2, d_model=32, max_len=128, init_std=0.4), rngs=nnx.Rngs(0))


class Writes(ModelPlayer):
    """The model player with its sampled characters replaced by given responses (its protocol logic is the real one)."""

    def __init__(self, model, responses: list[str], **kw):
        super().__init__(model, TOK, mode="char", slots=2, **kw)
        self.responses = list(responses)

    def sample_characters(self, games, temps, rngs, count):
        assert count == PAPER_CHARS
        return [self.responses.pop(0) for _ in games]


def _ask(player: ModelPlayer, board: chess.Board, seed: int = 0) -> MoveChoice:
    return player.choose([MoveRequest("g", board, 0.5, np.random.default_rng(seed))])[0]


def test_paper_token_is_the_first_token_before_a_semicolon_or_a_plus():
    assert paper_token(" e5 2.Nf3 N") == "e5"
    assert paper_token("Qh5+ g6 3.") == "Qh5"
    assert paper_token("Kxf7;1.e4 ") == "Kxf7"
    assert paper_token(";1.e4 e5 2") == ""


def test_five_illegal_outputs_forfeit_the_game_and_a_written_result_resigns(model):
    board = chess.Board()
    player = Writes(model, ["Ke2 e5 2.N"] * 5, char_sampler="paper", forfeit_after=5)
    choice = _ask(player, board)
    assert (choice.move, choice.forfeit, choice.illegal_attempts) == (None, "illegal", 5)
    player = Writes(model, ["Ke2xxxxxxx", "1-0;1.e4 e"], char_sampler="paper", forfeit_after=5)
    choice = _ask(player, board)
    assert (choice.move, choice.forfeit, choice.illegal_attempts) == (None, "resignation", 1)
    retrying = Writes(model, ["Ke2 e5 2.N"] * 5 + ["e4 e5 2.Nf"], char_sampler="paper")  # retry: no forfeit
    choice = _ask(retrying, board)
    assert (choice.move, choice.forfeit, choice.illegal_attempts) == (chess.Move.from_uci("e2e4"), None, 5)


def test_a_forfeit_loses_the_game_in_the_match(model):
    records: list[dict] = []
    player = Writes(model, ["Ke2 e5 2.N"] * 5, char_sampler="paper", forfeit_after=5)
    MatchRunner({"m": player, "r": RandomMover()}, None, records.append, cap_result="draw").run(
        [PlannedGame("g", 1, "m", "r", temperature=0.5, mode="char")])
    (r,) = records
    assert (r["result"], r["termination"], r["plies"]) == ("0-1", "forfeit_illegal", 0)
    assert r["players"]["white"]["illegal_attempts"] == 5


def _prompt_after(player: ModelPlayer, black_replies: list[str]) -> str:
    """The model (White) plays its scripted moves against `black_replies`; returns its last prompt."""
    board = chess.Board()
    for reply in black_replies:
        board.push(_ask(player, board).move)
        board.push_san(reply)
    _ask(player, board)
    return player.contexts.games["g"].prefix


def test_the_models_own_check_is_stripped_from_its_prompt_and_the_opponents_is_kept(model):
    moves = ["e4 e5 2.Bc", "Bc4 Bc5 3.", "Bxf7+ Kxf7", "Nf3 Bxf2+ ", "Kxf2 Ke8 6"]
    stripped = _prompt_after(Writes(model, moves, char_sampler="paper", strip_own_check=True), ["e5", "Bc5", "Kxf7", "Bxf2+"])
    assert stripped == ";1.e4 e5 2.Bc4 Bc5 3.Bxf7 Kxf7 4.Nf3 Bxf2+ 5."
    canonical = _prompt_after(Writes(model, moves, char_sampler="paper"), ["e5", "Bc5", "Kxf7", "Bxf2+"])
    assert canonical == ";1.e4 e5 2.Bc4 Bc5 3.Bxf7+ Kxf7 4.Nf3 Bxf2+ 5."


def test_the_paper_sampler_draws_exactly_10_characters_a_try_from_a_prompt_without_its_last_space(model):
    player = ModelPlayer(model, TOK, mode="char", char_sampler="paper", forfeit_after=5)
    board = chess.Board()
    board.push_san("e4")  # the model plays Black: the paper's prompt ends at the last move, ";1.e4"
    tries = 0
    for seed in range(4):
        choice = _ask(player, board, seed)
        tries += choice.illegal_attempts + (choice.forfeit != "illegal")
        assert player.contexts.games["g"].prefix == ";1.e4"  # rolled back after the samples
        player.end_game("g")
    assert player.characters_sampled == PAPER_CHARS * tries > 0


# ------------------------------------------------------------------ the protocol switches
def test_paper_sets_every_switch_and_an_explicit_switch_wins():
    parser = worker.build_parser()
    paper = resolve_protocol(parser.parse_args(["--run", "r", "--protocol", "paper"]))
    assert paper == PRESETS["paper"] and paper.label == "paper"
    assert (paper.movetime, paper.engine_per_match, paper.max_plies, paper.cap_result, paper.claim_threefold,
            paper.white_to_move_bug, paper.mode, paper.char_sampler, paper.forfeit_after, paper.strip_own_check,
            paper.glicko) == (0.1, True, 180, "draw", False, True, "char", "paper", 5, True, "per-game")
    flipped = resolve_protocol(parser.parse_args(["--run", "r", "--protocol", "paper", "--score-bug-white-to-move", "no"]))
    assert flipped == dataclasses.replace(PRESETS["paper"], white_to_move_bug=False)
    assert flipped.label.startswith("custom-") and flipped.record()["white_to_move_bug"] is False
    fixed = resolve_protocol(parser.parse_args(["--run", "r"]))
    assert fixed == PRESETS["fixed"] and fixed.label == "fixed"
    assert resolve_protocol(parser.parse_args(["--run", "r", "--max-plies", "200"])).label == "fixed"  # as before


@pytest.mark.parametrize("argv", [["--movetime", "0.1"], ["--engine-per-match", "yes"], ["--max-plies", "180"],
                                  ["--cap-result", "draw"], ["--claim-threefold", "no"],
                                  ["--score-bug-white-to-move", "yes"], ["--mode", "char"], ["--char-sampler", "paper"],
                                  ["--illegal", "forfeit:5"], ["--strip-own-check", "yes"]])
def test_each_switch_alone_changes_only_its_own_setting(argv):
    protocol = resolve_protocol(worker.build_parser().parse_args(["--run", "r", *argv]))
    changed = [k for k in SWITCHES if getattr(protocol, k) != getattr(PRESETS["fixed"], k)]
    assert len(changed) == 1 and getattr(protocol, changed[0]) == getattr(PRESETS["paper"], changed[0])


def test_the_paper_plan_names_its_protocol_and_plays_two_matches_model_black_first():
    plan = worker.plan_step(5, "m@5", ["stockfish-l1"], [0.5], 4, "char", None, PRESETS["paper"])
    assert [g.game_id for g in plan] == [f"s5-paper-char-T0.5-stockfish-l1-{k:04d}" for k in range(4)]
    assert [g.black for g in plan] == ["m@5", "m@5", "stockfish-l1", "stockfish-l1"]
    assert [g.match for g in plan] == ["s5-paper-char-T0.5-stockfish-l1-model-black"] * 2 + \
        ["s5-paper-char-T0.5-stockfish-l1-model-white"] * 2
    fixed = worker.plan_step(5, "m@5", ["stockfish-l1"], [0.5], 4, "move", None)
    assert [g.game_id for g in fixed] == [f"s5-move-T0.5-stockfish-l1-{k:04d}" for k in range(4)]
    assert {g.match for g in fixed} == {None}
