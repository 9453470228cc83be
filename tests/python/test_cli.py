"""Command-line program: fit/eval/descriptor round trip, --help, gap_fit syntax, bad inputs."""
import os
import subprocess

import ase.io
import numpy as np
import pytest

GAP = "soap n_max=4 l_max=3 atom_sigma=0.5 cutoff=4.0 delta=0.2 zeta=4 n_sparse=60 sparse_method=cur_points"


def run(cli, *args, cwd=None, ok=True):
    p = subprocess.run([cli, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    if ok and p.returncode != 0:
        raise AssertionError(f"{args} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, emt_train, emt_test):
    d = tmp_path_factory.mktemp("cli")
    ase.io.write(d / "train.xyz", emt_train[:40] + emt_train[-1:])
    ase.io.write(d / "test.xyz", emt_test[:20])
    return d


@pytest.mark.parametrize("cmd", [[], ["fit"], ["eval"], ["descriptor"]])
def test_help(cli, cmd):
    p = run(cli, *cmd, "--help")
    assert "usage: soapgap" in p.stdout


def test_fit_eval_descriptor(cli, workdir):
    p = run(cli, "fit", "--train", "train.xyz", "--gap", GAP, "--default-sigma", "0.001 0.03 0.01",
            "--config-type-sigma", "isolated_atom:0.0001:0.01:0.01", "--output", "m.json", cwd=workdir)
    for stage in ("[descriptors]", "[sparse]", "[assembly]", "[solve]", "[write]"):
        assert stage in p.stdout
    p = run(cli, "eval", "--model", "m.json", "--input", "test.xyz", "--output", "pred.xyz", "--force-std", cwd=workdir)
    assert "F_RMSE" in p.stdout and "ALL" in p.stdout
    pred = ase.io.read(workdir / "pred.xyz", ":")
    ref = ase.io.read(workdir / "test.xyz", ":")
    assert len(pred) == len(ref)
    f_err = np.concatenate([(a.arrays["soapgap_forces"] - r.get_forces()).ravel() for a, r in zip(pred, ref)])
    # plumbing check (tiny 60-point model): well below the ~0.45 eV/Å RMS of the forces themselves
    assert np.sqrt(np.mean(f_err ** 2)) < 0.15
    assert all(a.arrays["soapgap_energies_std"].min() >= 0 for a in pred)
    # the same model from Python gives the same numbers
    import soapgap

    pot = soapgap.Potential.load(workdir / "m.json")
    assert np.allclose(pot.predict(ref[3])["forces"], pred[3].arrays["soapgap_forces"], atol=1e-10)
    big = max(range(len(ref)), key=lambda i: len(ref[i]))
    r = pot.predict(ref[big], force_std=True)
    assert np.allclose(r["forces_std"], pred[big].arrays["soapgap_forces_std"], rtol=1e-9)
    assert r["forces_std"].min() > 0
    # refuses to overwrite
    p = run(cli, "eval", "--model", "m.json", "--input", "test.xyz", "--output", "pred.xyz", cwd=workdir, ok=False)
    assert p.returncode != 0 and "refusing to overwrite" in p.stderr
    run(cli, "descriptor", "--input", "test.xyz", "--descriptor", "soap n_max=4 l_max=3 atom_sigma=0.5 cutoff=4",
        "--gradients", "--output", "d", cwd=workdir)
    v = np.load(workdir / "d.values.npy")
    gi = np.load(workdir / "d.grad_index.npy")
    gv = np.load(workdir / "d.grad_values.npy")
    assert v.shape == (sum(len(a) for a in ref), 41)
    assert gv.shape == (len(gi), 3, 41)


def test_gap_fit_command_line(cli, workdir):
    run(cli, "fit", "at_file=train.xyz", f"gap={{{GAP} : distance_2b cutoff=4.0 delta=0.5 theta_uniform=1.0 "
        "n_sparse=10 sparse_method=uniform}", "default_sigma={0.001 0.03 0.01 0.0}",
        "config_type_sigma={isolated_atom:0.0001:0.01:0.01:0.0}", "e0_method=isolated", "sparse_jitter=1e-8",
        "energy_parameter_name=energy", "force_parameter_name=forces", "do_copy_at_file=F", "gp_file=g.json",
        cwd=workdir)
    import soapgap

    pot = soapgap.Potential.load(workdir / "g.json")
    assert len(pot.descriptors) == 2
    p = run(cli, "fit", "at_file=train.xyz", f"gap={{{GAP}}}", "default_sigma={0.001 0.03 0.01 0.0}",
            "core_param_file=glue.xml", cwd=workdir, ok=False)
    assert p.returncode == 1 and "core_param_file" in p.stderr


def _write(path, text):
    path.write_text(text)
    return str(path)


BAD_INPUTS = {
    "truncated": ("3\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3 energy=1.0\nCu 0 0 0\nCu 1.8 1.8 0\n",
                  "truncated"),
    "wrong atom count": ("2\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3 energy=1.0\n"
                         "Cu 0 0 0\nCu 1.8 1.8 0\nCu 0 1.8 1.8\n", "wrong atom count in frame 0"),
    "NaN coordinates": ("1\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3 energy=1.0\nCu 0 nan 0\n",
                        "field 'pos': cannot read 'nan' as a finite number"),
    "overlapping atoms": ("2\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3 energy=1.0\n"
                          "Cu 0 0 0\nCu 0.001 0 0\n", "overlap"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_training_files(cli, tmp_path, case):
    text, msg = BAD_INPUTS[case]
    f = _write(tmp_path / "bad.xyz", text)
    p = run(cli, "fit", "--train", f, "--gap", GAP, "--e0", "0", "--output", str(tmp_path / "m.json"), ok=False)
    assert p.returncode == 1, p.stderr
    assert msg in p.stderr and "bad.xyz" in p.stderr and "frame " in p.stderr
    assert not os.path.exists(tmp_path / "m.json")


@pytest.mark.parametrize("gap,msg", [
    ("soap n_max=4 l_max=3 atom_sigma=0.5 cutoff=0 delta=1 n_sparse=5", "cutoff must be positive"),
    ("soap n_max=4 l_max=3 atom_sigma=0.5 cutoff=-2 delta=1 n_sparse=5", "cutoff must be positive"),
    ("soap n_max=0 l_max=3 atom_sigma=0.5 cutoff=4 delta=1 n_sparse=5", "n_max must be at least 1"),
    ("soap n_max=4 l_max=3 atom_sigma=0.5 cutoff=4 n_sparse=5", "missing required parameter 'delta'"),
])
def test_bad_hyperparameters(cli, workdir, gap, msg):
    p = run(cli, "fit", "--train", "train.xyz", "--gap", gap, "--output", "x.json", cwd=workdir, ok=False)
    assert p.returncode == 1 and msg in p.stderr, p.stderr


def test_missing_property(cli, workdir):
    p = run(cli, "fit", "--train", "train.xyz", "--gap", GAP, "--energy-key", "dft_energy", "--output", "x.json",
            cwd=workdir, ok=False)
    assert p.returncode == 1 and "'dft_energy'" in p.stderr


def test_unknown_species_at_prediction(cli, workdir, tmp_path):
    run(cli, "fit", "--train", "train.xyz", "--gap", GAP, "--output", "u.json", "--overwrite", cwd=workdir)
    f = _write(tmp_path / "ag.xyz", "2\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3\n"
                                    "Cu 0 0 0\nAg 2 2 0\n")
    p = run(cli, "eval", "--model", str(workdir / "u.json"), "--input", f, ok=False)
    assert p.returncode == 1 and "Ag, a species the model was not trained on" in p.stderr and "frame 0" in p.stderr


def test_damaged_model(cli, workdir, tmp_path):
    text = (workdir / "m.json").read_text() if (workdir / "m.json").exists() else None
    if text is None:
        run(cli, "fit", "--train", "train.xyz", "--gap", GAP, "--output", "m.json", cwd=workdir)
        text = (workdir / "m.json").read_text()
    f = _write(tmp_path / "half.json", text[: len(text) // 2])
    p = run(cli, "eval", "--model", f, "--input", str(workdir / "test.xyz"), ok=False)
    assert p.returncode == 1 and "truncated or corrupted" in p.stderr
