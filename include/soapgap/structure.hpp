// An atomic structure: positions, atomic numbers, cell, periodicity and named properties.
#pragma once
#include <Eigen/Dense>
#include <array>
#include <map>
#include <string>
#include <vector>

namespace soapgap {

using RowMatrixXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Positions = Eigen::Matrix<double, Eigen::Dynamic, 3, Eigen::RowMajor>;

// A per-frame value as it appears in an extxyz comment line.
struct InfoValue {
  enum class Kind { Real, Integer, Logical, String };
  Kind kind = Kind::String;
  std::vector<double> numbers;  // Real/Integer/Logical (0/1) values
  std::string text;             // String value
  static InfoValue real(std::vector<double> v) { return {Kind::Real, std::move(v), {}}; }
  static InfoValue string(std::string s) { return {Kind::String, {}, std::move(s)}; }
};

// A per-atom column: numeric (n x k) or strings (n values).
struct AtomArray {
  InfoValue::Kind kind = InfoValue::Kind::Real;
  RowMatrixXd numbers;               // n_atoms x n_columns for Real/Integer/Logical
  std::vector<std::string> strings;  // for String columns (one column only)
};

struct Structure {
  Positions positions;                       // Å, n x 3
  std::vector<int> numbers;                  // atomic numbers
  Eigen::Matrix3d cell = Eigen::Matrix3d::Zero();  // rows are the lattice vectors a, b, c (Å)
  std::array<bool, 3> pbc{false, false, false};
  std::map<std::string, InfoValue> info;     // per-frame properties
  std::map<std::string, AtomArray> arrays;   // per-atom properties other than species/pos
  std::string source;                        // file name, for error messages
  long frame = -1;                           // frame index in that file

  int size() const { return static_cast<int>(numbers.size()); }
  double volume() const { return std::abs(cell.determinant()); }
  // The cell with zero lattice vectors of non-periodic directions replaced by unit vectors
  // orthogonal to the others (wires, slabs given without those vectors), so it can be inverted.
  Eigen::Matrix3d completed_cell() const;
  // Throws soapgap::Error naming the frame on NaN/inf coordinates or inconsistent sizes.
  void validate() const;
  // Frame property as a real vector; throws naming the field if missing or not numeric.
  std::vector<double> info_reals(const std::string& key) const;
  bool has_info(const std::string& key) const { return info.count(key) > 0; }
  // Per-atom real array (n x k); throws naming the field if missing or wrong width.
  const RowMatrixXd& array_reals(const std::string& key, int columns) const;
  std::string where() const;
};

// Element symbol <-> atomic number (1..118).
int atomic_number(const std::string& symbol);
const std::string& chemical_symbol(int z);

}  // namespace soapgap
