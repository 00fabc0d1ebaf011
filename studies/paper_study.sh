#!/bin/bash
# #17 study on the paper's own domain: ALGD, LGD, SAC-Lag, CAL on SafetyPointButton1-v0 and
# SafetyHopperVelocity-v1, 3 seeds, 20k frames, two runs at a time (JOBS=1 for one) with one math thread
# each: about 6 h on 2 cores, so it spans sessions. Every run resumes where it stopped; rerun to continue.
# system.num_threads=1 is written into every run's config so that plot and compare group all seeds of an
# algorithm into one curve whatever JOBS was.
# ALGOS="algd lgd" TASKS=SafetyPointButton1-v0 studies/paper_study.sh: that part alone (when its runs are
# finished: only the summary and figure, comparisons/paper_study/summary.md and comparison.png).
# After a session: studies/keep_runs.py comparisons/paper_study studies/results/paper_study, then commit.
cd "$(dirname "$0")/.."
# runs finished in earlier sessions: their text record is in git (studies/keep_runs.py), and
# algd-compare skips a run whose metrics.csv reached the frame budget
mkdir -p comparisons/paper_study && cp -rn studies/results/paper_study/. comparisons/paper_study/ 2>/dev/null
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
.venv/bin/algd-compare --algos ${ALGOS:-algd lgd sac_lag cal} --tasks ${TASKS:-SafetyPointButton1-v0 SafetyHopperVelocity-v1} \
  --seeds 0 1 2 --jobs ${JOBS:-2} --out comparisons/paper_study \
  --set collector.total_frames=20000 collector.init_random_frames=2000 logger.eval_iter=2000 \
        logger.eval_episodes=3 checkpoint.interval=1000 system.num_threads=1
