#!/usr/bin/env bash
# The whole test suite: C++ unit tests (ctest) and Python/CLI/comparison tests (pytest).
# Needs ./install.sh --no-demo (or ./install.sh) first.
#   ./run_tests.sh                 everything that needs only this repository
#   ./run_tests.sh --shared-data   the comparisons on the larger public data sets of ../shared/data
#                                  (or $SOAPGAP_SHARED_DATA); they fail, never skip, without them
# Other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${SOAPGAP_VENV:-.venv}
PYTHON="$(cd "$VENV" && pwd)/bin/python"   # absolute: the C++ program hands workflow commands to it
BUILD=build/cpp
# the program with MPI (as install.sh builds it): serial without a launcher, distributed under mpirun
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSOAPGAP_BUILD_TESTS=ON -DSOAPGAP_MPI=ON \
  -DSOAPGAP_PYTHON_EXECUTABLE="$PYTHON" >/dev/null
cmake --build "$BUILD" -j 2
echo "== C++ unit tests"
(cd "$BUILD" && ctest --output-on-failure)
MARK="not shared_data"
if [ "${1:-}" = "--shared-data" ]; then MARK="shared_data"; shift; fi
echo "== Python tests ($MARK)"
SOAPGAP_CLI="$PWD/$BUILD/soapgap" OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} "$VENV/bin/python" -m pytest -q -m "$MARK" tests/python "$@"
