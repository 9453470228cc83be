// soapgap descriptor: descriptor vectors (and gradients) of every frame to .npy files.
#include <iostream>

#include "args.hpp"
#include "soapgap/descriptor.hpp"
#include "soapgap/error.hpp"
#include "soapgap/extxyz.hpp"
#include "soapgap/fit.hpp"
#include "soapgap/npy.hpp"

namespace soapgap::cli {

namespace {
const std::vector<OptionSpec> kSpec = {
    {"input", true, "extended-XYZ file"},
    {"descriptor", true, "descriptor string, e.g. \"soap n_max=8 l_max=6 atom_sigma=0.5 cutoff=5\""},
    {"output", true, "output prefix: writes PREFIX.values.npy and PREFIX.index.npy", "descriptors"},
    {"gradients", false, "also write PREFIX.grad_values.npy (n_grad,3,dim) and PREFIX.grad_index.npy"},
    {"overwrite", false, "overwrite existing output files"},
    {"threads", true, "OpenMP threads"},
};
}  // namespace

int cmd_descriptor(int argc, char** argv) {
  const Args a = parse_args(argc, argv, 2, kSpec, false);
  if (a.help) {
    std::cout << usage("descriptor",
                       "Compute descriptors of every environment of every frame.\n"
                       "PREFIX.values.npy: (n_env, dim); PREFIX.index.npy: (n_env, 2) = [frame, centre atom].\n"
                       "With --gradients, PREFIX.grad_values.npy: (n_grad, 3, dim) = d values / d r and\n"
                       "PREFIX.grad_index.npy: (n_grad, 3) = [frame, environment row in values, atom].",
                       kSpec);
    return 0;
  }
  set_threads(a);
  if (!a.has("input")) throw Error("give --input FILE");
  if (!a.has("descriptor")) throw Error("give --descriptor \"soap ...\"");
  const Options dopts = Options::parse(a.get("descriptor"), "--descriptor");
  check_gap_term_keys(dopts);
  const auto desc = make_descriptor(dopts);
  const bool grads = a.has("gradients");
  const std::string pre = a.get("output");
  const bool ow = a.has("overwrite");
  std::vector<double> values, gvalues;
  std::vector<long> index, gindex;
  long n_env = 0, n_grad = 0;
  ExtxyzReader reader(a.get("input"));
  long frame = 0;
  while (auto s = reader.next()) {
    const DescriptorData d = desc->compute(*s, build_neighbour_list(*s, desc->cutoff()), grads);
    values.insert(values.end(), d.values.data(), d.values.data() + d.values.size());
    for (int e = 0; e < d.size(); ++e) index.insert(index.end(), {frame, d.ci[d.ci_offset[e]]});
    if (grads) {
      gvalues.insert(gvalues.end(), d.grad_values.data(), d.grad_values.data() + d.grad_values.size());
      for (int e = 0; e < d.size(); ++e)
        for (int g = d.grad_offset[e]; g < d.grad_offset[e + 1]; ++g) gindex.insert(gindex.end(), {frame, n_env + e, d.grad_atom[g]});
      n_grad += static_cast<long>(d.grad_atom.size());
    }
    n_env += d.size();
    ++frame;
  }
  const size_t dim = desc->dimension();
  write_npy(pre + ".values.npy", values.data(), {static_cast<size_t>(n_env), dim}, ow);
  write_npy(pre + ".index.npy", index.data(), {static_cast<size_t>(n_env), 2}, ow);
  if (grads) {
    write_npy(pre + ".grad_values.npy", gvalues.data(), {static_cast<size_t>(n_grad), 3, dim}, ow);
    write_npy(pre + ".grad_index.npy", gindex.data(), {static_cast<size_t>(n_grad), 3}, ow);
  }
  std::cout << frame << " frames, " << n_env << " environments of dimension " << dim << " -> " << pre << ".*.npy\n";
  return 0;
}

}  // namespace soapgap::cli
