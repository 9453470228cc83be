// SPDX-License-Identifier: GPL-2.0-or-later (this plugin links into LAMMPS, which is GPL-2.0)
#include "compute_soapgap_sigma.h"

#include <algorithm>
#include <cstring>

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "pair_soapgap.h"
#include "update.h"

using namespace LAMMPS_NS;

ComputeSoapGapSigma::ComputeSoapGapSigma(LAMMPS *lmp, int narg, char **arg) : Compute(lmp, narg, arg) {
  if (narg != 3) error->all(FLERR, "compute soapgap/sigma takes no arguments (compute ID group soapgap/sigma)");
  peratom_flag = 1;
  size_peratom_cols = 0;
  vector_flag = 1;
  size_vector = 2;
  extvector = 0;
  vector = global_;
}

ComputeSoapGapSigma::~ComputeSoapGapSigma() {
  memory->destroy(sigma_);
  vector = nullptr;  // not LAMMPS' to free
}

void ComputeSoapGapSigma::init() {
  pair_ = dynamic_cast<PairSoapGap *>(force->pair_match("^soapgap", 0));
  if (!pair_) error->all(FLERR, "compute soapgap/sigma needs pair_style soapgap (alone or in hybrid/overlay)");
  const soapgap::Potential &m = pair_->model();
  if (m.R.size() == 0)
    error->all(FLERR, "compute soapgap/sigma: the model carries no posterior factor (a GAP XML file?); "
               "use a soapgap .json model, which has the predicted variance");
  // an environment shared by two atoms (distance_2b) would need the other rank's covariance
  // vectors, not just numbers, to give each atom's variance: refused rather than approximated
  for (const auto &co : m.coordinates)
    if (co.descriptor->kind() == "distance_2b")
      error->all(FLERR, "compute soapgap/sigma: the model's distance_2b term shares environments between two atoms, "
                 "which can sit on different ranks; per-atom sigma is available for atom-centred terms (soap, angle_3b)");
}

void ComputeSoapGapSigma::evaluate() {
  // recomputed at every invocation: atoms may have moved (displace_atoms, set, run 0) within a step
  pair_ = dynamic_cast<PairSoapGap *>(force->pair_match("^soapgap", 0));
  if (!pair_) error->all(FLERR, "compute soapgap/sigma needs pair_style soapgap (alone or in hybrid/overlay)");
  if (atom->nmax > nmax_) {
    memory->destroy(sigma_);
    nmax_ = atom->nmax;
    memory->create(sigma_, nmax_, "soapgap/sigma:sigma");
  }
  soapgap::Structure s;
  soapgap::NeighbourList nl;
  pair_->domain(s, nl);
  soapgap::PredictOptions opt;
  opt.forces = false;
  opt.variance = true;
  soapgap::Prediction p;
  try {
    p = pair_->model().predict(s, nl, opt);
  } catch (const std::exception &e) {
    error->one(FLERR, "compute soapgap/sigma: {}", e.what());
  }
  const int nlocal = atom->nlocal;
  const int *mask = atom->mask;
  double local_max = 0.0, local_sum = 0.0, local_n = 0.0;
  for (int i = 0; i < nlocal; ++i) {
    sigma_[i] = (mask[i] & groupbit) ? p.energies_std[i] : 0.0;
    if (mask[i] & groupbit) {
      local_max = std::max(local_max, sigma_[i]);
      local_sum += sigma_[i];
      local_n += 1;
    }
  }
  double sum[2] = {local_sum, local_n}, total[2];
  MPI_Allreduce(&local_max, &vector[0], 1, MPI_DOUBLE, MPI_MAX, world);
  MPI_Allreduce(sum, total, 2, MPI_DOUBLE, MPI_SUM, world);
  vector[1] = total[1] > 0 ? total[0] / total[1] : 0.0;
  vector_atom = sigma_;
}

void ComputeSoapGapSigma::compute_peratom() {
  invoked_peratom = update->ntimestep;
  evaluate();
}

void ComputeSoapGapSigma::compute_vector() {
  invoked_vector = update->ntimestep;
  evaluate();
}

double ComputeSoapGapSigma::memory_usage() { return static_cast<double>(nmax_) * sizeof(double); }
