"""Markdown report (table + figures) and results.json from a validation.validate() result."""
import json
import os

from ._atomic import write_text

import matplotlib
matplotlib.use('Agg')                # headless: files only
import matplotlib.pyplot as plt     # noqa: E402
import numpy as np                  # noqa: E402

SECTIONS = ('equation_of_state', 'elastic_constants', 'vacancy', 'vacancy_migration', 'surfaces',
            'stacking_fault', 'phonons', 'dislocation_core', 'dislocation_vacancy', 'peierls_barrier', 'cost',
            'uncertainty')
STYLE = {'reference': dict(color='k', ls='-', label='reference'),
         'model': dict(color='tab:red', ls='--', label='model')}


def _num(x, sig=5):
    """~``sig`` significant digits, keeping trailing zeros (3.5900, not 3.59)."""
    if x is None:
        return '–'
    if x == 0 or not 1e-4 <= abs(x) < 1e6:
        return f'{x:.{sig - 1}e}' if x else '0'
    return f'{x:.{max(0, sig - 1 - int(np.floor(np.log10(abs(x)))))}f}'


def _err(v):
    e = v['error']
    if e is None:
        return '–'
    if v['error_kind'] == 'ratio':
        return f'×{e:.3g}'
    if v['model'] is None:                   # error-only row (RMS, max): no sign
        return f'{e:.3g}'
    s = f'{e:+.3g}'
    rel = e / abs(v['reference']) if v['reference'] else np.inf
    if abs(rel) <= 1:                        # relative error is meaningless for near-zero references
        s += f' ({100 * rel:+.1f}%)'
    return s


def _table(results):
    rows = ['| property | model | reference | error |', '|---|---|---|---|']
    for sec in SECTIONS:
        res = results.get(sec)
        if res is None:
            continue
        if 'failed' in res:
            rows.append(f"| {sec} | failed | | {res['failed'][:80]} |")
        for name, v in res.get('values', {}).items():
            rows.append(f"| {name} ({v['unit']}) | {_num(v['model'])} | {_num(v['reference'])} | {_err(v)} |")
    return rows


def _save(fig, outdir, name):
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, name), dpi=110)
    plt.close(fig)
    return name


def _plot_eos(d, outdir):
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    for k in ('reference', 'model'):
        ax.plot(d[k]['volume_per_atom'], d[k]['energy_per_atom'], marker='o', ms=3, **STYLE[k])
    ax.set(xlabel='volume (Å³/atom)', ylabel='energy (eV/atom)', title='equation of state')
    ax.legend()
    return _save(fig, outdir, 'eos.png')


def _plot_phonons(d, outdir):
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(8, 4), sharey=True, gridspec_kw={'width_ratios': [3, 1]})
    x = np.asarray(d['distances'])
    for k in ('reference', 'model'):         # same reduced q-points: plot both on reference x
        f = np.asarray(d[k]['frequencies'])
        for i in range(f.shape[1]):
            ax.plot(x, f[:, i], **(STYLE[k] | ({} if i == 0 else {'label': None})))
        ax2.plot(d[k]['dos'], d[k]['dos_freq'], **STYLE[k])
    for t in d['ticks']:
        ax.axvline(t, color='0.7', lw=0.5)
    ax.set(xticks=d['ticks'], xticklabels=d['labels'], xlim=(x[0], x[-1]), ylabel='frequency (THz)',
           title='phonon dispersion')
    ax.legend()
    ax2.set(xlabel='DOS', title='DOS')
    return _save(fig, outdir, 'phonons.png')


def _plot_gsfe(d, outdir):
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    for k in ('reference', 'model'):
        ax.plot(d['fraction_of_b'], d[k]['gamma'], marker='o', ms=3, **STYLE[k])
    ax.set(xlabel=f"displacement / {d['b'].split(' =')[0]}  ({d['b']})", ylabel='γ (mJ/m²)',
           title=f"GSFE {d['plane']}")
    ax.legend()
    return _save(fig, outdir, 'gsfe.png')


def _plot_neb(d, outdir):
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    for k in ('reference', 'model'):
        path = d[f'{k}_path']
        ax.plot(np.linspace(0, 1, len(path)), path, marker='o', ms=3, **STYLE[k])
    ax.set(xlabel='reaction coordinate', ylabel='energy (eV)', title='vacancy migration (climbing-image NEB)')
    ax.legend()
    return _save(fig, outdir, 'neb.png')


