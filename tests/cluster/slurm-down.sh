#!/usr/bin/env bash
# Stop the test cluster that tests/cluster/slurm-up.sh started: cancel its jobs, then stop
# slurmd, slurmctld and its private munged by their pid files in $SEQLIFT_SLURM_DIR, and remove
# the /etc/slurm files it wrote. Processes and files it did not create (a site's munged or
# SLURM) are never touched. Safe to run twice.
set -uo pipefail

STATE=${SEQLIFT_SLURM_DIR:-/tmp/seqlift-slurm}
CONF_DIR=/etc/slurm
MARKER="# Written by seqlift tests/cluster/slurm-up.sh"

stop() { # name pidfile
    local name=$1 pidfile=$2 pid
    [ -s "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "slurm-down: $name ($pid) ignored SIGTERM for 10 s; sending SIGKILL" >&2
            kill -9 "$pid" 2>/dev/null
        fi
        echo "slurm-down: stopped $name ($pid)"
    fi
    rm -f "$pidfile"
}

if [ -s "$STATE/run/slurmctld.pid" ] && kill -0 "$(cat "$STATE/run/slurmctld.pid")" 2>/dev/null; then
    scancel --full --user="$(id -un)" 2>/dev/null || true
fi
stop slurmd "$STATE/run/slurmd.pid"
stop slurmctld "$STATE/run/slurmctld.pid"
stop munged "$STATE/munge/munged.pid"
for file in "$CONF_DIR/slurm.conf" "$CONF_DIR/gres.conf"; do
    if [ -f "$file" ] && grep -qxF "$MARKER" "$file"; then
        rm -f "$file"
    fi
done
exit 0
