"""The six growing databases of the tungsten GAP study (Szlachta, Bartók & Csányi, PRB 90, 104108
(2014); the lecture's table 'Building up databases for tungsten'), for any bcc element and any ASE
reference calculator.

    GAP1  primitive              2000 one-atom primitive cells, lattice vectors varied (random
                                 symmetric strain, |eps_ij| <= 4 %: volumes within about +-12 %)
    GAP2  + md                   60 x 128-atom cells (4x4x4 cubic) from Langevin MD at
                                 300, 1000, 2000, 3000 and 3600 K (melting of W: 3695 K)
    GAP3  + vacancy              400 x 53-atom (3x3x3 - 1) and 20 x 127-atom (4x4x4 - 1) cells from
                                 MD at 300-3000 K
    GAP4  + surface              180 x 12-atom slabs, (100) (110) (111) (112), 12 layers, 10 Å vacuum,
                                 from MD at 300-2000 K
          + gamma_surface        6000 x 12-atom (110) and (112) generalised stacking faults: the
                                 cell vector across the plane tilted by u a1 + v a2 on a grid
                                 of in-plane shifts, the fault opened along its normal until no
                                 two atoms are closer than 0.75 a0, small thermal rattle
    GAP5  + vacancy_gamma_surface 750 x 47-atom cells: 2x2 gamma-surface cells with a vacancy in
                                 one of the two planes next to the fault
    GAP6  + dislocation          100 x 144-atom periodic 1/2<111> screw quadrupoles (matscipy;
                                 glide separation 6; the study's cell held 135), from MD at
                                 300-1000 K after a short relaxation

Every frame carries info['stage'] (the first database that holds it) and info['config_type'].
`scale` multiplies every count (tests: 0.01); everything is deterministic for a given seed.
"""
import sys
import time
import warnings

import numpy as np
from ase import Atoms
from ase.build import bulk, surface as ase_surface

from .database import _get_calc, _keep, _rattle, equilibrium_lattice_constant, md_sample, strained_cells

# cubic plane normal -> the same plane in Miller indices of ASE's bcc primitive cell,
# a_i = a/2 (-1,1,1), (1,-1,1), (1,1,-1): h_i = a_i . n / (a/2) (then one atom per layer)
BCC_PLANES = {'100': (-1, 1, 1), '110': (0, 0, 1), '111': (1, 1, 1), '112': (1, 1, 0)}

# gamma-surface cells open along the normal until atoms are at least this far apart (× a0; the
# nearest-neighbour distance is 0.866 a0): 0.75 a0 = 2.4 Å for W
OPEN_TO = 0.75

# (config_type, study count) per stage, in order
STAGES = {
    'GAP1': (('primitive', 2000),),
    'GAP2': (('md', 60),),
    'GAP3': (('vacancy', 400), ('vacancy_large', 20)),
    'GAP4': (('surface', 180), ('gamma_surface', 6000)),
    'GAP5': (('vacancy_gamma_surface', 750),),
    'GAP6': (('dislocation', 100),),
}


def plane_cell(element, a0, plane, layers=12, vacuum=None):
    """bcc cell of `layers` planes normal to the cubic `plane` ('100', '110', '111', '112'), one atom
    per plane, periodic along all three vectors; with `vacuum` (Å each side) a slab."""
    atoms = ase_surface(bulk(element, 'bcc', a=a0), BCC_PLANES[plane], layers, vacuum=vacuum, periodic=True)
    return Atoms(atoms)


def _primitive(calc, element, a0, n, rng):
    frames = strained_cells(calc, element, a0, n=n, max_strain=0.04, rng=rng, lattice='bcc')
    for f in frames:
        f.info['config_type'] = 'primitive'
    return frames


def _md(calc, element, a0, n, rng):
    cell = bulk(element, 'bcc', a=a0, cubic=True).repeat(4)
    return md_sample(cell, calc, (300, 1000, 2000, 3000, 3600), n, rng, 'md', interval=20, n_equil=100)


def _vacancy_cells(calc, element, a0, n, rng, size, config_type):
    cell = bulk(element, 'bcc', a=a0, cubic=True).repeat(size)
    del cell[0]                             # all sites equivalent
    return md_sample(cell, calc, (300, 1000, 2000, 3000), n, rng, config_type)


def _surface(calc, element, a0, n, rng):
    frames = []
    per_plane = np.bincount(np.arange(n) % 4, minlength=4)
    for plane, count in zip(BCC_PLANES, per_plane):
        if count:
            slab = plane_cell(element, a0, plane, vacuum=10.0)
            md_sample(slab, calc, (300, 1000, 2000), count, rng, 'surface', frames=frames)
            for f in frames[-count:]:
                f.info['plane'] = f'({plane})'
    return frames


def _shifts(n):
    """n in-plane fractional shifts (u, v) on the smallest square grid holding n, row-major."""
    k = int(np.ceil(np.sqrt(n)))
    grid = [(i / k, j / k) for i in range(k) for j in range(k)]
    return grid[:n]


def gamma_cell(element, a0, plane, shift, layers=12, repeat=(1, 1), min_distance=None):
    """Generalised stacking fault: the cell vector across the plane tilted by u a1 + v a2, so the
    crystal meets its periodic image shifted; one fault per cell, no vacuum. With `min_distance`
    (Å) the fault opens along its normal, in 0.05 Å steps, until no two atoms are closer: a rigid
    on-top shift of close-spaced planes ((112): 1.3 Å apart) otherwise puts atoms inside the
    repulsive core, hundreds of eV/Å that no relaxed structure ever sees."""
    atoms = plane_cell(element, a0, plane, layers)
    cell = atoms.cell[:].copy()
    cell[2] += shift[0] * cell[0] + shift[1] * cell[1]
    normal = np.cross(cell[0], cell[1])
    normal /= np.linalg.norm(normal)
    for _ in range(200):
        trial = atoms.copy()
        trial.set_cell(cell, scale_atoms=False)
        trial = trial.repeat((*repeat, 1))
        trial.wrap()
        if min_distance is None or _min_distance(trial) >= min_distance:
            return trial
        cell[2] += 0.05 * normal
    raise RuntimeError(f"gamma_cell: could not open the {plane} fault to {min_distance} Å")


