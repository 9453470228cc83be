#include "soapgap/potential.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "soapgap/error.hpp"
#include "soapgap/observation_rows.hpp"
#include "soapgap/parallel.hpp"

namespace soapgap {

namespace {
// Environment e's energy is shared equally by the atoms in its ci list: atom a receives the
// weight fc_e/|ci_e| of every environment it belongs to (QUIP IPModel_GAP), environments ascending.
std::vector<std::vector<std::pair<int, double>>> atom_shares(const DescriptorData& d, int n) {
  std::vector<std::vector<std::pair<int, double>>> shares(n);
  for (int e = 0; e < d.size(); ++e) {
    const int nci = d.ci_offset[e + 1] - d.ci_offset[e];
    for (int k = d.ci_offset[e]; k < d.ci_offset[e + 1]; ++k) shares[d.ci[k]].push_back({e, d.cutoff[e] / nci});
  }
  return shares;
}
// Per-atom virials: environment e's own virial W_e = −Σ_g r_rel,g ⊗ ∂E_e/∂r_g (from
// accumulate_forces) shared by its ci atoms like its energy; the sum over atoms is the virial.
void share_env_virials(const DescriptorData& d, const RowMatrixXd& env_virials, RowMatrixXd& atom_virials) {
  for (int e = 0; e < d.size(); ++e) {
    const int nci = d.ci_offset[e + 1] - d.ci_offset[e];
    for (int k = d.ci_offset[e]; k < d.ci_offset[e + 1]; ++k) atom_virials.row(d.ci[k]) += env_virials.row(e) / nci;
  }
}

// Energies, forces and virial of one descriptor term, block of centres by block of centres.
// One parallel region over the blocks (threads take fixed blocks, each with its own buffers,
// summed in thread order: reproducible for a given thread count). Parallel regions per block
// would cost a barrier each, which oversubscribed machines pay with a scheduler time slice.
void add_energy_forces_blocked(const Coordinate& co, const Structure& s, const NeighbourList& nl, int centres, int block,
                               Prediction& out) {
  const int n = s.size(), nblocks = (centres + block - 1) / block;
  const bool atom_virials = out.atom_virials.rows() == n;
  const int threads = std::max(1, std::min(nblocks, omp_get_max_threads()));
  struct Buffers {
    Eigen::VectorXd energies;
    Positions forces;
    Eigen::Matrix3d virial = Eigen::Matrix3d::Zero();
    RowMatrixXd atom_virials;
  };
  std::vector<Buffers> buf(threads);
  for (auto& b : buf) {
    b.energies = Eigen::VectorXd::Zero(n);
    b.forces = Positions::Zero(n, 3);
    if (atom_virials) b.atom_virials = RowMatrixXd::Zero(n, 9);
  }
  ExceptionCollector errors;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int ib = 0; ib < nblocks; ++ib) errors.run([&] {
    Buffers& b = buf[omp_get_thread_num()];
    const int a0 = ib * block;
    const DescriptorData d = co.descriptor->compute_for_forces(s, nl, a0, std::min(centres, a0 + block));
    const int ne = d.size();
    if (ne == 0) return;
    const RowMatrixXd K = co.kernel.matrix(d.values, co.sparse, co.sparse_cutoff);
    const Eigen::VectorXd eps = K * co.alpha;  // local energies before the environment cutoff
    RowMatrixXd dE = co.kernel.weighted_gradient(d.values, co.sparse, co.sparse_cutoff, K, co.alpha);
    for (int e = 0; e < ne; ++e) {
      const int nci = d.ci_offset[e + 1] - d.ci_offset[e];
      for (int k = d.ci_offset[e]; k < d.ci_offset[e + 1]; ++k) b.energies[d.ci[k]] += d.cutoff[e] / nci * eps[e];
      dE.row(e) *= d.cutoff[e];
    }
    if (atom_virials) {
      RowMatrixXd w;
      co.descriptor->accumulate_forces(s, nl, d, dE, eps, b.forces, b.virial, &w);
      share_env_virials(d, w, b.atom_virials);
    } else {
      co.descriptor->accumulate_forces(s, nl, d, dE, eps, b.forces, b.virial);
    }
  });
  errors.rethrow();
  for (const auto& b : buf) {
    out.energies += b.energies;
    out.forces += b.forces;
    out.virial += b.virial;
    if (atom_virials) out.atom_virials += b.atom_virials;
  }
}
}  // namespace

