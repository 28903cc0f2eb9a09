#!/usr/bin/env bash
# `spikernn sweep --slurm --submit` against a real SLURM on this machine.
#
# Installs Debian's slurm-wlm and munge if missing (needs root), starts
# munged, slurmctld and slurmd on localhost with a one-node configuration,
# runs a tiny sweep (Go-NoGo, N 20 and 40 × seeds 1–2, small search) once
# with the local runner and once as a SLURM job array with a chained collect
# job, and checks that both results.csv agree (every column but the wall
# and CPU times and the thread count). Exits non-zero on any difference.
#
#   sudo bash scripts/slurm_test.sh            # from the repository root
#
# Leaves the daemons it started running only if KEEP_SLURM=1.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
t0=$SECONDS
say() { echo "== $* ($((SECONDS - t0)) s)"; }

[ "$(id -u)" = 0 ] || { echo "slurm_test.sh: run as root (it installs and starts slurm)" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

bin="$repo/target/release/spikernn"
if [ ! -x "$bin" ]; then
    say "building spikernn (release)"
    cargo build --release --quiet
fi

work=$(mktemp -d /tmp/spikernn-slurm-test.XXXXXX)
chmod 755 "$work"
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
started=()

cleanup() {
    if [ "${KEEP_SLURM:-0}" != 1 ]; then
        for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done
    fi
}
trap cleanup EXIT

say "munge"
if [ ! -s /etc/munge/munge.key ]; then
    if command -v mungekey >/dev/null; then mungekey --create --force >/dev/null 2>&1 || true; fi
    [ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged --force
    sleep 1
    pgrep -u munge -x munged >/dev/null && started+=("$(pgrep -u munge -x munged | head -1)")
fi
munge -n | unmunge >/dev/null || { echo "munge does not work" >&2; exit 1; }

say "slurm.conf for one node: $host, $cpus CPUs, $mem MB"
conf_dir=/etc/slurm
mkdir -p "$conf_dir" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
if pgrep -x slurmctld >/dev/null; then
    echo "slurmctld already running: using it (its slurm.conf is left alone)"
else
    cat > "$conf_dir/slurm.conf" <<EOF
# Written by spikernn scripts/slurm_test.sh: one node, localhost.
ClusterName=spikernn-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=600
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    /usr/sbin/slurmctld -c
    sleep 1
    started+=("$(cat /run/slurmctld.pid)")
fi
if ! pgrep -x slurmd >/dev/null; then
    /usr/sbin/slurmd
    sleep 1
    started+=("$(cat /run/slurmd.pid)")
fi
for _ in $(seq 60); do
    state=$(sinfo -h -N -o '%t' 2>/dev/null | head -1 || true)
    case "$state" in idle*|mix*|alloc*) break ;; esac
    scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
    sleep 1
done
sinfo

say "the tiny sweep"
cat > "$work/tiny.toml" <<'EOF'
# Tiny Go-NoGo sweep for the SLURM test: 4 jobs, train + search + eval.
task = "go-nogo"
attempts = 1
[net]
taus = [4, 10]
p_inh = 0.2
som_n = 0
[train]
n_trials = 2000
eval_freq = 100
eval_trials = 20
[search]
lambdas = "25:45:10"
trials = 20
refine = false
[eval]
trials = 40
[axes]
"net.n" = [20, 40]
seed = "1..2"
[[plot]]
y = "spiking_accuracy"
x = "net.n"
EOF

say "local runner"
"$bin" --quiet sweep "$work/tiny.toml" --out "$work/local"
"$bin" sweep collect "$work/local"

say "SLURM: --slurm --submit"
out=$("$bin" sweep "$work/tiny.toml" --out "$work/slurm" --slurm --submit --time 00:20:00 --cpus 1)
echo "$out"
collect_id=$(echo "$out" | sed -n 's/.*collect job \([0-9]*\).*/\1/p')
array_id=$(echo "$out" | sed -n 's/.*array job \([0-9]*\),.*/\1/p')
[ -n "$collect_id" ] && [ -n "$array_id" ] || { echo "no job ids in: $out" >&2; exit 1; }
for _ in $(seq 1200); do
    if [ -z "$(squeue -h -j "$array_id,$collect_id" 2>/dev/null)" ]; then break; fi
    sleep 1
done
squeue
for id in "$array_id" "$collect_id"; do
    scontrol show job "$id" 2>/dev/null | grep -E 'JobId=|JobState=' | tr -s ' ' || true
done
ls "$work/slurm/slurm"
[ -f "$work/slurm/results.csv" ] || { echo "the collect job wrote no results.csv" >&2; cat "$work"/slurm/slurm/*.out >&2; exit 1; }

say "compare local and SLURM results.csv"
python3 - "$work/local/results.csv" "$work/slurm/results.csv" <<'PY'
import csv, sys
def rows(p):
    with open(p) as f:
        r = list(csv.DictReader(f))
    for x in r:
        x.pop("wall_seconds"); x.pop("cpu_seconds"); x.pop("threads"); x.pop("train_cached", None)
    return r
a, b = rows(sys.argv[1]), rows(sys.argv[2])
print(f"local: {len(a)} jobs, SLURM: {len(b)} jobs")
for x in a:
    print("  ", x["id"], x["status"], "rate", x["rate_accuracy"], "lambda", x["best_lambda"],
          "spiking", x["spiking_accuracy"])
if a != b:
    for x, y in zip(a, b):
        if x != y:
            print("DIFFERENT:", {k: (x[k], y.get(k)) for k in x if x[k] != y.get(k)})
    sys.exit("SLURM results differ from the local runner's")
if any(x["status"] != "ok" for x in a):
    sys.exit("a job failed")
print("SLURM results equal the local runner's (every column but wall_seconds, cpu_seconds, threads, train_cached)")
PY
say "slurm test passed (work files in $work)"
