"""Reference calculators by name (soapgap.references): tight binding through tblite, the on-disk
cache keyed by content, per-frame failures that are skipped and never kept, and clear errors."""
import os
import subprocess

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator

from soapgap.references import ReferenceFailure, cached, reference_calculator, structure_key


def _si(rattle_seed=0):
    a = bulk("Si", "diamond", a=5.43)
    a.positions += np.random.default_rng(rattle_seed).normal(scale=0.05, size=a.positions.shape)
    return a


def test_tblite_reference_is_cached_by_content(tmp_path):
    from tblite.ase import TBLite

    spec = "tblite:GFN1-xTB,accuracy=1.0"
    calc = reference_calculator(spec, cache=str(tmp_path))
    a = _si()
    a.calc = calc
    e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress()
    direct = _si()
    direct.calc = TBLite(method="GFN1-xTB", accuracy=1.0, verbosity=0)
    assert e == pytest.approx(direct.get_potential_energy(), abs=1e-10)
    assert np.abs(f - direct.get_forces()).max() < 1e-10
    assert np.abs(s - direct.get_stress()).max() < 1e-10
    assert (calc.hits, calc.misses) == (0, 1)
    lines = []
    calc.log = lines.append
    calc.expect(2)
    c = _si(rattle_seed=2)
    c.calc = calc
    c.get_potential_energy()
    assert len(lines) == 1 and "2 computed, 0 cached; 2/3, ETA" in lines[0]
    # a fresh calculator (a resumed run) answers from the file, bit for bit
    again = reference_calculator(spec, cache=str(tmp_path))
    b = _si()
    b.calc = again
    assert b.get_potential_energy() == e and np.array_equal(b.get_forces(), f)
    assert (again.hits, again.misses) == (1, 0)
    # another structure, or the same one under another reference string, is another key
    c = _si(rattle_seed=1)
    assert structure_key(spec, c) != structure_key(spec, a)
    assert structure_key("tblite:GFN2-xTB", a) != structure_key(spec, a)
    files = sorted(os.path.join(d, n) for d, _, ns in os.walk(tmp_path) for n in ns)
    assert len(files) == 2 and any(f.endswith(structure_key(spec, a) + ".json") for f in files)


class _Failing(Calculator):
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        raise RuntimeError("SCF did not converge in 3 iterations")


def test_a_failing_reference_is_reported_and_the_frame_skipped(tmp_path, capsys):
    from soapgap.database import _keep

    calc = cached(_Failing(), "failing-code", str(tmp_path))
    a = _si()
    a.calc = calc
    with pytest.raises(ReferenceFailure, match=r"failing-code.*Si2 \(2 atoms\).*SCF did not converge"):
        a.get_potential_energy()
    frames = []
    _keep(frames, _si(), calc, "strained")
    assert frames == []  # skipped, never kept
    assert "skipped a strained frame" in capsys.readouterr().err
    assert not any(n.endswith(".json") for _, _, ns in os.walk(tmp_path) for n in ns)  # nothing cached


@pytest.mark.parametrize("spec,message", [
    ("tblite:GFN9-xTB", "GFN1-xTB, GFN2-xTB or IPEA1-xTB"),
    ("tblite:GFN1-xTB,temperature=300", "unknown key 'temperature'"),
    ("tblite:GFN1-xTB,accuracy", "is not key=value"),
    ("lammps:pair_style=sw", "needs pair_coeff"),
    ("gpaw:mode=fd", "mode must be pw or lcao"),
    ("gpaw:ecut=300,kpts=4x4y4", "kpts must be NxNxN or density=D"),
    ("gpaw:ecut=300,kpts=4x4", "kpts must be NxNxN or density=D"),
    ("gpaw:ecut=300,cutoff=3", "unknown key 'cutoff'"),
    ("nonsense", "use emt, tblite"),
])
def test_bad_reference_strings_are_clear_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        reference_calculator(spec)


def test_cli_refuses_a_bad_reference(cli, tmp_path):
    p = subprocess.run([cli, "build-database", "--element", "Cu", "--reference", "tblite:GFN9-xTB",
                        "--output", str(tmp_path / "db.xyz")], capture_output=True, text=True)
    assert p.returncode != 0 and "GFN1-xTB, GFN2-xTB or IPEA1-xTB" in p.stderr
    assert not (tmp_path / "db.xyz").exists()


