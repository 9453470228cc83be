// The collective operations a distributed fit needs, behind one interface: the serial build uses
// the one-rank Communicator below; the MPI build (SOAPGAP_MPI) provides a subclass over
// MPI_COMM_WORLD. The engine itself never includes mpi.h.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "soapgap/error.hpp"

namespace soapgap {

// Rows of a least-squares system folded into one upper-triangular factor: after every rank has
// add()ed its rows, finish() (collective) gives R, Qᵀb and the residual ‖b − A x‖² on rank 0
// (other ranks: empty R).
struct TriangularFactor {
  Eigen::MatrixXd R;
  Eigen::VectorXd qtb;
  double residual2 = 0.0;
};
class RowFactorizer {
 public:
  virtual ~RowFactorizer() = default;
  virtual void add(Eigen::MatrixXd B, Eigen::VectorXd b) = 0;  // sink: pass with std::move
  virtual TriangularFactor finish() = 0;
};

// A failure every rank knows of (thrown by agree() on all ranks alike).
class CollectiveError : public Error {
 public:
  using Error::Error;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  // Element-wise sum / max over ranks, in place. Every rank receives bit-identical results (the
  // reduction happens once, on rank 0, and is broadcast), so decisions taken on the sums agree.
  virtual void sum(double* /*data*/, long /*n*/) const {}
  virtual void max(double* /*data*/, long /*n*/) const {}
  virtual void broadcast(double* /*data*/, long /*n*/, int /*root*/) const {}
  virtual void send(const double* data, long n, int to) const;
  virtual void recv(double* data, long n, int from) const;
  // Failure agreement, called by every rank after a stage of rank-local work: if any rank's
  // `local_error` is non-empty, every rank throws Error with the lowest failing rank's message
  // (so no rank is left waiting in the next collective).
  virtual void agree(const std::string& local_error) const;
  // A ScaLAPACK (block-cyclic, distributed R) factorizer for M columns, where the build has one.
  virtual std::unique_ptr<RowFactorizer> scalapack_factorizer(int /*M*/) const { return nullptr; }

  bool distributed() const { return size() > 1; }
  // Runs rank-local work f; any exception becomes every rank's CollectiveError after agree()
  // (a CollectiveError from inside f is already every rank's and passes through).
  void collectively(const std::function<void()>& f) const;
};

// The serial default.
const Communicator& serial_communicator();

// Every rank's `mine`, concatenated in rank order, on every rank.
std::vector<double> allgather(const Communicator& comm, const std::vector<double>& mine);

}  // namespace soapgap
