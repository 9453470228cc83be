"""The tungsten database-building study, reproduced column for column (lecture table 'Building up
databases for tungsten'; Szlachta, Bartók & Csányi, PRB 90, 104108 (2014)):

1. build the six staged databases with the reference (soapgap.stages; cached on disk by content);
2. fit one GAP per stage on its database (the `soapgap fit` program in a child process, so that
   its wall time and peak memory are its own);
3. validate each model against the reference (elastic constants, phonons, vacancy formation,
   surface energies, screw-dislocation core structure, dislocation-vacancy binding, Peierls
   barrier, cost per atom on one core);
4. write study.md: the table in the study's layout (rows GAP1..GAP6 and the reference) and figures.

Every step is resumable: the database, each model and each validation are files in the workdir,
reused when present; the settings are kept in settings.json, and a workdir made with other
settings is refused rather than mixed.
"""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

from ._atomic import write_text
from .stages import STAGES, build_stages, stage_subset

# SOAP n_max = l_max = 10 at 5 Å (the study: n = l = 14 at 5 Å; 10 keeps the largest fit inside
# about 10 minutes on 2 cores), CUR sparse points, plus a pair term for the short range
DEFAULT_GAP = ("soap n_max=10 l_max=10 atom_sigma=0.5 cutoff=5.0 cutoff_transition_width=1.0 delta=1.0 zeta=4 "
               "n_sparse={m} sparse_method=cur_points : distance_2b cutoff=5.0 delta=1.0 theta_uniform=0.5 "
               "n_sparse=20 sparse_method=uniform covariance_type=ard_se")
# noise: energy per atom (eV), force (eV/Å), virial per atom (eV); the reference is noise-free
DEFAULT_SIGMA = (0.001, 0.04, 0.02)
PROPERTIES = ('elastic_constants', 'phonons', 'vacancy', 'surfaces', 'dislocation_core',
              'dislocation_vacancy', 'peierls_barrier', 'cost')


def _cli():
    path = os.environ.get('SOAPGAP_CLI') or shutil.which('soapgap') or os.path.join(sys.prefix, 'bin', 'soapgap')
    if not os.path.exists(path):
        raise RuntimeError('the soapgap program was not found (install the package or set SOAPGAP_CLI)')
    return path


def _fit_stage(train, model, gap, sigma):
    """`soapgap fit` in a child process: returns wall seconds and the child's peak RSS (GB)."""
    cmd = [_cli(), 'fit', '--train', train, '--gap', gap, '--default-sigma', ' '.join(map(str, sigma)),
           '--config-type-sigma', 'isolated_atom:0.0001:0.01:0.01', '--output', model, '--quiet']
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"fit of {train} failed ({proc.returncode}):\n{out[-2000:]}")
    return time.perf_counter() - t, usage.ru_maxrss / 1024 ** 2


def _same_settings(workdir, settings):
    path = os.path.join(workdir, 'settings.json')
    if os.path.exists(path):
        old = _json(path)
        diff = {k: (old.get(k), v) for k, v in settings.items() if old.get(k) != v}
        if diff:
            raise ValueError(f"{workdir} holds a study made with other settings "
                             f"({', '.join(f'{k}: {a!r} there, {b!r} now' for k, (a, b) in diff.items())}); "
                             "use a fresh --workdir")
    else:
        _json(path, settings)


def _json(path, obj=None):
    if obj is None:
        with open(path) as fh:
            return json.load(fh)
    write_text(path, json.dumps(obj, indent=1, ensure_ascii=False))   # whole or not at all
    return obj


