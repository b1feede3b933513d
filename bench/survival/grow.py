# grow.py MODE [SIZE] — the python3 workload of bench/b-70-survival.sh.  Grows until MemoryError,
# then drops half of what it holds, does some more work and prints SURVIVED: a program that
# handles running out of memory and carries on.
#   bytes   bytearrays of SIZE bytes (1 MiB: fast growth, large requests)
#   list    small lists of ints (slow growth, small requests only)
import sys

mode = sys.argv[1]
keep = []
try:
    if mode == "bytes":
        size = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20
        while True:
            keep.append(bytearray(size))
    else:
        while True:
            keep.append([len(keep)] * 8)
except MemoryError:
    n = len(keep)
    del keep[n // 2:]
    work = {i: str(i) * 4 for i in range(20000)}
    print("SURVIVED after %d items (%d kept, %d dict entries)" % (n, len(keep), len(work)))
