#!/bin/bash
# Issue #27: ALGD, SAC-Lag and CAL on SafetyPointGoal1-v0 at the released run length, 100k frames, seeds 0-2,
# every recipe's defaults (one update per frame, in bursts of 1000 frames), evaluation every 5k frames with
# 5 episodes. Two lanes side by side, one math thread each; each run goes in two legs: to 50k frames, the
# critic check on its 50k checkpoint (critic_check_50000.txt), then resumed to 100k (the resume starts a fresh
# episode, at an episode boundary: 50k = 50 episodes of 1000 steps) and checked again (critic_check_100000.txt).
# A run is copied into studies/results/goal_study as soon as it finishes (studies/keep_runs.py); commit it
# then (config.yaml says the first leg's 50000 frames, config_resumed.yaml the 100000). Rerunning this script skips kept runs and resumes unfinished ones whose folder is still on this machine.
# About 2 h of one core per SAC-Lag/CAL run and ~3.5 h per ALGD run (AVX-512 EPYC, one thread): a run must
# finish on the machine that started it, so start the ALGD runs at a session's beginning.
# Run: OUT=/work/goal_study nohup nice -n 10 studies/goal_study.sh &
cd "$(dirname "$0")/.."
OUT=${OUT:-comparisons/goal_study}
PY=${PY:-.venv/bin/python}
BIN=$(dirname "$PY")
mkdir -p "$OUT" && cp -rn studies/results/goal_study/. "$OUT"/ 2>/dev/null
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
SET=${SET:-logger.eval_iter=5000 logger.eval_episodes=5 checkpoint.interval=5000 system.num_threads=1}
LEGS=${LEGS:-50000 100000}  # a tiny trial of the mechanics: LEGS="200 400" SET="..." OUT=/tmp/x KEEP=/tmp/y
one() {  # one() ALGO SEED: both legs of one run, its critic checks, then kept
  local run="$OUT/$1/SafetyPointGoal1-v0/seed$2"
  for frames in $LEGS; do
    $BIN/algd-compare --algos "$1" --tasks SafetyPointGoal1-v0 --seeds "$2" --out "$OUT" \
      --set $SET collector.total_frames=$frames || return
    [ -f "$run/critic_check_$frames.txt" ] || [ ! -f "$run/checkpoint.pt" ] || {
      $PY studies/critic_check.py "$run" > "$run/.critic_check.tmp" && mv "$run/.critic_check.tmp" "$run/critic_check_$frames.txt"; }
  done
  $PY studies/keep_runs.py "$run" "${KEEP:-studies/results/goal_study}/$1/SafetyPointGoal1-v0/seed$2"  # this run only
}
lane_a() { one algd 0; one sac_lag 0; one cal 0; one algd 2; one sac_lag 2; }
lane_b() { one algd 1; one sac_lag 1; one cal 1; one cal 2; }
lane_a >> "$OUT/lane_a.log" 2>&1 &
lane_b >> "$OUT/lane_b.log" 2>&1 &
wait
