"""GPAW in its own interpreter: one JSON request per line on stdin, one JSON answer per line out.

Debian's `gpaw` package installs for the system Python, not for a virtual environment, so the
`gpaw:` reference (references.py) starts this file with an interpreter that imports gpaw, under
`mpiexec -n P` when asked for P processes. It imports only numpy, ase and gpaw, never soapgap.

Protocol: the first line holds the settings (mode, ecut, basis, kpts, xc, smearing, maxiter);
each further line a structure {numbers, positions, cell, pbc}; each answer is
{energy, forces, stress, processes} (stress null for a non-periodic cell) or {error}. Structures that differ
from the previous one only in positions reuse its calculator, so its wave functions start the
next SCF (MD).
"""
import json
import os
import sys

import numpy as np


def _calculator(settings):
    from gpaw import GPAW, PW

    kw = dict(xc=settings.get("xc", "PBE"), txt=None)
    if settings.get("mode", "pw") == "pw":
        kw["mode"] = PW(float(settings.get("ecut", 400)))
    else:
        kw.update(mode="lcao", basis=settings.get("basis", "dzp"))
    k = settings.get("kpts", "density=3")
    kw["kpts"] = ({"density": float(k.split("=", 1)[1]), "gamma": True} if k.startswith("density=")
                  else [int(x) for x in k.lower().split("x")])
    if "smearing" in settings:
        kw["occupations"] = {"name": "fermi-dirac", "width": float(settings["smearing"])}
    if "maxiter" in settings:
        kw["maxiter"] = int(settings["maxiter"])
    return GPAW(**kw)


def _same_system(atoms, req):
    return (atoms is not None and len(atoms) == len(req["numbers"])
            and np.array_equal(atoms.numbers, req["numbers"]) and np.array_equal(atoms.cell[:], req["cell"])
            and np.array_equal(atoms.pbc, req["pbc"]))


def _answer(atoms):
    e = float(atoms.get_potential_energy())
    f = atoms.get_forces()
    s = atoms.get_stress(voigt=True).tolist() if atoms.pbc.all() else None
    return {"energy": e, "forces": f.tolist(), "stress": s}


def _evaluate(atoms, req, settings):
    """(atoms, answer) for one request. A structure that differs from ``atoms`` only in its
    positions reuses its calculator (wave functions start the SCF); otherwise a new one."""
    from ase import Atoms

    if _same_system(atoms, req):
        atoms.positions = np.array(req["positions"])
        try:
            return atoms, _answer(atoms)
        except RuntimeError as exc:
            # GPAW keeps the symmetry of the structure it started from; an MD step away from a
            # perfect lattice breaks it: start afresh on this structure
            if "Broken symmetry" not in str(exc):
                raise
    atoms = Atoms(numbers=req["numbers"], positions=req["positions"], cell=req["cell"], pbc=req["pbc"])
    atoms.calc = _calculator(settings)
    return atoms, _answer(atoms)


def main():
    from gpaw.mpi import broadcast, world

    # answers go to the original stdout only; anything the libraries print goes to stderr
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def read():
        line = sys.stdin.readline() if world.rank == 0 else None
        return broadcast(line, 0, world)

    settings = json.loads(read())
    atoms = None
    while True:
        line = read()
        if not line:
            return
        try:
            atoms, answer = _evaluate(atoms, json.loads(line), settings)
            reply = dict(answer, processes=world.size)
        except Exception as exc:  # SCF not converged and the like: reported, the worker lives on
            reply = {"error": f"{type(exc).__name__}: {exc}"}
            atoms = None
        if world.rank == 0:
            out.write(json.dumps(reply) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
