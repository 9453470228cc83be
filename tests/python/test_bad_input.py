"""Bad input is a clear soapgap error (naming file, frame, field or key), never a crash, a hang or a
silently wrong number: strictness of option strings, files and CLI arguments; property-based
(hypothesis) random bad input to the Python entry points; faults (a fit killed part-way)."""
import json
import os
import signal
import subprocess

import numpy as np
import pytest
from ase import Atoms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import soapgap

from conftest import GAP, SIGMA, rattled_fcc

SOAP = "soap n_max=3 l_max=2 atom_sigma=0.5 cutoff=3.5"


@pytest.mark.parametrize("spec,message", [
    (SOAP + " zta=4", "unknown key 'zta' for soap"),
    (SOAP + " sparse_methd=cur_points", "unknown key 'sparse_methd'"),
    ("soap n_max=3 l_max=2.5 atom_sigma=0.5 cutoff=3.5", "'l_max' must be an integer"),
    ("soap n_max=3 l_max=100 atom_sigma=0.5 cutoff=3.5", "l_max=100 is above 50"),
    ("soap n_max=3 l_max=2 atom_sigma=0.5 cutoff=3.5 Z=6.7", "'Z' must be a list of integers"),
    ("distance_2b cutoff=3 Z1=1e10", "'Z1' must be an integer"),
])
def test_descriptor_strings_are_strict(spec, message):
    with pytest.raises(soapgap.SoapgapError, match=message):
        soapgap.Descriptor(spec)


def test_fit_refuses_unknown_gap_keys(emt_train):
    with pytest.raises(soapgap.SoapgapError, match=r"gap term 1: unknown key 'zta' for soap \(valid keys: .*zeta"):
        soapgap.Potential.fit(emt_train[:3] + emt_train[-1:], gap=GAP + " zta=4", default_sigma=SIGMA)


def test_descriptor_of_structure_without_environments_has_empty_gradients():
    iso = Atoms("Cu", positions=[[0, 0, 0]])
    r = soapgap.Descriptor("distance_2b cutoff=3").compute(iso, gradients=True)
    assert r["values"].shape == (0, 1) and r["grad_values"].shape == (0, 3, 1) and r["grad_index"].shape == (0, 2)


def test_bessel_radial_integrals_against_mpmath():
    """g_l = exp(-α(r²+r_a²)) i_l(2α r r_a) (the SOAP radial integrals) against 40-digit values, up to
    the largest order l_max = 50 needs (51): relative error below 1e-11 everywhere."""
    import mpmath as mp

    mp.mp.dps = 40
    worst = 0.0
    for count in (4, 10, 20, 52):
        for alpha in (0.5, 2.0, 12.5):
            for r in (0.02, 0.9, 2.7, 5.4):
                for ra in (0.0, 0.4, 2.2, 4.1, 7.6):
                    g = soapgap._soapgap._scaled_bessel_i(count, alpha, r, ra)
                    x = mp.mpf(2 * alpha * r * ra)
                    for l in range(count):
                        if x == 0:
                            ref = mp.exp(-alpha * (r * r + ra * ra)) if l == 0 else mp.mpf(0)
                        else:
                            ref = (mp.exp(-alpha * (mp.mpf(r) ** 2 + mp.mpf(ra) ** 2)) * mp.sqrt(mp.pi / (2 * x))
                                   * mp.besseli(l + mp.mpf(1) / 2, x))
                        if abs(ref) > mp.mpf("1e-290"):
                            worst = max(worst, float(abs((g[l] - ref) / ref)))
                        else:
                            assert abs(g[l]) < 1e-280
    print(f"worst relative error of the radial integrals vs mpmath: {worst:.1e}")
    assert worst < 1e-11


