#!/usr/bin/env bash
# Testing on a Slurm cluster: tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
# The interpreter is $PYTHON, else the checkout's .venv (make env), else `python` on PATH.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
# -P: through mim's point3d_mm/.mim/tools link to the checkout, where .venv lives.
here="$(cd "$(dirname "$0")" && pwd -P)"
venv_python="$(dirname "$here")/.venv/bin/python"
[[ -x "$venv_python" ]] || venv_python=python
PYTHONPATH="$here/..:${PYTHONPATH:-}" \
srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 \
    $SRUN_ARGS "${PYTHON:-$venv_python}" -u "$here/test.py" "$CONFIG" "$CHECKPOINT" \
    --launcher slurm "${@:5}"
