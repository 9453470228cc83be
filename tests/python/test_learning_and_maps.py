"""Property learning with structure kernels (GP against dense formulas, cross-validation,
learning curves on EMT energies of molecules) and 2D maps (kernel PCA and MDS against PCA of
explicit features), through the Python API and the `soapgap learn` / `soapgap map` commands."""
import json
import subprocess

import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.emt import EMT

from soapgap.learning import GPModel, composition, cross_validate, learn, learning_curve
from soapgap.maps import classical_mds, kernel_pca
from soapgap.similarity import structure_kernel

DESC = "soap n_max=6 l_max=4 atom_sigma=0.5 cutoff=4 n_species=4 species_Z={1 6 7 8}"
NAMES = ["CH4", "NH3", "H2O", "C2H6", "C2H4", "CH3OH", "HCN", "CH3CHO", "CH3CH2OH", "CH3NO2", "C2H2", "H2CO",
         "HCOOH", "N2H4", "CH3CN"]


@pytest.fixture(scope="module")
def emt_molecules():
    """150 rattled small molecules (H, C, N, O) with EMT energies: an extensive property."""
    rng = np.random.default_rng(0)
    frames = []
    for k in range(150):
        a = molecule(NAMES[k % len(NAMES)])
        a.positions += rng.normal(0, 0.08, a.positions.shape)
        a.calc = EMT()
        a.info["energy_emt"] = a.get_potential_energy()
        a.info["kind"] = NAMES[k % len(NAMES)]
        a.calc = None
        frames.append(a)
    return frames


def test_gp_matches_dense_formulas():
    rng = np.random.default_rng(1)
    F = rng.normal(size=(40, 6))
    K = F @ F.T + 0.1 * np.eye(40)
    y = F @ rng.normal(size=6) + 0.01 * rng.normal(size=40)
    tr, te = np.arange(30), np.arange(30, 40)
    lam = 1e-3
    m = GPModel(K[np.ix_(tr, tr)], y[tr], lam)
    mean, std = m.predict(K[np.ix_(te, tr)], K_test_diag=np.diag(K)[te])
    s = np.mean(np.diag(K)[tr])
    A = K[np.ix_(tr, tr)] / s + lam * np.eye(30)
    yc = y[tr] - y[tr].mean()
    ks = K[np.ix_(te, tr)] / s
    assert np.allclose(mean, ks @ np.linalg.solve(A, yc) + y[tr].mean(), rtol=1e-10)
    s2 = yc @ np.linalg.solve(A, yc) / 30
    var = s2 * (np.diag(K)[te] / s - np.einsum("ij,ji->i", ks, np.linalg.solve(A, ks.T)) + lam)
    assert np.allclose(std, np.sqrt(var), rtol=1e-8)


def test_cross_validation_and_composition(emt_molecules):
    counts, species = composition(emt_molecules)
    assert species == [1, 6, 7, 8]
    assert counts.sum() == sum(len(a) for a in emt_molecules)
    K = structure_kernel(emt_molecules, kind="sum", descriptor=DESC, zeta=2, normalise=False)
    y = np.array([a.info["energy_emt"] for a in emt_molecules])
    xi, lam, table = cross_validate(K, y, np.arange(100), counts, exponents=(1,), folds=4)
    assert len(table) == 8 and min(t[2] for t in table) == [t[2] for t in table if t[1] == lam][0]
    res = learn(K, y, np.arange(100), np.arange(100, 150), counts, exponents=(1,), folds=4)
    # the composition baseline alone, for comparison
    mu = np.linalg.lstsq(counts[:100], y[:100], rcond=None)[0]
    base_mae = np.mean(np.abs(counts[100:] @ mu - y[100:]))
    assert res["mae"] < base_mae / 3, (res["mae"], base_mae)  # measured: 0.22 against 0.99 eV
    assert res["rmse"] >= res["mae"]
    assert np.all(res["std"] > 0)
    # Delta-learning on a reference that is the answer up to energies per species leaves nothing
    ref = y - counts @ [0.1, 0.2, 0.3, 0.4]
    res = learn(K, y, np.arange(100), np.arange(100, 150), counts, reference=ref, exponents=(1,), folds=4)
    assert res["mae"] < 1e-5


