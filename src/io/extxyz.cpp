#include "soapgap/extxyz.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "soapgap/error.hpp"

namespace soapgap {

std::string format_double(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

namespace {

bool parse_double(const std::string& t, double& v) {
  if (t.empty()) return false;
  const char* b = t.data();
  const char* e = b + t.size();
  if (*b == '+') ++b;
  auto res = std::from_chars(b, e, v);
  if (res.ec == std::errc() && res.ptr == e) return std::isfinite(v);
  if (res.ec == std::errc::result_out_of_range && res.ptr == e) {  // 1e999 is infinite, 1e-999 is 0
    v = std::strtod(std::string(b, e).c_str(), nullptr);
    return std::isfinite(v);
  }
  // Fortran-style exponents (1.0D+00)
  std::string u = t;
  for (char& c : u)
    if (c == 'd' || c == 'D') c = 'e';
  if (u != t) return parse_double(u, v);
  return false;
}

bool parse_bool(const std::string& t, bool& v) {
  if (t == "T" || t == "True" || t == "true" || t == "TRUE") return v = true, true;
  if (t == "F" || t == "False" || t == "false" || t == "FALSE") return v = false, true;
  return false;
}

bool is_integer(const std::string& t) {
  size_t i = (!t.empty() && (t[0] == '-' || t[0] == '+')) ? 1 : 0;
  if (i >= t.size()) return false;
  for (; i < t.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(t[i]))) return false;
  return true;
}

std::vector<std::string> split_ws(const std::string& s) {
  std::istringstream is(s);
  std::vector<std::string> out;
  std::string t;
  while (is >> t) out.push_back(t);
  return out;
}

// A token that reads as a number but is not finite (nan, inf): refused wherever numbers are read.
bool non_finite_number(const std::string& t) {
  double v;
  const char* b = t.data() + (!t.empty() && t[0] == '+' ? 1 : 0);
  const auto res = std::from_chars(b, t.data() + t.size(), v);
  if (res.ptr != t.data() + t.size()) return false;
  if (res.ec == std::errc::result_out_of_range) return !std::isfinite(std::strtod(std::string(b).c_str(), nullptr));
  return res.ec == std::errc() && !std::isfinite(v);
}

// Interpret a value string the way ASE does: numbers -> Real/Integer arrays, T/F -> Logical,
// otherwise a String. `what` names the file, frame and field for errors.
InfoValue interpret(std::string v, const std::string& what) {
  if (v.size() >= 2 && v.front() == '[' && v.back() == ']') {  // JSON-ish arrays
    std::string u;
    for (char c : v) u += (c == '[' || c == ']' || c == ',') ? ' ' : c;
    InfoValue r = interpret(u, what);
    if (r.kind != InfoValue::Kind::String) return r;
  }
  if (v.size() >= 2 && v.front() == '{' && v.back() == '}') v = v.substr(1, v.size() - 2);
  const auto tok = split_ws(v);
  InfoValue out;
  if (tok.empty()) return InfoValue::string(v);
  bool all_int = true, all_num = true, all_bool = true;
  std::vector<double> nums, bools;
  for (const auto& t : tok) {
    double d;
    bool b;
    if (non_finite_number(t)) throw Error(what + ": '" + excerpt(t) + "' is not a finite number");
    if (!is_integer(t)) all_int = false;
    if (parse_double(t, d)) nums.push_back(d); else all_num = false;
    if (parse_bool(t, b)) bools.push_back(b); else all_bool = false;
  }
  if (all_num) {
    out.kind = all_int ? InfoValue::Kind::Integer : InfoValue::Kind::Real;
    out.numbers = nums;
    return out;
  }
  if (all_bool) {
    out.kind = InfoValue::Kind::Logical;
    out.numbers = bools;
    return out;
  }
  return InfoValue::string(v);
}

// key=value pairs of the comment line; values may be "quoted" (with \" escapes) or {braced}.
std::vector<std::pair<std::string, std::string>> tokenize_comment(const std::string& line,
                                                                  const std::string& ctx) {
  std::vector<std::pair<std::string, std::string>> kv;
  size_t i = 0;
  const size_t n = line.size();
  auto skip = [&] {
    while (i < n && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
  };
  auto read_token = [&](bool stop_at_eq) {
    std::string t;
    if (i < n && (line[i] == '"' || line[i] == '\'')) {
      const char q = line[i++];
      while (i < n && line[i] != q) {
        if (line[i] == '\\' && i + 1 < n) ++i;
        t += line[i++];
      }
      if (i >= n) throw Error(ctx + "unterminated quoted string in comment line");
      ++i;
      return t;
    }
    if (i < n && (line[i] == '{' || line[i] == '[')) {
      const char open = line[i], close = open == '{' ? '}' : ']';
      int depth = 0;
      do {
        if (line[i] == open) ++depth;
        if (line[i] == close) --depth;
        t += line[i++];
      } while (i < n && depth > 0);
      if (depth != 0) throw Error(ctx + "unbalanced brackets in comment line");
      return t;
    }
    while (i < n && !std::isspace(static_cast<unsigned char>(line[i])) && !(stop_at_eq && line[i] == '='))
      t += line[i++];
    return t;
  };
  while (true) {
    skip();
    if (i >= n) break;
    std::string key = read_token(true);
    skip();
    std::string value = "T";  // bare key = logical true, like ASE
    if (i < n && line[i] == '=') {
      ++i;
      skip();
      value = read_token(false);
    }
    if (key.empty()) throw Error(ctx + "empty key in comment line");
    kv.emplace_back(key, value);
  }
  return kv;
}

struct Column {
  std::string name;
  char type;
  int width;
};

}  // namespace

ExtxyzReader::ExtxyzReader(const std::string& path) : path_(path), in_(path) {
  if (std::filesystem::is_directory(path)) throw Error(path + ": is a directory, not an extended-XYZ file");
  if (!in_) throw Error(path + ": cannot open file for reading");
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec) size_ = static_cast<long long>(size);
}

std::optional<Structure> ExtxyzReader::next() {
  std::string line;
  // skip blank lines between frames
  while (true) {
    if (!std::getline(in_, line)) return std::nullopt;
    ++line_;
    if (line.find_first_not_of(" \t\r") != std::string::npos) break;
  }
  const long frame = frame_;
  const std::string ctx0 = where(path_, frame, line_);
  long natoms = -1;
  {
    const auto tok = split_ws(line);
    if (tok.size() != 1 || !is_integer(tok[0]))
      throw Error(ctx0 + "expected the number of atoms, got '" + excerpt(line) + "'" +
                  (frame > 0 ? " (wrong atom count in frame " + std::to_string(frame - 1) + "?)" : ""));
    try {
      natoms = std::stol(tok[0]);
    } catch (const std::exception&) {
      natoms = -1;
    }
    if (natoms < 0 || natoms > 100000000)
      throw Error(ctx0 + "number of atoms '" + excerpt(tok[0]) + "' is negative or absurdly large (corrupt file?)");
  }
  if (!std::getline(in_, line)) throw Error(where(path_, frame, line_ + 1) + "file ends before the comment line");
  ++line_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const std::string ctx = where(path_, frame, line_);

  Structure s;
  s.source = path_;
  s.frame = frame;
  std::vector<Column> cols = {{"species", 'S', 1}, {"pos", 'R', 3}};
  bool have_lattice = false, have_pbc = false;
  for (auto& [key, value] : tokenize_comment(line, ctx)) {
    if (key == "Lattice") {
      InfoValue v = interpret(value, ctx + "field 'Lattice'");
      if (v.kind == InfoValue::Kind::String || v.numbers.size() != 9)
        throw Error(ctx + "field 'Lattice' must hold 9 numbers, got '" + excerpt(value) + "'");
      for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) s.cell(r, c) = v.numbers[3 * r + c];
      have_lattice = true;
    } else if (key == "Properties") {
      cols.clear();
      std::vector<std::string> parts;
      std::stringstream ss(value);
      std::string p;
      while (std::getline(ss, p, ':')) parts.push_back(p);
      if (parts.size() % 3 != 0 || parts.empty())
        throw Error(ctx + "field 'Properties' is malformed: '" + excerpt(value) + "'");
      for (size_t k = 0; k < parts.size(); k += 3) {
        if (parts[k + 1].size() != 1 || std::string("RISL").find(parts[k + 1][0]) == std::string::npos ||
            !is_integer(parts[k + 2]) || parts[k + 2].size() > 4 || std::stoi(parts[k + 2]) < 1)
          throw Error(ctx + "field 'Properties': bad column '" + excerpt(parts[k] + ":" + parts[k + 1] + ":" + parts[k + 2]) + "'");
        const std::string name = parts[k] == "positions" ? "pos" : parts[k];
        for (const auto& c : cols)
          if (c.name == name) throw Error(ctx + "field 'Properties': column '" + excerpt(parts[k]) + "' given twice");
        cols.push_back({name, parts[k + 1][0], std::stoi(parts[k + 2])});
      }
    } else if (key == "pbc") {
      InfoValue v = interpret(value, ctx + "field 'pbc'");
      if (v.kind != InfoValue::Kind::Logical || v.numbers.size() != 3)
        throw Error(ctx + "field 'pbc' must be three logicals, got '" + excerpt(value) + "'");
      for (int k = 0; k < 3; ++k) s.pbc[k] = v.numbers[k] != 0;
      have_pbc = true;
    } else {
      s.info[key] = interpret(value, ctx + "field '" + excerpt(key) + "'");
    }
  }
  if (have_lattice && !have_pbc) s.pbc = {true, true, true};  // ASE default with a Lattice

