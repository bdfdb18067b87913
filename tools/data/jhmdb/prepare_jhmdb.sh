#!/usr/bin/env bash
# Prepare JHMDB-21 in the ACT layout: frames from the videos, checked against JHMDB-GT.pkl.
#
#   tools/data/jhmdb/prepare_jhmdb.sh JHMDB_GT_PKL VIDEOS_DIR [OUT_DIR]
#
# JHMDB_GT_PKL  the ACT ground truth (JHMDB-GT.pkl)
# VIDEOS_DIR    the videos as <class>/<video>.avi (ReCompress_Videos of JHMDB_video.zip)
# OUT_DIR       default data/jhmdb: gets Frames/<class>/<video>/00001.png ...
#
# Every video is extracted even when some fail; mismatched frame counts and every problem
# the validator finds are listed per video. Exit status 1 when anything is wrong.
set -euo pipefail
if [ $# -lt 2 ]; then
    sed -n '2,11p' "$0"; exit 2
fi
GT=$1; VIDEOS=$2; OUT=${3:-data/jhmdb}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
PY=${PYTHON:-python}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's point3d_mm

# PNG, as the ACT release's Frames/ (and configs/_base_/datasets/jhmdb.py) name them.
TMPL=(--filename-tmpl '{:05d}.png')
status=0
"$PY" "$ROOT/tools/data/extract_frames.py" "$VIDEOS" "$OUT/Frames" --ext .avi "${TMPL[@]}" \
    --ann-file "$GT" || status=1
"$PY" "$ROOT/tools/data/validate_dataset.py" "$GT" --frames-root "$OUT/Frames" "${TMPL[@]}" \
    || status=1
exit $status
