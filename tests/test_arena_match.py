"""Matches: real game endings (regressions for the paper's scoring bugs), complete PGN, restart safety."""
import io

import chess
import chess.pgn
import pytest

from arena.match import MatchRunner, PlannedGame, load_openings
from arena.players import RandomMover, StockfishPlayer
from arena.records import GameStore, read_records
from arena.rules import adjudicate, rules_ending
from arena.stockfish import EngineSpec, Stockfish


def test_stalemate_with_white_to_move_is_a_draw_not_a_white_win():
    board = chess.Board("7k/5Q2/6K1/8/8/8/8/8 b - - 0 1")  # Black to move, stalemated
    assert rules_ending(board).result == "1/2-1/2" and rules_ending(board).termination == "stalemate"
    board = chess.Board("8/8/8/8/8/5k2/5p2/5K2 w - - 0 1")  # White to move, stalemated
    ending = rules_ending(board)
    assert ending.result == "1/2-1/2" and ending.termination == "stalemate"


def test_insufficient_material_on_whites_move_is_a_draw():
    board = chess.Board("8/8/4k3/8/8/3K4/8/6n1 w - - 0 1")  # K vs K+N, White to move
    ending = rules_ending(board)
    assert ending.result == "1/2-1/2" and ending.termination == "insufficient_material"


def test_a_game_decided_on_whites_move_is_won_by_black():
    board = chess.Board("rnb1kbnr/pppp1ppp/8/4p3/6Pq/5P2/PPPPP2P/RNBQKBNR w KQkq - 1 3")  # fool's mate
    ending = rules_ending(board)
    assert ending.result == "0-1" and ending.termination == "checkmate"


def test_repetition_and_move_rules():
    board = chess.Board()
    for _ in range(2):
        for san in ("Nf3", "Nf6", "Ng1", "Ng8"):
            board.push_san(san)
    assert rules_ending(board).termination == "threefold_repetition"  # claimed as soon as it occurs
    board = chess.Board("8/8/4k3/8/8/3K4/8/R7 w - - 149 100")
    board.push_san("Ra2")
    assert rules_ending(board).termination == "seventyfive_moves"
    assert rules_ending(chess.Board()) is None


def test_adjudication_is_by_evaluation_and_flagged():
    assert adjudicate(450).result == "1-0" and adjudicate(450).adjudicated
    assert adjudicate(-450).result == "0-1"
    assert adjudicate(120).result == "1/2-1/2"


@pytest.fixture
def engines(stockfish_path):
    """Random mover + a weak engine pool; engines are closed (their threads would block interpreter exit)."""
    spec = EngineSpec(skill=0, nodes=50)
    players = {"random": RandomMover(), spec.name: StockfishPlayer(spec, stockfish_path)}
    yield players
    for p in players.values():
        p.close()


def _plan(n: int, fen: str = chess.STARTING_FEN) -> list[PlannedGame]:
    sf = EngineSpec(skill=0, nodes=50).name
    return [PlannedGame(f"g{k}", k + 1, "random" if k % 2 == 0 else sf, sf if k % 2 == 0 else "random",
                        start_fen=fen) for k in range(n)]


def test_random_mover_vs_stockfish_gives_complete_legal_reparsable_pgn(tmp_path, stockfish_path, engines):
    players = engines
    store = GameStore(tmp_path)
    with Stockfish(EngineSpec(skill=20, nodes=2000), stockfish_path) as adj:
        runner = MatchRunner(players, adj, store.append, max_plies=120, concurrency=4, workers=2,
                             meta={"step": 7})
        assert runner.run(_plan(4)) == 4
    records = read_records(tmp_path / "games.jsonl")
    assert [r["game_id"] for r in sorted(records, key=lambda r: r["round"])] == ["g0", "g1", "g2", "g3"]
    pgn = io.StringIO((tmp_path / "games.pgn").read_text())
    parsed = {}
    while (game := chess.pgn.read_game(pgn)) is not None:
        assert not game.errors
        parsed[game.headers["GameId"]] = game
    assert set(parsed) == {"g0", "g1", "g2", "g3"}
    for r in records:
        game = parsed[r["game_id"]]
        board = game.end().board()
        assert [m.uci() for m in game.mainline_moves()] == r["moves_uci"]
        assert game.headers["Result"] == r["result"] and int(game.headers["PlyCount"]) == r["plies"]
        assert game.headers["BlackVersion" if r["white"] == "random" else "WhiteVersion"].startswith("Stockfish")
        if r["adjudicated"]:
            assert r["plies"] == 120 and game.headers["Termination"] == "adjudication"
        else:
            assert rules_ending(board).result == r["result"]
        assert r["step"] == 7


