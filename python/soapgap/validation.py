"""Validate a model calculator against a reference ASE calculator for an elemental cubic metal.

Every property function takes ``(model_calc, reference_calc, element, lattice='fcc', a0=None)``
and returns a plain (JSON-serialisable) dict

    {'values': {name: {'model', 'reference', 'error', 'error_kind', 'unit'}, ...},
     'data':   {...curves and details for plots...}}

``error`` is model - reference (``error_kind='diff'``) or model / reference (``'ratio'``, cost);
error-only rows (e.g. phonon RMS error) have model = reference = None.

Each calculator is evaluated at *its own* equilibrium lattice constant (a cheap EOS fit on the
one-atom primitive cell, redone in every function so each is self-contained): comparing
defect/surface energies at the reference a0 would mix in the model's a0 error.
``a0`` is only a starting guess (default: ASE's reference state, volume-matched for bcc).
"""
import contextlib
import math
import time
import traceback

import numpy as np
from ase import Atoms, units
from ase.build import bulk, bcc100, bcc110, bcc111, diamond100, diamond111, fcc100, fcc110, fcc111
from ase.calculators.calculator import all_changes
from ase.constraints import FixCartesian
from ase.data import atomic_numbers, reference_states
from ase.lattice.cubic import BodyCenteredCubic, FaceCenteredCubic
from ase.optimize import BFGS, LBFGS

try:                                 # optional (ships with scikit-learn); see _relax
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

FMAX = 0.01                          # eV/Å, all relaxations (fixed cell)
NCONV = {'fcc': 4, 'bcc': 2, 'diamond': 8}  # atoms in the conventional cubic cell
EV_A2_TO_J_M2 = 1.0 / (units.J / units.m ** 2)   # 16.02
PATHS = {'fcc': 'GXKGL', 'bcc': 'GHNGP', 'diamond': 'GXKGL'}  # standard paths (ASE special points)


def _bcc112(element, size, a, vacuum, periodic):
    """bcc (112) slab, one atom per layer (ASE has no bcc112 builder)."""
    from .stages import plane_cell
    return plane_cell(element, a, '112', layers=size[2], vacuum=vacuum)


# low-index surfaces per lattice (ASE has no diamond(110) builder)
SURFACES = {'fcc': {'100': fcc100, '110': fcc110, '111': fcc111},
            'bcc': {'100': bcc100, '110': bcc110, '111': bcc111, '112': _bcc112},
            'diamond': {'100': diamond100, '111': diamond111}}
# supercell/slab sizes: full run, quick run (tests)
SIZES = {False: dict(phonon=3, vacancy=3, layers=8, sf_reps=4, mesh=20, cost_atoms=500, disl_radius=None),
         True: dict(phonon=2, vacancy=2, layers=6, sf_reps=2, mesh=10, cost_atoms=256, disl_radius='quick')}


# ----------------------------------------------------------------------------- helpers
def _cmp(model, reference, unit, kind='diff'):
    """One table row; error = model - reference (or model / reference for kind='ratio')."""
    err = None
    if model is not None and reference is not None:
        err = model - reference if kind == 'diff' else model / reference
    return dict(model=model, reference=reference, error=err, error_kind=kind, unit=unit)


def _err_only(error, unit):
    """Row holding only an error measure (RMS, max, held-out RMSE)."""
    return dict(model=None, reference=None, error=error, error_kind='diff', unit=unit)


def _plain(x):
    """numpy -> Python types, recursively, so results can go straight to json.dump."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):
        return _plain(x.item())      # NaN check below applies to numpy scalars too
    if isinstance(x, float) and not math.isfinite(x):
        return None                  # JSON has no NaN
    return x


def _a_guess(element, lattice, a0=None):
    if a0:
        return float(a0)
    ref = reference_states[atomic_numbers[element]]
    a, sym = ref.get('a'), ref.get('symmetry')
    if sym in NCONV:                 # same volume per atom if the requested lattice differs
        return a * (NCONV[lattice] / NCONV[sym]) ** (1 / 3)
    raise ValueError(f'no cubic reference lattice constant for {element}; pass a0')


def _eos(calc, element, lattice, a, rel=0.03, npts=11):
    """Birch-Murnaghan fit, lattice constants a*(1 +- rel): +-9% in volume, enough for B."""
    from .database import eos_scan
    return eos_scan(calc, element, lattice, a, rel, npts, eos='birchmurnaghan')


def _own_a0(calc, element, lattice, a0=None):
    """Two passes so the second fit is centred on the calculator's own minimum."""
    a = _eos(calc, element, lattice, _a_guess(element, lattice, a0))[0]
    return _eos(calc, element, lattice, a, rel=0.01, npts=7)[0]


