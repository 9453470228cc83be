"""Quasi-harmonic thermal expansion of a cubic crystal (phonopy's PhonopyQHA).

At each of a few lattice constants around a0: the static energy of the primitive cell and the
harmonic phonon free energy, entropy and heat capacity on a q-mesh (validation.force_constants).
The Gibbs free energy G(T) = min_V [E(V) + F_vib(V, T)] (Vinet fits per temperature) gives V(T);
the linear expansion coefficient is α = (1/3V) dV/dT.
"""
import numpy as np
from ase.build import bulk

from .validation import _own_a0, force_constants

PRIMITIVE_PER_CUBE = {'fcc': 4, 'diamond': 4, 'bcc': 2}


def thermal_expansion(calc, element, lattice='fcc', a0=None, supercell=2, strains=None, t_max=1500.0,
                      t_step=10.0, mesh=16, log=None):
    """Linear thermal expansion α(T) (1/K) and a(T) (Å) in the quasi-harmonic approximation.

    ``strains``: relative changes of the lattice constant (default −1 % … +2.5 %, 8 volumes;
    expansion needs the larger side). Returns {'T', 'alpha', 'a', 'a0_static', 'volumes',
    'energies'}; α and a at the zero-point-corrected minimum include quantum zero-point motion."""
    from phonopy import PhonopyQHA

    strains = np.linspace(-0.01, 0.025, 8) if strains is None else np.asarray(strains)
    a_static = _own_a0(calc, element, lattice, a0)
    volumes, energies, free, entropy, cv = [], [], [], [], []
    temps = None
    for i, eps in enumerate(strains):
        a = a_static * (1 + eps)
        prim = bulk(element, lattice, a=a)
        prim.calc = calc
        energies.append(prim.get_potential_energy())
        volumes.append(prim.get_volume())
        ph = force_constants(calc, element, lattice, a, supercell)
        ph.run_mesh([mesh] * 3, is_gamma_center=True)
        ph.run_thermal_properties(t_min=0, t_max=t_max, t_step=t_step)
        tp = ph.get_thermal_properties_dict()
        temps = tp['temperatures']
        free.append(tp['free_energy'])       # kJ/mol per primitive cell
        entropy.append(tp['entropy'])
        cv.append(tp['heat_capacity'])
        if log:
            log(f"thermal expansion: volume {i + 1}/{len(strains)} (a = {a:.4f} Å) done")
    qha = PhonopyQHA(volumes=volumes, electronic_energies=energies, temperatures=temps,
                     free_energy=np.array(free).T, cv=np.array(cv).T, entropy=np.array(entropy).T, eos='vinet',
                     verbose=False)
    v_t = np.asarray(qha.volume_temperature)
    n = len(v_t)
    a_t = np.cbrt(v_t * PRIMITIVE_PER_CUBE[lattice])
    beta = np.asarray(qha.thermal_expansion)[:n]             # volumetric, 1/K
    return {'T': np.asarray(temps)[:n], 'alpha': beta / 3.0, 'a': a_t, 'a0_static': a_static,
            'volumes': np.array(volumes), 'energies': np.array(energies)}


def at_temperature(result, key, temperature):
    """``result[key]`` interpolated at ``temperature`` (K)."""
    return float(np.interp(temperature, result['T'], result[key]))
