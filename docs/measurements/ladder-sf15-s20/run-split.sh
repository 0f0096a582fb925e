#!/bin/sh
# run.sh's ladder as several processes (one ladder process is bound by Python's GIL at about one core), each
# playing the pairs among a slice of run.sh's players (--pairs adjacent:2) in its own directory $LADDER_DIR.PART,
# started from a copy of $LADDER_DIR's games (or of $SEED, a games.jsonl holding them):
#   upper  l20-n1-r25 .. l20-n1 and every bridge to the paper anchors (anchored to them: it stops by itself
#          once its rungs are at most $UPPER_WIDTH (default 100) Elo wide)
#   low    l20-d1-worst .. l20-n1-r25 (one process; or the two below, split at the random mover)
#   worst  l20-d1-worst .. l20-n1-r85        mid  random .. l20-n1-r25
# The parts without the paper anchors are fitted relative to the random mover, which cannot say when the whole
# ladder is narrow enough: they play until stopped (refit the whole ladder to decide).
# Slices overlap by one pair at most (worst/mid share random vs l20-n1-r85); run.sh's pair l20-n1-r40 vs
# l20-n1-r10 is in no slice and keeps the games it has. A game's id names its pair and number and seeds its
# random moves, so a game played in two directories is the same game: `merge` (after stopping every part with
# SIGTERM) appends to $LADDER_DIR each part's games that it lacks, and the parts' progress lines. Then refit
# with run.sh's command plus --fit-only.
#   sh docs/measurements/ladder-sf15-s20/run-split.sh start PART... | merge
set -eu
DIR=${LADDER_DIR:-/work/ladder/games}
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
WORST=l20-d1-worst,l20-d1-worst-r50,l20-d1-worst-r75,l20-d1-worst-r90
MID=random,l20-n1-r85,l20-n1-r70,l20-n1-r55,l20-n1-r40,l20-n1-r25

part() {  # NAME PLAYERS [more ladder options]
  name=$1 players=$2 width=$3; shift 3
  mkdir -p "$DIR.$name"
  [ -f "$DIR.$name/games.jsonl" ] || cp "${SEED:-$DIR/games.jsonl}" "$DIR.$name/games.jsonl"
  # Relative to the random mover where the paper anchors are not among the players: it only decides when to stop.
  printf '{"ratings": {"random": 0.0}}\n' > "$DIR.$name/relative-to-random.json"
  nohup nice .venv/bin/python -m experiments.cli ladder --players "$players" --pairs adjacent:2 "$@" \
    --games 200 --until-width "$width" --max-rounds 30 --workers 2 --n-boot 100 \
    --dir "$DIR.$name" --out "$DIR.$name/table.json" > "$DIR.$name/ladder.log" 2>&1 &
}

case "${1:-}" in
start)
  shift
  for name in "$@"; do
    case "$name" in
    upper) part upper l20-n1-r25,l20-n1-r10,l20-n1-r5,l20-n1 "${UPPER_WIDTH:-100}" --bridge-games 32 \
             --bridge 1:l20-n1-r25,l20-n1-r10,l20-n1-r5 --bridge 3:l20-n1-r5,l20-n1 --bridge 5:l20-n1 ;;
    low) part low "$WORST,$MID" 0.001 --anchors "$DIR.low/relative-to-random.json" ;;
    worst) part worst "$WORST,random,l20-n1-r85" 0.001 --anchors "$DIR.worst/relative-to-random.json" ;;
    mid) part mid "$MID" 0.001 --anchors "$DIR.mid/relative-to-random.json" ;;
    *) echo "run-split.sh: unknown part $name (upper, low, worst, mid)" >&2; exit 2 ;;
    esac
  done
  ;;
merge)
  for part_dir in "$DIR".*; do
    [ -f "$part_dir/games.jsonl" ] || continue
    .venv/bin/python - "$DIR" "$part_dir" <<'PY'
import json, pathlib, sys
main, part = map(pathlib.Path, sys.argv[1:])
have = {json.loads(line)["game_id"] for line in (main / "games.jsonl").read_text().splitlines() if line.strip()}
new = [line for line in (part / "games.jsonl").read_text().splitlines()
       if line.strip() and json.loads(line)["game_id"] not in have]
with open(main / "games.jsonl", "a") as f:
    f.writelines(line + "\n" for line in new)
progress = part / "ladder-progress.jsonl"
if progress.exists():  # moved aside, so a second merge does not count the same seconds twice
    with open(main / "ladder-progress.jsonl", "a") as f:
        f.writelines(line + "\n" for line in progress.read_text().splitlines() if line.strip())
    progress.rename(part / "ladder-progress.merged.jsonl")
print(f"appended {len(new)} games of {part} to {main / 'games.jsonl'}")
PY
  done
  ;;
*) echo "usage: run-split.sh start PART... | merge" >&2; exit 2 ;;
esac
