#!/usr/bin/env bash
# Builds the soapgap libFuzzer targets (ASan + UBSan) into build/fuzz/ and assembles the seed
# corpora build/fuzz/corpus_<target>/.   Usage: fuzz/build.sh [--seeds-only]
# Needs: clang++ 14 with libclang-rt-14-dev and libomp-14-dev (Debian bookworm:
#   apt-get install -y clang libclang-rt-14-dev libomp-14-dev), Eigen 3.4, nlohmann-json,
#   pugixml, lapacke/lapack/blas.
# Environment: CXX (default clang++), JOBS (parallel compiles, default 2).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/build/fuzz"
OBJ="$OUT/obj"
CXX="${CXX:-clang++}"
JOBS="${JOBS:-2}"
TARGETS=(extxyz gap_xml model_file options)

COMMON=(-std=c++20 -g -O1 -fno-omit-frame-pointer -fopenmp
        -fsanitize=address,undefined -fno-sanitize-recover=undefined
        -I"$ROOT/include" -I/usr/include/eigen3)
# library sources: coverage instrumentation without libFuzzer's main
LIBFLAGS=("${COMMON[@]}" -fsanitize=fuzzer-no-link)
LINKLIBS=(-lpugixml -llapacke -llapack -lblas)

mkdir -p "$OUT" "$OBJ"

# out_of_date <output> <depfile> <source>: true if output is missing or older than the source or
# any file listed in the compiler-written depfile.
out_of_date() {
  local out="$1" d="$2" src="$3" dep
  [[ -f "$out" && -f "$d" && ! "$src" -nt "$out" ]] || return 0
  for dep in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$d"); do
    [[ -e "$dep" && ! "$dep" -nt "$out" ]] || return 0
  done
  return 1
}

