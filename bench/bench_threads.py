#!/usr/bin/env python
"""Thread scaling on this machine: SOAP with gradients, prediction (E+F+W) of small and large
cells (the MD-calculator path: many calls on few atoms), and a fit, at OMP_NUM_THREADS = 1, 2 and
4 (4 oversubscribes a 2-core machine). Each setting runs in its own process (OpenMP reads the
thread count once).

    python bench/bench_threads.py
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = r'''
import json, sys, time
import numpy as np
from ase.build import bulk
import soapgap
res = {}
def best(f, n):
    f(); t = []
    for _ in range(n):
        t0 = time.perf_counter(); f(); t.append(time.perf_counter() - t0)
    return min(t)
cu = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((5, 5, 5)); cu.rattle(0.05, seed=1)
d = soapgap.Descriptor("soap n_max=8 l_max=6 atom_sigma=0.5 cutoff=5.0")
res["SOAP n8 l6 with gradients, 500 atoms (µs/atom)"] = best(lambda: d.compute(cu, gradients=True), 3) / len(cu) * 1e6
mo = soapgap.Potential.load(sys.argv[1])
for reps, calls in ((1, 200), (2, 100), (4, 20), (10, 3)):
    a = bulk("Mo", "bcc", a=3.16, cubic=True).repeat((reps,) * 3); a.rattle(0.05, seed=1)
    res[f"Mo GAP E+F+W, {len(a)} atoms (µs/atom)"] = best(lambda: mo.predict(a), calls) / len(a) * 1e6
print(json.dumps(res))
'''


def main():
    xml = os.path.join(HERE, "..", "tests", "data", "mlearn_Mo_gap", "soap.xml")
    work = tempfile.mkdtemp(prefix="bench_threads_")
    sys.path.insert(0, HERE)
    from bench_scaling import emt_set, timed_fit  # noqa: E402

    import ase.io
    train = os.path.join(work, "train.xyz")
    ase.io.write(train, emt_set(100))
    cli = os.path.join(os.path.dirname(sys.executable), "soapgap")
    table = {}
    for threads in (1, 2, 4):
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": "1"}
        out = subprocess.run([sys.executable, "-c", WORKER, xml], env=env, capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        wall, rss = timed_fit(cli, train, 1000, os.path.join(work, "m.json"), threads)
        row["fit, 10,800 environments, M = 1000 (s)"] = wall
        table[threads] = row
        print(threads, row, flush=True)
    keys = list(table[1])
    print("\n| measurement | 1 thread | 2 threads | 4 threads (oversubscribed) | speedup 1→2 |\n|---|---|---|---|---|")
    for k in keys:
        v = [table[t][k] for t in (1, 2, 4)]
        print(f"| {k} | {v[0]:.1f} | {v[1]:.1f} | {v[2]:.1f} | {v[0] / v[1]:.2f} |")


if __name__ == "__main__":
    main()
