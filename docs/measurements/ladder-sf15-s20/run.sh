#!/bin/sh
# The skill-20 ladder measurement behind arena/tables/ladder-sf15-s20.json (26,569 games; widest 95% interval 90 Elo,
# the target 100). ladder-progress.jsonl beside this script logs every stint (rounds, games, seconds). The full
# records (15 MB compressed) are not in the repository: the table ships every fitted game's id and result
# (arena/tables/ladder-sf15-s20.games.jsonl.zst), and every rung replays from its game id (skill 20, one thread,
# hash cleared every move, random moves seeded by the id), so rerunning this command in an empty --dir plays
# them again move for move (tests/test_arena_ladder.py replays two). Resumable: the same command continues in the
# same --dir. To spread it over cores, see run-split.sh. Then refit the bundled table with the same options plus
# --fit-only --out arena/tables/ladder-sf15-s20.json --export-games arena/tables/ladder-sf15-s20.games.jsonl.zst
# (the table's "command" field has the exact line).
#   nohup nice sh docs/measurements/ladder-sf15-s20/run.sh > /work/ladder/run.log 2>&1 &
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
exec .venv/bin/python -m experiments.cli ladder \
  --players l20-d1-worst,l20-d1-worst-r50,l20-d1-worst-r75,l20-d1-worst-r90,random,l20-n1-r85,l20-n1-r70,l20-n1-r55,l20-n1-r40,l20-n1-r25,l20-n1-r10,l20-n1-r5,l20-n1 \
  --pairs adjacent:2 --bridge 1:l20-n1-r25,l20-n1-r10,l20-n1-r5 --bridge 3:l20-n1-r5,l20-n1 --bridge 5:l20-n1 \
  --games 200 --bridge-games 32 --until-width 100 --max-rounds 30 --workers ${LADDER_WORKERS:-2} --n-boot 300 \
  --dir ${LADDER_DIR:-/work/ladder/games} --out ${LADDER_DIR:-/work/ladder/games}/table.json --export-games ${LADDER_DIR:-/work/ladder/games}/table.games.jsonl.zst \
  --note "Skill-20 rungs (Stockfish 15.1, Threads=1, Hash=16 cleared before every move; node limits, or depth 1 for the worst-move rungs, which play the move a MultiPV search over every legal move scores lowest; rN: N% uniformly random moves drawn from the game's seeded RNG, so every rung replays) on one scale with the paper's skill levels stockfish-l1/l3/l5 (default 80000 nodes) held fixed at 1554/1867/2148 and reached by bridge games. Neighbours in the list meet (--pairs adjacent:2); rounds of games until every rung's 95% bootstrap interval is at most 100 Elo wide. Played with 2 engine workers on a shared 2-core x86_64 VM."