double Potential::cutoff() const {
  double c = 0.0;
  for (const auto& co : coordinates) c = std::max(c, co.descriptor->cutoff());
  return c;
}

int Potential::n_sparse_total() const {
  int m = 0;
  for (const auto& co : coordinates) m += co.n_sparse();
  return m;
}

std::vector<int> Potential::species() const {
  std::vector<int> z;
  for (const auto& [k, v] : e0) z.push_back(k);
  return z;
}

void Potential::check_species(const Structure& s, bool spectators) const {
  if (e0.empty() && coordinates.empty()) return;  // baselines only: each term checks its own species
  for (int i = 0; i < s.size(); ++i) {
    const int z = s.numbers[i];
    if (e0.count(z)) continue;
    if (spectators && std::none_of(coordinates.begin(), coordinates.end(),
                                   [z](const Coordinate& co) { return co.descriptor->sees_species(z); }))
      continue;
    std::string known;
    for (const auto& [k, v] : e0) known += (known.empty() ? "" : " ") + chemical_symbol(k);
    throw Error(s.where() + "atom " + std::to_string(i) + " is " + chemical_symbol(z) +
                ", a species the model was not trained on (known: " + known + ")" +
                (spectators ? "; as a baseline it cannot ignore it because a descriptor sees this species" : ""));
  }
}

Prediction Potential::predict(const Structure& s, const PredictOptions& opt) const {
  s.validate();
  if (coordinates.empty() || s.size() == 0) {
    NeighbourList none;
    none.offset.assign(s.size() + 1, 0);
    return predict(s, none, opt);
  }
  return predict(s, build_neighbour_list(s, cutoff()), opt);
}

