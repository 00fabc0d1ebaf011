"""Fixtures shared by the tests (settings and helpers: tests/helpers.py)."""
import os

import pytest

from algd_components import compose_config
from helpers import FAST


def pytest_configure(config):
    """Under pytest-xdist (``make test``: one worker per core) each worker's training, in process
    and in the CLI processes it starts, takes its share of the cores (``algd-compare --jobs``'s
    rule, ``training/process.py``): workers whose threads outnumber the cores slow each other."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        import torch

        from algd_components.training.process import PARALLEL_JOBS_ENV

        os.environ.setdefault(PARALLEL_JOBS_ENV, workers)
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(workers)))


@pytest.fixture(scope="session")
def algd_run(tmp_path_factory):
    """One tiny finished ALGD run on SafetyHopperVelocity-v1, shared by the tests that only read
    it (policy file, evaluation, landscape, crafted-file checks); copy it before changing it."""
    from algd_components import train

    out = tmp_path_factory.mktemp("algd") / "run"
    train(compose_config("algd", [*FAST, "env.name=SafetyHopperVelocity-v1"]), out)
    return out


@pytest.fixture(scope="session")
def safety_gym_run(tmp_path_factory):
    """One tiny finished ALGD run on SafetyPointGoal1-v0, ``(folder, final counters)``, shared by
    the tests that only read it (its files, its figure, a refused resume); copy it to change it."""
    from helpers import run_algd

    return run_algd(tmp_path_factory.mktemp("sg"), "env.name=SafetyPointGoal1-v0")
