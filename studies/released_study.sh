#!/bin/bash
# #26's chain-space measurement (studies/released_study/REPORT.md): ALGD on SafetyHopperVelocity-v1, 20k
# frames, seeds 0-2, algd.chain_space=action (the released code's) against the pre-squash chain.
#
# The pre-squash arm is the kept paper-study ALGD runs (studies/results/paper_study/algd/SafetyHopperVelocity-v1):
# their code path is today's with algd.score_grad_into_chain=false (the score loss's gradient stopped at the
# chain, as the code detached it then). Checked, not assumed: seed 0 rerun to 2000 frames on today's code with
# that switch gave a metrics.csv row identical to the kept one, every column but the time ones. So the action arm
# runs with the same switch, and the two arms differ in the chain space alone. Seed 0 of the pre-squash arm is
# rerun to 20k frames as well (last lane slot): it gives the pre-squash policy for the saturation measure (the
# kept runs hold no policy.pt) and checks the whole kept run again.
#
# Two lanes side by side with one math thread each; every run resumes where it stopped (algd-compare:
# resume=auto), so rerunning this script continues the study. Finished runs are kept with
#   .venv/bin/python studies/keep_runs.py $OUT studies/results/released_study
# and copied back here first, so a fresh checkout skips them. OUT defaults to comparisons/released_study.
# studies/saturation.py (the share of eval actions with |a| > 0.99, saturation.csv) runs on each finished run.
# Run: nohup nice -n 10 studies/released_study.sh &
cd "$(dirname "$0")/.."
OUT=${OUT:-comparisons/released_study}
PY=${PY:-.venv/bin/python}
BIN=$(dirname "$PY")
mkdir -p "$OUT" && cp -rn studies/results/released_study/. "$OUT"/ 2>/dev/null
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
C="$BIN/algd-compare --algos algd --tasks SafetyHopperVelocity-v1"
CHAIN="collector.total_frames=20000 collector.init_random_frames=2000 logger.eval_iter=2000 logger.eval_episodes=3
       checkpoint.interval=1000 system.num_threads=1 algd.score_grad_into_chain=false"
SAT="$PY studies/saturation.py --episodes 3"
RUNS="$OUT/chain_action/algd/SafetyHopperVelocity-v1"
lane_a() {
  $C --seeds 0 --out "$OUT/chain_action" --set $CHAIN algd.chain_space=action && $SAT "$RUNS/seed0"
  $C --seeds 2 --out "$OUT/chain_action" --set $CHAIN algd.chain_space=action && $SAT "$RUNS/seed2"
}
lane_b() {
  $C --seeds 1 --out "$OUT/chain_action" --set $CHAIN algd.chain_space=action && $SAT "$RUNS/seed1"
  $C --seeds 0 --out "$OUT/chain_pre_squash" --set $CHAIN algd.chain_space=pre_squash &&
    $SAT "$OUT"/chain_pre_squash/algd/SafetyHopperVelocity-v1/seed0
}
lane_a >> "$OUT/lane_a.log" 2>&1 &
lane_b >> "$OUT/lane_b.log" 2>&1 &
wait
