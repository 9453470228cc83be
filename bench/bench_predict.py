#!/usr/bin/env python
"""Prediction cost per atom (energy + forces + virial) of the same GAP XML potential in quippy
and soapgap, in one process, on rattled bcc Mo. Run once per thread count:

    python bench/bench_predict.py --threads 1
    python bench/bench_predict.py --threads 2

Potentials (from ../shared/data): the published mlearn Mo GAP (rc 5.0, 200 sparse points) and
the gap_fit refit of ../shared/data/gap_fit_reference (rc 5.2, 2000 sparse points).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--threads", type=int, default=1)
p.add_argument("--repeat", type=int, default=3)
p.add_argument("--sizes", default="250,1024")
ARGS = p.parse_args()
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ["OPENBLAS_NUM_THREADS"] = "1"  # BLAS inside OpenMP regions: nested threading hurts quippy

import numpy as np  # noqa: E402
from ase.build import bulk  # noqa: E402

import soapgap  # noqa: E402
from quippy.potential import Potential as QuippyPotential  # noqa: E402

DATA = os.environ.get("SOAPGAP_SHARED_DATA") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                             "shared", "data")
MODELS = {
    "mlearn Mo GAP (M=200, rc 5.0)": ("gap_xml_mlearn_Mo_example", "soap.xml"),
    "gap_fit Mo refit (M=2000, rc 5.2)": ("gap_fit_reference/mlearn_Mo_EF", "Mo_gap.xml"),
}


def structure(n):
    reps = round((n / 2) ** (1 / 3))
    a = bulk("Mo", "bcc", a=3.16, cubic=True).repeat((reps, reps, reps))
    a.positions += np.random.default_rng(1).normal(scale=0.05, size=a.positions.shape)
    return a


def best(fn, repeat):
    fn()
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def main():
    print(f"threads={ARGS.threads} repeat={ARGS.repeat}")
    print("| potential | atoms | quippy ms/atom | soapgap ms/atom | ratio quippy/soapgap | max |dF| eV/Å |")
    print("|---|---|---|---|---|---|")
    for name, (folder, xml) in MODELS.items():
        tmp = tempfile.mkdtemp()
        src = os.path.join(DATA, folder)
        for f in os.listdir(src):
            if f.startswith(xml) or f == "GAPotential.soapparam":
                shutil.copy(os.path.join(src, f), tmp)
        cwd = os.getcwd()
        os.chdir(tmp)
        q = QuippyPotential(param_filename=xml)
        s = soapgap.Potential.load(xml)
        for n in map(int, ARGS.sizes.split(",")):
            a = structure(n)
            aq = a.copy()
            aq.calc = q

            def run_q():
                aq.calc.reset()
                return aq.get_forces(), aq.get_stress()

            tq = best(run_q, ARGS.repeat)
            ts = best(lambda: s.predict(a), ARGS.repeat)
            df = np.abs(s.predict(a)["forces"] - aq.get_forces()).max()
            print(f"| {name} | {len(a)} | {1e3 * tq / len(a):.3f} | {1e3 * ts / len(a):.3f} | {tq / ts:.1f} | {df:.1e} |",
                  flush=True)
        os.chdir(cwd)
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
