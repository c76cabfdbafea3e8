#!/usr/bin/env bash
# Training on a slurm cluster through mmengine's 'slurm' launcher.
#   bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# GPUS (default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS as in OpenMMLab's scripts.
set -euo pipefail
usage() {
    cat <<'USAGE'
usage: bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]

Train CONFIG on a slurm cluster (srun, mmengine's 'slurm' launcher; needs CUDA). Options after
WORK_DIR go to tools/train.py (--cfg-options, --resume, --amp; see
`python tools/train.py --help`).

environment: GPUS (8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (extra srun options),
             PYTHON (default .venv/bin/python if present, else python)
USAGE
}
for arg in "${@:1:4}"; do
    case "$arg" in -h|--help) usage; exit 0 ;; esac
done
if [ $# -lt 4 ]; then
    usage >&2
    echo "error: PARTITION, JOB_NAME, CONFIG and WORK_DIR are required" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
shift 4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 $SRUN_ARGS \
    "$PY" -u tools/train.py "$CONFIG" --work-dir="$WORK_DIR" --launcher slurm "$@"
