"""The tungsten database-building study (issue 12): SNAP W as the reference through LAMMPS, the six
staged databases, the bcc screw-dislocation properties, and a reduced run of the whole study."""
import collections
import json
import os

import numpy as np
import pytest
from ase.build import bulk

from lammps_reference import run as lammps_run
from soapgap.references import potentials_dir, reference_calculator
from soapgap.stages import STAGES, build_stages, gamma_cell, plane_cell, stage_subset

SNAP_W = """pair_style hybrid/overlay zbl 4.0 4.8 snap
pair_coeff 1 1 zbl 74 74
pair_coeff * * snap {d}/W_2940_2017_2.snapcoeff {d}/W_2940_2017_2.snapparam W
"""


@pytest.fixture(scope="module")
def snap():
    return reference_calculator("snap:W")


def test_snap_w_reference_matches_lammps_directly(snap):
    """snap:W through ASE's LAMMPSlib against the same commands in LAMMPS itself (a rattled
    orthorhombic cell), and the equilibrium lattice constant of the published potential."""
    atoms = bulk("W", "bcc", a=3.18, cubic=True).repeat((3, 3, 3))
    atoms.rattle(0.05, seed=1)
    e, f, w = lammps_run(atoms, ["W"], SNAP_W.format(d=potentials_dir()))
    atoms.calc = snap
    assert atoms.get_potential_energy() == pytest.approx(e, abs=1e-8)
    assert np.abs(atoms.get_forces() - f).max() < 1e-8
    virial = -atoms.get_stress(voigt=False) * atoms.get_volume()
    assert np.abs(virial - w).max() < 1e-5
    from soapgap.database import equilibrium_lattice_constant
    assert equilibrium_lattice_constant("W", snap, lattice="bcc") == pytest.approx(3.1803, abs=2e-3)


def test_snap_reference_errors_name_the_fix(monkeypatch):
    with pytest.raises(ValueError, match="snap potentials are W, W-He"):
        reference_calculator("snap:Mo")
    monkeypatch.setenv("LAMMPS_POTENTIALS", "/nonexistent")
    with pytest.raises(ValueError, match="lammps-data"):
        reference_calculator("snap:W")


def test_plane_and_gamma_cells(snap):
    """One atom per plane; the unshifted gamma cell is bulk (E = N e_bulk, no force) and a shift
    along the slip direction costs energy, returning to bulk after a full lattice vector."""
    a0 = 3.1803
    prim = bulk("W", "bcc", a=a0)
    prim.calc = snap
    e_bulk = prim.get_potential_energy()
    # bcc interplanar spacings: a/2, a/√2, a/(2√3), a/√6
    for plane, spacing in (("100", a0 / 2), ("110", a0 / 2 ** 0.5), ("111", a0 / 12 ** 0.5), ("112", a0 / 6 ** 0.5)):
        cell = plane_cell("W", a0, plane, layers=12)
        assert len(cell) == 12
        n = np.cross(cell.cell[0], cell.cell[1])
        assert abs(cell.cell[2] @ n) / np.linalg.norm(n) == pytest.approx(12 * spacing, rel=1e-10), plane
        assert len(np.unique((cell.positions @ n / np.linalg.norm(n)).round(6))) == 12
        cell.calc = snap
        assert cell.get_potential_energy() == pytest.approx(12 * e_bulk, abs=1e-6)
    for plane in ("110", "112"):
        energies = []
        for shift in ((0, 0), (0.5, 0), (0.25, 0.25), (1, 0)):
            g = gamma_cell("W", a0, plane, shift)
            g.calc = snap
            energies.append(g.get_potential_energy() - 12 * e_bulk)
        assert abs(energies[0]) < 1e-6 and abs(energies[-1]) < 1e-6
        assert min(energies[1:3]) > 0.05, (plane, energies)


def test_staged_database_counts_and_labels(snap):
    """Every part of every stage at 1 % of the study's counts (at least one frame), the cells of
    the study's sizes, stage labels and cumulative subsets."""
    frames = build_stages("W", snap, scale=0.01, log=lambda m: None)
    parts = collections.Counter((f.info["stage"], f.info["config_type"]) for f in frames)
    sizes = collections.defaultdict(set)
    for f in frames:
        sizes[f.info["config_type"]].add(len(f))
    assert parts[("GAP1", "primitive")] == 20 and parts[("GAP1", "isolated_atom")] == 1
    assert parts[("GAP2", "md")] == 1 and parts[("GAP3", "vacancy")] == 4 + 1
    assert parts[("GAP4", "surface")] == 2 and parts[("GAP4", "gamma_surface")] == 60
    assert parts[("GAP5", "vacancy_gamma_surface")] == 8 and parts[("GAP6", "dislocation")] == 1
    assert sizes["md"] == {128} and sizes["vacancy"] == {53, 127} and sizes["surface"] == {12}
    assert sizes["gamma_surface"] == {12} and sizes["vacancy_gamma_surface"] == {47}
    assert sizes["dislocation"] == {144}
    for f in frames:
        assert np.isfinite(f.info["energy"]) and f.arrays["forces"].shape == (len(f), 3)
    # gamma-surface faults are opened: no atom inside the repulsive core, no runaway forces
    from soapgap.stages import OPEN_TO, _min_distance
    for f in frames:
        if "gamma_surface" in f.info["config_type"]:
            assert _min_distance(f) > OPEN_TO * 3.18 - 0.3, f.info    # minus the thermal rattle
            assert np.abs(f.arrays["forces"]).max() < 30, f.info
    counts = [len(stage_subset(frames, s)) for s in STAGES]
    assert counts == sorted(counts) and counts[-1] == len(frames)
    # the MD frames are thermal: their energy per atom is above the perfect crystal's
    md = [f for f in frames if f.info["config_type"] == "md"][0]
    prim = bulk("W", "bcc", a=3.1803)
    prim.calc = snap
    assert md.info["energy"] / len(md) > prim.get_potential_energy() + 0.01
    with pytest.raises(ValueError, match="unknown stages"):
        build_stages("W", snap, stages=("GAP7",))
    with pytest.raises(ValueError, match="no info\\['stage'\\]"):
        stage_subset([bulk("W")], "GAP1")