def run_study(reference, workdir, element="W", scale=1.0, n_sparse=2000, gap=None, sigma=DEFAULT_SIGMA,
              stages=tuple(STAGES), quick=False, seed=0, log=None, helium=None):
    """Build, fit and validate every stage; returns the summary dict (also workdir/summary.json)
    and writes workdir/study.md. `reference` is an ASE calculator (e.g. references.reference_calculator
    ('snap:W', cache)); `scale` multiplies the study's frame counts; `quick` uses the validation's
    small cells (tests). With `helium` (a W–He reference calculator, e.g. 'snap:W-He'), W–He terms
    are fitted on top of the last stage's model and compared (soapgap.helium)."""
    from ase.io import read

    from ._atomic import write_extxyz
    from .potential import Potential
    from .validation import validate

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    os.makedirs(workdir, exist_ok=True)
    gap = gap or DEFAULT_GAP.format(m=n_sparse)
    _same_settings(workdir, {'element': element, 'scale': scale, 'gap': gap, 'default_sigma': list(sigma),
                             'quick': bool(quick), 'seed': seed})
    db_path = os.path.join(workdir, 'database.xyz')
    if os.path.exists(db_path):
        frames = read(db_path, ':')
        log(f"database: {db_path} ({len(frames)} frames, reused)")
    else:
        frames = build_stages(element, reference, scale=scale, seed=seed, stages=STAGES, log=log)
        write_extxyz(db_path, frames)
    summary = {'element': element, 'scale': scale, 'gap': gap, 'default_sigma': list(sigma), 'stages': {}}
    for stage in stages:
        sdir = os.path.join(workdir, stage)
        os.makedirs(sdir, exist_ok=True)
        info_path, model = os.path.join(sdir, 'fit.json'), os.path.join(sdir, 'model.json')
        subset = stage_subset(frames, stage)
        if os.path.exists(info_path) and os.path.exists(model):
            fit = _json(info_path)
        else:
            train = os.path.join(sdir, 'train.xyz')
            write_extxyz(train, subset)
            log(f"{stage}: fitting on {len(subset)} frames, {sum(map(len, subset))} environments")
            wall, rss = _fit_stage(train, model, gap, sigma)
            fit = _json(info_path, {'frames': len(subset), 'environments': int(sum(map(len, subset))),
                                    'fit_s': wall, 'peak_rss_GB': rss})
            log(f"{stage}: fit {wall:.0f} s, peak memory {rss:.2f} GB")
        val_path = os.path.join(sdir, 'validation.json')
        if os.path.exists(val_path):
            val = _json(val_path)
        else:
            pot = Potential.load(model)
            log(f"{stage}: validating")
            val = _json(val_path, validate(pot.calculator(), reference, element, lattice='bcc', quick=quick,
                                           properties=PROPERTIES, log=lambda m: log(f"{stage}: {m}")))
        summary['stages'][stage] = {'fit': fit, 'validation': val}
    if helium is not None:
        summary['helium'] = _helium(helium, workdir, os.path.join(workdir, stages[-1], 'model.json'),
                                    scale, 2 if quick else 3, seed, log)
    _json(os.path.join(workdir, 'summary.json'), summary)
    write_study_report(summary, workdir)
    return summary


def _helium(reference, workdir, w_model, scale, size, seed, log):
    """He in W on top of the W model: database, the 2b and 2b+SOAP fits, the comparison
    (workdir/He/; resumable like the stages)."""
    from ase.io import read

    from ._atomic import write_extxyz
    from .helium import MODELS, compare, fit_he_models, he_database
    from .potential import Potential

    hdir = os.path.join(workdir, 'He')
    os.makedirs(hdir, exist_ok=True)
    out = os.path.join(hdir, 'comparison.json')
    if os.path.exists(out):
        return _json(out)
    from .database import equilibrium_lattice_constant
    a0 = equilibrium_lattice_constant('W', reference, lattice='bcc')
    db = os.path.join(hdir, 'database.xyz')
    if os.path.exists(db):
        frames = read(db, ':')
    else:
        t = time.perf_counter()
        frames = he_database(reference, a0, n=max(12, int(round(600 * scale))), rng=seed)
        write_extxyz(db, frames)
        log(f"He: {len(frames)} frames ({sum(map(len, frames))} atoms) {time.perf_counter() - t:.0f} s")
    paths = {name: os.path.join(hdir, name.replace('+', '_') + '.json') for name in MODELS}
    if all(os.path.exists(p) for p in paths.values()):
        models = {name: Potential.load(p) for name, p in paths.items()}
    else:
        t = time.perf_counter()
        models = fit_he_models(frames, w_model)
        for name, pot in models.items():
            pot.save(paths[name], overwrite=True)
        log(f"He: fitted {', '.join(models)} on top of {w_model} in {time.perf_counter() - t:.0f} s")
    rows = compare(models, reference, a0, size=size)
    return _json(out, {'frames': len(frames), 'size': size, 'rows': {k: {q: (list(map(float, x)) if hasattr(x, '__len__') else float(x))
                                                                         for q, x in r.items()} for k, r in rows.items()}})


