#include "mpi_communicator.hpp"

#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "soapgap/error.hpp"

namespace soapgap {

namespace {
// MPI counts are int: long buffers go in chunks.
constexpr long kChunk = 1L << 28;

void reduce_bcast(double* data, long n, MPI_Op op) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  for (long o = 0; o < n; o += kChunk) {
    const int c = static_cast<int>(std::min(kChunk, n - o));
    // reduce once on rank 0, then broadcast: bit-identical results on every rank, which
    // MPI_Allreduce does not promise
    MPI_Reduce(rank == 0 ? MPI_IN_PLACE : data + o, rank == 0 ? data + o : nullptr, c, MPI_DOUBLE, op, 0,
               MPI_COMM_WORLD);
    MPI_Bcast(data + o, c, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  }
}
}  // namespace

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

MpiSession::MpiSession(int* argc, char*** argv) {
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);  // OpenMP threads never call MPI
  // another MPI's launcher (e.g. MPICH's mpiexec from a Python environment) starts singletons
  // that would each run the whole fit
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const char* pmi = std::getenv("PMI_SIZE");
  if (size == 1 && pmi && std::atoi(pmi) > 1) {
    MPI_Finalize();
    throw Error("started by a launcher of another MPI (PMI_SIZE=" + std::string(pmi) +
                ", but this MPI sees 1 rank): use the mpirun of the MPI soapgap was built with (Debian: mpirun.openmpi)");
  }
}
MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

MpiCommunicator::MpiCommunicator() {
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

void MpiCommunicator::sum(double* data, long n) const { reduce_bcast(data, n, MPI_SUM); }
void MpiCommunicator::max(double* data, long n) const { reduce_bcast(data, n, MPI_MAX); }

void MpiCommunicator::broadcast(double* data, long n, int root) const {
  for (long o = 0; o < n; o += kChunk)
    MPI_Bcast(data + o, static_cast<int>(std::min(kChunk, n - o)), MPI_DOUBLE, root, MPI_COMM_WORLD);
}
void MpiCommunicator::send(const double* data, long n, int to) const {
  for (long o = 0; o < n; o += kChunk)
    MPI_Send(data + o, static_cast<int>(std::min(kChunk, n - o)), MPI_DOUBLE, to, 0, MPI_COMM_WORLD);
}
void MpiCommunicator::recv(double* data, long n, int from) const {
  for (long o = 0; o < n; o += kChunk)
    MPI_Recv(data + o, static_cast<int>(std::min(kChunk, n - o)), MPI_DOUBLE, from, 0, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
}

void MpiCommunicator::agree(const std::string& local_error) const {
  int mine = local_error.empty() ? size_ : rank_, first = size_;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (first == size_) return;
  int len = rank_ == first ? static_cast<int>(local_error.size()) : 0;
  MPI_Bcast(&len, 1, MPI_INT, first, MPI_COMM_WORLD);
  std::string message = rank_ == first ? local_error : std::string(len, ' ');
  MPI_Bcast(message.data(), len, MPI_CHAR, first, MPI_COMM_WORLD);
  throw CollectiveError("rank " + std::to_string(first) + ": " + message);
}

std::unique_ptr<RowFactorizer> MpiCommunicator::scalapack_factorizer(int M) const {
  return make_scalapack_factorizer(*this, M);
}

}  // namespace soapgap
