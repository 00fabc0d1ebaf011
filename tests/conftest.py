"""Fixtures shared by the tests (settings and helpers: tests/helpers.py)."""
import pytest

from algd_components import compose_config
from helpers import FAST


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
