"""Active learning: grow a training database where the GAP's predicted error is largest.

    pot, history = refine(EMT(), frames, 'al_run', fit_kwargs, iterations=2)

Each iteration

1. fits ``soapgap.Potential.fit(frames, **fit_kwargs)`` (skipped on resume when the saved
   model already belongs to the current database);
2. runs Langevin MD (2 fs) *with the model* at every temperature on every MD cell and keeps a
   snapshot every ``md_interval`` steps together with its predicted per-atom standard
   deviation (the GP variance of the local energies; the max over atoms ranks snapshots);
3. picks the snapshots with the largest predicted std (``n_select`` / ``sigma_threshold``),
   skipping near-duplicates from the same trajectory, labels them with the reference
   calculator (``config_type = f'al_{iteration}_{T}K'``) and appends them to the database.

MD runs that go bad (SoapgapError, NaN, huge forces, runaway temperature, an atom without
neighbours) stop early and keep their earlier snapshots: the run failed because the model is
wrong there, so those snapshots are the most useful ones to label.

After every iteration ``workdir`` holds ``database.xyz`` (all frames), ``state.json``
(completed iterations + history), ``refine_log.jsonl`` (one JSON line per iteration, rewritten
from the state so a crash can never duplicate lines), ``model.json`` (last fit) and
``candidates_{i}.xyz`` (all MD snapshots with their predicted std, for later analysis).
Calling ``refine`` again with the same ``workdir`` continues after the last completed
iteration (a run that met ``stop_sigma`` stays finished). The database is always re-read from disk after writing, so an interrupted and
resumed run fits exactly the same numbers as an uninterrupted one.
"""
import hashlib
import json
import os
import time

import numpy as np
import ase.io
from ase import units
from ase.constraints import FixCom
from ase.md.langevin import Langevin

import soapgap

from ._atomic import write_extxyz, write_text
from .database import _cubic, _label, _lattice, ATOMS_PER_CUBE
try:                                        # ASE >= 3.29
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta


class _BadMD(Exception):
    """Raised by the MD watchdog; the message says why the run was stopped."""


# ------------------------------------------------------------------------------- helpers

def _plain(frame):
    """Calculator-free copy in database form: energy/forces/virial in info/arrays (ase.io.read
    puts energy, forces and stress into a SinglePointCalculator, which Atoms.copy() would drop).
    Only results that belong to the current positions are taken (no stale calculator results)."""
    out = frame.copy()
    calc = frame.calc
    get = (lambda k: calc.get_property(k, frame, allow_calculation=False)) if calc is not None else (lambda k: None)
    e, f, stress = get('energy'), get('forces'), get('stress')
    if e is not None and 'energy' not in out.info:
        out.info['energy'] = float(e)
    if f is not None and 'forces' not in out.arrays:
        out.arrays['forces'] = np.array(f)
    if stress is not None and 'virial' not in out.info and frame.pbc.all() and frame.cell.rank == 3:
        from ase.stress import voigt_6_to_full_3x3_stress

        st = np.asarray(stress)
        full = voigt_6_to_full_3x3_stress(st) if st.shape == (6,) else st.reshape(3, 3)
        out.info['virial'] = -frame.get_volume() * full   # QUIP convention W = -V sigma
    return out


def _write_db(frames, path):
    """Atomic write, then re-read: the in-memory frames carry exactly the precision on disk."""
    write_extxyz(path, frames)
    return [_plain(f) for f in ase.io.read(path, ':', format='extxyz')]


def _write_json(obj, path):
    write_text(path, json.dumps(obj, indent=1))


def _fingerprint(frames, fit_kwargs):
    """Hash of the fitted data and settings (not of the file: extxyz key order may change)."""
    h = hashlib.sha1(repr(sorted(fit_kwargs.items())).encode())
    for f in frames:
        h.update(str(f.info.get('config_type')).encode())
        for x in (f.numbers, f.positions, f.cell[:], f.pbc, f.info.get('energy', np.nan),
                  f.arrays.get('forces', np.nan), f.info.get('virial', np.nan)):
            h.update(np.ascontiguousarray(x, dtype=float).tobytes())
    return h.hexdigest()


def _errors(pot, frames):
    """RMSE of energy per atom (eV) and force components (eV/Å); isolated atoms excluded."""
    de, df = [], []
    for a in frames:
        if len(a) < 2:
            continue
        r = pot.predict(a, forces=True)
        de.append((r['energy'] - a.info['energy']) / len(a))
        df.append((r['forces'] - a.arrays['forces']).ravel())
    if not de:
        return None, None
    return float(np.sqrt(np.mean(np.square(de)))), float(np.sqrt(np.mean(np.square(np.concatenate(df)))))


