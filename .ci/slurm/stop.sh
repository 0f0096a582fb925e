#!/usr/bin/env bash
# Stops the test cluster of .ci/slurm/start.sh (slurmd, slurmctld, and the munged it started) by their PID files.
set -uo pipefail
DIR=${TRANSCEND_SLURM_DIR:-/tmp/transcend-slurm}
for daemon in slurmd slurmctld; do
  pidfile=$DIR/$daemon.pid
  if [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null; then
    echo "slurm: stopped $daemon"
  fi
done
if [ -e "$DIR/munged.ours" ] && [ -s /run/munge/munged.pid ] && kill "$(cat /run/munge/munged.pid)" 2>/dev/null; then
  echo "slurm: stopped munged"
  rm -f "$DIR/munged.ours"
fi
exit 0
