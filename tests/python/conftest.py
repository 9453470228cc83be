import os
import shutil

import numpy as np
import pytest

def _shared_data():
    """The workplace's public reference data (../shared/data next to the checkout), or
    $SOAPGAP_SHARED_DATA. Tests that need it fail (never skip) when it is missing."""
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.environ.get("SOAPGAP_SHARED_DATA"), os.path.join(here, "..", "..", "..", "shared", "data"),
                 "/work/shared/data"):
        if cand and os.path.isdir(cand):
            return os.path.abspath(cand)
    return os.path.join(here, "..", "..", "..", "shared", "data")


SHARED_DATA = _shared_data()

# The reference fit shared by several tests: small EMT Cu database, settings of the demo.
GAP = ("soap n_max=6 l_max=4 atom_sigma=0.5 cutoff=4.5 cutoff_transition_width=1.0 delta=0.2 zeta=4 "
       "n_sparse=300 sparse_method=cur_points")
SIGMA = (0.0005, 0.01, 0.005)


@pytest.fixture(scope="session")
def emt_train():
    from soapgap.database import build_database

    return build_database("Cu", seed=0, size="small", extra=())  # the basic protocols only: fast, fixed


@pytest.fixture(scope="session")
def emt_test():
    from soapgap.database import build_database

    return build_database("Cu", seed=1, size="small", extra=())


@pytest.fixture(scope="session")
def emt_potential(emt_train):
    import soapgap

    return soapgap.Potential.fit(emt_train, gap=GAP, default_sigma=SIGMA,
                                 config_type_sigma={"isolated_atom": (1e-4, 0.01, 0.01)}, sparse_jitter=1e-8)


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("SOAPGAP_CLI") or shutil.which("soapgap")
    if not path or not os.path.exists(path):
        raise RuntimeError("the soapgap command-line program was not found (set SOAPGAP_CLI or install the package)")
    return path


def rattled_fcc(a=3.6, reps=2, rattle=0.1, seed=0, element="Cu"):
    from ase.build import bulk

    atoms = bulk(element, "fcc", a=a, cubic=True).repeat((reps, reps, reps))
    atoms.positions += np.random.default_rng(seed).normal(scale=rattle, size=atoms.positions.shape)
    return atoms
