#!/usr/bin/env python
"""A self-aware silicon potential against DFT: the mlearn Si set (PBE, VASP; Zuo et al. 2020).

    python examples/self_aware_si/self_aware_mlearn.py [--data ../shared/data/mlearn_Si] [--workdir si_dft]

Model 1 is trained on diamond-structure frames only (the training file's AIMD-NVT and Elastic
groups: 64-atom cells); its predicted σ is then measured on held-out diamond frames (the test
file's AIMD-NVT and Elastic groups, in domain) and on the defects it never saw: the Vacancy
(63 atoms) and Surface (12–96 atoms) frames of both files. Model 2 also trains on the training
file's Vacancy and Surface frames and is measured on the test file's (held out), where its σ
should fall to the in-domain level. Per set: errors, mean σ, Spearman ρ of σ against the actual
error (per frame for energies, per atom for forces) and force coverage. A picture of a held-out
vacancy cell for model 1: atoms coloured by predicted |σ_F| and by the actual force error, and σ
against the error atom by atom (mlearn's vacancy frames are hot MD, so the vacancy's neighbours
are not singled out by their coordination).
SOAP n = 8, l = 6, 5 Å cutoff, 800 CUR sparse points; δ and noise by marginal likelihood (one
noise per kind). About 6 minutes on 2 cores.
"""
import argparse
import os


DIAMOND = ("AIMD-NVT", "Elastic")
GAP = ("soap n_max=8 l_max=6 atom_sigma=0.5 cutoff=5.0 cutoff_transition_width=1.0 delta=1.0 zeta=4 "
       "n_sparse=800 sparse_method=cur_points")


def main():
    import ase.io

    import soapgap
    from soapgap.self_aware import TABLE_HEADER, sigma_picture, summary, table_row

    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.path.join(here, "..", "..", "..", "shared", "data", "mlearn_Si"))
    p.add_argument("--workdir", default="si_dft")
    a = p.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    train = ase.io.read(os.path.join(a.data, "training.xyz"), ":")
    test = ase.io.read(os.path.join(a.data, "test.xyz"), ":")
    group = lambda frames, names: [f for f in frames if f.info["config_type"] in names]  # noqa: E731
    sets = {"diamond (held out, in domain)": group(test, DIAMOND),
            "vacancy (all)": group(train + test, ("Vacancy",)), "surface (all)": group(train + test, ("Surface",)),
            "vacancy (held out)": group(test, ("Vacancy",)), "surface (held out)": group(test, ("Surface",))}
    fit = dict(default_sigma=(0.005, 0.1, 0.05), e0_method="average", sparse_jitter=1e-8, optimise_hypers=True)
    models = {"diamond only": group(train, DIAMOND), "diamond + defects": train}
    lines = list(TABLE_HEADER)
    for name, data in models.items():
        pot = soapgap.Potential.fit(data, GAP, **fit)
        print(f"{name}: {len(data)} frames, hyperparameters {pot.hyperparameters}", flush=True)
        for set_name, frames in sets.items():
            if name == "diamond only" and "held out" in set_name and "diamond" not in set_name:
                continue
            if name != "diamond only" and "(all)" in set_name:
                continue
            lines.append(table_row(name, set_name, summary(pot, frames)))
            print(lines[-1], flush=True)
        if name == "diamond only":
            vac = sets["vacancy (held out)"][0]
            sigma_picture(pot, vac, os.path.join(a.workdir, "si_vacancy_sigma.png"),
                          "diamond-trained GAP on a held-out DFT vacancy cell (mlearn Si, hot MD)")
    out = os.path.join(a.workdir, "self_aware_dft.md")
    with open(out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"table: {out}; picture: {os.path.join(a.workdir, 'si_vacancy_sigma.png')}")


if __name__ == "__main__":
    main()
