// Ewald summation (e.g. Frenkel & Smit, Understanding Molecular Simulation, §12.1), energies in eV
// with k_e = e²/4πε₀:
//   E_real  = ½ k_e Σ_i Σ_j' q_i q_j erfc(α r)/r           (images within r_cut, not i = j at n = 0)
//   E_recip = k_e (2π/V) Σ_{k≠0} e^{−k²/4α²}/k² |S(k)|²,   S(k) = Σ_j q_j e^{ik·r_j}
//   E_self  = −k_e α/√π Σ_i q_i²,   E_bg = −k_e π Q²/(2Vα²) (neutralising background, only if asked)
// Virial of the reciprocal term: W_ab = Σ_k e_k (δ_ab − 2 k_a k_b (1/k² + 1/4α²)).
// Damping replaces 1/r by erf(r/w)/r = 1/r − erfc(r/w)/r: the short-range erfc(r/w)/r part is
// subtracted in real space (r_cut ≥ w√p so it has decayed there).
#include <cmath>
#include <complex>
#include <sstream>
#include <utility>

#include "soapgap/coulomb.hpp"
#include "soapgap/error.hpp"
#include "soapgap/neighbours.hpp"

namespace soapgap {

namespace {
constexpr double kPi = 3.141592653589793238462643383279502884;
const double kSqrtPi = std::sqrt(kPi);
}  // namespace

Coulomb::Coulomb(const Options& o) {
  o.check_keys({"species", "charges", "accuracy", "alpha", "cutoff", "damping_width", "background", "coulomb_constant"});
  const auto sp = parse_species_list(o.get_string({"species"}, ""), o.context() + ": species");
  if (sp.empty()) throw Error(o.context() + ": coulomb needs species={...} and charges={...}, one charge (in e) per species");
  charge_ = species_values(o, sp, "charges", true, false);
  accuracy_ = o.get_double({"accuracy"}, 1e-8);
  alpha_ = o.get_double({"alpha"}, 0.0);
  r_cut_ = o.get_double({"cutoff"}, 0.0);
  damping_width_ = o.get_double({"damping_width"}, 0.0);
  background_ = o.get_bool({"background"}, false);
  k_e_ = o.get_double({"coulomb_constant"}, kCoulombConstant);
  if (!(accuracy_ >= 1e-16 && accuracy_ <= 0.1)) throw Error(o.context() + ": accuracy must be between 1e-16 and 0.1");
  if (alpha_ < 0 || r_cut_ < 0 || damping_width_ < 0) throw Error(o.context() + ": alpha, cutoff and damping_width must be non-negative");
  if (!(k_e_ > 0)) throw Error(o.context() + ": coulomb_constant must be positive");
}

std::vector<int> Coulomb::species() const {
  std::vector<int> z;
  for (const auto& [k, v] : charge_) z.push_back(k);
  return z;
}

std::string Coulomb::to_string() const {
  std::ostringstream s;
  s.precision(17);
  s << "coulomb species={";
  bool first = true;
  for (const auto& [z, q] : charge_) s << (std::exchange(first, false) ? "" : " ") << chemical_symbol(z);
  s << "} charges={";
  first = true;
  for (const auto& [z, q] : charge_) s << (std::exchange(first, false) ? "" : " ") << q;
  s << "} accuracy=" << accuracy_ << " alpha=" << alpha_ << " cutoff=" << r_cut_ << " damping_width=" << damping_width_
    << " background=" << (background_ ? "T" : "F") << " coulomb_constant=" << k_e_;
  return s.str();
}

double Coulomb::charge_of(int z, const Structure& s) const {
  auto it = charge_.find(z);
  if (it == charge_.end())
    throw Error(s.where() + "species " + chemical_symbol(z) + " has no charge in the coulomb baseline (add it to species/charges)");
  return it->second;
}

EwaldParameters Coulomb::ewald_parameters(const Structure& s) const {
  const double p = -std::log(accuracy_);
  EwaldParameters e{};
  if (alpha_ > 0) e.alpha = alpha_;
  else if (r_cut_ > 0) e.alpha = std::sqrt(p) / r_cut_;
  else e.alpha = kSqrtPi * std::pow(std::max(s.size(), 1) / (s.volume() * s.volume()), 1.0 / 6.0);
  e.r_cut = r_cut_ > 0 ? r_cut_ : std::sqrt(p) / e.alpha;
  e.r_cut = std::max(e.r_cut, damping_width_ * std::sqrt(p));
  e.k_cut = 2 * e.alpha * std::sqrt(p);
  return e;
}

void Coulomb::add(const Structure& s, EnergyTerms& out) const {
  const int n = s.size();
  Eigen::VectorXd q(n);
  for (int i = 0; i < n; ++i) q[i] = charge_of(s.numbers[i], s);
  const int periodic = s.pbc[0] + s.pbc[1] + s.pbc[2];
  if (n == 0) return;
  if (periodic == 0) return add_direct(s, q, out);
  if (periodic != 3)
    throw Error(s.where() + "the coulomb baseline needs a fully periodic cell (Ewald) or open boundaries (direct sum); "
                "for a slab or wire add vacuum and make the cell periodic in every direction");
  const double total = q.sum();
  if (std::abs(total) > 1e-10 * std::max(1.0, q.cwiseAbs().sum()) && !background_) {
    std::ostringstream m;
    m << s.where() << "charges sum to " << total
      << " e in a periodic cell: the Ewald sum needs a neutral cell (or set background=T for a neutralising background)";
    throw Error(m.str());
  }
  add_ewald(s, q, out);
}

void Coulomb::add_direct(const Structure& s, const Eigen::VectorXd& q, EnergyTerms& out) const {
  const int n = s.size();
  const bool forces = out.forces.rows() == n;
  const double w = damping_width_;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      const Eigen::Vector3d rij = (s.positions.row(j) - s.positions.row(i)).transpose();
      const double r = rij.norm();
      if (!(r > 1e-8)) throw Error(s.where() + "atoms " + std::to_string(i) + " and " + std::to_string(j) + " coincide");
      const double qq = k_e_ * q[i] * q[j];
      double e = qq / r, de = -qq / (r * r);
      if (w > 0) {  // erf(r/w)/r
        const double erfv = std::erf(r / w);
        de = qq * (2 / (kSqrtPi * w) * std::exp(-r * r / (w * w)) / r - erfv / (r * r));
        e = qq * erfv / r;
      }
      out.energies[i] += 0.5 * e;
      out.energies[j] += 0.5 * e;
      const Eigen::Vector3d g = (de / r) * rij;  // dE/dr_j
      if (forces) {
        out.forces.row(i) += g.transpose();
        out.forces.row(j) -= g.transpose();
      }
      out.virial -= rij * g.transpose();
    }
}