def _relax(atoms, calc, fmax=FMAX, steps=500):
    """BFGS at fixed cell. BFGS needs ~3x fewer force calls than FIRE here, but its per-step
    eigh of a small (3N)^2 matrix is 10-100x slower with multi-threaded OpenBLAS when the
    cores are busy (measured: GSFE 27 s -> 5 s), so BLAS runs single-threaded meanwhile. Above
    600 atoms LBFGS: BFGS's dense Hessian made a 1440-atom cylinder take 232 s against 10 s."""
    atoms.calc = calc
    limit = threadpool_limits(1, user_api='blas') if threadpool_limits else contextlib.nullcontext()
    with limit:
        opt = (BFGS if len(atoms) <= 600 else LBFGS)(atoms, logfile=None)
        converged = opt.run(fmax=fmax, steps=steps)
    return atoms.get_potential_energy(), bool(converged), opt.nsteps


def _fresh(calc):
    """A new calculator like ``calc`` (soapgap calculators share their potential)."""
    if hasattr(calc, 'potential'):
        return type(calc)(calc.potential)
    import copy
    return copy.deepcopy(calc)       # keeps directory/command settings of file-based calculators


def _both(model_calc, reference_calc, fn):
    """fn of the model and of the reference (None without one)."""
    return fn(model_calc), (fn(reference_calc) if reference_calc is not None else None)


# ----------------------------------------------------------------------------- properties
def equation_of_state(model_calc, reference_calc, element, lattice='fcc', a0=None):
    """a0 (Å), bulk modulus (GPa) and E(V) per atom from a Birch-Murnaghan fit."""
    def run(calc):
        a, _, b, v, e = _eos(calc, element, lattice, _own_a0(calc, element, lattice, a0))
        n = len(bulk(element, lattice, a=a))          # atoms per primitive cell (diamond: 2)
        return a, b / units.GPa, np.array(v) / n, np.array(e) / n
    m, r = _both(model_calc, reference_calc, run)
    r = r if r is not None else [None] * 4
    return {'values': {'a0': _cmp(m[0], r[0], 'Å'), 'B': _cmp(m[1], r[1], 'GPa')},
            'data': {k: {'volume_per_atom': x[2], 'energy_per_atom': x[3]}
                     for k, x in (('model', m), ('reference', r))}}


def elastic_constants(model_calc, reference_calc, element, lattice='fcc', a0=None, strain=0.005):
    """Cubic C11, C12, C44 (GPa) from central stress differences at +-``strain`` (0.5%).

    Primitive cell. With one atom there are no internal coordinates; with more (diamond) the
    atoms are relaxed at each strained cell (fmax 1e-4 eV/Å) and C44 is the relaxed constant,
    C44_unrelaxed (C44⁰) the one with the atoms moved homogeneously (the shear's internal
    relaxation, Kleinman). Central differences cancel any residual stress left by the a0 fit."""
    def run(calc):
        a = _own_a0(calc, element, lattice, a0)
        base = bulk(element, lattice, a=a)
        multi = len(base) > 1

        def dstress(eps, relax):     # d sigma / d strain, Voigt, ASE sign (tension > 0)
            out = []
            for s in (eps, -eps):
                at = base.copy()
                at.set_cell(base.cell[:] @ (np.eye(3) + s), scale_atoms=True)
                at.calc = calc
                if relax:
                    _relax(at, calc, fmax=1e-4)
                out.append(at.get_stress(voigt=True))
            return (out[0] - out[1]) / (2 * strain) / units.GPa
        normal = np.zeros((3, 3)); normal[0, 0] = strain
        shear = np.zeros((3, 3)); shear[1, 2] = shear[2, 1] = strain / 2   # engineering gamma_yz
        dn, ds = dstress(normal, multi), dstress(shear, multi)
        out = [dn[0], 0.5 * (dn[1] + dn[2]), ds[3]]
        if multi:
            out.append(dstress(shear, False)[3])
        return out, a
    (m, m_a0), ref = _both(model_calc, reference_calc, run)
    r, r_a0 = ref if ref is not None else ([None] * len(m), None)
    names = ('C11', 'C12', 'C44', 'C44_unrelaxed')[:len(m)]
    values = {n: _cmp(m[i], r[i], 'GPa') for i, n in enumerate(names)}
    if r[0] is not None:             # the tungsten study's column: RMS over C11, C12, C44
        values['elastic RMS error'] = _err_only(np.sqrt(np.mean([(m[i] - r[i]) ** 2 for i in range(3)])), 'GPa')
    return {'values': values, 'data': {'strain': strain, 'a0': {'model': m_a0, 'reference': r_a0}}}


