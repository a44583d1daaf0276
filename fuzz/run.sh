#!/usr/bin/env bash
# Runs every fuzz target under AFL++ for SECONDS each (default 600), one after another, and
# prints each one's executions and crashes. Needs `cargo install cargo-afl` (AFL++ is built by
# it) and pymongo for the seeds. Findings land in fuzz/out/TARGET/default/crashes; each one
# fixed becomes a regression test in the project's own test suites.
#   fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(wire command filter update pipeline sync_change)
cargo afl build --release
if [ ! -d seeds ]; then
  (cd .. && cargo build --bin outpost)
  python3 seeds.py ../target/debug/outpost seeds
fi
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
for target in "${targets[@]}"; do
  mkdir -p out
  # -t: a run longer than 5 s is a hang; -m none: the targets bound their own memory.
  timeout --signal=INT $((seconds + 30)) cargo afl fuzz -V "$seconds" -t 5000 -m none \
    -i "seeds/$target" -o "out/$target" "target/release/$target" > "out/$target.log" 2>&1 || true
  stats="out/$target/default/fuzzer_stats"
  execs=$(awk -F': ' '/^execs_done/ {print $2}' "$stats" 2>/dev/null || echo "?")
  crashes=$(awk -F': ' '/^saved_crashes/ {print $2}' "$stats" 2>/dev/null || echo "?")
  hangs=$(awk -F': ' '/^saved_hangs/ {print $2}' "$stats" 2>/dev/null || echo "?")
  echo "$target: $execs executions, $crashes crashes, $hangs hangs in ${seconds}s"
done
