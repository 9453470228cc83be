"""Environment reconstruction: how much of a neighbour environment a truncated descriptor keeps.

Given a target environment (a centre and its neighbours), start from random neighbour positions
and minimise the descriptor distance to the target with the descriptor's analytic gradients
(scipy L-BFGS); then match the result to the target over rotations, reflections and
permutations of like atoms, and report the residual position error (RMSD, Å). A complete
descriptor at sufficient resolution gives ~0; an incomplete or too coarse one leaves distinct
environments with (nearly) the same descriptor.

Representations: any atom-centred soapgap descriptor string (soap, bispectrum, behler,
angular_dnl, steinhardt; the centre and neighbour species are filled in), or "2b+3b" (the
distance_2b and angle_3b sets compared through their Gaussian kernels, the GAP 2+3-body model:
its descriptor distance is the kernel distance, with no truncation).
"""
import numpy as np
from ase import Atoms
from scipy.optimize import linear_sum_assignment, minimize

from .descriptor import Descriptor

CENTRE_Z = 118  # a species no neighbour has, so only the centre's environment is computed


class VectorRepresentation:
    """An atom-centred descriptor of the centre only: x(P) and dx/dP for neighbour positions P."""

    def __init__(self, spec, neighbour_species):
        species = sorted(set(int(z) for z in neighbour_species))
        extra = f" Z={{{CENTRE_Z}}} species_Z={{{' '.join(map(str, species))}}}"
        if spec.split()[0] == "soap":
            extra += f" n_species={len(species)}"
        self.desc = Descriptor(spec + extra)
        self.spec = spec
        self.length = self.desc.dimension

    def atoms(self, P, numbers):
        return Atoms(numbers=[CENTRE_Z, *numbers], positions=np.vstack([[0.0, 0.0, 0.0], P]))

    def value(self, P, numbers):
        return self.desc.compute(self.atoms(P, numbers))["values"][0]

    def value_and_grad(self, P, numbers):
        d = self.desc.compute(self.atoms(P, numbers), gradients=True)
        grad = np.zeros((len(P), 3, self.length))
        atom = d["grad_index"][:, 1].astype(int)
        moving = atom > 0  # the centre stays at the origin
        np.add.at(grad, atom[moving] - 1, d["grad_values"][moving])
        return d["values"][0], grad

    def loss_factory(self, target, numbers):
        xt = self.value(target, numbers)
        scale = float(xt @ xt)

        def loss(flat):
            x, g = self.value_and_grad(flat.reshape(-1, 3), numbers)
            r = x - xt
            return float(r @ r) / scale, (2.0 / scale) * np.einsum("acd,d->ac", g, r).ravel()

        return loss


