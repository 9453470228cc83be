#!/usr/bin/env bash
# Smoke/long fuzzing run: builds if needed, then runs each target for the given number of seconds
# (default 15), one process at a time, and reports executed inputs, coverage and findings.
#   fuzz/run.sh [seconds_per_target]
# Environment:
#   TARGETS="extxyz options"       run only these targets (default: all four)
#   SOAPGAP_FUZZ_SKIP_KNOWN=1      let the targets skip inputs of already reported findings
#   FUZZ_ARGS="..."                extra libFuzzer flags, given last (e.g. -runs=1000000, -seed=1, -max_len=N)
# Exit status: 0 if no target found anything, 1 if any target crashed / timed out / ran out of memory.
# Findings: build/fuzz/artifacts/<target>-crash-*|oom-*|timeout-*, logs in build/fuzz/logs/.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/build/fuzz"
SECS="${1:-15}"
read -r -a TARGET_LIST <<< "${TARGETS:-extxyz gap_xml model_file options}"
read -r -a EXTRA <<< "${FUZZ_ARGS:-}"

export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
"$ROOT/fuzz/build.sh" || { echo "run.sh: build failed" >&2; exit 2; }
mkdir -p "$OUT/logs" "$OUT/artifacts"

status=0
summary=()
for t in "${TARGET_LIST[@]}"; do
  bin="$OUT/fuzz_$t"
  log="$OUT/logs/$t.log"
  dict=()
  [[ -f "$ROOT/fuzz/$t.dict" ]] && dict=(-dict="$ROOT/fuzz/$t.dict")
  # input size cap: the seeds include 100 kB files, which would make every mutation slow
  case "$t" in gap_xml) maxlen=16384 ;; options) maxlen=4096 ;; *) maxlen=8192 ;; esac
  echo "=== fuzz_$t: ${SECS}s"
  start=$(date +%s)
  # New interesting inputs go to the corpus directory in build/ (git-ignored).
  "$bin" "$OUT/corpus_$t" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 \
    -max_len="$maxlen" -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t-" "${dict[@]}" "${EXTRA[@]}" > "$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  [[ -n "$execs" ]] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
  if (( rc == 0 )); then
    result="no findings"
  else
    status=1
    kind=""
    for pat in '==FUZZ FINDING==.*' 'runtime error: .*' 'ERROR: [A-Za-z]*Sanitizer: .*' 'ERROR: libFuzzer: .*'; do
      [[ -n "$kind" ]] || kind=$(grep -m1 -oE "$pat" "$log" | cut -c1-200)
    done
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    result="FINDING (exit $rc): ${kind:-see log}; reproducer: ${artifact:-none}; log: $log"
    grep -m3 -E 'runtime error|ERROR: |==FUZZ FINDING==|    #[0-9] ' "$log" | sed 's/^/    /'
  fi
  line="fuzz_$t: ${execs:-?} inputs in ${secs}s, ${cov:-cov: ?}: $result"
  echo "$line"
  summary+=("$line")
done
echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
exit $status
