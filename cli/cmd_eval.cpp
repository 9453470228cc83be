// soapgap eval: predictions to extended XYZ; RMSE/MAE per property and per config_type.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>

#include "args.hpp"
#include "soapgap/error.hpp"
#include "soapgap/extxyz.hpp"
#include "soapgap/fit.hpp"
#include "soapgap/model_file.hpp"

namespace soapgap::cli {

namespace {

const std::vector<OptionSpec> kSpec = {
    {"model", true, "model file written by `soapgap fit` (.json) or a QUIP/GAP XML potential (.xml)"},
    {"gap-only", false, "for an XML Sum potential, evaluate only its GAP part (no baseline)"},
    {"input", true, "extended-XYZ file to evaluate"},
    {"output", true, "extended-XYZ file to write with predictions (optional)"},
    {"overwrite", false, "overwrite an existing output file"},
    {"std", false, "also predict the standard deviations of the per-atom energies"},
    {"total-std", false, "with --std, also that of the total energy (O(n_env²) per frame: slow for big cells)"},
    {"force-std", false, "also the standard deviations of the forces (implies --std; with --total-std, of the virial)"},
    {"variance", true, "the variance behind the stds: dtc (the sparse GP's posterior, with the part the sparse points "
                       "cannot represent) or sor (subset of regressors, kᵀΣk: calibrated in domain, too small out of "
                       "domain; docs/uncertainty.md)", "dtc"},
    {"prefix", true, "prefix of the predicted property names", "soapgap_"},
    {"energy-key", true, "reference energy property", "energy"},
    {"force-key", true, "reference force property", "forces"},
    {"virial-key", true, "reference virial property", "virial"},
    {"stress-key", true, "reference stress property (used if there is no virial)", "stress"},
    {"config-type-key", true, "configuration type property", "config_type"},
    {"threads", true, "OpenMP threads"},
};

struct Acc {
  double se = 0, ae = 0;
  long n = 0;
  void add(double d) {
    se += d * d;
    ae += std::abs(d);
    ++n;
  }
};

struct Errors {
  Acc energy, force, virial;  // energy and virial per atom
};

void print_table(const std::map<std::string, Errors>& errs) {
  std::printf("%-20s %8s %14s %14s %8s %14s %14s %8s %14s %14s\n", "config_type", "n_E", "E_RMSE/meV/at",
              "E_MAE/meV/at", "n_F", "F_RMSE/eV/Å", "F_MAE/eV/Å", "n_V", "V_RMSE/meV/at", "V_MAE/meV/at");
  for (const auto& [ct, e] : errs) {
    auto rm = [](const Acc& a, double s) { return a.n ? std::sqrt(a.se / a.n) * s : NAN; };
    auto ma = [](const Acc& a, double s) { return a.n ? a.ae / a.n * s : NAN; };
    std::printf("%-20s %8ld %14.4f %14.4f %8ld %14.5f %14.5f %8ld %14.4f %14.4f\n", ct.c_str(), e.energy.n,
                rm(e.energy, 1e3), ma(e.energy, 1e3), e.force.n, rm(e.force, 1), ma(e.force, 1), e.virial.n,
                rm(e.virial, 1e3), ma(e.virial, 1e3));
  }
}

}  // namespace

int cmd_eval(int argc, char** argv) {
  const Args a = parse_args(argc, argv, 2, kSpec, false);
  if (a.help) {
    std::cout << usage("eval",
                       "Evaluate a model on an extended-XYZ file. Predictions are written as <prefix>energy,\n"
                       "<prefix>forces, <prefix>virial (eV, W = -V σ), <prefix>energies (per atom) and, with --std,\n"
                       "<prefix>energies_std (and <prefix>energy_std with --total-std); --force-std adds <prefix>forces_std\n"
                       "(and <prefix>virial_std with --total-std). Errors against reference data present in the\n"
                       "file are printed per config_type (energies and virials per atom).",
                       kSpec);
    return 0;
  }
  set_threads(a);
  if (!a.has("model")) throw Error("give --model FILE");
  if (!a.has("input")) throw Error("give --input FILE");
  const Potential pot = load_potential(a.get("model"), a.has("gap-only"));
  ExtxyzReader reader(a.get("input"));
  std::unique_ptr<ExtxyzWriter> writer;
  if (a.has("output")) writer = std::make_unique<ExtxyzWriter>(a.get("output"), a.has("overwrite"));
  FitOptions keys;
  keys.energy_key = a.get("energy-key");
  keys.force_key = a.get("force-key");
  keys.virial_key = a.get("virial-key");
  keys.stress_key = a.get("stress-key");
  keys.config_type_key = a.get("config-type-key");
  keys.default_sigma = {1, 1, 1};
  const std::string pre = a.get("prefix");
  const bool want_std = a.has("std") || a.has("force-std");
  const std::string variance = a.get("variance");
  if (variance != "dtc" && variance != "sor") throw Error("option --variance: dtc or sor, not '" + variance + "'");
  const bool sor = variance == "sor";
  std::map<std::string, Errors> errs;
  long frames = 0, atoms = 0;
  while (auto s = reader.next()) {
    PredictOptions po;
    po.variance = want_std;
    po.total_variance = want_std && a.has("total-std");
    po.force_variance = a.has("force-std");
    po.subset_of_regressors = sor;
    const Prediction p = pot.predict(*s, po);
    const FrameTargets t = frame_targets(*s, keys);
    const int n = s->size();
    for (const std::string& ct : {t.config_type, std::string("ALL")}) {
      Errors& e = errs[ct];
      if (t.has_energy && n > 0) e.energy.add((p.energy - t.energy) / n);
      if (t.has_forces)
        for (int i = 0; i < n; ++i)
          for (int c = 0; c < 3; ++c) e.force.add(p.forces(i, c) - t.forces(i, c));
      if (t.has_virial && n > 0)
        for (int r = 0; r < 3; ++r)
          for (int c = 0; c < 3; ++c) e.virial.add((p.virial(r, c) - t.virial(r, c)) / n);
    }
    if (writer) {
      Structure o = *s;
      o.info[pre + "energy"] = InfoValue::real({p.energy});
      o.info[pre + "virial"] = InfoValue::real(std::vector<double>(p.virial.data(), p.virial.data() + 9));
      AtomArray f, en;
      f.numbers = p.forces;
      en.numbers = p.energies;
      o.arrays[pre + "forces"] = f;
      o.arrays[pre + "energies"] = en;
      if (p.has_std) {
        if (std::isfinite(p.energy_std)) o.info[pre + "energy_std"] = InfoValue::real({p.energy_std});
        AtomArray sd;
        sd.numbers = p.energies_std;
        o.arrays[pre + "energies_std"] = sd;
      }
      if (po.force_variance) {
        AtomArray fs;
        fs.numbers = p.forces_std;
        o.arrays[pre + "forces_std"] = fs;
        if (po.total_variance)
          o.info[pre + "virial_std"] = InfoValue::real(std::vector<double>(p.virial_std.data(), p.virial_std.data() + 9));
      }
      writer->write(o);
    }
    ++frames;
    atoms += n;
  }
  if (frames == 0) throw Error(a.get("input") + ": no frames to evaluate (empty file?)");
  if (writer) writer->close();
  std::cout << "evaluated " << frames << " frames (" << atoms << " atoms) from " << a.get("input") << "\n";
  if (errs.size() > 1 || (errs.count("ALL") && (errs["ALL"].energy.n || errs["ALL"].force.n))) print_table(errs);
  return 0;
}

}  // namespace soapgap::cli
