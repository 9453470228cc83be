"""Small reference database for fitting an interatomic potential to an fcc or bcc metal.

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

* ``strained``        primitive cell under random symmetric (normal + shear)
                      strains -> energy/virial response = elastic constants, EOS
* ``rattled``         cubic supercell with random displacements -> forces,
                      harmonic (phonon-like) regime
* ``md``              Langevin MD snapshots at finite temperature -> anharmonic,
                      thermally relevant configurations
* ``vacancy``         supercell minus one atom -> point-defect environment
* ``surface``         low-index slabs with vacuum -> under-coordinated atoms
* ``isolated_atom``   one atom in a large non-periodic box -> reference energy e0

and, for plasticity (``extra``, on by default):

* ``gamma_surface``   generalised stacking faults (fcc {111}<112>, bcc {110}<111>)
                      made by tilting the periodic cell -> one fault plane per cell
* ``vacancy_surface`` slab with a vacancy in the surface or subsurface layer
* ``dislocation``     periodic screw-dislocation quadrupole (matscipy), snapshots
                      of a short relaxation with the reference calculator

``lattice`` is 'fcc' or 'bcc' (default: the element's reference state). With
``extra=()`` the fcc output is identical to the original fcc-only generator.
Everything is deterministic for a given ``seed``.
"""
import sys
import warnings

import numpy as np
from ase import Atoms, units
from ase.build import bcc100, bcc110, bulk, diamond100, diamond111, fcc100, fcc111
from ase.constraints import FixCom
from ase.data import atomic_numbers, reference_states
from ase.eos import EquationOfState
from ase.lattice.cubic import BodyCenteredCubic, FaceCenteredCubic
from ase.md.langevin import Langevin
try:                                        # ASE >= 3.29
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:                         # older ASE
    from ase.md.velocitydistribution import \
        MaxwellBoltzmannDistribution as thermalize_momenta

ATOMS_PER_CUBE = {'fcc': 4, 'bcc': 2, 'diamond': 8}  # atoms in the conventional cubic cell


def _get_calc(calc):
    """Accept an ASE calculator, a zero-arg factory (e.g. the EMT class) or None."""
    if calc is None:
        from ase.calculators.emt import EMT
        return EMT()
    return calc() if callable(calc) else calc


def _lattice(element, lattice=None):
    """'fcc'/'bcc'/'diamond' as given, else the element's reference state (must be one of them)."""
    lattice = lattice or reference_states[atomic_numbers[element]]['symmetry']
    if lattice not in ATOMS_PER_CUBE:
        raise ValueError(f"{element}: lattice {lattice!r} not supported; pass lattice='fcc', 'bcc' or 'diamond'")
    return lattice


def _cubic(element, a0, lattice, size=None):
    """Conventional cubic supercell; bcc defaults to 3x3x3 (54 atoms) so that it is
    comparable to the 2x2x2 fcc cell (32 atoms) rather than a tiny 16-atom box; diamond 2x2x2
    (64 atoms)."""
    size = size or ((3, 3, 3) if lattice == 'bcc' else (2, 2, 2))
    return bulk(element, lattice, a=a0, cubic=True).repeat(size)


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
    for key in ('adsorbate_info', 'core_positions', 'burgers_vectors',   # slab / matscipy
                'dislocation_types', 'dislocation_classes'):              # metadata, not
        frame.info.pop(key, None)                                         # extxyz-friendly
    if frame.has('momenta'):
        frame.set_momenta(None)             # keep frames uniform (no MD velocities)
    frame.info['energy'] = float(energy)
    if virial is not None:
        frame.info['virial'] = virial
    frame.arrays['forces'] = np.array(forces)
    frame.info['config_type'] = config_type
    return frame


def _keep(frames, atoms, calc, config_type):
    """Label and append; a reference that fails on this structure (an SCF that does not converge:
    references.ReferenceFailure) is reported and the frame skipped, never kept."""
    from .references import ReferenceFailure

    try:
        frames.append(_label(atoms, calc, config_type))
    except ReferenceFailure as e:
        print(f"soapgap: skipped a {config_type} frame: {e}", file=sys.stderr, flush=True)


def _rattle(atoms, stdev, rng):
    atoms.positions += rng.normal(scale=stdev, size=atoms.positions.shape)


