import os
import shutil

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_DATA = os.path.join(HERE, "..", "data")  # small committed files, see tests/data/SOURCES.md
# The larger public reference sets (the `shared_data` tier): ../shared/data beside the checkout, or
# $SOAPGAP_SHARED_DATA. See tests/README.md for where they come from.
SHARED_DATA = os.environ.get("SOAPGAP_SHARED_DATA") or os.path.join(HERE, "..", "..", "..", "shared", "data")


def pytest_configure(config):
    config.addinivalue_line("markers", "shared_data: needs the public reference data sets of ../shared/data "
                                       "(run with ./run_tests.sh --shared-data)")


@pytest.fixture
def shared_data():
    """Path of the reference data sets; a test of the shared_data tier fails (never skips) without them."""
    if not os.path.isdir(SHARED_DATA):
        pytest.fail(f"the shared_data tier needs the public reference data sets at {os.path.abspath(SHARED_DATA)} "
                    "(set SOAPGAP_SHARED_DATA); they are listed with their sources in tests/README.md", pytrace=False)
    return SHARED_DATA

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
