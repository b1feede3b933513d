#!/bin/bash
# python3's mmap module under the preload: anonymous shared and private maps, resize (mremap),
# a read-only file map; the same output as without memfence under a generous budget, and under a
# tight one Python's own OSError (ENOMEM) from mmap / resize, never a signal.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "no python3"
cd "$MF_TMP"
cat > pm.py <<'PY'
import mmap, sys, tempfile
big = int(sys.argv[1]) if len(sys.argv) > 1 else 0
total = 0
for r in range(5):
    m = mmap.mmap(-1, 32 << 20)                              # shared anonymous
    m[:4096] = bytes([r + 1]) * 4096
    total += m[100]
    m.resize(48 << 20)                                       # mremap (the object stays 32M)
    total += m[(32 << 20) - 1]
    m.close()
    p = mmap.mmap(-1, 16 << 20, flags=mmap.MAP_PRIVATE)      # private anonymous
    p[-1] = 7
    total += p[-1]
    p.close()
with tempfile.TemporaryFile() as f:
    f.truncate(8 << 20)
    f.write(b'memfence')
    f.flush()
    fm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)  # file, read-only: not charged
    total += fm[0]
    fm.close()
if big:
    try:
        m = mmap.mmap(-1, big << 20)
    except OSError as e:
        print('mmap failed:', e.strerror)
        sys.exit(3)
print('total', total)
PY
python3 pm.py > plain.out 2>&1 || fail "python3 fails without memfence: $(cat plain.out)"
fenced MEMFENCE_LIMIT=1G -- python3 pm.py > fenced.out 2>&1 || fail "under 1G: $(cat fenced.out)"
cmp -s plain.out fenced.out || fail "output differs: $(diff plain.out fenced.out)"

fenced MEMFENCE_LIMIT=1G -- python3 pm.py 2048 > tight.out 2>&1
rc=$?
[ $rc -eq 3 ] || fail "a 2 GiB mmap under 1G: expected the script's own handling (exit 3), got $rc: $(cat tight.out)"
grep -q 'mmap failed: Cannot allocate memory' tight.out || fail "no ENOMEM: $(cat tight.out)"
fenced MEMFENCE_LIMIT=24M -- python3 pm.py > tight.out 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] || fail "under 24M: expected a clean failure, got exit $rc"
grep -q 'OSError: \[Errno 12\] Cannot allocate memory' tight.out || fail "no OSError ENOMEM: $(cat tight.out)"
pass