def equilibrium_lattice_constant(element='Cu', calc=None, rel_range=0.03, npts=7, lattice=None):
    """Cubic lattice constant from an EOS fit on the one-atom primitive cell."""
    calc, lattice = _get_calc(calc), _lattice(element, lattice)
    n = ATOMS_PER_CUBE[lattice]
    ref = reference_states[atomic_numbers[element]]
    if ref['symmetry'] == lattice:
        a_ref = ref['a']
    else:                                   # e.g. Cu in bcc: same volume per atom as the reference
        ref = bulk(element)
        a_ref = (n * ref.get_volume() / len(ref)) ** (1.0 / 3.0)
    return eos_scan(calc, element, lattice, a_ref, rel_range, npts)[0]


def eos_scan(calc, element, lattice, a, rel=0.03, npts=7, eos='sj'):
    """E(V) of the primitive cell for lattice constants a*(1 +- rel) and its fit: returns (a0, e0 and
    B per primitive cell (eV, eV/Å^3), volumes, energies)."""
    volumes, energies = [], []
    for x in a * np.linspace(1 - rel, 1 + rel, npts):
        atoms = bulk(element, lattice, a=x)
        atoms.calc = calc
        volumes.append(atoms.get_volume())
        energies.append(atoms.get_potential_energy())
    v0, e0, b = EquationOfState(volumes, energies, eos=eos).fit()
    cells = len(bulk(element, lattice, a=a, cubic=True)) // len(bulk(element, lattice, a=a))  # primitive per cube
    return (cells * v0) ** (1.0 / 3.0), e0, b, volumes, energies


def cubic_elastic_constants(element='Cu', calc=None, a0=None, lattice=None, eps=1e-3):
    """C11, C12, C44 (GPa) by central differences of the stress of the cubic cell.
    fcc and bcc are Bravais lattices, so no internal relaxation is needed."""
    calc, lattice = _get_calc(calc), _lattice(element, lattice)
    a0 = a0 or equilibrium_lattice_constant(element, calc, lattice=lattice)

    def stress(strain):
        atoms = bulk(element, lattice, a=a0, cubic=True)
        atoms.set_cell(atoms.cell[:] @ (np.eye(3) + strain), scale_atoms=True)
        atoms.calc = calc
        return atoms.get_stress(voigt=False)

    e_xx, e_yz = np.zeros((3, 3)), np.zeros((3, 3))
    e_xx[0, 0] = eps
    e_yz[1, 2] = e_yz[2, 1] = eps / 2       # engineering shear strain gamma_yz = eps
    d_xx = (stress(e_xx) - stress(-e_xx)) / (2 * eps)
    d_yz = (stress(e_yz) - stress(-e_yz)) / (2 * eps)
    return d_xx[0, 0] / units.GPa, d_xx[1, 1] / units.GPa, d_yz[1, 2] / units.GPa


