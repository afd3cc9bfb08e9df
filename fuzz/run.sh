#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 60), from the corpus in
# fuzz/corpus/<target>/. New inputs the fuzzer finds go to fuzz/target/corpus/<target>/ (kept
# between runs, never committed); a crash, a timeout or an out-of-memory ends the run with a
# non-zero status and leaves its input in fuzz/artifacts/<target>/. Targets run side by side, one
# per core. The binaries are target/debug/fuzz-<target>.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     targets: image raw gs1 config request
#
# Stable Rust is enough: libfuzzer-sys builds libFuzzer from source (needs a C++ compiler) and
# rustc-sancov asks rustc for the coverage instrumentation libFuzzer reads.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(image raw gs1 config request)
fi

# The project's target folder: the dependencies its tests built are used as they are.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../target}"
RUSTC_WRAPPER="$PWD/rustc-sancov" cargo build --locked --bins

# Largest input per target: room for a small symbol's image or raw frame (a frame with no
# symbol costs the reader time in proportion to its area), a GS1 string, a configuration file,
# a request carrying a small frame.
max_len() {
  case "$1" in
    image | request) echo 8192 ;;
    raw) echo 4608 ;;
    gs1) echo 1024 ;;
    *) echo 4096 ;;
  esac
}

# One target's run, its exit status left in target/fuzz-TARGET.status.
run_target() {
  local target="$1" status=0
  "$CARGO_TARGET_DIR/debug/fuzz-$target" \
    -max_total_time="$seconds" \
    -max_len="$(max_len "$target")" \
    -timeout=30 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 \
    -artifact_prefix="artifacts/$target/" \
    "target/corpus/$target" "corpus/$target" >"target/fuzz-$target.log" 2>&1 || status=$?
  echo "$status" >"target/fuzz-$target.status"
}

# libFuzzer runs on one core: as many targets run at once as there are cores.
parallel="$(nproc)"
for target in "${targets[@]}"; do
  mkdir -p "target/corpus/$target" "artifacts/$target" "corpus/$target"
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do
    wait -n || true
  done
  echo "fuzz: $target for ${seconds}s"
  run_target "$target" &
done
wait

failed=0
for target in "${targets[@]}"; do
  log="target/fuzz-$target.log"
  status="$(cat "target/fuzz-$target.status")"
  echo "fuzz: $target"
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|^#[0-9]+ +DONE' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log" >&2
    echo "fuzz: $target found a failure (exit $status); the input is in fuzz/artifacts/$target/" >&2
    failed="$status"
  fi
done
[ "$failed" -eq 0 ] || exit "$failed"
echo "fuzz: every target ran ${seconds}s without a failure"