def test_learning_curve_falls(emt_molecules):
    K = structure_kernel(emt_molecules, kind="rematch", descriptor=DESC, zeta=2, gamma=0.1)
    y = np.array([a.info["energy_emt"] for a in emt_molecules])
    counts, _ = composition(emt_molecules)
    rows = learning_curve(K, y, [10, 30, 100], np.arange(120, 150), np.arange(120), counts, splits=3, folds=3)
    assert [r["n_train"] for r in rows] == [10, 30, 100]
    assert rows[0]["mae"] > rows[1]["mae"] > rows[2]["mae"]
    assert rows[0]["splits"] == 3 and rows[0]["mae_spread"] > 0


def test_kernel_pca_and_mds_equal_pca_of_features():
    rng = np.random.default_rng(2)
    F = rng.normal(size=(50, 4)) * [5, 2, 0.5, 0.1]
    Fc = F - F.mean(axis=0)
    u, s, vt = np.linalg.svd(Fc, full_matrices=False)
    pca = u[:, :2] * s[:2]
    coords, explained = kernel_pca(F @ F.T)
    assert np.allclose(np.abs(coords), np.abs(pca), atol=1e-10)
    assert explained.sum() == pytest.approx((s[:2] ** 2).sum() / (s ** 2).sum())
    D = np.linalg.norm(F[:, None] - F[None], axis=2)
    mds, _ = classical_mds(D)
    assert np.allclose(np.abs(mds), np.abs(pca), atol=1e-8)


