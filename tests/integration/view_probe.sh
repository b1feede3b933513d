#!/bin/bash
# Virtualize: every entry point (sysinfo, sysconf, get_*phys_pages, open/open64/openat/openat64,
# the fortify __open*_2, fopen/fopen64, path spellings) answers from a 1 GiB budget when
# virtualize is on, the machine when it is off or no limit is set; the open hooks keep the real
# semantics (errno, modes, O_CREAT/O_TMPFILE, writes) and memfence's own reads (a percentage
# limit) see the real machine.
. "$(dirname "$0")/lib.sh"
P=$MF_PROGS/view_probe
[ -x "$P" ] || fail "$P not built"
budget=$((1 << 30))
real_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
real=$((real_kb * 1024))
[ "$real" -gt "$budget" ] || skip "the machine has less than 1 GiB: nothing to shrink"

field() { awk -v k="$1" '$1 == k {print $2}' <<<"$2"; }

out=$(fenced MEMFENCE_LIMIT=1G MEMFENCE_VIRTUALIZE=on -- "$P" "$MF_TMP") || fail "probe (on): $out"
for how in open open64 openat openat_dir openat64 open_2 open64_2 openat_2 openat64_2 fopen \
           fopen64 dotdot slashes dot relative; do
    expect_eq "$(field total.$how "$out")" "$budget" "MemTotal through $how, virtualize on"
done
expect_eq "$(field sysinfo.total "$out")" "$budget" "sysinfo totalram"
expect_eq "$(field sysconf.phys "$out")" "$budget" "sysconf(_SC_PHYS_PAGES)"
expect_eq "$(field get_phys_pages.phys "$out")" "$budget" "get_phys_pages"
expect_eq "$(field meminfo.fd "$out")" memfd "the view's descriptor"
for k in sysinfo.free sysconf.avphys get_avphys_pages.avphys; do
    v=$(field $k "$out")
    [ -n "$v" ] && [ "$v" -gt 0 ] && [ "$v" -le "$budget" ] || fail "$k = '$v': not in (0, budget]"
done

for env in "MEMFENCE_LIMIT=1G MEMFENCE_VIRTUALIZE=off" "MEMFENCE_VIRTUALIZE=on"; do
    # shellcheck disable=SC2086
    out=$(fenced $env -- "$P" "$MF_TMP") || fail "probe ($env): $out"
    for k in total.open total.fopen total.dotdot sysinfo.total sysconf.phys get_phys_pages.phys; do
        expect_eq "$(field $k "$out")" "$real" "$k with $env"
    done
    expect_eq "$(field meminfo.fd "$out")" real "the descriptor with $env"
done

# A percentage limit is resolved from the real machine (memfence reads it with raw syscalls).
half=$(( (real / 2) / 4096 * 4096 ))
out=$(fenced MEMFENCE_LIMIT=50% MEMFENCE_VIRTUALIZE=on -- "$P" "$MF_TMP") || fail "probe (50%): $out"
expect_eq "$(field sysconf.phys "$out")" "$half" "sysconf(_SC_PHYS_PAGES) under limit=50%"

# Without memfence the probe sees the machine (the probe's own checks hold there too).
out=$("$P" "$MF_TMP") || fail "probe without memfence: $out"
expect_eq "$(field total.open "$out")" "$real" "MemTotal without memfence"
pass "every entry point answers from the budget with virtualize on, from the machine otherwise"