def test_cli_bad_inputs(cli, tmp_path, emt_potential):
    model = tmp_path / "m.json"
    emt_potential.save(model)

    def run(*args):
        return subprocess.run([cli, *map(str, args)], capture_output=True, text=True, cwd=tmp_path, timeout=120)

    p = run("eval", "--model", model, "--input", tmp_path)  # a directory
    assert p.returncode == 1 and "is a directory" in p.stderr
    (tmp_path / "empty.xyz").write_text("")
    p = run("eval", "--model", model, "--input", "empty.xyz", "--output", "out.xyz")
    assert p.returncode == 1 and "no frames" in p.stderr and not (tmp_path / "out.xyz").exists()
    (tmp_path / "bin.xyz").write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe\n")
    p = run("eval", "--model", model, "--input", "bin.xyz")
    assert p.returncode == 1 and "\\x7fELF\\x02" in p.stderr and all(32 <= ord(c) < 127 or c == "\n" for c in p.stderr)
    a = rattled_fcc(seed=1)
    text = f"{len(a)}\nProperties=species:S:1:pos:R:3 energy=-1.0\n" + "".join(
        f"Cu {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in a.positions)
    (tmp_path / "cut.xyz").write_text(text[:-4])  # cut inside the last number
    p = run("eval", "--model", model, "--input", "cut.xyz", "--output", "cut_out.xyz")
    assert p.returncode == 1 and "ends inside this atom line" in p.stderr and not (tmp_path / "cut_out.xyz").exists()
    p = run("descriptor", "--input", "cut.xyz", "--descriptor", "soap n_max=2 l_max=100 atom_sigma=0.5 cutoff=3")
    assert p.returncode == 1 and "l_max=100 is above 50" in p.stderr
    (tmp_path / "whole.xyz").write_text(text)
    p = run("fit", "--train", "whole.xyz", "--e0", "0", "--gap", "soap n_max=2 l_max=2 atom_sigma=0.5 cutoff=3 delta=1 zta=2 n_sparse=5",
            "--output", "x.json")
    assert p.returncode == 1 and "unknown key 'zta'" in p.stderr
    assert not [f for f in os.listdir(tmp_path) if ".part-" in f]  # no stray temporary files


def test_eval_total_std_only_when_asked(cli, tmp_path, emt_potential, emt_test):
    import ase.io

    emt_potential.save(tmp_path / "m.json")
    ase.io.write(tmp_path / "t.xyz", emt_test[:3])
    for flags, has_total in ((["--std"], False), (["--std", "--total-std"], True)):
        out = tmp_path / f"p{len(flags)}.xyz"
        subprocess.run([cli, "eval", "--model", "m.json", "--input", "t.xyz", "--output", out.name, *flags],
                       check=True, cwd=tmp_path, capture_output=True)
        frames = ase.io.read(out, ":")
        assert all("soapgap_energies_std" in f.arrays for f in frames)
        assert all(("soapgap_energy_std" in f.info) == has_total for f in frames)


def test_calculator_total_std_switch(emt_potential):
    a = rattled_fcc(seed=2)
    a.calc = emt_potential.calculator(std=True)
    a.get_potential_energy()
    assert "energies_std" in a.calc.results and "energy_std" not in a.calc.results
    a.calc = emt_potential.calculator(std=True, total_std=True)
    a.get_potential_energy()
    assert a.calc.results["energy_std"] > 0


def test_fit_killed_part_way_leaves_no_model(cli, tmp_path, emt_train):
    """SIGKILL at each stage of a fit, found from its progress output (descriptors, sparse points,
    assembly, solve, and just after the fit while the model is being saved): the output path
    holds nothing or the complete model; a clean exit leaves no temporary file."""
    import ase.io

    ase.io.write(tmp_path / "train.xyz", emt_train)
    args = [cli, "fit", "--train", "train.xyz", "--output", "model.json", "--gap", GAP,
            "--default-sigma", " ".join(map(str, SIGMA)), "--config-type-sigma", "isolated_atom:1e-4:0.01:0.01",
            "--threads", "1", "--block-rows", "2000"]
    subprocess.run(args, check=True, cwd=tmp_path, capture_output=True)
    complete = (tmp_path / "model.json").read_bytes()
    assert not [f for f in os.listdir(tmp_path) if ".part-" in f]
    killed_before_output = 0
    for stage in ("[descriptors]", "[sparse] selection", "[assembly] block 2", "[solve]", "[done]"):
        (tmp_path / "model.json").unlink(missing_ok=True)
        p = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in p.stdout:
            if line.startswith(stage):
                p.send_signal(signal.SIGKILL)
                break
        p.wait()
        p.stdout.close()
        assert p.returncode == -signal.SIGKILL, f"the fit ended before reaching {stage}"
        if (tmp_path / "model.json").exists():  # the rename happened before the kill: the file is whole
            assert (tmp_path / "model.json").read_bytes() == complete
        else:
            killed_before_output += 1
        for f in os.listdir(tmp_path):  # a killed run may leave its temporary, never a partial model
            assert f in ("train.xyz", "model.json") or f.startswith(".model.json.part-")
    assert killed_before_output >= 4


# --- property-based: random bad input to the Python entry points gives soapgap errors only -------------

_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
_keys = st.sampled_from(["n_max", "l_max", "atom_sigma", "cutoff", "cutoff_transition_width", "Z", "species_Z",
                         "central_weight", "zeta", "delta", "n_sparse", "covariance_sigma0", "bogus", "g2_eta",
                         "g4_zeta", "g4_lambda", "g5_eta", "w", "diagonal_radial", "normalise", "n_species"])
_values = st.one_of(_floats.map(repr), st.integers(-10**12, 10**12).map(str), st.text(max_size=8),
                    st.sampled_from(["T", "F", "{}", "{1 2", "nan", "-0", "1e400"]))


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["soap", "distance_2b", "angle_3b", "behler", "steinhardt", "angular_dnl", "bispectrum",
                             "bispectrum_so4", ""]),
       pairs=st.lists(st.tuples(_keys, _values), max_size=6))
