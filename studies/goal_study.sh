#!/bin/bash
# Issue #27: ALGD, SAC-Lag and CAL on SafetyPointGoal1-v0 at the released run length (the released README's
# Safety-Gym command: --num_epoch 250 epochs of 400 steps), 100k frames, seeds 0-2,
# every recipe's defaults (one update per frame, in bursts of 1000 frames), evaluation every 5k frames with
# 5 episodes. Two runs at a time, one math thread each (WORKERS=2, THREADS=1), as the issue asks: measured
# before the study started (ALGD on SafetyPointGoal1-v0, 2000-3000 updates, `python -m algd_components.runs RUN
# --columns updates_per_s --last`), one run on 2 threads made 14.1 updates/s, one on 1 thread beside another
# 9.0, so two side by side make ~18 together: about 3 h for an ALGD run of 100k updates, which outlasts a
# session; its checkpoints (every 5k frames) and the env replay carry it into the next one.
# Each worker takes the next run in the order seed 0 of algd, sac_lag, cal, then seeds 1 and 2 that no other
# worker holds (a lock per run) and that is not kept.
# Each run goes in two legs: to 50k frames, the critic check on its 50k checkpoint (critic_check_50000.txt), then
# resumed to 100k (the resume replays the env's 50k logged actions, ~3 min: the rows are an uninterrupted run's) and
# checked again (critic_check_100000.txt). Each run's legs.txt records every part: when, on which machine (a run
# may span sessions, and sessions may land on different CPUs), its start-up line, its resume and stop lines.
# A run is copied into studies/results/goal_study as soon as it finishes
# (studies/keep_runs.py, this run alone); commit it then (config.yaml says the first leg's 50000 frames,
# config_resumed.yaml the 100000; readers take the length from the latter). Rerunning this script skips kept runs
# and resumes unfinished ones whose folder is still on this machine; a second copy started while one runs exits
# (a lock on $OUT/.study.lock). A run that diverges (exit 3) is a finding: its record so far is kept with
# DIVERGED.txt (the error line) and skipped on reruns. A signal to a worker's algd-compare stops that worker.
# Run: OUT=/work/goal_study nohup nice -n 10 studies/goal_study.sh &
cd "$(dirname "$0")/.."
OUT=${OUT:-comparisons/goal_study}
PY=${PY:-.venv/bin/python}
BIN=$(dirname "$PY")
KEEP=${KEEP:-studies/results/goal_study}
mkdir -p "$OUT" "$KEEP"
THREADS=${THREADS:-1} WORKERS=${WORKERS:-2}
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
SET=${SET:-logger.eval_iter=5000 logger.eval_episodes=5 checkpoint.interval=5000 system.num_threads=$THREADS}
LEGS=${LEGS:-50000 100000}  # a tiny trial of the mechanics: LEGS="200 400" OUT=/tmp/x KEEP=/tmp/y SET="logger.eval_iter=200
# logger.eval_episodes=1 checkpoint.interval=200 system.num_threads=1 env.max_episode_steps=100
# collector.init_random_frames=100 collector.frames_per_batch=100 optim.batch_size=64"
one() {  # one() ALGO SEED: both legs of one run, its critic checks, then kept
  local run="$OUT/$1/SafetyPointGoal1-v0/seed$2" kept="$KEEP/$1/SafetyPointGoal1-v0/seed$2"
  # kept: finished, or diverged (DIVERGED.txt, a finding: rerunning would diverge again). Nothing to add, and
  # a revisit must not append a part that never ran to the kept legs.txt
  [ -d "$kept" ] && return
  mkdir -p "$run"  # algd-compare starts a run in a folder that holds no checkpoint or metrics yet
  for frames in $LEGS; do
    # a leg with its critic check is done (the check is written only after the leg ran to its end): no
    # algd-compare call that would find the run past its frames, and no empty part in legs.txt
    [ -f "$run/critic_check_$frames.txt" ] && continue
    # legs.txt (kept with the run): when each part ran and on which machine, then its start-up line (the update
    # schedule in words), the resume's env-replay lines and how it stopped, from this worker's log
    local from=$(($(wc -l < "$LOG") + 1))
    echo "$(date -u '+%F %T UTC'): to $frames frames on $($PY studies/keep_runs.py --machine)" >> "$run/legs.txt"
    $BIN/algd-compare --algos "$1" --tasks SafetyPointGoal1-v0 --seeds "$2" --out "$OUT" \
      --set $SET collector.total_frames=$frames 2> "$run.err"
    local rc=$?
    cat "$run.err" >&2  # first: the stop and error lines come on stderr
    tail -n +"$from" "$LOG" | grep -E "^(resume:|stopped:|error:|done:)| on SafetyPointGoal1-v0, (new run|resuming at) " >> "$run/legs.txt"
    if [ $rc -eq 3 ]; then  # diverged (the non-finite guard): keep the record so far and say so
      grep "^error:" "$run.err" > "$run/DIVERGED.txt"; $PY studies/keep_runs.py --unfinished "$run" "$kept" >&2
      return
    fi
    [ $rc -ge 128 ] && exit $rc  # a signal: the study stops (rerunning it resumes this run)
    [ $rc -eq 0 ] || return
    [ ! -f "$run/checkpoint.pt" ] || {
      $PY studies/critic_check.py "$run" > "$run/.critic_check.tmp" && mv "$run/.critic_check.tmp" "$run/critic_check_$frames.txt"
    } || return  # no leg 2 on a checkpoint whose leg-1 check is missing: it would be checked at the wrong frames
  done
  $PY studies/keep_runs.py "$run" "$kept"  # this run only
}
worker() {  # worker N: the next run no other worker holds, in the study's order, until none is left
  LOG="$OUT/study_$1.log"
  touch "$LOG"
  for seed in 0 1 2; do
    for algo in algd sac_lag cal; do
      (flock -n 8 || exit 0; one $algo $seed) 8> "$OUT/.run.$algo.$seed.lock"
      local rc=$?
      [ $rc -ge 128 ] && exit $rc
    done
  done >> "$LOG" 2>&1
}
exec 9> "$OUT/.study.lock"
flock -n 9 || { echo "another goal_study.sh holds $OUT/.study.lock: one study at a time" >&2; exit 0; }
for w in $(seq 1 "$WORKERS"); do worker "$w" & [ "$w" -lt "$WORKERS" ] && sleep 5; done  # staggered starts
wait
