#include "soapgap/fit.hpp"

#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>

#include "soapgap/blas.hpp"
#include "soapgap/error.hpp"
#include "soapgap/model_baseline.hpp"
#include "soapgap/parallel.hpp"
#include "soapgap/streaming_qr.hpp"

namespace soapgap {

std::vector<std::string> split_gap_string(const std::string& gap) {
  std::vector<std::string> out;
  for (const auto& part : split_top_level(strip_group(gap), ':')) {
    const std::string t = strip_group(part);
    if (!t.empty()) out.push_back(t);
  }
  if (out.empty()) throw Error("gap: no descriptor given");
  return out;
}

void check_gap_term_keys(const Options& o) {
  if (o.has("config_type_n_sparse"))
    throw Error(o.context() + ": config_type_n_sparse is not supported (one n_sparse per term)");
  std::vector<std::string> known;
  try {
    known = descriptor_keys(o.name());
  } catch (const Error& e) {
    throw Error(o.context() + ": " + e.what());
  }
  // kernel and sparse-point keys, then gap_fit keys that only change its output, not the fit
  for (const char* k : {"delta", "energy_scale", "zeta", "soap_exponent", "f0", "covariance_type", "n_sparse",
                        "sparse_method", "sparse_file", "lengthscale_factor", "theta_fac", "lengthscale_uniform",
                        "theta_uniform", "add_species", "print_sparse_index", "mark_sparse_atoms",
                        "unique_hash_tolerance", "unique_descriptor_tolerance"})
    known.emplace_back(k);
  o.check_keys(known);
}

int ForceNoiseBins::bin(double force) const {
  return static_cast<int>(std::upper_bound(edges.begin(), edges.end(), force) - edges.begin());
}

void ForceNoiseBins::check() const {
  if (empty()) return;
  if (edges.size() + 1 != factors.size())
    throw Error("force noise bins: " + std::to_string(factors.size()) + " factors need " +
                std::to_string(factors.size() - 1) + " edges, not " + std::to_string(edges.size()));
  for (size_t b = 0; b < edges.size(); ++b)
    if (!std::isfinite(edges[b]) || (b > 0 && !(edges[b] > edges[b - 1])))
      throw Error("force noise bins: the edges (eV/Å) must be finite and ascending");
  for (double f : factors)
    if (!(f > 0 && std::isfinite(f))) throw Error("force noise bins: the factors must be positive and finite");
}

std::string ForceNoiseBins::str() const {
  std::ostringstream o;
  o.precision(12);
  for (double e : edges) o << e << " ";
  o << "|";
  for (double f : factors) o << " " << f;
  return o.str();
}

FrameTargets frame_targets(const Structure& s, const FitOptions& opt) {
  FrameTargets t;
  const int n = s.size();
  if (auto it = s.info.find(opt.config_type_key); it != s.info.end()) {
    if (it->second.kind != InfoValue::Kind::String)
      throw Error(s.where() + "field '" + opt.config_type_key + "' should be a string");
    t.config_type = it->second.text;
  }
  std::array<double, 3> sig = opt.default_sigma;
  if (auto it = opt.config_type_sigma.find(t.config_type); it != opt.config_type_sigma.end()) sig = it->second;
  const double scale = opt.sigma_per_atom ? std::sqrt(static_cast<double>(std::max(n, 1))) : 1.0;
  t.sigma = {sig[0] * scale, sig[1], sig[2] * scale};
  const char* names[3] = {"energy_sigma", "force_sigma", "virial_sigma"};
  for (int k = 0; k < 3; ++k)
    if (s.has_info(opt.sigma_prefix + names[k])) {
      const auto v = s.info_reals(opt.sigma_prefix + names[k]);
      if (v.size() != 1) throw Error(s.where() + "field '" + opt.sigma_prefix + names[k] + "' should be one number");
      t.sigma[k] = v[0];
    }
  if (s.has_info(opt.energy_key)) {
    const auto v = s.info_reals(opt.energy_key);
    if (v.size() != 1) throw Error(s.where() + "field '" + opt.energy_key + "' should be one number");
    t.has_energy = true;
    t.energy = v[0];
  }
  if (s.arrays.count(opt.force_key)) {
    t.forces = s.array_reals(opt.force_key, 3);
    t.has_forces = true;
  }
  auto to3x3 = [&](const std::vector<double>& v, const std::string& key, bool voigt_ok) {
    Eigen::Matrix3d m;
    if (v.size() == 9) {
      for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) m(r, c) = v[3 * r + c];
    } else if (v.size() == 6 && voigt_ok) {  // ASE Voigt order xx yy zz yz xz xy
      m << v[0], v[5], v[4], v[5], v[1], v[3], v[4], v[3], v[2];
    } else {
      throw Error(s.where() + "field '" + key + "' should have 9 (3x3) or 6 (Voigt) numbers, has " +
                  std::to_string(v.size()));
    }
    return m;
  };
  if (s.has_info(opt.virial_key)) {
    t.virial = to3x3(s.info_reals(opt.virial_key), opt.virial_key, true);
    t.has_virial = true;
  } else if (s.has_info(opt.stress_key)) {
    const double vol = s.volume();
    if (!(vol > 0)) throw Error(s.where() + "field '" + opt.stress_key + "' given but the cell has no volume");
    t.virial = -vol * to3x3(s.info_reals(opt.stress_key), opt.stress_key, true);  // W = -V σ
    t.has_virial = true;
  }
  if (t.has_virial) t.virial = 0.5 * (t.virial + t.virial.transpose()).eval();
  if (t.has_forces && !opt.force_noise.empty()) {
    t.force_bin.resize(n);
    t.atom_force_sigma.resize(n);
    for (int i = 0; i < n; ++i) {
      t.force_bin[i] = opt.force_noise.bin(t.forces.row(i).norm());
      t.atom_force_sigma[i] = t.sigma[1] * opt.force_noise.factors[t.force_bin[i]];
    }
  }
  for (int k = 0; k < 3; ++k) {
    const bool used = k == 0 ? t.has_energy : k == 1 ? t.has_forces : t.has_virial;
    if (used && !(t.sigma[k] > 0 && std::isfinite(t.sigma[k])))
      throw Error(s.where() + "sigma for " + std::string(k == 0 ? "energy" : k == 1 ? "forces" : "virial") +
                  " must be positive and finite (config_type '" + t.config_type + "')");
  }
  return t;
}

