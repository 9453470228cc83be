"""`soapgap map` and `soapgap learn`: 2D maps and property learning from structure kernels."""
import json
import os
import sys

import numpy as np

from ._atomic import atomic_path


def add_kernel_arguments(p):
    p.add_argument("--input", required=True, help="extended-XYZ file")
    p.add_argument("--kernel", help="precomputed kernel .npy (from `soapgap kernel`) instead of computing it")
    p.add_argument("--kind", default="average", choices=["average", "sum", "best-match", "rematch"])
    p.add_argument("--descriptor", help="descriptor string (default: SOAP n_max=8 l_max=6 over the species present)")
    p.add_argument("--zeta", type=int, default=2, help="environment kernel exponent")
    p.add_argument("--gamma", type=float, default=0.1, help="REMatch regularisation")
    p.add_argument("--save-kernel", help="write the computed kernel to this .npy")
    p.add_argument("--output", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs in --output")


def load_frames_and_kernel(a):
    import ase.io

    from .similarity import structure_kernel

    if a.save_kernel and os.path.exists(a.save_kernel) and not a.overwrite:
        raise SystemExit(f"{a.save_kernel}: file exists; refusing to overwrite (use --overwrite)")
    frames = ase.io.read(a.input, ":")
    if not frames:
        raise SystemExit(f"{a.input}: no frames")
    normalise = a.kind != "sum"
    if a.kernel:
        K = np.load(a.kernel)
        if K.shape != (len(frames), len(frames)):
            raise SystemExit(f"{a.kernel}: kernel of shape {K.shape}, but {a.input} has {len(frames)} frames")
        if not np.all(np.isfinite(K)) or not np.allclose(K, K.T, rtol=1e-10, atol=1e-12):
            raise SystemExit(f"{a.kernel}: the kernel must be finite and symmetric")
    else:
        K = structure_kernel(frames, kind=a.kind, descriptor=a.descriptor, zeta=a.zeta, gamma=a.gamma,
                             normalise=normalise, progress=True)
        if a.save_kernel:
            with atomic_path(a.save_kernel) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, K)
    return frames, K


def prepare_output(folder, names, overwrite):
    os.makedirs(folder, exist_ok=True)
    for n in names:
        if os.path.exists(os.path.join(folder, n)) and not overwrite:
            raise SystemExit(f"{os.path.join(folder, n)}: file exists; refusing to overwrite (use --overwrite)")


def cmd_map(a):
    from .maps import classical_mds, colour_values, kernel_pca, plot_map, write_chemiscope
    from .similarity import kernel_distance

    png, cs = f"map_{a.method}.png", f"map_{a.method}.chemiscope.json.gz"
    prepare_output(a.output, [png, cs], a.overwrite)
    frames, K = load_frames_and_kernel(a)
    if a.kind == "sum":  # a map wants a normalised similarity
        d = np.sqrt(np.diag(K))
        K = K / np.outer(d, d)
    if a.method == "kpca":
        coords, explained = kernel_pca(K)
        title = f"kernel PCA ({a.kind}); explained {explained[0]:.2f}, {explained[1]:.2f}"
    else:
        coords, _ = classical_mds(kernel_distance(K))
        title = f"classical MDS of kernel distances ({a.kind})"
    values, categories = colour_values(frames, a.colour)
    with atomic_path(os.path.join(a.output, png)) as tmp:
        plot_map(coords, tmp, values, categories, a.colour or "", title)
    with atomic_path(os.path.join(a.output, cs)) as tmp:
        write_chemiscope(tmp + ".json.gz", frames, coords, a.method)
        os.replace(tmp + ".json.gz", tmp)
    print(f"{len(frames)} structures -> {os.path.join(a.output, png)}, {os.path.join(a.output, cs)}")


def property_values(frames, key, path):
    out = []
    for i, f in enumerate(frames):
        if key not in f.info:
            raise SystemExit(f"{path}: frame {i} has no property {key!r} (frame 0 has: {', '.join(sorted(frames[0].info))})")
        try:
            out.append(float(f.info[key]))
        except (TypeError, ValueError):
            raise SystemExit(f"{path}: frame {i}: property {key!r} = {f.info[key]!r} is not a number")
    return np.asarray(out)


