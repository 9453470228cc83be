// Neighbour lists with cell lists, triclinic cells, mixed periodicity and cutoffs larger than
// the cell (every periodic image within the cutoff is a separate neighbour).
#pragma once
#include <vector>

#include "soapgap/structure.hpp"

namespace soapgap {

struct Neighbour {
  int j;                // index of the neighbour atom in the structure
  Eigen::Vector3d rij;  // r_j (the image) - r_i, Å
  double r;             // |rij|
};

// Lists are given for the first centres() atoms. Atoms beyond (ghost atoms of a domain given by
// MD codes such as LAMMPS) are neighbours only: never centres of an environment, no e0.
struct NeighbourList {
  std::vector<int> offset;          // neighbours of atom i are list[offset[i] .. offset[i+1])
  std::vector<Neighbour> list;
  int centres() const { return static_cast<int>(offset.size()) - 1; }
  int count(int i) const { return offset[i + 1] - offset[i]; }
  const Neighbour* begin(int i) const { return list.data() + offset[i]; }
  const Neighbour* end(int i) const { return list.data() + offset[i + 1]; }
};

// All pairs with 0 < r < cutoff. Throws soapgap::Error if two atoms (or an atom and an image)
// are closer than min_distance, naming the frame and the atoms.
NeighbourList build_neighbour_list(const Structure& s, double cutoff, double min_distance = 0.01);

}  // namespace soapgap
