// SPDX-License-Identifier: GPL-2.0-or-later (this plugin links into LAMMPS, which is GPL-2.0)
#include "pair_soapgap.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "soapgap/error.hpp"
#include "soapgap/model_file.hpp"

using namespace LAMMPS_NS;

PairSoapGap::PairSoapGap(LAMMPS *lmp) : Pair(lmp) {
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  no_virial_fdotr_compute = 1;  // the virial is tallied from the model's own (image-aware) sum
  centroidstressflag = CENTROID_NOTAVAIL;
  // newton off: this style sends [f(3), e, W(6)] of ghosts back itself; LAMMPS sizes its
  // reverse-communication buffers from these
  comm_reverse = comm_reverse_off = 10;
}

PairSoapGap::~PairSoapGap() {
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

void PairSoapGap::allocate() {
  allocated = 1;
  const int n = atom->ntypes;
  memory->create(setflag, n + 1, n + 1, "pair:setflag");
  memory->create(cutsq, n + 1, n + 1, "pair:cutsq");
  for (int i = 1; i <= n; ++i)
    for (int j = i; j <= n; ++j) setflag[i][j] = 0;
}

// pair_style soapgap [threads N]
void PairSoapGap::settings(int narg, char **arg) {
  for (int k = 0; k < narg; ++k) {
    if (std::strcmp(arg[k], "threads") == 0 && k + 1 < narg) {
      threads_ = utils::inumeric(FLERR, arg[++k], false, lmp);
      if (threads_ < 1) error->all(FLERR, "pair_style soapgap: threads must be at least 1");
    } else {
      error->all(FLERR, "pair_style soapgap: unknown argument '{}' (usage: pair_style soapgap [threads N])", arg[k]);
    }
  }
}

// pair_coeff * * model.json El1 El2 ... (one element per atom type)
void PairSoapGap::coeff(int narg, char **arg) {
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;
  if (narg != 3 + ntypes || std::strcmp(arg[0], "*") != 0 || std::strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff for soapgap: expected 'pair_coeff * * <model.json|gap.xml> <element per type>' with {} "
               "element(s) for {} atom type(s), got {} argument(s)", ntypes, ntypes, narg);
  try {
    model_ = std::make_unique<soapgap::Potential>(soapgap::load_potential(arg[2]));
    if (!model_->baselines.empty())
      throw soapgap::Error(std::string(arg[2]) + ": the model has baselines (" + model_->baselines.front()->to_string() +
                           (model_->baselines.size() > 1 ? ", ..." : "") +
                           "); add them with LAMMPS styles (pair_style hybrid/overlay soapgap zbl/table/coul/long ..., "
                           "or a second soapgap for a model baseline) and give pair_style soapgap the model without them");
    if (model_->coordinates.empty()) throw soapgap::Error(std::string(arg[2]) + ": the model has no GAP terms");
    type_z_.assign(ntypes + 1, 0);
    for (int t = 1; t <= ntypes; ++t) {
      if (std::strcmp(arg[2 + t], "NULL") == 0)
        throw soapgap::Error("NULL type mappings (pair_style hybrid with other styles on some types) are not supported; "
                             "give every type an element the model knows");
      const int z = soapgap::atomic_number(arg[2 + t]);
      if (!model_->e0.count(z)) {
        std::string known;
        for (int k : model_->species()) known += " " + soapgap::chemical_symbol(k);
        throw soapgap::Error(std::string(arg[2]) + ": atom type " + std::to_string(t) + " is " + arg[2 + t] +
                             ", a species the model was not trained on (model species:" + known + ")");
      }
      type_z_[t] = z;
    }
  } catch (const soapgap::Error &e) {
    error->all(FLERR, "pair_coeff soapgap: {}", e.what());
  }
  for (int i = 1; i <= ntypes; ++i)
    for (int j = i; j <= ntypes; ++j) setflag[i][j] = 1;
}

void PairSoapGap::init_style() {
  if (!model_) error->all(FLERR, "pair_style soapgap: no model (pair_coeff * * model.json ...)");
  neighbor->add_request(this, NeighConst::REQ_FULL);
}

double PairSoapGap::init_one(int, int) { return model_->cutoff(); }

const soapgap::Potential &PairSoapGap::model() const { return *model_; }

// The rank's domain as a soapgap structure: local atoms then ghosts (open boundaries: ghosts are
// the periodic images and neighbouring domains), neighbour lists for the local atoms only.
void PairSoapGap::domain(soapgap::Structure &s, soapgap::NeighbourList &nl) const {
  const int nlocal = atom->nlocal, nall = nlocal + atom->nghost;
  double **x = atom->x;
  const int *type = atom->type;
  s = soapgap::Structure();
  s.positions.resize(nall, 3);
  s.numbers.resize(nall);
  for (int i = 0; i < nall; ++i) {
    for (int c = 0; c < 3; ++c) s.positions(i, c) = x[i][c];
    s.numbers[i] = type_z_[type[i]];
  }
  s.source = "LAMMPS rank " + std::to_string(comm->me);
  const double rc = model_->cutoff(), rc2 = rc * rc;
  nl.offset.assign(nlocal + 1, 0);
  nl.list.clear();
  std::vector<std::vector<soapgap::Neighbour>> per(nlocal);
  for (int k = 0; k < list->inum; ++k) {
    const int i = list->ilist[k];
    if (i >= nlocal) continue;
    const int *jl = list->firstneigh[i];
    for (int m = 0; m < list->numneigh[i]; ++m) {
      const int j = jl[m] & NEIGHMASK;
      const Eigen::Vector3d rij(x[j][0] - x[i][0], x[j][1] - x[i][1], x[j][2] - x[i][2]);
      const double r2 = rij.squaredNorm();
      if (r2 < rc2) per[i].push_back({j, rij, std::sqrt(r2)});
    }
  }
  for (int i = 0; i < nlocal; ++i) {
    nl.offset[i + 1] = nl.offset[i] + static_cast<int>(per[i].size());
    nl.list.insert(nl.list.end(), per[i].begin(), per[i].end());
  }
}

void PairSoapGap::compute(int eflag, int vflag) {
  ev_init(eflag, vflag);
  if (threads_ > 0) omp_set_num_threads(threads_);
  const int nlocal = atom->nlocal, nall = nlocal + atom->nghost;
  soapgap::Structure s;
  soapgap::NeighbourList nl;
  domain(s, nl);
  soapgap::PredictOptions opt;
  opt.atom_virials = vflag_atom;
  soapgap::Prediction p;
  try {
    p = model_->predict(s, nl, opt);
  } catch (const std::exception &e) {
    error->one(FLERR, "pair soapgap: {}", e.what());
  }
  double **f = atom->f;
  const bool newton = force->newton_pair;
  if (newton) {  // LAMMPS sums ghost forces (and per-atom tallies) back onto their owners
    for (int i = 0; i < nall; ++i)
      for (int c = 0; c < 3; ++c) f[i][c] += p.forces(i, c);
    if (eflag_atom)
      for (int i = 0; i < nall; ++i) eatom[i] += p.energies[i];
    if (vflag_atom)
      for (int i = 0; i < nall; ++i) {
        const auto w = p.atom_virials.row(i);
        const double v[6] = {w[0], w[4], w[8], w[1], w[2], w[5]};
        for (int k = 0; k < 6; ++k) vatom[i][k] += v[k];
      }
  } else {  // fold ghost contributions onto owners with this style's own reverse communication
    fold_width_ = 4 + (vflag_atom ? 6 : 0);
    fold_.assign(static_cast<size_t>(nall) * fold_width_, 0.0);
    for (int i = 0; i < nall; ++i) {
      double *r = &fold_[static_cast<size_t>(i) * fold_width_];
      for (int c = 0; c < 3; ++c) r[c] = p.forces(i, c);
      r[3] = p.energies[i];
      if (vflag_atom) {
        const auto w = p.atom_virials.row(i);
        const double v[6] = {w[0], w[4], w[8], w[1], w[2], w[5]};
        for (int k = 0; k < 6; ++k) r[4 + k] = v[k];
      }
    }
    comm->reverse_comm(this, fold_width_);
    for (int i = 0; i < nlocal; ++i) {
      const double *r = &fold_[static_cast<size_t>(i) * fold_width_];
      for (int c = 0; c < 3; ++c) f[i][c] += r[c];
      if (eflag_atom) eatom[i] += r[3];
      if (vflag_atom)
        for (int k = 0; k < 6; ++k) vatom[i][k] += r[4 + k];
    }
  }
  if (eflag_global) eng_vdwl += p.energy;
  if (vflag_global) {  // LAMMPS order xx yy zz xy xz yz
    virial[0] += p.virial(0, 0);
    virial[1] += p.virial(1, 1);
    virial[2] += p.virial(2, 2);
    virial[3] += p.virial(0, 1);
    virial[4] += p.virial(0, 2);
    virial[5] += p.virial(1, 2);
  }
}

int PairSoapGap::pack_reverse_comm(int n, int first, double *buf) {
  int m = 0;
  for (int i = first; i < first + n; ++i)
    for (int k = 0; k < fold_width_; ++k) buf[m++] = fold_[static_cast<size_t>(i) * fold_width_ + k];
  return m;
}

void PairSoapGap::unpack_reverse_comm(int n, int *list_, double *buf) {
  int m = 0;
  for (int k = 0; k < n; ++k) {
    double *r = &fold_[static_cast<size_t>(list_[k]) * fold_width_];
    for (int c = 0; c < fold_width_; ++c) r[c] += buf[m++];
  }
}

double PairSoapGap::memory_usage() { return Pair::memory_usage() + fold_.size() * sizeof(double); }