Prediction Potential::predict(const Structure& s, const NeighbourList& nl, const PredictOptions& opt) const {
  check_species(s, opt.spectators);
  const int n = s.size();
  const int centres = std::min(n, nl.centres());
  if (centres < n && !baselines.empty())
    throw Error("baselines (" + baselines.front()->kind() + (baselines.size() > 1 ? ", ..." : "") +
                ") cannot be evaluated on a domain with ghost atoms; evaluate them in the MD code instead");
  Prediction out;
  out.energies = Eigen::VectorXd::Zero(n);
  for (int i = 0; i < centres; ++i)
    if (auto it = e0.find(s.numbers[i]); it != e0.end()) out.energies[i] = it->second;
  if (opt.forces) out.forces = Positions::Zero(n, 3);
  if (opt.atom_virials && !opt.forces) throw Error("predict: per-atom virials need forces");
  if (opt.atom_virials && !baselines.empty()) throw Error("predict: per-atom virials of baselines are not available");
  if (opt.atom_virials) out.atom_virials = RowMatrixXd::Zero(n, 9);
  const bool want_var = opt.variance || opt.force_variance;
  const bool var = want_var && R.size() > 0;
  if (want_var && !var) throw Error("this model carries no posterior factor R: predicted variance unavailable");
  if (opt.force_variance && centres < n)
    throw Error("predicted force variance is not available on a domain with ghost atoms; evaluate the whole "
                "periodic cell instead");
  const int M = n_sparse_total();
  RowMatrixXd k_atoms;  // centres x M_total: per-atom local-energy covariance with the sparse points
  Eigen::RowVectorXd k_total;
  Eigen::VectorXd prior_atoms;
  double prior_total = 0.0;
  if (var) {
    k_atoms = RowMatrixXd::Zero(centres, M);  // ghost atoms (an MD domain's) get no variance
    k_total = Eigen::RowVectorXd::Zero(M);
    prior_atoms = Eigen::VectorXd::Zero(centres);
  }
  if (n > 0 && !coordinates.empty()) {
    int m0 = 0;
    for (const auto& co : coordinates) {
      // With forces and no variance, atom-centred descriptors are evaluated in blocks of centres:
      // what the value pass keeps for the force pass (SOAP: every neighbour's radial and angular
      // terms) stays bounded.
      const int block = opt.forces && !var ? co.descriptor->force_block_size() : 0;
      if (block > 0) {
        add_energy_forces_blocked(co, s, nl, centres, block, out);
        m0 += co.n_sparse();
        continue;
      }
      const DescriptorData d = co.descriptor->compute(s, nl, false);
      const int ne = d.size();
      if (ne > 0) {
        // environments in blocks, in parallel: the n_env x M kernel matrix never exists whole, and
        // each block writes its own rows (Eigen itself is serial)
        constexpr int kBlock = 256;
        Eigen::VectorXd eps(ne);  // local energies before the environment cutoff
        RowMatrixXd dE(opt.forces ? ne : 0, d.dim);
        const int nblocks = (ne + kBlock - 1) / kBlock;
        ExceptionCollector errors;
#pragma omp parallel for schedule(dynamic) if (nblocks > 1)
        for (int ib = 0; ib < nblocks; ++ib) errors.run([&] {
          const int e0 = ib * kBlock, nb = std::min(kBlock, ne - e0);
          const RowMatrixXd Kb = co.kernel.matrix(d.values.middleRows(e0, nb), co.sparse, co.sparse_cutoff);
          eps.segment(e0, nb) = Kb * co.alpha;
          if (opt.forces)
            dE.middleRows(e0, nb) =
                co.kernel.weighted_gradient(d.values.middleRows(e0, nb), co.sparse, co.sparse_cutoff, Kb, co.alpha);
        });
        errors.rethrow();
        const auto shares = atom_shares(d, n);
        for (int a = 0; a < n; ++a)
          for (const auto& [e, w] : shares[a]) out.energies[a] += w * eps[e];
        if (opt.forces) {
          for (int e = 0; e < ne; ++e) dE.row(e) *= d.cutoff[e];
          if (opt.atom_virials) {
            RowMatrixXd w;
            co.descriptor->accumulate_forces(s, nl, d, dE, eps, out.forces, out.virial, &w);
            share_env_virials(d, w, out.atom_virials);
          } else {
            co.descriptor->accumulate_forces(s, nl, d, dE, eps, out.forces, out.virial);
          }
        }
        if (var) {
          const RowMatrixXd K = co.kernel.matrix(d.values, co.sparse, co.sparse_cutoff);
          for (int a = 0; a < centres; ++a)
            for (const auto& [e, w] : shares[a]) k_atoms.row(a).segment(m0, co.n_sparse()) += w * K.row(e);
          for (int e = 0; e < ne; ++e) k_total.segment(m0, co.n_sparse()) += d.cutoff[e] * K.row(e);
          // per-atom prior: sum over environment pairs sharing the atom (SoR has none)
          const auto& envs_of = shares;
          for (int a = 0; a < centres && !opt.subset_of_regressors; ++a) {
            if (envs_of[a].empty()) continue;
            RowMatrixXd Xa(envs_of[a].size(), d.dim);
            Eigen::VectorXd wa(envs_of[a].size());
            for (size_t k = 0; k < envs_of[a].size(); ++k) {
              Xa.row(k) = d.values.row(envs_of[a][k].first);
              wa[k] = envs_of[a][k].second;
            }
            prior_atoms[a] += wa.dot(co.kernel.prior(Xa, Xa) * wa);
          }
          if (opt.total_variance && !opt.subset_of_regressors) prior_total += energy_prior(d, co.kernel);
        }
      }
      m0 += co.n_sparse();
    }
  }
  if (!baselines.empty()) {
    EnergyTerms t{std::move(out.energies), std::move(out.forces), out.virial};
    for (const auto& b : baselines) b->add(s, t);
    out.energies = std::move(t.energies);
    out.forces = std::move(t.forces);
    out.virial = t.virial;
  }
  out.energy = out.energies.sum();
  if (var) {
    out.has_std = true;
    out.energies_std = Eigen::VectorXd::Constant(n, std::nan(""));  // ghosts: NaN
    if (centres > 0) out.energies_std.head(centres) = posterior_std(k_atoms.transpose(), prior_atoms, opt.subset_of_regressors);
    if (opt.total_variance)
      out.energy_std = posterior_std(k_total.transpose(), Eigen::VectorXd::Constant(1, prior_total), opt.subset_of_regressors)[0];
    else
      out.energy_std = std::nan("");
    if (opt.force_variance) add_force_std(s, nl, opt, out);
  }
  return out;
}

