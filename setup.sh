#!/usr/bin/env bash
# One-step setup on a fresh machine: the project, its dependencies and (with --tests)
# Debian's Chromium for the report-rendering test. torch is named with its CPU build's
# version first, so pip takes it from this machine's disk instead of a CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m pip install --quiet "torch==2.13.0" -e ".[test]"
if [[ "${1:-}" == "--tests" ]] && ! command -v chromium >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq && apt-get install -y -qq chromium >/dev/null
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null
    fi
fi
