"""Baselines (analytic terms and models as baselines): reference values (Madelung constants, the
published ZBL formula), LAMMPS on the same terms, finite differences of forces and virials, model
files, fits on the residual and bad input."""
import math

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

import soapgap
from lammps_reference import run as lammps_run

P = soapgap.Potential
KE = 14.3996454784255  # e²/4πε₀, eV·Å (CODATA 2018)
KE_LAMMPS = 14.399645  # LAMMPS `units metal` qqr2e


def triclinic_pair_cell(a, b, n=(1, 1, 1), seed=0, scale=3.0, rattle=0.15):
    """A rattled two-species rocksalt-like cell with a sheared (triclinic) lattice."""
    at = bulk("NaCl", "rocksalt", a=2 * scale).repeat(n)
    at.set_chemical_symbols([a if s == "Na" else b for s in at.get_chemical_symbols()])
    cell = at.cell.array @ np.array([[1, 0.08, -0.05], [0.03, 1, 0.1], [0.0, -0.07, 1]])
    at.set_cell(cell, scale_atoms=True)
    at.rattle(rattle, seed=seed)
    return at


def fd_errors(pot, atoms, h=1e-5):
    """Largest |analytic − central difference| over forces and virial, relative to the largest entry."""
    r = pot.predict(atoms)
    f_fd = np.zeros_like(r["forces"])
    for i in range(len(atoms)):
        for c in range(3):
            e = []
            for s in (h, -h):
                a = atoms.copy()
                a.positions[i, c] += s
                e.append(pot.predict(a, forces=False)["energy"])
            f_fd[i, c] = -(e[0] - e[1]) / (2 * h)
    w_fd = np.zeros((3, 3))
    for p in range(3):
        for q in range(3):
            e = []
            for s in (h, -h):
                eps = np.eye(3)
                eps[p, q] += s
                a = atoms.copy()
                a.set_cell(atoms.cell.array @ eps, scale_atoms=True)
                if not atoms.pbc.any():
                    a.positions = atoms.positions @ eps
                e.append(pot.predict(a, forces=False)["energy"])
            w_fd[p, q] = -(e[0] - e[1]) / (2 * h)
    ferr = np.abs(r["forces"] - f_fd).max() / np.abs(r["forces"]).max()
    werr = np.abs(r["virial"] - w_fd).max() / np.abs(r["virial"]).max()
    assert abs(r["energies"].sum() - r["energy"]) < 1e-10 * max(1, abs(r["energy"]))
    return ferr, werr


# --- Coulomb ---------------------------------------------------------------------------------

MADELUNG = [  # (structure, nearest-neighbour distance 1 Å, Madelung constant per ion pair)
    ("rocksalt", lambda: bulk("NaCl", "rocksalt", a=2.0), 1.747564594633182),
    ("caesium chloride", lambda: bulk("CsCl", "cesiumchloride", a=2 / math.sqrt(3)), 1.762674773070992),
    ("zincblende", lambda: bulk("NaCl", "zincblende", a=4 / math.sqrt(3)), 1.638055053388789),
]


@pytest.mark.parametrize("name,make,madelung", MADELUNG, ids=[m[0] for m in MADELUNG])
def test_ewald_madelung_constants(name, make, madelung):
    for rep in [(1, 1, 1), (2, 1, 3)]:
        at = make().repeat(rep)
        sp = sorted(set(at.get_chemical_symbols()), key=at.get_chemical_symbols().index)
        c = P.from_baselines([f"coulomb species={{{sp[0]} {sp[1]}}} charges={{1 -1}} accuracy=1e-12"])
        r = c.predict(at)
        m = -r["energy"] / (len(at) / 2) / KE
        assert abs(m - madelung) < 1e-8 * madelung, (name, rep, m)
        # every ion of a species has the same energy: half the pair's Madelung energy
        assert np.ptp(r["energies"]) < 1e-9
        # a perfect ionic crystal: no forces, isotropic virial W = E (E ∝ 1/length)
        assert np.abs(r["forces"]).max() < 1e-9
        assert np.abs(r["virial"] - r["energy"] * np.eye(3) / 3).max() < 1e-8 * abs(r["energy"])


