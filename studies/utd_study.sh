#!/bin/bash
# #17 updates-per-frame study: algd=code at 5 updates/frame (released schedule) vs 1, 3 seeds, 12k frames
# (Hopper's constraint binds from ~10k frames). Two lanes side by side, one math thread each; every run
# resumes where it stopped (compare: resume=auto), so rerunning this script continues the study. Run: nohup nice -n 10 studies/utd_study.sh &
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
SET="collector.total_frames=12000 collector.init_random_frames=2000 logger.eval_iter=2000 logger.eval_episodes=3 checkpoint.interval=1000 system.num_threads=1"
C=".venv/bin/algd-compare --algos algd --tasks SafetyHopperVelocity-v1"
lane_a() {
  $C --seeds 0 --out comparisons/hopper_utd5 --set $SET optim.utd_ratio=5
  $C --seeds 2 --out comparisons/hopper_utd5 --set $SET optim.utd_ratio=5
}
lane_b() {
  $C --seeds 1 --out comparisons/hopper_utd5 --set $SET optim.utd_ratio=5
  $C --seeds 0 1 2 --out comparisons/hopper_utd1 --set $SET optim.utd_ratio=1
}
lane_a >> comparisons/utd_lane_a.log 2>&1 &
lane_b >> comparisons/utd_lane_b.log 2>&1 &
wait
