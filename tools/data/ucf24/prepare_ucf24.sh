#!/usr/bin/env bash
# Prepare UCF101-24 in the ACT layout from the public releases: the ACT ground truth built
# from the corrected annotations, frames from the UCF101 videos, and a validation report.
#
#   tools/data/ucf24/prepare_ucf24.sh UCF101_DIR CORRECTED_DIR [OUT_DIR]
#
# UCF101_DIR     the UCF101 videos as <Class>/v_<Class>_gXX_cYY.avi (UCF-101/ of UCF101.rar)
# CORRECTED_DIR  holds pyannot_with_class_names.pkl and testlist01.txt
# OUT_DIR        default data/ucf24: gets UCF101v2-GT.pkl and rgb-images/<Class>/<video>/
#
# Every video is extracted even when some fail; mismatched frame counts and every problem
# the validator finds are listed per video. Exit status 1 when anything is wrong.
set -euo pipefail
if [ $# -lt 2 ]; then
    sed -n '2,12p' "$0"; exit 2
fi
VIDEOS=$1; CORRECTED=$2; OUT=${3:-data/ucf24}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
PY=${PYTHON:-python}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's point3d_mm

mkdir -p "$OUT"
"$PY" "$ROOT/tools/data/convert_ucf24_corrected.py" \
    "$CORRECTED/pyannot_with_class_names.pkl" "$CORRECTED/testlist01.txt" \
    "$OUT/UCF101v2-GT.pkl"
status=0
"$PY" "$ROOT/tools/data/extract_frames.py" "$VIDEOS" "$OUT/rgb-images" --ext .avi \
    --ann-file "$OUT/UCF101v2-GT.pkl" || status=1
# 'first' decodes one frame per video (about 600k frames in all would take minutes).
"$PY" "$ROOT/tools/data/validate_dataset.py" "$OUT/UCF101v2-GT.pkl" \
    --frames-root "$OUT/rgb-images" --check-images first || status=1
exit $status
