// C++-only timing of SOAP (with/without gradients) per atom, without Python overheads.
//   soapgap_bench_soap [n_max l_max cutoff reps [values|gradients]]   (rattled fcc Cu, 4·reps³ atoms)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "soapgap/descriptor.hpp"

using namespace soapgap;

int main(int argc, char** argv) {
  const int n_max = argc > 1 ? std::atoi(argv[1]) : 8, l_max = argc > 2 ? std::atoi(argv[2]) : 6;
  const double rc = argc > 3 ? std::atof(argv[3]) : 5.0;
  const int reps = argc > 4 ? std::atoi(argv[4]) : 3;
  const std::string only = argc > 5 ? argv[5] : "";  // time one pass only (for profilers)
  Structure s;
  const double a = 3.61, basis[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
  std::mt19937 rng(42);
  std::normal_distribution<double> g(0.0, 0.05);
  for (int i = 0; i < reps; ++i)
    for (int j = 0; j < reps; ++j)
      for (int k = 0; k < reps; ++k)
        for (const auto& b : basis) {
          s.positions.conservativeResize(s.positions.rows() + 1, 3);
          s.positions.row(s.positions.rows() - 1) << (i + b[0]) * a + g(rng), (j + b[1]) * a + g(rng), (k + b[2]) * a + g(rng);
          s.numbers.push_back(29);
        }
  s.cell = Eigen::Matrix3d::Identity() * a * reps;
  s.pbc = {true, true, true};
  const auto d = make_descriptor("soap n_max=" + std::to_string(n_max) + " l_max=" + std::to_string(l_max) +
                                 " atom_sigma=0.5 cutoff=" + std::to_string(rc) + " cutoff_transition_width=0.5");
  for (bool grad : {false, true}) {
    if ((only == "values" && grad) || (only == "gradients" && !grad)) continue;
    double best = 1e30;
    for (int r = 0; r < 5; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const NeighbourList nl = build_neighbour_list(s, d->cutoff());
      const DescriptorData out = d->compute(s, nl, grad);
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::printf("n_max=%d l_max=%d rc=%.1f atoms=%d gradients=%d: %.1f us/atom\n", n_max, l_max, rc, s.size(), grad,
                1e6 * best / s.size());
  }
}
