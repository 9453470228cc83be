// soapgap fit: long options, or a gap_fit command line verbatim (key=value words).
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <charconv>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>

#include "args.hpp"
#include "soapgap/error.hpp"
#include "soapgap/extxyz.hpp"
#include "soapgap/fit.hpp"
#include "soapgap/hyperparameters.hpp"
#include "soapgap/gap_xml.hpp"
#include "soapgap/model_baseline.hpp"
#include "soapgap/model_file.hpp"
#include "soapgap/options.hpp"
#ifdef SOAPGAP_MPI
#include "mpi_communicator.hpp"
#endif

namespace soapgap::cli {

namespace {

const std::vector<OptionSpec> kSpec = {
    {"train", true, "training extended-XYZ file (gap_fit: at_file=)"},
    {"gap", true, "descriptor+kernel terms, gap_fit syntax: \"soap n_max=8 l_max=6 atom_sigma=0.5 cutoff=5 delta=0.2 zeta=4 n_sparse=500 sparse_method=cur_points : distance_2b cutoff=5 delta=1 theta_uniform=1 n_sparse=20\""},
    {"default-sigma", true, "noise for energy (eV/atom), force (eV/Å), virial (eV/atom)", "0.002 0.1 0.05"},
    {"config-type-sigma", true, "per config_type noise, gap_fit syntax \"ct1:E:F:V:ct2:E:F:V\""},
    {"e0", true, "isolated-atom energies: one number, or \"Cu:-0.5:Al:-0.3\""},
    {"e0-method", true, "isolated (needs 1-atom frames) or average (mean energy per atom)", "isolated"},
    {"e0-offset", true, "added to every e0", "0"},
    {"sparse-jitter", true, "added to the diagonal of K_mm", "1e-10"},
    {"no-sigma-per-atom", false, "energy/virial sigmas are totals, not per atom (gap_fit kernel_regularisation_is_per_atom=F)"},
    {"energy-key", true, "frame property with the total energy", "energy"},
    {"force-key", true, "per-atom property with the forces", "forces"},
    {"virial-key", true, "frame property with the virial (eV, 3x3)", "virial"},
    {"stress-key", true, "frame property with the stress (ASE sign, eV/Å³), used when there is no virial", "stress"},
    {"config-type-key", true, "frame property with the configuration type", "config_type"},
    {"seed", true, "random seed for sparse-point selection", "0"},
    {"sparse-from", true, "take the sparse points of this model (.json or gap_fit .xml) instead of selecting them"},
    {"baseline", true, "fit reference − baseline; repeat for several: a model file (.json, GAP .xml) or a term such as "
                       "\"zbl r_inner=1 r_outer=2\", \"coulomb species={Na Cl} charges={1 -1}\", \"dispersion ...\", "
                       "\"table file=F keyword=K species={A B}\" (docs/baselines.md); the model carries them"},
    {"block-rows", true, "training rows per QR block (memory: 8·rows·M bytes); 0 = automatic", "0"},
    {"solver", true, "least-squares solve: tsqr (streaming QR, per-rank factors merged by a tree), scalapack (MPI build: "
                     "block-cyclic pdgeqrf, R distributed) or auto (smaller estimated memory per rank)", "auto"},
    {"fitc", false, "FITC sparse approximation: each observation's noise also holds the part of its prior variance "
                    "the sparse points do not explain (default: DTC)"},
    {"optimise-hypers", false, "choose delta of every gap term and the energy/force/virial sigmas by maximising the "
                               "sparse GP's marginal likelihood (fits twice; the given values are the start; DTC, or FITC's own "
                               "with --fitc (keeps the rows: N·M·16 bytes); kernels with f0=0, no per-frame sigmas, "
                               "one rank)"},
    {"hyper-noise", true, "with --optimise-hypers, which sigmas share a scale: per_kind (energy, force, virial), "
                          "common (the given ratios kept) or per_config_type (written as config_type_sigma)", "per_kind"},
    {"force-noise-bins", true, "with --optimise-hypers, also one force sigma per bin of the reference |F| "
                               "(this many bins of equal counts; the model predicts with the bin of its own |F|): "
                               "for sets that mix relaxed cells and hot MD (docs/uncertainty.md)", "1"},
    {"output", true, "model file to write (gap_fit: gp_file=): .json (soapgap, with predicted errors) or .xml (QUIP/GAP)", "soapgap_model.json"},
    {"overwrite", false, "overwrite an existing output file"},
    {"threads", true, "OpenMP threads"},
    {"quiet", false, "no progress output"},
};

bool is_number(const std::string& t) {
  double d;
  const char* b = t.data();
  if (!t.empty() && t[0] == '+') ++b;
  auto r = std::from_chars(b, t.data() + t.size(), d);
  return !t.empty() && r.ec == std::errc() && r.ptr == t.data() + t.size() && std::isfinite(d);
}

std::vector<std::string> split_any(const std::string& text, const std::string& seps) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (seps.find(c) != std::string::npos) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::array<double, 3> parse_sigma3(const std::string& text, const std::string& what) {
  const auto tok = split_any(strip_group(text), " \t,");
  if (tok.size() < 3) throw Error(what + ": needs 3 numbers (energy force virial), got '" + text + "'");
  std::array<double, 3> s;
  for (int k = 0; k < 3; ++k) {
    if (!is_number(tok[k])) throw Error(what + ": '" + tok[k] + "' is not a number");
    s[k] = std::stod(tok[k]);
  }
  return s;
}

// "ct1:E:F:V[:H]:ct2:E:F:V[:H]"
std::map<std::string, std::array<double, 3>> parse_config_type_sigma(const std::string& text) {
  std::map<std::string, std::array<double, 3>> out;
  const auto tok = split_any(strip_group(text), ": \t");
  size_t i = 0;
  while (i < tok.size()) {
    const std::string ct = tok[i++];
    std::vector<double> v;
    while (i < tok.size() && is_number(tok[i])) v.push_back(std::stod(tok[i++]));
    if (v.size() < 3)
      throw Error("config_type_sigma: config_type '" + ct + "' needs at least 3 numbers (energy force virial)");
    out[ct] = {v[0], v[1], v[2]};
  }
  return out;
}

// "Cu:-0.5:Al:-0.3" or a single number for every species (needs the species list)
std::map<int, double> parse_e0(const std::string& text, const std::set<int>& species) {
  std::map<int, double> out;
  const std::string t = strip_group(text);
  if (is_number(t)) {
    for (int z : species) out[z] = std::stod(t);
    return out;
  }
  const auto tok = split_any(t, ": \t,");
  if (tok.size() % 2) throw Error("e0: expected Symbol:value pairs, got '" + text + "'");
  for (size_t k = 0; k < tok.size(); k += 2) {
    if (!is_number(tok[k + 1])) throw Error("e0: '" + tok[k + 1] + "' is not a number");
    out[atomic_number(tok[k])] = std::stod(tok[k + 1]);
  }
  return out;
}

// gap_fit key -> our long option (or "" for accepted-and-ignored keys)
const std::map<std::string, std::string>& gap_fit_keys() {
  static const std::map<std::string, std::string> m = {
      {"at_file", "train"}, {"atoms_filename", "train"}, {"gap", "gap"},
      {"default_sigma", "default-sigma"}, {"default_kernel_regularisation", "default-sigma"},
      {"config_type_sigma", "config-type-sigma"}, {"config_type_kernel_regularisation", "config-type-sigma"},
      {"e0", "e0"}, {"e0_method", "e0-method"}, {"e0_offset", "e0-offset"}, {"sparse_jitter", "sparse-jitter"},
      {"energy_parameter_name", "energy-key"}, {"force_parameter_name", "force-key"},
      {"virial_parameter_name", "virial-key"}, {"stress_parameter_name", "stress-key"},
      {"config_type_parameter_name", "config-type-key"}, {"gp_file", "output"}, {"gap_file", "output"},
      {"rnd_seed", "seed"}, {"core_param_file", "@core_file"}, {"baseline_param_filename", "@core_file"},
      {"core_ip_args", "@core_args"}, {"baseline_ip_args", "@core_args"}, {"sigma_per_atom", "@per_atom"}, {"kernel_regularisation_is_per_atom", "@per_atom"},
      // accepted, no effect on the fit
      {"do_copy_at_file", ""}, {"do_copy_atoms_file", ""}, {"sparse_separate_file", ""}, {"verbosity", ""},
      {"openmp_chunk_size", ""}, {"mpi_blocksize_rows", ""}, {"mpi_blocksize_cols", ""}};
  return m;
}

}  // namespace

namespace {
int fit_command(int argc, char** argv, const Communicator& comm);
}

// Under MPI every rank runs the whole command; failures anywhere become one message on rank 0.
int cmd_fit(int argc, char** argv) {
#ifdef SOAPGAP_MPI
  std::optional<MpiCommunicator> mpi;
  if (launched_by_mpi()) mpi.emplace();
  const Communicator& comm = mpi ? static_cast<const Communicator&>(*mpi) : serial_communicator();
#else
  const Communicator& comm = serial_communicator();
#endif
  int rc = 0;
  comm.collectively([&] { rc = fit_command(argc, argv, comm); });
  return rc;
}

namespace {

int fit_command(int argc, char** argv, const Communicator& comm) {
  Args a = parse_args(argc, argv, 2, kSpec, true);
  if (a.help) {
    if (comm.rank() != 0) return 0;
    std::cout << usage("fit",
                       "Fit a sparse GP (GAP) potential to energies, forces and virials.\n"
                       "A gap_fit command line is accepted verbatim, e.g.\n"
                       "  soapgap fit at_file=train.xyz gap={soap l_max=6 n_max=8 atom_sigma=0.5 cutoff=5 delta=0.2 zeta=4 "
                       "n_sparse=500 covariance_type=dot_product sparse_method=cur_points} default_sigma={0.002 0.1 0.05 0} "
                       "e0_method=average gp_file=model.json\n"
                       "Memory: peak ≈ 8 bytes × (2 M² + block_rows × M + n_environments × d) plus one block of "
                       "descriptor gradients (see \"Memory of a fit\" in the README).",
                       kSpec);
    return 0;
  }
  std::string core_file, core_args;
  for (const auto& [k, v] : a.keyvals) {
    auto it = gap_fit_keys().find(k);
    if (it == gap_fit_keys().end())
      throw Error("gap_fit option '" + k + "' is not supported (see docs/gap_fit-options.md)");
    if (it->second.empty()) continue;
    if (it->second == "@core_file" || it->second == "@core_args") {
      (it->second == "@core_file" ? core_file : core_args) = strip_group(v);
      continue;
    }
    if (it->second == "@per_atom") {
      const std::string t = strip_group(v);
      if (t == "F" || t == "false" || t == "False") a.values["no-sigma-per-atom"] = "1";
      continue;
    }
    a.values[it->second] = strip_group(v);
  }
  if (!core_file.empty() || !core_args.empty()) {
    // gap_fit's baseline: only a GAP (QUIP XML or soapgap model) maps onto soapgap's baselines
    if (core_file.empty() || core_args.empty())
      throw Error("gap_fit baseline: core_param_file and core_ip_args go together");
    if (core_args.rfind("IP GAP", 0) != 0)
      throw Error("gap_fit baseline core_ip_args='" + core_args + "' is not supported: only 'IP GAP' (a GAP XML or soapgap "
                  "model) maps onto a soapgap baseline; QUIP's other IPs have no soapgap equivalent here, use --baseline "
                  "with zbl, coulomb, dispersion or table terms (docs/baselines.md)");
    a.repeated["baseline"].insert(a.repeated["baseline"].begin(), core_file);
  }
  set_threads(a);
  if (!a.has("train")) throw Error("no training file: give --train FILE (or at_file=FILE)");
  if (!a.has("gap")) throw Error("no descriptors: give --gap \"soap ...\" (or gap={...})");
  const std::string out = a.get("output");
  const bool xml = out.size() > 4 && out.substr(out.size() - 4) == ".xml";
  if (!a.has("overwrite") && std::filesystem::exists(out))
    throw Error(out + ": file exists; refusing to overwrite (use --overwrite)");

  const bool quiet = a.has("quiet") || comm.rank() != 0;
  auto t0 = std::chrono::steady_clock::now();
  const std::string train = a.get("train");
  std::vector<Structure> frames = read_extxyz(train);
  if (!quiet)
    std::cout << "[read] " << frames.size() << " frames from " << train << " in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s" << std::endl;

  FitOptions o;
  o.gap = split_gap_string(a.get("gap"));
  o.default_sigma = parse_sigma3(a.get("default-sigma"), "default_sigma");
  if (a.has("config-type-sigma")) o.config_type_sigma = parse_config_type_sigma(a.get("config-type-sigma"));
  if (a.has("e0")) {
    std::set<int> species;
    for (const auto& s : frames) species.insert(s.numbers.begin(), s.numbers.end());
    o.e0 = parse_e0(a.get("e0"), species);
  }
  o.e0_method = a.get("e0-method");
  o.e0_offset = a.number("e0-offset");
  o.sparse_jitter = a.number("sparse-jitter");
  o.sigma_per_atom = !a.has("no-sigma-per-atom");
  o.energy_key = a.get("energy-key");
  o.force_key = a.get("force-key");
  o.virial_key = a.get("virial-key");
  o.stress_key = a.get("stress-key");
  o.config_type_key = a.get("config-type-key");
  const long seed = a.integer("seed");
  o.seed = static_cast<std::uint64_t>(seed < 0 ? 0 : seed);
  const long block_rows = a.integer("block-rows");
  if (block_rows < 0 || block_rows > 100000000) throw Error("option --block-rows: must be between 0 and 1e8");
  o.block_rows = static_cast<int>(block_rows);
  o.solver = a.get("solver");
  o.fitc = a.has("fitc");
  o.comm = &comm;
  if (!quiet && comm.distributed())
    std::cout << "[mpi] " << comm.size() << " ranks; each computes descriptors and rows of its share of the frames"
              << std::endl;
  if (!quiet) o.log = [](const std::string& m) { std::cout << m << std::endl; };
  for (const auto& spec : a.repeated["baseline"]) {
    o.baselines.push_back(make_baseline(spec));
    if (!quiet) std::cout << "[baseline] " << o.baselines.back()->to_string() << std::endl;
  }
  std::optional<Potential> source;
  if (a.has("sparse-from")) {
    source = load_potential(a.get("sparse-from"), true);
    o.sparse_from = &*source;
  }

  if (a.has("optimise-hypers") && comm.distributed())
    throw Error("--optimise-hypers runs on one rank; run without mpirun");
  const NoiseGroups noise = parse_noise_groups(a.get("hyper-noise"));
  const long force_bins = a.integer("force-noise-bins");
  if (force_bins < 1 || force_bins > 100) throw Error("option --force-noise-bins: must be between 1 and 100");
  if (force_bins != 1 && !a.has("optimise-hypers")) throw Error("--force-noise-bins goes with --optimise-hypers");
  Potential pot =
      a.has("optimise-hypers") ? fit_with_optimised_hyperparameters(frames, o, noise, static_cast<int>(force_bins)).model : fit(frames, o);
  std::vector<Structure>().swap(frames);  // the writer may need the memory (large models)
  std::ostringstream cmd;
  for (int i = 1; i < argc; ++i) cmd << (i > 1 ? " " : "") << argv[i];
  pot.metadata["command_line"] = cmd.str();
  pot.metadata["training_file"] = train;
  if (comm.rank() != 0) return 0;  // one writer (atomic: a temporary file renamed)
  if (xml) write_gap_xml(pot, out, a.has("overwrite"));  // quippy-readable, without the posterior factor R
  else save_model(pot, out, a.has("overwrite"));
  if (!quiet) {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);  // writing a large model (L, R as base64 text) can set the peak
    std::cout << "[write] model with " << pot.coordinates.size() << " descriptor terms and " << pot.n_sparse_total()
              << " sparse points -> " << out << "; peak RSS of the run " << u.ru_maxrss / 1024 << " MB" << std::endl;
  }
  return 0;
}

}  // namespace

}  // namespace soapgap::cli