def test_ewald_independent_of_splitting():
    at = triclinic_pair_cell("Na", "Cl", seed=3)
    energies = []
    for extra in ["", "alpha=0.3", "alpha=0.9", "cutoff=12"]:
        c = P.from_baselines([f"coulomb species={{Na Cl}} charges={{1 -1}} accuracy=1e-13 {extra}"])
        r = c.predict(at)
        energies.append((r["energy"], r["forces"], r["virial"]))
    for e, f, w in energies[1:]:
        assert abs(e - energies[0][0]) < 1e-9 * abs(e)
        assert np.abs(f - energies[0][1]).max() < 1e-8
        assert np.abs(w - energies[0][2]).max() < 1e-8


def test_ewald_converges_to_direct_sum_for_a_cluster_in_growing_boxes():
    # a neutral, symmetric 4×4×4 NaCl cube (no dipole): the periodic energy tends to the open one
    cube = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((2, 2, 2))
    cube.pbc = False
    cube.center(vacuum=0)
    spec = "coulomb species={Na Cl} charges={1 -1} accuracy=1e-12"
    c = P.from_baselines([spec])
    direct = c.predict(cube)["energy"]
    # direct sum checked independently (numpy)
    q = np.where(np.array(cube.get_chemical_symbols()) == "Na", 1.0, -1.0)
    d = np.linalg.norm(cube.positions[:, None] - cube.positions[None], axis=-1)
    iu = np.triu_indices(len(cube), 1)
    assert abs(direct - KE * np.sum((q[:, None] * q[None])[iu] / d[iu])) < 1e-9 * abs(direct)
    errors = []
    for box in (30.0, 45.0, 60.0):
        a = cube.copy()
        a.set_cell([box] * 3)
        a.center()
        a.pbc = True
        errors.append(abs(c.predict(a)["energy"] - direct))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-3 * abs(direct) / 100


def test_coulomb_matches_lammps_ewald():
    at = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((2, 1, 1))
    at.rattle(0.1, seed=1)
    q = np.where(np.array(at.get_chemical_symbols()) == "Na", 0.8, -0.8)
    c = P.from_baselines([f"coulomb species={{Na Cl}} charges={{0.8 -0.8}} accuracy=1e-14 coulomb_constant={KE_LAMMPS}"])
    r = c.predict(at)
    e, f, w = lammps_run(at, ["Na", "Cl"], "pair_style coul/long 12.0\npair_modify table 0\npair_coeff * *\n"
                                           "kspace_style ewald 1e-10\n", charges=q)
    # LAMMPS' coul/long evaluates erfc with the 5-term polynomial of Abramowitz & Stegun 7.1.26
    # (|error| ≤ 1.5e-7): its energies move by ~1e-6 relative with the splitting, ours by < 1e-12
    assert abs(r["energy"] - e) < 3e-6 * abs(e)
    assert np.abs(r["forces"] - f).max() < 3e-5 * np.abs(f).max()
    assert np.abs(r["virial"] - w).max() < 3e-5 * np.abs(w).max()


def test_coulomb_forces_and_virial_by_finite_differences():
    periodic = triclinic_pair_cell("Na", "Cl", seed=1)
    for spec in ["coulomb species={Na Cl} charges={1.1 -1.1} accuracy=1e-12",
                 "coulomb species={Na Cl} charges={1.1 -1.1} accuracy=1e-12 damping_width=1.5"]:
        ferr, werr = fd_errors(P.from_baselines([spec]), periodic)
        assert ferr < 1e-7 and werr < 1e-7, (spec, ferr, werr)
    cluster = periodic.copy()
    cluster.pbc = False
    cluster.cell = None
    for spec in ["coulomb species={Na Cl} charges={1 -0.7}", "coulomb species={Na Cl} charges={1 -0.7} damping_width=2"]:
        ferr, werr = fd_errors(P.from_baselines([spec]), cluster)
        assert ferr < 1e-7 and werr < 1e-7, (spec, ferr, werr)


