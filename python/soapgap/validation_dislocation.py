"""The ½<111> screw dislocation of a bcc metal, model against reference (the tungsten study's last
three columns): core structure (Nye tensor), dislocation-vacancy binding and the Peierls barrier.

Set-up (matscipy's BCCScrew111Dislocation): z = [111] along the line, periodic over one Burgers
vector b = a√3/2, x = [11-2] the glide direction on (1-10). A cylinder of `radius` Å carries the
anisotropic elastic (Stroh) displacement field; its outer shell of FIX_WIDTH Å (two cutoffs) is
held fixed, so the mobile atoms never see the free surface. Every calculator is relaxed at its own
a0 with its own elastic constants, and atoms are matched through their reduced reference
coordinates, so model and reference are compared atom by atom. Each function returns
{'values': rows, 'data': curves and positions for figures}, like soapgap.validation.
"""
import contextlib
import time
import warnings

import numpy as np
from ase import Atoms
from ase.build import bulk as ase_bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.constraints import FixAtoms

from .database import cubic_elastic_constants
from .validation import _both, _cmp, _err_only, _own_a0, threadpool_limits
from .validation import _relax as _relax_fixed_cell

FIX_WIDTH = 10.0       # Å of fixed shell: twice the largest cutoff used here (5 Å)
VACUUM = 12.0          # Å added across x and y: matscipy's cell hugs the cylinder
RADIUS = {None: 30.0, 'quick': 18.0}   # full run / quick run (tests); 16 Å: the NEB stalls
N_CORE = 12            # atoms nearest the core in the Nye-tensor comparison (the study's choice)


def _setup(calc, element, lattice, a0):
    """a0 and (C11, C12, C44) of this calculator."""
    if lattice != 'bcc':
        raise ValueError(f"the ½<111> screw dislocation needs a bcc lattice, not {lattice!r}")
    a = _own_a0(calc, element, lattice, a0)
    return a, cubic_elastic_constants(element, calc, a, lattice)


def _screw(element, a, C):
    from matscipy.dislocation import BCCScrew111Dislocation

    return BCCScrew111Dislocation(a, C11=C[0], C12=C[1], C44=C[2], symbol=element)


def _pad(*systems):
    """Enlarge the cell across x and y (same shift for all, so displacements stay valid)."""
    shift = np.array([VACUUM / 2, VACUUM / 2, 0.0])
    for s in systems:
        cell = s.cell.array.copy()
        cell[0, 0] += VACUUM
        cell[1, 1] += VACUUM
        s.set_cell(cell, scale_atoms=False)
        s.set_positions(s.get_positions() + shift, apply_constraint=False)


def _fixed(atoms, mask):
    atoms = Atoms(atoms)
    atoms.set_constraint(FixAtoms(mask=np.asarray(mask, bool)))
    atoms.arrays['fix_mask'] = np.asarray(mask, bool)
    return atoms


