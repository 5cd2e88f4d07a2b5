#!/usr/bin/env bash
# Builds the libFuzzer targets (clang; ASan + UBSan) and runs each for $1
# seconds (default 30) from its seed corpus in tests/fuzz/corpus/<target>/.
# New inputs go to a scratch directory, never into the committed seeds.
# fuzz_store (the store API against a model) is built from every core source
# and keeps its scratch stores under /dev/shm (FUZZ_STORE_TMP overrides).
# Usage: tests/fuzz/run.sh [SECONDS]   (exit status non-zero on a crash)
#        FUZZ_TARGETS="fuzz_store" tests/fuzz/run.sh 60   (a subset)
set -euo pipefail
secs=${1:-30}
src=$(cd "$(dirname "$0")/../.." && pwd)
work=${FUZZ_WORK:-$(mktemp -d /tmp/ckpt-fuzz.XXXXXX)}
cc=${CC_FUZZ:-clang}
flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -std=gnu11 -I"$src/core" -I"$(pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)")
libs=$(pkg-config --libs jansson)

core_all=$(echo "$src"/core/*.c) # the whole core library: every file is in one
declare -A sources=(
  [fuzz_meta]="$src/core/meta.c $src/core/util.c"
  [fuzz_format]="$src/core/format.c"
  [fuzz_store]="$core_all"
)
declare -A max_len=(
  [fuzz_store]=1024
)
declare -A extra_libs=(
  [fuzz_store]="-lsqlite3 -lpq -lrados -lcrypto -lz -lzstd -lxxhash -lpthread"
)
status=0
for t in ${FUZZ_TARGETS:-fuzz_meta fuzz_format fuzz_store}; do
  echo "== $t: build"
  # shellcheck disable=SC2086
  "$cc" "${flags[@]}" "$src/tests/fuzz/$t.c" ${sources[$t]} $libs ${extra_libs[$t]:-} -lm -o "$work/$t"
  mkdir -p "$work/corpus-$t" "$work/artifacts-$t"
  echo "== $t: run ${secs}s"
  if ! UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "$work/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="${max_len[$t]:-65536}" \
      -print_final_stats=1 -artifact_prefix="$work/artifacts-$t/" \
      "$work/corpus-$t" "$src/tests/fuzz/corpus/$t" > "$work/$t.log" 2>&1; then
    echo "!! $t failed; log $work/$t.log, inputs in $work/artifacts-$t/"
    tail -40 "$work/$t.log"
    status=1
  else
    grep -E '^(stat::number_of_executed_units|stat::new_units_added)' "$work/$t.log" || true
  fi
done
echo "work dir: $work"
exit $status
