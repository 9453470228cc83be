// soapgap command-line program: one file per subcommand (cmd_*.cpp).
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include <exception>
#include <iostream>
#include <optional>

#include "args.hpp"
#include "soapgap/communicator.hpp"
#include "soapgap/error.hpp"
#ifdef SOAPGAP_MPI
#include "mpi_communicator.hpp"
#endif

#include <cerrno>

namespace {
const char* kUsage =
    "usage: soapgap <command> [options]\n\n"
    "commands:\n"
    "  fit          fit a SOAP/2b/3b GAP from an extended-XYZ file (also accepts a gap_fit command line)\n"
    "  eval         predict energies, forces, virials (and predicted errors) and report errors\n"
    "  descriptor   write descriptors (and gradients) of an extended-XYZ file to .npy\n"
    "  kernel       structure kernel or distance matrix (average, best-match, REMatch) to .npy\n"
    "  build-database, refine, validate, study, demo, map, learn, reconstruct\n"
    "               Python workflows (reference database, active learning, validation report, the\n"
    "               staged database study, the end-to-end demo, 2D maps, property learning,\n"
    "               environment reconstruction): run by\n"
    "               the soapgap Python package\n\n"
    "`soapgap <command> --help` describes each command.\n";
}

#ifndef SOAPGAP_PYTHON_EXECUTABLE
#define SOAPGAP_PYTHON_EXECUTABLE "python3"
#endif

// Workflow subcommands live in the Python package (ASE, phonopy): hand over to
// `python -m soapgap.cli <command> ...` ($SOAPGAP_PYTHON overrides the interpreter).
int run_python(int argc, char** argv) {
  const char* env = std::getenv("SOAPGAP_PYTHON");
  const std::string python = env && *env ? env : SOAPGAP_PYTHON_EXECUTABLE;
  std::vector<std::string> args = {python, "-m", "soapgap.cli"};
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  execvp(python.c_str(), cargs.data());
  std::cerr << "soapgap " << argv[1] << ": cannot run " << python << " (" << std::strerror(errno)
            << "); this command needs the soapgap Python package (set SOAPGAP_PYTHON to its interpreter)\n";
  return 1;
}

int main(int argc, char** argv) {
  bool report = true;  // ranks other than 0 stay silent about errors every rank has
#ifdef SOAPGAP_MPI
  // MPI only when a launcher started us (a plain `soapgap` call stays serial and starts at once);
  // every command can run under mpirun, only fit is distributed (the others run once per rank)
  std::optional<soapgap::MpiSession> mpi;
  if (soapgap::launched_by_mpi()) {
    try {
      mpi.emplace(&argc, &argv);
    } catch (const soapgap::Error& e) {
      std::cerr << "soapgap: error: " << e.what() << "\n";
      return 1;
    }
    report = soapgap::MpiCommunicator().rank() == 0;
  }
#endif
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
    std::cout << kUsage;
    return argc < 2 ? 1 : 0;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "fit") return soapgap::cli::cmd_fit(argc, argv);
    if (cmd == "eval") return soapgap::cli::cmd_eval(argc, argv);
    if (cmd == "descriptor") return soapgap::cli::cmd_descriptor(argc, argv);
    if (cmd == "kernel") return soapgap::cli::cmd_kernel(argc, argv);
    if (cmd == "build-database" || cmd == "refine" || cmd == "validate" || cmd == "study" || cmd == "demo" ||
        cmd == "map" || cmd == "learn" || cmd == "reconstruct") return run_python(argc, argv);
    std::cerr << "soapgap: unknown command '" << cmd << "'\n\n" << kUsage;
    return 2;
  } catch (const soapgap::CollectiveError& e) {  // every rank has it: one message
    if (report) std::cerr << "soapgap " << cmd << ": error: " << e.what() << "\n";
    return 1;
  } catch (const soapgap::Error& e) {
    std::cerr << "soapgap " << cmd << ": error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "soapgap " << cmd << ": internal error: " << e.what() << "\n";
    return 3;
  }
}
