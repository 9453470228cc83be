// compute ID group soapgap/sigma: per-atom predicted standard deviation σ_i of the local energy
// (eV; the sparse-GP posterior of soapgap::Potential::predict), and a global vector
// [max σ, mean σ] over the group, for thermo output and `fix halt`.
#pragma once
#include <vector>

#include "compute.h"

namespace LAMMPS_NS {

class ComputeSoapGapSigma : public Compute {
 public:
  ComputeSoapGapSigma(LAMMPS *lmp, int narg, char **arg);
  ~ComputeSoapGapSigma() override;
  void init() override;
  void init_list(int, class NeighList *) override {}
  void compute_vector() override;
  void compute_peratom() override;
  double memory_usage() override;

 private:
  void evaluate();                  // σ for the local atoms (every invocation)
  class PairSoapGap *pair_ = nullptr;
  int nmax_ = 0;
  double *sigma_ = nullptr;         // per-atom output (LAMMPS memory, nmax long)
  double global_[2] = {0.0, 0.0};   // [max, mean], what `vector` points to
};

}  // namespace LAMMPS_NS
