/* unwind.h — the tiny interface over libunwind: capture the calling thread's return addresses.
 *
 * One call, unw_backtrace (libunwind's fast trace: no cursor stepping on the fast path), with a
 * fixed maximum depth.  Frames that lie inside libmemfence.so itself (the hook, the profiler)
 * are removed, so frame 0 is the code that called malloc.  The caller must have raised
 * mf_tls.depth: libunwind may map memory and walk the loaded objects on first use, and those
 * nested calls must pass straight through memfence.
 */
#ifndef MF_UNWIND_H
#define MF_UNWIND_H

#include <stdbool.h>
#include <stdint.h>

#define MF_UNWIND_MAX 32     /* frames kept per stack */

/* Loads libunwind (not linked: dlopen by soname, once) and prepares unwinding for this process
 * (per-thread caches, memfence's own text range).  The caller has raised mf_tls.depth.  Safe to
 * call again, e.g. in a fork child.  Return: 0; -ENOENT when libunwind cannot be loaded (no
 * stack is ever taken then); -EAGAIN while another thread is loading it. */
int mf_unwind_init(void);

/* The soname loaded ("libunwind.so.8"), for messages. */
const char *mf_unwind_soname(void);

/* Fills out[0..max) with return addresses, innermost first, after dropping memfence's own frames
 * and then `skip` more.  max is at most MF_UNWIND_MAX.  Return: the number of frames (0 when no
 * stack could be taken). */
int mf_unwind_capture(uintptr_t *out, int max, int skip);

/* For hooks/fd.c: true while this thread is inside libunwind (whose pipe2 is then refused:
 * unwind.c says why). */
bool mf_unwind_inside(void);

/* True when addr lies in libmemfence.so's own code (always false outside the preload). */
int mf_unwind_is_self(uintptr_t addr);

#endif
