# sampler_exit: memfence's sampler thread never keeps a process alive.  A main thread that calls
# pthread_exit while a worker finishes: the process ends with the worker, exit 0 (it hung forever
# when the sampler outlived the program's threads).  Also python3 joining in a thread-forked
# child (CPython's test_3_join_in_forked_from_thread).
. "$(dirname "$0")/lib.sh"
out=$(timeout 10 "$MF_BIN" run -l 1G -- "$MF_PROGS/sampler_pthread_exit" 300); rc=$?
[ $rc -eq 0 ] || fail "exit $rc (124: it hung): $out"
[ "$out" = "worker done" ] || fail "output: $out"
out=$(timeout 10 "$MF_BIN" run -- "$MF_PROGS/sampler_pthread_exit" 0); rc=$?
[ $rc -eq 0 ] || fail "counting only: exit $rc"
if command -v python3 >/dev/null; then
    py=$(python3 -c 'import sys; print(sys.executable)')
    timeout 20 "$MF_BIN" run -l 1G -- "$py" -c '
import os, threading, time
def child():
    pid = os.fork()
    if pid == 0:
        t = threading.Thread(target=lambda: time.sleep(0.2))
        t.start()
        os._exit(0) if False else None
        t.join()
        os._exit(0)
    os.waitpid(pid, 0)
x = [bytearray(1000) for _ in range(1000)]
time.sleep(0.3)
th = threading.Thread(target=child); th.start(); th.join()
print("joined")' | grep -q joined || fail "python3 fork-from-thread did not finish"
fi
pass
