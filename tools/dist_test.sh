#!/usr/bin/env bash
# Distributed testing on one machine: tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py options]
# Uses torch's launcher and mmengine's pytorch launcher; CPU-only machines use gloo.
# The interpreter is $PYTHON, else the checkout's .venv (make env), else `python` on PATH.
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
# -P: through mim's point3d_mm/.mim/tools link to the checkout, where .venv lives.
here="$(cd "$(dirname "$0")" && pwd -P)"
venv_python="$(dirname "$here")/.venv/bin/python"
[[ -x "$venv_python" ]] || venv_python=python
PYTHONPATH="$here/..:${PYTHONPATH:-}" exec "${PYTHON:-$venv_python}" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" --master_port="$PORT" \
    "$here/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
