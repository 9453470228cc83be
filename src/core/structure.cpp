#include "soapgap/structure.hpp"

#include <cmath>

#include "soapgap/error.hpp"

namespace soapgap {

namespace {
const std::vector<std::string>& symbols() {
  static const std::vector<std::string> s = {
      "X",  "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al", "Si",
      "P",  "S",  "Cl", "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co", "Ni", "Cu",
      "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",  "Zr", "Nb", "Mo", "Tc", "Ru",
      "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I",  "Xe", "Cs", "Ba", "La", "Ce", "Pr",
      "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W",
      "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac",
      "Th", "Pa", "U",  "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf",
      "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og"};
  return s;
}
}  // namespace

int atomic_number(const std::string& symbol) {
  const auto& s = symbols();
  for (size_t z = 1; z < s.size(); ++z)
    if (s[z] == symbol) return static_cast<int>(z);
  throw Error("unknown chemical symbol '" + symbol + "'");
}

const std::string& chemical_symbol(int z) {
  const auto& s = symbols();
  if (z < 1 || z >= static_cast<int>(s.size()))
    throw Error("atomic number " + std::to_string(z) + " out of range 1..118");
  return s[z];
}

std::string Structure::where() const { return soapgap::where(source, frame); }

Eigen::Matrix3d Structure::completed_cell() const {
  Eigen::Matrix3d c = cell;
  for (int k = 0; k < 3; ++k) {
    if (pbc[k] || c.row(k).norm() > 1e-12) continue;
    // Gram-Schmidt: the unit axis with the largest part orthogonal to the non-zero rows
    Eigen::Vector3d best = Eigen::Vector3d::Zero();
    for (int axis = 0; axis < 3; ++axis) {
      Eigen::Vector3d v = Eigen::Vector3d::Unit(axis);
      for (int j = 0; j < 3; ++j)
        if (j != k && c.row(j).norm() > 1e-12) {
          const Eigen::Vector3d u = c.row(j).normalized();
          v -= u * u.dot(v);
        }
      if (v.norm() > best.norm()) best = v;
    }
    c.row(k) = best.normalized().transpose();
  }
  return c;
}

void Structure::validate() const {
  if (positions.rows() != size())
    throw Error(where() + "positions have " + std::to_string(positions.rows()) + " rows but there are " +
                std::to_string(size()) + " atoms");
  // Far beyond any atomistic system, and small enough that cell inverses, images and cell lists
  // cannot overflow.
  constexpr double kMaxCoordinate = 1e8;  // Å
  for (int i = 0; i < size(); ++i) {
    if (!positions.row(i).allFinite())
      throw Error(where() + "field 'pos': atom " + std::to_string(i) + " has a non-finite coordinate");
    if (positions.row(i).cwiseAbs().maxCoeff() > kMaxCoordinate)
      throw Error(where() + "field 'pos': atom " + std::to_string(i) + " has a coordinate beyond 1e8 Å (corrupt file?)");
    if (numbers[i] < 1 || numbers[i] > 118)
      throw Error(where() + "atom " + std::to_string(i) + " has invalid atomic number " + std::to_string(numbers[i]));
  }
  if (!cell.allFinite()) throw Error(where() + "field 'Lattice' has a non-finite entry");
  if (cell.cwiseAbs().maxCoeff() > kMaxCoordinate) throw Error(where() + "field 'Lattice' has an entry beyond 1e8 Å");
  for (const auto& [name, a] : arrays) {
    const long rows = a.kind == InfoValue::Kind::String ? static_cast<long>(a.strings.size()) : a.numbers.rows();
    if (rows != size())
      throw Error(where() + "per-atom property '" + name + "' has " + std::to_string(rows) + " rows for " +
                  std::to_string(size()) + " atoms");
  }
  for (int k = 0; k < 3; ++k)
    if (pbc[k] && cell.row(k).norm() < 1e-12)
      throw Error(where() + "periodic in direction " + std::to_string(k) + " but lattice vector " +
                  std::to_string(k) + " is zero");
  if ((pbc[0] || pbc[1] || pbc[2]) && std::abs(completed_cell().determinant()) < 1e-12)
    throw Error(where() + "field 'Lattice': the periodic lattice vectors are linearly dependent");
}

std::vector<double> Structure::info_reals(const std::string& key) const {
  auto it = info.find(key);
  if (it == info.end()) throw Error(where() + "missing frame property '" + key + "'");
  if (it->second.kind == InfoValue::Kind::String)
    throw Error(where() + "frame property '" + key + "' is not numeric: '" + it->second.text + "'");
  for (double v : it->second.numbers)
    if (!std::isfinite(v)) throw Error(where() + "frame property '" + key + "' is not finite");
  return it->second.numbers;
}

const RowMatrixXd& Structure::array_reals(const std::string& key, int columns) const {
  auto it = arrays.find(key);
  if (it == arrays.end()) throw Error(where() + "missing per-atom property '" + key + "'");
  const AtomArray& a = it->second;
  if (a.kind == InfoValue::Kind::String || a.numbers.cols() != columns || a.numbers.rows() != size())
    throw Error(where() + "per-atom property '" + key + "' should be real with " + std::to_string(columns) +
                " columns");
  if (!a.numbers.allFinite()) throw Error(where() + "per-atom property '" + key + "' is not finite");
  return a.numbers;
}

}  // namespace soapgap
