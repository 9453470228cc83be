#include "soapgap/behler.hpp"

#include <charconv>
#include <cmath>
#include <sstream>

#include "soapgap/cutoff.hpp"
#include "soapgap/error.hpp"

namespace soapgap {

namespace {
// A parameter list of the functions: singletons broadcast to n entries.
std::vector<double> broadcast(const Options& o, const char* key, std::vector<double> v, size_t n) {
  if (v.size() == 1 && n > 1) v.assign(n, v[0]);
  if (v.size() != n)
    throw Error(o.context() + ": '" + key + "' has " + std::to_string(v.size()) + " entries, expected " +
                std::to_string(n) + " (one per function, or one for all)");
  return v;
}

// {v0 v1 ...}, each number in its shortest form that reads back exactly
std::string list(const std::vector<double>& v) {
  std::string out = "{";
  for (size_t k = 0; k < v.size(); ++k) {
    char buf[32];
    const auto end = std::to_chars(buf, buf + sizeof buf, v[k]).ptr;
    out += (k ? " " : "") + std::string(buf, end);
  }
  return out + "}";
}
}  // namespace

const std::vector<std::string>& behler_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k = centred_descriptor_keys();
    for (const char* s : {"g2_eta", "g2_rs", "g4_eta", "g4_zeta", "g4_lambda", "g5_eta", "g5_zeta", "g5_lambda"})
      k.push_back(s);
    return k;
  }();
  return keys;
}

Behler::Behler(const Options& o) : CentredDescriptor(o, -1.0) {
  const double rc = cutoff();
  // Default radial set: G1 (η = 0) and 7 Gaussians shifted to R_s = k r_c/8 with widths of the
  // spacing (Imbalzano et al., J. Chem. Phys. 148, 241730 (2018): shifted radial functions).
  std::vector<double> eta0{0.0}, rs0{0.0};
  for (int k = 1; k < 8; ++k) {
    eta0.push_back(0.5 / std::pow(rc / 8, 2));
    rs0.push_back(k * rc / 8);
  }
  g2_eta_ = o.get_doubles({"g2_eta"}, eta0);
  g2_rs_ = broadcast(o, "g2_rs", o.get_doubles({"g2_rs"}, o.has("g2_eta") ? std::vector<double>{0.0} : rs0),
                     g2_eta_.size());
  for (double e : g2_eta_)
    if (!(e >= 0 && std::isfinite(e))) throw Error(o.context() + ": g2_eta must be >= 0, got " + std::to_string(e));
  for (double r : g2_rs_)
    if (!std::isfinite(r)) throw Error(o.context() + ": g2_rs must be finite");
  // Default angular set: ζ ∈ {1, 2, 4, 16}, λ = ±1, η = 1/r_c² (e^{-1} for a triangle of sides r_c/2, r_c/2, r_c/√2).
  // A set given in part takes η = 1/r_c², ζ = 1, λ = 1 for what is left out.
  auto angular = [&](const char* ek, const char* zk, const char* lk, bool defaults) {
    std::vector<double> zeta0{1.0}, lambda0{1.0};
    if (defaults) {
      zeta0.clear();
      lambda0.clear();
      for (double z : {1.0, 2.0, 4.0, 16.0})
        for (double l : {1.0, -1.0}) {
          zeta0.push_back(z);
          lambda0.push_back(l);
        }
    }
    const std::vector<double> given_e = o.get_doubles({ek}, {}), given_z = o.get_doubles({zk}, zeta0),
                              given_l = o.get_doubles({lk}, lambda0);
    const size_t n = std::max({given_e.size(), given_z.size(), given_l.size()});
    std::vector<Angular> out;
    if ((o.has(ek) && given_e.empty()) || (o.has(zk) && given_z.empty()) || (o.has(lk) && given_l.empty()))
      return out;  // an explicitly empty set
    const std::vector<double> eta = broadcast(o, ek, given_e.empty() ? std::vector<double>{1.0 / (rc * rc)} : given_e, n),
                              zeta = broadcast(o, zk, given_z, n), lambda = broadcast(o, lk, given_l, n);
    for (size_t k = 0; k < n; ++k) {
      if (!(eta[k] >= 0 && std::isfinite(eta[k])))
        throw Error(o.context() + ": " + ek + " must be >= 0, got " + std::to_string(eta[k]));
      if (!(zeta[k] >= 1 && std::isfinite(zeta[k])))
        throw Error(o.context() + ": " + zk + " must be >= 1 (the angular term is not differentiable below), got " +
                    std::to_string(zeta[k]));
      if (lambda[k] != 1.0 && lambda[k] != -1.0)
        throw Error(o.context() + ": " + lk + " must be 1 or -1, got " + std::to_string(lambda[k]));
      out.push_back({eta[k], zeta[k], lambda[k], zeta[k] == std::floor(zeta[k]) && zeta[k] <= 64});
    }
    return out;
  };
  const bool g4_default = !o.has("g4_eta") && !o.has("g4_zeta") && !o.has("g4_lambda");
  g4_ = angular("g4_eta", "g4_zeta", "g4_lambda", g4_default);
  const bool any_g5 = o.has("g5_eta") || o.has("g5_zeta") || o.has("g5_lambda");
  if (any_g5) g5_ = angular("g5_eta", "g5_zeta", "g5_lambda", false);
  if (g2_eta_.empty() && g4_.empty() && g5_.empty()) throw Error(o.context() + ": behler has no functions");
  const long long dim = static_cast<long long>(n_channels()) * g2_eta_.size() +
                       static_cast<long long>(n_pairs()) * (g4_.size() + g5_.size());
  if (dim > 10'000'000)
    throw Error(o.context() + ": behler would have " + std::to_string(dim) + " functions (species pairs x angular set)");
  dim_ = static_cast<int>(dim);
}