def dd_map(ax, m):
    """Differential-displacement (Vitek) map in the [111] projection: an arrow between each pair of
    neighbouring atom columns, along the bond, of length proportional to the difference of their
    screw displacements (wrapped into ±b/2), a whole bond for b/3; atoms shaded by their height."""
    a, b = m['a'], m['b']
    pos, u = np.asarray(m['bulk']), np.asarray(m['displacement'])[:, 2]
    xy = pos[:, :2] - np.asarray(m['core'])
    layer = np.round(((pos[:, 2] - pos[:, 2].min()) % b) / (b / 3)).astype(int) % 3
    ax.scatter(xy[:, 0], xy[:, 1], c=layer, cmap='Greys', vmin=-1, vmax=2, s=60, edgecolors='k', zorder=1)
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    for i, j in zip(*np.nonzero(np.triu((d > 0.1) & (d < 0.9 * a)))):   # first-neighbour columns: 0.816 a
        du = (u[j] - u[i] + b / 2) % b - b / 2
        if abs(du) < 1e-3 * b:
            continue
        bond = xy[j] - xy[i]
        vec = np.sign(du) * bond * min(abs(du) / (b / 3), 1.0)
        start = 0.5 * (xy[i] + xy[j]) - 0.5 * vec
        ax.arrow(*start, *vec, width=0.03, head_width=0.25, length_includes_head=True, color='C3', zorder=2)
    ax.set_aspect('equal')
    ax.set_xlim(-10, 10)
    ax.set_ylim(-10, 10)
    ax.set_xlabel('[11-2] (Å)')
    ax.set_ylabel('[-110] (Å)')


def _plot_peierls(d, outdir):
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    for k in ('reference', 'model'):
        if d.get(k):
            ax.plot(d[k]['reaction_coordinate'], d[k]['energy'], marker='o', ms=3, **STYLE[k])
    ax.set(xlabel='reaction coordinate', ylabel='energy (eV/b)', title='screw glide (climbing-image NEB)')
    ax.legend()
    return _save(fig, outdir, 'peierls.png')


def _plot_core(d, outdir):
    panels = [(k, d[k]) for k in ('reference', 'model') if d.get(k)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4), squeeze=False)
    for ax, (k, x) in zip(axes[0], panels):
        dd_map(ax, x['map'])
        ax.set_title(f"{k}: Burgers content {x['burgers']:.2f} b")
    return _save(fig, outdir, 'core_dd_map.png')


def _plot_parity(d, outdir):
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
    keep = np.asarray(d['config_type']) != 'isolated_atom'   # e0 sits eV away: would squash the axis
    e_ref, e_pred = np.asarray(d['energy_ref'])[keep], np.asarray(d['energy_pred'])[keep]
    panels = ((e_ref, e_pred, 'energy (eV/atom)', 1e3, 'meV/atom'),
              (np.asarray(d['force_ref']), np.asarray(d['force_pred']), 'force component (eV/Å)', 1, 'eV/Å'))
    for ax, (r, p, lab, scale, unit), name in zip(axes, panels, ('energies (no isolated atom)', 'forces')):
        ax.scatter(r, p, s=6, alpha=0.6)
        lo, hi = min(r.min(), p.min()), max(r.max(), p.max())
        ax.plot([lo, hi], [lo, hi], 'k-', lw=0.7)
        ax.set(xlabel=f'reference {lab}', ylabel=f'model {lab}',
               title=f'held-out {name}\nRMSE {scale * np.sqrt(np.mean((p - r) ** 2)):.3g} {unit}')
    return _save(fig, outdir, 'parity.png')


def _plot_sigma(d, outdir):
    fig, ax = plt.subplots(figsize=(4.5, 4))
    s, e = 1e3 * np.asarray(d['sigma']), 1e3 * np.asarray(d['abs_error'])
    cts = np.asarray(d['config_type'])
    for ct in sorted(set(cts)):
        m = cts == ct
        ax.scatter(s[m], np.maximum(e[m], 1e-6), s=10, label=ct or 'frames')
    x = np.geomspace(max(s.min(), 1e-6), s.max(), 10)
    for k, ls in ((1, '-'), (2, '--'), (3, ':')):
        ax.plot(x, k * x, 'k', ls=ls, lw=0.7, label=f'|err| = {k}σ')
    ax.set(xscale='log', yscale='log', xlabel='predicted σ (meV/atom)', ylabel='|error| (meV/atom)',
           title='uncertainty vs error (held-out)')
    ax.legend(fontsize=7)
    return _save(fig, outdir, 'sigma_vs_error.png')