def cylinder(element, a, C, radius):
    """(perfect cylinder, dislocated cylinder, core xy), same atom order, fixed outer shell."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        bulk, disl = _screw(element, a, C).build_cylinder(radius, fix_width=FIX_WIDTH, verbose=False)
    core = np.array(disl.info['core_positions'][0])[:2]
    _pad(bulk, disl)
    mask = disl.arrays['fix_mask']
    return _fixed(bulk, mask), _fixed(disl, mask), core + VACUUM / 2


def _relax(atoms, calc):
    return _relax_fixed_cell(atoms, calc, fmax=1e-3, steps=2000)


def _run_both(model_calc, reference_calc, element, lattice, a0, fn):
    return _both(model_calc, reference_calc, lambda calc: fn(calc, *_setup(calc, element, lattice, a0)))


# ----------------------------------------------------------------------------- core structure
def nye_tensor(atoms, bulk, a, copies=3):
    """Per-atom Nye tensor (N×3×3, 1/Å; atomman.defect.Strain, Hartley & Mishin 2005) from the
    eight first-neighbour vectors of each atom in the perfect cylinder. The cell is one b thick,
    so the ±b/2<111> neighbours are an atom's own images: the cell is repeated `copies` times along
    the line first, and the first copy returned."""
    import atomman as am
    from atomman.defect import Strain

    def plain(x):
        y = Atoms(x)
        y.set_constraint()
        return am.load('ase_Atoms', y.repeat((1, 1, copies)))

    cutoff = 0.5 * (np.sqrt(3) / 2 + 1.0) * a        # between the first (0.87 a) and second (a) shells
    return Strain(plain(atoms), cutoff=cutoff, basesystem=plain(bulk), theta_max=27.0).nye[:len(atoms)]


def core_structure(model_calc, reference_calc, element, lattice='bcc', a0=None, radius=None):
    """Relaxed easy core of each calculator; Nye tensor of the N_CORE atoms nearest the elastic
    centre, matched by reduced reference coordinates (shell, then angle); RMS of the per-atom
    difference of the full tensor (the study's 'dislocation structure' column, 1/Å). The data hold
    the displacement of every atom within 12 Å of the core, for differential-displacement maps."""
    radius = RADIUS.get(radius, radius)

    def run(calc, a, C):
        bulk, disl, core = cylinder(element, a, C, radius)
        e, ok, steps = _relax(disl, calc)
        alpha = nye_tensor(disl, bulk, a)
        rel = (bulk.positions[:, :2] - core) / a
        r = np.round(np.linalg.norm(rel, axis=1), 3)
        ang = np.round(np.degrees(np.arctan2(rel[:, 1], rel[:, 0])) % 360, 1)
        idx = np.lexsort((ang, r))[:N_CORE]
        near = np.flatnonzero(np.linalg.norm(bulk.positions[:, :2] - core, axis=1) < 12.0)
        b = a * np.sqrt(3) / 2
        burgers = alpha[~disl.arrays['fix_mask'], 2, 2].sum() * a ** 2 / np.sqrt(3) / b   # ≈ 1: a whole b
        return dict(alpha=alpha[idx], reduced=rel[idx], converged=ok, steps=steps, burgers=burgers,
                    map={'a': a, 'b': b, 'core': core, 'bulk': bulk.positions[near],
                         'displacement': disl.positions[near] - bulk.positions[near]})
    m, r = _run_both(model_calc, reference_calc, element, lattice, a0, run)
    values = {'core alpha_zz max': _cmp(m['alpha'][:, 2, 2].max(), r['alpha'][:, 2, 2].max() if r else None, '1/Å')}
    if r is not None:
        if not np.allclose(m['reduced'], r['reduced'], atol=1e-3):
            raise RuntimeError('core_structure: the near-core atom sets of model and reference differ')
        d = m['alpha'] - r['alpha']
        values['Nye tensor RMS error'] = _err_only(np.sqrt(np.mean(np.sum(d ** 2, axis=(1, 2)))), '1/Å')
    return {'values': values,
            'data': {'radius': radius, 'n_core': N_CORE,
                     'model': {k: m[k] for k in ('alpha', 'converged', 'steps', 'burgers', 'map')},
                     'reference': r and {k: r[k] for k in ('alpha', 'converged', 'steps', 'burgers', 'map')}}}


# ----------------------------------------------------------------------------- vacancy binding
def dislocation_vacancy_binding(model_calc, reference_calc, element, lattice='bcc', a0=None, radius=None,
                                thickness=1):
    """E_b = [E(disl + vacancy at the core) − E(disl)] − [E(bulk + vacancy) − E(bulk)] (eV; < 0:
    the vacancy is attracted), all four relaxed in the same cylinder, `thickness` b long: one b
    makes a row of vacancies along the line, which SNAP W binds as strongly as an isolated one
    (−0.976 eV against −0.969 eV with 3 b, radius 30 Å). The vacancy is the atom of the first
    layer whose column is nearest the core, the same atom index in the perfect cylinder."""
    radius = RADIUS.get(radius, radius)

    def run(calc, a, C):
        bulk, disl, core = cylinder(element, a, C, radius)
        bulk, disl = (_fixed(x.repeat((1, 1, thickness)), np.tile(x.arrays['fix_mask'], thickness))
                      for x in (bulk, disl))
        layer = np.abs(bulk.positions[:, 2] - bulk.positions[:, 2].min()) < 0.1
        dist = np.where(layer, np.linalg.norm(bulk.positions[:, :2] - core, axis=1), np.inf)
        iv = int(np.argmin(dist))
        energies, ok = {}, []
        for name, system in (('bulk', bulk), ('disl', disl)):
            energies[name] = _relax(system.copy(), calc)[0]
            vac = Atoms(system)
            vac.set_constraint()
            del vac[iv]
            vac = _fixed(vac, np.delete(system.arrays['fix_mask'], iv))
            energies[name + '+vac'], conv, _ = _relax(vac, calc)
            ok.append(conv)
        e_bulk = energies['bulk+vac'] - energies['bulk']
        e_core = energies['disl+vac'] - energies['disl']
        prim = ase_bulk(element, lattice, a=a)       # + one crystal atom: the formation energy
        prim.calc = calc
        return e_core - e_bulk, e_bulk + prim.get_potential_energy(), all(ok), len(disl)
    m, r = _run_both(model_calc, reference_calc, element, lattice, a0, run)
    return {'values': {'binding energy': _cmp(m[0], r and r[0], 'eV'),
                       'E_vac in the cylinder': _cmp(m[1], r and r[1], 'eV')},   # fixed shell: a check
            'data': {'radius': radius, 'thickness_b': thickness, 'atoms': m[3],
                     'converged': [m[2], r and r[2]]}}


# ----------------------------------------------------------------------------- Peierls barrier
class _Shared(Calculator):
    """One image's results in front of a calculator shared by all NEB images (ase.mep.NEB
    otherwise needs a calculator per image, and file- or process-backed references cannot be
    copied)."""
    implemented_properties = ['energy', 'free_energy', 'forces']

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def calculate(self, atoms=None, properties=('energy',), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = Atoms(self.atoms)
        a.set_constraint()
        a.calc = self.inner
        e = a.get_potential_energy()
        self.results = {'energy': e, 'free_energy': e, 'forces': a.get_forces()}


def peierls_barrier(model_calc, reference_calc, element, lattice='bcc', a0=None, radius=None, images=7,
                    fmax=0.01, steps=400):
    """Glide of the straight screw line by one Peierls valley, a√6/3 on (1-10), between two
    easy-core positions (matscipy's glide configurations: a pill-shaped cylinder holding both,
    the fixed shell interpolated with the core): nudged elastic band (improved tangent, FIRE to
    0.05 eV/Å, then climbing image to `fmax`). The cell is one b long, so energies are per b."""
    from ase.mep import NEB
    from ase.optimize import FIRE

    radius = RADIUS.get(radius, radius)

    def run(calc, a, C):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            bulk, ini, fin = _screw(element, a, C).build_glide_configurations(radius, fix_width=FIX_WIDTH,
                                                                                verbose=False)
        _pad(bulk, ini, fin)
        ini, fin = (_fixed(x, x.arrays['fix_mask']) for x in (ini, fin))
        _relax(ini, calc)
        _relax(fin, calc)
        path = [ini] + [ini.copy() for _ in range(images - 2)] + [fin]
        for im in path:
            im.calc = _Shared(calc)
        neb = NEB(path, climb=False, method='improvedtangent')
        neb.interpolate(apply_constraint=False)   # the fixed shell moves with the core too
        limit = threadpool_limits(1, user_api='blas') if threadpool_limits else contextlib.nullcontext()
        t = time.perf_counter()
        with limit:
            opt = FIRE(neb, logfile=None)
            opt.run(fmax=0.05, steps=steps)
            neb.climb = True
            converged = opt.run(fmax=fmax, steps=steps)
        energy = np.array([im.get_potential_energy() for im in path])
        s = np.concatenate([[0], np.cumsum([np.linalg.norm(path[i + 1].positions - path[i].positions)
                                            for i in range(len(path) - 1)])])
        return dict(barrier=float(energy.max() - energy[0]), energy=energy - energy[0], reaction_coordinate=s / s[-1],
                    converged=bool(converged), atoms=len(ini), seconds=time.perf_counter() - t)
    m, r = _run_both(model_calc, reference_calc, element, lattice, a0, run)
    return {'values': {'Peierls barrier': _cmp(m['barrier'], r and r['barrier'], 'eV/b')},
            'data': {'radius': radius, 'model': m, 'reference': r}}
