"""torch_group.py — two PyTorch processes share one group GPU budget (tests/gpu/real-gpu.sh).

    python3 torch_group.py a|b DIR MEMFENCE_BIN

Run under memfence with MEMFENCE_GROUP set and a group GPU budget of 1 GiB (each process's own
budget larger).  a holds 600 MiB until b is done; b then gets torch.OutOfMemoryError for 600 MiB
more (the group is full though b's own budget is not), 300 MiB fits, `memfence status --json`
shows the group holding 900 MiB on GPU 0, and once a has exited b gets its 600 MiB.
"""
import json
import os
import subprocess
import sys
import time

import torch

role, d, memfence = sys.argv[1], sys.argv[2], sys.argv[3]
MiB = 1 << 20
bad = 0


def check(cond, what):
    global bad
    print(("ok: " if cond else "FAIL: ") + "[%s] %s" % (role, what), flush=True)
    bad += not cond


def wait_for(name, seconds=60):
    end = time.time() + seconds
    while not os.path.exists(os.path.join(d, name)):
        if time.time() > end:
            return False
        time.sleep(0.05)
    return True


def touch(name):
    open(os.path.join(d, name), "w").close()


if role == "a":
    x = torch.empty(600 * MiB, dtype=torch.uint8, device="cuda")
    check(True, "600 MiB of the group's 1 GiB")
    touch("a.ready")
    check(wait_for("b.done"), "b finished its checks while a held its 600 MiB")
    sys.exit(1 if bad else 0)

check(wait_for("a.ready"), "a holds its 600 MiB")
try:
    y = torch.empty(600 * MiB, dtype=torch.uint8, device="cuda")
    check(False, "600 MiB more than the group's 1 GiB holds was refused")
except torch.OutOfMemoryError:
    check(True, "600 MiB more: torch.OutOfMemoryError (the group is full, b's own budget is not)")
y = torch.empty(300 * MiB, dtype=torch.uint8, device="cuda")
check(True, "300 MiB fits the group")
env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and k != "MEMFENCE_GROUP"}
out = subprocess.run([memfence, "status", "--json", "--group", os.environ["MEMFENCE_GROUP"]],
                     capture_output=True, text=True, env=env).stdout
try:
    g = json.loads(out)["groups"][0]
    gpu = [x for x in g["gpu"] if x["device"] == 0][0]
    check(gpu["used"] == 900 * MiB and gpu["limit"] == 1024 * MiB,
          "memfence status: the group holds %d MiB of %d MiB on GPU 0"
          % (gpu["used"] // MiB, gpu["limit"] // MiB))
except (ValueError, IndexError, KeyError) as e:
    check(False, "memfence status --json --group: %r (%s)" % (e, out[:300]))
touch("b.done")
check(wait_for("a.gone"), "a exited")
z = torch.empty(600 * MiB, dtype=torch.uint8, device="cuda")
check(True, "600 MiB once a has exited (its share went back to the group)")
print("torch_group %s: %s" % (role, "FAILED" if bad else "all checks passed"))
sys.exit(1 if bad else 0)
