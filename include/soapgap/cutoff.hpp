// QUIP's cosine switch (coordination_function): 1 below rc-w, 0.5(cos(pi (r-rc+w)/w)+1) on
// [rc-w, rc], 0 beyond (libAtoms linearalgebra.f95).
#pragma once

namespace soapgap {

struct CutoffValue {
  double f;   // f_cut(r)
  double df;  // d f_cut / dr
};

CutoffValue cosine_cutoff(double r, double cutoff, double width);

}  // namespace soapgap