def _uncertainty(st):
    g = st['gaussian']
    lines = ['## Uncertainty (held-out frames)', '',
             f"{st['n_frames']} frames, {st['n_atoms']} atoms. Median predicted σ "
             f"{st['median_sigma_meV_atom']:.3g} meV/atom, "
             f"median |error| {st['median_abs_error_meV_atom']:.3g} meV/atom.", '',
             f"* Spearman ρ(σ, |error|), energy per atom per frame: **{_num(st['spearman_frame'], 3)}**",
             f"* Spearman ρ(local σ, |ΔF_i|), per atom (proxy; no local reference energies): "
             f"{_num(st['spearman_atom_force_proxy'], 3)}"]
    if 'force_coverage' in st:
        lines += [f"* Spearman ρ(|σ_F,i|, |ΔF_i|), per atom: **{_num(st['spearman_atom_force'], 3)}**; "
                  f"per frame (mean σ_F vs force RMSE): **{_num(st['spearman_frame_force'], 3)}**",
                  f"* median force σ {_num(st['median_force_sigma'], 3)} eV/Å, median |ΔF component| "
                  f"{_num(st['median_abs_force_error'], 3)} eV/Å"]
    lines += ['', '| k | energy: \\|error\\| ≤ kσ (GP σ) | ≤ kσ_pred (σ with fit noise) | ≤ k·s·σ_pred (scaled, odd frames) '
              '| forces: ≤ kσ | ≤ kσ_pred | Gaussian expectation |', '|---|---|---|---|---|---|---|']
    cp, cc = st.get('coverage_predictive', {}), st.get('coverage_calibrated', {})
    fc, fp = st.get('force_coverage', {}), st.get('force_coverage_predictive', {})
    lines += [f"| {k} | {st['coverage'][k]:.3f} | {_num(cp.get(k), 3)} | {_num(cc.get(k), 3)} | {_num(fc.get(k), 3)} "
              f"| {_num(fp.get(k), 3)} | {g[k]:.3f} |" for k in st['coverage']]
    return lines + ['', f"σ_pred adds the fit's noise (energy {_num(st.get('noise_sigma_E_per_atom'), 3)} eV/atom per √N, "
                        f"force {_num(st.get('noise_sigma_F'), 3)} eV/Å); the scale s = {_num(st.get('calibration_scale'), 3)} "
                        "is fitted on the even frames. Coverage well below the Gaussian value means σ is over-confident; "
                        "well above, under-confident. With hyperparameters from the marginal likelihood "
                        "(`fit --optimise-hypers`) no scale should be needed."]


def _plot_calibration(st, outdir):
    fig, ax = plt.subplots(figsize=(4, 4))
    for key, label in (('calibration_energy', 'energies'), ('calibration_force', 'force components')):
        if key in st:
            ax.plot(st[key]['expected'], st[key]['observed'], 'o-', ms=3, label=label)
    ax.plot([0, 1], [0, 1], 'k', lw=0.7)
    ax.set(xlabel='expected fraction inside the interval', ylabel='observed fraction',
           title='calibration of σ_pred (held-out)', xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=7)
    return _save(fig, outdir, 'calibration.png')


def write_report(results, outdir, title='soapgap validation report', overwrite=False):
    """Write outdir/report.md, outdir/results.json and PNG figures; return the report path.
    An existing report in outdir is only replaced with overwrite=True."""
    if not overwrite and os.path.exists(os.path.join(outdir, 'report.md')):
        raise FileExistsError(f"{outdir}/report.md exists; refusing to overwrite (use overwrite=True / --overwrite)")
    os.makedirs(outdir, exist_ok=True)
    write_text(os.path.join(outdir, 'results.json'), json.dumps(results, indent=1, ensure_ascii=False))
    meta = results.get('meta', {})
    quick = ' (quick sizes)' if meta.get('quick') else ''
    lines = [f'# {title}', '',
             f"{meta.get('element', '?')} ({meta.get('lattice', '?')}), model `{meta.get('model', '?')}` vs "
             f"reference `{meta.get('reference', '?')}`; each calculator at its own a0; "
             f"validate() took {meta.get('time_s', float('nan')):.1f} s{quick}.",
             '', 'Errors are model − reference (relative to reference); cost shows model/reference.', '']
    lines += _table(results)
    unc = results.get('uncertainty', {})
    if 'stats' in unc:
        lines += [''] + _uncertainty(unc['stats'])
    figures = []                     # (caption, plotter, section data)
    for sec, cap, fn in (('equation_of_state', 'Equation of state', _plot_eos),
                         ('phonons', 'Phonon dispersion and DOS', _plot_phonons),
                         ('stacking_fault', 'Generalised stacking-fault energy', _plot_gsfe),
                         ('vacancy_migration', 'Vacancy migration path', _plot_neb),
                         ('peierls_barrier', 'Peierls barrier of screw glide', _plot_peierls),
                         ('dislocation_core', 'Differential-displacement map of the screw core', _plot_core),
                         ('uncertainty', 'Held-out parity', _plot_parity),
                         ('uncertainty', 'Predicted σ vs actual error', _plot_sigma),
                         ('uncertainty', 'Calibration of the predicted σ', lambda d, o: _plot_calibration(unc['stats'], o))):
        data = results.get(sec, {}).get('data')
        if data:
            try:
                figures.append((cap, fn(data, outdir)))
            except Exception as exc:  # a broken plot must not lose the table
                figures.append((cap + f' (plot failed: {exc})', None))
    if figures:
        lines += ['', '## Figures', '']
        lines += [f'### {cap}\n\n![{cap}]({png})\n' if png else f'### {cap}\n' for cap, png in figures]
    path = os.path.join(outdir, 'report.md')
    write_text(path, '\n'.join(lines) + '\n')
    return path