class TwoPlusThreeBody:
    """distance_2b + angle_3b of the centre, compared by their summed Gaussian kernels:
    D² = K(A,A) + K(B,B) - 2 K(A,B), K(A,B) = Σ_{a∈A, b∈B} f_a f_b exp(-|x_a - x_b|²/(2θ²)),
    with f the covariance cutoffs (the GAP 2b+3b model's environment distance)."""

    CUTOFF = 4.0

    def __init__(self, cutoff=CUTOFF, width=0.5, theta2=0.1, theta3=(0.2, 0.3, 0.2)):
        self.pair = Descriptor(f"distance_2b cutoff={cutoff} cutoff_transition_width={width} Z1={CENTRE_Z} Z2=0")
        self.triplet = Descriptor(f"angle_3b cutoff={cutoff} cutoff_transition_width={width} Z={CENTRE_Z}")
        self.theta = [np.array([theta2]), np.asarray(theta3, dtype=float)]
        self.spec = "2b+3b"
        self.length = None  # a kernel on sets: no fixed-length vector

    def _sets(self, P, numbers, gradients):
        atoms = Atoms(numbers=[CENTRE_Z, *numbers], positions=np.vstack([[0.0, 0.0, 0.0], P]))
        return [d.compute(atoms, gradients=gradients) for d in (self.pair, self.triplet)]

    @staticmethod
    def _kernel(xa, xb, theta):
        diff = (xa[:, None, :] - xb[None, :, :]) / theta
        k = np.exp(-0.5 * np.sum(diff**2, axis=2))
        return k, diff

    def loss_factory(self, target, numbers):
        tsets = self._sets(target, numbers, False)
        ktt = sum(float(t["cutoff"] @ self._kernel(t["values"], t["values"], th)[0] @ t["cutoff"])
                  for t, th in zip(tsets, self.theta))
        n = len(target)

        def loss(flat):
            P = flat.reshape(-1, 3)
            total, grad = 0.0, np.zeros((n, 3))
            for s, t, th in zip(self._sets(P, numbers, True), tsets, self.theta):
                x, f = s["values"], s["cutoff"]
                kaa, daa = self._kernel(x, x, th)
                kat, dat = self._kernel(x, t["values"], th)
                total += float(f @ kaa @ f) - 2.0 * float(f @ kat @ t["cutoff"])
                # dL/dx_a and dL/df_a of the two sums (the first is symmetric in a, b)
                dx = (-2.0 * f[:, None] * np.einsum("ab,b,abd->ad", kaa, f, daa)
                      + 2.0 * f[:, None] * np.einsum("ab,b,abd->ad", kat, t["cutoff"], dat)) / th
                df = 2.0 * kaa @ f - 2.0 * kat @ t["cutoff"]
                env = s["grad_index"][:, 0].astype(int)
                atom = s["grad_index"][:, 1].astype(int)
                contrib = np.einsum("gcd,gd->gc", s["grad_values"], dx[env]) + s["grad_cutoff"] * df[env][:, None]
                keep = atom > 0
                np.add.at(grad, atom[keep] - 1, contrib[keep])
            return (total + ktt) / ktt, grad.ravel() / ktt

        return loss


def representation(spec, neighbour_species):
    return TwoPlusThreeBody() if spec.split()[0] == "2b+3b" else VectorRepresentation(spec, neighbour_species)


def random_environment(n, rng, r_min=2.0, r_max=3.4, min_pair=1.2):
    """n neighbours with radii uniform in [r_min, r_max] and no two closer than min_pair (Å)."""
    P = []
    while len(P) < n:
        v = rng.normal(size=3)
        p = v / np.linalg.norm(v) * rng.uniform(r_min, r_max)
        if all(np.linalg.norm(p - q) >= min_pair for q in P):
            P.append(p)
    return np.array(P)


def _frame(a, b):
    """Orthonormal frame (rows) of two non-parallel vectors: a, the part of b normal to a, a x b."""
    e1 = a / np.linalg.norm(a)
    e2 = b - (b @ e1) * e1
    e2 /= np.linalg.norm(e2)
    return np.array([e1, e2, np.cross(e1, e2)])


def aligned_rmsd(P, Q, numbers):
    """min over orthogonal R (rotations and reflections) and permutations π of like atoms of
    sqrt(mean_i |R p_i - q_π(i)|²). Starting orientations come from anchors: the two least
    collinear atoms a, b of P put onto every ordered pair of like atoms of Q (and its mirror);
    each is refined by alternating optimal assignment and orthogonal Procrustes."""
    P, Q, numbers = np.asarray(P, dtype=float), np.asarray(Q, dtype=float), np.asarray(numbers)
    n = len(P)
    a = int(np.argmin(np.linalg.norm(P, axis=1)))
    b = int(np.argmax([np.linalg.norm(np.cross(P[a], p)) / np.linalg.norm(p) for p in P]))
    Fp = _frame(P[a], P[b])
    mirror = np.diag([1.0, 1.0, -1.0])
    best = np.inf
    for i in range(n):
        for j in range(n):
            if i == j or numbers[i] != numbers[a] or numbers[j] != numbers[b]:
                continue
            if np.linalg.norm(np.cross(Q[i], Q[j])) < 1e-8:
                continue
            Fq = _frame(Q[i], Q[j])
            for M in (np.eye(3), mirror):
                R = Fq.T @ M @ Fp
                perm = None
                for _ in range(50):
                    X = P @ R.T
                    new = np.empty(n, dtype=int)
                    for z in set(numbers.tolist()):
                        idx = np.flatnonzero(numbers == z)
                        cost = np.sum((X[idx][:, None, :] - Q[idx][None, :, :]) ** 2, axis=2)
                        r, c = linear_sum_assignment(cost)
                        new[idx[r]] = idx[c]
                    if perm is not None and np.array_equal(new, perm):
                        break
                    perm = new
                    U, _, Vt = np.linalg.svd(Q[perm].T @ P)  # R maximising Σ q·Rp over O(3)
                    R = U @ Vt
                best = min(best, float(np.sqrt(np.mean(np.sum((P @ R.T - Q[perm]) ** 2, axis=1)))))
    return best


