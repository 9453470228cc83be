"""Small reference database for fitting an interatomic potential to an fcc metal.

Every frame is a plain ``ase.Atoms`` (no calculator attached) carrying

* ``info['energy']``      total energy (eV)
* ``info['virial']``      3x3 virial (eV), QUIP convention ``-stress * volume``
                          (ASE stress, positive under tension); periodic frames only
* ``arrays['forces']``    forces (eV/Å)
* ``info['config_type']`` label of the generating protocol

so the list can be written directly with ``ase.io.write(..., format='extxyz')``.
Note that ``ase.io.read`` moves ``energy``/``forces`` back into a
SinglePointCalculator (``atoms.get_potential_energy()``), while ``virial`` and
``config_type`` stay in ``atoms.info``.

Protocol (``build_database``):

* ``strained``      primitive cell under random symmetric (normal + shear)
                    strains -> energy/virial response = elastic constants, EOS
* ``rattled``       32-atom cubic supercell with random displacements -> forces,
                    harmonic (phonon-like) regime
* ``md``            Langevin MD snapshots at finite temperature -> anharmonic,
                    thermally relevant configurations
* ``vacancy``       supercell minus one atom -> point-defect environment
* ``surface``       (111)/(100) slabs with vacuum -> under-coordinated atoms
* ``isolated_atom`` one atom in a large non-periodic box -> reference energy e0

Everything is deterministic for a given ``seed``.
"""
import numpy as np
from ase import Atoms, units
from ase.build import bulk, fcc100, fcc111
from ase.constraints import FixCom
from ase.data import atomic_numbers, reference_states
from ase.eos import EquationOfState
from ase.md.langevin import Langevin
try:                                        # ASE >= 3.29
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:                         # older ASE
    from ase.md.velocitydistribution import \
        MaxwellBoltzmannDistribution as thermalize_momenta


def _get_calc(calc):
    """Accept an ASE calculator, a zero-arg factory (e.g. the EMT class) or None."""
    if calc is None:
        from ase.calculators.emt import EMT
        return EMT()
    return calc() if callable(calc) else calc


def _label(atoms, calc, config_type):
    """Evaluate ``atoms`` with ``calc`` and return a calculator-free copy holding results."""
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    virial = None
    if atoms.pbc.all():
        virial = -atoms.get_stress(voigt=False) * atoms.get_volume()
    frame = atoms.copy()                    # copy() drops the calculator
    atoms.calc = None
    frame.set_constraint()                  # plain frames: no MD constraints
    frame.info.pop('adsorbate_info', None)  # slab metadata, not extxyz-friendly
    if frame.has('momenta'):
        frame.set_momenta(None)             # keep frames uniform (no MD velocities)
    frame.info['energy'] = float(energy)
    if virial is not None:
        frame.info['virial'] = virial
    frame.arrays['forces'] = np.array(forces)
    frame.info['config_type'] = config_type
    return frame


def _rattle(atoms, stdev, rng):
    atoms.positions += rng.normal(scale=stdev, size=atoms.positions.shape)


def equilibrium_lattice_constant(element='Cu', calc=None, rel_range=0.03, npts=7):
    """Cubic lattice constant from an EOS fit on the one-atom primitive fcc cell."""
    calc = _get_calc(calc)
    a_ref = reference_states[atomic_numbers[element]]['a']
    volumes, energies = [], []
    for a in a_ref * np.linspace(1 - rel_range, 1 + rel_range, npts):
        atoms = bulk(element, 'fcc', a=a)
        atoms.calc = calc
        volumes.append(atoms.get_volume())
        energies.append(atoms.get_potential_energy())
    v0, _, _ = EquationOfState(volumes, energies).fit()
    return (4.0 * v0) ** (1.0 / 3.0)        # primitive fcc volume = a^3 / 4


