"""Ctrl-C during `transcend data build`: one line, exit 130, finished shards valid, no temporary left; the rerun
resumes to the same figures as a build that was never interrupted. Also: `dump | head` leaves quietly."""
import os
import signal
import subprocess
import sys
import time

from data_fixtures import pgn

from data_pipeline import build as build_mod
from data_pipeline import read_manifest, shards

TRANSCEND = [sys.executable, "-m", "experiments.cli"]
FIGURES = ("shards", "counts", "games", "tokens", "counts_per_cutoff", "rating_min", "rating_max")


def _wait_for(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_ctrl_c_mid_build_stops_cleanly_and_the_rerun_completes(tmp_path):
    src = tmp_path / "in.pgn"
    src.write_text(pgn.many_games(8000))
    out = tmp_path / "out"
    # --validate (python-chess replays every game) makes the build last seconds on 2 workers.
    cmd = [*TRANSCEND, "data", "build", "--source", str(src), "--out", str(out), "--workers", "2",
           "--shard-mb", "0.05", "--validate"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    # Two finished shards, whichever: under load a worker can finish shard 1 before the other finishes shard 0.
    assert _wait_for(lambda: len(list(out.glob("shard-*.index.npz"))) >= 2, 60), proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C does: the parent and every worker
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "transcend data: interrupted" in err
    assert not list(out.glob("*.tmp")) and not (out / shards.MANIFEST).exists()
    finished = sorted(out.glob("shard-*.index.npz"))
    assert 2 <= len(finished) < 34  # stopped mid-build (about 34 shards in all)
    for index in finished:  # every finished shard is whole: its records match its index
        number = int(index.name.split("-")[1].split(".")[0])
        arrays, meta = shards.load_shard_index(out, number)
        assert arrays["split"].size == meta["kept"] > 0 and shards.record_path(out, number).stat().st_size > 0

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"({len(finished)} finished shards reused)" in rerun.stderr
    resumed = read_manifest(out)
    reference = build_mod.build(build_mod.BuildConfig(sources=(str(src),), out_dir=str(tmp_path / "clean"),
                                                      shard_bytes=int(0.05 * (1 << 20))))
    assert {k: resumed[k] for k in FIGURES} == {k: reference[k] for k in FIGURES}
    assert resumed["counts"]["kept"] == 8000


def test_dump_into_head_leaves_quietly(tmp_path):
    src = tmp_path / "in.pgn"
    src.write_text(pgn.many_games(3000))  # far more text than a pipe holds
    build_mod.build(build_mod.BuildConfig(sources=(str(src),), out_dir=str(tmp_path / "out")))
    dump = " ".join([*TRANSCEND, "data", "dump", str(tmp_path / "out")])
    proc = subprocess.run(f"{dump} | head -n 1; exit ${{PIPESTATUS[0]}}", shell=True, executable="/bin/bash",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("1.") and proc.stdout.count("\n") == 1
