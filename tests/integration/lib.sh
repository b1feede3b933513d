# lib.sh — sourced by integration tests (not a test itself: the runner runs *.sh, so this file
# returns at once when executed).  Helpers:
#   fenced ENV... -- CMD      run CMD with LD_PRELOAD=$MF_LIB and the given VAR=value settings
#   pass/fail/skip MSG       end the test
#   expect_eq A B WHAT        fail unless A == B
[ "${BASH_SOURCE[0]}" = "$0" ] && exit 0
set -u
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "skipped: $*"; exit 77; }
pass() { echo "ok: ${*:-passed}"; exit 0; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }
fenced() {
    local envs=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" LD_PRELOAD="$MF_LIB" "$@"
}