def test_refine_with_a_tight_binding_reference(tmp_path):
    """soapgap's active learning driven by tblite (GFN1-xTB) on small diamond Si cells: one
    iteration labels the selected MD snapshots with the reference (checked against a direct
    tblite call), logs their true errors, and the cache holds exactly what was computed."""
    from ase.build import bulk
    from tblite.ase import TBLite

    from soapgap.active_learning import refine
    from soapgap.database import _label

    ref = reference_calculator("tblite:GFN1-xTB", cache=str(tmp_path / "cache"))
    rng = np.random.default_rng(3)
    frames = []
    for _ in range(4):
        a = bulk("Si", "diamond", a=5.6, cubic=True)
        a.positions += rng.normal(scale=0.1, size=a.positions.shape)
        frames.append(_label(a, ref, "rattled"))
    md_cell = bulk("Si", "diamond", a=5.6, cubic=True)
    fit = dict(gap="soap n_max=4 l_max=4 atom_sigma=0.5 cutoff=4.0 cutoff_transition_width=1.0 delta=0.5 zeta=2 "
                   "n_sparse=20 sparse_method=cur_points",
               default_sigma=(0.002, 0.05, 0.01), e0_method="average", sparse_jitter=1e-8)
    pot, history = refine(ref, frames, str(tmp_path / "al"), fit, iterations=1, temperatures=(900,), md_steps=40,
                          md_cells={"bulk8": md_cell}, n_select=2, min_separation=10, lattice="diamond",
                          log=lambda *_: None)
    it = history[0]
    assert it["n_selected"] == 2 and len(it["selected"]) == 2
    assert all(np.isfinite(s["err_e"]) and s["rmse_f"] > 0 for s in it["selected"])
    import ase.io

    db = ase.io.read(str(tmp_path / "al" / "database.xyz"), ":")
    assert len(db) == 6
    new = db[-1]
    check = new.copy()
    check.calc = TBLite(method="GFN1-xTB", verbosity=0)
    assert new.get_potential_energy() == pytest.approx(check.get_potential_energy(), abs=1e-8)
    assert ref.misses == 6 and ref.hits == 0


# GPAW: Debian's package runs in the system interpreter, behind soapgap.gpaw_worker; a tiny cell and
# a low cutoff keep each SCF under a second.
GPAW_DIRECT = """
import json, sys
from ase.build import bulk
from gpaw import GPAW, PW
a = bulk("C", "diamond", a=3.6)
a.positions[1] += [0.03, -0.02, 0.01]
a.calc = GPAW(mode=PW(250), xc="PBE", kpts=[2, 2, 2], txt=None)
print(json.dumps([a.get_potential_energy(), a.get_forces().tolist(), a.get_stress().tolist()]))
"""


def _carbon():
    a = bulk("C", "diamond", a=3.6)
    a.positions[1] += [0.03, -0.02, 0.01]
    return a


def test_gpaw_reference_equals_gpaw_itself(tmp_path, monkeypatch):
    import json

    from soapgap.references import gpaw_python

    python = gpaw_python()
    assert python, "GPAW is not importable by any interpreter (install.sh installs Debian's gpaw, gpaw-data)"
    direct = json.loads(subprocess.run([python, "-c", GPAW_DIRECT], capture_output=True, text=True,
                                       check=True).stdout.strip().splitlines()[-1])
    for procs in ("1", "2"):  # serial, and under mpiexec with two processes
        monkeypatch.setenv("SOAPGAP_GPAW_PROCS", procs)
        calc = reference_calculator("gpaw:ecut=250,kpts=2x2x2", cache=str(tmp_path / procs))
        a = _carbon()
        a.calc = calc
        assert abs(a.get_potential_energy() - direct[0]) < 1e-6
        assert np.allclose(a.get_forces(), direct[1], atol=1e-5)
        assert np.allclose(a.get_stress(), direct[2], atol=1e-6)
        assert calc.misses == 1 and calc.inner.processes == int(procs)
        calc.inner.close()
        again = reference_calculator("gpaw:ecut=250,kpts=2x2x2", cache=str(tmp_path / procs))
        b = _carbon()       # the same structure again: answered from the cache file, bit for bit
        b.calc = again
        assert b.get_potential_energy() == a.get_potential_energy() and (again.hits, again.misses) == (1, 0)


def test_gpaw_scf_that_does_not_converge_is_skipped(tmp_path, capsys):
    from soapgap.database import _keep

    calc = reference_calculator("gpaw:ecut=250,kpts=2x2x2,maxiter=2", cache=str(tmp_path))
    a = _carbon()
    a.calc = calc
    with pytest.raises(ReferenceFailure, match=r"C2 \(2 atoms\).*KohnShamConvergenceError"):
        a.get_potential_energy()
    frames = []
    _keep(frames, _carbon(), calc, "md")
    assert frames == [] and "skipped a md frame" in capsys.readouterr().err
    assert not any(n.endswith(".json") for _, _, ns in os.walk(tmp_path) for n in ns)
    calc.inner.close()
