"""Environment reconstruction (soapgap reconstruct): the losses' gradients, the matching, a
reconstruction that must succeed, the pair of environments with identical 3-body correlations,
and the command line."""
import json
import os
import subprocess

import numpy as np
import pytest

from soapgap import reconstruct as R

SOAP = "soap cutoff=4 cutoff_transition_width=0.5 n_max=4 l_max=4 atom_sigma=0.4"


@pytest.mark.parametrize("spec", [SOAP, "2b+3b", "bispectrum cutoff=4 n_max=2 l_max=3 atom_sigma=0.4",
                                  "behler cutoff=4", "angular_dnl cutoff=4 n_max=4 l_max=4 atom_sigma=0.4"])
def test_loss_gradient_equals_finite_differences(spec):
    rng = np.random.default_rng(4)
    target, P = R.random_environment(5, rng), R.random_environment(5, rng)
    numbers = [14, 14, 6, 14, 6]
    loss = R.representation(spec, numbers).loss_factory(target, numbers)
    f, g = loss(P.ravel())
    h, fd = 1e-5, np.zeros(P.size)
    for k in range(P.size):
        e = np.zeros(P.size)
        e[k] = h
        fd[k] = (loss(P.ravel() + e)[0] - loss(P.ravel() - e)[0]) / (2 * h)
    assert f > 1e-4  # a different environment
    assert np.abs(fd - g).max() < 1e-6 * np.abs(g).max()


def test_aligned_rmsd_removes_rotation_reflection_and_permutation():
    rng = np.random.default_rng(5)
    P = R.random_environment(7, rng)
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    Q[:, 0] *= -1 if np.linalg.det(Q) > 0 else 1  # an improper rotation
    perm = rng.permutation(7)
    assert R.aligned_rmsd(P, (P @ Q.T)[perm], [14] * 7) < 1e-10
    assert R.aligned_rmsd(P, R.random_environment(7, rng), [14] * 7) > 0.1
    # unlike atoms are never matched to each other
    assert R.aligned_rmsd(P, P, [14, 6, 14, 6, 14, 6, 14]) < 1e-12


def test_power_spectrum_recovers_a_four_neighbour_environment():
    # n = l = 6 resolves 4 neighbours (measured on 4 random targets: RMSD ≤ 5e-9 Å); n = l = 2 or 3
    # reach zero loss at another environment (the truncation the sweep shows)
    target = R.random_environment(4, np.random.default_rng(6))
    spec = "soap cutoff=4 cutoff_transition_width=0.5 n_max=6 l_max=6 atom_sigma=0.4"
    r = R.reconstruct(target, [14] * 4, spec, starts=6, hops=2, seed=1)
    print(f"loss {r['loss']:.1e}, RMSD {r['rmsd']:.2e} Å")
    assert r["loss"] < 1e-12
    assert r["rmsd"] < 1e-4


def test_homometric_pair_confuses_three_body_descriptors_not_the_bispectrum():
    A, B = R.homometric_pair()
    # independently of any descriptor: same radii, same pairwise distances, not congruent
    pd = lambda X: np.sort([np.linalg.norm(a - b) for i, a in enumerate(X) for b in X[i + 1:]])  # noqa: E731
    assert np.allclose(np.linalg.norm(A, axis=1), np.linalg.norm(B, axis=1))
    assert np.allclose(pd(A), pd(B), atol=1e-12)
    assert R.aligned_rmsd(A, B, [14] * 4) > 1.0
    n = [14] * 4
    for spec in ["2b+3b", "behler cutoff=4", "angular_dnl cutoff=4 n_max=8 l_max=8 atom_sigma=0.4",
                 "soap cutoff=4 n_max=8 l_max=8 atom_sigma=0.4"]:
        assert abs(R.descriptor_distance(spec, A, B, n)) < 1e-12, spec
    assert R.descriptor_distance("bispectrum cutoff=4 n_max=2 l_max=4 atom_sigma=0.4", A, B, n) > 1e-3


def test_cli_sweep_writes_table_and_figure_and_refuses_to_overwrite(cli, tmp_path):
    out = tmp_path / "rec"
    cmd = [cli, "reconstruct", "--sweep", "--quick", "--sizes", "4", "--targets", "1", "--starts", "2",
           "--hops", "1", "--output", str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    for name in ["reconstruction.md", "reconstruction.json", "reconstruction.png", "homometric.md",
                 "homometric_pair.xyz"]:
        assert os.path.getsize(out / name) > 0, name
    rows = json.loads((out / "reconstruction.json").read_text())
    assert {r["family"] for r in rows} == {"power spectrum", "2b+3b"}
    assert "| bispectrum (n = 2, l = 4) |" in (out / "homometric.md").read_text()
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode != 0 and "refusing to overwrite" in again.stderr
    bad = subprocess.run([cli, "reconstruct", "--input", str(out / "homometric_pair.xyz"), "--atom", "99",
                          "--output", str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode != 0 and "--atom 99" in bad.stderr