def helium_table(he):
    cols = ('E_f tetrahedral', 'E_f octahedral', 'He-vacancy binding', 'path RMS error')
    lines = ['| He in W (eV) | ' + ' | '.join(cols) + ' |', '|' + '---|' * (len(cols) + 1)]
    for name, r in he['rows'].items():
        lines.append(f'| {name} | ' + ' | '.join(_fmt(r.get(c)) for c in cols) + ' |')
    return lines


def _value(val, section, name, field='error'):
    try:
        return val[section]['values'][name][field]
    except (KeyError, TypeError):
        return None


# (heading, section, row, field): the study's columns, then what the study does not show
COLUMNS = (('cost ms/atom (1 core)', 'cost', 'cost one core', 'model'),
           ('elastic RMS GPa', 'elastic_constants', 'elastic RMS error', 'error'),
           ('phonon RMS THz', 'phonons', 'phonon RMS error', 'error'),
           ('vacancy error eV', 'vacancy', 'E_vac', 'error'),
           ('surface RMS eV/Å²', 'surfaces', 'surface RMS error', 'error'),
           ('core Nye RMS Å⁻¹', 'dislocation_core', 'Nye tensor RMS error', 'error'),
           ('disl–vac binding eV', 'dislocation_vacancy', 'binding energy', 'model'),
           ('Peierls barrier eV/b', 'peierls_barrier', 'Peierls barrier', 'model'))
REFERENCE_ROW = {'cost one core', 'binding energy', 'Peierls barrier'}   # the reference's own values


def _fmt(x, digits=4):
    return '–' if x is None else f'{x:.{digits}g}'


def study_table(summary):
    """Markdown rows: the study's columns per stage, the reference's own values, fit cost."""
    head = ['database', 'frames', 'environments', 'fit s', 'fit peak GB'] + [c[0] for c in COLUMNS]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    last = None
    for stage, st in summary['stages'].items():
        fit, val = st['fit'], st['validation']
        row = [stage, str(fit['frames']), str(fit['environments']), f"{fit['fit_s']:.0f}", f"{fit['peak_rss_GB']:.2f}"]
        row += [_fmt(_value(val, sec, name, field)) for _, sec, name, field in COLUMNS]
        lines.append('| ' + ' | '.join(row) + ' |')
        last = val
    if last is not None:             # the reference's own values (same in every validation)
        row = ['reference', '', '', '', '']
        row += [_fmt(_value(last, sec, name, 'reference')) if name in REFERENCE_ROW else '(0)'
                for _, sec, name, _ in COLUMNS]
        lines.append('| ' + ' | '.join(row) + ' |')
    return lines


