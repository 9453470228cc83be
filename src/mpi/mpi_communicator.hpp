// MPI_COMM_WORLD as a soapgap Communicator (MPI build only, SOAPGAP_MPI=ON). MpiSession owns
// MPI_Init/MPI_Finalize for a program's lifetime.
#pragma once
#include "soapgap/communicator.hpp"

namespace soapgap {

// True when an MPI launcher started this process (Open MPI's mpirun, MPICH/Slurm PMI, PMIx):
// otherwise the program stays serial and never initialises MPI.
bool launched_by_mpi();

class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator();
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void sum(double* data, long n) const override;
  void max(double* data, long n) const override;
  void broadcast(double* data, long n, int root) const override;
  void send(const double* data, long n, int to) const override;
  void recv(double* data, long n, int from) const override;
  void agree(const std::string& local_error) const override;
  std::unique_ptr<RowFactorizer> scalapack_factorizer(int M) const override;

 private:
  int rank_ = 0, size_ = 1;
};

// Block-cyclic QR with ScaLAPACK (pdgeqrf) on a near-square process grid; R is distributed
// during the factorisation and gathered to rank 0 at the end.
std::unique_ptr<RowFactorizer> make_scalapack_factorizer(const Communicator& comm, int M);

}  // namespace soapgap
