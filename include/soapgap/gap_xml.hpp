// QUIP/GAP XML potential files (as gap_fit writes them and quippy reads them):
// <Potential init_args="IP GAP label=..."/>, <GAP_params gap_version=...>, <GAP_data> with e0 per
// Z, one <gpCoordinates> per descriptor (signal_variance = delta, signal_mean = f0,
// covariance_type 1 = gaussian/ARD_SE with <theta>, 2 = dot_product with zeta), sparse points
// inline or in a separate text file (one value per line, point after point), weights in
// <sparseX alpha=... sparseCutoff=...>. Format notes: libAtoms/GAP gp_predict.F90 (gpCoordinates_printXML).
#pragma once
#include <string>

#include "soapgap/potential.hpp"

namespace soapgap {

struct GapXmlOptions {
  // Evaluate only the GAP part of a Sum potential (e.g. GAP-18/GAP-20 with an IP Glue baseline),
  // like quippy's Potential('IP GAP', param_filename=...). Without it a baseline is an error.
  bool gap_only = false;
};

Potential read_gap_xml(const std::string& path, const GapXmlOptions& opt = {});

// Writes path and, next to it, one sparse-point file per descriptor (path.sparseX.<label><i>).
// quippy's Potential(param_filename=path) evaluates the same numbers. Refuses to overwrite.
void write_gap_xml(const Potential& p, const std::string& path, bool overwrite = false);

}  // namespace soapgap
