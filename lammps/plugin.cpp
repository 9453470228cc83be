// SPDX-License-Identifier: GPL-2.0-or-later (this plugin links into LAMMPS, which is GPL-2.0)
// Entry point of libsoapgap_lammps.so: `plugin load libsoapgap_lammps.so` registers
// pair_style soapgap and compute soapgap/sigma.
#include "compute_soapgap_sigma.h"
#include "lammps.h"
#include "lammpsplugin_api.h"
#include "pair_soapgap.h"

using namespace LAMMPS_NS;

namespace {
// LAMMPS' factories hand ownership of a `new` object to LAMMPS, which deletes it.
Pair *make_pair(LAMMPS *lmp) { return new PairSoapGap(lmp); }
Compute *make_compute(LAMMPS *lmp, int narg, char **arg) { return new ComputeSoapGapSigma(lmp, narg, arg); }
}  // namespace

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc) {
  auto reg = reinterpret_cast<lammpsplugin_regfunc>(regfunc);
  lammpsplugin_t plugin;
  plugin.version = static_cast<LAMMPS *>(lmp)->version;  // built against this LAMMPS' headers
  plugin.author = "soapgap developers";
  plugin.handle = handle;
  plugin.style = "pair";
  plugin.name = "soapgap";
  plugin.info = "soapgap GAP/SOAP models (soapgap .json, QUIP/GAP .xml)";
  plugin.creator.v1 = reinterpret_cast<lammpsplugin_factory1 *>(&make_pair);
  (*reg)(&plugin, lmp);
  plugin.style = "compute";
  plugin.name = "soapgap/sigma";
  plugin.info = "per-atom predicted standard deviation of soapgap local energies";
  plugin.creator.v2 = reinterpret_cast<lammpsplugin_factory2 *>(&make_compute);
  (*reg)(&plugin, lmp);
}