build_binaries() {
  local LIB_SOURCES=()
  for src in "$ROOT"/src/*/*.cpp; do [[ "$src" == */src/mpi/* ]] || LIB_SOURCES+=("$src"); done
  command -v "$CXX" >/dev/null || { echo "build.sh: $CXX not found (apt-get install -y clang libclang-rt-14-dev libomp-14-dev)" >&2; exit 2; }
  # The library: every src/*/*.cpp but src/mpi (basenames are unique; split_gap_string lives in fit.cpp, which needs lapacke and
  # <omp.h>; the parsers never enter an OpenMP region). An object is rebuilt when its source,
  # or any header it includes (from the compiler's .d file) is newer.
  local stale=() flags
  flags="$(printf '%q ' "$CXX" "${LIBFLAGS[@]}")"
  # a change of compiler or flags rebuilds everything
  if [[ "$(cat "$OBJ/flags.txt" 2>/dev/null)" != "$flags" ]]; then rm -f "$OBJ"/*.o "$OUT"/fuzz_*; fi
  printf '%s' "$flags" > "$OBJ/flags.txt"
  for src in "${LIB_SOURCES[@]}"; do
    local o="$OBJ/$(basename "${src%.cpp}").o" d="$OBJ/$(basename "${src%.cpp}").d"
    out_of_date "$o" "$d" "$src" && stale+=("$src")
  done
  if ((${#stale[@]})); then
    echo "build.sh: compiling ${#stale[@]} library source(s) with $CXX"
    # objects get the time the compile started, so an edit made during the build is seen next time
    START="$(date +%s.%N)"
    export OBJ START
    printf '%s\n' "${stale[@]}" | xargs -P "$JOBS" -I{} bash -c \
      'b="$OBJ/$(basename "${1%.cpp}")"; rm -f "$b.o"; '"$flags"' -MMD -MF "$b.d" -c "$1" -o "$b.o.tmp" && touch -d "@$START" "$b.o.tmp" && mv "$b.o.tmp" "$b.o"' _ {}
    for src in "${stale[@]}"; do
      [[ -f "$OBJ/$(basename "${src%.cpp}").o" ]] || { echo "build.sh: compiling $src failed" >&2; exit 1; }
    done
    rm -f "$OUT/libsoapgap_fuzz.a"
  fi
  if [[ ! -f "$OUT/libsoapgap_fuzz.a" ]]; then
    local objs=()
    for src in "${LIB_SOURCES[@]}"; do objs+=("$OBJ/$(basename "${src%.cpp}").o"); done
    ar rcs "$OUT/libsoapgap_fuzz.a.tmp" "${objs[@]}" && mv "$OUT/libsoapgap_fuzz.a.tmp" "$OUT/libsoapgap_fuzz.a"
  fi
  for t in "${TARGETS[@]}"; do
    local src="$ROOT/fuzz/fuzz_$t.cpp" bin="$OUT/fuzz_$t"
    if out_of_date "$bin" "$OBJ/fuzz_$t.d" "$src" || [[ "$OUT/libsoapgap_fuzz.a" -nt "$bin" ]]; then
      echo "build.sh: building fuzz_$t"
      local tstart
      tstart="$(date +%s.%N)"
      "$CXX" "${COMMON[@]}" -fsanitize=fuzzer -MMD -MF "$OBJ/fuzz_$t.d" "$src" "$OUT/libsoapgap_fuzz.a" "${LINKLIBS[@]}" -o "$bin.tmp"
      touch -d "@$tstart" "$bin.tmp" && mv "$bin.tmp" "$bin"
    fi
  done
}

# Seed corpora: handwritten seeds (fuzz/seeds/<target>/) plus small project and shared data files
# (< 200 kB each, copied into build/fuzz only, never into the repository).
add_seed() {  # add_seed <target> <file>
  local dir="$OUT/corpus_$1" f="$2"
  [[ -f "$f" ]] || return 0
  (( $(stat -c %s "$f") < 200000 )) || return 0
  cp -f "$f" "$dir/seed_$(sha1sum "$f" | cut -c1-16)"
}

build_corpora() {
  local shared="$ROOT/../shared/data"
  for t in "${TARGETS[@]}"; do
    mkdir -p "$OUT/corpus_$t"
    for f in "$ROOT"/fuzz/seeds/"$t"/*; do add_seed "$t" "$f"; done
  done
  # extxyz: any small .xyz/.extxyz under tests/ and the shared data sets
  while IFS= read -r -d '' f; do add_seed extxyz "$f"; done < <(
    find "$ROOT/tests" "$shared" -type f \( -name '*.xyz' -o -name '*.extxyz' \) -size -200k -print0 2>/dev/null)
  # gap_xml: small XML potentials (sparseX files of these are too large and stay absent:
  # the reader then stops at the missing file, after parsing the whole document)
  while IFS= read -r -d '' f; do add_seed gap_xml "$f"; done < <(
    find "$ROOT/tests" "$shared/gap_xml_mlearn_Mo_example" "$shared/gap_fit_reference" -type f -name '*.xml' -size -200k -print0 2>/dev/null)
  # model_file: soapgap model files (.json with "soapgap-model") in tests/
  while IFS= read -r -d '' f; do
    grep -q '"soapgap-model"' "$f" 2>/dev/null && add_seed model_file "$f"
  done < <(find "$ROOT/tests" -type f -name '*.json' -size -200k -print0 2>/dev/null)
  # options: the descriptor strings of the XML seeds
  for f in "$OUT"/corpus_gap_xml/*; do
    [[ -f "$f" ]] || continue
    sed -n 's:.*<descriptor>\(.*\)</descriptor>.*:\1:p' "$f" | head -n 4 | while IFS= read -r line; do
      printf '%s' "$line" > "$OUT/corpus_options/seed_$(printf '%s' "$line" | sha1sum | cut -c1-16)"
    done
  done
  for t in "${TARGETS[@]}"; do echo "build.sh: corpus_$t: $(ls "$OUT/corpus_$t" | wc -l) file(s)"; done
}

if [[ "${1:-}" != "--seeds-only" ]]; then build_binaries; fi
build_corpora