def test_coulomb_damping_limits():
    # erf(r/w)/r → 1/r for r ≫ w: a dimer at 12 Å with w = 1 Å equals the plain sum
    dimer = Atoms("NaCl", positions=[[0, 0, 0], [12, 0, 0]])
    plain = P.from_baselines(["coulomb species={Na Cl} charges={1 -1}"]).predict(dimer)["energy"]
    damped = P.from_baselines(["coulomb species={Na Cl} charges={1 -1} damping_width=1"]).predict(dimer)["energy"]
    assert abs(plain + KE / 12) < 1e-12 and abs(damped - plain) < 1e-12
    # and stays finite at contact: 2/(√π w) at r → 0
    close = Atoms("NaCl", positions=[[0, 0, 0], [0.02, 0, 0]])
    e = P.from_baselines(["coulomb species={Na Cl} charges={1 -1} damping_width=1"]).predict(close)["energy"]
    assert abs(e + KE * 2 / math.sqrt(math.pi)) < 1e-3 * KE


# --- ZBL -------------------------------------------------------------------------------------

def zbl_published(z1, z2, r):
    """ZBL universal screened Coulomb potential (Ziegler, Biersack, Littmark 1985), written out."""
    a = 0.46850 / (z1 ** 0.23 + z2 ** 0.23)
    x = r / a
    phi = 0.18175 * math.exp(-3.19980 * x) + 0.50986 * math.exp(-0.94229 * x) + \
        0.28022 * math.exp(-0.40290 * x) + 0.02817 * math.exp(-0.20162 * x)
    return KE * z1 * z2 / r * phi


def test_zbl_equals_the_published_formula_below_the_switch():
    # below r_inner the term is ZBL plus the switch's constant C; the difference of two distances
    # removes C, and a dimer gives the pair energy itself
    zbl = P.from_baselines(["zbl r_inner=2.0 r_outer=2.5"])
    for z1, z2 in [(74, 74), (74, 2), (14, 6)]:
        pts = [0.3, 0.7, 1.1, 1.6, 1.9]
        e = [zbl.predict(Atoms(numbers=[z1, z2], positions=[[0, 0, 0], [r, 0, 0]]))["energy"] for r in pts]
        ref = [zbl_published(z1, z2, r) for r in pts]
        for k in range(1, len(pts)):
            assert abs((e[k] - e[0]) - (ref[k] - ref[0])) < 1e-10 * abs(ref[0])
    # at and beyond r_outer: nothing; energy and force continuous at r_outer
    d = lambda r: Atoms(numbers=[74, 74], positions=[[0, 0, 0], [r, 0, 0]])
    assert zbl.predict(d(2.5))["energy"] == 0.0
    assert abs(zbl.predict(d(2.5 - 1e-6))["energy"]) < 1e-12
    assert abs(zbl.predict(d(2.5 - 1e-6))["forces"][0, 0]) < 1e-8


def test_zbl_matches_lammps_pair_style_zbl():
    at = Atoms("W4He2", positions=[[0, 0, 0], [1.2, 0.3, 0.1], [0.4, 1.5, 0.2], [1.9, 1.4, 0.9],
                                     [0.8, 0.7, 1.3], [2.2, 0.2, 1.6]], cell=[4.1, 3.9, 4.3], pbc=True)
    spec = f"zbl r_inner=1.0 r_outer=2.2 coulomb_constant={KE_LAMMPS}"
    r = P.from_baselines([spec]).predict(at)
    e, f, w = lammps_run(at, ["W", "He"], "pair_style zbl 1.0 2.2\npair_coeff 1 1 74 74\npair_coeff 1 2 74 2\npair_coeff 2 2 2 2\n")
    assert abs(r["energy"] - e) < 1e-10 * abs(e)
    assert np.abs(r["forces"] - f).max() < 1e-9 * np.abs(f).max()
    assert np.abs(r["virial"] - w).max() < 1e-7 * np.abs(w).max()  # LAMMPS prints the pressure to ~1e-8


