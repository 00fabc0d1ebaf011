"""system.retain_freed_memory: freed tensor memory stays in the process (no page faults on reuse)."""
import subprocess
import sys

import pytest

# Each round allocates four 8 MB tensors, writes them, frees them: the shape of an ALGD
# update's Monte-Carlo activations.  Prints the minor page faults per round.
ROUNDS = """
import resource, sys, torch
if sys.argv[1] == "retain":
    from algd_components.allocator import retain_freed_memory
    assert retain_freed_memory()
def rounds(n):
    for _ in range(n):
        ts = [torch.empty(2_000_000).fill_(1.0) for _ in range(4)]
        del ts
rounds(2)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(20)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def faults_per_round(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", ROUNDS, mode], capture_output=True, text=True, timeout=120, check=True)
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_retained_memory_is_reused_without_page_faults():
    retained = faults_per_round("retain")
    # 32 MB of fresh pages would be ~7,800 faults a round; retained memory is reused as is
    assert retained < 100, retained
    default = faults_per_round("glibc")
    if default < 1000:
        pytest.skip(f"this C library does not return the memory to the kernel by default ({default} faults a round)")
    assert retained < default / 10
