#include "soapgap/communicator.hpp"

#include <algorithm>


namespace soapgap {

void Communicator::send(const double*, long, int) const { throw Error("send: a one-rank communicator has no peers"); }
void Communicator::recv(double*, long, int) const { throw Error("recv: a one-rank communicator has no peers"); }

void Communicator::agree(const std::string& local_error) const {
  if (!local_error.empty()) throw CollectiveError(local_error);
}

void Communicator::collectively(const std::function<void()>& f) const {
  std::string message;
  try {
    f();
  } catch (const CollectiveError&) {
    throw;
  } catch (const std::bad_alloc&) {
    message = distributed() ? "out of memory on rank " + std::to_string(rank()) + " (use more ranks or fewer --block-rows)"
                            : "out of memory (use fewer --block-rows or sparse points, or a distributed fit)";
  } catch (const Error& e) {
    message = e.what();
  } catch (const std::exception& e) {
    message = std::string("internal error: ") + e.what();
  }
  agree(message);
}

const Communicator& serial_communicator() {
  static const Communicator one;  // stateless
  return one;
}

std::vector<double> allgather(const Communicator& comm, const std::vector<double>& mine) {
  if (!comm.distributed()) return mine;
  const int P = comm.size();
  std::vector<double> counts(P, 0.0);
  counts[comm.rank()] = static_cast<double>(mine.size());
  comm.sum(counts.data(), P);
  long offset = 0, total = 0;
  for (int p = 0; p < P; ++p) {
    if (p == comm.rank()) offset = total;
    total += static_cast<long>(counts[p]);
  }
  std::vector<double> all(total, 0.0);  // each rank fills its slot; the sum adds exact zeros
  std::copy(mine.begin(), mine.end(), all.begin() + offset);
  comm.sum(all.data(), total);
  return all;
}

}  // namespace soapgap
