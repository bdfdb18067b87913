#!/usr/bin/env bash
# Build the pinned environment (requirements/constraints.txt) in .venv, in the order that works.
#
# Idempotent: when .venv is complete for the current constraints and this script,
# it prints one line and exits in well under a second. Set P3D_VENV to build elsewhere.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${P3D_VENV:-$root/.venv}"
constraints="$root/requirements/constraints.txt"
stamp="$venv/.point3d_mm_env"
want="$(cat "$constraints" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "point3d_mm: environment $venv is complete"
  exit 0
fi

python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
echo "point3d_mm: building $venv with $($python --version) (about 10 minutes from nothing; mmcv compiles)"
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check install -c "$constraints")

# torch first, from the local CPU file: a bare 'torch' requirement elsewhere would pull a CUDA build.
"${pip[@]}" torch setuptools wheel numpy
# mmcv < 2.2 builds against the installed torch, so no build isolation; pip caches the built wheel.
"${pip[@]}" mmengine
MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-2}" "${pip[@]}" --no-build-isolation mmcv
"${pip[@]}" mmdet mmaction2 pycocotools importlib_metadata pytest onnx onnxruntime psutil ruff hypothesis
# openmim's dependency chain (opendatalab -> openxlab) pins setuptools 60.2.0, which breaks
# torch and pkg_resources users: install it alone and then only what it imports.
"${pip[@]}" --no-deps openmim
"${pip[@]}" click colorama model-index rich tabulate pandas requests
"${pip[@]}" --no-deps -e "$root"
"$venv/bin/python" -c "import mmcv.ops, mmdet.models, mmengine.runner; print(\"the OpenMMLab stack imports\")"
echo "$want" > "$stamp"
echo "point3d_mm: environment $venv is complete"