def force_constants(calc, element, lattice='fcc', a=None, supercell=3, displacement=0.01):
    """Phonopy object with force constants of ``calc`` at lattice constant ``a`` (its own a0
    if None): supercell = ``supercell``^3 conventional cells, primitive cell = ASE's ``bulk``
    cell (fcc and diamond: (0,½,½)...; bcc: (-½,½,½)...), 0.01 Å displacements."""
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    pmat = 0.5 * (np.ones((3, 3)) - (2 if lattice == 'bcc' else 1) * np.eye(3))
    conv = bulk(element, lattice, a=a or _own_a0(calc, element, lattice), cubic=True)
    ph = Phonopy(PhonopyAtoms(symbols=conv.get_chemical_symbols(), cell=conv.cell[:],
                              scaled_positions=conv.get_scaled_positions()),
                 supercell_matrix=np.eye(3, dtype=int) * supercell, primitive_matrix=pmat)
    ph.generate_displacements(distance=displacement)
    forces = []
    for sc in ph.supercells_with_displacements:
        at = Atoms(sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)
        at.calc = calc
        forces.append(at.get_forces())
    ph.forces = forces
    ph.produce_force_constants()
    return ph


def band_path(lattice, npoints=51):
    """Phonopy q-points, path connections and labels along PATHS[lattice] through ASE's special
    points of the primitive cell (diamond: those of fcc)."""
    from phonopy.phonon.band_structure import get_band_qpoints_and_path_connections
    from ase.lattice import BCC, FCC

    special = (BCC if lattice == 'bcc' else FCC)(1.0).get_special_points()
    labels = list(PATHS[lattice])
    qpts, conn = get_band_qpoints_and_path_connections([[special[k] for k in labels]], npoints=npoints)
    return qpts, conn, labels


def phonons(model_calc, reference_calc, element, lattice='fcc', a0=None, supercell=3,
            npoints=51, mesh=20, displacement=0.01):
    """Phonopy band structure and DOS; RMS / max frequency error over the band path (THz).

    Force constants from force_constants() at each calculator's own a0, so that both are
    compared at the same reduced q-points (ASE's special points) even where their a0 differ."""
    qpts, conn, labels = band_path(lattice, npoints)

    def run(calc):
        ph = force_constants(calc, element, lattice, _own_a0(calc, element, lattice, a0), supercell, displacement)
        ph.run_band_structure(qpts, path_connections=conn, labels=labels)
        bs = ph.band_structure
        ph.run_mesh([mesh] * 3, is_gamma_center=True)   # keeps full point-group symmetry
        return ph, np.concatenate(bs.distances), np.vstack(bs.frequencies), len(ph.forces)
    (pm, dm, fm, nm), r = _both(model_calc, reference_calc, run)
    pr, dr, fr, _ = r if r is not None else (None, dm, None, None)
    both = [f for f in (fm, fr) if f is not None]
    lo = min(0.0, *(f.min() for f in both))                   # keep imaginary (<0) modes
    hi = 1.1 * max(f.max() for f in both)
    data = {'labels': ['Γ' if k == 'G' else k for k in labels], 'distances': dr,
            'ticks': [0.0] + [float(d[-1]) for d in np.split(dr, len(labels) - 1)],
            'n_displacements': nm, 'supercell_atoms': len(pm.supercell)}
    for key, ph, freqs in (('model', pm, fm), ('reference', pr, fr)):   # DOS on a common grid
        if ph is None:
            continue
        ph.run_total_dos(freq_min=lo, freq_max=hi, freq_pitch=(hi - lo) / 200)
        dos = ph.total_dos
        data[key] = {'frequencies': freqs, 'dos_freq': dos.frequency_points, 'dos': dos.dos}
    if fr is None:
        return {'values': {'max frequency': _cmp(fm.max(), None, 'THz')}, 'data': data}
    diff = fm - fr                   # both sorted ascending per q-point by phonopy
    return {'values': {'max frequency': _cmp(fm.max(), fr.max(), 'THz'),
                       'phonon RMS error': _err_only(np.sqrt(np.mean(diff ** 2)), 'THz'),
                       'phonon max error': _err_only(np.abs(diff).max(), 'THz')},
            'data': data}