def test_zbl_forces_and_virial_by_finite_differences():
    at = triclinic_pair_cell("W", "He", scale=1.0, rattle=0.1, seed=2)  # cell below the cutoff: images
    ferr, werr = fd_errors(P.from_baselines(["zbl r_inner=0.8 r_outer=2.4"]), at)
    assert ferr < 1e-7 and werr < 1e-7


# --- dispersion ------------------------------------------------------------------------------

@pytest.mark.parametrize("damping", ["bj", "tt", "none"])
def test_dispersion_forces_and_virial_by_finite_differences(damping):
    at = triclinic_pair_cell("O", "H", scale=1.6, seed=4)
    extra = {"bj": "r0={1.342 1.001} a1=0.5 a2=1.0", "tt": "b={3.5 4.0}", "none": ""}[damping]
    spec = f"dispersion damping={damping} species={{O H}} c6={{7.25 1.45}} {extra} cutoff=7 cutoff_width=1.5"
    ferr, werr = fd_errors(P.from_baselines([spec]), at)
    assert ferr < 1e-7 and werr < 1e-7, (ferr, werr)


def test_dispersion_values():
    # dimer well inside the plain region: −C6 f/r⁶ with C6_ij = s6 √(C6_i C6_j)
    r = 3.0
    dimer = Atoms("OH", positions=[[0, 0, 0], [r, 0, 0]])
    c6 = 0.75 * math.sqrt(7.25 * 1.45)
    bj = P.from_baselines(["dispersion damping=bj species={O H} c6={7.25 1.45} r0={1.342 1.001} a1=0.4 a2=2.0 s6=0.75 cutoff=9"])
    R = 0.4 * (1.342 + 1.001) + 2.0
    assert abs(bj.predict(dimer)["energy"] + c6 / (r ** 6 + R ** 6)) < 1e-14
    tt = P.from_baselines(["dispersion damping=tt species={O H} c6={7.25 1.45} b={3 4} s6=0.75 cutoff=9"])
    x = math.sqrt(12) * r
    f6 = 1 - math.exp(-x) * sum(x ** k / math.factorial(k) for k in range(7))
    assert abs(tt.predict(dimer)["energy"] + c6 * f6 / r ** 6) < 1e-14
    # smooth tail: continuous to zero at the cutoff
    far = Atoms("OH", positions=[[0, 0, 0], [9 - 1e-7, 0, 0]])
    assert abs(tt.predict(far)["energy"]) < 1e-18


# --- tabulated pairs -------------------------------------------------------------------------

def morse(r, d=0.8, a=1.6, r0=2.3):
    e = d * (np.exp(-2 * a * (r - r0)) - 2 * np.exp(-a * (r - r0)))
    f = 2 * a * d * (np.exp(-2 * a * (r - r0)) - np.exp(-a * (r - r0)))  # −dE/dr
    return e, f


def write_table(path, n=2000, rlo=1.0, rhi=6.0, keyword="MORSE"):
    r = np.linspace(rlo, rhi, n)
    e, f = morse(r)
    e = e - morse(rhi)[0]  # zero at the cutoff
    with open(path, "w") as out:
        out.write(f"# Morse pair potential\n\n{keyword}\nN {n} R {rlo} {rhi}\n\n")
        for k in range(n):
            out.write(f"{k + 1} {r[k]:.16e} {e[k]:.16e} {f[k]:.16e}\n")
    return path


