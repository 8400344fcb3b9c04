#!/usr/bin/env bash
# The Python bindings' tests, as .ci/run runs them (after cargo test, which builds the command
# line they compare with): a virtual environment in target/py-venv; maturin, pytest, mypy and
# pandas (the optional dependency that to_pandas uses) from PyPI; the package built and
# installed from python/ as a user installs it; the type stubs checked against the built
# module, the Python code against the stubs; pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv target/py-venv
target/py-venv/bin/pip install --quiet --disable-pip-version-check maturin pytest mypy pandas
target/py-venv/bin/pip install --quiet --disable-pip-version-check ./python
target/py-venv/bin/python -m mypy.stubtest --ignore-disjoint-bases tradeledger._native
(cd python && ../target/py-venv/bin/mypy tradeledger examples bench tests)
# A no-op after cargo test; builds the command line when this script runs alone.
cargo build --quiet --bin tradeledger
TRADELEDGER_BIN=target/debug/tradeledger target/py-venv/bin/python -m pytest python/tests
