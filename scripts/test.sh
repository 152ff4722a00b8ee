#!/usr/bin/env bash
# The test command: every notebook top to bottom with its tiny defaults (nbdev_test), after checking that
# cvp/ is exactly what the notebooks export.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=$(bash scripts/setup.sh | tail -n1) || exit 1
BIN=$(dirname "$PY")
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
# two notebooks run at once on 2 cores: one thread each avoids oversubscription (measured ~30x slowdowns of small ops)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
tmp=$(mktemp -d); cp -r settings.ini setup.py nbs "$tmp"/
(cd "$tmp" && "$BIN/nbdev_export") || { echo "nbdev_export failed"; exit 1; }
if ! diff -rq -x __pycache__ cvp "$tmp/cvp" >/dev/null; then
  diff -rq -x __pycache__ cvp "$tmp/cvp"; echo "cvp/ differs from what the notebooks export: run nbdev_export"; exit 1
fi
rm -rf "$tmp"
# imports point down the layers and never form a cycle (cvp.core.check_layers reads every import with ast)
"$PY" -c "from cvp.core import check_layers; g = check_layers(); print(f'layers: {len(g)} modules, {sum(map(len, g.values()))} imports, none upward, no cycle')" || exit 1
nbs=$(find nbs -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' -not -name '_*' | wc -l)
start=$(date +%s)
# --do_print: nbdev_test prints "- Completed <notebook>" when a notebook has run (passed or failed); the failed ones are
# listed after "Failed On The Following Notebooks". A notebook that never completed (nbdev_test stopped early) is not counted.
"$BIN/nbdev_test" --n_workers "${CVP_TEST_WORKERS:-2}" --timing --do_print 2>&1 | tee /tmp/cvp-nbdev-test.log
rc=${PIPESTATUS[0]}
completed=$(grep -c '^- Completed .*\.ipynb' /tmp/cvp-nbdev-test.log || true)
failed=$(sed -n '/Failed On The Following Notebooks/,$p' /tmp/cvp-nbdev-test.log | grep -c '\.ipynb' || true)
passed=$((completed - failed))
echo "nbdev_test took $(( $(date +%s) - start )) s"
msg="notebooks: $passed passed, $failed failed"
[ "$completed" -lt "$nbs" ] && msg="$msg, $((nbs - completed)) did not complete"
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && msg="$msg (nbdev_test exited with status $rc)"
echo "$msg"
exit "$rc"