def vacancy_formation_energy(model_calc, reference_calc, element, lattice='fcc', a0=None, supercell=3):
    """E_vac = E(N-1) - (N-1)/N E(N), relaxed at fixed cell (BFGS, fmax 0.01 eV/Å).
    fcc 3x3x3 conventional = 108 sites; the unrelaxed value is kept as a diagnostic."""
    def run(calc):
        perfect = bulk(element, lattice, a=_own_a0(calc, element, lattice, a0), cubic=True).repeat(supercell)
        perfect.calc = calc
        n, e_n = len(perfect), perfect.get_potential_energy()
        vac = perfect.copy()
        del vac[0]                   # all sites equivalent
        vac.calc = calc
        e_unrel = vac.get_potential_energy()
        e_rel, ok, steps = _relax(vac, calc)
        ref = (n - 1) / n * e_n
        return e_rel - ref, e_unrel - ref, ok, steps, n
    m, r = _both(model_calc, reference_calc, run)
    return {'values': {'E_vac': _cmp(m[0], r[0], 'eV'), 'E_vac unrelaxed': _cmp(m[1], r[1], 'eV')},
            'data': {'n_sites': m[4], 'converged': [m[2], r[2]], 'steps': [m[3], r[3]]}}


def vacancy_migration(model_calc, reference_calc, element, lattice='fcc', a0=None, supercell=2, n_images=5):
    """Vacancy hop to a nearest-neighbour site: climbing-image NEB (ase.mep.NEB, FIRE, fmax 0.03
    eV/Å) between relaxed end points in a supercell of the conventional cell (fcc 2x2x2 = 31
    atoms); barrier = max image energy - initial energy. The NEB path of this metal (a Peierls
    barrier needs a dislocation and is left to materials that have a large one)."""
    from ase.mep import NEB
    from ase.optimize import FIRE

    def run(calc):
        perfect = bulk(element, lattice, a=_own_a0(calc, element, lattice, a0), cubic=True).repeat(supercell)
        d = perfect.get_distances(0, range(1, len(perfect)), mic=True)
        hop = 1 + int(np.argmin(d))  # a nearest neighbour of site 0
        initial = perfect.copy()
        del initial[hop]             # vacancy at `hop`; atom 0 will jump into it
        final = perfect.copy()
        final.positions[0] = perfect.positions[hop]
        del final[hop]
        _relax(initial, calc)
        _relax(final, _fresh(calc))
        images = [initial] + [initial.copy() for _ in range(n_images)] + [final]
        for im in images[1:-1]:
            im.calc = _fresh(calc)   # NEB needs one calculator per image
        neb = NEB(images, climb=True, method='improvedtangent')
        neb.interpolate(mic=True)
        limit = threadpool_limits(1, user_api='blas') if threadpool_limits else contextlib.nullcontext()
        with limit:
            converged = FIRE(neb, logfile=None).run(fmax=0.03, steps=400)
        energies = [im.get_potential_energy() for im in images]
        return max(energies) - energies[0], [e - energies[0] for e in energies], bool(converged)
    m, r = _both(model_calc, reference_calc, run)
    return {'values': {'vacancy migration barrier': _cmp(m[0], r[0], 'eV')},
            'data': {'model_path': m[1], 'reference_path': r[1], 'converged': [m[2], r[2]]}}


