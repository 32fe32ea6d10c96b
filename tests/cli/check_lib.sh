# Shared by the command-line test scripts (sourced): a temporary directory $T removed at
# exit, and TAP-like checks.  check NAME CONDITION evaluates CONDITION; finish prints the
# counts and gives the exit status.
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
finish() {
    echo "$1: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