void Coulomb::add_ewald(const Structure& s, const Eigen::VectorXd& q, EnergyTerms& out) const {
  const int n = s.size();
  const bool forces = out.forces.rows() == n;
  const EwaldParameters ep = ewald_parameters(s);
  const double a = ep.alpha, w = damping_width_, V = s.volume();
  {  // refuse settings that would run for hours rather than start them
    const double pairs = double(n) * n * 4.18879 * std::pow(ep.r_cut, 3) / V;
    const double kvecs = double(n) * 4.18879 * std::pow(ep.k_cut, 3) * V / (8 * kPi * kPi * kPi);
    if (pairs > 2e9 || kvecs > 2e9) {
      std::ostringstream m;
      m << s.where() << "Ewald settings (alpha " << a << " 1/Å, real-space cutoff " << ep.r_cut << " Å, k cutoff " << ep.k_cut
        << " 1/Å) need ~" << pairs << " pair and ~" << kvecs << " k-vector terms; choose alpha/cutoff/accuracy closer to the defaults";
      throw Error(m.str());
    }
  }

  // real space
  const NeighbourList nl = build_neighbour_list(s, ep.r_cut);
  for (int i = 0; i < n; ++i)
    for (const Neighbour* nb = nl.begin(i); nb != nl.end(i); ++nb) {
      const double r = nb->r, qq = k_e_ * q[i] * q[nb->j];
      double e = qq * std::erfc(a * r) / r;
      double de = -qq * (std::erfc(a * r) / (r * r) + 2 * a / kSqrtPi * std::exp(-a * a * r * r) / r);
      if (w > 0) {
        e -= qq * std::erfc(r / w) / r;
        de += qq * (std::erfc(r / w) / (r * r) + 2 / (kSqrtPi * w) * std::exp(-r * r / (w * w)) / r);
      }
      out.energies[i] += 0.5 * e;
      const Eigen::Vector3d g = (de / r) * nb->rij;
      if (forces) out.forces.row(i) += g.transpose();
      out.virial -= 0.5 * nb->rij * g.transpose();
    }

  // self and background
  const double total = q.sum();
  for (int i = 0; i < n; ++i) {
    out.energies[i] -= k_e_ * a / kSqrtPi * q[i] * q[i];
    out.energies[i] -= k_e_ * kPi * total * q[i] / (2 * V * a * a);
  }
  out.virial -= k_e_ * kPi * total * total / (2 * V * a * a) * Eigen::Matrix3d::Identity();

  // reciprocal space, half of the k vectors (k and −k contribute equally)
  const Eigen::Matrix3d A = s.cell;                       // rows a_i
  const Eigen::Matrix3d B = 2 * kPi * A.inverse().transpose();  // rows b_i, a_i·b_j = 2π δ_ij
  int nmax[3];
  for (int d = 0; d < 3; ++d) nmax[d] = static_cast<int>(std::ceil(ep.k_cut * A.row(d).norm() / (2 * kPi)));
  const Positions frac = s.positions * A.inverse();
  using C = std::complex<double>;
  std::vector<std::vector<C>> phase(3);  // phase[d][i*(2nmax+1) + n + nmax] = e^{2πi n s_id}
  for (int d = 0; d < 3; ++d) {
    const int m = 2 * nmax[d] + 1;
    phase[d].resize(static_cast<size_t>(n) * m);
    for (int i = 0; i < n; ++i)
      for (int k = -nmax[d]; k <= nmax[d]; ++k) phase[d][i * m + k + nmax[d]] = std::polar(1.0, 2 * kPi * k * frac(i, d));
  }
  std::vector<C> eikr(n);
  const double k2max = ep.k_cut * ep.k_cut, pref = k_e_ * 4 * kPi / V;
  for (int n1 = 0; n1 <= nmax[0]; ++n1)
    for (int n2 = (n1 == 0 ? 0 : -nmax[1]); n2 <= nmax[1]; ++n2)
      for (int n3 = (n1 == 0 && n2 == 0 ? 1 : -nmax[2]); n3 <= nmax[2]; ++n3) {
        const Eigen::Vector3d k = n1 * B.row(0) + n2 * B.row(1) + n3 * B.row(2);
        const double k2 = k.squaredNorm();
        if (k2 > k2max) continue;
        const double Ak = std::exp(-k2 / (4 * a * a)) / k2;
        C S = 0;
        for (int i = 0; i < n; ++i) {
          eikr[i] = phase[0][i * (2 * nmax[0] + 1) + n1 + nmax[0]] * phase[1][i * (2 * nmax[1] + 1) + n2 + nmax[1]] *
                    phase[2][i * (2 * nmax[2] + 1) + n3 + nmax[2]];
          S += q[i] * eikr[i];
        }
        const double ek = pref * Ak * std::norm(S);
        for (int i = 0; i < n; ++i) {
          const C t = std::conj(eikr[i]) * S;  // e^{−ik·r_i} S(k)
          out.energies[i] += pref * Ak * q[i] * t.real();
          // F_i = −∂E/∂r_i = −2 pref A q_i k Im(e^{−ik·r_i} S)
          if (forces) out.forces.row(i) -= (2 * pref * Ak * q[i] * t.imag()) * k.transpose();
        }
        out.virial += ek * (Eigen::Matrix3d::Identity() - 2 * (1 / k2 + 1 / (4 * a * a)) * k * k.transpose());
      }
}

}  // namespace soapgap
