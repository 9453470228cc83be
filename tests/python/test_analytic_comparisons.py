"""The comparison potentials and properties of the diamond study (docs/diamond.md): REBO through
LAMMPS against its published elastic constants, the Tersoff refit, quasi-harmonic thermal
expansion against the Grüneisen relation, and diamond phonons."""
import json
import os

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from conftest import TEST_DATA
from soapgap import tersoff_fit
from soapgap.database import _label
from soapgap.references import potentials_dir, reference_calculator
from soapgap.validation import _own_a0, elastic_constants, force_constants, phonons

REBO = "lammps:pair_style=rebo;pair_coeff=* * {d}/CH.rebo C;elements=C"
DIAMOND_GAP = ("soap n_max=6 l_max=4 atom_sigma=0.5 cutoff=3.7 cutoff_transition_width=0.7 delta=1.0 zeta=4 "
               "n_sparse=300 sparse_method=cur_points : distance_2b cutoff=3.7 delta=1.0 theta_uniform=0.5 "
               "n_sparse=20 sparse_method=uniform covariance_type=ard_se")


def test_rebo_reproduces_brenners_published_elastic_constants():
    # Brenner-type REBO (CH.rebo): C11 1061, C12 133, C44⁰ 736, C44 717 GPa in the lecture's table;
    # the unrelaxed/relaxed split checks the internal relaxation of the diamond primitive cell
    c = elastic_constants(reference_calculator(REBO.format(d=potentials_dir())), None, "C", "diamond")["values"]
    got = [c[k]["model"] for k in ("C11", "C12", "C44_unrelaxed", "C44")]
    assert np.allclose(got, [1061, 133, 736, 717], rtol=0.035), got
    assert got[2] - got[3] > 10       # relaxing the internal coordinate softens the shear


