#!/usr/bin/env bash
# The cluster test (`make test-cluster`): the demo workflow on a real single-node SLURM cluster.
#
#  1. starts SLURM (tests/cluster/slurm-up.sh: munge, slurmctld, slurmd, 2 fake GPUs);
#  2. runs the demo locally (`--cores 2`) as the reference result;
#  3. runs it through `snakemake --profile profiles/slurm --profile profiles/slurm-ci`, then
#     checks with squeue/scontrol that every attribution shard was its own SLURM job that was
#     allocated a GPU, and that attributions.zarr equals the local one bit for bit;
#  4. fault test: scancels one running shard job; the run must fail and say so; the same
#     command again must submit only that shard, leave the others' shard groups untouched, and end
#     with the same attributions.zarr;
#  5. stops every daemon it started (trap), also on failure or Ctrl-C.
#
# Needs root and apt-get (Debian/Ubuntu); elsewhere it says so and exits 2. `make test` never
# runs it. Every snakemake call is wrapped in `timeout -s INT` so a hang fails the test (SIGINT
# makes snakemake scancel its jobs; plain SIGTERM would wait for them).
#
# Environment: SEQLIFT_CLUSTER_WORK (scratch folder, default /tmp/seqlift-cluster-test),
# SEQLIFT_SLURM_DIR (the cluster's state, see slurm-up.sh), PYTHON (default .venv/bin/python),
# SEQLIFT_CLUSTER_TIMEOUT (seconds per snakemake run, default 300), SEQLIFT_DEMO_DIR (the demo's
# genome, peaks and model, default demo/ of the repository), SEQLIFT_CLUSTER_TARGETS (what the
# cluster runs build, default the workflow's whole default target).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/tests/cluster
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
WORK=${SEQLIFT_CLUSTER_WORK:-/tmp/seqlift-cluster-test}
RUN_TIMEOUT=${SEQLIFT_CLUSTER_TIMEOUT:-300}
DEMO_DIR=${SEQLIFT_DEMO_DIR:-$REPO/demo}
CONFIG=config/demo.yaml
# device auto: the shard jobs are allocated a (fake) GPU but torch sees none, so they run on the
# CPU; the local reference run uses the same config so that only the executor differs.
CONFIG_OVERRIDES=(device=auto)
# The demo turns the motifs stage on; this test is about the sharded attribution, and the three
# TF-MoDISco jobs would add minutes to each of its three runs, so a second config file turns it
# off (--config cannot set a nested boolean).
NO_MOTIFS="motifs: {enabled: false}"
PROFILES=(--profile "$REPO/profiles/slurm" --profile "$REPO/profiles/slurm-ci")
# The fault test's command: with the profile's retries a cancelled shard would simply be
# resubmitted; the test wants to see the failure reported and then recovered by a rerun.
FAULT_COMMAND=("${PROFILES[@]}" --retries 0)
read -r -a TARGETS <<< "${SEQLIFT_CLUSTER_TARGETS:-}"

