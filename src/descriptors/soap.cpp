#include "soapgap/soap.hpp"

#include "soapgap/memory.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <sstream>

#include "soapgap/cutoff.hpp"
#include "soapgap/error.hpp"
#include "soapgap/parallel.hpp"

namespace soapgap {

namespace {
std::string join(const std::vector<int>& v) {
  std::string s;
  for (size_t k = 0; k < v.size(); ++k) s += (k ? " " : "") + std::to_string(v[k]);
  return s;
}
}  // namespace

SoapParams SoapParams::radial_only(const Options& o, const std::string& kind, int n_max_default, int l_max_default,
                                   int l_max_limit) {
  SoapParams p;
  p.cutoff = o.require_double({"cutoff"});
  p.cutoff_transition_width = o.get_double({"cutoff_transition_width"}, 0.5);
  p.n_max = o.get_int({"n_max"}, n_max_default);
  p.l_max = o.get_int({"l_max"}, l_max_default);
  p.atom_sigma = o.get_double({"atom_sigma", "atom_gaussian_width"}, 0.5);
  p.basis_error_exponent = o.get_double({"basis_error_exponent"}, 10.0);
  if (p.l_max < 0 || p.l_max > l_max_limit)
    throw Error(o.context() + ": " + kind + " l_max must be in 0.." + std::to_string(l_max_limit) + ", got " +
                std::to_string(p.l_max));
  if (p.n_max < 1 || p.n_max > kMaxNMax)
    throw Error(o.context() + ": " + kind + " n_max must be in 1.." + std::to_string(kMaxNMax) + ", got " +
                std::to_string(p.n_max));
  if (!(p.atom_sigma > 0)) throw Error(o.context() + ": " + kind + " atom_sigma must be positive");
  return p;
}

SoapParams SoapParams::from_options(const Options& o) {
  SoapParams p;
  p.cutoff = o.require_double({"cutoff"});
  p.cutoff_transition_width = o.get_double({"cutoff_transition_width"}, 0.5);
  p.n_max = o.get_int({"n_max"}, 0);
  p.l_max = o.get_int({"l_max"}, -1);
  if (!o.has("n_max")) throw Error(o.context() + ": missing required parameter 'n_max'");
  if (!o.has("l_max")) throw Error(o.context() + ": missing required parameter 'l_max'");
  p.atom_sigma = o.require_double({"atom_sigma", "atom_gaussian_width"});
  p.central_weight = o.get_double({"central_weight"}, 1.0);
  p.normalise = o.get_bool({"normalise", "normalize"}, true);
  p.covariance_sigma0 = o.get_double({"covariance_sigma0"}, 0.0);
  p.basis_error_exponent = o.get_double({"basis_error_exponent"}, 10.0);
  p.Z = o.get_ints({"Z"});
  p.species_Z = o.get_ints({"species_Z"});
  for (const auto* zs : {&p.Z, &p.species_Z})
    for (int z : *zs)
      if (z < 0 || z > 118)
        throw Error(o.context() + ": atomic number " + std::to_string(z) + " in '" + (zs == &p.Z ? "Z" : "species_Z") +
                    "' is not in 1..118");
  p.Z.erase(std::remove(p.Z.begin(), p.Z.end(), 0), p.Z.end());
  if (p.species_Z.size() == 1 && p.species_Z[0] == 0) p.species_Z.clear();
  const int n_species = o.get_int({"n_species"}, p.species_Z.empty() ? 1 : static_cast<int>(p.species_Z.size()));
  if (p.species_Z.empty() && n_species != 1)
    throw Error(o.context() + ": n_species=" + std::to_string(n_species) + " needs species_Z={...} with as many entries");
  if (!p.species_Z.empty() && n_species != static_cast<int>(p.species_Z.size()))
    throw Error(o.context() + ": n_species=" + std::to_string(n_species) + " but species_Z has " +
                std::to_string(p.species_Z.size()) + " entries");
  const double xml_version = o.get_double({"xml_version"}, 1426512068);
  // QUIP forces central_reference_all_species for one species and for files older than 1426512068
  p.central_reference_all_species =
      o.get_bool({"central_reference_all_species"}, false) || n_species == 1 || xml_version < 1426512068;
  p.two_l_plus_one = xml_version >= 1423143769;
  for (const char* unsupported : {"average", "diagonal_radial", "Z_mix", "R_mix", "sym_mix"})
    if (o.get_bool({unsupported}, false))
      throw Error(o.context() + ": soap option '" + unsupported + "=T' is not supported yet");
  if (o.has("radial_basis") && o.get_string({"radial_basis"}, "") != "EQUISPACED_GAUSS")
    throw Error(o.context() + ": soap radial_basis=" + o.get_string({"radial_basis"}, "") +
                " is not supported (only EQUISPACED_GAUSS, QUIP's default)");
  if (o.get_double({"cutoff_dexp"}, 0.0) != 0.0)
    throw Error(o.context() + ": soap cutoff_dexp (radial scaling) is not supported yet");
  return p;
}

namespace {
// Checked before any member is sized from the parameters (l_max = 1e9 must not allocate first).
SoapParams checked(SoapParams p) {
  if (!(p.cutoff > 0)) throw Error("soap: cutoff must be positive, got " + std::to_string(p.cutoff));
  if (p.n_max < 1) throw Error("soap: n_max must be at least 1, got " + std::to_string(p.n_max));
  if (p.l_max < 0) throw Error("soap: l_max must be at least 0, got " + std::to_string(p.l_max));
  // beyond these the radial integrals and Y_lm are untested (and the descriptor absurdly long)
  if (p.l_max > kMaxLMax)
    throw Error("soap: l_max=" + std::to_string(p.l_max) + " is above " + std::to_string(kMaxLMax) +
                ", the largest l whose radial integrals are tested to full accuracy");
  if (p.n_max > kMaxNMax) throw Error("soap: n_max=" + std::to_string(p.n_max) + " is above " + std::to_string(kMaxNMax));
  if (!(p.atom_sigma > 0)) throw Error("soap: atom_sigma must be positive, got " + std::to_string(p.atom_sigma));
  if (p.cutoff_transition_width < 0 || p.cutoff_transition_width > p.cutoff)
    throw Error("soap: cutoff_transition_width must be in [0, cutoff]");
  return p;
}
}  // namespace

Soap::Soap(SoapParams p) : p_(checked(std::move(p))), sph_(p_.l_max), bessel_(p_.l_max + 2) {
  n_channels_ = p_.species_Z.empty() ? 1 : static_cast<int>(p_.species_Z.size());
  K_ = n_channels_ * p_.n_max;
  nlm_ = (p_.l_max + 1) * (p_.l_max + 1);
  const long long dim = static_cast<long long>(p_.l_max + 1) * K_ * (K_ + 1) / 2 + 1;
  if (dim > 10'000'000)
    throw Error("soap: the power spectrum would have " + std::to_string(dim) +
                " components (n_species x n_max and l_max too large)");
  dim_ = static_cast<int>(dim);

  // Radial basis (QUIP soap_initialise): Gaussians of width atom_sigma on an equispaced grid.
  const int n = p_.n_max;
  alpha_ = 0.5 / (p_.atom_sigma * p_.atom_sigma);
  const double a = alpha_;
  const double cutoff_basis = p_.cutoff + p_.atom_sigma * std::sqrt(2.0 * p_.basis_error_exponent * std::log(10.0));
  grid_.resize(n);
  for (int i = 0; i < n; ++i) grid_[i] = i * cutoff_basis / n;
  Eigen::MatrixXd S(n, n), C(n, n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const double ri = grid_[i], rj = grid_[j];
      // closed form of  ∫_0^∞ r² exp(-a(r-ri)²) exp(-a(r-rj)²) dr  (up to the common factor)
      S(i, j) = (std::exp(-a * (ri * ri + rj * rj)) * std::sqrt(2.0) * std::pow(a, 1.5) * (ri + rj) +
                 a * std::exp(-0.5 * a * (ri - rj) * (ri - rj)) * std::sqrt(std::numbers::pi) *
                     (1.0 + a * (ri + rj) * (ri + rj)) * (1.0 + std::erf(std::sqrt(a / 2.0) * (ri + rj)))) /
                std::sqrt(128.0 * std::pow(a, 5));
      C(i, j) = std::exp(-a * (ri - rj) * (ri - rj));
    }
  Eigen::LLT<Eigen::MatrixXd> llt(S);
  if (llt.info() != Eigen::Success) throw Error("soap: radial basis overlap is not positive definite (n_max too large?)");
  const Eigen::MatrixXd L = llt.matrixL();
  transform_ = C.partialPivLu().solve(L);
  transform_rows_.resize(static_cast<size_t>(p_.n_max) * p_.n_max);
  for (int a = 0; a < p_.n_max; ++a)
    for (int k = 0; k < p_.n_max; ++k) transform_rows_[static_cast<size_t>(a) * p_.n_max + k] = transform_(a, k);
  central_ = L.row(0).transpose();
}

std::string Soap::to_string() const {
  std::ostringstream o;
  o.precision(17);
  o << "soap cutoff=" << p_.cutoff << " cutoff_transition_width=" << p_.cutoff_transition_width
    << " n_max=" << p_.n_max << " l_max=" << p_.l_max << " atom_sigma=" << p_.atom_sigma
    << " central_weight=" << p_.central_weight << " normalise=" << (p_.normalise ? "T" : "F")
    << " covariance_sigma0=" << p_.covariance_sigma0 << " basis_error_exponent=" << p_.basis_error_exponent;
  if (!p_.Z.empty()) o << " n_Z=" << p_.Z.size() << " Z={" << join(p_.Z) << "}";
  if (!p_.species_Z.empty()) o << " n_species=" << p_.species_Z.size() << " species_Z={" << join(p_.species_Z) << "}";
  o << " central_reference_all_species=" << (p_.central_reference_all_species ? "T" : "F");
  if (!p_.two_l_plus_one) o << " xml_version=1423143768";
  return o.str();
}

int Soap::channel_of(int z) const {
  if (p_.species_Z.empty()) return 0;
  for (int s = 0; s < n_channels_; ++s)
    if (p_.species_Z[s] == z) return s;
  return -1;
}

bool Soap::is_centre(int z) const {
  return p_.Z.empty() || std::find(p_.Z.begin(), p_.Z.end(), z) != p_.Z.end();
}

// Radial coefficients c[l*n_max + n] = sum_a exp(-a(r²+r_a²)) i_l(2 a r r_a) T(a, n) and d/dr.
void Soap::radial(double r, double* c, double* dc) const {
  const int L = p_.l_max, n = p_.n_max, Lp = L + 2;  // g up to l = L+1 for the derivative
  thread_local std::vector<double> g;
  g.assign(static_cast<size_t>(Lp) * n, 0.0);
  for (int a = 0; a < n; ++a) bessel_.compute(alpha_, r, grid_[a], g.data() + static_cast<size_t>(a) * Lp);
  // transform to the orthonormal basis; derivative via i_l' = (l i_{l-1} + (l+1) i_{l+1})/(2l+1).
  // Grid points a outermost, n innermost (unit stride, vectorised); the sum over a keeps its order.
  std::fill(c, c + static_cast<size_t>(L + 1) * n, 0.0);
  if (dc) std::fill(dc, dc + static_cast<size_t>(L + 1) * n, 0.0);
  for (int a = 0; a < n; ++a) {
    const double* ga = g.data() + static_cast<size_t>(a) * Lp;
    const double* Ta = transform_rows_.data() + static_cast<size_t>(a) * n;
    const double ra = grid_[a];
    for (int l = 0; l <= L; ++l) {
      const double v = ga[l];
      double* cl = c + static_cast<size_t>(l) * n;
      for (int k = 0; k < n; ++k) cl[k] += v * Ta[k];
      if (dc) {
        const double dg = -2.0 * alpha_ * r * ga[l] +
                          2.0 * alpha_ * ra * ((l > 0 ? l * ga[l - 1] : 0.0) + (l + 1) * ga[l + 1]) / (2 * l + 1);
        double* dl = dc + static_cast<size_t>(l) * n;
        for (int k = 0; k < n; ++k) dl[k] += dg * Ta[k];
      }
    }
  }
}

// The environment's density coefficients X[ch n + k][lm] = Σ_j fc(r_j) c_kl(r_j) Y_lm(r̂_j) + centre.
// With `terms`, each neighbour's radial and angular values with their derivatives are kept too.
RowMatrixXd Soap::expand(const Structure& s, const NeighbourList& nl, int i, NeighbourTerms* terms) const {
  const int n = p_.n_max, L = p_.l_max, nlm = nlm_;
  RowMatrixXd X = RowMatrixXd::Zero(K_, nlm);
  thread_local std::vector<double> c, dc, Y, dY;
  c.resize((L + 1) * n);
  dc.resize((L + 1) * n);
  Y.resize(nlm);
  dY.resize(3 * nlm);
  if (terms) {
    terms->clear();
    terms->values.reserve(nl.count(i) * (2 * c.size() + Y.size() + dY.size()));
  }
  for (const Neighbour* nb = nl.begin(i); nb != nl.end(i); ++nb) {
    const int ch = channel_entering(s, *nb);
    if (ch < 0) continue;
    const CutoffValue fc = cosine_cutoff(nb->r, p_.cutoff, p_.cutoff_transition_width);
    radial(nb->r, c.data(), terms ? dc.data() : nullptr);
    sph_.compute(nb->rij.data(), Y.data(), terms ? dY.data() : nullptr);
    if (terms) {
      terms->atom.push_back(nb->j);
      terms->channel.push_back(ch);
      terms->rij.push_back(nb->rij);
      terms->fc.push_back(fc.f);
      terms->dfc.push_back(fc.df);
      for (const auto* v : {&c, &dc, &Y, &dY}) terms->values.insert(terms->values.end(), v->begin(), v->end());
    }
    for (int l = 0; l <= L; ++l)
      for (int k = 0; k < n; ++k) {
        const double ck = fc.f * c[l * n + k];
        double* xrow = &X(ch * n + k, 0);
        for (int lm = l * l; lm < (l + 1) * (l + 1); ++lm) xrow[lm] += ck * Y[lm];
      }
  }
  // Central atom: a Gaussian at the origin, l = 0 only, not cut off.
  const double y00 = 0.5 / std::sqrt(std::numbers::pi);
  for (int ch = 0; ch < n_channels_; ++ch) {
    if (!(p_.central_reference_all_species || p_.species_Z.empty() || p_.species_Z[ch] == s.numbers[i])) continue;
    for (int k = 0; k < n; ++k) X(ch * n + k, 0) += p_.central_weight * central_[k] * y00;
  }
  return X;
}

// Species channel of a neighbour that enters the expansion (within the cutoff, of a known
// species), -1 for one that does not.
int Soap::channel_entering(const Structure& s, const Neighbour& nb) const {
  return nb.r < p_.cutoff ? channel_of(s.numbers[nb.j]) : -1;
}

int Soap::neighbours_in(const Structure& s, const NeighbourList& nl, int i) const {
  int count = 0;
  for (const Neighbour* nb = nl.begin(i); nb != nl.end(i); ++nb) count += channel_entering(s, *nb) >= 0;
  return count;
}

void Soap::power_spectrum(const RowMatrixXd& X, double* p) const {
  const int L = p_.l_max;
  const double sqrt2 = std::sqrt(2.0);
  for (int a = 0; a < K_; ++a)
    for (int b = 0; b <= a; ++b) {
      const double* xa = &X(a, 0);
      const double* xb = &X(b, 0);
      const size_t base = static_cast<size_t>(L + 1) * (a * (a + 1) / 2 + b);
      for (int l = 0; l <= L; ++l) {
        double s = 0.0;
        for (int lm = l * l; lm < (l + 1) * (l + 1); ++lm) s += xa[lm] * xb[lm];
        const double f = (p_.two_l_plus_one ? 1.0 / std::sqrt(2.0 * l + 1) : 1.0) * (a != b ? sqrt2 : 1.0);
        p[base + l] = f * s;
      }
    }
  p[dim_ - 1] = 0.0;
}

// Output skeleton for the centres among atoms first..last-1: one environment each, owned by it.
std::vector<int> Soap::centred_output(const Structure& s, const NeighbourList& nl, int first, int last,
                                      DescriptorData& out) const {
  out.dim = dim_;
  std::vector<int> centres;
  for (int i = std::max(first, 0); i < std::min({last, s.size(), nl.centres()}); ++i)
    if (is_centre(s.numbers[i])) centres.push_back(i);
  const int ne = static_cast<int>(centres.size());
  out.values.resize(ne, dim_);
  out.cutoff.assign(ne, 1.0);
  for (int e = 0; e < ne; ++e) {
    out.ci.push_back(centres[e]);
    out.ci_offset.push_back(e + 1);
  }
  return centres;
}

// p = power spectrum of X, normalised if asked (returns |p|, 1 when not normalised or p = 0),
// last entry covariance_sigma0.
double Soap::values_from(const RowMatrixXd& X, double* p) const {
  power_spectrum(X, p);
  double nrm = 1.0;
  if (p_.normalise) {
    nrm = Eigen::Map<Eigen::VectorXd>(p, dim_).norm();
    if (nrm > 0) Eigen::Map<Eigen::VectorXd>(p, dim_) /= nrm;
    else nrm = 1.0;
  }
  p[dim_ - 1] = p_.covariance_sigma0;
  return nrm;
}

DescriptorData Soap::compute(const Structure& s, const NeighbourList& nl, bool gradients) const {
  DescriptorData out;
  const std::vector<int> centres = centred_output(s, nl, 0, s.size(), out);
  const int ne = static_cast<int>(centres.size());
  ExceptionCollector errors;
  if (!gradients) {
#pragma omp parallel for schedule(dynamic)
    for (int e = 0; e < ne; ++e) errors.run([&] { values_from(expand(s, nl, centres[e]), &out.values(e, 0)); });
    errors.rethrow();
    return out;
  }
  // Gradients: entry 0 of each environment is the centre itself (minus the sum of the others).
  out.grad_offset.assign(1, 0);
  for (int e = 0; e < ne; ++e) out.grad_offset.push_back(out.grad_offset.back() + 1 + neighbours_in(s, nl, centres[e]));
  const int ng = out.grad_offset.back();
  out.grad_atom.resize(ng);
  out.grad_rel.setZero(ng, 3);
  out.grad_cutoff.setZero(ng, 3);
  out.grad_values.resize(3 * static_cast<Eigen::Index>(ng), dim_);  // every entry is written below
  advise_huge_pages(out.grad_values.data(), sizeof(double) * out.grad_values.size());
#pragma omp parallel for schedule(dynamic)
  for (int e = 0; e < ne; ++e) errors.run([&] {
    thread_local NeighbourTerms t;
    const RowMatrixXd X = expand(s, nl, centres[e], &t);
    const double norm = values_from(X, &out.values(e, 0));
    const int g0 = out.grad_offset[e];
    if (static_cast<int>(t.atom.size()) != out.grad_offset[e + 1] - g0 - 1)
      throw Error("soap: neighbour count changed between passes (centre " + std::to_string(centres[e]) + ")");
    out.grad_atom[g0] = centres[e];
    for (size_t j = 0; j < t.atom.size(); ++j) {
      out.grad_atom[g0 + 1 + j] = t.atom[j];
      out.grad_rel.row(g0 + 1 + j) = t.rij[j].transpose();
    }
    gradient_rows(X, t, norm, &out.values(e, 0), &out.grad_values(3 * g0, 0));
  });
  errors.rethrow();
  return out;
}

// d p̂ / d r_j for every neighbour j of one environment, rows 3(1 + j) + x of `rows` (row 0..2:
// the centre, minus the sum of the others). X is only moved by neighbour j in its channel s's
// rows, by dX[s n + k][lm]/dr_x = (fc c_kl)' u_x Y_lm + fc c_kl ∂_x Y_lm, which separates into a
// radial and an angular factor, so the contraction with X over m is done once per neighbour:
//   Σ_m dX[s n + k][lm]/dr_x X[b][lm] = (fc c_kl)' u_x A_l(b) + fc c_kl B_lx(b),
//   A_l(b) = Σ_m Y_lm X[b][lm],  B_lx(b) = Σ_m ∂_x Y_lm X[b][lm]
// (4 (l_max+1)² K products per neighbour instead of 3 n_max (l_max+1)² K).
void Soap::gradient_rows(const RowMatrixXd& X, const NeighbourTerms& t, double norm, const double* phat,
                         double* rows) const {
  const int n = p_.n_max, L = p_.l_max, nlm = nlm_, K = K_, D = dim_;
  const double sqrt2 = std::sqrt(2.0);
  // X transposed (lm-major, channels fastest, padded to a multiple of 8) so the contractions over
  // m accumulate 8 channels in registers with unit stride
  constexpr int W = 8;
  const int Kp = (K + W - 1) / W * W;
  const int Lp = L + 1;
  thread_local std::vector<double> XT, AB, RC, fl, buf;
  buf.resize(D);
  XT.assign(static_cast<size_t>(nlm) * Kp, 0.0);
  AB.resize(4 * static_cast<size_t>(Lp) * Kp);  // [l][b]: A_l(b), then B_lx(b) for x = 0, 1, 2
  RC.resize(2 * static_cast<size_t>(Lp) * n);   // [l][k]: R_lx(k) = (fc c_kl)' u_x, then C_l(k) = fc c_kl
  fl.resize(2 * Lp);                            // the l factor, and the same times √2 (pairs a ≠ b)
  for (int b = 0; b < K; ++b)
    for (int lm = 0; lm < nlm; ++lm) XT[static_cast<size_t>(lm) * Kp + b] = X(b, lm);
  for (int l = 0; l <= L; ++l) {
    fl[l] = p_.two_l_plus_one ? 1.0 / std::sqrt(2.0 * l + 1) : 1.0;
    fl[Lp + l] = sqrt2 * fl[l];
  }
  Eigen::Map<RowMatrixXd> out(rows, 3 * (1 + static_cast<Eigen::Index>(t.atom.size())), D);
  out.topRows(3).setZero();  // the centre's rows accumulate minus the others
  Eigen::Map<const Eigen::VectorXd> ph(phat, D - 1);
  const size_t stride = 2 * static_cast<size_t>(Lp) * n + 4 * static_cast<size_t>(nlm);
  const size_t ABx = static_cast<size_t>(Lp) * Kp, RCx = static_cast<size_t>(Lp) * n;
  for (size_t j = 0; j < t.atom.size(); ++j) {
    const double* c = t.values.data() + j * stride;
    const double* dc = c + RCx;
    const double* Y = dc + RCx;
    const double* dY = Y + nlm;
    const double f = t.fc[j], df = t.dfc[j];
    const Eigen::Vector3d u = t.rij[j].normalized();
    const int s0 = t.channel[j] * n;
    for (int l = 0; l <= L; ++l)
      for (int b0 = 0; b0 < Kp; b0 += W) {
        double a[W] = {}, bx[W] = {}, by[W] = {}, bz[W] = {};
        for (int lm = l * l; lm < (l + 1) * (l + 1); ++lm) {
          const double* xt = &XT[static_cast<size_t>(lm) * Kp + b0];
          const double y = Y[lm], yx = dY[3 * lm], yy = dY[3 * lm + 1], yz = dY[3 * lm + 2];
          for (int w = 0; w < W; ++w) {
            a[w] += y * xt[w];
            bx[w] += yx * xt[w];
            by[w] += yy * xt[w];
            bz[w] += yz * xt[w];
          }
        }
        double* ab = &AB[static_cast<size_t>(l) * Kp + b0];
        for (int w = 0; w < W; ++w) {
          ab[w] = a[w];
          ab[ABx + w] = bx[w];
          ab[2 * ABx + w] = by[w];
          ab[3 * ABx + w] = bz[w];
        }
      }
    double* C = RC.data() + RCx;
    for (size_t lk = 0; lk < RCx; ++lk) C[lk] = f * c[lk];
    for (int x = 0; x < 3; ++x) {
      double* R = RC.data();
      for (size_t lk = 0; lk < RCx; ++lk) R[lk] = (f * dc[lk] + df * c[lk]) * u[x];
      // G_l(k, b) = Σ_m dX[s n + k][lm]/dr_x X[b][lm] = R_lx(k) A_l(b) + C_l(k) B_lx(b)
      const double* A = AB.data();
      const double* B = AB.data() + (1 + x) * ABx;
      // dP_l(a, b) = G_l(a - s0, b) [a in s] + G_l(b - s0, a) [b in s]
      // built in a small buffer that stays in cache, then copied once into the (fresh, large) output
      double* dp = buf.data();
      for (int a = 0; a < K; ++a) {
        const bool ina = a >= s0 && a < s0 + n;
        for (int b = 0; b <= a; ++b) {
          const bool inb = b >= s0 && b < s0 + n;
          double* out_ab = dp + static_cast<size_t>(Lp) * (a * (a + 1) / 2 + b);
          const double* fs = fl.data() + (a != b ? Lp : 0);
          for (int l = 0; l <= L; ++l) {
            const size_t ln = static_cast<size_t>(l) * n, lK = static_cast<size_t>(l) * Kp;
            double v = 0.0;
            if (ina) v += R[ln + a - s0] * A[lK + b] + C[ln + a - s0] * B[lK + b];
            if (inb) v += R[ln + b - s0] * A[lK + a] + C[ln + b - s0] * B[lK + a];
            out_ab[l] = fs[l] * v;
          }
        }
      }
      Eigen::Map<Eigen::VectorXd> dv(dp, D - 1);
      if (p_.normalise) dv = (dv - ph * ph.dot(dv)) / norm;
      dp[D - 1] = 0.0;
      const Eigen::Map<const Eigen::RowVectorXd> row(dp, D);
      out.row(3 * (1 + j) + x) = row;
      out.row(x) -= row;
    }
  }
}

int Soap::force_block_size() const {
  const double bytes_per_centre = 64.0 * 8 * (2.0 * (p_.l_max + 1) * p_.n_max + 4.0 * nlm_);
  return std::clamp(static_cast<int>(8e6 / bytes_per_centre), 8, 128);
}

DescriptorData Soap::compute_for_forces(const Structure& s, const NeighbourList& nl, int first, int last) const {
  DescriptorData out;
  const std::vector<int> centres = centred_output(s, nl, first, last, out);
  const int ne = static_cast<int>(centres.size());
  auto cache = std::make_shared<ForceCache>();
  cache->X.resize(ne);
  cache->norm.assign(ne, 1.0);
  cache->terms.resize(ne);
  ExceptionCollector errors;
#pragma omp parallel for schedule(dynamic) if (ne >= 64)
  for (int e = 0; e < ne; ++e) errors.run([&] {
    cache->X[e] = expand(s, nl, centres[e], &cache->terms[e]);
    cache->norm[e] = values_from(cache->X[e], &out.values(e, 0));
  });
  errors.rethrow();
  out.cache = cache;
  return out;
}

// Reverse mode: dE/dp̂ -> dE/dp -> dE/dX (symmetric channel matrix per l) -> per neighbour, where
// each neighbour's radial and angular derivatives are contracted with dE/dX as they are computed
// (no per-neighbour derivative arrays are stored).
void Soap::accumulate_forces(const Structure& s, const NeighbourList& nl, const DescriptorData& data,
                             const RowMatrixXd& dE_dvalues, const Eigen::VectorXd&, Positions& forces,
                             Eigen::Matrix3d& virial, RowMatrixXd* env_virials) const {
  const int ne = data.size(), n = p_.n_max, L = p_.l_max, nlm = nlm_;
  const double sqrt2 = std::sqrt(2.0);
  const auto* cached = static_cast<const ForceCache*>(data.cache.get());
  if (cached && static_cast<int>(cached->X.size()) != ne) cached = nullptr;
  // Per-environment contributions, reduced serially afterwards so results do not depend on
  // the thread schedule (bit-reproducible forces).
  std::vector<std::vector<std::pair<int, Eigen::Vector3d>>> contrib(ne);
  std::vector<Eigen::Matrix3d> w_env(ne, Eigen::Matrix3d::Zero());
  ExceptionCollector errors;
#pragma omp parallel for schedule(dynamic) if (ne >= 64)
  for (int e = 0; e < ne; ++e) errors.run([&] {
    const int i = data.ci[data.ci_offset[e]];
    RowMatrixXd X_local;
    if (!cached) X_local = expand(s, nl, i);
    const RowMatrixXd& X = cached ? cached->X[e] : X_local;
    // dE/dp (unnormalised): p̂ is the environment's value, |p| its norm
    Eigen::VectorXd w = dE_dvalues.row(e).transpose().head(dim_ - 1);
    if (p_.normalise) {
      double nrm = 1.0;
      if (cached) {
        nrm = cached->norm[e];
      } else {
        RowMatrixXd pv(1, dim_);
        power_spectrum(X, pv.data());
        nrm = pv.row(0).head(dim_ - 1).norm();
        if (!(nrm > 0)) nrm = 1.0;
      }
      const auto ph = data.values.row(e).head(dim_ - 1).transpose();
      w = (w - ph * ph.dot(w)) / nrm;
    }
    // dE/dX[a][lm] = f_l sum_b B_l(a,b) X[b][lm]
    RowMatrixXd dX = RowMatrixXd::Zero(K_, nlm);
    for (int l = 0; l <= L; ++l) {
      const double fl = p_.two_l_plus_one ? 1.0 / std::sqrt(2.0 * l + 1) : 1.0;
      for (int a = 0; a < K_; ++a)
        for (int b = 0; b <= a; ++b) {
          const double wab = w[static_cast<size_t>(L + 1) * (a * (a + 1) / 2 + b) + l] * fl;
          if (wab == 0.0) continue;
          const double cab = a == b ? 2.0 * wab : sqrt2 * wab;
          for (int lm = l * l; lm < (l + 1) * (l + 1); ++lm) {
            dX(a, lm) += cab * X(b, lm);
            if (a != b) dX(b, lm) += cab * X(a, lm);
          }
        }
    }
    // neighbour j adds fc(r) c_nl(r) Y_lm(r̂) to X[ch n + k][lm]: its gradient contracted with dE/dX is
    //   g = Σ_{k,l} [ (fc c)'(r) r̂ A_kl + fc c_kl ∇Y·dE/dX ],  A_kl = Σ_m Y_lm dE/dX_{k,lm}
    const RowMatrixXd dXT = dX.transpose();
    // accumulators on the stack (n ≤ kMaxNMax), so they stay in registers across the lm loop
    alignas(64) double A[kMaxNMax], Bx[kMaxNMax], By[kMaxNMax], Bz[kMaxNMax];
    // the neighbours' radial and angular terms: kept by compute_for_forces, or computed here
    const NeighbourTerms* kept = cached && !cached->terms.empty() ? &cached->terms[e] : nullptr;
    NeighbourTerms computed;
    if (!kept) expand(s, nl, i, &computed);
    const NeighbourTerms& t = kept ? *kept : computed;
    const size_t stride = 2 * static_cast<size_t>(L + 1) * n + 4 * static_cast<size_t>(nlm);
    for (size_t j = 0; j < t.atom.size(); ++j) {
      const double* c = t.values.data() + j * stride;
      const double* dc = c + static_cast<size_t>(L + 1) * n;
      const double* Y = dc + static_cast<size_t>(L + 1) * n;
      const double* dY = Y + nlm;
      const int ch = t.channel[j];
      const CutoffValue fc{t.fc[j], t.dfc[j]};
      const Eigen::Vector3d u = t.rij[j].normalized();
      double radial_part = 0.0;
      Eigen::Vector3d angular = Eigen::Vector3d::Zero();
      for (int l = 0; l <= L; ++l) {
        // A_k and B_k for every k at once: dE/dX transposed so k runs with unit stride (vectorised)
        for (int k = 0; k < n; ++k) A[k] = Bx[k] = By[k] = Bz[k] = 0.0;
        for (int lm = l * l; lm < (l + 1) * (l + 1); ++lm) {
          const double* d = &dXT(lm, ch * n);
          const double yl = Y[lm], yx = dY[3 * lm], yy = dY[3 * lm + 1], yz = dY[3 * lm + 2];
          for (int k = 0; k < n; ++k) {
            A[k] += yl * d[k];
            Bx[k] += yx * d[k];
            By[k] += yy * d[k];
            Bz[k] += yz * d[k];
          }
        }
        const double* cl = &c[static_cast<size_t>(l) * n];
        const double* dcl = &dc[static_cast<size_t>(l) * n];
        double bx = 0.0, by = 0.0, bz = 0.0;
        for (int k = 0; k < n; ++k) {
          radial_part += (fc.f * dcl[k] + fc.df * cl[k]) * A[k];
          bx += cl[k] * Bx[k];
          by += cl[k] * By[k];
          bz += cl[k] * Bz[k];
        }
        angular += fc.f * Eigen::Vector3d(bx, by, bz);
      }
      const Eigen::Vector3d g = radial_part * u + angular;
      contrib[e].push_back({t.atom[j], g});
      w_env[e] -= t.rij[j] * g.transpose();
    }
  });
  errors.rethrow();
  for (int e = 0; e < ne; ++e) {
    const int i = data.ci[data.ci_offset[e]];
    for (const auto& [j, g] : contrib[e]) {
      forces.row(j) -= g.transpose();
      forces.row(i) += g.transpose();
    }
    virial += w_env[e];
  }
  if (env_virials) {
    *env_virials = RowMatrixXd(ne, 9);
    for (int e = 0; e < ne; ++e)
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) (*env_virials)(e, 3 * a + b) = w_env[e](a, b);
  }
}

}  // namespace soapgap
