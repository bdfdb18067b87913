#!/usr/bin/env bash
# Build the pinned environment (requirements/constraints.txt) in .venv, in the order that works.
#
# Idempotent: when .venv is complete for the current constraints and this script,
# it prints one line and exits in well under a second. Set P3D_VENV to build elsewhere.
# Restartable: killed at any point (make env interrupted while mmcv compiles), the next run
# detects the incomplete .venv (no stamp) and repairs it (tests/reliability/test_bootstrap_kill.py).
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

# Not complete. The stamp is written only at the very end, so a build that was killed (or
# failed) left none, and one for other pins (or another version of this script) left another
# hash: repair in place. pip skips what is already installed at the pinned version and
# installs the rest, so a rerun finishes what a killed one started.
if [[ -e "$venv" ]]; then
  if [[ -f "$stamp" ]]; then
    echo "point3d_mm: $venv was built for other pins or another bootstrap_env.sh; updating it"
  else
    echo "point3d_mm: $venv is incomplete (no $stamp: an earlier build was interrupted or failed); repairing it"
  fi
  rm -f "$stamp"  # while it changes, it is complete for no pin set
  if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    # Killed during `python -m venv` (before ensurepip finished): no usable python or pip,
    # so nothing to keep. Only a folder that is (or was becoming) a venv is removed.
    extra="$(ls -A "$venv" | grep -vxE 'bin|include|lib|lib64|pyvenv.cfg|\.point3d_mm_env' || true)"
    if [[ -n "$extra" ]]; then
      echo "point3d_mm: $venv has no working python/pip and is not a virtual environment ($(echo $extra | head -c 200)); remove it or set P3D_VENV" >&2
      exit 1
    fi
    echo "point3d_mm: $venv has no working python/pip (killed while it was created); removing it"
    rm -rf "$venv"
  else
    # pip, killed while it replaced a package, leaves the old files stashed in
    # site-packages/~<name> folders, which every later pip warns about: drop them.
    rm -rf "$venv"/lib/python3*/site-packages/~*
  fi
fi

python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
echo "point3d_mm: building $venv with $($python --version) (about 10 minutes from nothing; mmcv compiles)"
[[ -d "$venv" ]] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check install -c "$constraints")

# torch first, from the local CPU file: a bare 'torch' requirement elsewhere would pull a CUDA build.
"${pip[@]}" torch setuptools wheel numpy
# mmcv < 2.2 builds against the installed torch, so no build isolation; pip caches the built wheel.
"${pip[@]}" mmengine
MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-2}" "${pip[@]}" --no-build-isolation mmcv
"${pip[@]}" mmdet mmaction2 pycocotools importlib_metadata pytest onnx onnxruntime psutil ruff hypothesis \
  imageio-ffmpeg  # ffmpeg with libx264: browser-playable H.264 demo videos (OpenCV wheels have no H.264 encoder)
# openmim's dependency chain (opendatalab -> openxlab) pins setuptools 60.2.0, which breaks
# torch and pkg_resources users: install it alone and then only what it imports.
"${pip[@]}" --no-deps openmim
"${pip[@]}" click colorama model-index rich tabulate pandas requests
"${pip[@]}" --no-deps -e "$root"
"$venv/bin/python" -c "import mmcv.ops, mmdet.models, mmengine.runner; print(\"the OpenMMLab stack imports\")"
# Last, and atomically (a killed echo would leave a partial hash, which is only "not
# complete", but a renamed file is never half-written).
echo "$want" > "$stamp.tmp"
mv -f "$stamp.tmp" "$stamp"
echo "point3d_mm: environment $venv is complete"
