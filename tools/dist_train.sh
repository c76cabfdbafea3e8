#!/usr/bin/env bash
# Multi-GPU / multi-node training through torchrun and mmengine's 'pytorch' launcher.
#   bash tools/dist_train.sh CONFIG GPUS [train.py options]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT as for torchrun.
set -euo pipefail
usage() {
    cat <<'USAGE'
usage: bash tools/dist_train.sh CONFIG GPUS [train.py options]

Train CONFIG with GPUS processes per node through torchrun (mmengine's 'pytorch' launcher;
gloo on a CPU-only machine). Options after GPUS go to tools/train.py (--work-dir,
--cfg-options, --resume, --amp; see `python tools/train.py --help`).

environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), MASTER_PORT or PORT (29500),
             PYTHON (default .venv/bin/python if present, else python)
USAGE
}
for arg in "${@:1:2}"; do
    case "$arg" in -h|--help) usage; exit 0 ;; esac
done
if [ $# -lt 2 ]; then
    usage >&2
    echo "error: CONFIG and GPUS are required" >&2
    exit 2
fi
case "$2" in
    ''|*[!0-9]*|0) usage >&2; echo "error: GPUS must be a positive integer, got '$2'" >&2; exit 2 ;;
esac
CONFIG=$1
GPUS=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-${MASTER_PORT:-29500}}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
exec "$PY" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" --nproc_per_node="$GPUS" --master_port="$PORT" \
    tools/train.py "$CONFIG" --launcher pytorch "$@"