say() { printf '\n=== %s [%ds]\n' "$*" "$SECONDS"; }
die() { printf 'test-cluster: FAIL: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    cat >&2 <<EOF
test-cluster: cannot run here. The cluster test installs SLURM from Debian packages
(slurmctld, slurmd, munge) and starts its daemons, which needs root and apt-get
(this machine: user $(id -un), apt-get $(command -v apt-get >/dev/null && echo found || echo missing)).
Run it as root on a Debian/Ubuntu machine or CI runner: sudo make test-cluster
EOF
    exit 2
fi
"$PYTHON" -c "import snakemake_executor_plugin_slurm" 2>/dev/null \
    || die "the SLURM executor plugin is not installed in $PYTHON; run: pip install -e '.[cluster]'"
[ -f "$REPO/$CONFIG" ] || die "$REPO/$CONFIG is missing"
[ -f "$DEMO_DIR/data/peaks.bed" ] && [ -f "$DEMO_DIR/model.pt" ] \
    || die "the demo's data or model is missing under $DEMO_DIR (see demo/make_genome.py, demo/train_model.py)"

cleanup() {
    local status=$?
    say "stopping the test cluster"
    "$HERE/slurm-down.sh" || true
    if [ "$status" != 0 ]; then
        echo "test-cluster: FAILED (exit $status); logs under $WORK (snakemake: */.snakemake/log," \
            "SLURM jobs: */.snakemake/slurm_logs, daemons: ${SEQLIFT_SLURM_DIR:-/tmp/seqlift-slurm}/log)" >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting SLURM"
"$HERE/slurm-up.sh"
"$PYTHON" "$HERE/check_cluster.py" profiles "$REPO/profiles/slurm/config.yaml" \
    "$REPO/profiles/slurm-ci/config.yaml"

# Each run gets its own working directory with the repository's config/ and a private copy of
# demo/ (a run may index the FASTA next to it), so nothing is written into the repository.
# Only a folder this script made (it leaves a marker) is ever emptied.
if [ -e "$WORK" ]; then
    [ -f "$WORK/.seqlift-cluster-test" ] || die "$WORK exists and was not made by this test; set SEQLIFT_CLUSTER_WORK"
    rm -rf "$WORK"
fi
mkdir -p "$WORK/inputs"
touch "$WORK/.seqlift-cluster-test"
cp -r "$DEMO_DIR" "$WORK/inputs/demo"
echo "$NO_MOTIFS" > "$WORK/inputs/no-motifs.yaml"
new_workdir() {
    mkdir -p "$WORK/$1"
    ln -s "$REPO/config" "$WORK/$1/config"
    ln -s "$WORK/inputs/demo" "$WORK/$1/demo"
}
# snakemake in WORKDIR with the demo config; extra arguments follow. Bounded by RUN_TIMEOUT.
snakemake_in() {
    local workdir=$1
    shift
    (cd "$WORK/$workdir" && timeout -s INT -k 60 "$RUN_TIMEOUT" \
        "$PYTHON" -m snakemake --config "${CONFIG_OVERRIDES[@]}" --snakefile "$REPO/Snakefile" \
        --configfile "$CONFIG" "$WORK/inputs/no-motifs.yaml" "$@" ${TARGETS[@]+"${TARGETS[@]}"})
}
last_job_id() {
    squeue --noheader --states=all --format=%i | sort -n | tail -n 1 | grep . || echo 0
}
RESULT=results/demo/attributions.zarr
zarr_of() { echo "$WORK/$1/$RESULT"; }

say "local reference run (--cores 2)"
new_workdir local
start=$SECONDS
snakemake_in local --cores 2 "$RESULT" > "$WORK/local.log" 2>&1 \
    || { tail -n 40 "$WORK/local.log"; die "the local run failed"; }
echo "local run: $((SECONDS - start)) s"

say "cluster run: snakemake --profile profiles/slurm --profile profiles/slurm-ci"
new_workdir cluster
snakemake_in cluster "${PROFILES[@]}" --dry-run > "$WORK/cluster-dryrun.log" 2>&1 \
    || { tail -n 40 "$WORK/cluster-dryrun.log"; die "the dry run failed"; }
"$PYTHON" "$HERE/check_cluster.py" shards "$WORK/cluster-dryrun.log" > "$WORK/shards.txt"
echo "planned attribution shards: $(tr '\n' ' ' < "$WORK/shards.txt")"
[ "$(wc -l < "$WORK/shards.txt")" -ge 2 ] || die "the demo must plan at least 2 shards"
first_id=$(last_job_id)
start=$SECONDS
snakemake_in cluster "${PROFILES[@]}" > "$WORK/cluster.log" 2>&1 \
    || { tail -n 60 "$WORK/cluster.log"; die "the cluster run failed (exit status above)"; }
echo "cluster run: $((SECONDS - start)) s"
grep -q "steps (100%) done" "$WORK/cluster.log" || die "the cluster run did not finish every step"
"$PYTHON" "$HERE/check_cluster.py" jobs --expect "$WORK/shards.txt" --after-job-id "$first_id" \
    --exactly-once
"$PYTHON" "$HERE/check_cluster.py" compare "$(zarr_of cluster)" "$(zarr_of local)"

say "fault test: scancel one running shard job"
new_workdir fault
first_id=$(last_job_id)
start=$SECONDS
# Job control on, so the background snakemake can receive SIGINT from timeout (a non-interactive
# shell starts background jobs with SIGINT ignored).
set -m
snakemake_in fault "${FAULT_COMMAND[@]}" > "$WORK/fault.log" 2>&1 &
fault_pid=$!
set +m
victim=""
for _ in $(seq 1200); do
    victim=$(squeue --noheader --states=RUNNING --format='%i %k' \
        | awk '$2 ~ /^rule_attribution_wildcards_/ {print $1; exit}')
    [ -n "$victim" ] && break
    kill -0 "$fault_pid" 2>/dev/null || break
    sleep 0.25
done
[ -n "$victim" ] || { wait "$fault_pid" || true; die "never saw a running attribution job to cancel"; }
victim_shard=$(squeue --noheader --states=all --job "$victim" --format=%k)
victim_shard=${victim_shard#rule_attribution_wildcards_}
scancel "$victim"
echo "cancelled SLURM job $victim (shard $victim_shard) $((SECONDS - start)) s into the run"
fault_status=0
wait "$fault_pid" || fault_status=$?
echo "interrupted run: exit $fault_status after $((SECONDS - start)) s"
[ "$fault_status" != 0 ] && [ "$fault_status" != 124 ] \
    || die "the run with a cancelled shard exited $fault_status; it must fail, and not by timeout"
grep -q "SLURM-job '$victim' failed, SLURM status is: 'CANCELLED'" "$WORK/fault.log" \
    || { tail -n 40 "$WORK/fault.log"; die "the run did not report the cancelled job $victim"; }
echo "the run reported: $(grep -o "SLURM-job '$victim' failed, SLURM status is: 'CANCELLED'" "$WORK/fault.log" | head -n 1)"
[ ! -e "$(zarr_of fault)" ] || die "attributions.zarr exists although a shard was cancelled"

# What the rerun must redo: exactly the planned shards that have no COMPLETED job above.
squeue --noheader --states=COMPLETED --format='%i %k' \
    | awk -v after="$first_id" '$1 > after && $2 ~ /^rule_attribution_wildcards_/ {
        sub(/^rule_attribution_wildcards_/, "", $2); print $2 }' | sort > "$WORK/fault-completed.txt"
sort "$WORK/shards.txt" | comm -23 - "$WORK/fault-completed.txt" > "$WORK/missing.txt"
grep -qxF "$victim_shard" "$WORK/missing.txt" || die "the cancelled shard $victim_shard counts as completed"
snakemake_in fault "${FAULT_COMMAND[@]}" --dry-run > "$WORK/rerun-dryrun.log" 2>&1 \
    || { tail -n 40 "$WORK/rerun-dryrun.log"; die "the rerun's dry run failed"; }
"$PYTHON" "$HERE/check_cluster.py" shards "$WORK/rerun-dryrun.log" | sort > "$WORK/rerun-plan.txt"
cmp -s "$WORK/rerun-plan.txt" "$WORK/missing.txt" \
    || die "the rerun plans shards $(tr '\n' ' ' < "$WORK/rerun-plan.txt"), not just the missing $(tr '\n' ' ' < "$WORK/missing.txt")"
echo "the rerun plans only the missing shard(s): $(tr '\n' ' ' < "$WORK/missing.txt")"
# Every file of the finished shard groups, with modification times; the rerun must leave them as
# they are. (Files of a killed job's temporary folder are gone after the rerun and not compared.)
shard_files() { (cd "$WORK/fault" && find results -path '*/shards/*' -type f -printf '%p %T@\n' | sort); }
shard_files > "$WORK/shard-files-before.txt"

say "fault test: the same command again"
rerun_after=$(last_job_id)
start=$SECONDS
snakemake_in fault "${FAULT_COMMAND[@]}" > "$WORK/rerun.log" 2>&1 \
    || { tail -n 60 "$WORK/rerun.log"; die "the rerun failed"; }
echo "rerun: $((SECONDS - start)) s"
"$PYTHON" "$HERE/check_cluster.py" jobs --expect "$WORK/missing.txt" --after-job-id "$rerun_after" \
    --exactly-once
# Shard files still there after the rerun (a workflow may delete them once aggregated) must be
# the very files written before it.
shard_files > "$WORK/shard-files-after.txt"
changed=$(awk 'NR == FNR {before[$1] = $2; next} ($1 in before) && before[$1] != $2 {print $1}' \
    "$WORK/shard-files-before.txt" "$WORK/shard-files-after.txt")
[ -z "$changed" ] || die "the rerun rewrote finished shard files: $changed"
echo "finished shard files untouched: $(grep -c . "$WORK/shard-files-before.txt" || true) before," \
    "$(grep -c . "$WORK/shard-files-after.txt" || true) after the rerun"
"$PYTHON" "$HERE/check_cluster.py" compare "$(zarr_of fault)" "$(zarr_of local)"

say "test-cluster: PASSED"
