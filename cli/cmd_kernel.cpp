// soapgap kernel: structure kernel (or kernel distance) matrix of a dataset, or of two, to .npy.
#include <cmath>
#include <cstdio>
#include <iostream>

#include "args.hpp"
#include "soapgap/error.hpp"
#include "soapgap/extxyz.hpp"
#include "soapgap/fit.hpp"
#include "soapgap/npy.hpp"
#include "soapgap/structure_kernel.hpp"

namespace soapgap::cli {

namespace {
const std::vector<OptionSpec> kSpec = {
    {"input", true, "extended-XYZ file (rows of the matrix)"},
    {"against", true, "second extended-XYZ file (columns); default: --input against itself"},
    {"descriptor", true, "descriptor string; default: SOAP n_max=8 l_max=6 atom_sigma=0.5 cutoff=5 over the species present"},
    {"kind", true, "average | sum | best-match | rematch", "average"},
    {"zeta", true, "environment kernel exponent (positive integer)", "1"},
    {"gamma", true, "REMatch regularisation (> 0)", "0.1"},
    {"tolerance", true, "REMatch: bound on the plan's marginal error (L1)", "1e-10"},
    {"max-iterations", true, "REMatch: Sinkhorn iteration cap", "100000"},
    {"no-normalise", false, "keep K(A,B) unnormalised (default: K(A,B)/sqrt(K(A,A)K(B,B)))"},
    {"distance", false, "write the kernel distance sqrt(2 - 2K) instead of K"},
    {"output", true, "output .npy file", "kernel.npy"},
    {"overwrite", false, "overwrite an existing output file"},
    {"quiet", false, "no progress on stderr"},
    {"threads", true, "OpenMP threads"},
};

void print_progress(long long done, long long total) {
  std::fprintf(stderr, "\r  %lld / %lld structure pairs (%.0f %%)%s", done, total, 100.0 * done / std::max(total, 1LL),
               done == total ? "\n" : "");
  std::fflush(stderr);
}
}  // namespace

int cmd_kernel(int argc, char** argv) {
  const Args a = parse_args(argc, argv, 2, kSpec, false);
  if (a.help) {
    std::cout << usage("kernel",
                       "Structure kernel matrix K (n_input x n_against, float64 .npy) from the environment kernel\n"
                       "C_ij = (x_i.y_j)^zeta of unit-normalised descriptors: average, sum (extensive), best-match\n"
                       "(optimal assignment; the smaller structure padded with null environments) or REMatch\n"
                       "(entropy-regularised matching, Sinkhorn). Normalised so K(A,A) = 1; distance D = sqrt(2-2K).",
                       kSpec);
    return 0;
  }
  set_threads(a);
  if (!a.has("input")) throw Error("give --input FILE");
  const std::vector<Structure> A = read_extxyz(a.get("input"));
  const std::vector<Structure> B = a.has("against") ? read_extxyz(a.get("against")) : std::vector<Structure>{};
  if (A.empty()) throw Error(a.get("input") + ": no frames");
  if (a.has("against") && B.empty()) throw Error(a.get("against") + ": no frames");
  const std::string text = a.has("descriptor") ? a.get("descriptor") : default_similarity_descriptor(A, B);
  const Options dopts = Options::parse(text, "--descriptor");
  check_gap_term_keys(dopts);
  const auto desc = make_descriptor(dopts);

  StructureKernelSettings st;
  st.kind = StructureKernelSettings::parse_kind(a.get("kind"));
  const long zeta = a.integer("zeta");
  if (zeta < 1 || zeta > 64) throw Error("--zeta must be an integer from 1 to 64, got " + a.get("zeta"));
  st.zeta = static_cast<int>(zeta);
  st.normalise = !a.has("no-normalise");
  const long iters = a.integer("max-iterations");
  if (iters < 1 || iters > 100000000) throw Error("--max-iterations must be from 1 to 1e8, got " + a.get("max-iterations"));
  st.rematch = {a.number("gamma"), a.number("tolerance"), static_cast<int>(iters)};
  if (a.has("distance") && !st.normalise) throw Error("--distance needs the normalised kernel (drop --no-normalise)");
  const bool quiet = a.has("quiet");

  if (!quiet) std::cerr << "descriptor: " << desc->to_string() << "\n";
  const EnvironmentSet ea = environment_set(*desc, A);
  const EnvironmentSet eb = B.empty() ? EnvironmentSet{} : environment_set(*desc, B);
  if (!quiet)
    std::cerr << ea.size() << (B.empty() ? "" : " x " + std::to_string(eb.size())) << " structures, "
              << ea.rows.rows() + eb.rows.rows() << " environments of dimension " << desc->dimension() << "\n";
  RowMatrixXd K = structure_kernel_matrix(ea, B.empty() ? nullptr : &eb, st, quiet ? Progress() : Progress(print_progress));
  if (a.has("distance")) K = (2.0 - 2.0 * K.array()).max(0.0).sqrt().matrix();
  write_npy(a.get("output"), K.data(), {static_cast<size_t>(K.rows()), static_cast<size_t>(K.cols())}, a.has("overwrite"));
  std::cout << (a.has("distance") ? "distance" : "kernel") << " matrix " << K.rows() << " x " << K.cols() << " -> "
            << a.get("output") << "\n";
  return 0;
}

}  // namespace soapgap::cli