namespace {

// Frames that are one atom seeing no other atom: open boundaries, or periodic images further
// away than the cutoff, or labelled isolated_atom. A one-atom bulk cell is none of these.
bool is_isolated_atom(const Structure& s, const FrameTargets& t, double cutoff) {
  if (s.size() != 1) return false;
  if (t.config_type == "isolated_atom") return true;
  const Eigen::Matrix3d c = s.completed_cell();
  const double volume = std::abs(c.determinant());
  for (int k = 0; k < 3; ++k) {
    if (!s.pbc[k]) continue;
    // distance between the lattice planes spanned by the other two vectors
    const Eigen::Vector3d normal = c.row((k + 1) % 3).cross(c.row((k + 2) % 3));
    if (volume / normal.norm() <= cutoff) return false;
  }
  return true;
}

}  // namespace

std::map<int, double> reference_energies(const std::vector<Structure>& frames, const std::vector<FrameTargets>& targets,
                                         const std::vector<int>& species, const FitOptions& opt, double cutoff,
                                         const std::set<int>& from_baseline) {
  std::map<int, double> e0;
  if (!opt.e0.empty()) {
    for (int z : species) {
      if (!opt.e0.count(z) && from_baseline.count(z)) continue;  // zero below
      if (!opt.e0.count(z)) throw Error("fit: e0 given but not for species " + chemical_symbol(z));
      e0[z] = opt.e0.at(z) + opt.e0_offset;
    }
  } else if (opt.e0_method == "isolated") {
    std::map<int, std::pair<double, std::string>> iso;  // energy and where it came from
    for (size_t f = 0; f < frames.size(); ++f) {
      if (!targets[f].has_energy || !is_isolated_atom(frames[f], targets[f], cutoff)) continue;
      const int z = frames[f].numbers[0];
      const double e = targets[f].energy;
      auto it = iso.find(z);
      if (it == iso.end()) {
        iso[z] = {e, frames[f].where()};
      } else if (std::abs(it->second.first - e) > 1e-8 * std::max(1.0, std::abs(e))) {
        std::ostringstream m;
        m.precision(12);
        m << "fit: e0_method=isolated found isolated " << chemical_symbol(z) << " atoms with different energies: "
          << it->second.second << it->second.first << " eV and " << frames[f].where() << e
          << " eV; keep one, or give e0=...";
        throw Error(m.str());
      }
    }
    for (int z : species) {
      if (from_baseline.count(z)) continue;
      if (!iso.count(z))
        throw Error("fit: e0_method=isolated but no isolated " + chemical_symbol(z) +
                    " atom (a one-atom frame with an energy and open boundaries, a cell wider than the cutoff, "
                    "or config_type=isolated_atom); add one, give e0=..., or use e0_method=average");
      e0[z] = iso[z].first + opt.e0_offset;
    }
  } else if (opt.e0_method == "average") {
    double sum = 0.0;
    int count = 0;
    for (size_t f = 0; f < frames.size(); ++f)
      if (targets[f].has_energy && frames[f].size() > 0) {
        sum += targets[f].energy / frames[f].size();
        ++count;
      }
    if (count == 0) throw Error("fit: e0_method=average but no frame has an energy");
    for (int z : species) e0[z] = sum / count + opt.e0_offset;
  } else {
    throw Error("fit: unknown e0_method '" + opt.e0_method + "' (isolated or average)");
  }
  // a model baseline already carries these species' e0: the residual's is zero, so predictions of
  // frames made of them alone stay the baseline's
  for (int z : species)
    if (from_baseline.count(z) && !opt.e0.count(z)) e0[z] = 0.0;
  return e0;
}