def write_study_report(summary, workdir):
    lines = [f"# Database-building study: {summary['element']} (scale {summary['scale']})", '',
             f"GAP: `{summary['gap']}`; default_sigma {summary['default_sigma']}.", '',
             'Errors are model − reference; cost on one core; binding energy and Peierls barrier are '
             'the values themselves (reference row: the reference\'s own).', '']
    lines += study_table(summary)
    if summary.get('helium'):
        he = summary['helium']
        lines += ['', f"He in W on top of the last model ({he['frames']} W–He frames; {he['size']}³ cubic cells, "
                  'relaxed; binding > 0: bound; path: He in the vacancy, then one tetrahedral site per shell, '
                  'unrelaxed lattice):', ''] + helium_table(he)
    figures = study_figures(summary, workdir)
    if figures:
        lines += ['', '## Figures', ''] + [f'![{cap}]({png})\n' for cap, png in figures]
    write_text(os.path.join(workdir, 'study.md'), '\n'.join(lines) + '\n')


def study_figures(summary, workdir):
    """Phonons of every stage against the reference, Peierls profiles, the reference core's
    differential-displacement map (when the validations hold the data)."""
    from .report import dd_map        # first: report sets the Agg backend
    import matplotlib.pyplot as plt

    out = []
    stages = summary['stages']
    ph = {s: v['validation'].get('phonons', {}).get('data') for s, v in stages.items()}
    ph = {s: d for s, d in ph.items() if d}
    if ph:
        fig, axes = plt.subplots(1, len(ph), figsize=(2.6 * len(ph), 3.2), sharey=True, squeeze=False)
        for ax, (s, d) in zip(axes[0], ph.items()):
            x = d['distances']
            ax.plot(x, np.array(d['reference']['frequencies']), 'k-', lw=1.2)
            ax.plot(x, np.array(d['model']['frequencies']), 'r--', lw=1)
            ax.set_xticks(d['ticks'], d['labels'])
            ax.set_xlim(x[0], x[-1])
            ax.set_title(s)
        axes[0][0].set_ylabel('frequency (THz)')
        fig.tight_layout()
        out.append(('Phonon dispersion per stage (black: reference, red: GAP)', _save(fig, workdir, 'phonons.png')))
    pb = {s: v['validation'].get('peierls_barrier', {}).get('data') for s, v in stages.items()}
    pb = {s: d for s, d in pb.items() if d}
    if pb:
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        ref = next(iter(pb.values()))['reference']
        ax.plot(ref['reaction_coordinate'], ref['energy'], 'k-o', lw=2, label='reference')
        for s, d in pb.items():
            ax.plot(d['model']['reaction_coordinate'], d['model']['energy'], '--', label=s)
        ax.set_xlabel('reaction coordinate')
        ax.set_ylabel('energy (eV/b)')
        ax.legend(fontsize=7)
        fig.tight_layout()
        out.append(('Peierls barrier of screw glide', _save(fig, workdir, 'peierls.png')))
    if summary.get('helium'):
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        for name, r in summary['helium']['rows'].items():
            ax.plot(r['path_d'], r['path_energy'], 'k-o' if name == 'reference' else '--s', label=name)
        ax.set_xlabel('He–vacancy distance (Å)')
        ax.set_ylabel('energy (eV)')
        ax.legend(fontsize=8)
        fig.tight_layout()
        out.append(('He–vacancy interaction along the path', _save(fig, workdir, 'he_vacancy.png')))
    core = {s: v['validation'].get('dislocation_core', {}).get('data') for s, v in stages.items()}
    core = {s: d for s, d in core.items() if d and d.get('reference')}
    if core:
        last = list(core)[-1]
        fig, axes = plt.subplots(1, 2, figsize=(8, 4))
        for ax, (title, d) in zip(axes, (('reference', core[last]['reference']), (last, core[last]['model']))):
            dd_map(ax, d['map'])
            ax.set_title(f"{title}: Burgers content {d['burgers']:.2f} b")
        fig.tight_layout()
        out.append((f'Differential-displacement map of the relaxed screw core (reference and {last})',
                    _save(fig, workdir, 'core_dd_map.png')))
    return out


def _save(fig, workdir, name):
    import matplotlib.pyplot as plt
    fig.savefig(os.path.join(workdir, name), dpi=130)
    plt.close(fig)
    return name
