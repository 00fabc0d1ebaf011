#!/bin/bash
# #17 study on the paper's own domain (not started in the session that wrote it; run after utd_study.sh):
# ALGD, LGD, SAC-Lag, CAL on SafetyPointButton1-v0 and SafetyHopperVelocity-v1, 3 seeds, 20k frames,
# two runs at a time (JOBS=1 for one) with one math thread each. Every run resumes where it stopped; rerun to
# continue. system.num_threads=1 is written into every run's config, as in the copied ALGD runs, so that plot
# and compare group all seeds of an algorithm into one curve whatever JOBS was.
# ALGD on Hopper: copy comparisons/hopper_utd1/algd/SafetyHopperVelocity-v1/seed* (same settings, 12k frames)
# into comparisons/paper_study/algd/SafetyHopperVelocity-v1/ first; compare then continues them to 20k.
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
.venv/bin/algd-compare --algos algd lgd sac_lag cal --tasks SafetyPointButton1-v0 SafetyHopperVelocity-v1 \
  --seeds 0 1 2 --jobs ${JOBS:-2} --out comparisons/paper_study \
  --set collector.total_frames=20000 collector.init_random_frames=2000 logger.eval_iter=2000 \
        logger.eval_episodes=3 checkpoint.interval=1000 system.num_threads=1