void subtract_baselines(const std::vector<Structure>& frames, std::vector<FrameTargets>& targets,
                        const std::vector<std::shared_ptr<const Baseline>>& baselines,
                        const std::function<void(const std::string&)>& log, long first, long last) {
  if (baselines.empty()) return;
  const auto t0 = std::chrono::steady_clock::now();
  if (last < 0) last = static_cast<long>(frames.size());
  const long n = last - first;
  std::vector<std::string> errors(frames.size());
#pragma omp parallel for schedule(dynamic)
  for (long f = first; f < last; ++f) {
    try {
      const Structure& s = frames[f];
      FrameTargets& t = targets[f];
      EnergyTerms b = EnergyTerms::zeros(s.size(), t.has_forces);
      for (const auto& term : baselines) term->add(s, b);
      t.energy -= b.energies.sum();
      if (t.has_forces) t.forces -= b.forces;
      t.virial -= b.virial;  // only used when has_virial
    } catch (const std::exception& e) {
      errors[f] = e.what();
    }
  }
  for (const auto& e : errors)
    if (!e.empty()) throw Error("baseline: " + e);
  std::ostringstream m;
  m << "[baseline] subtracted " << baselines.size() << " baseline term(s) from " << n << " frames in "
    << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s";
  if (log) log(m.str());
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Term {
  Options opts;
  int gap = 0;  // index of the gap term this (species-expanded) term comes from
  int n_sparse = 0;
  SparseMethod method = SparseMethod::Random;
  double theta_fac = 0.0;
  std::string sparse_file;
};

// --- the stages of fit() ---------------------------------------------------------------

using Log = std::function<void(const std::string&)>;

void check_fit_inputs(const std::vector<Structure>& frames, const FitOptions& opt) {
  if (frames.empty()) throw Error("fit: no training frames");
  if (!(opt.sparse_jitter >= 0) || !std::isfinite(opt.sparse_jitter))
    throw Error("fit: sparse_jitter must be a non-negative finite number");
  if (!std::isfinite(opt.e0_offset)) throw Error("fit: e0_offset must be a finite number");
  opt.force_noise.check();
  for (const auto& [z, v] : opt.e0)
    if (!std::isfinite(v)) throw Error("fit: e0 for Z=" + std::to_string(z) + " must be a finite number");
  for (const auto& s : frames) s.validate();
}

// Species in order of first appearance, as gap_fit's add_species expansion.
std::vector<int> species_in_order(const std::vector<Structure>& frames) {
  std::vector<int> species;
  for (const auto& s : frames)
    for (int z : s.numbers)
      if (std::find(species.begin(), species.end(), z) == species.end()) species.push_back(z);
  return species;
}

// The gap terms, expanded per species: their sparse settings, and the descriptor and kernel of
// each appended to pot.coordinates.
std::vector<Term> make_terms(const FitOptions& opt, const std::vector<int>& species, Potential& pot) {
  std::vector<Term> terms;
  for (size_t g = 0; g < opt.gap.size(); ++g) {
    const std::string ctx = "gap term " + std::to_string(g + 1);
    const Options o = Options::parse(opt.gap[g], ctx);
    check_gap_term_keys(o);
    std::vector<std::string> strs = o.get_bool({"add_species"}, true) ? expand_species(o, species)
                                                                     : std::vector<std::string>{o.str()};
    for (const auto& s : strs) {
      Term t;
      t.gap = static_cast<int>(g);
      t.opts = Options::parse(s, ctx);
      t.n_sparse = t.opts.get_int({"n_sparse"}, 0);
      t.method = parse_sparse_method(t.opts.get_string({"sparse_method"}, "random"));
      t.sparse_file = t.opts.get_string({"sparse_file"}, "");
      const bool from_file = t.method == SparseMethod::File || t.method == SparseMethod::IndexFile;
      if (from_file && t.sparse_file.empty()) throw Error(ctx + ": sparse_method=" + sparse_method_name(t.method) + " needs sparse_file=...");
      if (t.n_sparse < 1 && t.method != SparseMethod::All && !from_file)
        throw Error(ctx + ": n_sparse must be at least 1 (or sparse_method=all)");
      t.theta_fac = t.opts.get_double({"lengthscale_factor", "theta_fac"}, 0.0);
      Coordinate c;
      c.descriptor = make_descriptor(t.opts);
      c.descriptor_string = c.descriptor->to_string();
      const std::string def_cov = c.descriptor->default_covariance();
      c.kernel.type = Kernel::parse_type(t.opts.get_string({"covariance_type"}, def_cov));
      c.kernel.delta = t.opts.require_double({"delta", "energy_scale"});
      if (!(c.kernel.delta > 0)) throw Error(ctx + ": delta must be positive");
      c.kernel.f0 = t.opts.get_double({"f0"}, 0.0);
      c.kernel.zeta = t.opts.get_double({"zeta", "soap_exponent"}, 1.0);
      if (c.kernel.type == Kernel::Type::Gaussian) {
        const double tu = t.opts.get_double({"lengthscale_uniform", "theta_uniform"}, 0.0);
        if (tu > 0) c.kernel.theta = Eigen::VectorXd::Constant(c.descriptor->dimension(), tu);
        else if (!(t.theta_fac > 0))
          throw Error(ctx + ": gaussian kernel needs theta_uniform=... or theta_fac=...");
      }
      pot.coordinates.push_back(std::move(c));
      terms.push_back(std::move(t));
    }
  }
  return terms;
}

void check_sparse_source(const FitOptions& opt, const Potential& pot) {
  if (!opt.sparse_from) return;
  const auto& src = opt.sparse_from->coordinates;
  const int nc = static_cast<int>(pot.coordinates.size());
  if (static_cast<int>(src.size()) != nc)
    throw Error("fit: sparse points taken from a potential with " + std::to_string(src.size()) +
                " descriptor terms, but the gap terms expand to " + std::to_string(nc));
  for (int c = 0; c < nc; ++c)
    if (src[c].descriptor_string != pot.coordinates[c].descriptor_string)
      throw Error("fit: descriptor term " + std::to_string(c + 1) + " differs from the sparse-point source:\n  here:   " +
                  pot.coordinates[c].descriptor_string + "\n  source: " + src[c].descriptor_string);
}

// This rank's frames: contiguous, in file order, balanced by environment (atom) count: frame f
// goes to the rank whose 1/P of all atoms holds the middle of f's atoms.
struct FrameShare {
  int first = 0, last = 0;  // [first, last)
};
FrameShare share_frames(const std::vector<Structure>& frames, const Communicator& comm) {
  const int nf = static_cast<int>(frames.size()), P = comm.size(), me = comm.rank();
  if (P == 1) return {0, nf};
  double total = 0;
  for (const auto& s : frames) total += s.size();
  FrameShare share{nf, nf};
  double before = 0;
  bool started = false;
  for (int f = 0; f < nf; ++f) {
    const double mid = before + 0.5 * frames[f].size();
    const int owner = total > 0 ? std::min(P - 1, static_cast<int>(P * mid / total)) : f * P / nf;
    if (owner == me && !started) share.first = f, started = true;
    if (owner > me) {
      share.last = f;
      break;
    }
    before += frames[f].size();
  }
  if (!started) share.first = share.last;
  return share;
}

// Offset of this rank's rows among all ranks' (ranks in order).
long rank_offset(const Communicator& comm, long local, long& total) {
  const std::vector<double> counts = allgather(comm, {static_cast<double>(local)});
  long offset = 0;
  total = 0;
  for (int p = 0; p < comm.size(); ++p) {
    if (p == comm.rank()) offset = total;
    total += static_cast<long>(counts[p]);
  }
  return offset;
}

// Descriptors of this rank's environments (no gradients), then per term: the sparse points
// (selected, read, or taken from opt.sparse_from) and gaussian length scales from theta_fac.
void choose_sparse_points(const std::vector<Structure>& frames, FrameShare share, const std::vector<Term>& terms,
                          const FitOptions& opt, double cutoff, const Communicator& comm, Potential& pot, const Log& log) {
  auto t0 = Clock::now();
  const int nf = share.last - share.first, nc = static_cast<int>(terms.size());
  std::vector<std::vector<DescriptorData>> per_frame(nf);
  comm.collectively([&] {
    ExceptionCollector errors;
#pragma omp parallel for schedule(dynamic)
    for (int f = 0; f < nf; ++f)
      errors.run([&] {
        const Structure& s = frames[share.first + f];
        const NeighbourList nl = build_neighbour_list(s, cutoff);
        per_frame[f].resize(nc);
        for (int c = 0; c < nc; ++c) per_frame[f][c] = pot.coordinates[c].descriptor->compute(s, nl, false);
      });
    errors.rethrow();
  });
  log("[descriptors] computed for " + std::to_string(frames.size()) + " frames in " + std::to_string(seconds_since(t0)) +
      " s" + (comm.distributed() ? " (" + std::to_string(nf) + " on rank 0)" : std::string()));

  t0 = Clock::now();
  for (int c = 0; c < nc; ++c) {
    Coordinate& co = pot.coordinates[c];
    int ne_local = 0;
    for (int f = 0; f < nf; ++f) ne_local += per_frame[f][c].size();
    const int d = co.descriptor->dimension();
    RowMatrixXd X(ne_local, d);
    Eigen::VectorXd fc(ne_local);
    int row = 0;
    for (int f = 0; f < nf; ++f) {
      const auto& dd = per_frame[f][c];
      if (dd.size() == 0) continue;
      X.middleRows(row, dd.size()) = dd.values;
      for (int e = 0; e < dd.size(); ++e) fc[row + e] = dd.cutoff[e];
      row += dd.size();
      per_frame[f][c] = DescriptorData{};  // release
    }
    long ne = 0;
    const long offset = rank_offset(comm, ne_local, ne);
    if (ne == 0) throw Error("gap term '" + co.descriptor_string + "' has no environments in the training data");
    if (co.kernel.type == Kernel::Type::Gaussian && co.kernel.theta.size() == 0) {
      Eigen::RowVectorXd lo, hi;
      column_bounds(RowShare{X, offset, ne, comm}, lo, hi);
      co.kernel.theta = (terms[c].theta_fac * (hi - lo).transpose()).cwiseMax(1e-8);
    }
    std::vector<int> idx;
    if (opt.sparse_from) {
      co.sparse = opt.sparse_from->coordinates[c].sparse;
      co.sparse_cutoff = opt.sparse_from->coordinates[c].sparse_cutoff;
      idx.resize(co.sparse.rows());
    } else if (terms[c].method == SparseMethod::File) {
      if (co.descriptor->kind() != "soap")
        throw Error("sparse_method=file is supported for soap (unit sparse cutoffs); use index_file for " +
                    co.descriptor->kind());
      co.sparse = read_sparse_points(terms[c].sparse_file, d);
      co.sparse_cutoff = Eigen::VectorXd::Ones(co.sparse.rows());
      idx.resize(co.sparse.rows());
    } else {
      idx = terms[c].method == SparseMethod::IndexFile
                ? read_sparse_indices(terms[c].sparse_file, static_cast<int>(ne))
                : select_sparse(RowShare{X, offset, ne, comm}, terms[c].n_sparse, terms[c].method, opt.seed + 7919 * c);
      // each chosen row from the rank holding it (zeros elsewhere: the sum is exact)
      co.sparse = RowMatrixXd::Zero(idx.size(), d);
      co.sparse_cutoff = Eigen::VectorXd::Zero(idx.size());
      for (size_t k = 0; k < idx.size(); ++k)
        if (idx[k] >= offset && idx[k] < offset + ne_local) {
          co.sparse.row(k) = X.row(idx[k] - offset);
          co.sparse_cutoff[k] = fc[idx[k] - offset];
        }
      comm.sum(co.sparse.data(), co.sparse.size());
      comm.sum(co.sparse_cutoff.data(), co.sparse_cutoff.size());
    }
    std::ostringstream m;
    m << "[sparse] " << co.descriptor_string.substr(0, 60) << "...: " << idx.size() << " of " << ne
      << " environments (" << (opt.sparse_from ? std::string("given") : sparse_method_name(terms[c].method)) << ")";
    if (static_cast<int>(idx.size()) < terms[c].n_sparse) m << " [fewer distinct environments than n_sparse]";
    log(m.str());
  }
  log("[sparse] selection took " + std::to_string(seconds_since(t0)) + " s");
}

// K_mm between the sparse points (block diagonal over terms), without jitter.
Eigen::MatrixXd sparse_covariance(const Potential& pot) {
  const int M = pot.n_sparse_total();
  Eigen::MatrixXd Kmm = Eigen::MatrixXd::Zero(M, M);
  int m0 = 0;
  for (const auto& co : pot.coordinates) {
    RowMatrixXd K = co.kernel.prior(co.sparse, co.sparse);
    K.array().colwise() *= co.sparse_cutoff.array();
    K.array().rowwise() *= co.sparse_cutoff.transpose().array();
    Kmm.block(m0, m0, co.n_sparse(), co.n_sparse()) = K;
    m0 += co.n_sparse();
  }
  return Kmm;
}

// FITC's likelihood: the eigenvectors and eigenvalues (clipped at 0) of each descriptor term's
// block of K_mm, and K_mm rebuilt from them.
void set_fitc_eigenbasis(const Potential& pot, LikelihoodStatistics& st) {
  const Eigen::MatrixXd Kmm = sparse_covariance(pot);
  const Eigen::Index M = Kmm.rows();
  st.kmm_vectors = Eigen::MatrixXd::Zero(M, M);
  st.kmm_values = Eigen::VectorXd::Zero(M);
  for (Eigen::Index m0 = 0; const auto& co : pot.coordinates) {
    const Eigen::Index n = co.n_sparse();
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(Kmm.block(m0, m0, n, n));
    st.kmm_vectors.block(m0, m0, n, n) = eig.eigenvectors();
    st.kmm_values.segment(m0, n) = eig.eigenvalues().cwiseMax(0.0);
    m0 += n;
  }
  st.Kmm = st.kmm_vectors * st.kmm_values.asDiagonal() * st.kmm_vectors.transpose();
  st.fitc = true;
}

// L with K_mm + jitter I = L Lᵀ (block diagonal over terms). K_mm itself is not kept, so peak
// memory counts L only.
Eigen::MatrixXd cholesky_of_kmm(const Potential& pot, double jitter) {
  Eigen::MatrixXd Kmm = sparse_covariance(pot);
  Kmm.diagonal().array() += jitter;
  Eigen::LLT<Eigen::MatrixXd> llt(Kmm);
  if (llt.info() != Eigen::Success)
    throw Error("fit: K_mm is not positive definite; increase sparse_jitter (now " + std::to_string(jitter) + ")");
  return llt.matrixL();
}

// The rows of one frame in [Λ^{-1/2} K_nm | Λ^{-1/2} y]: its energy (sum of local energies),
// forces (-dE/dr) and virial rows against every sparse point, divided by their sigmas, into B
// (row-major: each gradient entry updates whole rows, which in the column-major block would
// stride across pages) and b. With FITC each row's noise variance also holds the part of its prior
// variance the sparse points do not explain, [K_nn − K_nm K_mm⁻¹ K_mn]_ii (Snelson & Ghahramani,
// NIPS 18 (2006)): prior from the kernel (observation_rows.hpp), Nyström part |L⁻¹k_i|².
// FITC's likelihood search also keeps each row's weight (its σ) and prior variance per descriptor
// term (coordinate).
struct FitcRowData {
  Eigen::VectorXd sigma;
  RowMatrixXd coordinate_prior;  // rows x coordinates
};

void frame_rows(const Structure& s, const FrameTargets& t, const Potential& pot, double cutoff, bool fitc,
                RowMatrixXd& B, Eigen::VectorXd& b, KernelRowBuffers& buf, FitcRowData* fitc_data = nullptr) {
  const int n = s.size();
  const ObservationKinds kinds = t.kinds();
  const int rE = 0, rF = kinds.force_row(0, 0), rV = kinds.virial_row(n);
  const NeighbourList nl = build_neighbour_list(s, cutoff);
  RowMatrixXd prior = RowMatrixXd::Zero(fitc ? B.rows() : 0, static_cast<Eigen::Index>(pot.coordinates.size()));
  int m0 = 0;
  for (size_t c = 0; c < pot.coordinates.size(); ++c) {
    const Coordinate& co = pot.coordinates[c];
    const DescriptorData d = co.descriptor->compute(s, nl, kinds.forces || kinds.virial);
    add_observation_rows(d, co, kinds, n, m0, B, buf);
    if (fitc && d.size() > 0) {
      if (kinds.energy) prior(rE, c) += energy_prior(d, co.kernel);
      prior.col(c).segment(rF, B.rows() - rF) += derivative_prior(d, co.kernel, kinds, n);
    }
    m0 += co.n_sparse();
  }
  Eigen::VectorXd sigma(B.rows());
  if (kinds.energy) sigma[rE] = t.sigma[0];
  if (kinds.forces)
    for (int i = 0; i < n; ++i) sigma.segment(rF + 3 * i, 3).setConstant(t.force_sigma(i));
  if (kinds.virial) sigma.segment(rV, 6).setConstant(t.sigma[2]);
  if (fitc) {
    const Eigen::MatrixXd a = pot.L.triangularView<Eigen::Lower>().solve(B.transpose());
    const Eigen::VectorXd unexplained = (prior.rowwise().sum() - a.colwise().squaredNorm().transpose()).cwiseMax(0.0);
    sigma = (sigma.array().square() + unexplained.array()).sqrt();
  }
  if (fitc_data) fitc_data->sigma = sigma, fitc_data->coordinate_prior = std::move(prior);
  // targets and noise weighting
  if (kinds.energy) {
    double e0sum = 0.0;
    for (int z : s.numbers) e0sum += pot.e0.at(z);
    b[rE] = t.energy - e0sum;
  }
  if (kinds.forces)
    for (int i = 0; i < n; ++i)
      for (int c = 0; c < 3; ++c) b[rF + 3 * i + c] = t.forces(i, c);
  if (kinds.virial)
    for (int k = 0, row = 0; k < 3; ++k)
      for (int l = k; l < 3; ++l, ++row) b[rV + row] = t.virial(l, k);
  for (Eigen::Index r = 0; r < B.rows(); ++r) {
    B.row(r) /= sigma[r];
    b[r] /= sigma[r];
  }
}

SolverMemory solver_memory(double N, double M, double P, double b) {
  return {8.0 * std::max(2 * M * M + b * M, P > 1 ? 3 * M * M : 0.0), 8.0 * (2 * N * (M + 1) / P + 2 * M * M)};
}

// The rows of frames [f_begin, f_end) (stacked in B, b) into the marginal-likelihood statistics,
// each with its kind (energy, force, virial) and sigma.
// The noise group and given sigma of every row of frames [f_begin, f_end).
void row_noise_groups(const std::vector<Structure>& frames, const std::vector<FrameTargets>& targets, int f_begin,
                      int f_end, std::vector<int>& group, std::vector<double>& sigma, const LikelihoodStatistics& st) {
  for (int f = f_begin; f < f_end; ++f) {
    const FrameTargets& t = targets[f];
    const long n = t.kinds().rows(frames[f].size());
    const int rF = t.has_energy ? 1 : 0;
    for (long r = 0; r < n; ++r) {
      const int k = r < rF ? 0 : r < t.kinds().virial_row(frames[f].size()) ? 1 : 2;
      const int atom = static_cast<int>((r - rF) / 3);
      const bool binned = k == 1 && st.force_bins > 1;
      group.push_back(st.group(k, t.config_type, binned ? t.force_bin[atom] : 0));
      sigma.push_back(k == 1 ? t.force_sigma(atom) : t.sigma[k]);
    }
  }
}

void add_statistics(const std::vector<Structure>& frames, const std::vector<FrameTargets>& targets, int f_begin,
                    int f_end, const Eigen::MatrixXd& B, const Eigen::VectorXd& b, LikelihoodStatistics& st) {
  std::vector<int> group;
  std::vector<double> sigma;
  row_noise_groups(frames, targets, f_begin, f_end, group, sigma, st);
  st.add(B, b, group, sigma);
}

// FITC: the same rows unweighted (σ_i the FITC weight of the fit, FitcRowData), with their given
// sigma, group and prior variance per gap term, kept in the statistics.
void add_fitc_statistics(const std::vector<Structure>& frames, const std::vector<FrameTargets>& targets, int f_begin,
                         int f_end, const Eigen::MatrixXd& B, const Eigen::VectorXd& b,
                         const std::vector<FitcRowData>& data, const Potential& pot, LikelihoodStatistics& st) {
  std::vector<int> group, term_of_coordinate;
  std::vector<double> sigma;
  for (int m0 = 0; const auto& co : pot.coordinates) {
    term_of_coordinate.push_back(co.n_sparse() > 0 ? st.term_of_column[m0] : 0);
    m0 += co.n_sparse();
  }
  Eigen::VectorXd weight(B.rows());
  RowMatrixXd term_prior = RowMatrixXd::Zero(B.rows(), st.n_terms);
  for (Eigen::Index r0 = 0, f = f_begin; f < f_end; ++f) {
    const FitcRowData& d = data[f - f_begin];
    const Eigen::Index n = d.sigma.size();
    weight.segment(r0, n) = d.sigma;
    for (Eigen::Index c = 0; c < d.coordinate_prior.cols(); ++c)
      term_prior.block(r0, term_of_coordinate[c], n, 1) += d.coordinate_prior.col(c);
    r0 += n;
  }
  row_noise_groups(frames, targets, f_begin, f_end, group, sigma, st);
  st.add_fitc(weight.asDiagonal() * B, weight.cwiseProduct(b), group, sigma, term_prior);
}

std::unique_ptr<RowFactorizer> make_factorizer(const FitOptions& opt, const Communicator& comm, const Potential& pot,
                                               long total_rows, int block_rows, const Log& log, std::string& solver) {
  const int M = pot.n_sparse_total();
  const SolverMemory mem = solver_memory(static_cast<double>(total_rows), M, comm.size(), block_rows);
  std::unique_ptr<RowFactorizer> scalapack = comm.scalapack_factorizer(M);  // null without the MPI build
  solver = opt.solver;
  if (solver == "auto") solver = scalapack && mem.scalapack < mem.tsqr ? "scalapack" : "tsqr";
  std::ostringstream m;
  m.precision(3);
  m << "[solve] " << solver << " (estimated peak per rank: TSQR " << mem.tsqr / 1e9 << " GB, ScaLAPACK "
    << mem.scalapack / 1e9 << " GB)";
  if (comm.distributed() || solver != "tsqr") log(m.str());
  if (solver == "tsqr") return std::make_unique<StreamingQR>(comm.rank() == 0 ? Eigen::MatrixXd(pot.L.transpose()) : Eigen::MatrixXd(), M, comm);
  if (solver != "scalapack") throw Error("fit: unknown solver '" + opt.solver + "' (auto, tsqr or scalapack)");
  if (!scalapack) throw Error("fit: solver=scalapack needs soapgap built with MPI and ScaLAPACK (cmake -DSOAPGAP_MPI=ON)");
  if (comm.rank() == 0) scalapack->add(pot.L.transpose(), Eigen::VectorXd::Zero(M));  // the prior rows
  return scalapack;
}

// This rank's training rows, block by block of frames, folded into the triangular factor of
// [Λ^{-1/2} K_nm ; Lᵀ] (the sparse-GP normal equations without forming them); the factor of all
// ranks' rows on rank 0.
TriangularFactor assemble_and_factor(const std::vector<Structure>& frames, FrameShare share,
                                     const std::vector<FrameTargets>& targets, const Potential& pot,
                                     const FitOptions& opt, double cutoff, const Communicator& comm, const Log& log,
                                     long& total_rows) {
  const auto t0 = Clock::now();
  const int M = pot.n_sparse_total();
  const int block_rows = opt.block_rows > 0 ? opt.block_rows : std::max(1000, M);
  std::vector<int> nrows(frames.size());
  total_rows = 0;
  long n_e = 0, n_f = 0, n_v = 0, own_rows = 0;
  for (size_t f = 0; f < frames.size(); ++f) {
    const auto& t = targets[f];
    nrows[f] = static_cast<int>(t.kinds().rows(frames[f].size()));
    total_rows += nrows[f];
    if (static_cast<int>(f) >= share.first && static_cast<int>(f) < share.last) own_rows += nrows[f];
    n_e += t.has_energy;
    n_f += t.has_forces ? 3 * frames[f].size() : 0;
    n_v += t.has_virial ? 6 : 0;
  }
  if (n_f == 0)
    log("[warning] no training frame has the per-atom force property '" + opt.force_key + "': fitting without forces");
  log("[assembly] " + std::to_string(total_rows) + " rows (" + std::to_string(n_e) + " energies, " +
      std::to_string(n_f) + " force components, " + std::to_string(n_v) + " virial components) x " +
      std::to_string(M) + " sparse points; blocks of " + std::to_string(block_rows) + " rows" +
      (comm.distributed() ? "; " + std::to_string(own_rows) + " rows on rank 0 of " + std::to_string(comm.size())
                          : std::string()));
  std::unique_ptr<RowFactorizer> factor;
  std::string solver;
  comm.collectively([&] { factor = make_factorizer(opt, comm, pot, total_rows, block_rows, log, solver); });
  long done_rows = 0;
  int f_begin = share.first, blocks = 0;
  double rows_s = 0.0, fold_s = 0.0;  // kernel rows vs the QR fold
  std::vector<KernelRowBuffers> buffers(omp_get_max_threads());
  comm.collectively([&] {
    while (f_begin < share.last) {
      int f_end = f_begin, rows = 0;
      std::vector<int> offset;
      while (f_end < share.last && (rows == 0 || rows + nrows[f_end] <= block_rows)) {
        offset.push_back(rows);
        rows += nrows[f_end++];
      }
      const auto tb = Clock::now();
      Eigen::MatrixXd B(rows, M);  // every row is written by its frame
      Eigen::VectorXd b(rows);
      ExceptionCollector errors;
      const bool fitc_statistics = opt.statistics && opt.statistics->fitc;
      std::vector<FitcRowData> fitc_data(fitc_statistics ? f_end - f_begin : 0);
      // few large frames in a block: let the descriptor's own loops and OpenBLAS use the threads
      const bool frames_in_parallel = f_end - f_begin >= omp_get_max_threads();
      std::optional<SingleThreadedBlas> serial_blas;
      if (frames_in_parallel) serial_blas.emplace();
#pragma omp parallel for schedule(dynamic) if (frames_in_parallel)
      for (int f = f_begin; f < f_end; ++f)
        errors.run([&] {
          if (nrows[f] == 0) return;
          RowMatrixXd F = RowMatrixXd::Zero(nrows[f], M);
          Eigen::VectorXd fb = Eigen::VectorXd::Zero(nrows[f]);
          frame_rows(frames[f], targets[f], pot, cutoff, opt.fitc, F, fb, buffers[omp_get_thread_num()],
                     fitc_statistics ? &fitc_data[f - f_begin] : nullptr);
          B.middleRows(offset[f - f_begin], nrows[f]) = F;
          b.segment(offset[f - f_begin], nrows[f]) = fb;
        });
      serial_blas.reset();  // the fold below uses OpenBLAS' threads
      errors.rethrow();
      if (fitc_statistics)
        add_fitc_statistics(frames, targets, f_begin, f_end, B, b, fitc_data, pot, *opt.statistics);
      else if (opt.statistics)
        add_statistics(frames, targets, f_begin, f_end, B, b, *opt.statistics);
      const auto tf = Clock::now();
      rows_s += std::chrono::duration<double>(tf - tb).count();
      factor->add(std::move(B), std::move(b));
      fold_s += seconds_since(tf);
      done_rows += rows;
      ++blocks;
      std::ostringstream m;
      m << "[assembly] block " << blocks << ": frames " << f_begin << "-" << f_end - 1 << ", " << done_rows << "/"
        << (comm.distributed() ? own_rows : total_rows) << " rows" << (comm.distributed() ? " of rank 0" : "") << ", "
        << seconds_since(t0) << " s";
      log(m.str());
      f_begin = f_end;
    }
  });
  if (solver == "tsqr") {
    // 2·rows·M² is the fold's useful work (what a QR of the rows alone would cost)
    std::ostringstream m;
    m.precision(3);
    m << "[assembly] kernel rows " << rows_s << " s, QR fold " << fold_s << " s ("
      << 2.0 * static_cast<double>(own_rows) * M * M / std::max(fold_s, 1e-9) / 1e9 << " GFlop/s)"
      << (comm.distributed() ? " on rank 0" : "");
    log(m.str());
  }
  const auto t1 = Clock::now();
  TriangularFactor out = factor->finish();
  if (comm.distributed()) log("[solve] factors of " + std::to_string(comm.size()) + " ranks combined in " + std::to_string(seconds_since(t1)) + " s");
  return out;
}

// alpha = R⁻¹ Qᵀb on rank 0, split over the terms and sent to every rank; R is kept for the
// predicted variance (rank 0).
void solve_weights(TriangularFactor&& qr, long total_rows, const Communicator& comm, Potential& pot,
                   const Log& log) {
  const auto t0 = Clock::now();
  Eigen::VectorXd alpha = Eigen::VectorXd::Zero(pot.n_sparse_total());
  comm.collectively([&] {
    if (comm.rank() != 0) return;
    alpha = qr.R.triangularView<Eigen::Upper>().solve(qr.qtb);
    if (!alpha.allFinite()) throw Error("fit: the solve produced non-finite weights; increase sparse_jitter");
    pot.R = std::move(qr.R);  // upper triangular with zeros below (M² doubles: not copied)
  });
  comm.broadcast(alpha.data(), alpha.size(), 0);
  int m0 = 0;
  for (auto& co : pot.coordinates) {
    co.alpha = alpha.segment(m0, co.n_sparse());
    m0 += co.n_sparse();
  }
  std::ostringstream m;
  m << "[solve] alpha from the triangular factor in " << seconds_since(t0) << " s; weighted residual "
    << std::sqrt(qr.residual2 / std::max<long>(total_rows, 1)) << " (RMS of (prediction - target)/sigma)";
  log(m.str());
}

// Peak resident memory of every rank (getrusage; kB on Linux).
void log_peak_memory(const Communicator& comm, const Log& log) {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const std::vector<double> rss = allgather(comm, {static_cast<double>(u.ru_maxrss) / 1024.0});
  std::ostringstream m;
  m.precision(0);
  m << std::fixed << "[memory] peak RSS" << (comm.distributed() ? " per rank:" : "");
  for (double r : rss) m << " " << r << " MB";
  log(m.str());
}

void record_settings(const FitOptions& opt, int n_frames, Potential& pot) {
  std::ostringstream ds;  // enough digits for optimised sigmas (they are read back: validation)
  ds.precision(12);
  ds << opt.default_sigma[0] << " " << opt.default_sigma[1] << " " << opt.default_sigma[2];
  pot.metadata["default_sigma"] = ds.str();
  pot.metadata["sparse_jitter"] = std::to_string(opt.sparse_jitter);
  pot.metadata["sparse_approximation"] = opt.fitc ? "fitc" : "dtc";
  pot.metadata["sigma_per_atom"] = opt.sigma_per_atom ? "T" : "F";
  std::ostringstream cts;
  cts.precision(12);
  for (const auto& [ct, sg] : opt.config_type_sigma)
    cts << (cts.tellp() > 0 ? ":" : "") << ct << ":" << sg[0] << ":" << sg[1] << ":" << sg[2];
  if (!opt.config_type_sigma.empty()) pot.metadata["config_type_sigma"] = cts.str();
  if (!opt.force_noise.empty()) pot.metadata["force_noise_bins"] = opt.force_noise.str();
  pot.metadata["n_frames"] = std::to_string(n_frames);
  pot.metadata["seed"] = std::to_string(opt.seed);
  std::string gap;
  for (const auto& g : opt.gap) gap += (gap.empty() ? "" : " : ") + g;
  pot.metadata["gap"] = gap;
  std::string baselines;
  for (const auto& b : opt.baselines) baselines += (baselines.empty() ? "" : " ; ") + b->to_string();
  if (!baselines.empty()) pot.metadata["baselines"] = baselines;
}

}  // namespace