def default_md_cells(frames, lattice=None):
    """Cells like the training data: the conventional cubic supercell (2x2x2 fcc, 3x3x3 bcc,
    as in database.py) and the same cell with one vacancy. The lattice constant comes from
    the volume per atom of the bulk-like training frames, so no reference calls are needed."""
    bulk_types = ('rattled', 'md', 'strained')
    bulkish = [f for f in frames if f.info.get('config_type') in bulk_types and f.pbc.all()]
    if not bulkish:
        raise ValueError("no 'rattled'/'md'/'strained' frames to infer the lattice from; pass md_cells")
    symbols = {s for f in bulkish for s in f.get_chemical_symbols()}
    if len(symbols) != 1:
        raise ValueError(f'default MD cells need one element, found {sorted(symbols)}; pass md_cells')
    element = symbols.pop()
    lattice = _lattice(element, lattice)
    v_atom = np.median([f.get_volume() / len(f) for f in bulkish])
    a0 = (ATOMS_PER_CUBE[lattice] * v_atom) ** (1.0 / 3.0)
    perfect = _cubic(element, a0, lattice)
    vac = perfect.copy()
    del vac[0]
    return {'bulk': perfect, 'vacancy': vac}


SELECT_BY = {'energy_sigma': 'max_std', 'force_sigma': 'max_force_std'}


def _uncertainty(pot, atoms, forces):
    """Per-atom local-energy std and, with forces, the norm of each atom's force std."""
    r = pot.predict(atoms, forces=forces, std=True, total_std=False, force_std=forces)
    fstd = np.linalg.norm(r['forces_std'], axis=1) if forces else None
    return np.asarray(r['energies_std']), fstd