def test_table_interpolates_to_the_function(tmp_path):
    tab = write_table(tmp_path / "morse.table")
    p = P.from_baselines([f"table file={tab} keyword=MORSE species={{Fe Fe}}"])
    for r in [1.05, 1.7777, 2.3, 3.14159, 5.5]:
        res = p.predict(Atoms("Fe2", positions=[[0, 0, 0], [r, 0, 0]]))
        e, f = morse(r)
        assert abs(res["energy"] - (e - morse(6.0)[0])) < 1e-9
        assert abs(res["forces"][1, 0] - f) < 1e-7


def test_table_matches_lammps_pair_style_table(tmp_path):
    tab = write_table(tmp_path / "morse.table")
    at = Atoms("Fe6Al2", positions=np.random.default_rng(5).uniform(0, 4.5, (8, 3)), cell=[6.5, 6.7, 6.9], pbc=True)
    at.set_distance(0, 1, 1.3)
    p = P.from_baselines([f"table file={tab} keyword=MORSE species={{Fe Fe}}"])
    r = p.predict(at)
    e, f, w = lammps_run(at, ["Fe", "Al"], f"pair_style hybrid table spline 20000 zero 6.0\n"
                                           f"pair_coeff 1 1 table {tab} MORSE\npair_coeff 1 2 zero\npair_coeff 2 2 zero\n")
    assert abs(r["energy"] - e) < 1e-7 * abs(e)
    assert np.abs(r["forces"] - f).max() < 1e-6 * np.abs(f).max()
    assert np.abs(r["virial"] - w).max() < 1e-6 * np.abs(w).max()


def test_table_forces_and_virial_by_finite_differences(tmp_path):
    tab = write_table(tmp_path / "morse.table", n=300)  # coarse: exercises the interpolation
    at = triclinic_pair_cell("Fe", "Ni", scale=1.5, rattle=0.1, seed=6)
    p = P.from_baselines([f"table file={tab} keyword=MORSE species={{Fe Ni}}"])
    ferr, werr = fd_errors(p, at)
    assert ferr < 1e-7 and werr < 1e-7


# --- model files and the ASE calculator -------------------------------------------------------

def test_baseline_model_file_round_trip(tmp_path):
    tab = write_table(tmp_path / "morse.table", n=100)
    specs = ["coulomb species={Na Cl} charges={1 -1} damping_width=1.0", "zbl r_inner=0.5 r_outer=1.5",
             "dispersion damping=tt species={Na Cl} c6={10 20} b={3 3} cutoff=6",
             f"table file={tab} keyword=MORSE species={{Na Cl}}"]
    p = P.from_baselines(specs)
    path = tmp_path / "base.json"
    p.save(path)
    (tmp_path / "morse.table").unlink()  # the model holds the table by value
    q = P.load(path)
    at = triclinic_pair_cell("Na", "Cl", seed=8)
    a, b = p.predict(at), q.predict(at)
    assert a["energy"] == b["energy"] and np.array_equal(a["forces"], b["forces"])
    assert q.baselines == p.baselines
    calc = q.calculator()
    at.calc = calc
    assert at.get_potential_energy() == a["energy"]
    assert np.allclose(at.get_stress(), -a["virial"][[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]] / at.get_volume())
    import json
    assert json.load(open(path))["version"] == 2


def test_model_without_baselines_is_still_format_version_1(emt_potential, tmp_path):
    import json
    emt_potential.save(tmp_path / "m.json")
    assert json.load(open(tmp_path / "m.json"))["version"] == 1


# --- bad input -------------------------------------------------------------------------------