def _frames(params, n, seed):
    rng = np.random.default_rng(seed)
    calc, out = tersoff_fit.calculator(params), []
    for _ in range(n):
        a = bulk("C", "diamond", a=3.57, cubic=True)
        eps = rng.uniform(-0.02, 0.02, (3, 3))
        a.set_cell(a.cell[:] @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
        a.positions += rng.normal(scale=0.05, size=a.positions.shape)
        out.append(_label(a, calc, "test"))
    return out


def test_tersoff_refit_recovers_the_potential_that_made_the_data():
    truth = dict(tersoff_fit.TERSOFF_C)
    start = {k: (1.15 * v if k in tersoff_fit.FITTED else v) for k, v in truth.items()}
    start["h"] = -0.5
    for f in (train := _frames(truth, 12, 0)):
        f.info["energy"] += 7.0 * len(f)        # a DFT-like energy zero, fitted as e0
    params, report = tersoff_fit.fit(train, start=start, log=lambda *_: None)
    assert report["before"]["forces eV/Å"] > 0.3       # the start is far off ...
    assert report["after"]["forces eV/Å"] < 1e-4       # ... and the refit lands on the truth
    assert abs(params["e0"] - 7.0) < 1e-5
    fresh = _frames(truth, 4, 1)                        # unseen structures agree as well
    e, f, _ = tersoff_fit.predict(params, fresh)
    assert np.allclose(e + params["e0"] - 7.0, [x.info["energy"] / len(x) for x in fresh], atol=1e-6)
    assert np.allclose(f, np.concatenate([x.arrays["forces"].ravel() for x in fresh]), atol=1e-4)


def test_tersoff_refit_needs_labels():
    a = bulk("C", "diamond", a=3.57)
    with pytest.raises(ValueError, match="frame 0: a Tersoff refit needs the reference energy"):
        tersoff_fit.fit([a])


def test_quasi_harmonic_expansion_obeys_the_grueneisen_relation():
    """α = γ C_V / (3 B V) (Grüneisen), every factor at the QHA's volume at 300 K: γ = -dln<ω>/dlnV
    from the phonons of two nearby volumes, C_V from the phonons, B = V d²E/dV² of the static
    energy, by finite differences: independent of phonopy's free-energy minimisation. EMT Cu."""
    from ase.units import kB

    from soapgap.thermal_expansion import at_temperature, thermal_expansion

    calc = EMT()
    res = thermal_expansion(calc, "Cu", "fcc", supercell=2)
    assert 0 < at_temperature(res, "alpha", 10) < 0.05 * at_temperature(res, "alpha", 300)  # α → 0 as T → 0
    assert at_temperature(res, "a", 0) > res["a0_static"]          # zero-point expansion
    a_t = at_temperature(res, "a", 300)
    ph = force_constants(calc, "Cu", "fcc", a_t, 2)
    ph.run_mesh([16] * 3, is_gamma_center=True)
    ph.run_thermal_properties(temperatures=[300.0])
    cv = ph.get_thermal_properties_dict()["heat_capacity"][0] / 96.485e3   # J/K/mol -> eV/K per atom
    assert 0.9 * 3 * kB < cv < 3 * kB
    logw, energies, volumes = [], [], []
    for eps in (-0.003, 0.0, 0.003):
        prim = bulk("Cu", "fcc", a=a_t * (1 + eps))
        prim.calc = calc
        energies.append(prim.get_potential_energy())
        volumes.append(prim.get_volume())
        if eps:
            ph = force_constants(calc, "Cu", "fcc", a_t * (1 + eps), 2)
            ph.run_mesh([16] * 3, is_gamma_center=True)
            w = ph.mesh.frequencies.ravel()
            logw.append(np.mean(np.log(w[w > 0.1])))
    gamma = -(logw[1] - logw[0]) / np.log(volumes[2] / volumes[0])
    b = volumes[1] * np.polyfit(volumes, energies, 2)[0] * 2                 # eV/Å³
    assert at_temperature(res, "alpha", 300) == pytest.approx(gamma * cv / (3 * b * volumes[1]), rel=0.05)


def test_diamond_phonons_use_the_fcc_path():
    calc = reference_calculator(REBO.format(d=potentials_dir()))
    r = phonons(calc, None, "C", "diamond", supercell=2)
    assert r["data"]["labels"] == ["Γ", "X", "K", "Γ", "L"]
    f = r["data"]["model"]["frequencies"]
    assert np.allclose(f[0, :3], 0, atol=0.05)          # acoustic modes vanish at Γ
    assert np.allclose(f[0, 3:], f[0, 3], atol=0.05)    # the triply degenerate optical mode at Γ
    assert 35 < f[0, 3] < 50                            # REBO's Raman frequency (experiment: 39.9 THz)
    assert _own_a0(calc, "C", "diamond") == pytest.approx(3.566, abs=0.002)


# ---------------------------------------------------------------- the stored DFT data set (PBE, GPAW)
DIAMOND_DATA = os.path.join(TEST_DATA, "diamond_pbe.xyz")


@pytest.fixture(scope="module")
def diamond_dft():
    import ase.io

    frames = ase.io.read(DIAMOND_DATA, ":")
    with open(os.path.join(TEST_DATA, "diamond_pbe_elastic.json")) as fh:
        elastic = json.load(fh)
    return frames, elastic


def test_diamond_gap_reproduces_the_dft_elastic_constants_rebo_does_not(diamond_dft):
    """The comparison of docs/diamond.md rerun from the stored DFT frames, at test size: a GAP on every
    frame gets C11, C12, C44⁰ and C44 of PBE within a few per cent; REBO (published parameters)
    misses C44 by over 20 %; the Tersoff form refitted to the same frames fits their forces worse
    than the GAP."""
    import soapgap

    frames, dft = diamond_dft
    assert len(frames) >= 200 and {f.info["config_type"] for f in frames} == {"md", "strained"}
    gap = soapgap.Potential.fit(frames, DIAMOND_GAP, default_sigma=(0.001, 0.05, 0.01), e0_method="average",
                                sparse_jitter=1e-8)
    el = elastic_constants(gap.calculator(), None, "C", "diamond")["values"]
    keys = ("C11", "C12", "C44_unrelaxed", "C44")
    got = np.array([el[k]["model"] for k in keys])
    want = np.array([dft["elastic"][k] for k in keys])
    assert np.all(np.abs(got - want) < np.array([0.03, 0.1, 0.03, 0.03]) * want), (got, want)
    rebo = elastic_constants(reference_calculator(REBO.format(d=potentials_dir())), None, "C", "diamond")["values"]
    assert rebo["C44"]["model"] > 1.2 * dft["elastic"]["C44"]
    rng = np.random.default_rng(1)
    subset = [frames[i] for i in rng.choice(len(frames), 40, replace=False)]
    _, report = tersoff_fit.fit(subset, sigma=(0.001, 0.05, 0.01), max_evaluations=150, log=lambda *_: None)
    f_ref = np.concatenate([f.get_forces().ravel() for f in subset])
    f_gap = np.concatenate([gap.predict(f, forces=True)["forces"].ravel() for f in subset])
    assert np.sqrt(np.mean((f_gap - f_ref) ** 2)) < 0.5 * report["after"]["forces eV/Å"]
