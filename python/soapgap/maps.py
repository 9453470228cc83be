"""2D maps of a dataset from a structure kernel: kernel PCA and classical multidimensional
scaling, a PNG scatter and a chemiscope input file (structures, properties and the map)."""
import numpy as np


def _top_eigenvectors(B, n):
    w, v = np.linalg.eigh(B)
    order = np.argsort(w)[::-1][:n]
    w, v = w[order], v[:, order]
    if np.any(w <= 0):
        raise ValueError(f"the centred matrix has only {int(np.sum(w > 0))} positive eigenvalues; no {n}D map")
    v = v * np.sign(v[np.argmax(np.abs(v), axis=0), range(n)])  # deterministic signs
    return v * np.sqrt(w), w


def centre(K):
    """H K H with H = I − 11ᵀ/n: the kernel of the descriptors' mean-free images."""
    K = np.asarray(K, float)
    row = K.mean(axis=0)
    return K - row[None, :] - row[:, None] + row.mean()


def kernel_pca(K, n=2):
    """Coordinates (N, n) of the leading kernel principal components (Schölkopf et al. 1998),
    and the fraction of the centred kernel's trace each explains."""
    Kc = centre(K)
    coords, w = _top_eigenvectors(Kc, n)
    return coords, w / np.trace(Kc)


def classical_mds(D, n=2):
    """Torgerson's classical MDS of a distance matrix: B = −½ H D² H."""
    D = np.asarray(D, float)
    coords, w = _top_eigenvectors(-0.5 * centre(D ** 2), n)
    return coords, w


def colour_values(frames, colour):
    """Per-frame values for colouring: a numeric info key, or a string key (config_type) as
    category codes. Returns (values, categories or None)."""
    if colour is None:
        return None, None
    missing = [i for i, a in enumerate(frames) if colour not in a.info]
    if missing:
        raise ValueError(f"--colour {colour!r}: frame {missing[0]} has no such info key "
                         f"(frame 0 has: {', '.join(sorted(frames[0].info)) or 'none'})")
    raw = [a.info[colour] for a in frames]
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in raw):
        return np.asarray(raw, float), None
    categories = sorted({str(v) for v in raw})
    return np.array([categories.index(str(v)) for v in raw], float), categories


def plot_map(coords, path, values=None, categories=None, label="", title=""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    if values is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=6)
    elif categories is not None:
        cmap = plt.get_cmap("tab10" if len(categories) <= 10 else "tab20")
        for k, name in enumerate(categories):
            sel = values == k
            ax.scatter(coords[sel, 0], coords[sel, 1], s=6, color=cmap(k % cmap.N), label=name)
        ax.legend(fontsize=7, markerscale=2, loc="best")
    else:
        sc = ax.scatter(coords[:, 0], coords[:, 1], s=6, c=values, cmap="viridis")
        fig.colorbar(sc, ax=ax, label=label)
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130, format="png")
    plt.close(fig)


def write_chemiscope(path, frames, coords, method, extra=None):
    """A chemiscope input file (open it at chemiscope.org or with chemiscope.show_input)."""
    import chemiscope

    props = {f"{method}[{k + 1}]": {"target": "structure", "values": coords[:, k].tolist()} for k in range(coords.shape[1])}
    for key, values in (extra or {}).items():
        props[key] = {"target": "structure", "values": list(values)}
    # every numeric or string frame property the frames carry
    for key in sorted(frames[0].info):
        vals = [a.info.get(key) for a in frames]
        if key in props or any(v is None for v in vals):
            continue
        if all(isinstance(v, (int, float, np.integer, np.floating)) for v in vals):
            props[key] = {"target": "structure", "values": [float(v) for v in vals]}
        elif all(isinstance(v, str) for v in vals) and len(set(vals)) <= 50:
            props[key] = {"target": "structure", "values": vals}
    settings = {"map": {"x": {"property": f"{method}[1]"}, "y": {"property": f"{method}[2]"}}}
    chemiscope.write_input(path, structures=frames, properties=props, settings=settings,
                           metadata={"name": f"soapgap {method} map"})