def test_bad_baselines_are_clear_errors(tmp_path):
    E = soapgap.SoapgapError if hasattr(soapgap, "SoapgapError") else Exception
    charged = bulk("NaCl", "rocksalt", a=5.64)
    with pytest.raises(E, match="charges sum to .* neutral"):
        P.from_baselines(["coulomb species={Na Cl} charges={1 -0.5}"]).predict(charged)
    ok = P.from_baselines(["coulomb species={Na Cl} charges={1 -0.5} background=T"]).predict(charged)
    assert np.isfinite(ok["energy"])
    with pytest.raises(E, match="Cl has no charge"):
        P.from_baselines(["coulomb species={Na} charges={1}"]).predict(charged)
    slab = charged.copy()
    slab.pbc = [True, True, False]
    with pytest.raises(E, match="fully periodic"):
        P.from_baselines(["coulomb species={Na Cl} charges={1 -1}"]).predict(slab)
    bad = tmp_path / "bad.table"
    bad.write_text("KEY\nN 3\n\n1 1.0 1 0\n2 0.9 0.5 0\n3 2.0 0 0\n")
    with pytest.raises(E, match="not strictly increasing at point 2"):
        P.from_baselines([f"table file={bad} keyword=KEY species={{Fe Fe}}"])
    with pytest.raises(E, match="no section 'NOPE'"):
        P.from_baselines([f"table file={bad} keyword=NOPE species={{Fe Fe}}"])
    with pytest.raises(E, match="unknown baseline kind 'lj'"):
        P.from_baselines(["lj epsilon=1"])
    with pytest.raises(E, match="unknown key 'r_inn'"):
        P.from_baselines(["zbl r_inn=1 r_outer=2"])
    with pytest.raises(E, match="r_inner < r_outer"):
        P.from_baselines(["zbl r_inner=2 r_outer=1"])
    with pytest.raises(E, match="Ewald settings .* closer to the defaults"):
        P.from_baselines(["coulomb species={Na Cl} charges={1 -1} alpha=0.001"]).predict(charged)
    with pytest.raises(E, match="accuracy must be between"):
        P.from_baselines(["coulomb species={Na Cl} charges={1 -1} accuracy=1e-300"])
    with pytest.raises(E, match="would need"):
        P.from_baselines(["dispersion species={Na Cl} c6={1 1} r0={1 1} cutoff=5000"]).predict(charged)
    with pytest.raises(E, match="no C6"):
        P.from_baselines(["dispersion species={Na} c6={1} r0={1} cutoff=5"]).predict(charged)
    good = tmp_path / "good.table"
    good.write_text("KEY\nN 3\n\n1 1.0 1 0\n2 1.5 0.5 0\n3 2.0 0 0\n")
    with pytest.raises(E, match="below the first point"):
        P.from_baselines([f"table file={good} keyword=KEY species={{Fe Fe}}"]).predict(
            Atoms("Fe2", positions=[[0, 0, 0], [0.8, 0, 0]]))


# --- fitting on the residual ------------------------------------------------------------------

SMALL_GAP = "soap n_max=4 l_max=3 atom_sigma=0.5 cutoff=4.0 cutoff_transition_width=1.0 delta=0.2 zeta=2 n_sparse=40 sparse_method=cur_points"


def emt_frames(symbols_of, n_frames, seed, reps=2):
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_frames):
        at = bulk("Cu", "fcc", a=3.6 * rng.uniform(0.97, 1.04), cubic=True).repeat((reps, reps, reps))
        at.set_chemical_symbols(symbols_of(len(at), rng))
        at.positions += rng.normal(scale=0.12, size=at.positions.shape)
        at.calc = EMT()
        e, f, s = at.get_potential_energy(), at.get_forces(), at.get_stress()
        at.calc = SinglePointCalculator(at, energy=e, forces=f, stress=s)
        frames.append(at)
    return frames


def isolated(symbol):
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    at = Atoms(symbol, positions=[[0, 0, 0]])
    at.calc = EMT()
    e = at.get_potential_energy()
    at.calc = SinglePointCalculator(at, energy=e, forces=np.zeros((1, 3)))
    at.info["config_type"] = "isolated_atom"
    return at


def residual_frames(frames, base):
    from ase.calculators.singlepoint import SinglePointCalculator

    out = []
    for at in frames:
        b = base.predict(at)
        r = at.copy()
        stress = at.get_stress() if at.pbc.all() else None
        kw = dict(energy=at.get_potential_energy() - b["energy"], forces=at.get_forces() - b["forces"])
        if stress is not None:
            kw["stress"] = stress - b["stress"]
        r.calc = SinglePointCalculator(r, **kw)
        r.info.update(at.info)
        out.append(r)
    return out


