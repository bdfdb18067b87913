#!/usr/bin/env bash
# mmaction2's (and mmdet's) own tests in this environment with point3d_mm imported, every failure
# sorted by kind; exits non-zero while one is ours to fix (docs/using_parts_in_mmaction2.md).
# Usage: tools/check_upstream.sh MMACTION2_CHECKOUT [MMDET_CHECKOUT]
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 MMACTION2_CHECKOUT [MMDET_CHECKOUT]" >&2; exit 2; }
py="${PYTHON:-$root/.venv/bin/python}"
"$py" "$root/tools/upstream/check_upstream.py" mmaction2 "$1"; status=$?
if [ $# -ge 2 ]; then "$py" "$root/tools/upstream/check_upstream.py" mmdet "$2" || status=1; fi
exit $status
