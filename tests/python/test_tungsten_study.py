"""The tungsten database-building study (issue 12): SNAP W as the reference through LAMMPS, the six
staged databases, the bcc screw-dislocation properties, and a reduced run of the whole study."""
import collections
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


def test_screw_core_of_snap_w(snap):
    """The relaxed easy core of SNAP W: a whole Burgers vector in the Nye tensor, the three core
    columns alike (threefold symmetry), and zero difference when model and reference coincide."""
    from soapgap.validation_dislocation import core_structure

    res = core_structure(snap, snap, "W", radius="quick")
    assert res["values"]["Nye tensor RMS error"]["error"] == 0.0
    m = res["data"]["model"]
    assert 0.9 < m["burgers"] < 1.05, m["burgers"]
    inner = np.array(m["alpha"])[:3, 2, 2]
    assert 0.08 < inner.min() and np.ptp(inner) < 1e-3, inner
    assert m["converged"]


SMALL_GAP = ("soap n_max=6 l_max=4 atom_sigma=0.5 cutoff=5.0 cutoff_transition_width=1.0 delta=1.0 zeta=4 "
             "n_sparse=200 sparse_method=cur_points : distance_2b cutoff=5.0 delta=1.0 theta_uniform=0.5 "
             "n_sparse=15 sparse_method=uniform covariance_type=ard_se")


def test_reduced_study_table_and_trends(tmp_path):
    """The whole study at 5 % of the frames with a small SOAP and the quick validation cells:
    the table in the study's layout with the reference's own values, the figures, errors that
    fall when a stage adds the configurations a property needs, and a resumed run that refits
    nothing."""
    from soapgap.study import COLUMNS, run_study

    ref = reference_calculator("snap:W", str(tmp_path / "cache"))
    work = str(tmp_path / "w")
    logs = []
    he_ref = reference_calculator("snap:W-He", str(tmp_path / "cache"))
    s = run_study(ref, work, scale=0.05, gap=SMALL_GAP, quick=True, log=logs.append, helium=he_ref)
    table = open(os.path.join(work, "study.md")).read()
    for heading, *_ in COLUMNS:
        assert heading in table
    study_part = table.split("He in W")[0]
    rows = [line.split("|")[1].strip() for line in study_part.splitlines() if line.startswith(("| GAP", "| ref"))]
    assert rows == list(STAGES) + ["reference"]
    for png in ("phonons.png", "peierls.png", "core_dd_map.png", "he_vacancy.png"):
        assert os.path.getsize(os.path.join(work, png)) > 10_000

    def v(stage, section, row, field="error"):
        return s["stages"][stage]["validation"][section]["values"][row][field]
    envs = [s["stages"][st]["fit"]["environments"] for st in STAGES]
    assert envs == sorted(envs) and envs[-1] > 7000
    # each stage fixes what it adds
    assert v("GAP2", "phonons", "phonon RMS error") < 0.5 * v("GAP1", "phonons", "phonon RMS error")
    assert min(abs(v(st, "vacancy", "E_vac")) for st in ("GAP3", "GAP4", "GAP5")) < 0.2 * abs(v("GAP1", "vacancy", "E_vac"))
    assert v("GAP4", "surfaces", "surface RMS error") < 0.5 * v("GAP3", "surfaces", "surface RMS error")
    peierls = [v(st, "peierls_barrier", "Peierls barrier", "model") for st in STAGES]
    ref_barrier = v("GAP6", "peierls_barrier", "Peierls barrier", "reference")
    assert abs(peierls[-1] - ref_barrier) < abs(peierls[0] - ref_barrier)
    # the reference's own values (SNAP W, quick cells)
    assert 0.06 < ref_barrier < 0.1
    assert -1.1 < v("GAP6", "dislocation_vacancy", "binding energy", "reference") < -0.8
    assert v("GAP6", "cost", "cost one core", "reference") > 0.05      # SNAP itself, not the disk cache
    assert v("GAP6", "dislocation_core", "Nye tensor RMS error") < 0.01
    # the validate report of one stage carries the dislocation rows and figures too
    from soapgap.report import write_report
    report = open(write_report(s["stages"]["GAP6"]["validation"], str(tmp_path / "report"))).read()
    for text in ("Nye tensor RMS error", "binding energy", "Peierls barrier", "peierls.png", "core_dd_map.png"):
        assert text in report
    # He in W on top of GAP6: both models near the reference, pure-W predictions untouched
    he = s["helium"]["rows"]
    assert "| 2b+SOAP |" in table
    assert 5 < he["reference"]["E_f tetrahedral"] < he["reference"]["E_f octahedral"] < 8
    for name in ("2b", "2b+SOAP"):
        for key in ("E_f tetrahedral", "E_f octahedral", "He-vacancy binding"):
            assert abs(he[name][key] - he["reference"][key]) < 0.5, (name, key, he[name][key], he["reference"][key])
        assert he[name]["path RMS error"] < 0.5
    from soapgap.potential import Potential
    w = bulk("W", "bcc", a=3.18, cubic=True).repeat(2)
    w.rattle(0.05, seed=3)
    on_top = Potential.load(os.path.join(work, "He", "2b_SOAP.json")).predict(w)
    alone = Potential.load(os.path.join(work, "GAP6", "model.json")).predict(w)
    assert on_top["energy"] == alone["energy"] and np.array_equal(on_top["forces"], alone["forces"])
    # resumed: everything is read back, nothing refitted or revalidated
    logs.clear()
    again = run_study(ref, work, scale=0.05, gap=SMALL_GAP, quick=True, log=logs.append, helium=he_ref)
    assert not any(w in line for line in logs for w in ("fitting", "validating", "He:")), logs
    assert again["stages"]["GAP6"]["validation"] == s["stages"]["GAP6"]["validation"]
    assert open(os.path.join(work, "study.md")).read() == table
    with pytest.raises(ValueError, match="other settings.*scale: 0.05 there, 0.1 now"):
        run_study(ref, work, scale=0.1, gap=SMALL_GAP, quick=True, log=logs.append)


def test_study_and_staged_build_refuse_bad_options(cli, tmp_path):
    import subprocess

    def fails(*args):
        r = subprocess.run([cli, *args], capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode != 0
        return r.stderr
    assert "unknown stages ['GAP9']" in fails("study", "--workdir", "w", "--stages", "GAP1,GAP9")
    assert "--scale must be > 0" in fails("study", "--workdir", "w", "--scale", "0")
    assert "unknown stages ['GAP0']" in fails("build-database", "--element", "W", "--reference", "snap:W",
                                              "--reference-cache", "none", "--stages", "GAP0", "--output", "x.xyz")
    assert not os.path.exists(tmp_path / "w") and not os.path.exists(tmp_path / "x.xyz")
