// pair_style soapgap: soapgap models (.json, or QUIP/GAP .xml) inside an unmodified LAMMPS.
// Each rank evaluates the environments of its own atoms on its domain (local + ghost atoms, a full
// neighbour list); contributions to ghost atoms (forces, shared environment energies) go back to
// their owners: by LAMMPS' reverse communication with newton_pair on, by this style's own with
// newton_pair off. Energies, forces and virials are those of soapgap::Potential::predict.
#pragma once
#include <memory>
#include <vector>

#include "pair.h"
#include "soapgap/potential.hpp"

namespace LAMMPS_NS {

class PairSoapGap : public Pair {
 public:
  explicit PairSoapGap(LAMMPS *lmp);
  ~PairSoapGap() override;
  void compute(int eflag, int vflag) override;
  void settings(int narg, char **arg) override;
  void coeff(int narg, char **arg) override;
  void init_style() override;
  double init_one(int i, int j) override;
  int pack_reverse_comm(int n, int first, double *buf) override;
  void unpack_reverse_comm(int n, int *list, double *buf) override;
  double memory_usage() override;

  // The model and this rank's domain (atoms 0..nlocal-1 are centres), for compute soapgap/sigma.
  const soapgap::Potential &model() const;
  void domain(soapgap::Structure &s, soapgap::NeighbourList &nl) const;
  NeighList *neighbour_list() const { return list; }

 private:
  void allocate();
  std::unique_ptr<soapgap::Potential> model_;
  std::vector<int> type_z_;     // atomic number of each LAMMPS type (index 1..ntypes)
  int threads_ = 0;             // OpenMP threads per rank (0: leave as set)
  std::vector<double> fold_;    // newton off: per-atom [fx fy fz e w(6)] gathered onto owners
  int fold_width_ = 4;
};

}  // namespace LAMMPS_NS
