#include <doctest/doctest.h>

#include "helpers.hpp"
#include "soapgap/descriptor.hpp"

using namespace soapgap;

namespace {
// d/dr of (cutoff * value) summed over environments: checks values and cutoff gradients together
double fd_error(const Descriptor& desc, const Structure& s) {
  auto total = [&](const Structure& t) {
    const DescriptorData d = desc.compute(t, build_neighbour_list(t, desc.cutoff()), false);
    double sum = 0.0;
    for (int e = 0; e < d.size(); ++e) sum += d.cutoff[e] * d.values.row(e).sum();
    return sum;
  };
  const DescriptorData d = desc.compute(s, build_neighbour_list(s, desc.cutoff()), true);
  Positions an = Positions::Zero(s.size(), 3);
  for (int e = 0; e < d.size(); ++e)
    for (int g = d.grad_offset[e]; g < d.grad_offset[e + 1]; ++g)
      for (int c = 0; c < 3; ++c)
        an(d.grad_atom[g], c) += d.cutoff[e] * d.grad_values.row(3 * g + c).sum() + d.grad_cutoff(g, c) * d.values.row(e).sum();
  double err = 0.0;
  const double h = 1e-5;
  for (int a = 0; a < s.size(); ++a)
    for (int c = 0; c < 3; ++c) {
      Structure p = s, m = s;
      p.positions(a, c) += h;
      m.positions(a, c) -= h;
      err = std::max(err, std::abs((total(p) - total(m)) / (2 * h) - an(a, c)));
    }
  return err / an.cwiseAbs().maxCoeff();
}
}  // namespace

TEST_CASE("distance_2b: both ordered pairs, shared by two atoms, FD gradients") {
  const auto d = make_descriptor("distance_2b cutoff=4.0 cutoff_transition_width=1.0");
  const Structure s = test::fcc(3.6, 1, 0.2, 3);
  const DescriptorData dd = d->compute(s, build_neighbour_list(s, 4.0), false);
  CHECK(dd.size() % 2 == 0);
  CHECK(dd.ci_offset[1] - dd.ci_offset[0] == 2);
  const double err = fd_error(*d, s);
  MESSAGE("distance_2b FD relative error: " << err);
  CHECK(err < 1e-6);
}

TEST_CASE("angle_3b: FD gradients including the cutoff product") {
  const auto d = make_descriptor("angle_3b cutoff=3.0 cutoff_transition_width=0.8");
  CHECK(d->dimension() == 3);
  const double err = fd_error(*d, test::fcc(3.6, 1, 0.2, 4));
  MESSAGE("angle_3b FD relative error: " << err);
  CHECK(err < 1e-6);
}