std::string Behler::to_string() const {
  std::ostringstream o;
  o << "behler " << common_options() << " g2_eta=" << list(g2_eta_) << " g2_rs=" << list(g2_rs_);
  for (const auto& [name, fs] : {std::pair{"g4", &g4_}, std::pair{"g5", &g5_}}) {
    if (fs->empty()) {
      if (std::string(name) == "g4") o << " g4_zeta={}";  // an explicitly empty G4 set
      continue;
    }
    std::vector<double> e, z, l;
    for (const Angular& f : *fs) {
      e.push_back(f.eta);
      z.push_back(f.zeta);
      l.push_back(f.lambda);
    }
    o << " " << name << "_eta=" << list(e) << " " << name << "_zeta=" << list(z) << " " << name << "_lambda=" << list(l);
  }
  return o.str();
}

void Behler::evaluate(const CentredEnvironment& env, double* x, RowMatrixXd* dx) const {
  const int n2 = static_cast<int>(g2_eta_.size());
  // each neighbour's cutoff once: the angular sums reuse it for every pair it enters
  std::vector<CutoffValue> fcs(env.size());
  for (int j = 0; j < env.size(); ++j) fcs[j] = cosine_cutoff(env.r[j], cutoff(), width());
  for (int j = 0; j < env.size(); ++j) {
    const CutoffValue& fc = fcs[j];
    const Eigen::Vector3d u = env.rij[j] / env.r[j];
    for (int k = 0; k < n2; ++k) {
      const double d = env.r[j] - g2_rs_[k], g = std::exp(-g2_eta_[k] * d * d);
      const int c = env.channel[j] * n2 + k;
      x[c] += g * fc.f;
      if (dx) dx->block<3, 1>(3 * j, c) += (g * (fc.df - 2.0 * g2_eta_[k] * d * fc.f)) * u;
    }
  }
  // DScribe's layout: per species pair, its G4 functions then its G5 functions
  const int a0 = n_channels() * n2, stride = static_cast<int>(g4_.size() + g5_.size());
  add_angular(env, fcs, g4_, true, a0, stride, x, dx);
  add_angular(env, fcs, g5_, false, a0 + static_cast<int>(g4_.size()), stride, x, dx);
}

