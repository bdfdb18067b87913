#!/usr/bin/env bash
# The CPU rehearsal of the device check (`make gpu-rehearsal`): tools/device/gpu_check.py on
# CPU, small sizes, under a Python of the image's version that stands for the GPU machine's
# image, with the kit installed by pip with no index into a fresh folder. Fails if any
# section is not ok, so a kit that misses a dependency fails here, not on the GPU. Writes
# the short record (REHEARSAL_SUMMARY, default docs/gpu_rehearsal.json) and the full report
# (REHEARSAL_OUT/gpu_check.json).
#
# The stand-in image (built once, reused while its package list is unchanged): the image
# packages the kit relies on (KIT/image_requirements.txt, pinned where the image's list
# gives a version: torch and torchvision from PyPI, whose Linux wheels are the CUDA build,
# which runs on CPU: about 3 GB with its nvidia-* libraries). Nothing of the kit is in it.
#
# Its Python: REHEARSAL_PYTHON if set, else pythonX.Y or python3 on PATH, pyenv's or uv's
# X.Y (X.Y: the image's, from the kit's manifest).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
kit_arg="${KIT:-$root/.gpu_kit}"
if [[ ! -f "$kit_arg/manifest.json" ]]; then
  echo "rehearse.sh: no kit at $kit_arg (manifest.json missing): run make gpu-kit first" >&2
  exit 2
fi
kit="$(cd "$kit_arg" && pwd)"
minor="$(grep -o '"python_version": *"[0-9.]*"' "$kit/manifest.json" | grep -o '[0-9][0-9.]*' \
         || true)"
if [[ -z "$minor" ]]; then
  echo "rehearse.sh: $kit/manifest.json names no python_version: rebuild it (make gpu-kit)" >&2
  exit 2
fi
base="${REHEARSAL_BASE:-$root/work_dirs/gpu_rehearsal/base-py$minor}"
out="${REHEARSAL_OUT:-$root/work_dirs/gpu_rehearsal/out}"
summary="${REHEARSAL_SUMMARY:-$root/docs/gpu_rehearsal.json}"

# A Python of the image's X.Y with venv and ensurepip, or one message naming what is missing.
python_minor() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
tried=()
found=
find_python() {
  local candidate version
  local candidates=("python$minor" python3)
  if command -v pyenv >/dev/null 2>&1; then
    for version in $(pyenv versions --bare 2>/dev/null | grep -E "^$minor(\.[0-9]+)?$" \
                     | sort -t. -k3 -n -r); do
      candidates+=("$(pyenv prefix "$version")/bin/python$minor")
    done
  else
    tried+=("pyenv: not installed")
  fi
  if command -v uv >/dev/null 2>&1; then
    candidates+=("$(uv python find "$minor" 2>/dev/null || true)")
  else
    tried+=("uv: not installed")
  fi
  for candidate in "${candidates[@]}"; do
    [[ -n "$candidate" ]] || continue
    if ! command -v "$candidate" >/dev/null 2>&1; then
      tried+=("$candidate: not found")
      continue
    fi
    version="$(python_minor "$candidate" || true)"
    if [[ "$version" == "$minor" ]]; then
      found="$candidate"
      return 0
    fi
    tried+=("$candidate: ${version:-does not run}")
  done
  return 1
}
if [[ -n "${REHEARSAL_PYTHON:-}" ]]; then
  python="$REHEARSAL_PYTHON"
  if [[ "$(python_minor "$python" || true)" != "$minor" ]]; then
    echo "rehearse.sh: REHEARSAL_PYTHON=$python is not a Python $minor (the image's)" >&2
    exit 2
  fi
elif find_python; then
  python="$found"
else
  {
    echo "rehearse.sh: no Python $minor found (the GPU image's, from $kit/manifest.json);"
    printf '  tried %s\n' "${tried[@]}"
    echo "  install one (pyenv install $minor; uv python install $minor; or the system's"
    echo "  python$minor with its venv package), or pass it:"
    echo "  make gpu-rehearsal REHEARSAL_PYTHON=/path/to/python$minor"
  } >&2
  exit 2
fi
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "rehearse.sh: $python has no venv/ensurepip module: install its venv package" \
       "(e.g. python$minor-venv) or pass another with REHEARSAL_PYTHON" >&2
  exit 2
fi

want="$(cat "$kit/image_requirements.txt" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"
want="$want $("$python" --version 2>&1)"
if [[ ! -f "$base/.rehearsal_base" || "$(cat "$base/.rehearsal_base")" != "$want" ]]; then
  echo "rehearse.sh: building the stand-in image $base with $("$python" --version 2>&1)"
  rm -rf "$base"
  "$python" -m venv "$base"
  "$base/bin/python" -m pip install -q -r "$kit/image_requirements.txt"
  echo "$want" > "$base/.rehearsal_base"
fi
unpinned="$(grep -v '==' "$kit/image_requirements.txt" | tr '\n' ' ' || true)"
if [[ -n "$unpinned" ]]; then
  echo "rehearse.sh: the image's list gives no version of: $unpinned(installed at the" \
       "index's newest; $out/image_packages.txt will list what the stand-in image has)"
fi
# The stand-in image must hold nothing the kit brings (from /, so no checkout is importable).
for module in mmengine mmcv mmdet mmaction mim point3d_mm; do
  if (cd / && "$base/bin/python" -c "import $module" 2>/dev/null); then
    echo "rehearse.sh: $base has $module installed: the rehearsal needs an image without it" >&2
    exit 1
  fi
done

rm -rf "$out"
started=$SECONDS
status=0
OMP_NUM_THREADS="${THREADS:-1}" "$base/bin/python" "$root/tools/device/gpu_check.py" \
  --device cpu --profile small --threads "${THREADS:-1}" --kit "$kit" --out "$out" \
  --summary "$summary" || status=$?
echo "rehearse.sh: $((SECONDS - started)) s; report $out/gpu_check.json, log" \
     "$out/gpu_check.log, summary $summary"
exit $status