def surface_energies(model_calc, reference_calc, element, lattice='fcc', a0=None, layers=8, vacuum=10.0):
    """gamma = (E_slab - N e_bulk) / 2A for relaxed 1x1 slabs (``layers`` layers, ``vacuum`` Å
    each side, periodic along z so the model sees a 3D cell; 20 Å gap >> cutoff)."""
    builders = SURFACES[lattice]
    hkls = tuple(builders)

    def run(calc):
        a = _own_a0(calc, element, lattice, a0)
        prim = bulk(element, lattice, a=a)
        prim.calc = calc
        e_bulk = prim.get_potential_energy() / len(prim)
        out = {}
        for hkl, build in builders.items():
            slab = build(element, size=(1, 1, layers), a=a, vacuum=vacuum, periodic=True)
            area = np.linalg.norm(np.cross(slab.cell[0], slab.cell[1]))
            e, ok, _ = _relax(slab, calc)
            out[hkl] = ((e - len(slab) * e_bulk) / (2 * area), ok)
        return out
    m, r = _both(model_calc, reference_calc, run)
    values = {f'gamma({h})': _cmp(m[h][0] * EV_A2_TO_J_M2, r[h][0] * EV_A2_TO_J_M2 if r else None, 'J/m²') for h in hkls}
    if r is not None:                # the tungsten study's column, in its unit
        values['surface RMS error'] = _err_only(np.sqrt(np.mean([(m[h][0] - r[h][0]) ** 2 for h in hkls])), 'eV/Å²')
    return {'values': values,
            'data': {'eV_per_A2': {h: [m[h][0], r[h][0] if r else None] for h in hkls},
                     'converged': {h: [m[h][1], r[h][1] if r else None] for h in hkls}, 'layers': layers}}


def gamma_surface_line(model_calc, reference_calc, element, lattice='fcc', a0=None, npts=9, reps=4):
    """Generalised stacking-fault energy along fcc {111}<112> (bcc {110}<111>), mJ/m².

    Periodic bulk cell with z normal to the fault plane; tilting the c vector by d puts one
    fault at the cell boundary (no free surfaces). Atoms relax along z only (FixCartesian x,y),
    cell fixed. fcc: d = 0..b_p, b_p = a/sqrt(6) (Shockley partial), 3*reps layers (reps=4: 24 atoms);
    unstable SFE = max of the curve, stable (intrinsic) SFE = gamma(b_p).
    bcc: d = 0..b, b = a sqrt(3)/2, 2*reps layers; no stable fault; unstable = max."""
    fr = np.linspace(0.0, 1.0, npts)

    def run(calc):
        a = _own_a0(calc, element, lattice, a0)
        if lattice == 'fcc':         # x=[1-10], y=[11-2], z=[111]; +y shifts B->C sites (ISF)
            base = FaceCenteredCubic(directions=[[1, -1, 0], [1, 1, -2], [1, 1, 1]],
                                     size=(1, 1, reps), symbol=element, latticeconstant=a)
            b = a / np.sqrt(6)
        else:                        # x=[-112], y=[1-11], z=[110]
            base = BodyCenteredCubic(directions=[[-1, 1, 2], [1, -1, 1], [1, 1, 0]],
                                     size=(1, 1, reps), symbol=element, latticeconstant=a)
            b = a * np.sqrt(3) / 2
        area = np.linalg.norm(np.cross(base.cell[0], base.cell[1]))
        energies, converged, stds = [], [], []
        for f in fr:
            at = base.copy()
            cell = at.cell[:].copy()
            cell[2] += f * b * cell[1] / np.linalg.norm(cell[1])
            at.set_cell(cell, scale_atoms=False)
            at.set_constraint(FixCartesian(range(len(at)), mask=(True, True, False)))
            e, ok, _ = _relax(at, calc)
            energies.append(e)
            converged.append(ok)
            stds.append(calc.results.get('energy_std'))   # novelty diagnostic (soapgap std=True)
        g = (np.array(energies) - energies[0]) / area * EV_A2_TO_J_M2 * 1e3
        return g, b, all(converged), stds
    (gm, bm, okm, sm), (gr, br, okr, _) = _both(model_calc, reference_calc, run)
    values = {'unstable SFE': _cmp(gm.max(), gr.max(), 'mJ/m²')}
    if lattice == 'fcc':
        values['stable SFE'] = _cmp(gm[-1], gr[-1], 'mJ/m²')
    return {'values': values,
            'data': {'fraction_of_b': fr, 'plane': '{111}<112>' if lattice == 'fcc' else '{110}<111>',
                     'b': 'b_p = a/√6' if lattice == 'fcc' else 'b = a√3/2', 'converged': [okm, okr],
                     'model': {'gamma': gm, 'b': bm, 'energy_std': sm}, 'reference': {'gamma': gr, 'b': br}}}