def strained_cells(calc, element='Cu', a0=None, n=12, max_strain=0.02, rng=0, lattice=None):
    """Primitive cell under random symmetric strains with |eps_ij| <= max_strain."""
    calc, rng, lattice = _get_calc(calc), np.random.default_rng(rng), _lattice(element, lattice)
    a0 = a0 or equilibrium_lattice_constant(element, calc, lattice=lattice)
    frames = []
    for _ in range(n):
        eps = rng.uniform(-max_strain, max_strain, (3, 3))
        eps = 0.5 * (eps + eps.T)
        atoms = bulk(element, lattice, a=a0)
        atoms.set_cell(atoms.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
        _keep(frames, atoms, calc, 'strained')
    return frames


def rattled_supercells(calc, element='Cu', a0=None, size=None, n=16,
                       rattle=(0.05, 0.1), rng=0, lattice=None):
    """Conventional cubic supercell, Gaussian displacements with stdev in ``rattle``."""
    calc, rng, lattice = _get_calc(calc), np.random.default_rng(rng), _lattice(element, lattice)
    a0 = a0 or equilibrium_lattice_constant(element, calc, lattice=lattice)
    frames = []
    for _ in range(n):
        atoms = _cubic(element, a0, lattice, size)
        _rattle(atoms, rng.uniform(*rattle), rng)
        _keep(frames, atoms, calc, 'rattled')
    return frames


def md_snapshots(calc, element='Cu', a0=None, temperature_K=600, n_snapshots=24,
                 interval=10, n_equil=50, size=None, rng=0, lattice=None):
    """Langevin NVT (2 fs step) snapshots every ``interval`` steps after ``n_equil``."""
    calc, rng, lattice = _get_calc(calc), np.random.default_rng(rng), _lattice(element, lattice)
    a0 = a0 or equilibrium_lattice_constant(element, calc, lattice=lattice)
    return md_sample(_cubic(element, a0, lattice, size), calc, (temperature_K,), n_snapshots, rng, 'md',
                     interval=interval, n_equil=n_equil)


def md_sample(atoms, calc, temperatures, n, rng, config_type, interval=10, n_equil=60, frames=None,
              timestep=2.0):
    """n snapshots of Langevin NVT MD (``timestep`` fs, friction 0.01/fs), spread evenly over
    `temperatures` (each run starts again from `atoms`), one every `interval` steps after
    `n_equil` steps of equilibration."""
    from .references import ReferenceFailure

    frames = [] if frames is None else frames
    per_t = np.bincount(np.arange(n) % len(temperatures), minlength=len(temperatures))
    for temp, count in zip(temperatures, per_t):
        if not count:
            continue
        md = atoms.copy()
        thermalize_momenta(md, temperature_K=temp, rng=rng)
        md.set_constraint(FixCom())
        md.calc = calc
        dyn = Langevin(md, timestep=timestep * units.fs, temperature_K=temp, friction=0.01 / units.fs,
                       fixcm=False, rng=rng)
        try:
            dyn.run(n_equil)
            for _ in range(count):
                dyn.run(interval)
                n_before = len(frames)
                _keep(frames, md, calc, config_type)
                if len(frames) > n_before:
                    frames[-1].info['temperature_K'] = float(temp)
                md.calc = calc              # _label detaches it; re-attach for MD
        except ReferenceFailure as e:       # a step the reference cannot do ends this run, not the build
            print(f"soapgap: {config_type} MD at {temp:g} K stopped after {dyn.nsteps} steps: {e}",
                  file=sys.stderr, flush=True)
    return frames


def vacancy(calc, element='Cu', a0=None, n=8, rattle=0.03, rng=0, lattice=None):
    """Cubic supercell minus one atom, small Gaussian rattle."""
    calc, rng, lattice = _get_calc(calc), np.random.default_rng(rng), _lattice(element, lattice)
    a0 = a0 or equilibrium_lattice_constant(element, calc, lattice=lattice)
    frames = []
    for _ in range(n):
        atoms = _cubic(element, a0, lattice)
        del atoms[int(rng.integers(len(atoms)))]   # all sites equivalent
        _rattle(atoms, rattle, rng)
        _keep(frames, atoms, calc, 'vacancy')
    return frames


# close-packed and open low-index slabs per lattice
SLABS = {'fcc': (fcc111, fcc100), 'bcc': (bcc110, bcc100), 'diamond': (diamond111, diamond100)}


def surface(calc, element='Cu', a0=None, n=10, rattle=0.03, rng=0, lattice=None):
    """Alternating close-packed/(100) slabs, size (2,2,4), 6 Å vacuum each side, fully periodic."""
    calc, rng, lattice = _get_calc(calc), np.random.default_rng(rng), _lattice(element, lattice)
    a0 = a0 or equilibrium_lattice_constant(element, calc, lattice=lattice)
    frames = []
    for i in range(n):
        build = SLABS[lattice][i % 2]
        atoms = build(element, size=(2, 2, 4), a=a0, vacuum=6.0, periodic=True)
        _rattle(atoms, rattle, rng)
        _keep(frames, atoms, calc, 'surface')
    return frames


def isolated_atom(calc, element='Cu', box=20.0):
    """Single atom in a non-periodic cubic box (no virial) -> e0 reference."""
    atoms = Atoms(element, positions=[[box / 2] * 3], cell=[box] * 3, pbc=False)
    return [_label(atoms, _get_calc(calc), 'isolated_atom')]


# --- plasticity-oriented generators ------------------------------------------------------

# Slip-system-aligned cells: x = slip direction, z = slip-plane normal. ase.lattice.cubic
# reduces them to the smallest periodic cell: |x| is then exactly one slip period
# (a*sqrt(6)/2 fcc, a*sqrt(3)/2 = b bcc) and each z repeat holds 3 (fcc) or 2 (bcc) planes.
SLIP = {'fcc': (FaceCenteredCubic, [[1, 1, -2], [-1, 1, 0], [1, 1, 1]], np.sqrt(6) / 2, 3),
        'bcc': (BodyCenteredCubic, [[1, 1, 1], [-1, -1, 2], [1, -1, 0]], np.sqrt(3) / 2, 2)}


def slip_cell(element, a0, lattice, n_planes=None, min_width=4.0):
    """Periodic bulk cell, x along the slip direction, z normal to the slip plane, about
    ``n_planes`` planes thick (default 9 fcc / 8 bcc, i.e. ~16-19 Å between the fault and its
    image), in-plane repeats so both widths are >= ``min_width`` (fcc 36, bcc 48 atoms).
    Returns (atoms, slip period in Å)."""
    cls, directions, period, per_rep = SLIP[lattice]
    n_planes = n_planes or (9 if lattice == 'fcc' else 8)
    unit = cls(directions=directions, size=(1, 1, 1), symbol=element, latticeconstant=a0, pbc=True)
    assert np.isclose(unit.cell.lengths()[0], period * a0), 'unexpected slip-cell reduction'
    reps = [int(np.ceil(min_width / x)) for x in unit.cell.lengths()[:2]]
    atoms = Atoms(unit).repeat((*reps, int(np.ceil(n_planes / per_rep))))   # plain Atoms
    return atoms, period * a0


def gamma_surface(calc, element='Cu', a0=None, n=10, rattle=0.02, n_planes=None, rng=0, lattice=None):
    """Generalised stacking faults along the slip line (fcc {111}<112>, bcc {110}<111>).

    Shifts u = k/(n+1), k=1..n, of one slip period; for n=5 in fcc that hits the unstable
    SF (1/6), the intrinsic SF (1/3) and the on-top maximum (2/3). The fault is made by
    adding the shift to the cell vector c (positions untouched), so the only fault is where
    the crystal meets its periodic image: one fault per cell, no vacuum, full virial.
    Unrelaxed (rigid) shifts plus a small rattle."""
    calc, rng, lattice = _get_calc(calc), np.random.default_rng(rng), _lattice(element, lattice)
    a0 = a0 or equilibrium_lattice_constant(element, calc, lattice=lattice)
    frames = []
    for k in range(1, n + 1):
        atoms, period = slip_cell(element, a0, lattice, n_planes)
        cell = atoms.cell[:].copy()
        cell[2, 0] += k / (n + 1) * period  # tilt c along the slip direction (x)
        atoms.set_cell(cell, scale_atoms=False)
        atoms.wrap()
        _rattle(atoms, rattle, rng)
        atoms.info['gsf_shift'] = k / (n + 1)
        _keep(frames, atoms, calc, 'gamma_surface')
    return frames


def vacancy_surface(calc, element='Cu', a0=None, n=6, rattle=0.03, rng=0, lattice=None):
    """(3,3,4) close-packed/(100) slabs with one vacancy in the surface or the subsurface
    layer (alternating), 6 Å vacuum each side, fully periodic."""
    calc, rng, lattice = _get_calc(calc), np.random.default_rng(rng), _lattice(element, lattice)
    a0 = a0 or equilibrium_lattice_constant(element, calc, lattice=lattice)
    frames = []
    for i in range(n):
        atoms = SLABS[lattice][i % 2](element, size=(3, 3, 4), a=a0, vacuum=6.0, periodic=True)
        z = atoms.positions[:, 2].round(3)
        layer = np.unique(z)[-1 - (i // 2) % 2]             # top, then subsurface layer
        sites = np.flatnonzero(z == layer)
        del atoms[int(rng.choice(sites))]
        _rattle(atoms, rattle, rng)
        _keep(frames, atoms, calc, 'vacancy_surface')
    return frames


def dislocation(calc, element='Cu', a0=None, n=4, rattle=0.02, glide_separation=4,
                relax_steps=(0, 5), rng=0, lattice=None, elastic=None):
    """Screw-dislocation quadrupoles (matscipy): fcc 1/2<110> dissociated into Shockley
    partials (partial distances 1, 2), bcc 1/2<111>; 60-72 atoms, one Burgers vector thick,
    fully periodic (no vacuum, no fixed boundary, so energies and virials are clean).

    The anisotropic-elastic ('adsl', matscipy's own Stroh solver, no atomman needed) field
    is relaxed for only ``relax_steps`` FIRE steps with the reference calculator: at this
    size the opposite-sign cores attract and a full relaxation annihilates them (EMT Cu:
    back to bulk energy after ~40 steps), while the early snapshots keep distinct cores."""
    import matscipy.dislocation as md
    from ase.optimize import FIRE
    calc, rng, lattice = _get_calc(calc), np.random.default_rng(rng), _lattice(element, lattice)
    a0 = a0 or equilibrium_lattice_constant(element, calc, lattice=lattice)
    C = elastic or cubic_elastic_constants(element, calc, a0, lattice)
    if C[0] - C[1] <= 0 or C[2] <= 0:       # unstable lattice (e.g. EMT Cu in bcc): the Stroh
        B, Cp = (C[0] + 2 * C[1]) / 3, max(abs(C[0] - C[1]) / 2, 5.0)   # solution needs a stable C;
        C = (B + 4 * Cp / 3, B - 2 * Cp / 3, max(abs(C[2]), 5.0))    # keep B, flip C' (training data only)
    if lattice == 'fcc':
        cls, distances = md.FCCScrew110Dislocation, (1, 2)
    else:
        cls, distances = md.BCCScrew111Dislocation, (0,)
    quad = md.CubicCrystalDislocationQuadrupole(cls, a0, *C, symbol=element)
    cache = {}
    frames = []
    for i in range(n):
        pd, steps = distances[i % len(distances)], relax_steps[(i // len(distances)) % len(relax_steps)]
        if (pd, steps) not in cache:
            with warnings.catch_warnings():  # matscipy warns about small separations
                warnings.simplefilter('ignore')
                _, atoms = quad.build_quadrupole(glide_separation=glide_separation,
                                                 partial_distance=pd, method='adsl', verbose=False)
            atoms = Atoms(atoms)
            if steps:
                atoms.calc = calc
                FIRE(atoms, logfile=None).run(fmax=0.01, steps=steps)
                atoms.calc = None
            cache[pd, steps] = atoms
        atoms = cache[pd, steps].copy()
        _rattle(atoms, rattle, rng)
        _keep(frames, atoms, calc, 'dislocation')
    return frames


# frames per protocol; 'medium' roughly quadruples the data (EMT Cu: 9,700 atoms); 'large' is
# the scale of the largest published GAPs (EMT Cu: about 157,000 environments)
SIZES = {
    'small': dict(strained=12, rattled=16, md=24, vacancy=8, surface=10,
                  gamma_surface=10, vacancy_surface=6, dislocation=4),
    'medium': dict(strained=40, rattled=60, md=100, vacancy=30, surface=40,
                   gamma_surface=30, vacancy_surface=24, dislocation=16),
    'large': dict(strained=400, rattled=1000, md=1600, vacancy=500, surface=600,
                  gamma_surface=500, vacancy_surface=400, dislocation=250),
}
EXTRA = {'gamma_surface': gamma_surface, 'vacancy_surface': vacancy_surface,
         'dislocation': dislocation}


def build_database(element='Cu', calc=None, seed=0, size='small', lattice=None,
                   extra=('gamma_surface', 'vacancy_surface', 'dislocation')):
    """Mix all protocols; independent, reproducible RNG streams derived from ``seed``.
    SeedSequence children are indexed, so the first five streams (and hence the original
    protocols) do not depend on which ``extra`` generators are requested."""
    unknown = set(extra) - set(EXTRA)
    if unknown:
        raise ValueError(f"unknown extra generators {sorted(unknown)}; choose from {list(EXTRA)}")
    calc, counts, lattice = _get_calc(calc), SIZES[size], _lattice(element, lattice)
    if lattice == 'diamond':             # the slip-system generators are written for fcc and bcc
        plastic = {'gamma_surface', 'dislocation'} & set(extra)
        if plastic and extra != build_database.__defaults__[-1]:
            raise ValueError(f"{sorted(plastic)}: not available for diamond (fcc/bcc slip systems only)")
        extra = tuple(e for e in extra if e not in plastic)
    a0 = equilibrium_lattice_constant(element, calc, lattice=lattice)
    s = np.random.SeedSequence(seed).spawn(5 + len(EXTRA))
    kw = dict(lattice=lattice)
    frames = (strained_cells(calc, element, a0, n=counts['strained'], rng=s[0], **kw)
              + rattled_supercells(calc, element, a0, n=counts['rattled'], rng=s[1], **kw)
              + md_snapshots(calc, element, a0, n_snapshots=counts['md'], rng=s[2], **kw)
              + vacancy(calc, element, a0, n=counts['vacancy'], rng=s[3], **kw)
              + surface(calc, element, a0, n=counts['surface'], rng=s[4], **kw))
    for i, name in enumerate(EXTRA):        # fixed stream per generator, whatever the subset
        if name in extra:
            frames += EXTRA[name](calc, element, a0, n=counts[name], rng=s[5 + i], **kw)
    return frames + isolated_atom(calc, element)


if __name__ == '__main__':
    import collections
    import sys
    import ase.io
    db = build_database(sys.argv[1] if len(sys.argv) > 1 else 'Cu',
                        lattice=sys.argv[2] if len(sys.argv) > 2 else None)
    ase.io.write('database.xyz', db, format='extxyz')
    print(collections.Counter(f.info['config_type'] for f in db),
          sum(len(f) for f in db), 'atoms')