  int species_col = -1, z_col = -1, pos_col = -1;
  for (size_t c = 0; c < cols.size(); ++c) {
    if (cols[c].name == "species") species_col = static_cast<int>(c);
    if (cols[c].name == "Z") z_col = static_cast<int>(c);
    if (cols[c].name == "pos") pos_col = static_cast<int>(c);
  }
  if (pos_col < 0 || cols[pos_col].width != 3 || cols[pos_col].type != 'R')
    throw Error(ctx + "field 'Properties' has no real 3-column 'pos'");
  if (species_col < 0 && z_col < 0) throw Error(ctx + "field 'Properties' has neither 'species' nor 'Z'");
  if (species_col >= 0 && (cols[species_col].type != 'S' || cols[species_col].width != 1))
    throw Error(ctx + "field 'Properties': column 'species' must be species:S:1");
  if (z_col >= 0 && (cols[z_col].type == 'S' || cols[z_col].type == 'L' || cols[z_col].width != 1))
    throw Error(ctx + "field 'Properties': column 'Z' must be Z:I:1 (atomic numbers)");

  {
    // every value of an atom line takes at least two bytes (a character and a separator): a count
    // the rest of the file cannot hold is refused before anything is allocated for it
    long long width = 0;
    for (const auto& c : cols) width += c.width;
    const long long here = in_.tellg();  // -1 once the comment line ended the file: nothing left
    const long long left = here >= 0 ? size_ - here : 0;
    if (size_ >= 0 && natoms * 2 * width > left)
      throw Error(ctx0 + "the frame declares " + std::to_string(natoms) + " atoms but the file has only " +
                  std::to_string(left) + " bytes left (truncated file or wrong atom count)");
  }
  s.positions.resize(natoms, 3);
  s.numbers.assign(natoms, 0);
  for (const auto& c : cols) {
    if (c.name == "pos" || c.name == "species" || c.name == "Z") continue;  // Z: atomic numbers, not an array
    AtomArray a;
    a.kind = c.type == 'R' ? InfoValue::Kind::Real
             : c.type == 'I' ? InfoValue::Kind::Integer
             : c.type == 'L' ? InfoValue::Kind::Logical
                             : InfoValue::Kind::String;
    if (c.type == 'S') a.strings.resize(natoms);
    else a.numbers.resize(natoms, c.width);
    s.arrays[c.name] = std::move(a);
  }
  for (long i = 0; i < natoms; ++i) {
    if (!std::getline(in_, line))
      throw Error(where(path_, frame, line_ + 1) + "file ends after " + std::to_string(i) + " of " +
                  std::to_string(natoms) + " atom lines (truncated file or wrong atom count)");
    ++line_;
    const std::string lctx = where(path_, frame, line_);
    const auto tok = split_ws(line);
    size_t k = 0;
    for (const auto& c : cols) {
      if (k + c.width > tok.size())
        throw Error(lctx + "atom " + std::to_string(i) + " has " + std::to_string(tok.size()) +
                    " columns, Properties needs more (column '" + c.name + "'); wrong atom count?");
      for (int w = 0; w < c.width; ++w, ++k) {
        const std::string& t = tok[k];
        if (c.name == "species") {
          try {
            s.numbers[i] = atomic_number(t);
          } catch (const Error&) {
            throw Error(lctx + "field 'species': unknown element '" + excerpt(t) + "'");
          }
          continue;
        }
        double d = 0;
        bool b = false;
        if (c.type == 'S') {
          s.arrays[c.name].strings[i] = t;
          continue;
        }
        if (c.type == 'L') {
          if (!parse_bool(t, b)) throw Error(lctx + "field '" + excerpt(c.name) + "': expected T/F, got '" + excerpt(t) + "'");
          d = b;
        } else if (!parse_double(t, d) || (c.type == 'I' && !is_integer(t))) {
          throw Error(lctx + "field '" + excerpt(c.name) + "': cannot read '" + excerpt(t) + "' as " +
                      (non_finite_number(t) ? "a finite number" : c.type == 'I' ? "an integer" : "a number"));
        }
        if (c.name == "pos") s.positions(i, w) = d;
        else if (c.name == "Z") {
          if (d != std::trunc(d) || d < 1 || d > 118)
            throw Error(lctx + "field 'Z': '" + excerpt(t) + "' is not an atomic number (an integer in 1..118)");
          if (species_col < 0) s.numbers[i] = static_cast<int>(d);
        } else {
          s.arrays[c.name].numbers(i, w) = d;
        }
      }
    }
    if (in_.eof())  // the last line has no newline: a file cut inside its last number looks just like this
      throw Error(lctx + "the file ends inside this atom line (no final newline): truncated? If the file is complete, "
                         "add a newline at its end");
    if (k != tok.size())
      throw Error(lctx + "atom " + std::to_string(i) + " has " + std::to_string(tok.size()) +
                  " columns but Properties describes " + std::to_string(k) + "; wrong atom count?");
  }
  s.validate();
  ++frame_;
  return s;
}