def guarded(loss):
    """Atoms that collapse onto each other are refused by the neighbour list: such a trial step
    gets a large loss (and the line search steps back) instead of stopping the search."""
    from ._soapgap import SoapgapError

    def f(x):
        try:
            return loss(x)
        except SoapgapError:
            return 1e6, np.zeros_like(x)

    return f


def smoothed(spec):
    """The same density-based descriptor with twice the atom width (fewer local minima), or None."""
    words = spec.split()
    if words[0] not in ("soap", "bispectrum", "angular_dnl"):
        return None
    sigma = 0.5
    for w in words:
        if w.startswith(("atom_sigma=", "atom_gaussian_width=")):
            sigma = float(w.split("=", 1)[1])
    kept = [w for w in words if not w.startswith(("atom_sigma=", "atom_gaussian_width="))]
    return " ".join(kept + [f"atom_sigma={2 * sigma:g}"])


def reconstruct(target, numbers, spec, starts=6, hops=3, seed=0, max_iter=2000):
    """Reconstruct `target` (N x 3 neighbour positions around the origin) from the descriptor
    `spec`: L-BFGS from `starts` random environments (for density-based descriptors first with twice
    the atom width, then with the target's), then `hops` basin hops (the best so far
    displaced by 0.3 Å Gaussian noise and minimised again, kept if lower). Returns a dict: loss
    (relative squared descriptor distance of the best), rmsd (its position error after the best
    match, Å), best_rmsd (lowest over all minima found), positions, length, spec."""
    rng = np.random.default_rng(seed)
    target = np.asarray(target, dtype=float)
    rep = representation(spec, numbers)
    loss = guarded(rep.loss_factory(target, numbers))
    opts = dict(maxiter=max_iter, ftol=1e-16, gtol=1e-12, maxcor=30)

    smooth = smoothed(spec)
    warm = guarded(representation(smooth, numbers).loss_factory(target, numbers)) if smooth else None

    def run(x0):
        if warm:  # coarse to fine: the smoother landscape of a wider atom first
            x0 = minimize(warm, x0, jac=True, method="L-BFGS-B", options=opts).x
        res = minimize(loss, x0, jac=True, method="L-BFGS-B", options=opts)
        return float(res.fun), res.x.reshape(-1, 3)

    r = np.linalg.norm(target, axis=1)
    gaps = [np.linalg.norm(a - b) for i, a in enumerate(target) for b in target[i + 1:]]
    def start():  # noqa: E306  random neighbours in the target's shell, no closer than half its closest pair
        return random_environment(len(target), rng, r.min(), r.max(), 0.5 * min(gaps, default=1.0)).ravel()

    runs = [run(start()) for _ in range(starts)]
    best = min(runs, key=lambda r: r[0])
    for _ in range(hops):
        trial = run((best[1] + rng.normal(scale=0.3, size=best[1].shape)).ravel())
        runs.append(trial)
        if trial[0] < best[0]:
            best = trial
    rmsds = [aligned_rmsd(P, target, numbers) for _, P in runs]
    return dict(loss=best[0], rmsd=aligned_rmsd(best[1], target, numbers), best_rmsd=min(rmsds),
                positions=best[1], length=rep.length, spec=spec)


def homometric_pair(radius=2.3):
    """Two planar 4-neighbour environments with the same multiset of neighbour distances and
    pairwise angles (hence identical 2-body and 3-body correlations) that no rotation,
    reflection or permutation maps onto each other: neighbours on a circle at the angles
    {0, 1, 2, 5} x 45° and {0, 1, 3, 4} x 45° (homometric sets of Z_8: both have the cyclic
    distances {1, 1, 2, 3, 3, 4})."""
    def ring(steps):
        a = np.radians(45.0 * np.asarray(steps))
        return radius * np.stack([np.cos(a), np.sin(a), np.zeros_like(a)], axis=1)

    return ring([0, 1, 2, 5]), ring([0, 1, 3, 4])


