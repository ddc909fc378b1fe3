#!/usr/bin/env bash
# Runs every test suite and ends with one plain line: "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
passed=0; failed=0; status=0
log=$(mktemp)

# pytest (server, backends, runner, CLI, magics) against the real pool
python -m pytest -q -p no:cacheprovider 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
line=$(grep -E '^=*.*[0-9]+ (passed|failed)' "$log" | tail -n1)
p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
f=$(grep -oE '[0-9]+ (failed|error|errors)' <<<"$line" | awk '{s += $1} END {print s + 0}')
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
[ "$rc" -eq 0 ] || status=1

# jest (frontend models and components)
if [ -d src/__tests__ ]; then
  jlpm jest --ci 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  p=$(grep -E '^Tests:' "$log" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
  f=$(grep -E '^Tests:' "$log" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || echo 0)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  [ "$rc" -eq 0 ] || status=1
fi

# Galata in Debian's Chromium against a real JupyterLab and the real pool
(cd ui-tests && jlpm playwright test) 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
p=$(grep -E '^\s+[0-9]+ passed' "$log" | grep -oE '[0-9]+' | head -n1 || true)
f=$(grep -E '^\s+[0-9]+ failed' "$log" | grep -oE '[0-9]+' | head -n1 || true)
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
[ "$rc" -eq 0 ] || status=1

rm -f "$log"
echo "${passed} passed, ${failed} failed"
exit $status