def test_games_from_a_fen_end_correctly_and_restart_never_duplicates(tmp_path, stockfish_path, engines):
    # K+R vs K: Stockfish mates the random mover; the stored result must follow the board, not the turn.
    fen = "8/8/4k3/8/8/3K4/8/R7 w - - 0 1"
    players = engines
    plan = _plan(4, fen)
    store = GameStore(tmp_path)
    with Stockfish(EngineSpec(skill=20, nodes=1000), stockfish_path) as adj:
        MatchRunner(players, adj, store.append, max_plies=60, concurrency=2).run(plan[:2])
        # Simulate a kill mid-write: a partial record and a PGN that misses the last game.
        with open(tmp_path / "games.jsonl", "a") as f:
            f.write('{"game_id": "g2", "resu')
        pgn_text = (tmp_path / "games.pgn").read_text()
        (tmp_path / "games.pgn").write_text(pgn_text[: pgn_text.rfind("[Event")])
        store = GameStore(tmp_path)
        assert store.done == {"g0", "g1"}
        todo = [g for g in plan if g.game_id not in store.done]
        MatchRunner(players, adj, store.append, max_plies=60, concurrency=2).run(todo)
    records = read_records(tmp_path / "games.jsonl")
    assert sorted(r["game_id"] for r in records) == ["g0", "g1", "g2", "g3"]
    assert (tmp_path / "games.pgn").read_text().count("[GameId ") == 4
    for r in records:
        board = chess.Board(fen)
        for uci in r["moves_uci"]:
            board.push_uci(uci)
        if not r["adjudicated"]:
            assert rules_ending(board).result == r["result"]
    with pytest.raises(RuntimeError, match="already recorded"):
        store.append(records[0])


def test_opening_suite(tmp_path):
    path = tmp_path / "openings.txt"
    path.write_text("1.e4 e5 2.Nf3\n# comment\nd4 d5\n")
    assert load_openings(path) == [("e2e4", "e7e5", "g1f3"), ("d2d4", "d7d5")]
    path.write_text("1.e4 e4\n")
    with pytest.raises(ValueError, match="not a legal move"):
        load_openings(path)


def test_cap_result_draw_ends_games_at_the_cap_without_an_adjudicator():
    records: list[dict] = []
    runner = MatchRunner({"a": RandomMover(), "b": RandomMover()}, None, records.append, max_plies=10,
                         cap_result="draw")
    plan = [PlannedGame(f"g{k}", k + 1, "a", "b") for k in range(6)]
    assert runner.run(plan) == 6
    assert sorted(r["game_id"] for r in records) == [f"g{k}" for k in range(6)]
    for r in records:  # random play rarely ends by the rules within 10 plies; with these seeds it does not
        assert (r["plies"], r["result"], r["white_score"]) == (10, "1/2-1/2", 0.5)
        assert r["termination"] == "ply_cap" and r["adjudicated"] is False and r["eval_cp"] is None
        assert len(r["moves_uci"]) == 10
    # The same plan plays the same games (per-game seeds).
    again: list[dict] = []
    MatchRunner({"a": RandomMover(), "b": RandomMover()}, None, again.append, max_plies=10, cap_result="draw").run(plan)
    assert {r["game_id"]: r["moves_uci"] for r in again} == {r["game_id"]: r["moves_uci"] for r in records}


def test_cap_result_must_be_adjudicate_or_draw_and_adjudication_needs_an_engine():
    with pytest.raises(ValueError, match="cap_result 'score' is not one of"):
        MatchRunner({"a": RandomMover()}, None, [].append, cap_result="score")
    runner = MatchRunner({"a": RandomMover(), "b": RandomMover()}, None, [].append, max_plies=4)
    with pytest.raises(ValueError, match="no adjudicating engine"):
        runner.run([PlannedGame("g", 1, "a", "b")])


class _TemperatureLog(RandomMover):
    """A random mover that keeps the temperature of every request it gets."""

    def __init__(self) -> None:
        self.seen: list[float | None] = []

    def choose(self, requests):
        self.seen += [r.temperature for r in requests]
        return super().choose(requests)


def test_the_planned_temperature_reaches_the_player_unchanged_and_none_stays_none():
    player = _TemperatureLog()
    records: list[dict] = []
    runner = MatchRunner({"m": player, "r": RandomMover()}, None, records.append, max_plies=6, cap_result="draw")
    runner.run([PlannedGame("hot", 1, "m", "r", temperature=0.3), PlannedGame("none", 2, "r", "m")])
    assert sorted(set(player.seen), key=str) == [0.3, None] and len(player.seen) == 6
    assert {r["game_id"]: r["temperature"] for r in records} == {"hot": 0.3, "none": None}


class _UnsortedSettings(RandomMover):
    def settings(self) -> dict:
        return {"kind": "random", "zeta": 1, "alpha": 2}  # not in sorted order, as a dict built in code can be


def test_reopening_a_store_does_not_rebuild_a_pgn_written_from_unsorted_dicts(tmp_path, caplog):
    store = GameStore(tmp_path)
    protocol = {"name": "paper", "label": "paper", "max_plies": 12, "cap_result": "draw"}  # insertion order
    runner = MatchRunner({"a": _UnsortedSettings(), "b": RandomMover()}, None, store.append, max_plies=12,
                         cap_result="draw", meta={"protocol": protocol})
    runner.run([PlannedGame("g0", 1, "a", "b"), PlannedGame("g1", 2, "b", "a")])
    written = (tmp_path / "games.pgn").read_text()
    caplog.clear()
    GameStore(tmp_path)  # games.jsonl stores the keys sorted; the PGN rebuilt from it must be the same text
    assert (tmp_path / "games.pgn").read_text() == written
    assert not [r for r in caplog.records if "rebuilding" in r.getMessage()]
    assert "ProtocolSettings" in written and "alpha=2,kind=random,zeta=1" in written
