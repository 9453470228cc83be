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
    files = [os.path.join(d, n) for d, _, ns in os.walk(tmp_path) for n in ns]
    assert len(files) == 1 and files[0].endswith(structure_key(spec, a) + ".json")


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
    ("gpaw:mode=fd", "gpaw"),
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