def _min_distance(atoms):
    from ase.neighborlist import neighbor_list
    d = neighbor_list('d', atoms, 3.0)
    return d.min() if len(d) else np.inf


def _gamma_surface(calc, element, a0, n, rng):
    frames = []
    for plane, count in zip(('110', '112'), (n - n // 2, n // 2)):
        for shift in _shifts(count):
            atoms = gamma_cell(element, a0, plane, shift, min_distance=OPEN_TO * a0)
            _rattle(atoms, rng.uniform(0.0, 0.1), rng)
            _keep(frames, atoms, calc, 'gamma_surface')
            frames[-1].info.update(plane=f'({plane})', gsf_shift=list(shift))
    return frames


def _vacancy_gamma_surface(calc, element, a0, n, rng):
    """2x2 gamma-surface cells (48 atoms) with a vacancy in the first or the last plane, i.e. next to
    the fault, at a random grid shift."""
    frames = []
    for i in range(n):
        plane = ('110', '112')[i % 2]
        shift = tuple(rng.integers(0, 8, 2) / 8)
        atoms = gamma_cell(element, a0, plane, shift, repeat=(2, 2), min_distance=OPEN_TO * a0)
        z = atoms.get_scaled_positions()[:, 2].round(6)
        layer = np.unique(z)[0 if rng.random() < 0.5 else -1]
        del atoms[int(rng.choice(np.flatnonzero(z == layer)))]
        _rattle(atoms, rng.uniform(0.0, 0.1), rng)
        _keep(frames, atoms, calc, 'vacancy_gamma_surface')
        frames[-1].info.update(plane=f'({plane})', gsf_shift=list(shift))
    return frames


def screw_quadrupole(element, a0, elastic, glide_separation=6):
    """Periodic quadrupole of 1/2<111> screw dislocations (matscipy, anisotropic elastic field),
    one Burgers vector thick."""
    import matscipy.dislocation as md

    quad = md.CubicCrystalDislocationQuadrupole(md.BCCScrew111Dislocation, a0, *elastic, symbol=element)
    with warnings.catch_warnings():         # matscipy warns about small separations
        warnings.simplefilter('ignore')
        _, atoms = quad.build_quadrupole(glide_separation=glide_separation, method='adsl', verbose=False)
    return Atoms(atoms)


def _dislocation(calc, element, a0, n, rng):
    from ase.optimize import FIRE

    from .database import cubic_elastic_constants

    atoms = screw_quadrupole(element, a0, cubic_elastic_constants(element, calc, a0, 'bcc'))
    atoms.calc = calc
    FIRE(atoms, logfile=None).run(fmax=0.05, steps=30)
    atoms.calc = None
    return md_sample(atoms, calc, (300, 600, 1000), n, rng, 'dislocation', n_equil=40)


GENERATORS = {
    'primitive': _primitive, 'md': _md,
    'vacancy': lambda c, e, a, n, r: _vacancy_cells(c, e, a, n, r, 3, 'vacancy'),
    'vacancy_large': lambda c, e, a, n, r: _vacancy_cells(c, e, a, n, r, 4, 'vacancy'),
    'surface': _surface, 'gamma_surface': _gamma_surface,
    'vacancy_gamma_surface': _vacancy_gamma_surface, 'dislocation': _dislocation,
}


def build_stages(element='W', calc=None, scale=1.0, seed=0, stages=tuple(STAGES), log=None):
    """Frames of the requested stages (each frame labelled with the stage that adds it), plus an
    isolated atom in GAP1. Counts are the study's times `scale` (at least one frame each)."""
    from .database import isolated_atom

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stages {sorted(unknown)}; choose from {', '.join(STAGES)}")
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    calc = _get_calc(calc)
    a0 = equilibrium_lattice_constant(element, calc, lattice='bcc')
    log(f"{element} bcc: reference a0 = {a0:.4f} Å")
    streams = iter(np.random.SeedSequence(seed).spawn(sum(len(v) for v in STAGES.values())))
    frames = []
    for stage, parts in STAGES.items():
        for config_type, count in parts:
            rng = np.random.default_rng(next(streams))   # one fixed stream per part, whatever is asked
            if stage not in stages:
                continue
            t, n = time.perf_counter(), max(1, int(round(count * scale)))
            new = GENERATORS[config_type](calc, element, a0, n, rng)
            if stage == 'GAP1' and config_type == 'primitive':
                new += isolated_atom(calc, element)
            for f in new:
                f.info['stage'] = stage
            frames += new
            log(f"{stage} {config_type:<22s} {len(new):5d} frames {sum(map(len, new)):7d} atoms "
                f"{time.perf_counter() - t:7.1f} s")
    return frames


def stage_subset(frames, stage):
    """The database of `stage`: every frame added by it or an earlier stage."""
    order = list(STAGES)
    if stage not in order:
        raise ValueError(f"unknown stage {stage!r}; choose from {', '.join(order)}")
    keep = set(order[:order.index(stage) + 1])
    missing = [f for f in frames if 'stage' not in f.info]
    if missing:
        raise ValueError(f"{len(missing)} frames carry no info['stage'] (build them with build_stages)")
    return [f for f in frames if f.info['stage'] in keep]
