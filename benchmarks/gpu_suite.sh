#!/usr/bin/env bash
# The GPU evidence of issue 12 in resumable pieces of under 9 minutes (benchmarks/GPU.md).
#
#   bash benchmarks/gpu_suite.sh --prepare          # here, once: .whl/ (skorch, modAL) and .data/
#   bash benchmarks/gpu_suite.sh [--list] [--dry-run] [--budget SECONDS] [PIECE ...]
#
# On the device machine it installs the wheels carried in .whl/ into /tmp/site, points
# SKFISHER_FASHION_MNIST at the carried .data/fashion-mnist, and runs the pieces that
# remain until about 8.5 minutes have passed (benchmarks/gpu_suite.py).
set -uo pipefail
STARTED=$(date +%s)
cd "$(dirname "$0")/.." || exit 1

if [ "${1:-}" = "--prepare" ]; then
    # Wheels of the packages the GPU image lacks, and FashionMNIST's four idx files.
    set -e
    PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
    mkdir -p .whl .data/fashion-mnist
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
        "skorch==1.4.0" "modAL-python==0.4.2.1" ${GPU_SUITE_WHEELS:-}
    if ! ls .data/fashion-mnist/train-images-idx3-ubyte* >/dev/null 2>&1; then
        tmp=$(mktemp -d)
        (cd "$tmp" && apt-get download dataset-fashion-mnist && dpkg-deb -x ./*.deb root)
        cp "$tmp"/root/usr/share/datasets/fashion-mnist/*-ubyte.gz .data/fashion-mnist/
        rm -rf "$tmp"
    fi
    du -sh .whl .data
    exit 0
fi

PYTHON=${PYTHON:-python3}
if ls .whl/*.whl >/dev/null 2>&1; then
    SITE=${GPU_SUITE_SITE:-/tmp/site}  # where the carried wheels are installed
    if [ ! -e "$SITE/.gpu_suite" ]; then
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$SITE" .whl/*.whl || exit 1
        touch "$SITE/.gpu_suite"
    fi
    export PYTHONPATH=$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}
else
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
if [ -d .data/fashion-mnist ]; then
    export SKFISHER_FASHION_MNIST=${SKFISHER_FASHION_MNIST:-$PWD/.data/fashion-mnist}
fi
exec "$PYTHON" benchmarks/gpu_suite.py --started "$STARTED" --python "$PYTHON" "$@"
