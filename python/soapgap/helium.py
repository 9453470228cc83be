"""He in W on top of a fixed W model (the lecture's 'He–vacancy interaction in tungsten'): W–He and
He–He terms fitted to the W–He reference with the W GAP as a baseline, once with pair terms only
and once with a He-centred SOAP as well, compared on the He interstitial sites, He–vacancy binding
and the He–vacancy interaction along a path.

The W model's descriptors see only W (species_Z={74}), so He is a spectator for it and pure-W
predictions stay exactly those of the W model (docs/baselines.md, 'A model as a baseline').
"""
import numpy as np
from ase import Atoms
from ase.build import bulk

from .database import _keep, _rattle, isolated_atom, md_sample

# tetrahedral and octahedral sites of the bcc cubic cell (fractions of a), next to the atom at 0
SITES = {'tetrahedral': (0.5, 0.25, 0.0), 'octahedral': (0.5, 0.0, 0.0)}
PAIR = ("distance_2b Z1=74 Z2=2 cutoff={rc} cutoff_transition_width=0.5 delta=1.0 theta_uniform=0.3 n_sparse=40 "
        "sparse_method=uniform covariance_type=ard_se add_species=F : distance_2b Z1=2 Z2=2 cutoff={rc} "
        "cutoff_transition_width=0.5 delta=0.1 theta_uniform=0.3 n_sparse=30 sparse_method=uniform "
        "covariance_type=ard_se add_species=F")
SOAP_HE = ("soap n_max=8 l_max=6 atom_sigma=0.5 cutoff={rc} cutoff_transition_width=1.0 delta=0.3 zeta=4 "
           "n_sparse={m} sparse_method=cur_points Z={{2}} n_species=2 species_Z={{74 2}} add_species=F")
MODELS = {'2b': PAIR, '2b+SOAP': PAIR + ' : ' + SOAP_HE}


def _with_he(a0, site, size=3, vacancy=False):
    """size³ cubic W cell with one He at `site` (fractions of a, near the origin), or, with
    `vacancy`, the atom at the origin removed and He put at `site` relative to it."""
    atoms = bulk('W', 'bcc', a=a0, cubic=True).repeat(size)
    centre = atoms.positions[0].copy()
    if vacancy:
        del atoms[0]
    atoms += Atoms('He', positions=[centre + a0 * np.asarray(site, float)])
    atoms.wrap()
    return atoms


def tetrahedral_shells(size=3):
    """One tetrahedral site (in units of a, relative to a lattice site at the origin) per distance
    shell, nearest first, up to half the cell: the quarter-lattice points at √5/4 a from their
    nearest lattice site."""
    lattice = bulk('W', 'bcc', a=1.0, cubic=True).repeat(size).positions
    q = np.arange(-2 * size, 2 * size + 1) / 4
    grid = np.array(np.meshgrid(q, q, q, indexing='ij')).reshape(3, -1).T
    grid = grid[np.linalg.norm(grid, axis=1) <= size / 2]
    delta = grid[:, None] - lattice[None]
    delta -= size * np.round(delta / size)                 # minimum image in the cubic supercell
    nearest = np.linalg.norm(delta, axis=2).min(axis=1)
    tet = grid[np.isclose(nearest, np.sqrt(5) / 4)]
    r = np.round(np.linalg.norm(tet, axis=1), 6)
    return [tet[np.flatnonzero(r == x)[0]] for x in np.unique(r)]