def test_descriptor_random_strings(kind, pairs):
    spec = kind + " " + " ".join(f"{k}={v}" for k, v in pairs)
    try:
        d = soapgap.Descriptor(spec)
    except soapgap.SoapgapError:
        return
    assert d.dimension >= 1 and d.cutoff > 0


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(pos=st.lists(st.tuples(_floats, _floats, _floats), min_size=1, max_size=4),
       cell=st.lists(_floats, min_size=9, max_size=9), pbc=st.booleans(),
       energy=_floats, numbers=st.lists(st.integers(-3, 130), min_size=4, max_size=4))
def test_fit_random_structures(pos, cell, pbc, energy, numbers):
    a = Atoms(numbers=[29] * len(pos), positions=np.array(pos), cell=np.array(cell).reshape(3, 3), pbc=pbc)
    a.numbers = np.array(numbers[:len(pos)])
    a.info["energy"] = energy
    try:
        soapgap.Potential.fit([a], gap="distance_2b cutoff=3 delta=1 theta_uniform=1 n_sparse=2", e0=0.0)
    except soapgap.SoapgapError:
        pass


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_load_damaged_models(data, tmp_path_factory, emt_potential):
    text = emt_potential._p.to_string()
    doc = json.loads(text)
    how = data.draw(st.sampled_from(["truncate", "flip", "json"]))
    if how == "truncate":
        bad = text[: data.draw(st.integers(0, len(text) - 1))]
    elif how == "flip":
        i = data.draw(st.integers(0, len(text) - 1))
        bad = text[:i] + data.draw(st.characters(codec="ascii")) + text[i + 1:]
    else:  # structurally valid JSON with a changed field, re-signed so only the consistency checks can catch it
        pay = doc["payload"]
        field = data.draw(st.sampled_from(["rows", "cols", "delta", "zeta", "e0", "L", "descriptor"]))
        c = pay["coordinates"][0]
        if field in ("rows", "cols"):
            c["sparse"][field] = data.draw(st.one_of(st.integers(-5, 10**19), st.just(None)))
        elif field in ("delta", "zeta"):
            c["kernel"][field] = data.draw(st.one_of(st.floats(allow_nan=False), st.just(None), st.text(max_size=3)))
        elif field == "e0":
            pay["e0"]["Cu"]["Z"] = data.draw(st.integers(-10**6, 10**6))
        elif field == "L":
            pay["posterior"]["L"]["float64_base64"] = data.draw(st.text(alphabet="ABCD+/=", max_size=40))
        else:
            c["descriptor"] = data.draw(st.text(max_size=30))
        body = json.dumps(pay, separators=(",", ":"), ensure_ascii=False)
        h = 1469598103934665603
        for byte in body.encode():
            h = ((h ^ byte) * 1099511628211) % 2**64
        doc["checksum_fnv1a64"] = str(h)
        bad = json.dumps(doc)
    path = tmp_path_factory.mktemp("bad") / "m.json"
    path.write_text(bad)
    try:
        p = soapgap.Potential.load(path)
        p.predict(rattled_fcc(seed=0))  # whatever loads predicts, or says why not (e.g. species)
    except soapgap.SoapgapError:
        return