Eigen::VectorXd Potential::posterior_std(const Eigen::Ref<const Eigen::MatrixXd>& k, const Eigen::VectorXd& prior,
                                         bool subset_of_regressors) const {
  // σ² = prior - |L⁻¹k|² + |R⁻ᵀk|² (clipped at 0: round-off where the data pin the value down);
  // SoR: |R⁻ᵀk|² alone
  const Eigen::MatrixXd b = R.transpose().triangularView<Eigen::Lower>().solve(k);
  Eigen::VectorXd v = b.colwise().squaredNorm().transpose();
  if (!subset_of_regressors) {
    const Eigen::MatrixXd a = L.triangularView<Eigen::Lower>().solve(k);
    v += prior - a.colwise().squaredNorm().transpose();
  }
  return v.cwiseMax(0.0).cwiseSqrt();
}

void Potential::add_force_std(const Structure& s, const NeighbourList& nl, const PredictOptions& opt, Prediction& out) const {
  const bool virial = opt.total_variance;
  const int n = s.size(), M = n_sparse_total();
  const ObservationKinds kinds{false, true, virial};
  RowMatrixXd B = RowMatrixXd::Zero(kinds.rows(n), M);  // −∂E/∂r rows against the sparse points
  Eigen::VectorXd prior = Eigen::VectorXd::Zero(B.rows());
  KernelRowBuffers buf;
  int m0 = 0;
  for (const auto& co : coordinates) {
    const DescriptorData d = co.descriptor->compute(s, nl, true);
    add_observation_rows(d, co, kinds, n, m0, B, buf);
    if (!opt.subset_of_regressors) prior += derivative_prior(d, co.kernel, kinds, n);
    m0 += co.n_sparse();
  }
  const Eigen::VectorXd sd = posterior_std(B.transpose(), prior, opt.subset_of_regressors);
  out.forces_std = Eigen::Map<const RowMatrixXd>(sd.data(), n, 3);
  if (virial)
    for (int k = 0, q = 3 * n; k < 3; ++k)
      for (int l = k; l < 3; ++l, ++q) out.virial_std(l, k) = out.virial_std(k, l) = sd[q];
}

}  // namespace soapgap

namespace soapgap {

Eigen::VectorXd Potential::local_gap_variance(const Structure& s, double regularisation) const {
  s.validate();
  check_species(s);
  Eigen::VectorXd var = Eigen::VectorXd::Zero(s.size());
  if (s.size() == 0) return var;
  const NeighbourList nl = build_neighbour_list(s, cutoff());
  const double r2 = regularisation * regularisation;
  for (const auto& co : coordinates) {
    const DescriptorData d = co.descriptor->compute(s, nl, false);
    if (d.size() == 0) continue;
    RowMatrixXd Kmm = co.kernel.prior(co.sparse, co.sparse);
    Kmm.array().colwise() *= co.sparse_cutoff.array();
    Kmm.array().rowwise() *= co.sparse_cutoff.transpose().array();
    Kmm.diagonal().array() += r2;
    const Eigen::LLT<Eigen::MatrixXd> llt(Kmm);
    if (llt.info() != Eigen::Success) throw Error("local_gap_variance: K_mm + r² I is not positive definite");
    const RowMatrixXd K = co.kernel.matrix(d.values, co.sparse, co.sparse_cutoff);  // n_env x M
    const Eigen::MatrixXd a = llt.matrixL().solve(K.transpose());
    const double prior = co.kernel.delta * co.kernel.delta + co.kernel.f0 * co.kernel.f0 + r2;
    const auto shares = atom_shares(d, s.size());
    for (int at = 0; at < s.size(); ++at)
      for (const auto& [e, w] : shares[at]) var[at] += (prior - a.col(e).squaredNorm()) * w * d.cutoff[e];
  }
  return var;
}

}  // namespace soapgap