def cost_per_atom(model_calc, reference_calc, element, lattice='fcc', a0=None, n_atoms=500, repeats=5):
    """Wall time (ms/atom) of one energy+forces call on a ~``n_atoms`` rattled supercell
    (fcc 5x5x5 conventional = 500), best of ``repeats``; calculate() is called directly so
    ASE's result cache cannot short-circuit the timing."""
    reps = max(1, round((n_atoms / NCONV[lattice]) ** (1 / 3)))
    atoms = bulk(element, lattice, a=_a_guess(element, lattice, a0), cubic=True).repeat(reps)
    atoms.rattle(0.05, seed=0)

    def timed(calc):
        calc = getattr(calc, 'inner', calc)   # a disk-cached reference: time the code, not the cache
        best = np.inf
        for _ in range(repeats):
            t = time.perf_counter()
            calc.calculate(atoms, ['energy', 'forces'], all_changes)
            best = min(best, time.perf_counter() - t)
        return 1e3 * best / len(atoms)

    def one_core(calc):              # OpenMP and BLAS pools of this process held at one thread
        limit = threadpool_limits(1) if threadpool_limits else contextlib.nullcontext()
        with limit:
            return timed(calc)
    m, r = _both(model_calc, reference_calc, timed)
    m1, r1 = _both(model_calc, reference_calc, one_core)
    return {'values': {'cost': _cmp(m, r, 'ms/atom', kind='ratio'),
                       'cost one core': _cmp(m1, r1, 'ms/atom', kind='ratio')},
            'data': {'n_atoms': len(atoms), 'model_std': getattr(model_calc, 'std', None)}}


def _reference(frame):
    """Reference energy/forces from info/arrays (build_database) or a SinglePointCalculator (extxyz)."""
    if 'energy' in frame.info:
        return frame.info['energy'], frame.arrays.get('forces')
    return frame.get_potential_energy(), frame.get_forces()


def _noise(potential):
    """The fit's noise model: a function (config_type, predicted forces) -> (sigma_E, sigma_F of
    each atom), and whether sigma_E is per atom; zeros for models without one (gap_fit XML)."""
    if potential.noise() is None:
        return (lambda ct, f: (0.0, np.zeros(len(f)))), True
    return (lambda ct, f: (potential.noise(ct)[0], potential.force_noise(f, ct))), potential.noise()[3]


def calibration_curve(z, levels=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)):
    """Observed fraction of |z| inside the central interval that holds `level` of a unit Gaussian,
    for each level: a calibrated σ gives observed = expected."""
    from scipy.stats import norm
    z = np.abs(np.asarray(z))
    return {'expected': list(levels), 'observed': [float(np.mean(z <= norm.ppf(0.5 + p / 2))) for p in levels]}