def cmd_learn(a):
    from .learning import DEFAULT_EXPONENTS, composition, learn, learning_curve, plot_learning_curves

    names = ["results.json", "predictions.csv", "learning_curve.png"]
    prepare_output(a.output, names, a.overwrite)
    frames, K = load_frames_and_kernel(a)
    y = property_values(frames, a.property, a.input)
    ref = property_values(frames, a.reference_property, a.input) if a.reference_property else None
    counts = None if a.no_composition_baseline else composition(frames)[0]
    n = len(frames)
    n_train = a.train_size or int(round(0.8 * n))
    if not 2 <= n_train < n:
        raise SystemExit(f"--train-size {n_train}: need at least 2 training and 1 test structure of {n}")
    rng = np.random.default_rng(a.seed)
    order = rng.permutation(n)
    pool, test = np.sort(order[:n_train]), np.sort(order[n_train:])
    exps = (1,) if a.kind == "sum" else DEFAULT_EXPONENTS
    print(f"{n} structures: {len(pool)} for training, {len(test)} held out; property {a.property}"
          + (f" − {a.reference_property}" if ref is not None else ""), file=sys.stderr)
    def log(line):
        print(line, file=sys.stderr, flush=True)

    res = learn(K, y, pool, test, counts, ref, exponents=exps, folds=a.folds, seed=a.seed, log=log)
    sizes = [int(s) for s in a.learning_curve.split(",")] if a.learning_curve else []
    sizes = [s for s in sizes if s < n_train] + [n_train] if sizes else []
    curve = learning_curve(K, y, sizes, test, pool, counts, ref, splits=a.splits, seed=a.seed,
                           exponents=exps, folds=a.folds, log=log) if sizes else []
    summary = {k: res[k] for k in ("n_train", "n_test", "exponent", "regularisation", "mae", "rmse", "sd_test",
                                   "coverage_1sigma")}
    out = {"input": a.input, "property": a.property, "reference_property": a.reference_property, "kind": a.kind,
           "zeta": a.zeta, "gamma": a.gamma, "composition_baseline": counts is not None, "result": summary,
           "learning_curve": curve, "cv": res["cv"]}
    with atomic_path(os.path.join(a.output, "results.json")) as tmp:
        with open(tmp, "w") as f:
            json.dump(out, f, indent=1)
    with atomic_path(os.path.join(a.output, "predictions.csv")) as tmp:
        with open(tmp, "w") as f:
            f.write("frame,true,predicted,std\n")
            for i, p, s in zip(test, res["prediction"], res["std"]):
                f.write(f"{i},{y[i]:.10g},{p:.10g},{s:.6g}\n")
    if curve:
        with atomic_path(os.path.join(a.output, "learning_curve.png")) as tmp:
            plot_learning_curves({a.kind: curve}, tmp)
    print(f"{a.property}: MAE {res['mae']:.4g}, RMSE {res['rmse']:.4g} (test SD {res['sd_test']:.4g}) with "
          f"{res['n_train']} training structures; exponent {res['exponent']}, regularisation {res['regularisation']:.1e}")
    for r in curve:
        print(f"  n_train {r['n_train']:6d}: MAE {r['mae']:.4g} ± {r['mae_spread']:.2g}, RMSE {r['rmse']:.4g}")
    print(f"results: {os.path.join(a.output, 'results.json')}")


def add_parsers(sub):
    m = sub.add_parser("map", help="2D map of a dataset (kernel PCA or MDS): PNG and chemiscope file")
    add_kernel_arguments(m)
    m.add_argument("--method", choices=["kpca", "mds"], default="kpca")
    m.add_argument("--colour", "--color", dest="colour", help="info key to colour by (a number or e.g. config_type)")
    m.set_defaults(fn=cmd_map)

    l = sub.add_parser("learn", help="GP regression of a frame property with a structure kernel; learning curves")
    add_kernel_arguments(l)
    l.add_argument("--property", required=True, help="info key of the property to learn")
    l.add_argument("--reference-property", help="info key of a baseline property (Delta-learning)")
    l.add_argument("--no-composition-baseline", action="store_true",
                   help="subtract only the mean, not a least-squares value per species")
    l.add_argument("--train-size", type=int, help="training structures (default 80 %%); the rest is the test set")
    l.add_argument("--learning-curve", help="comma-separated training sizes, e.g. 100,200,500,1000")
    l.add_argument("--splits", type=int, default=3, help="random training sets per learning-curve size")
    l.add_argument("--folds", type=int, default=5, help="cross-validation folds for the hyperparameters")
    l.add_argument("--seed", type=int, default=0)
    l.set_defaults(fn=cmd_learn)