def _run_md(pot, atoms, temperature, steps, interval, rng, max_force, min_distance, max_sigma=None,
            select_by='energy_sigma'):
    """Model MD; returns (snapshots, reason) where each snapshot is (step, atoms, per-atom energy
    std, per-atom force std or None) and reason is None or why the run stopped early. A stopped
    run ends with the last sane configuration, marked by a negative step. max_sigma applies to
    the selection quantity (eV for energy_sigma, eV/Å for force_sigma)."""
    from matscipy.neighbours import neighbour_list
    atoms = atoms.copy()
    atoms.calc = pot.calculator()           # no std during dynamics: only needed at snapshots
    thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    atoms.set_constraint(FixCom())
    dyn = Langevin(atoms, timestep=2 * units.fs, temperature_K=temperature,
                   friction=0.01 / units.fs, fixcm=False, rng=rng)
    t_max = 3 * temperature + 1000          # far outside the thermostat's fluctuations

    def watchdog():                         # every step; forces are cached, so this is cheap
        f = atoms.get_forces()
        if not np.all(np.isfinite(f)) or not np.all(np.isfinite(atoms.positions)):
            raise _BadMD('NaN in forces/positions')
        if np.abs(f).max() > max_force:
            raise _BadMD(f'|F| = {np.abs(f).max():.1f} eV/Å > {max_force}')
        if atoms.get_temperature() > t_max:
            raise _BadMD(f'T = {atoms.get_temperature():.0f} K > {t_max} K')

    last_ok = [atoms.positions.copy()]

    def keep():                             # after the watchdog: the last configuration that passed
        last_ok[0] = atoms.positions.copy()

    dyn.attach(watchdog, interval=1)
    dyn.attach(keep, interval=1)
    snaps, reason = [], None
    for k in range(1, steps // interval + 1):
        try:
            dyn.run(interval)
            i, d = neighbour_list('id', atoms, pot.cutoff)
            if len(np.unique(i)) < len(atoms):          # some atom sees nobody: flying apart
                raise _BadMD('isolated atom')
            if d.min() < min_distance:
                raise _BadMD(f'distance {d.min():.2f} Å < {min_distance:.2f} Å')
            std, fstd = _uncertainty(pot, atoms, select_by == 'force_sigma')
            if not np.all(np.isfinite(std)) or (fstd is not None and not np.all(np.isfinite(fstd))):
                raise _BadMD('NaN in predicted std')
        except (_BadMD, soapgap.SoapgapError, FloatingPointError) as e:
            reason = f'step {dyn.nsteps}: {e}'
            # the last configuration before things went wrong is the most informative one:
            # add it (flagged) unless it is itself unphysical or unpredictable
            atoms.positions = last_ok[0]
            try:
                d = neighbour_list('d', atoms, pot.cutoff)
                std, fstd = _uncertainty(pot, atoms, select_by == 'force_sigma')
                finite = np.all(np.isfinite(std)) and (fstd is None or np.all(np.isfinite(fstd)))
                if len(d) and d.min() >= min_distance and finite:
                    snaps.append((-dyn.nsteps, _snapshot(atoms), std, fstd))
            except soapgap.SoapgapError:
                pass
            break
        snaps.append((k * interval, _snapshot(atoms), std, fstd))
        worst = (fstd if fstd is not None else std).max()
        if max_sigma is not None and worst > max_sigma:   # deep extrapolation: keep this one,
            reason = f'step {k * interval}: max σ {worst:.3g} > max_sigma'  # the trajectory
            break                                          # beyond is meaningless
    return snaps, reason


def _snapshot(atoms):
    snap = atoms.copy()
    snap.calc = None
    snap.set_constraint()
    snap.set_momenta(None)
    return snap


def _select(cands, n_select, sigma_threshold, min_separation, key='max_std'):
    """Configurations where a run failed (negative step) first, then greedy by decreasing
    max std (``key``: of the local energies or of the forces); skip snapshots within
    ``min_separation`` MD steps of an already chosen one from the same run (consecutive
    snapshots are nearly the same configuration and would waste reference calls)."""
    chosen = []                             # failed-run configurations first, then by std
    for c in sorted(cands, key=lambda c: (c['step'] >= 0, -c[key])):
        if sigma_threshold is not None and c[key] < sigma_threshold and c['step'] >= 0:
            break
        if n_select is not None and len(chosen) >= n_select:
            break
        if any(c['run'] == o['run'] and abs(abs(c['step']) - abs(o['step'])) < min_separation for o in chosen):
            continue
        chosen.append(c)
    return chosen


# ------------------------------------------------------------------------------- driver

def refine(reference_calc, frames, workdir, fit_kwargs, iterations=2, temperatures=(600, 1500),
           md_steps=300, md_interval=10, md_cells=None, n_select=8, sigma_threshold=None,
           stop_sigma=None, test_frames=None, seed=0, log=print, max_force=10.0,
           min_separation=None, lattice=None, max_sigma=None, select_by='energy_sigma'):
    """Iterative refinement; returns (potential fitted on the final database, history).

    reference_calc: ASE calculator (or zero-argument factory) used for labelling.
    frames: initial database (ignored when ``workdir`` already holds a started run).
    md_cells: {name: Atoms} or list of Atoms; default ``default_md_cells(frames)``.
    n_select: at most this many frames per iteration (None: no cap); sigma_threshold (eV):
    only snapshots whose max per-atom std exceeds it. stop_sigma (eV): stop once the largest
    predicted std among all candidates is below it (the model is confident everywhere MD goes).
    max_force (eV/Å): an MD run stops when a force exceeds it; max_sigma (eV): ... or when a
    snapshot's max per-atom std exceeds it (that snapshot is kept). min_separation: MD steps
    between two selected snapshots of one run (default 3 * md_interval).
    select_by: 'energy_sigma' ranks snapshots by their largest local-energy std (eV), 'force_sigma'
    by their largest per-atom force std |σ_F,i| (eV/Å; costs the force rows of every snapshot);
    sigma_threshold, stop_sigma and max_sigma are then in that quantity's unit. The log and
    history carry both stds of every selected frame.
    history: one dict per iteration (as in refine_log.jsonl) plus a final {'final': True} entry.
    """
    if select_by not in SELECT_BY:
        raise ValueError(f"select_by must be one of {sorted(SELECT_BY)}, not {select_by!r}")
    key_std = SELECT_BY[select_by]
    os.makedirs(workdir, exist_ok=True)
    db_path, state_path = os.path.join(workdir, 'database.xyz'), os.path.join(workdir, 'state.json')
    model_path, log_path = os.path.join(workdir, 'model.json'), os.path.join(workdir, 'refine_log.jsonl')
    calc = reference_calc() if callable(reference_calc) else reference_calc
    min_separation = 3 * md_interval if min_separation is None else min_separation

    given = [_plain(f) for f in frames or []]
    if os.path.exists(state_path):          # resume
        with open(state_path) as fh:
            state = json.load(fh)
        if given and _fingerprint(given, {}) != state.get('initial_key'):
            raise ValueError(f"{workdir} holds a run started from a different database; use a new workdir, "
                             "or pass no frames to resume it")
        frames = [_plain(f) for f in ase.io.read(db_path, ':', format='extxyz')]
        # database.xyz is written before state.json: drop frames of an iteration that did not commit
        frames = frames[:state.get('n_frames', len(frames))]
        log(f"resuming {workdir}: {state['completed']} iteration(s) done, {len(frames)} frames")
        if state['history'] and state['history'][-1].get('final'):
            state['history'].pop()          # stale 'final' entry of an earlier, shorter call
    else:
        if not given:
            raise ValueError(f"{workdir}: no run to resume and no initial frames given")
        if os.path.exists(db_path):
            raise ValueError(f"{db_path} exists but {state_path} does not; refusing to overwrite it")
        if md_cells is None:
            default_md_cells(given, lattice)  # fail before writing anything
        frames = _write_db(given, db_path)
        state = {'completed': 0, 'converged': False, 'model_key': None, 'history': [],
                 'initial_key': _fingerprint(given, {}), 'n_frames': len(frames)}
        _write_json(state, state_path)
    history = state['history']
    test_frames = [_plain(f) for f in test_frames or []]
    if md_cells is None:
        md_cells = default_md_cells(frames, lattice)
    if not isinstance(md_cells, dict):
        md_cells = {a.info.get('name', f'cell{i}'): a for i, a in enumerate(md_cells)}

    def save():
        nonlocal frames
        frames = _write_db(frames, db_path)
        state['n_frames'] = len(frames)      # state.json is the commit point (see resume)
        _write_json(state, state_path)
        write_text(log_path, ''.join(json.dumps(h) + '\n' for h in history))

    while True:
        it = state['completed'] + 1
        t_it = time.time()
        # -- fit, or reuse the saved model if it was fitted on exactly this database and settings
        t0 = time.time()
        key = _fingerprint(frames, fit_kwargs)
        if state['model_key'] == key and os.path.exists(model_path):
            pot, fit_time = soapgap.Potential.load(model_path), state['model_fit_time']
            log(f"  reusing {model_path} (fitted on these {len(frames)} frames)")
        else:
            pot = soapgap.Potential.fit(frames, **fit_kwargs)
            fit_time = time.time() - t0
            pot.save(model_path, overwrite=True)
            state.update(model_key=key, model_fit_time=fit_time)
            _write_json(state, state_path)
        rec = {'iteration': it, 'n_frames': len(frames), 'n_atoms': int(sum(len(f) for f in frames)),
               'fit_time': round(fit_time, 2)}
        if test_frames:
            rec['test_rmse_e'], rec['test_rmse_f'] = _errors(pot, test_frames)
        if state['completed'] >= iterations or state['converged']:
            rec['final'] = True
            if history and history[-1].get('final'):
                history.pop()               # a resumed finished run: refresh the final entry
            history.append(rec)
            save()
            log(f"final model: {rec['n_frames']} frames, {rec['n_atoms']} atoms, fit {fit_time:.1f} s"
                + (f", test RMSE E {_meV(rec['test_rmse_e'])} meV/atom F {_f(rec['test_rmse_f'])} eV/Å"
                   if test_frames else ''))
            return pot, history

        # -- model MD: one run per (cell, temperature); the RNG depends only on (seed, it, run)
        # so a resumed iteration replays exactly
        cands, runs, t_md = [], [], time.time()
        for ci, (name, cell) in enumerate(md_cells.items()):
            for T in temperatures:
                t0, run = time.time(), len(runs)
                rng = np.random.default_rng([seed, it, ci, int(T)])
                snaps, reason = _run_md(pot, cell, T, md_steps, md_interval, rng, max_force,
                                        0.5 * _nn_distance(cell), max_sigma, select_by)
                for step, atoms, std, fstd in snaps:
                    cands.append({'run': run, 'cell': name, 'T': T, 'step': step, 'atoms': atoms,
                                  'max_std': float(std.max()), 'mean_std': float(std.mean()),
                                  'max_force_std': float(fstd.max()) if fstd is not None else None})
                mx = max((float(s[2].max()) for s in snaps), default=float('nan'))
                mf = max((float(s[3].max()) for s in snaps if s[3] is not None), default=None)
                runs.append({'cell': name, 'T': T, 'snapshots': len(snaps), 'stopped': reason})
                log(f"  it {it} MD {name:>8s} {T:5.0f} K: {len(snaps):3d} snapshots, max σ "
                    f"{1e3 * mx:6.2f} meV" + (f", max σ_F {mf:.3f} eV/Å" if mf is not None else '')
                    + f", {time.time() - t0:5.1f} s" + (f"  STOPPED {reason}" if reason else ''))
        for c in cands:
            c['atoms'].info.update(max_std=c['max_std'], md_cell=c['cell'], md_T=c['T'], md_step=c['step'])
            if c['max_force_std'] is not None:
                c['atoms'].info['max_force_std'] = c['max_force_std']
        write_extxyz(os.path.join(workdir, f'candidates_{it}.xyz'), [c['atoms'] for c in cands])
        stds = np.array([c['max_std'] for c in cands]) if cands else np.array([np.nan])
        rec.update(md_time=round(time.time() - t_md, 2), md_runs=runs, n_candidates=len(cands), select_by=select_by,
                   cand_max_std=float(np.nanmax(stds)) if cands else None,
                   cand_mean_std=float(np.nanmean(stds)) if cands else None)
        if select_by == 'force_sigma' and cands:
            rec['cand_max_force_std'] = max(c['max_force_std'] for c in cands)

        # -- convergence: the model is confident on everything MD visited
        worst = rec.get('cand_max_force_std') if select_by == 'force_sigma' else rec['cand_max_std']
        if stop_sigma is not None and cands and worst < stop_sigma and not any(r['stopped'] for r in runs):
            state['converged'] = True
            rec.update(n_selected=0, stopped='max candidate std below stop_sigma')
            history.append(rec)
            save()
            log(f"iter {it}: converged, max σ ({select_by}) {worst:.3g} < stop_sigma")
            continue

        # -- select, label, measure the true error of the model that chose them
        chosen, new, de, df, sel = _select(cands, n_select, sigma_threshold, min_separation, key_std), [], [], [], []
        t_label = time.time()
        for c in chosen:
            atoms = c['atoms'].copy()
            for k in ('max_std', 'max_force_std', 'md_cell', 'md_T', 'md_step'):
                atoms.info.pop(k, None)
            try:
                frame = _label(atoms, calc, f"al_{it}_{int(c['T'])}K")
            except Exception as e:          # e.g. an SCF failure: skip the frame, keep going
                log(f"  labelling failed ({c['cell']} {c['T']} K step {c['step']}): {e}")
                continue
            r = pot.predict(frame, forces=True)
            de.append((r['energy'] - frame.info['energy']) / len(frame))
            df.append(float(np.sqrt(np.mean((r['forces'] - frame.arrays['forces']) ** 2))))
            sel.append({'cell': c['cell'], 'T': c['T'], 'step': c['step'], 'max_std': c['max_std'],
                        'max_force_std': c['max_force_std'], 'err_e': float(de[-1]), 'rmse_f': df[-1],
                        'max_force_err': float(np.linalg.norm(r['forces'] - frame.arrays['forces'], axis=1).max())})
            new.append(frame)
        rec.update(n_selected=len(new), label_time=round(time.time() - t_label, 2), selected=sel,
                   sel_rmse_e=float(np.sqrt(np.mean(np.square(de)))) if de else None,
                   sel_rmse_f=float(np.sqrt(np.mean(np.square(df)))) if df else None,
                   iter_time=round(time.time() - t_it, 2))
        frames = frames + new
        state['completed'] = it
        history.append(rec)
        save()
        log(f"iter {it}/{iterations}: {rec['n_frames']} frames, fit {fit_time:.1f} s"
            + (f", test E {_meV(rec['test_rmse_e'])} meV/at F {_f(rec['test_rmse_f'])} eV/Å" if test_frames else '')
            + f", candidates max/mean σ {_meV(rec['cand_max_std'])}/{_meV(rec['cand_mean_std'])} meV"
            + (f", max σ_F {rec['cand_max_force_std']:.3f} eV/Å" if 'cand_max_force_std' in rec else '')
            + f", +{len(new)} frames (their true RMSE E {_meV(rec['sel_rmse_e'])} meV/at"
            + f" F {_f(rec['sel_rmse_f'])} eV/Å), {rec['iter_time']:.0f} s")


def _meV(x):
    return 'n/a' if x is None else f'{1e3 * x:.2f}'


def _f(x):
    return 'n/a' if x is None else f'{x:.3f}'


def _nn_distance(atoms):
    """Nearest-neighbour distance of a (near-)perfect cell; sets the 'atoms collide' limit."""
    from matscipy.neighbours import neighbour_list
    return float(neighbour_list('d', atoms, 6.0).min())
