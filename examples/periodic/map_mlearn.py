"""Periodic structures: a map of the mlearn Si, Mo and Li sets together (one kernel over three
elements), coloured by element and config_type, and energy per atom learned from the structure
kernel. The run behind the periodic section of docs/similarity.md.

    .venv/bin/python examples/periodic/map_mlearn.py --out mlearn_map
"""
import argparse
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "..", "shared", "data")
DESC = "soap n_max=6 l_max=4 atom_sigma=0.5 cutoff=5 n_species=3 species_Z={3 14 42}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DATA)
    p.add_argument("--out", default="mlearn_map")
    a = p.parse_args()
    import ase.io

    from soapgap.learning import learn
    from soapgap.maps import kernel_pca, plot_map, write_chemiscope
    from soapgap.similarity import structure_kernel

    frames = []
    for element in ("Si", "Mo", "Li"):
        for part in ("training", "test"):
            for f in ase.io.read(os.path.join(a.data, f"mlearn_{element}", f"{part}.xyz"), ":"):
                f.info["element"] = element
                f.info["set"] = part
                f.info["label"] = f"{element} {f.info.get('config_type', '?')}"
                f.info["energy_per_atom"] = f.get_potential_energy() / len(f)
                f.calc = None
                frames.append(f)
    os.makedirs(a.out, exist_ok=True)
    K = structure_kernel(frames, kind="average", descriptor=DESC, zeta=2, progress=True)
    coords, explained = kernel_pca(K)
    labels = sorted({f.info["label"] for f in frames})
    values = np.array([labels.index(f.info["label"]) for f in frames], float)
    plot_map(coords, os.path.join(a.out, "mlearn_kpca.png"), values, labels,
             title=f"mlearn Si, Mo, Li: kernel PCA of the average SOAP kernel ({len(frames)} cells)")
    write_chemiscope(os.path.join(a.out, "mlearn_kpca.chemiscope.json.gz"), frames, coords, "kpca")
    # the elements share no species channel (kernel 0 between them), so each also gets its own map
    for element in ("Si", "Mo", "Li"):
        sel = np.array([f.info["element"] == element for f in frames])
        sub, _ = kernel_pca(K[np.ix_(sel, sel)])
        names = sorted({f.info["config_type"] for f, s in zip(frames, sel) if s})
        codes = np.array([names.index(f.info["config_type"]) for f, s in zip(frames, sel) if s], float)
        plot_map(sub, os.path.join(a.out, f"mlearn_kpca_{element}.png"), codes, names,
                 title=f"mlearn {element}: kernel PCA, coloured by config_type")

    # energy per atom from the normalised kernel (intensive), trained on the mlearn training sets
    y = np.array([f.info["energy_per_atom"] for f in frames])
    train = np.array([i for i, f in enumerate(frames) if f.info["set"] == "training"])
    test = np.array([i for i, f in enumerate(frames) if f.info["set"] == "test"])
    res = learn(K, y, train, test, counts=None, folds=5)
    per_element = {}
    for element in ("Si", "Mo", "Li"):
        sel = np.array([frames[i].info["element"] == element for i in test])
        err = res["prediction"][sel] - y[test][sel]
        per_element[element] = {"n_test": int(sel.sum()), "mae_meV_atom": float(1000 * np.mean(np.abs(err))),
                                "rmse_meV_atom": float(1000 * np.sqrt(np.mean(err ** 2)))}
    out = {"n_frames": len(frames), "explained": explained.tolist(), "mae_meV_atom": 1000 * res["mae"],
           "rmse_meV_atom": 1000 * res["rmse"], "exponent": res["exponent"], "regularisation": res["regularisation"],
           "per_element": per_element}
    with open(os.path.join(a.out, "mlearn_results.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
