#!/usr/bin/env bash
# Runs every fuzz target for RUNS executions (default 10 million), one after the other, and
# prints libFuzzer's closing line for each. Needs cargo-fuzz and a nightly toolchain:
#   cargo install cargo-fuzz && rustup toolchain install nightly
# Usage: fuzz/run.sh [RUNS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:-10000000}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(record_decoder jsonl_importer checkpoint_loader segment_scanner journal_folder)
fi
mkdir -p corpus artifacts logs
# Seeds: the committed JSON Lines fixtures for the importer.
mkdir -p corpus/jsonl_importer
cp ../fixtures/*.jsonl corpus/jsonl_importer/ 2>/dev/null || true
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  echo "== $target: $runs runs"
  cargo +nightly fuzz run "$target" "corpus/$target" -- \
    -runs="$runs" -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="artifacts/$target/" >"logs/$target.log" 2>&1 || echo "   $target stopped: see fuzz/logs/$target.log"
  grep -E "^Done|stat::number_of_executed_units|stat::average_exec_per_sec|SUMMARY|panicked" "logs/$target.log" | sed 's/^/   /' || true
done
