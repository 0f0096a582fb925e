#!/bin/sh
# run.sh's ladder as two processes, one per core (one ladder process is bound by Python's GIL at about one core):
# "upper" plays the pairs among l20-n1-r25..l20-n1 and every bridge to the paper anchors in $LADDER_DIR; "lower"
# plays the pairs among l20-d1-worst..l20-n1-r25 in $LADDER_DIR.low, started from a copy of $LADDER_DIR's games.
# The two sets of pairs are disjoint (run.sh's pair l20-n1-r40 vs l20-n1-r10 is in neither: it keeps the games it
# has), and a game's id names its pair and number, so `merge` (after stopping both with SIGTERM) appends the lower
# games that $LADDER_DIR lacks, and its progress lines; then refit with run.sh's command plus --fit-only.
#   sh docs/measurements/ladder-sf15-s20/run-split.sh start | merge
set -eu
DIR=${LADDER_DIR:-/work/ladder/games}
LOW=$DIR.low
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
case "$1" in
start)
  mkdir -p "$LOW"
  [ -f "$LOW/games.jsonl" ] || cp "$DIR/games.jsonl" "$LOW/games.jsonl"
  printf '{"ratings": {"random": 0.0}}\n' > "$LOW/relative-to-random.json"
  nohup nice .venv/bin/python -m experiments.cli ladder \
    --players l20-n1-r25,l20-n1-r10,l20-n1-r5,l20-n1 --pairs adjacent:2 \
    --bridge 1:l20-n1-r25,l20-n1-r10,l20-n1-r5 --bridge 3:l20-n1-r5,l20-n1 --bridge 5:l20-n1 \
    --games 200 --bridge-games 32 --until-width 100 --max-rounds 30 --workers 2 --n-boot 100 \
    --dir "$DIR" --out "$DIR/upper.json" > "$DIR/upper.log" 2>&1 &
  # Relative to the random mover (the paper anchors are not among these players): it only decides when to stop.
  nohup nice .venv/bin/python -m experiments.cli ladder \
    --players l20-d1-worst,l20-d1-worst-r50,l20-d1-worst-r75,l20-d1-worst-r90,random,l20-n1-r85,l20-n1-r70,l20-n1-r55,l20-n1-r40,l20-n1-r25 \
    --pairs adjacent:2 --anchors "$LOW/relative-to-random.json" \
    --games 200 --until-width 100 --max-rounds 30 --workers 2 --n-boot 100 \
    --dir "$LOW" --out "$LOW/lower.json" > "$LOW/lower.log" 2>&1 &
  ;;
merge)
  .venv/bin/python - "$DIR" "$LOW" <<'PY'
import json, pathlib, sys
main, low = map(pathlib.Path, sys.argv[1:])
have = {json.loads(line)["game_id"] for line in (main / "games.jsonl").read_text().splitlines() if line.strip()}
new = [line for line in (low / "games.jsonl").read_text().splitlines() if line.strip()
       and json.loads(line)["game_id"] not in have]
with open(main / "games.jsonl", "a") as f:
    f.writelines(line + "\n" for line in new)
progress = low / "ladder-progress.jsonl"
if progress.exists():
    with open(main / "ladder-progress.jsonl", "a") as f:
        f.writelines(line + "\n" for line in progress.read_text().splitlines() if line.strip())
    progress.rename(low / "ladder-progress.merged.jsonl")
print(f"appended {len(new)} games of {low} to {main / 'games.jsonl'}")
PY
  ;;
*) echo "usage: run-split.sh start|merge" >&2; exit 2 ;;
esac
