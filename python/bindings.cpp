// nanobind module: the thin layer between numpy/ASE and the C++ engine. No numerics here.
#include <nanobind/eigen/dense.h>
#include <nanobind/nanobind.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdio>

#include "soapgap/bessel.hpp"
#include "soapgap/descriptor.hpp"
#include "soapgap/error.hpp"
#include "soapgap/extxyz.hpp"
#include "soapgap/fit.hpp"
#include "soapgap/gap_xml.hpp"
#include "soapgap/hyperparameters.hpp"
#include "soapgap/model_baseline.hpp"
#include "soapgap/model_file.hpp"
#include "soapgap/potential.hpp"
#include "soapgap/structure_kernel.hpp"

namespace nb = nanobind;
using namespace soapgap;

namespace {

Structure make_structure(const Eigen::Ref<const RowMatrixXd>& positions, const std::vector<int>& numbers,
                         const Eigen::Matrix3d& cell, const std::vector<bool>& pbc) {
  if (positions.cols() != 3) throw Error("positions must have shape (n, 3)");
  if (positions.rows() != static_cast<Eigen::Index>(numbers.size())) throw Error("positions and numbers differ in length");
  if (pbc.size() != 3) throw Error("pbc must have 3 entries");
  Structure s;
  s.positions = positions;
  s.numbers = numbers;
  s.cell = cell;
  s.pbc = {pbc[0], pbc[1], pbc[2]};
  return s;
}

// Large arrays are moved into numpy (no copy): gradients can be hundreds of MB.
nb::dict descriptor_dict(DescriptorData&& d, bool grads) {
  nb::dict out;
  if (grads && d.size() == 0) {  // no environment: empty arrays of the right shapes
    d.grad_values.resize(0, d.dim);
    d.grad_rel.resize(0, 3);
    d.grad_cutoff.resize(0, 3);
  }
  out["values"] = nb::cast(std::move(d.values));
  out["cutoff"] = d.cutoff;
  out["ci"] = d.ci;
  out["ci_offset"] = d.ci_offset;
  if (grads) {
    out["grad_values"] = nb::cast(std::move(d.grad_values));  // (3 n_grad, dim); reshaped in Python
    out["grad_atom"] = d.grad_atom;
    out["grad_offset"] = d.grad_offset;
    out["grad_rel"] = nb::cast(RowMatrixXd(d.grad_rel));
    out["grad_cutoff"] = nb::cast(RowMatrixXd(d.grad_cutoff));
  }
  return out;
}

StructureKernelSettings kernel_settings(const std::string& kind, int zeta, bool normalise, double gamma, double tolerance,
                                        int max_iterations) {
  StructureKernelSettings st;
  st.kind = StructureKernelSettings::parse_kind(kind);
  st.zeta = zeta;
  st.normalise = normalise;
  st.rematch = {gamma, tolerance, max_iterations};
  return st;
}

// Progress on stderr from C++ (the kernel loop runs without the GIL).
void print_progress(long long done, long long total) {
  std::fprintf(stderr, "\rstructure kernel: %lld / %lld pairs (%.0f %%)%s", done, total, 100.0 * done / std::max(total, 1LL),
               done == total ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace

NB_MODULE(_soapgap, m) {
  nb::exception<Error>(m, "SoapgapError", PyExc_ValueError);

  nb::class_<Structure>(m, "Structure")
      .def(nb::new_(&make_structure), nb::arg("positions"), nb::arg("numbers"), nb::arg("cell"), nb::arg("pbc"))
      .def_prop_ro("positions", [](const Structure& s) { return RowMatrixXd(s.positions); })
      .def_prop_ro("numbers", [](const Structure& s) { return s.numbers; })
      .def_prop_ro("cell", [](const Structure& s) { return s.cell; })
      .def_prop_ro("pbc", [](const Structure& s) { return std::vector<bool>(s.pbc.begin(), s.pbc.end()); })
      .def_rw("source", &Structure::source)
      .def_rw("frame", &Structure::frame)
      .def("set_info_reals", [](Structure& s, const std::string& k, std::vector<double> v) { s.info[k] = InfoValue::real(std::move(v)); })
      .def("set_info_string", [](Structure& s, const std::string& k, std::string v) { s.info[k] = InfoValue::string(std::move(v)); })
      .def("set_array", [](Structure& s, const std::string& k, const RowMatrixXd& v) {
        AtomArray a;
        a.numbers = v;
        s.arrays[k] = std::move(a);
      })
      .def("info", [](const Structure& s) {
        nb::dict d;
        for (const auto& [k, v] : s.info) {
          if (v.kind == InfoValue::Kind::String) d[k.c_str()] = v.text;
          else d[k.c_str()] = v.numbers;
        }
        return d;
      })
      .def("arrays", [](const Structure& s) {
        nb::dict d;
        for (const auto& [k, v] : s.arrays)
          if (v.kind != InfoValue::Kind::String) d[k.c_str()] = v.numbers;
        return d;
      });

  m.def("read_extxyz", &read_extxyz, nb::arg("path"));
  m.def("write_extxyz", [](const std::string& path, const std::vector<Structure>& frames, bool overwrite) {
    ExtxyzWriter w(path, overwrite);  // closed below, after every frame is written
    for (const auto& s : frames) w.write(s);
    w.close();
  }, nb::arg("path"), nb::arg("frames"), nb::arg("overwrite") = false);

  nb::class_<Descriptor>(m, "Descriptor")
      .def_static("create", [](const std::string& text) {
        const Options o = Options::parse(text);
        check_gap_term_keys(o);  // a gap term string is accepted; an unknown key is not
        return std::shared_ptr<Descriptor>(make_descriptor(o));
      })
      .def_prop_ro("dimension", &Descriptor::dimension)
      .def_prop_ro("cutoff", &Descriptor::cutoff)
      .def_prop_ro("kind", &Descriptor::kind)
      .def("__str__", &Descriptor::to_string)
      .def("compute", [](const Descriptor& d, const Structure& s, bool gradients) {
        DescriptorData data;
        {
          nb::gil_scoped_release release;
          const NeighbourList nl = build_neighbour_list(s, d.cutoff());
          data = d.compute(s, nl, gradients);
        }
        return descriptor_dict(std::move(data), gradients);
      }, nb::arg("structure"), nb::arg("gradients") = false);
  m.def("expand_species", [](const std::string& text, const std::vector<int>& species) {
    return expand_species(Options::parse(text), species);
  });
  m.def("split_gap_string", &split_gap_string);
  // exposed for the precision test against mpmath (tests/python/test_bessel.py)
  m.def("_scaled_bessel_i", [](int count, double alpha, double r, double ra) {
    std::vector<double> g(count);
    ScaledBesselI(count).compute(alpha, r, ra, g.data());
    return g;
  });

  nb::class_<FitOptions>(m, "FitOptions")
      .def(nb::init<>())
      .def_rw("gap", &FitOptions::gap)
      .def_prop_rw("default_sigma", [](const FitOptions& o) { return std::vector<double>(o.default_sigma.begin(), o.default_sigma.end()); },
                   [](FitOptions& o, const std::vector<double>& v) {
                     if (v.size() < 3) throw Error("default_sigma needs 3 values (energy, force, virial)");
                     o.default_sigma = {v[0], v[1], v[2]};
                   })
      .def("set_config_type_sigma", [](FitOptions& o, const std::string& ct, const std::vector<double>& v) {
        if (v.size() < 3) throw Error("config_type_sigma for '" + ct + "' needs 3 values (energy, force, virial)");
        o.config_type_sigma[ct] = {v[0], v[1], v[2]};
      })
      .def_rw("sigma_per_atom", &FitOptions::sigma_per_atom)
      .def_rw("e0", &FitOptions::e0)
      .def_rw("e0_method", &FitOptions::e0_method)
      .def_rw("e0_offset", &FitOptions::e0_offset)
      .def_rw("sparse_jitter", &FitOptions::sparse_jitter)
      .def_rw("energy_key", &FitOptions::energy_key)
      .def_rw("force_key", &FitOptions::force_key)
      .def_rw("virial_key", &FitOptions::virial_key)
      .def_rw("stress_key", &FitOptions::stress_key)
      .def_rw("config_type_key", &FitOptions::config_type_key)
      .def_rw("seed", &FitOptions::seed)
      .def_rw("block_rows", &FitOptions::block_rows)
      .def_rw("fitc", &FitOptions::fitc)
      .def("set_force_noise", [](FitOptions& o, const std::vector<double>& edges, const std::vector<double>& factors) {
        o.force_noise = {edges, factors};
        o.force_noise.check();
      })
      .def_rw("log", &FitOptions::log)
      .def("add_baseline", [](FitOptions& o, const std::string& spec) { o.baselines.push_back(make_baseline(spec)); },
           nb::arg("spec"))
      .def("add_baseline_model", [](FitOptions& o, const Potential& p, const std::string& source) {
        o.baselines.push_back(std::make_shared<const ModelBaseline>(std::make_shared<const Potential>(p), source));
      }, nb::arg("model"), nb::arg("source"));

  nb::class_<Potential>(m, "Potential")
      .def_static("fit", [](const std::vector<Structure>& frames, FitOptions opt, const Potential* sparse_from) {
        opt.sparse_from = sparse_from;
        nb::gil_scoped_release release;  // log callbacks re-acquire the GIL through nanobind
        return fit(frames, opt);
      }, nb::arg("frames"), nb::arg("options"), nb::arg("sparse_from").none() = nb::none())
      .def_static("fit_optimising_hyperparameters", [](const std::vector<Structure>& frames, FitOptions opt,
                                                        const Potential* sparse_from, const std::string& noise,
                                                        int force_bins) {
        opt.sparse_from = sparse_from;
        HyperparameterFit r;
        {
          nb::gil_scoped_release release;
          r = fit_with_optimised_hyperparameters(frames, opt, parse_noise_groups(noise), force_bins);
        }
        nb::dict d;
        d["model"] = std::move(r.model);
        d["gap"] = r.options.gap;
        d["default_sigma"] = std::vector<double>(r.options.default_sigma.begin(), r.options.default_sigma.end());
        nb::dict cts;
        for (const auto& [ct, s] : r.options.config_type_sigma) cts[ct.c_str()] = std::vector<double>(s.begin(), s.end());
        d["config_type_sigma"] = cts;
        if (!r.options.force_noise.empty())
          d["force_noise"] = nb::make_tuple(r.options.force_noise.edges, r.options.force_noise.factors);
        else
          d["force_noise"] = nb::none();
        d["log_likelihood"] = r.optimum.log_likelihood;
        d["initial_log_likelihood"] = r.optimum.initial;
        d["refit_log_likelihood"] = r.refit_log_likelihood;
        d["iterations"] = r.optimum.iterations;
        return d;
      }, nb::arg("frames"), nb::arg("options"), nb::arg("sparse_from").none() = nb::none(),
         nb::arg("noise") = "per_kind", nb::arg("force_bins") = 1)
      .def_static("load", &load_potential, nb::arg("path"), nb::arg("gap_only") = false)
      .def("write_gap_xml", [](const Potential& p, const std::string& path, bool overwrite) { write_gap_xml(p, path, overwrite); },
           nb::arg("path"), nb::arg("overwrite") = false)
      .def_static("from_string", [](const std::string& t) { return model_from_string(t); })
      .def("save", [](const Potential& p, const std::string& path, bool overwrite) { save_model(p, path, overwrite); },
           nb::arg("path"), nb::arg("overwrite") = false)
      .def("to_string", [](const Potential& p) { return model_to_string(p); })
      .def_static("from_baselines", [](const std::vector<std::string>& specs) {
        Potential p;
        for (const auto& sp : specs) p.baselines.push_back(make_baseline(sp));
        p.metadata["kind"] = "baselines";
        return p;
      }, nb::arg("specs"))
      .def_prop_ro("baselines", [](const Potential& p) {
        std::vector<std::string> out;
        for (const auto& b : p.baselines) out.push_back(b->to_string());
        return out;
      })
      .def_prop_ro("cutoff", &Potential::cutoff)
      .def_prop_ro("n_sparse", &Potential::n_sparse_total)
      .def_prop_ro("species", &Potential::species)
      .def_prop_ro("e0", [](const Potential& p) { return p.e0; })
      .def_prop_ro("metadata", [](const Potential& p) { return p.metadata; })
      .def_prop_ro("descriptors", [](const Potential& p) {
        std::vector<std::string> out;
        for (const auto& c : p.coordinates) out.push_back(c.descriptor_string);
        return out;
      })
      .def("local_gap_variance", [](const Potential& p, const Structure& s, double r) {
        nb::gil_scoped_release release;
        return p.local_gap_variance(s, r);
      }, nb::arg("structure"), nb::arg("regularisation") = 1e-3)
      .def("predict", [](const Potential& p, const Structure& s, bool forces, bool variance, bool total_variance,
                         bool atom_virials, bool force_variance, bool sor) {
        Prediction r;
        {
          nb::gil_scoped_release release;
          PredictOptions o;
          o.forces = forces;
          o.variance = variance;
          o.total_variance = total_variance;
          o.atom_virials = atom_virials;
          o.force_variance = force_variance;
          o.subset_of_regressors = sor;
          r = p.predict(s, o);
        }
        nb::dict d;
        if (atom_virials) d["atom_virials"] = r.atom_virials;
        d["energy"] = r.energy;
        d["energies"] = r.energies;
        if (forces) {
          d["forces"] = RowMatrixXd(r.forces);
          d["virial"] = r.virial;
        }
        if (r.has_std) {
          d["energy_std"] = r.energy_std;
          d["energies_std"] = r.energies_std;
        }
        if (force_variance) {
          d["forces_std"] = RowMatrixXd(r.forces_std);
          d["virial_std"] = r.virial_std;
        }
        return d;
      }, nb::arg("structure"), nb::arg("forces") = true, nb::arg("variance") = false, nb::arg("total_variance") = false,
         nb::arg("atom_virials") = false, nb::arg("force_variance") = false, nb::arg("sor") = false);

  // Structure kernels (similarity layer).
  nb::class_<EnvironmentSet>(m, "EnvironmentSet")
      .def_prop_ro("size", &EnvironmentSet::size)
      .def_ro("descriptor", &EnvironmentSet::descriptor)
      .def_prop_ro("rows", [](const EnvironmentSet& e) { return e.rows; })
      .def_prop_ro("offset", [](const EnvironmentSet& e) { return std::vector<long long>(e.offset.begin(), e.offset.end()); });
  m.def("default_similarity_descriptor", &default_similarity_descriptor, nb::arg("a"), nb::arg("b") = std::vector<Structure>{});
  m.def("environment_set", [](const Descriptor& d, const std::vector<Structure>& structures) {
    nb::gil_scoped_release release;
    return environment_set(d, structures);
  }, nb::arg("descriptor"), nb::arg("structures"));
  m.def("structure_kernel_matrix", [](const EnvironmentSet& a, std::optional<const EnvironmentSet*> b, const std::string& kind,
                                      int zeta, bool normalise, double gamma, double tolerance, int max_iterations, bool progress) {
    const StructureKernelSettings st = kernel_settings(kind, zeta, normalise, gamma, tolerance, max_iterations);
    nb::gil_scoped_release release;
    return structure_kernel_matrix(a, b ? *b : nullptr, st, progress ? Progress(print_progress) : Progress());
  }, nb::arg("a"), nb::arg("b").none(), nb::arg("kind"), nb::arg("zeta"), nb::arg("normalise"), nb::arg("gamma"),
     nb::arg("tolerance"), nb::arg("max_iterations"), nb::arg("progress"));
  // the reductions on a given environment kernel matrix, for tests against scipy and DScribe
  m.def("_structure_kernel_value", [](const RowMatrixXd& C, const std::string& kind, double gamma, double tolerance,
                                      int max_iterations) {
    return structure_kernel_value(C, kernel_settings(kind, 1, false, gamma, tolerance, max_iterations));
  });
  m.def("_linear_sum_assignment", &linear_sum_assignment);
  m.def("_rematch", [](const RowMatrixXd& C, double gamma, double tolerance, int max_iterations) {
    const RematchSettings st{gamma, tolerance, max_iterations};
    const RematchResult r = rematch(C, st);
    nb::dict d;
    d["value"] = r.value;
    d["plan"] = rematch_plan(C, st);
    d["iterations"] = r.iterations;
    d["log_domain"] = r.log_domain;
    d["marginal_error"] = r.marginal_error;
    return d;
  });
}
