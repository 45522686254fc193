#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for tests and trying `sweep --slurm` (Debian 12: slurmctld, slurmd,
# slurm-client, munge; run as root). Idempotent.
#   tools/slurm/local-cluster.sh start   # munge key, slurm.conf (this host's name, CPUs, memory), munged, slurmctld, slurmd
#   tools/slurm/local-cluster.sh stop    # stops what start started
#   tools/slurm/local-cluster.sh env     # prints `export SLURM_CONF=…` for sbatch/squeue/scontrol
# Everything lives under $LORA_LAB_SLURM_DIR (default /tmp/lora-lab-slurm); /etc/slurm is not touched, so clients
# need SLURM_CONF=$LORA_LAB_SLURM_DIR/slurm.conf. Exits non-zero with a one-line reason when the cluster cannot start.
set -euo pipefail
D="${LORA_LAB_SLURM_DIR:-/tmp/lora-lab-slurm}"
CONF="$D/slurm.conf"
die() { echo "local-cluster: $*" >&2; exit 1; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  [ "$(id -u)" = 0 ] || die "must run as root (slurmd starts jobs as any user)"
  for b in munged slurmctld slurmd sbatch squeue scontrol sinfo; do
    command -v "$b" >/dev/null || die "$b not found: apt-get install slurmctld slurmd slurm-client munge"
  done
  mkdir -p "$D/state" "$D/slurmd"
  # munge: a key (Debian's package creates one; make one if missing) and the daemon as the munge user.
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  fi
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
    runuser -u munge -- /usr/sbin/munged || die "munged did not start (see /var/log/munge/munged.log)"
    touch "$D/started-munged"
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null || die "munge does not answer"
  fi
  # slurm.conf from what slurmd detects here (NodeName=<host> CPUs=… RealMemory=…).
  local node host
  node="$(slurmd -C | head -n 1)"
  host="$(hostname -s)"
  cat > "$CONF" <<CONF
ClusterName=lora-lab
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued job waits cred_expire seconds before it starts again (slurmd refuses the old credential until then;
# Slurm's default is 120 s). Short here so the preemption test need not wait two minutes.
AuthInfo=cred_expire=15
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/slurmd
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
MinJobAge=30
$node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$CONF"
  alive "$D/slurmctld.pid" || slurmctld -f "$CONF" || die "slurmctld did not start (see $D/slurmctld.log)"
  alive "$D/slurmd.pid" || slurmd -f "$CONF" || die "slurmd did not start (see $D/slurmd.log)"
  for _ in $(seq 100); do
    state="$(sinfo -h -N -o %t 2>/dev/null | head -n 1 || true)"
    case "$state" in idle*|mix*|alloc*) echo "local-cluster: up ($node); export SLURM_CONF=$CONF"; return 0 ;; esac
    sleep 0.2
  done
  die "the node did not become idle (sinfo: ${state:-no answer}; see $D/slurmctld.log and $D/slurmd.log)"
}

stop() {
  for p in slurmd slurmctld; do
    if alive "$D/$p.pid"; then
      pid="$(cat "$D/$p.pid")"
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  done
  if [ -e "$D/started-munged" ]; then
    pid="$(cat /run/munge/munged.pid 2>/dev/null || true)"
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -f "$D/started-munged"
  fi
  echo "local-cluster: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