def he_database(calc, a0, n=200, rng=0):
    """Frames labelled by a W–He reference: He in tetrahedral and octahedral sites, He in and
    near a vacancy, two He in the lattice (MD at 300 and 1000 K), He2 in vacuum, an isolated He."""
    rng = np.random.default_rng(rng)
    k = max(1, n // 6)
    frames = []
    md_sample(_with_he(a0, SITES['tetrahedral']), calc, (300, 1000), k, rng, 'he_interstitial', frames=frames)
    md_sample(_with_he(a0, SITES['octahedral']), calc, (300, 1000), k, rng, 'he_interstitial', frames=frames)
    md_sample(_with_he(a0, (0, 0, 0), vacancy=True), calc, (300, 1000), k, rng, 'he_vacancy', frames=frames)
    for _ in range(k):                      # He anywhere within 0.35 a of the vacancy centre
        u = rng.normal(size=3)
        atoms = _with_he(a0, 0.35 * rng.random() ** (1 / 3) * u / np.linalg.norm(u), vacancy=True)
        _rattle(atoms, 0.05, rng)
        _keep(frames, atoms, calc, 'he_vacancy')
    pair = _with_he(a0, SITES['tetrahedral'])
    pair += Atoms('He', positions=[pair.positions[-1] + a0 * np.array([0.0, 0.5, 0.25])])
    md_sample(pair, calc, (300, 1000), k, rng, 'he_pair', frames=frames)
    for d in np.linspace(1.5, 4.5, k):      # He–He in vacuum, open box: no virial
        _keep(frames, Atoms('He2', positions=[[0, 0, 0], [d, 0, 0]], cell=[15] * 3, pbc=False), calc, 'he_dimer')
    return frames + isolated_atom(calc, 'He')


def fit_he_models(frames, w_model, cutoff=4.0, n_sparse=200, sigma=(0.002, 0.05, 0.02)):
    """{'2b': Potential, '2b+SOAP': Potential}, each fitted with the W model as baseline."""
    from .potential import Potential

    return {name: Potential.fit(frames, gap.format(rc=cutoff, m=n_sparse), default_sigma=sigma,
                                config_type_sigma={'isolated_atom': (1e-4, 0.01, 0.01)},
                                baseline=w_model, e0_method='isolated')
            for name, gap in MODELS.items()}


def _relaxed(atoms, calc):
    from .validation import _relax

    return _relax(atoms.copy(), calc, fmax=0.01)[0]


def _energy(atoms, calc):
    atoms.calc = calc
    return atoms.get_potential_energy()


def he_properties(calc, a0, size=3):
    """Relaxed at fixed cell (a0 of the W reference): formation energies of He in the tetrahedral
    and octahedral sites, E_f = E(W_N He) − E(W_N) − E(He); He–vacancy binding (> 0: bound),
    E_b = E(W_{N−1}) + E(W_N He_tet) − E(W_{N−1} He) − E(W_N); and the He–vacancy interaction
    along a path out of the vacancy: He in the vacancy, then at one tetrahedral site per distance
    shell, in the unrelaxed lattice (relaxing W with He held lets a W atom fill the vacancy next
    to the nearer sites), E(d) − E(farthest)."""
    perfect = bulk('W', 'bcc', a=a0, cubic=True).repeat(size)
    e_bulk = _relaxed(perfect, calc)
    vac = perfect.copy()
    del vac[0]
    e_vac = _relaxed(vac, calc)
    he = Atoms('He', positions=[[0, 0, 0]], cell=[15] * 3, pbc=False)
    he.calc = calc
    e_he = he.get_potential_energy()
    e_f = {s: _relaxed(_with_he(a0, x, size), calc) - e_bulk - e_he for s, x in SITES.items()}
    e_sub = _relaxed(_with_he(a0, (0, 0, 0), size, vacancy=True), calc)
    binding = e_vac + (e_f['tetrahedral'] + e_bulk + e_he) - e_sub - e_bulk
    sites = [np.zeros(3)] + tetrahedral_shells(size)
    path = np.array([_energy(_with_he(a0, x, size, vacancy=True), calc) for x in sites])
    return {'E_f tetrahedral': e_f['tetrahedral'], 'E_f octahedral': e_f['octahedral'],
            'He-vacancy binding': binding, 'path_d': [float(np.linalg.norm(x)) * a0 for x in sites],
            'path_energy': path - path[-1]}


def compare(models, reference, a0, size=3):
    """Rows of model − reference for each He model, plus the reference's own values."""
    ref = he_properties(reference, a0, size)
    rows = {'reference': ref}
    for name, pot in models.items():
        rows[name] = he_properties(pot.calculator(), a0, size)
    for name, r in rows.items():
        if name != 'reference':
            r['path RMS error'] = float(np.sqrt(np.mean((r['path_energy'] - ref['path_energy']) ** 2)))
    return rows
