"""``algd-train`` killed (SIGKILL) inside its N-th checkpoint write: after the temp file is
written and synced, before the rename.  Usage: python fault_driver.py N [overrides...]"""
import os
import signal
import sys

from algd_components.cli import train_main

kill_at, calls, real_replace = int(sys.argv[1]), [0], os.replace


def replace(src, dst):
    if str(dst).endswith("checkpoint.pt"):
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst)


os.replace = replace
train_main(sys.argv[2:])