def strained_cells(calc, element='Cu', a0=None, n=12, max_strain=0.02, rng=0):
    """Primitive cell under random symmetric strains with |eps_ij| <= max_strain."""
    calc, rng = _get_calc(calc), np.random.default_rng(rng)
    a0 = a0 or equilibrium_lattice_constant(element, calc)
    frames = []
    for _ in range(n):
        eps = rng.uniform(-max_strain, max_strain, (3, 3))
        eps = 0.5 * (eps + eps.T)
        atoms = bulk(element, 'fcc', a=a0)
        atoms.set_cell(atoms.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
        frames.append(_label(atoms, calc, 'strained'))
    return frames


def rattled_supercells(calc, element='Cu', a0=None, size=(2, 2, 2), n=16,
                       rattle=(0.05, 0.1), rng=0):
    """Conventional cubic supercell, Gaussian displacements with stdev in ``rattle``."""
    calc, rng = _get_calc(calc), np.random.default_rng(rng)
    a0 = a0 or equilibrium_lattice_constant(element, calc)
    frames = []
    for _ in range(n):
        atoms = bulk(element, 'fcc', a=a0, cubic=True).repeat(size)
        _rattle(atoms, rng.uniform(*rattle), rng)
        frames.append(_label(atoms, calc, 'rattled'))
    return frames


def md_snapshots(calc, element='Cu', a0=None, temperature_K=600, n_snapshots=24,
                 interval=10, n_equil=50, size=(2, 2, 2), rng=0):
    """Langevin NVT (2 fs step) snapshots every ``interval`` steps after ``n_equil``."""
    calc, rng = _get_calc(calc), np.random.default_rng(rng)
    a0 = a0 or equilibrium_lattice_constant(element, calc)
    atoms = bulk(element, 'fcc', a=a0, cubic=True).repeat(size)
    thermalize_momenta(atoms, temperature_K=temperature_K, rng=rng)
    atoms.set_constraint(FixCom())          # recommended over deprecated fixcm=True
    atoms.calc = calc
    dyn = Langevin(atoms, timestep=2 * units.fs, temperature_K=temperature_K,
                   friction=0.01 / units.fs, fixcm=False, rng=rng)
    dyn.run(n_equil)
    frames = []
    for _ in range(n_snapshots):
        dyn.run(interval)
        frames.append(_label(atoms, calc, 'md'))
        atoms.calc = calc                   # _label detaches it; re-attach for MD
    return frames


def vacancy(calc, element='Cu', a0=None, n=8, rattle=0.03, rng=0):
    """2x2x2 conventional supercell minus one atom, small Gaussian rattle."""
    calc, rng = _get_calc(calc), np.random.default_rng(rng)
    a0 = a0 or equilibrium_lattice_constant(element, calc)
    frames = []
    for _ in range(n):
        atoms = bulk(element, 'fcc', a=a0, cubic=True).repeat((2, 2, 2))
        del atoms[int(rng.integers(len(atoms)))]   # all sites equivalent
        _rattle(atoms, rattle, rng)
        frames.append(_label(atoms, calc, 'vacancy'))
    return frames


def surface(calc, element='Cu', a0=None, n=10, rattle=0.03, rng=0):
    """Alternating (111)/(100) slabs, size (2,2,4), 6 Å vacuum each side, fully periodic."""
    calc, rng = _get_calc(calc), np.random.default_rng(rng)
    a0 = a0 or equilibrium_lattice_constant(element, calc)
    frames = []
    for i in range(n):
        build = fcc111 if i % 2 == 0 else fcc100
        atoms = build(element, size=(2, 2, 4), a=a0, vacuum=6.0, periodic=True)
        _rattle(atoms, rattle, rng)
        frames.append(_label(atoms, calc, 'surface'))
    return frames


def isolated_atom(calc, element='Cu', box=20.0):
    """Single atom in a non-periodic cubic box (no virial) -> e0 reference."""
    atoms = Atoms(element, positions=[[box / 2] * 3], cell=[box] * 3, pbc=False)
    return [_label(atoms, _get_calc(calc), 'isolated_atom')]


# frames per protocol; 'medium' roughly quadruples the data
SIZES = {
    'small': dict(strained=12, rattled=16, md=24, vacancy=8, surface=10),
    'medium': dict(strained=40, rattled=60, md=100, vacancy=30, surface=40),
}


def build_database(element='Cu', calc=None, seed=0, size='small'):
    """Mix all protocols; independent, reproducible RNG streams derived from ``seed``."""
    calc, counts = _get_calc(calc), SIZES[size]
    a0 = equilibrium_lattice_constant(element, calc)
    s = np.random.SeedSequence(seed).spawn(5)
    return (strained_cells(calc, element, a0, n=counts['strained'], rng=s[0])
            + rattled_supercells(calc, element, a0, n=counts['rattled'], rng=s[1])
            + md_snapshots(calc, element, a0, n_snapshots=counts['md'], rng=s[2])
            + vacancy(calc, element, a0, n=counts['vacancy'], rng=s[3])
            + surface(calc, element, a0, n=counts['surface'], rng=s[4])
            + isolated_atom(calc, element))


if __name__ == '__main__':
    import collections
    import sys
    import ase.io
    db = build_database(sys.argv[1] if len(sys.argv) > 1 else 'Cu')
    ase.io.write('database.xyz', db, format='extxyz')
    print(collections.Counter(f.info['config_type'] for f in db),
          sum(len(f) for f in db), 'atoms')
