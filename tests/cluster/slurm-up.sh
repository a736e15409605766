#!/usr/bin/env bash
# Start a real single-node SLURM cluster (munge + slurmctld + slurmd) for the cluster test.
#
#   sudo tests/cluster/slurm-up.sh
#   sudo tests/cluster/slurm-down.sh          # stops what this script started
#
# Debian/Ubuntu only, as root, no systemd needed. The cluster's state lives in one folder
# ($SEQLIFT_SLURM_DIR, default /tmp/seqlift-slurm): its own munge socket and key, spool, logs and
# pid files; a munged the machine already runs is left alone. slurm.conf and gres.conf go to
# /etc/slurm (marked as ours, removed by slurm-down.sh): a private SLURM_CONF is not enough,
# because the Snakemake jobstep plugin drops SLURM_CONF from the environment of the `srun` it
# starts inside each job. An /etc/slurm/slurm.conf that we did not write is never overwritten.
#
# No slurmdbd (accounting_storage/none), so `sacct` does not work: the Snakemake profile must
# poll with `slurm-status-command: squeue`, and MinJobAge keeps finished jobs visible to squeue.
# The node advertises $SEQLIFT_SLURM_GPUS fake GPUs (GRES backed by /dev/null-like character
# devices), so `--gpus`/`--gres=gpu:1` requests go through SLURM's real GPU scheduling; the jobs
# themselves see CUDA_VISIBLE_DEVICES but no GPU and must run on the CPU.
set -euo pipefail

STATE=${SEQLIFT_SLURM_DIR:-/tmp/seqlift-slurm}
N_GPUS=${SEQLIFT_SLURM_GPUS:-2}
# Finished jobs stay in squeue this long. The Snakemake SLURM plugin needs at least 3 x its
# first status-check delay here, or it falls back to sacct and waits forever.
MIN_JOB_AGE=${SEQLIFT_SLURM_MIN_JOB_AGE:-600}
PACKAGES="slurmctld slurmd slurm-client munge"
CONF_DIR=/etc/slurm
MARKER="# Written by seqlift tests/cluster/slurm-up.sh"

fail() { echo "slurm-up: $*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || fail "needs root (it installs Debian packages and starts slurmctld/slurmd as root); run it with sudo, or skip the cluster test on this machine"
command -v apt-get >/dev/null || fail "needs a Debian/Ubuntu machine with apt-get to install: $PACKAGES"
# 6817/6818 are slurmctld's and slurmd's ports; a SLURM that already runs here is not ours to use.
if [ ! -s "$STATE/run/slurmctld.pid" ] && { pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; }; then
    fail "a slurmctld/slurmd not started by this script is already running on this machine; stop it first (or run tests/cluster/slurm-down.sh if an earlier test left it)"
fi
if [ -e "$CONF_DIR/slurm.conf" ] && ! grep -qxF "$MARKER" "$CONF_DIR/slurm.conf"; then
    fail "$CONF_DIR/slurm.conf exists and was not written by this script; this machine already has a SLURM setup, so the test will not replace it"
fi

MISSING=""
for package in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
        || MISSING="$MISSING $package"
done
if [ -n "$MISSING" ]; then
    echo "slurm-up: apt-get install$MISSING"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || fail "apt-get update failed"
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $MISSING >/dev/null \
        || fail "apt-get install$MISSING failed"
fi
id slurm >/dev/null 2>&1 || fail "the slurm user is missing after installing slurmctld"
id munge >/dev/null 2>&1 || fail "the munge user is missing after installing munge"

HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 85 / 100 ))

mkdir -p "$STATE"/{run,log,spool/slurmctld,spool/slurmd,munge}
chmod 755 "$STATE" "$STATE"/{run,log,spool}
chown slurm:slurm "$STATE/spool/slurmctld" "$STATE/log"
# munged refuses a socket folder that others can write to or cannot enter.
chown munge:munge "$STATE/munge"
chmod 711 "$STATE/munge"

# A private munge daemon on a private socket with its own key, so a site's munged is untouched.
MUNGE_SOCKET=$STATE/munge/munge.socket
if [ ! -s "$STATE/munge/munged.pid" ] || ! kill -0 "$(cat "$STATE/munge/munged.pid")" 2>/dev/null; then
    if [ ! -s "$STATE/munge/munge.key" ]; then
        mungekey --create --force --keyfile="$STATE/munge/munge.key"
        chown munge:munge "$STATE/munge/munge.key"
        chmod 400 "$STATE/munge/munge.key"
    fi
    runuser -u munge -- /usr/sbin/munged --socket="$MUNGE_SOCKET" \
        --key-file="$STATE/munge/munge.key" --pid-file="$STATE/munge/munged.pid" \
        --log-file="$STATE/munge/munged.log" --seed-file="$STATE/munge/munged.seed" \
        || fail "munged did not start; see $STATE/munge/munged.log"
fi
munge --socket="$MUNGE_SOCKET" -n | unmunge --socket="$MUNGE_SOCKET" >/dev/null \
    || fail "munge round trip failed on $MUNGE_SOCKET"

# Fake GPUs: SLURM needs one character device per GPU (Count= without File= leaves the node
# INVALID); these devices exist everywhere and are harmless to open.
GPU_DEVICES=(/dev/null /dev/zero /dev/full /dev/urandom)
[ "$N_GPUS" -ge 1 ] && [ "$N_GPUS" -le ${#GPU_DEVICES[@]} ] || fail "SEQLIFT_SLURM_GPUS must be 1..${#GPU_DEVICES[@]}"
mkdir -p "$CONF_DIR"
echo "$MARKER" > "$CONF_DIR/gres.conf"
for ((i = 0; i < N_GPUS; i++)); do
    echo "NodeName=$HOST Name=gpu File=${GPU_DEVICES[$i]}" >> "$CONF_DIR/gres.conf"
done

cat > "$CONF_DIR/slurm.conf" <<EOF
${MARKER}
# A single-node test cluster; its state is in ${STATE}.
ClusterName=seqlift-ci
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=${MUNGE_SOCKET}
CredType=cred/munge
StateSaveLocation=${STATE}/spool/slurmctld
SlurmdSpoolDir=${STATE}/spool/slurmd
SlurmctldPidFile=${STATE}/run/slurmctld.pid
SlurmdPidFile=${STATE}/run/slurmd.pid
SlurmctldLogFile=${STATE}/log/slurmctld.log
SlurmdLogFile=${STATE}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, a job that gives no --mem takes the whole node and jobs run one at a time.
DefMemPerCPU=1000
ReturnToService=2
MinJobAge=${MIN_JOB_AGE}
SlurmctldTimeout=30
SlurmdTimeout=30
GresTypes=gpu
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEM_MB} Gres=gpu:${N_GPUS} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# -c: start from an empty job table, so job ids and squeue only show this test's jobs.
alive "$STATE/run/slurmctld.pid" || slurmctld -c \
    || fail "slurmctld did not start; see $STATE/log/slurmctld.log"
alive "$STATE/run/slurmd.pid" || slurmd \
    || fail "slurmd did not start; see $STATE/log/slurmd.log"

for _ in $(seq 120); do
    sinfo -h -o %T 2>/dev/null | grep -qx idle && break
    sleep 0.5
done
if ! sinfo -h -o %T 2>/dev/null | grep -qx idle; then
    sinfo -N -l >&2 || true
    tail -n 20 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 || true
    fail "node $HOST did not become idle"
fi
echo "slurm-up: node $HOST idle with $CPUS CPUs, ${MEM_MB} MB, $N_GPUS fake GPU(s)"
