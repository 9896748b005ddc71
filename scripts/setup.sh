#!/usr/bin/env bash
# Create .venv (if missing) and install skfisher with its test tools (pytest, ruff, selenium),
# the labeling page's web stack (the app extra), the documentation's (Sphinx and its
# extensions: the docs extra) and modAL.
# modAL-python pins skorch==0.9.0, which cannot import, so it goes in with --no-deps;
# skfisher patches its scikit-learn >= 1.8 incompatibility at import.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[modal,test,app,docs]"
.venv/bin/python -m pip install --quiet --no-deps "modAL-python==0.4.2.1"