def uncertainty_quality(potential, frames, ks=(1, 2, 3), forces=True):
    """Is the predicted std informative and calibrated on held-out frames?

    GP σ is that of the noise-free prediction; the error against a reference also holds what the
    fit treats as noise, so the predictive σ_pred = sqrt(σ² + σ_noise²) uses the fit's own sigmas
    (the frame's config_type_sigma, else default_sigma; energy: σ_E·sqrt(N) for a frame of N atoms
    with per-atom sigmas; force: σ_F).
    Energies, per frame: coverage P(|err| ≤ kσ) of GP σ, of σ_pred, and of σ_pred times one scale
    fitted on the even frames (measured on the odd ones; Musil et al., JCTC 15, 906 (2019)), next to
    the Gaussian erf(k/√2); Spearman ρ(σ, |err|). Forces (forces=True: the force σ costs about a
    training frame's kernel rows): coverage per component, Spearman per atom (|σ_F,i| vs |ΔF_i|) and
    per frame (mean σ_F vs force RMSE). Calibration curves (expected vs observed quantiles) for
    σ_pred. Parity data are returned for plots."""
    from scipy.stats import spearmanr
    noise, per_atom = _noise(potential)
    n, e_ref, e_pred, e_std, ct, sig_e = ([] for _ in range(6))
    f_ref, f_pred, f_std, loc_std, f_frame, sig_f = ([] for _ in range(6))
    for fr in frames:
        e, f = _reference(fr)
        p = potential.predict(fr, forces=True, std=True, total_std=True, force_std=forces)
        n.append(len(fr)); e_ref.append(e); e_pred.append(p['energy']); e_std.append(p['energy_std'])
        ct.append(fr.info.get('config_type', 'default'))
        sig_e.append(noise(ct[-1], p['forces'])[0])
        if f is not None:
            f_ref.append(np.asarray(f)); f_pred.append(p['forces']); loc_std.append(p['energies_std'])
            sig_f.append(np.repeat(noise(ct[-1], p['forces'])[1], 3))
            if forces:
                f_std.append(p['forces_std'])
                f_frame.append((np.sqrt(np.mean((p['forces'] - np.asarray(f)) ** 2)), np.mean(p['forces_std'])))
    if not f_ref:
        raise ValueError('uncertainty_quality: the held-out frames carry no reference forces')
    n, sig_e = np.array(n), np.array(sig_e)
    e_ref, e_pred, sigma = np.array(e_ref) / n, np.array(e_pred) / n, np.array(e_std) / n
    err = np.abs(e_pred - e_ref)
    f_ref, f_pred = np.vstack(f_ref), np.vstack(f_pred)
    df, loc_std = np.linalg.norm(f_pred - f_ref, axis=1), np.concatenate(loc_std)
    # noise of the energy per atom: sigma_E*sqrt(N)/N with per-atom sigmas, sigma_E/N otherwise
    sigma_pred = np.sqrt(sigma ** 2 + sig_e ** 2 / (n if per_atom else n ** 2))
    cal, ev = np.arange(len(n)) % 2 == 0, np.arange(len(n)) % 2 == 1
    scale = float(np.sqrt(np.mean((err[cal] / sigma_pred[cal]) ** 2))) if cal.any() else float('nan')
    # |err| ≤ kσ, not |err/σ| ≤ k: an exactly known value (σ = 0, error 0) counts as covered
    cover = lambda err, sd: {str(k): float(np.mean(np.abs(err) <= k * sd)) for k in ks}
    stats = {'n_frames': len(n), 'n_atoms': int(n.sum()),
             'spearman_frame': spearmanr(sigma, err).statistic,
             'coverage': cover(err, sigma),
             'coverage_predictive': cover(err, sigma_pred),
             'calibration_scale': scale,
             'coverage_calibrated': cover(err[ev], scale * sigma_pred[ev]) if ev.any() else {},
             'calibration_energy': calibration_curve(err / sigma_pred),
             'noise_sigma_E_per_atom': float(np.median(sig_e)), 'noise_sigma_F': float(np.median(np.concatenate(sig_f))),
             'gaussian': {str(k): math.erf(k / math.sqrt(2)) for k in ks},
             'spearman_atom_force_proxy': spearmanr(loc_std, df).statistic,
             'median_sigma_meV_atom': 1e3 * np.median(sigma),
             'median_abs_error_meV_atom': 1e3 * np.median(err)}
    data = {'energy_ref': e_ref, 'energy_pred': e_pred, 'sigma': sigma, 'abs_error': err,
            'config_type': ct, 'force_ref': f_ref.ravel(), 'force_pred': f_pred.ravel()}
    if forces:
        f_std = np.vstack(f_std)
        f_err = (f_pred - f_ref).ravel()
        f_pred_sd = np.sqrt(f_std.ravel() ** 2 + np.concatenate(sig_f) ** 2)
        known = f_std.ravel() > 0          # an isolated atom's force is exactly zero, without error
        frame_rmse, frame_sd = np.array(f_frame).T
        stats.update({'force_coverage': cover(f_err[known], f_std.ravel()[known]),
                      'force_coverage_predictive': cover(f_err, f_pred_sd),
                      'calibration_force': calibration_curve(f_err / f_pred_sd),
                      'spearman_atom_force': spearmanr(np.linalg.norm(f_std, axis=1), df).statistic,
                      'spearman_frame_force': spearmanr(frame_sd, frame_rmse).statistic,
                      'median_force_sigma': float(np.median(f_std)),
                      'median_abs_force_error': float(np.median(np.abs(f_err)))})
        data['force_sigma'] = f_std.ravel()
    return {'values': {'held-out E RMSE': _err_only(1e3 * np.sqrt(np.mean(err ** 2)), 'meV/atom'),
                       'held-out F RMSE': _err_only(np.sqrt(np.mean((f_pred - f_ref) ** 2)), 'eV/Å')},
            'stats': stats, 'data': data}