Potential fit(const std::vector<Structure>& frames, const FitOptions& opt) {
  const Log log = [&](const std::string& m) {
    if (opt.log) opt.log(m);
  };
  const auto t_start = Clock::now();
  check_fit_inputs(frames, opt);
  const std::vector<int> species = species_in_order(frames);
  std::vector<FrameTargets> targets;
  targets.reserve(frames.size());
  for (const auto& s : frames) targets.push_back(frame_targets(s, opt));
  if (std::none_of(targets.begin(), targets.end(), [](const FrameTargets& t) { return t.has_energy; }))
    throw Error("fit: no training frame has the energy property '" + opt.energy_key +
                "' (set the key name with --energy-key / energy_parameter_name=)");

  const Communicator& comm = opt.comm ? *opt.comm : serial_communicator();
  const FrameShare share = share_frames(frames, comm);
  comm.collectively([&] { subtract_baselines(frames, targets, opt.baselines, log, share.first, share.last); });
  if (comm.distributed() && !opt.baselines.empty()) {
    // e0 needs every frame's residual energy; forces and virials are used by their own rank only
    std::vector<double> e(frames.size(), 0.0);
    for (int f = share.first; f < share.last; ++f) e[f] = targets[f].energy;
    comm.sum(e.data(), static_cast<long>(e.size()));
    for (size_t f = 0; f < frames.size(); ++f) targets[f].energy = e[f];
  }

  Potential pot;
  const std::vector<Term> terms = make_terms(opt, species, pot);
  const double cutoff = pot.cutoff();
  std::set<int> e0_in_baseline;
  for (const auto& b : opt.baselines)
    if (const auto* m = dynamic_cast<const ModelBaseline*>(b.get()))
      for (int z : m->model().species()) e0_in_baseline.insert(z);
  pot.e0 = reference_energies(frames, targets, species, opt, cutoff, e0_in_baseline);
  {
    std::ostringstream m;
    m << "[setup] " << frames.size() << " frames, species:";
    for (int z : species) m << " " << chemical_symbol(z) << " (e0 " << pot.e0[z] << " eV)";
    log(m.str());
  }
  check_sparse_source(opt, pot);
  choose_sparse_points(frames, share, terms, opt, cutoff, comm, pot, log);
  // only rank 0 adds the prior rows Lᵀ (and writes the model): the others never hold L
  comm.collectively([&] {
    if (comm.rank() == 0) pot.L = cholesky_of_kmm(pot, opt.sparse_jitter);
  });
  if (opt.fitc && comm.distributed()) throw Error("fit: FITC runs on one rank (no MPI yet)");
  if (opt.statistics) {
    if (comm.distributed()) throw Error("fit: marginal-likelihood statistics are collected by serial fits only");
    std::vector<int> term_of_column;
    for (size_t c = 0; c < terms.size(); ++c) term_of_column.insert(term_of_column.end(), pot.coordinates[c].n_sparse(), terms[c].gap);
    std::vector<std::string> cts;  // a noise group per config_type, in order of first appearance
    const NoiseGroups noise = opt.statistics->noise;
    if (noise == NoiseGroups::PerConfigType)
      for (const auto& t : targets)
        if (std::find(cts.begin(), cts.end(), t.config_type) == cts.end()) cts.push_back(t.config_type);
    *opt.statistics = LikelihoodStatistics(std::move(term_of_column), static_cast<int>(opt.gap.size()), noise, std::move(cts),
                                           opt.statistics->force_bins);
    // K_mm without its round-off negative eigenvalues: scaled by a large δ², they would outgrow the
    // jitter and end the search for the likelihood's maximum before it is reached
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(sparse_covariance(pot));
    opt.statistics->Kmm = eig.eigenvectors() * eig.eigenvalues().cwiseMax(0.0).asDiagonal() * eig.eigenvectors().transpose();
    opt.statistics->jitter = opt.sparse_jitter;
    if (opt.fitc) set_fitc_eigenbasis(pot, *opt.statistics);
  }
  long total_rows = 0;
  TriangularFactor qr = assemble_and_factor(frames, share, targets, pot, opt, cutoff, comm, log, total_rows);
  solve_weights(std::move(qr), total_rows, comm, pot, log);
  pot.baselines = opt.baselines;
  record_settings(opt, static_cast<int>(frames.size()), pot);
  log_peak_memory(comm, log);
  log("[done] fit took " + std::to_string(seconds_since(t_start)) + " s" +
      (comm.distributed() ? " on " + std::to_string(comm.size()) + " ranks" : std::string()));
  return pot;
}

}  // namespace soapgap
