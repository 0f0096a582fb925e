"""Claims split planned games between concurrent workers; games.pgn is exactly the records' PGN after a restart."""
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import chess

from arena import ClaimBoard, GameStore, Stockfish, read_records
from arena.claims import FOREIGN_CLAIM_TIMEOUT_S
from arena.records import record_to_pgn

REPO = pathlib.Path(__file__).resolve().parents[1]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_claim(board: ClaimBoard, game_id: str, **fields) -> None:
    (board.dir / f"{game_id}.json").write_text(json.dumps({**board.owner, "at": time.time(), "finished": False,
                                                           **fields}))


def test_a_claim_is_held_until_its_owner_is_gone(tmp_path):
    board = ClaimBoard(tmp_path)
    assert board.claim("g1") is True
    assert board.claim("g1") is False  # held by a running process (this one)
    board.finish("g1")
    assert board.claim("g1") is False  # finished claims are final
    _write_claim(board, "g2", pid=_dead_pid(), start="1")
    assert board.claim("g2") is True  # its owner on this host has exited
    _write_claim(board, "g3", host="elsewhere", pid=1)
    assert board.claim("g3") is False  # another host's fresh claim
    _write_claim(board, "g4", host="elsewhere", pid=1, at=time.time() - FOREIGN_CLAIM_TIMEOUT_S - 1)
    assert board.claim("g4") is True  # another host's claim, too old
    _write_claim(board, "g5", boot="a-previous-boot")
    assert board.claim("g5") is True  # written before a reboot
    board.close()


def test_a_stale_claim_of_a_recorded_game_is_not_taken_over(tmp_path):
    board = ClaimBoard(tmp_path, recorded=lambda: {"g1"})
    _write_claim(board, "g1", pid=_dead_pid())  # killed after recording its game, before marking the claim
    assert board.claim("g1") is False
    assert json.loads((board.dir / "g1.json").read_text())["finished"] is True


def test_released_claims_can_be_claimed_again(tmp_path):
    board = ClaimBoard(tmp_path)
    assert board.claim("a") and board.claim("b")
    board.finish("a")
    assert board.release_unfinished() == 1
    assert not (board.dir / "b.json").exists() and (board.dir / "a.json").exists()
    assert board.claim("b") is True


CONTENDER = """
import sys, pathlib, time
from arena import ClaimBoard
board = ClaimBoard(pathlib.Path(sys.argv[1]))
(pathlib.Path(sys.argv[1]) / f"ready-{sys.argv[2]}").touch()
while not (board.dir / "go").exists():  # start together
    time.sleep(0.001)
won = []
for k in range(300):
    if board.claim(f"g{k:03d}"):
        board.finish(f"g{k:03d}")  # as a worker does once the game is recorded
        won.append(f"g{k:03d}")
print(" ".join(won))
"""


def test_two_processes_claiming_the_same_games_split_them(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", CONTENDER, str(tmp_path), str(i)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True) for i in range(2)]
    deadline = time.time() + 60
    while len(list(tmp_path.glob("ready-*"))) < 2 and time.time() < deadline:  # both wait at the start line
        time.sleep(0.05)
    (tmp_path / "claims" / "go").touch()
    won = [set(p.communicate(timeout=120)[0].split()) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert not won[0] & won[1]
    assert all(len(w) > 20 for w in won)  # they did contend
    assert won[0] | won[1] == {f"g{k:03d}" for k in range(300)}


def _record(k: int) -> dict:
    board = chess.Board()
    moves = ["e2e4", "e7e5", "g1f3", "b8c6"][: 2 + k % 3]
    return {"game_id": f"g{k}", "round": k + 1, "white": "a", "black": "b",
            "players": {c: {"name": n, "settings": {"kind": "random"}, "version": None, "illegal_attempts": 0}
                        for c, n in (("white", "a"), ("black", "b"))},
            "result": "1/2-1/2", "white_score": 0.5, "termination": "ply_cap", "adjudicated": False, "eval_cp": None,
            "plies": len(moves), "opening_plies": 0, "start_fen": board.fen(), "moves_uci": moves,
            "moves_san": [], "final_fen": board.fen(), "temperature": None, "mode": None, "replays": 0,
            "finished_at": "2024-01-01T00:00:00+00:00", "site": socket.gethostname()}


def test_games_pgn_cut_after_a_games_tags_is_rebuilt(tmp_path):
    store = GameStore(tmp_path)
    for k in range(3):
        store.append(_record(k))
    pgn = tmp_path / "games.pgn"
    full = pgn.read_text()
    assert full == "".join(record_to_pgn(_record(k)) + "\n" for k in range(3))
    last = record_to_pgn(_record(2))
    cut = full[: len(full) - len(last) - 1] + last[: last.index("\n\n") + 2]  # the last game's tags, no moves
    assert '[GameId "g2"]' in cut and cut.count("[GameId ") == 3
    pgn.write_text(cut)
    again = GameStore(tmp_path)
    assert pgn.read_text() == full
    assert again.done == {"g0", "g1", "g2"} and len(read_records(tmp_path / "games.jsonl")) == 3


def test_engines_run_in_their_own_process_group(stockfish_path):
    """The terminal's Ctrl-C goes to the foreground process group; the engines must not be in it."""
    def children() -> set[int]:
        out = set()
        for task in pathlib.Path(f"/proc/{os.getpid()}/task").iterdir():
            try:
                out |= {int(p) for p in (task / "children").read_text().split()}
            except FileNotFoundError:  # that thread ended between the listing and the read
                continue
        return out

    before = children()
    with Stockfish(path=stockfish_path):
        (engine_pid,) = children() - before
        assert os.getpgid(engine_pid) == engine_pid != os.getpgid(0)
