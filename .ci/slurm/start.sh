#!/usr/bin/env bash
# A single-node SLURM cluster on localhost for the tests (tests/test_sweep_slurm.py): installs Debian's slurm-wlm
# and munge when missing, writes a minimal slurm.conf (one node, no cgroups, no accounting) under $DIR, starts
# munged, slurmctld and slurmd, and waits until sinfo shows the node idle. Idempotent: a running cluster is kept.
#
#   .ci/slurm/start.sh && export SLURM_CONF=${TRANSCEND_SLURM_DIR:-/tmp/transcend-slurm}/slurm.conf
#
# Exit 0: the cluster is up (the last line is `export SLURM_CONF=...`). Exit 3: it cannot be started on this
# machine (the reason is on stderr: not root, no apt-get, the install failed). Exit 1: it was started but did not
# come up (the daemons' logs are in $DIR). Stop it with .ci/slurm/stop.sh.
set -euo pipefail
DIR=${TRANSCEND_SLURM_DIR:-/tmp/transcend-slurm}
CPUS=${TRANSCEND_SLURM_CPUS:-2}
export SLURM_CONF=$DIR/slurm.conf
cannot() { echo "slurm: cannot start a cluster on this machine: $*" >&2; exit 3; }

# 1. the packages
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
    || ! command -v sbatch >/dev/null; then
  [ "$(id -u)" = 0 ] || cannot "slurm-wlm/munge are not installed and installing them needs root"
  command -v apt-get >/dev/null || cannot "slurm-wlm/munge are not installed and there is no apt-get"
  echo "slurm: installing Debian's slurm-wlm and munge"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null; } \
    || cannot "apt-get install slurm-wlm munge failed (no network or no package source?)"
fi
# 2. already up?
if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
  echo "slurm: cluster already up"; echo "export SLURM_CONF=$SLURM_CONF"; exit 0
fi
[ "$(id -u)" = 0 ] || cannot "the daemons are started as root (SlurmUser=root) and this is user $(id -un)"

# 3. munge: a key, its run directory, the daemon
mkdir -p "$DIR"
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  touch "$DIR/munged.ours"  # stop.sh stops only a munged started here
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- munged
  else
    munged --force
  fi
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
  munge -n | unmunge >/dev/null || { echo "slurm: munged did not start" >&2; exit 1; }
fi

# 4. the configuration: one node, localhost; process tracking without cgroups; no accounting
mkdir -p "$DIR/ctld" "$DIR/d"
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
cat > "$SLURM_CONF" <<CONF
# Written by .ci/slurm/start.sh: a single-node test cluster.
ClusterName=transcend-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
KillWait=30
MinJobAge=600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF

# 5. the daemons (they fork into the background), then wait for the node
slurmctld
slurmd -N localhost
for _ in $(seq 120); do
  if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
    echo "slurm: cluster up ($CPUS CPUs on localhost, logs in $DIR)"; echo "export SLURM_CONF=$SLURM_CONF"; exit 0
  fi
  sleep 0.5
done
echo "slurm: the node did not become idle in 60 s; sinfo says: $(sinfo -h -o '%T %E' 2>&1 | head -3)" >&2
tail -n 20 "$DIR/slurmctld.log" "$DIR/slurmd.log" >&2 2>/dev/null || true
exit 1
