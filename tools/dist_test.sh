#!/usr/bin/env bash
# Copyright (c) OpenMMLab. All rights reserved.
# Copied from mmpretrain 1.2.0 tools/dist_test.sh (Apache-2.0); ifam_mm
# modifications are marked with `ifam_mm:` comments.
# Usage: [NNODES=1 NODE_RANK=0 PORT=29500 MASTER_ADDR=127.0.0.1] \
#     bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# GPUS is the number of processes per node; on a machine without CUDA they
# run on the CPU with gloo (docs/stack_fixes.md).

if [ $# -lt 3 ]; then
    echo "Usage: $0 CONFIG CHECKPOINT GPUS [test.py args...]" >&2
    exit 1
fi

CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

# ifam_mm: torchrun instead of the deprecated torch.distributed.launch; run
# as a module so it uses the same interpreter as `python`. It passes the
# local rank through the LOCAL_RANK environment variable.
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
python -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch \
    "${@:4}"