// Σ over unordered neighbour pairs j < k of 2^{1-ζ} (1 + λ cos θ)^ζ E F, with E the Gaussian and F
// the product of cutoffs (with or without the r_jk terms), differentiated by the product rule.
void Behler::add_angular(const CentredEnvironment& env, const std::vector<CutoffValue>& fcs,
                         const std::vector<Angular>& fs, bool with_jk, int offset,
                         int pair_stride, double* x, RowMatrixXd* dx) const {
  if (fs.empty()) return;
  const int nf = static_cast<int>(fs.size());
  for (int j = 0; j < env.size(); ++j) {
    const CutoffValue& fj = fcs[j];
    const Eigen::Vector3d uj = env.rij[j] / env.r[j];
    for (int k = j + 1; k < env.size(); ++k) {
      const Eigen::Vector3d rjk = env.rij[k] - env.rij[j];
      const double djk = rjk.norm();
      CutoffValue fjk{1.0, 0.0};
      if (with_jk) {
        if (djk >= cutoff()) continue;
        fjk = cosine_cutoff(djk, cutoff(), width());
      }
      const CutoffValue& fk = fcs[k];
      const Eigen::Vector3d uk = env.rij[k] / env.r[k];
      const double cos = uj.dot(uk);
      const double F = fj.f * fk.f * fjk.f;
      const double r2 = env.r[j] * env.r[j] + env.r[k] * env.r[k] + (with_jk ? djk * djk : 0.0);
      // derivatives of cos θ, F and r2 by r_j and r_k
      const Eigen::Vector3d dcos_j = (uk - cos * uj) / env.r[j], dcos_k = (uj - cos * uk) / env.r[k];
      Eigen::Vector3d dF_j = fj.df * fk.f * fjk.f * uj, dF_k = fj.f * fk.df * fjk.f * uk;
      Eigen::Vector3d dr2_j = 2.0 * env.rij[j], dr2_k = 2.0 * env.rij[k];
      if (with_jk && djk > 0) {
        const Eigen::Vector3d ujk = rjk / djk;
        dF_j -= fj.f * fk.f * fjk.df * ujk;
        dF_k += fj.f * fk.f * fjk.df * ujk;
        dr2_j -= 2.0 * rjk;
        dr2_k += 2.0 * rjk;
      }
      const int p = offset + pair_index(env.channel[j], env.channel[k]) * pair_stride;
      // the Gaussian once per distinct η (the default set shares one)
      double last_eta = -1.0, E = 0.0;
      for (int f = 0; f < nf; ++f) {
        const Angular& a = fs[f];
        if (a.eta != last_eta) {
          E = std::exp(-a.eta * r2);
          last_eta = a.eta;
        }
        // 2^{1-ζ} (1 + λ cos θ)^ζ = 2 h^ζ with h = (1 + λ cos θ)/2 in [0, 1] (no overflow at any ζ),
        // by multiplication for small integer ζ (the usual sets)
        const double h = 0.5 * (1.0 + a.lambda * cos);
        double pw1 = 1.0;  // h^(ζ-1)
        if (a.integer_zeta)
          for (int t = 1; t < static_cast<int>(a.zeta); ++t) pw1 *= h;
        else
          pw1 = std::pow(h, a.zeta - 1.0);
        const double A = 2.0 * pw1 * h, dA = a.zeta * a.lambda * pw1;
        x[p + f] += A * E * F;
        if (!dx) continue;
        dx->block<3, 1>(3 * j, p + f) += E * (dA * F * dcos_j + A * dF_j - a.eta * A * F * dr2_j);
        dx->block<3, 1>(3 * k, p + f) += E * (dA * F * dcos_k + A * dF_k - a.eta * A * F * dr2_k);
      }
    }
  }
}

}  // namespace soapgap