def descriptor_distance(spec, A, B, numbers):
    """Relative descriptor distance |x(A) - x(B)|² / |x(B)|² (kernel distance for 2b+3b)."""
    rep = representation(spec, numbers)
    return rep.loss_factory(B, numbers)(np.asarray(A, dtype=float).ravel())[0]


def behler_spec(n_radial, n_angular, cutoff=4.0):
    """Symmetry functions of a given count: n_radial Gaussians shifted across the cutoff (the first
    at R_s = 0, η = 0), n_angular angular ones: ζ ∈ {1, 2, 4, 16} × λ = ±1 at η = 1/r_c², then
    the same at η = 2/r_c², 4/r_c², ... ."""
    rs = [cutoff * k / n_radial for k in range(n_radial)]
    eta = [0.0] + [0.5 / (cutoff / n_radial) ** 2] * (n_radial - 1)
    ang = [(2.0 ** (k // 8) / cutoff**2, (1.0, 2.0, 4.0, 16.0)[(k // 2) % 4], 1.0 - 2.0 * (k % 2))
           for k in range(n_angular)]
    f = lambda v: "{" + " ".join(f"{x:.6g}" for x in v) + "}"  # noqa: E731
    return (f"behler cutoff={cutoff} g2_eta={f(eta)} g2_rs={f(rs)} g4_eta={f([a[0] for a in ang])} "
            f"g4_zeta={f([a[1] for a in ang])} g4_lambda={f([a[2] for a in ang])}")


def sweep_families(quick=False):
    """The truncation sweep: per representation, specs of growing length (cutoff 4 Å)."""
    soap = "soap cutoff=4 cutoff_transition_width=0.5 atom_sigma=0.4"
    dnl = "angular_dnl cutoff=4 cutoff_transition_width=0.5 atom_sigma=0.4"
    bisp = "bispectrum cutoff=4 cutoff_transition_width=0.5 atom_sigma=0.4"
    if quick:
        return {"power spectrum": [f"{soap} n_max=2 l_max=2", f"{soap} n_max=4 l_max=4"], "2b+3b": ["2b+3b"]}
    return {
        "power spectrum": [f"{soap} n_max={k} l_max={k}" for k in (2, 3, 4, 6, 8)],
        "bispectrum": [f"{bisp} n_max=2 l_max={k}" for k in (2, 3, 4)] + [f"{bisp} n_max=3 l_max=4"],
        "symmetry functions": [behler_spec(a, b) for a, b in ((4, 2), (8, 8), (16, 16), (24, 32))],
        "d_nl": [f"{dnl} n_max={k} l_max={k}" for k in (3, 5, 8)],
        "2b+3b": ["2b+3b"],
    }


def sweep(neighbours=(4, 8, 12), targets=2, starts=6, hops=3, seed=0, quick=False, log=print):
    """Reconstruction error against descriptor length: rows of dict(family, spec, length, n, target,
    loss, rmsd, best_rmsd, seconds)."""
    import time

    rows = []
    for n in neighbours:
        rng = np.random.default_rng(seed + n)
        envs = [random_environment(n, rng) for _ in range(targets)]
        for family, specs in sweep_families(quick).items():
            for spec in specs:
                for t, env in enumerate(envs):
                    t0 = time.perf_counter()
                    r = reconstruct(env, [14] * n, spec, starts=starts, hops=hops, seed=seed + 100 * t)
                    rows.append(dict(family=family, spec=spec, length=r["length"], n=n, target=t, loss=r["loss"],
                                     rmsd=r["rmsd"], best_rmsd=r["best_rmsd"],
                                     seconds=round(time.perf_counter() - t0, 1)))
                    log(f"N={n} target {t} {family:18s} length {r['length']}: loss {r['loss']:.1e}, "
                        f"RMSD {r['rmsd']:.3f} Å ({rows[-1]['seconds']} s)")
    return rows