# ----------------------------------------------------------------------------- driver
def validate(model_calc, reference_calc, element, potential=None, held_out=None, lattice=None,
             quick=False, log=print, a0=None, properties=None):
    """Run every property (or those named in ``properties``); a failing property is logged and
    recorded, the others still run. ``potential`` defaults to ``model_calc.potential``
    (SoapGapCalculator); the uncertainty section runs only when both it and ``held_out`` frames
    are available. bcc adds the screw-dislocation properties (validation_dislocation): core
    structure (Nye tensor), dislocation-vacancy binding and the Peierls barrier."""
    if lattice is None:              # the element's own lattice, as build_database uses
        from .database import _lattice
        lattice = _lattice(element)
    if lattice not in NCONV:
        raise ValueError("lattice must be 'fcc', 'bcc' or 'diamond'")
    potential = potential if potential is not None else getattr(model_calc, 'potential', None)
    s = SIZES[bool(quick)]
    args = (model_calc, reference_calc, element, lattice, a0)
    steps = [('equation_of_state', lambda: equation_of_state(*args)),
             ('elastic_constants', lambda: elastic_constants(*args)),
             ('phonons', lambda: phonons(*args, supercell=s['phonon'], mesh=s['mesh'])),
             ('vacancy', lambda: vacancy_formation_energy(*args, supercell=s['vacancy'])),
             ('vacancy_migration', lambda: vacancy_migration(*args)),
             ('surfaces', lambda: surface_energies(*args, layers=s['layers'])),
             ('stacking_fault', lambda: gamma_surface_line(*args, reps=s['sf_reps'])),
             ('cost', lambda: cost_per_atom(*args, n_atoms=s['cost_atoms']))]
    if lattice == 'diamond':         # the stacking-fault line is written for fcc/bcc slip systems
        steps = [st for st in steps if st[0] != 'stacking_fault']
    if lattice == 'bcc':
        from . import validation_dislocation as vd
        r = s['disl_radius']
        steps[-1:-1] = [('dislocation_core', lambda: vd.core_structure(*args, radius=r)),
                        ('dislocation_vacancy', lambda: vd.dislocation_vacancy_binding(*args, radius=r)),
                        ('peierls_barrier', lambda: vd.peierls_barrier(*args, radius=r))]
    if potential is not None and held_out:
        steps.append(('uncertainty', lambda: uncertainty_quality(potential, held_out)))
    if properties is not None:
        unknown = set(properties) - {name for name, _ in steps}
        if unknown:
            raise ValueError(f"unknown properties {sorted(unknown)} for {lattice}; "
                             f"choose from {', '.join(name for name, _ in steps)}")
        steps = [st for st in steps if st[0] in properties]
    results = {'meta': {'element': element, 'lattice': lattice, 'quick': bool(quick),
                        'model': type(model_calc).__name__, 'reference': type(reference_calc).__name__}}
    t_all = time.perf_counter()
    for name, fn in steps:
        t = time.perf_counter()
        try:
            res = fn()
        except Exception as exc:     # keep going: a partial report is more useful than none
            res = {'failed': f'{type(exc).__name__}: {exc}', 'traceback': traceback.format_exc()}
        res['time_s'] = time.perf_counter() - t
        results[name] = _plain(res)
        summary = '  '.join(f"{k} {_fmt(v['model'])}/{_fmt(v['reference'])}" if v['model'] is not None
                            else f"{k} err {_fmt(v['error'])}" for k, v in res.get('values', {}).items())
        log(f"{name:<18s} {res['time_s']:6.1f} s  {res.get('failed', summary)}")
    results['meta']['time_s'] = time.perf_counter() - t_all
    log(f"validate total     {results['meta']['time_s']:6.1f} s")
    return results


def _fmt(x):
    return 'n/a' if x is None else f'{x:.4g}'
