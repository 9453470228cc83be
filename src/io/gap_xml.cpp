#include "soapgap/gap_xml.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <pugixml.hpp>
#include <set>
#include <iterator>
#include <memory>
#include <sstream>

#include "soapgap/atomic_file.hpp"
#include "soapgap/error.hpp"
#include "soapgap/sparse_selection.hpp"

namespace soapgap {

namespace fs = std::filesystem;

namespace {

// The gap_version soapgap writes: QUIP's gap_version of the conventions implemented here
// (2l+1 SOAP scaling, central_reference_all_species default, ...); quippy 0.10.x reads it.
constexpr long kWriteGapVersion = 1686220958;

double fortran_double(const std::string& text, const std::string& what) {
  std::string t = text;
  for (char& c : t)
    if (c == 'd' || c == 'D') c = 'e';
  try {
    size_t used = 0;
    const double v = std::stod(t, &used);
    while (used < t.size() && std::isspace(static_cast<unsigned char>(t[used]))) ++used;
    if (used != t.size() || !std::isfinite(v)) throw std::invalid_argument(t);
    return v;
  } catch (const std::exception&) {
    throw Error(what + ": '" + text + "' is not a number");
  }
}

int xml_int(const std::string& text, const std::string& what, int min_value) {
  const double v = fortran_double(text, what);
  if (v != std::floor(v) || v < min_value || v > 1e9) throw Error(what + ": '" + text + "' is not a valid count/index");
  return static_cast<int>(v);
}

std::vector<double> numbers_of(const std::string& text, const std::string& what) {
  std::istringstream is(text);
  std::vector<double> v;
  std::string t;
  while (is >> t) v.push_back(fortran_double(t, what));
  return v;
}

std::string attr(const pugi::xml_node& n, const char* name, const std::string& what, bool required = true) {
  const pugi::xml_attribute a = n.attribute(name);
  if (!a) {
    if (required) throw Error(what + ": <" + n.name() + "> has no attribute '" + name + "'");
    return "";
  }
  return a.value();
}

// Species a descriptor string names explicitly (0 = any).
void declared_species(const Options& o, std::set<int>& out, bool& wildcard) {
  std::vector<int> zs;
  auto add = [&](std::initializer_list<const char*> keys) {
    for (int z : o.get_ints(keys)) zs.push_back(z);
  };
  if (centred_with_channels(o.name())) {
    add({"Z"});
    add({"species_Z"});
    if (!o.has("species_Z")) wildcard = true;
  } else if (o.name() == "distance_2b") {
    add({"Z1"});
    add({"Z2"});
  } else {
    add({"Z", "Z_center"});
    add({"Z1"});
    add({"Z2"});
  }
  for (int z : zs)
    if (z > 0) out.insert(z);
    else wildcard = true;
  if (zs.empty()) wildcard = true;
}

}  // namespace

Potential read_gap_xml(const std::string& path, const GapXmlOptions& opt) {
  pugi::xml_document doc;
  const pugi::xml_parse_result res = doc.load_file(path.c_str());
  if (!res) throw Error(path + ": not a readable XML file (" + res.description() + " at byte " + std::to_string(res.offset) + ")");
  const pugi::xml_node root = doc.document_element();

  // <Potential init_args=...>: plain "IP GAP label=X" or a Sum with baselines
  std::string label;
  if (const pugi::xml_node pn = root.child("Potential")) {
    const std::string init = pn.attribute("init_args").value();
    const auto pos = init.find("IP GAP");
    if (pos == std::string::npos) throw Error(path + ": <Potential init_args=\"" + init + "\"> has no IP GAP part");
    const auto lab = init.find("label=", pos);
    if (lab != std::string::npos) {
      label = init.substr(lab + 6);
      label = label.substr(0, label.find_first_of(" }\""));
    }
    if (init.rfind("IP GAP", 0) != 0 && !opt.gap_only)
      throw Error(path + ": the potential is '" + init +
                  "': its baseline (non-GAP part) is not supported; use gap_only to evaluate the GAP part alone");
  }
  pugi::xml_node gp;
  for (pugi::xml_node n : root.children("GAP_params"))
    if (label.empty() || label == n.attribute("label").value()) {
      gp = n;
      break;
    }
  if (!gp) throw Error(path + ": no <GAP_params" + (label.empty() ? "" : " label=\"" + label + "\"") + "> element");
  const std::string version = attr(gp, "gap_version", path, false);
  long gap_version = 0;  // a date-like integer (1525123159); anything else is refused before the cast
  if (!version.empty()) {
    const double v = fortran_double(version, path + ": gap_version");
    if (v != std::floor(v) || v < 0 || v > 1e15) throw Error(path + ": gap_version '" + excerpt(version) + "' is not a version number");
    gap_version = static_cast<long>(v);
  }

  Potential p;
  p.metadata["source"] = path;
  p.metadata["gap_version"] = version;
  p.metadata["label"] = gp.attribute("label").value();

  const pugi::xml_node data = gp.child("GAP_data");
  if (!data) throw Error(path + ": <GAP_params> has no <GAP_data>");
  if (std::string(data.attribute("do_core").value()) == "T" && !opt.gap_only)
    throw Error(path + ": GAP_data do_core=T (a core/baseline potential) is not supported; use gap_only to evaluate the GAP part alone");
  if (data.attribute("do_pca") && std::string(data.attribute("do_pca").value()) == "T")
    throw Error(path + ": GAP_data do_pca=T is not supported");
  std::map<int, double> e0_all;
  if (data.attribute("e0")) {
    const double v = fortran_double(data.attribute("e0").value(), path + " GAP_data e0");
    for (int z = 1; z <= 116; ++z) e0_all[z] = v;
  }
  for (pugi::xml_node e : data.children("e0")) {
    const int z = xml_int(attr(e, "Z", path), path + ": e0 Z", 1);
    if (z > 118) throw Error(path + ": e0 Z=" + std::to_string(z) + " is not an atomic number");
    e0_all[z] = fortran_double(attr(e, "value", path), path + " e0");
  }

  const pugi::xml_node sparse = gp.child("gpSparse");
  if (!sparse) throw Error(path + ": no <gpSparse> element");
  if (sparse.attribute("fitted") && std::string(sparse.attribute("fitted").value()) == "F")
    throw Error(path + ": gpSparse fitted=F: the potential was never fitted");
  std::set<int> species;
  bool wildcard = false;
  const fs::path dir = fs::path(path).parent_path();
  int ic = 0;
  for (pugi::xml_node c : sparse.children("gpCoordinates")) {
    const std::string what = path + ": gpCoordinates " + std::to_string(++ic);
    Coordinate co;
    std::string desc = c.child_value("descriptor");
    Options o = Options::parse(desc, what);
    if (gap_version > 0 && !o.has("xml_version")) o.set("xml_version", std::to_string(gap_version));
    co.descriptor = make_descriptor(o);
    co.descriptor_string = co.descriptor->to_string();
    declared_species(o, species, wildcard);
    const int d = xml_int(attr(c, "dimensions", what), what + " dimensions", 1);
    if (d != co.descriptor->dimension())
      throw Error(what + ": dimensions=" + std::to_string(d) + " but the descriptor '" + desc + "' has dimension " +
                  std::to_string(co.descriptor->dimension()));
    const int type = xml_int(attr(c, "covariance_type", what), what + " covariance_type", 0);
    if (type == 2) {
      co.kernel.type = Kernel::Type::DotProduct;
      co.kernel.zeta = fortran_double(attr(c, "zeta", what), what + " zeta");
      if (!(co.kernel.zeta > 0)) throw Error(what + ": zeta must be positive");
    } else if (type == 1) {
      co.kernel.type = Kernel::Type::Gaussian;
      const auto th = numbers_of(c.child_value("theta"), what + " theta");
      if (static_cast<int>(th.size()) != d) throw Error(what + ": <theta> has " + std::to_string(th.size()) + " values, expected " + std::to_string(d));
      co.kernel.theta = Eigen::Map<const Eigen::VectorXd>(th.data(), d);
      if (!(co.kernel.theta.array() > 0).all()) throw Error(what + ": <theta> values must be positive");
    } else {
      throw Error(what + ": covariance_type=" + std::to_string(type) + " is not supported (1 gaussian, 2 dot_product)");
    }
    co.kernel.delta = fortran_double(attr(c, "signal_variance", what), what + " signal_variance");
    if (!(co.kernel.delta > 0)) throw Error(what + ": signal_variance (delta) must be positive");
    co.kernel.f0 = fortran_double(attr(c, "signal_mean", what, false).empty() ? "0" : attr(c, "signal_mean", what), what);
    const int nperm = xml_int(attr(c, "n_permutations", what, false).empty() ? "1" : attr(c, "n_permutations", what),
                              what + " n_permutations", 1);
    if (nperm != 1) throw Error(what + ": n_permutations=" + std::to_string(nperm) + " (symmetrised kernels) is not supported");
    const int m = xml_int(attr(c, "n_sparseX", what), what + " n_sparseX", 1);
    // every sparse point has its own <sparseX> element: a count beyond them is refused before allocating
    if (static_cast<size_t>(m) > static_cast<size_t>(std::distance(c.children("sparseX").begin(), c.children("sparseX").end())))
      throw Error(what + ": n_sparseX=" + std::to_string(m) + " but fewer <sparseX> entries");
    co.alpha.resize(m);
    co.sparse_cutoff.resize(m);
    co.sparse.resize(m, d);
    std::vector<int> seen(m, 0);
    int n_inline = 0;
    for (pugi::xml_node sx : c.children("sparseX")) {
      const int i = xml_int(attr(sx, "i", what), what + " sparseX i", 1) - 1;
      if (i < 0 || i >= m) throw Error(what + ": sparseX i=" + std::to_string(i + 1) + " out of range");
      co.alpha[i] = fortran_double(attr(sx, "alpha", what), what + " alpha");
      co.sparse_cutoff[i] = fortran_double(attr(sx, "sparseCutoff", what), what + " sparseCutoff");
      seen[i] = 1;
      std::string text = sx.child_value();
      for (pugi::xml_node sl : sx.children("sparseX_slice")) text += std::string(" ") + sl.child_value();
      const auto v = numbers_of(text, what + " sparseX");
      if (!v.empty()) {
        if (static_cast<int>(v.size()) != d) throw Error(what + ": sparseX " + std::to_string(i + 1) + " has " + std::to_string(v.size()) + " values");
        co.sparse.row(i) = Eigen::Map<const Eigen::RowVectorXd>(v.data(), d);
        ++n_inline;
      }
    }
    for (int i = 0; i < m; ++i)
      if (!seen[i]) throw Error(what + ": sparseX " + std::to_string(i + 1) + " is missing");
    if (n_inline != 0 && n_inline != m)
      throw Error(what + ": " + std::to_string(n_inline) + " of " + std::to_string(m) + " sparseX entries carry values inline");
    if (n_inline == 0) {
      const std::string fname = attr(c, "sparseX_filename", what);
      // QUIP reads the file relative to the working directory; try next to the XML first
      fs::path f = dir / fs::path(fname).filename();
      if (!fs::exists(f)) f = fname;
      if (!fs::exists(f))
        throw Error(what + ": sparse-point file '" + fname + "' not found next to the XML or in the working directory" +
                    (fs::exists(fname + ".bz2") || fs::exists(dir / (fname + ".bz2")) ? " (decompress the .bz2 first)" : ""));
      const RowMatrixXd S = read_sparse_points(f.string(), d);
      if (S.rows() != m)
        throw Error(f.string() + ": holds " + std::to_string(S.rows()) + " sparse points, the XML says " + std::to_string(m));
      co.sparse = S;
    }
    p.coordinates.push_back(std::move(co));
  }
  if (p.coordinates.empty()) throw Error(path + ": no <gpCoordinates> in <gpSparse>");
  // Known species: those the descriptors name; with wildcard descriptors, every element with an e0.
  if (wildcard) {
    for (const auto& [z, v] : e0_all) species.insert(z);
  }
  for (int z : species) p.e0[z] = e0_all.count(z) ? e0_all[z] : 0.0;
  return p;
}

void write_gap_xml(const Potential& p, const std::string& path, bool overwrite) {
  if (!p.baselines.empty())
    throw Error(path + ": this model has baselines (" + p.baselines.front()->kind() +
                (p.baselines.size() > 1 ? ", ..." : "") + "), which a QUIP/GAP XML file cannot carry; save it as .json");
  // gap_fit-style label from the current time (QUIP expects the numeric GAP_y_m_d_... form)
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch()).count();
  const std::time_t now = static_cast<std::time_t>(now_ms / 1000);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "GAP_%d_%d_%d_0_%d_%d_%d_%d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(now_ms % 1000));
  const std::string label = buf;
  auto num = [](double v) {
    char b[40];
    std::snprintf(b, sizeof(b), "%.17g", v);
    return std::string(b);
  };
  std::ostringstream x;
  x << "<" << label << ">\n";
  x << "<Potential label=\"" << label << "\" init_args=\"IP GAP label=" << label << "\"/>\n";
  x << "<GAP_params label=\"" << label << "\" gap_version=\"" << kWriteGapVersion << "\">\n";
  x << "  <GAP_data do_core=\"F\">\n";
  for (int z = 1; z <= 116; ++z) x << "    <e0 Z=\"" << z << "\" value=\"" << num(p.e0.count(z) ? p.e0.at(z) : 0.0) << "\"/>\n";
  x << "  </GAP_data>\n";
  x << "  <gpSparse label=\"" << label << "\" n_coordinate=\"" << p.coordinates.size() << "\" fitted=\"T\">\n";
  AtomicFile xml(path, overwrite);
  std::vector<std::unique_ptr<AtomicFile>> sparse_files;  // committed before the XML that names them
  int ic = 0;
  for (const auto& co : p.coordinates) {
    ++ic;
    const std::string clabel = label + std::to_string(ic);
    const std::string sfile = fs::path(path).filename().string() + ".sparseX." + clabel;
    const fs::path spath = fs::path(path).parent_path() / sfile;
    {
      sparse_files.push_back(std::make_unique<AtomicFile>(spath.string(), overwrite));
      std::ofstream& s = sparse_files.back()->stream();
      char b[40];
      for (int i = 0; i < co.sparse.rows(); ++i)
        for (int k = 0; k < co.sparse.cols(); ++k) {
          std::snprintf(b, sizeof(b), "%.20e\n", co.sparse(i, k));
          s << b;
        }
    }
    const int type = co.kernel.type == Kernel::Type::DotProduct ? 2 : 1;
    x << "    <gpCoordinates label=\"" << clabel << "\" dimensions=\"" << co.sparse.cols() << "\" signal_variance=\""
      << num(co.kernel.delta) << "\" signal_mean=\"" << num(co.kernel.f0) << "\" sparsified=\"T\" n_permutations=\"1\""
      << " covariance_type=\"" << type << "\"";
    if (type == 2) x << " zeta=\"" << num(co.kernel.zeta) << "\"";
    x << " n_sparseX=\"" << co.sparse.rows() << "\" sparseX_filename=\"" << sfile << "\">\n";
    if (type == 1) {
      x << "      <theta>";
      for (int k = 0; k < co.kernel.theta.size(); ++k) x << (k ? " " : "") << num(co.kernel.theta[k]);
      x << "</theta>\n";
    }
    x << "      <descriptor>" << co.descriptor_string << "</descriptor>\n";
    // identity permutation: one index for dot_product, one per dimension for gaussian kernels
    x << "      <permutation i=\"1\">";
    const int np = type == 2 ? 1 : static_cast<int>(co.sparse.cols());
    for (int k = 1; k <= np; ++k) x << (k > 1 ? " " : "") << k;
    x << "</permutation>\n";
    for (int i = 0; i < co.sparse.rows(); ++i)
      x << "      <sparseX i=\"" << i + 1 << "\" alpha=\"" << num(co.alpha[i]) << "\" sparseCutoff=\""
        << num(co.sparse_cutoff[i]) << "\"/>\n";
    x << "    </gpCoordinates>\n";
  }
  x << "  </gpSparse>\n";
  if (p.metadata.count("command_line"))
    x << "  <command_line><![CDATA[" << p.metadata.at("command_line") << "]]></command_line>\n";
  x << "</GAP_params>\n</" << label << ">\n";
  xml.stream() << x.str();
  for (auto& f : sparse_files) f->commit();
  xml.commit();
}

}  // namespace soapgap
