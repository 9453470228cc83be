#!/usr/bin/env bash
# Re-runs every reproducer in fuzz/findings/ (or the ones given) against the current build and
# prints the first problem each one triggers, or "no finding" if it has been fixed.
#   fuzz/repro.sh [fuzz/findings/<target>-<name> ...]
# Each reproducer runs with the workarounds of the *other* findings on (SOAPGAP_FUZZ_SKIP_KNOWN
# lists every finding outside its own <target>-<word> group), so an earlier, unrelated finding on
# the same path does not hide it. UBSan stack traces: UBSAN_OPTIONS=print_stacktrace=1 (default).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/build/fuzz"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
"$ROOT/fuzz/build.sh" > /dev/null || { echo "repro.sh: build failed" >&2; exit 2; }

files=("$@")
((${#files[@]})) || files=("$ROOT"/fuzz/findings/*)
all=()
for f in "$ROOT"/fuzz/findings/*; do all+=("$(basename "$f")"); done

status=0
for f in "${files[@]}"; do
  name="$(basename "$f")"
  case "$name" in
    extxyz-*) t=extxyz ;; gap_xml-*) t=gap_xml ;; model_file-*) t=model_file ;; options-*) t=options ;;
    *) echo "$name: unknown target"; continue ;;
  esac
  group="$(cut -d- -f1-2 <<< "$name")"
  others=()
  for n in "${all[@]}"; do [[ "$n" == "$group"* ]] || others+=("$n"); done
  log="$(SOAPGAP_FUZZ_SKIP_KNOWN="$(IFS=,; echo "${others[*]}")" timeout 60 "$OUT/fuzz_$t" \
           -rss_limit_mb=2048 -timeout=10 "$f" 2>&1)"
  first="$(grep -m1 -E 'runtime error|==FUZZ FINDING==|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)' <<< "$log")"
  if [[ -n "$first" ]]; then
    status=1
    where="$(grep -E '^ +#[0-9]+ ' <<< "$log" | grep -m1 -F "$ROOT/src/" | sed -e 's/.* in //' -e "s|$ROOT/||")"
    echo "$name: $first${where:+  [at $where]}"
  else
    echo "$name: no finding"
  fi
done
exit $status
