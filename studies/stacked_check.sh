#!/bin/bash
# #19 "learning unchanged": seeds 0 and 1 as one stacked process (env.num_seeds=2), the same settings as the
# utd study's single-seed utd1 runs (comparisons/hopper_utd1, seeds 0 and 1); resumes where it stopped.
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
SET="collector.total_frames=12000 collector.init_random_frames=2000 logger.eval_iter=2000 logger.eval_episodes=3 checkpoint.interval=1000 system.num_threads=1"
.venv/bin/algd-compare --algos algd --tasks SafetyHopperVelocity-v1 --seeds 0 1 --stack-seeds --out comparisons/hopper_stacked2 --set $SET optim.utd_ratio=1