std::vector<Structure> read_extxyz(const std::string& path) {
  ExtxyzReader r(path);
  std::vector<Structure> out;
  while (auto s = r.next()) out.push_back(std::move(*s));
  return out;
}

ExtxyzWriter::ExtxyzWriter(const std::string& path, bool overwrite) : path_(path), file_(path, overwrite) {}

void ExtxyzWriter::close() { file_.commit(); }

namespace {
// A value with spaces, quotes or '=' is written "quoted" (with \" and \\ escapes), as ASE reads it.
// Line breaks cannot be written at all.
std::string quote(const std::string& s, const std::string& what) {
  if (s.find_first_of("\n\r") != std::string::npos) throw Error(what + ": a string with a line break cannot be written to extxyz");
  if (!s.empty() && s.find_first_of(" \t\"'=,{}[]") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

// Integers beyond the range of long (read from a file as digits) keep their value as a real.
std::string integer_text(double v) {
  return std::abs(v) < 9.2e18 ? std::to_string(static_cast<long>(v)) : format_double(v);
}

std::string format_value(const InfoValue& v, const std::string& what) {
  if (v.kind == InfoValue::Kind::String) return quote(v.text, what);
  std::string t;
  for (size_t k = 0; k < v.numbers.size(); ++k) {
    if (k) t += ' ';
    if (v.kind == InfoValue::Kind::Logical) t += v.numbers[k] != 0 ? "T" : "F";
    else if (v.kind == InfoValue::Kind::Integer) t += integer_text(v.numbers[k]);
    else t += format_double(v.numbers[k]);
  }
  return v.numbers.size() == 1 ? t : "\"" + t + "\"";
}
}  // namespace

void ExtxyzWriter::write(const Structure& s) {
  s.validate();
  auto check_name = [&](const std::string& name, const char* kind) {
    if (name.empty() || name.find_first_of(" \t\n\r\"'=:,{}[]") != std::string::npos)
      throw Error(path_ + ": cannot write " + kind + " name '" + excerpt(name) + "' (empty, or has spaces or separators)");
  };
  for (const auto& [key, v] : s.info) check_name(key, "frame property");
  for (const auto& [name, a] : s.arrays) {
    check_name(name, "per-atom property");
    if (a.kind == InfoValue::Kind::String)
      for (const auto& t : a.strings)
        if (t.empty() || t.find_first_of(" \t\n\r\"'") != std::string::npos)
          throw Error(path_ + ": per-atom string property '" + name + "' has the value '" + excerpt(t) +
                      "', which extxyz columns cannot hold (empty or with spaces/quotes)");
  }
  std::ostringstream o;
  o << s.size() << "\n";
  const bool any_pbc = s.pbc[0] || s.pbc[1] || s.pbc[2];
  if (any_pbc || !s.cell.isZero()) {
    o << "Lattice=\"";
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) o << (r || c ? " " : "") << format_double(s.cell(r, c));
    o << "\" ";
  }
  o << "Properties=species:S:1:pos:R:3";
  for (const auto& [name, a] : s.arrays) {
    const char t = a.kind == InfoValue::Kind::Real ? 'R'
                   : a.kind == InfoValue::Kind::Integer ? 'I'
                   : a.kind == InfoValue::Kind::Logical ? 'L'
                                                        : 'S';
    o << ":" << name << ":" << t << ":" << (t == 'S' ? 1 : a.numbers.cols());
  }
  for (const auto& [key, v] : s.info) o << " " << key << "=" << format_value(v, path_ + ": frame property '" + key + "'");
  o << " pbc=\"" << (s.pbc[0] ? "T" : "F") << " " << (s.pbc[1] ? "T" : "F") << " " << (s.pbc[2] ? "T" : "F")
    << "\"\n";
  for (int i = 0; i < s.size(); ++i) {
    o << chemical_symbol(s.numbers[i]);
    for (int k = 0; k < 3; ++k) o << " " << format_double(s.positions(i, k));
    for (const auto& [name, a] : s.arrays) {
      if (a.kind == InfoValue::Kind::String) {
        o << " " << a.strings[i];
        continue;
      }
      for (int k = 0; k < a.numbers.cols(); ++k) {
        const double v = a.numbers(i, k);
        if (a.kind == InfoValue::Kind::Logical) o << (v != 0 ? " T" : " F");
        else if (a.kind == InfoValue::Kind::Integer) o << " " << integer_text(v);
        else o << " " << format_double(v);
      }
    }
    o << "\n";
  }
  file_.stream() << o.str();
  if (!file_.stream()) throw Error(path_ + ": write failed");
}

}  // namespace soapgap