def test_fit_with_baseline_learns_the_residual():
    frames = emt_frames(lambda n, rng: ["Cu"] * n, 6, seed=1) + [isolated("Cu")]
    base_specs = ["zbl r_inner=1.0 r_outer=2.0", "dispersion damping=bj species={Cu} c6={30} a2=3 cutoff=6"]
    base = P.from_baselines(base_specs)
    with_baseline = P.fit(frames, SMALL_GAP, baseline=base_specs, e0_method="isolated")
    plain_on_residual = P.fit(residual_frames(frames, base), SMALL_GAP, e0_method="isolated")
    assert with_baseline.baselines == base.baselines
    assert with_baseline.e0 == pytest.approx(plain_on_residual.e0, abs=1e-12)
    test = emt_frames(lambda n, rng: ["Cu"] * n, 2, seed=7)
    for at in test:
        a, b, c = with_baseline.predict(at), plain_on_residual.predict(at), base.predict(at)
        assert abs(a["energy"] - (b["energy"] + c["energy"])) < 1e-8 * len(at)
        assert np.abs(a["forces"] - (b["forces"] + c["forces"])).max() < 1e-8
        assert np.abs(a["virial"] - (b["virial"] + c["virial"])).max() < 1e-8


def test_species_added_on_top_of_a_fixed_model_leave_its_predictions_unchanged(tmp_path):
    cu_only = emt_frames(lambda n, rng: ["Cu"] * n, 6, seed=2) + [isolated("Cu")]
    base = P.fit(cu_only, SMALL_GAP + " add_species=T", e0_method="isolated")
    base.save(tmp_path / "cu.json")
    alloy = emt_frames(lambda n, rng: list(rng.choice(["Cu", "Au"], size=n, p=[0.8, 0.2])), 8, seed=3) + [isolated("Au")]
    # only terms that involve Au: Cu–Au and Au–Au pairs, and SOAP centred on Au
    # (add_species=F: gap_fit's default add_species=T would also centre SOAP on Cu)
    top_gap = ("distance_2b Z1=29 Z2=79 cutoff=4.0 cutoff_transition_width=1.0 delta=0.5 theta_uniform=1.0 n_sparse=15 "
               "sparse_method=uniform add_species=F : distance_2b Z1=79 Z2=79 cutoff=4.0 cutoff_transition_width=1.0 "
               "delta=0.5 theta_uniform=1.0 n_sparse=15 sparse_method=uniform add_species=F : "
               "soap n_max=4 l_max=3 atom_sigma=0.5 cutoff=4.0 cutoff_transition_width=1.0 delta=0.2 zeta=2 "
               "n_sparse=30 sparse_method=cur_points Z={79} n_species=2 species_Z={29 79} add_species=F")
    top = P.fit(alloy, top_gap, baseline=str(tmp_path / "cu.json"), e0_method="isolated")
    assert top.e0[29] == 0.0 and top.e0[79] != 0.0
    top.save(tmp_path / "cuau.json")
    top = P.load(tmp_path / "cuau.json")
    for at in emt_frames(lambda n, rng: ["Cu"] * n, 3, seed=9):
        a, b = top.predict(at), base.predict(at)
        assert a["energy"] == b["energy"]
        assert np.array_equal(a["forces"], b["forces"]) and np.array_equal(a["virial"], b["virial"])
    # and the alloy is learned: the composite beats the Cu model alone on held-out alloy frames
    held_out = emt_frames(lambda n, rng: list(rng.choice(["Cu", "Au"], size=n, p=[0.8, 0.2])), 3, seed=11)
    err_top = np.mean([abs(top.predict(a)["energy"] - a.get_potential_energy()) / len(a) for a in held_out])
    assert err_top < 0.01  # eV/atom
    with pytest.raises(Exception, match="Au, a species the model was not trained on"):
        base.predict(held_out[0])


