#!/usr/bin/env bash
# The CPU rehearsal of the device check (`make gpu-rehearsal`): tools/device/gpu_check.py on
# CPU, small sizes, under a Python 3.12 that stands for the GPU machine's image, with the kit
# installed by pip with no index into a fresh folder. Fails if any section is not ok, so a kit
# that misses a dependency fails here, not on the GPU.
#
# The stand-in image (built once, reused while its package list is unchanged): torch 2.11.0
# and torchvision 0.26.0 as on the GPU machine (PyPI's Linux wheels, the CUDA build, which
# runs on CPU: about 3 GB with its nvidia-* libraries) and the image packages the kit relies
# on (KIT/image_requirements.txt), from the normal index. Nothing of the kit is in it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
kit="$(cd "${KIT:-$root/.gpu_kit}" && pwd)"
base="${REHEARSAL_BASE:-$root/work_dirs/gpu_rehearsal/base-py312}"
out="${REHEARSAL_OUT:-$root/work_dirs/gpu_rehearsal/out}"
python312="${PYTHON312:-python3.12}"
"$python312" --version >/dev/null 2>&1 || python312=/root/.pyenv/versions/3.12.1/bin/python3.12
image_pins=(torch==2.11.0 torchvision==0.26.0)

want="$(cat "$kit/image_requirements.txt" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$base/.rehearsal_base" || "$(cat "$base/.rehearsal_base")" != "$want" ]]; then
  echo "rehearse.sh: building the stand-in image $base with $("$python312" --version)"
  rm -f "$base/.rehearsal_base"
  [[ -x "$base/bin/python" ]] || "$python312" -m venv "$base"
  pins="$(mktemp)"
  printf '%s\n' "${image_pins[@]}" > "$pins"
  grep -vx pip "$kit/image_requirements.txt" \
    | xargs "$base/bin/python" -m pip install -q -c "$pins" "${image_pins[@]}"
  rm -f "$pins"
  echo "$want" > "$base/.rehearsal_base"
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
  --device cpu --profile small --threads "${THREADS:-1}" --kit "$kit" --out "$out" || status=$?
echo "rehearse.sh: $((SECONDS - started)) s; report $out/gpu_check.json, log $out/gpu_check.log"
exit $status
