// soapgap command-line program: one file per subcommand (cmd_*.cpp).
#include <cstring>
#include <exception>
#include <iostream>

#include "args.hpp"
#include "soapgap/error.hpp"

namespace {
const char* kUsage =
    "usage: soapgap <command> [options]\n\n"
    "commands:\n"
    "  fit          fit a SOAP/2b/3b GAP from an extended-XYZ file (also accepts a gap_fit command line)\n"
    "  eval         predict energies, forces, virials (and predicted errors) and report errors\n"
    "  descriptor   write descriptors (and gradients) of an extended-XYZ file to .npy\n\n"
    "`soapgap <command> --help` describes each command.\n";
}

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
    std::cout << kUsage;
    return argc < 2 ? 1 : 0;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "fit") return soapgap::cli::cmd_fit(argc, argv);
    if (cmd == "eval") return soapgap::cli::cmd_eval(argc, argv);
    if (cmd == "descriptor") return soapgap::cli::cmd_descriptor(argc, argv);
    std::cerr << "soapgap: unknown command '" << cmd << "'\n\n" << kUsage;
    return 2;
  } catch (const soapgap::Error& e) {
    std::cerr << "soapgap " << cmd << ": error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "soapgap " << cmd << ": internal error: " << e.what() << "\n";
    return 3;
  }
}