def test_model_baseline_refuses_species_its_descriptors_see(tmp_path):
    cu_only = emt_frames(lambda n, rng: ["Cu"] * n, 3, seed=2) + [isolated("Cu")]
    base = P.fit(cu_only, SMALL_GAP + " add_species=F", e0_method="isolated")  # species-blind SOAP: Au changes it
    base.save(tmp_path / "blind.json")
    alloy = emt_frames(lambda n, rng: ["Cu"] * (n - 1) + ["Au"], 2, seed=3) + [isolated("Au")]
    with pytest.raises(Exception, match="descriptor sees this species"):
        P.fit(alloy, SMALL_GAP, baseline=str(tmp_path / "blind.json"))


def test_cli_fit_with_baselines_and_gap_fit_core_options(cli, tmp_path):
    import subprocess

    import ase.io

    def run(*args, ok=True):
        p = subprocess.run([cli, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert (p.returncode == 0) == ok, p.stdout + p.stderr
        return p

    frames = emt_frames(lambda n, rng: ["Cu"] * n, 5, seed=4) + [isolated("Cu")]
    ase.io.write(tmp_path / "train.xyz", frames)
    specs = ["zbl r_inner=1.0 r_outer=2.0", "dispersion damping=bj species={Cu} c6={30} a2=3 cutoff=6"]
    p = run("fit", "--train", "train.xyz", "--gap", SMALL_GAP, "--baseline", specs[0], "--baseline", specs[1],
            "--output", "m.json")
    assert p.stdout.count("[baseline]") == 3  # two terms announced, one subtraction
    cli_model = P.load(tmp_path / "m.json")
    py_model = P.fit(frames, SMALL_GAP, baseline=specs)
    assert cli_model.baselines == py_model.baselines
    test = emt_frames(lambda n, rng: ["Cu"] * n, 2, seed=8)
    ase.io.write(tmp_path / "test.xyz", test)
    run("eval", "--model", "m.json", "--input", "test.xyz", "--output", "pred.xyz")
    for a, ref in zip(ase.io.read(tmp_path / "pred.xyz", ":"), ase.io.read(tmp_path / "test.xyz", ":")):
        assert abs(a.info["soapgap_energy"] - py_model.predict(ref)["energy"]) < 1e-6  # extxyz text precision
    # gap_fit's core_param_file/core_ip_args: an IP GAP maps onto a model baseline, other IPs are refused
    run("fit", "at_file=train.xyz", "gap={" + SMALL_GAP + "}", "core_param_file=m.json", "core_ip_args={IP GAP}",
        "gp_file=top.json")
    assert P.load(tmp_path / "top.json").baselines[0].startswith("model")
    p = run("fit", "at_file=train.xyz", "gap={" + SMALL_GAP + "}", "core_param_file=glue.xml", "core_ip_args={IP Glue}",
            "gp_file=x.json", ok=False)
    assert "core_ip_args='IP Glue' is not supported" in p.stderr
    # a model with baselines cannot be written as QUIP XML
    p = run("fit", "--train", "train.xyz", "--gap", SMALL_GAP, "--baseline", specs[0], "--output", "m.xml", ok=False)
    assert "cannot carry" in p.stderr


def test_water_dimer_example_baseline_improves_long_range_errors():
    """The worked example at reduced size: GFN2-xTB (tblite) water dimers; the Coulomb + dispersion
    baseline must at least halve the interaction error beyond the cutoff and lower it inside."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "water_dimer", "run_water_dimer.py")
    spec = importlib.util.spec_from_file_location("run_water_dimer", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    _, rows, _ = example.run(n_train=150, n_test=40, log=lambda m: None)
    plain, based = rows
    assert based["far_mae_meV"] < 0.5 * plain["far_mae_meV"], rows
    assert based["near_mae_meV"] < plain["near_mae_meV"], rows
