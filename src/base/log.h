/* log.h — formatting and writing without allocating.
 *
 * mf_log formats into a fixed stack buffer with memfence's own printf subset and writes it with
 * one write(2) to the configured sink (stderr by default; a file; syslog's socket).  Every line
 * starts with "memfence[PID]: ".  It is safe inside hooks, signal handlers and forked children.
 * Supported conversions: %s %c %d %i %u %x %p %% with the l, ll, z length modifiers and a zero
 * pad width.  Byte counts: %s with MF_BYTES(n), which formats into a temporary ("1.5 GiB").
 */
#ifndef MF_LOG_H
#define MF_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum mf_log_class { MF_LOG_ERROR, MF_LOG_WARN, MF_LOG_INFO, MF_LOG_DEBUG };

/* Formats like snprintf; always NUL-terminates when size > 0.  Return: the length written. */
size_t mf_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
size_t mf_vfmt(char *buf, size_t size, const char *fmt, va_list ap);

/* Formats a byte count in binary units into buf ("512 B", "64.0 MiB").  Return: buf. */
char *mf_fmt_bytes(char *buf, size_t size, uint64_t bytes);
#define MF_BYTES(n) mf_fmt_bytes((char[32]){ 0 }, 32, (uint64_t)(n))

/* Writes one line (a newline is added) with the "memfence[pid]: " prefix. */
void mf_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* As mf_log, but at most `per_sec` lines a second for this `key` (a small integer naming the
 * kind of event); suppressed lines are counted and reported with the next line that passes. */
void mf_log_limited(unsigned key, unsigned per_sec, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the sink: "stderr", "syslog", "off", or a file path (opened O_APPEND).  Return: 0 or -errno. */
int mf_log_set_sink(const char *sink);

/* The sink's descriptor (-1 when logging is off), and, for a thread that has a descriptor
 * table of its own, its private copy of it. */
int mf_log_fd(void);
void mf_log_thread_fd(int fd);

/* Rate-limit keys used by the modules. */
enum { MF_RL_REFUSE, MF_RL_MAPCHECK, MF_RL_LEVEL, MF_RL_THROTTLE, MF_RL_FAIL, MF_RL_GPU,
       MF_RL_LEAK, MF_RL_CONFIG, MF_RL_LEDGER, MF_RL_MISC, MF_RL_COUNT };

#endif