def test_cli_learn_and_map(tmp_path, cli, emt_molecules):
    import ase.io

    path = tmp_path / "mols.xyz"
    ase.io.write(path, emt_molecules, format="extxyz")
    out = tmp_path / "learn"
    run = subprocess.run([cli, "learn", "--input", str(path), "--property", "energy_emt", "--kind", "sum",
                          "--descriptor", DESC, "--train-size", "100", "--learning-curve", "20,50", "--splits", "2",
                          "--folds", "3", "--save-kernel", str(tmp_path / "K.npy"), "--output", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "[cv] 100 training structures: exponent 1, fold 3/3 done" in run.stderr  # progress of the long part
    res = json.loads((out / "results.json").read_text())
    assert res["result"]["n_train"] == 100 and res["result"]["n_test"] == 50
    assert [r["n_train"] for r in res["learning_curve"]] == [20, 50, 100]
    assert (out / "learning_curve.png").stat().st_size > 1000
    lines = (out / "predictions.csv").read_text().splitlines()
    assert len(lines) == 51 and lines[0] == "frame,true,predicted,std"
    # the saved kernel reproduces the same numbers
    again = subprocess.run([cli, "learn", "--input", str(path), "--property", "energy_emt", "--kind", "sum",
                            "--kernel", str(tmp_path / "K.npy"), "--train-size", "100", "--folds", "3",
                            "--output", str(out), "--overwrite"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "results.json").read_text())["result"]["mae"] == pytest.approx(res["result"]["mae"])
    # outputs are not overwritten without asking; bad property names the frame
    for args, message in [(["--property", "energy_emt"], "refusing to overwrite"),
                          (["--property", "nope", "--overwrite"], "frame 0 has no property 'nope'")]:
        r = subprocess.run([cli, "learn", "--input", str(path), "--kernel", str(tmp_path / "K.npy"), "--kind", "sum",
                            "--output", str(out), *args], capture_output=True, text=True)
        assert r.returncode != 0 and message in r.stderr, r.stderr
    r = subprocess.run([cli, "learn", "--input", str(path), "--kernel", str(tmp_path / "K.npy"), "--property",
                        "energy_emt", "--output", str(tmp_path / "x"), "--train-size", "150"], capture_output=True, text=True)
    assert r.returncode != 0 and "--train-size 150" in r.stderr

    import gzip

    m = tmp_path / "map"
    run = subprocess.run([cli, "map", "--input", str(path), "--kind", "average", "--descriptor", DESC,
                          "--colour", "kind", "--output", str(m)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (m / "map_kpca.png").stat().st_size > 1000
    data = json.loads(gzip.open(m / "map_kpca.chemiscope.json.gz").read())
    assert len(data["structures"]) == 150
    assert {"kpca[1]", "kpca[2]", "energy_emt", "kind"} <= set(data["properties"])
    bad = subprocess.run([cli, "map", "--input", str(path), "--colour", "nothing", "--descriptor", DESC,
                          "--method", "mds", "--output", str(m)], capture_output=True, text=True)
    assert bad.returncode != 0 and "frame 0 has no such info key" in bad.stderr


@pytest.mark.shared_data
def test_qm7_subset_learning(shared_data):
    """QM7 (PBE0 heats of formation, kcal/mol): 1000 molecules, 800 to train. Bounds from the
    measured run (docs/similarity.md has the full-set table)."""
    import ase.io

    frames = ase.io.read(f"{shared_data}/qm7_qml/qm7.xyz", ":1000")
    desc = "soap n_max=6 l_max=4 atom_sigma=0.4 cutoff=4 n_species=5 species_Z={1 6 7 8 16}"
    y = np.array([a.info["hof_pbe0_kcal_mol"] for a in frames])
    dftb = np.array([a.info["hof_dftb_kcal_mol"] for a in frames])
    counts, _ = composition(frames)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(frames))
    tr, te = order[:800], order[800:]
    K = structure_kernel(frames, kind="average", descriptor=desc, zeta=2)
    plain = learn(K, y, tr, te, counts, folds=3)
    delta = learn(K, y, tr, te, counts, reference=dftb, folds=3)
    assert plain["mae"] < 3.0, plain["mae"]
    assert delta["mae"] < plain["mae"]


def test_indefinite_kernel_gets_a_white_noise_shift():
    """A symmetric indefinite 'kernel' (as best-match can be): a white-noise term just above its
    most negative eigenvalue makes K + (λ + c) I a covariance; mean and σ follow from it."""
    rng = np.random.default_rng(3)
    B = rng.normal(size=(30, 30))
    K = (B + B.T) / 2 + 2 * np.eye(30)
    tr, te = np.arange(20), np.arange(20, 30)
    s = np.mean(np.diag(K)[tr])
    lowest = np.linalg.eigvalsh(K[np.ix_(tr, tr)] / s).min()
    assert lowest < 0
    y = rng.normal(size=30)
    m = GPModel(K[np.ix_(tr, tr)], y[tr], 1e-3)
    assert m.shift == pytest.approx(-1.01 * lowest, rel=1e-9)
    A = K[np.ix_(tr, tr)] / s + (1e-3 + m.shift) * np.eye(20)
    assert np.linalg.eigvalsh(A).min() > 0
    yc = y[tr] - y[tr].mean()
    ks = K[np.ix_(te, tr)] / s
    mean, std = m.predict(K[np.ix_(te, tr)], K_test_diag=np.diag(K)[te])
    assert np.allclose(mean, ks @ np.linalg.solve(A, yc) + y[tr].mean(), rtol=1e-9)
    s2 = yc @ np.linalg.solve(A, yc) / 20
    var = s2 * (np.diag(K)[te] / s - np.einsum("ij,ji->i", ks, np.linalg.solve(A, ks.T)) + 1e-3 + m.shift)
    assert np.allclose(std, np.sqrt(np.maximum(var, 0)), rtol=1e-8)
