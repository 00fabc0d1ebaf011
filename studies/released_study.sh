#!/bin/bash
# #26 measurements behind two defaults (to be written up in studies/released_study/REPORT.md and
# docs/results.md once the runs are kept: chain space; bursts against interleaved updates), two lanes side by side with one math thread each; every run resumes where it stopped
# (algd-compare: resume=auto), so rerunning this script continues the study. Finished runs are kept with
#   .venv/bin/python studies/keep_runs.py $OUT studies/results/released_study
# and copied back here first, so a fresh checkout skips them. OUT defaults to comparisons/released_study;
# point it outside the work tree (OUT=/work/released_study) where the machine outlives the checkout.
#   1. chain space: algd (algd=code) on SafetyHopperVelocity-v1, 20k frames, seeds 0-2,
#      algd.chain_space=pre_squash against algd.chain_space=action (the released code's), then
#      studies/saturation.py on each run (saturation.csv: the share of eval actions with |a| > 0.99);
#   2. bursts against interleaved: algd=code at 5 updates per frame, 12k frames, seeds 0-1,
#      collector.frames_per_batch=1000 (one burst of 5000 updates per 1000 frames) against 10.
# Run: nohup nice -n 10 studies/released_study.sh &
cd "$(dirname "$0")/.."
OUT=${OUT:-comparisons/released_study}
mkdir -p "$OUT" && cp -rn studies/results/released_study/. "$OUT"/ 2>/dev/null
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
C=".venv/bin/algd-compare --algos algd --tasks SafetyHopperVelocity-v1"
CHAIN="collector.total_frames=20000 collector.init_random_frames=2000 logger.eval_iter=2000 logger.eval_episodes=3 checkpoint.interval=1000 system.num_threads=1"
UTD="collector.total_frames=12000 collector.init_random_frames=2000 logger.eval_iter=2000 logger.eval_episodes=3 checkpoint.interval=1000 system.num_threads=1 optim.utd_ratio=5"
SAT=".venv/bin/python studies/saturation.py --episodes 3"  # share of eval actions with |a| > 0.99, per finished run
lane_a() {
  $C --seeds 0 1 2 --out "$OUT/chain_pre_squash" --set $CHAIN algd.chain_space=pre_squash &&
    $SAT "$OUT"/chain_pre_squash/algd/SafetyHopperVelocity-v1/seed*
  $C --seeds 0 1 --out "$OUT/utd5_burst" --set $UTD collector.frames_per_batch=1000
}
lane_b() {
  $C --seeds 0 1 2 --out "$OUT/chain_action" --set $CHAIN algd.chain_space=action &&
    $SAT "$OUT"/chain_action/algd/SafetyHopperVelocity-v1/seed*
  $C --seeds 0 1 --out "$OUT/utd5_interleaved" --set $UTD collector.frames_per_batch=10
}
lane_a >> "$OUT/lane_a.log" 2>&1 &
lane_b >> "$OUT/lane_b.log" 2>&1 &
wait
