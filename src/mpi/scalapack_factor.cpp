// The distributed-R solve path: every rank keeps its own rows (N·(M+1)/P doubles), they are
// redistributed block-cyclically over a near-square process grid and factored by ScaLAPACK's
// pdgeqrf. The right-hand side travels as column M+1, so the top (M+1) x (M+1) triangle of the
// result is [[R, Qᵀb], [0, ±‖residual‖]] and no separate Qᵀ application is needed.
#include <algorithm>
#include <array>
#include <cmath>
#include <list>
#include <vector>

#include "mpi_communicator.hpp"
#include "soapgap/error.hpp"

extern "C" {
void Cblacs_get(int icontxt, int what, int* val);
void Cblacs_gridinit(int* icontxt, const char* order, int nprow, int npcol);
void Cblacs_gridinfo(int icontxt, int* nprow, int* npcol, int* myrow, int* mycol);
void Cblacs_gridexit(int icontxt);
int numroc_(const int* n, const int* nb, const int* iproc, const int* isrcproc, const int* nprocs);
void descinit_(int* desc, const int* m, const int* n, const int* mb, const int* nb, const int* irsrc, const int* icsrc,
               const int* ictxt, const int* lld, int* info);
void pdgeqrf_(const int* m, const int* n, double* a, const int* ia, const int* ja, const int* desca, double* tau,
              double* work, const int* lwork, int* info);
void pdgemr2d_(const int* m, const int* n, const double* a, const int* ia, const int* ja, const int* desca, double* b,
               const int* ib, const int* jb, const int* descb, const int* ictxt);
}

namespace soapgap {

namespace {

constexpr int kBlock = 64;  // block-cyclic block size (rows and columns)

// A BLACS process grid, released on scope exit. Ranks outside the grid get context -1.
class Grid {
 public:
  Grid(int nprow, int npcol) {
    Cblacs_get(-1, 0, &ctxt_);
    Cblacs_gridinit(&ctxt_, "Row", nprow, npcol);
    if (ctxt_ >= 0) Cblacs_gridinfo(ctxt_, &nprow_, &npcol_, &myrow_, &mycol_);
  }
  ~Grid() {
    if (ctxt_ >= 0) Cblacs_gridexit(ctxt_);
  }
  Grid(const Grid&) = delete;
  Grid& operator=(const Grid&) = delete;
  int ctxt() const { return ctxt_; }
  bool member() const { return ctxt_ >= 0; }
  // Local rows/columns and a descriptor of an m x n matrix in mb x nb blocks on this grid.
  std::array<int, 9> describe(int m, int n, int mb, int nb, int& loc_rows, int& loc_cols) const {
    std::array<int, 9> desc{};
    if (!member()) {
      desc[1] = -1;  // "not in this context", as pdgemr2d expects
      loc_rows = loc_cols = 0;
      return desc;
    }
    const int zero = 0;
    loc_rows = numroc_(&m, &mb, &myrow_, &zero, &nprow_);
    loc_cols = numroc_(&n, &nb, &mycol_, &zero, &npcol_);
    const int lld = std::max(1, loc_rows);
    int info = 0;
    descinit_(desc.data(), &m, &n, &mb, &nb, &zero, &zero, &ctxt_, &lld, &info);
    if (info != 0) throw Error("ScaLAPACK descinit failed (info " + std::to_string(info) + ")");
    return desc;
  }

 private:
  int ctxt_ = -1, nprow_ = 0, npcol_ = 0, myrow_ = -1, mycol_ = -1;
};

class ScalapackFactorizer : public RowFactorizer {
 public:
  ScalapackFactorizer(const Communicator& comm, int M) : comm_(comm), m_(M) {}

  void add(Eigen::MatrixXd B, Eigen::VectorXd b) override {
    if (B.rows() == 0) return;
    Eigen::MatrixXd block(B.rows(), m_ + 1);
    block.leftCols(m_) = B;
    block.col(m_) = b;
    rows_ += B.rows();
    blocks_.push_back(std::move(block));
  }

  TriangularFactor finish() override {
    const int P = comm_.size(), rank = comm_.rank(), n = m_ + 1;
    // rows per rank; each rank's rows become one row block of a P x 1 grid (padded with zeros)
    const std::vector<double> counts = allgather(comm_, {static_cast<double>(rows_)});
    const long most = static_cast<long>(*std::max_element(counts.begin(), counts.end()));
    if (static_cast<long>(P) * std::max<long>(most, n) > 2147483647L)
      throw Error("ScaLAPACK solve: more than 2^31 padded rows; use more ranks or the TSQR solve");
    const int mb_nat = static_cast<int>(std::max<long>(most, n));
    const int rows_total = P * mb_nat;
    int pc = static_cast<int>(std::sqrt(static_cast<double>(P)));
    while (P % pc) --pc;
    const int pr = P / pc;

    Grid column(P, 1);  // rank p is grid row p: its natural block; holds every rank
    const int all = column.ctxt();
    int nat_r = 0, nat_c = 0;
    const auto desc_nat = column.describe(rows_total, n, mb_nat, n, nat_r, nat_c);
    Eigen::MatrixXd natural = Eigen::MatrixXd::Zero(nat_r, nat_c);
    long r0 = 0;
    for (auto& blk : blocks_) {
      natural.middleRows(r0, blk.rows()) = blk;
      r0 += blk.rows();
      blk.resize(0, 0);
    }
    blocks_.clear();

    Grid grid(pr, pc);
    int loc_r = 0, loc_c = 0;
    const auto desc_cyc = grid.describe(rows_total, n, kBlock, kBlock, loc_r, loc_c);
    Eigen::MatrixXd cyclic(std::max(1, loc_r), std::max(1, loc_c));
    const int one = 1;
    pdgemr2d_(&rows_total, &n, natural.data(), &one, &one, desc_nat.data(), cyclic.data(), &one, &one,
              desc_cyc.data(), &all);
    natural.resize(0, 0);

    std::vector<double> tau(std::max(1, loc_c));
    int info = 0, lwork = -1;
    double query = 0.0;
    pdgeqrf_(&rows_total, &n, cyclic.data(), &one, &one, desc_cyc.data(), tau.data(), &query, &lwork, &info);
    lwork = static_cast<int>(query) + 1;
    std::vector<double> work(lwork);
    pdgeqrf_(&rows_total, &n, cyclic.data(), &one, &one, desc_cyc.data(), tau.data(), work.data(), &lwork, &info);
    std::string error;
    if (info != 0) error = "ScaLAPACK pdgeqrf failed (info " + std::to_string(info) + ")";
    comm_.agree(error);

    // the (M+1) x (M+1) triangle to rank 0
    Grid root(1, 1);
    int rr = 0, rc = 0;
    const auto desc_root = root.describe(n, n, kBlock, kBlock, rr, rc);
    Eigen::MatrixXd top(std::max(1, rr), std::max(1, rc));
    pdgemr2d_(&n, &n, cyclic.data(), &one, &one, desc_cyc.data(), top.data(), &one, &one, desc_root.data(),
              &all);
    TriangularFactor out;
    if (rank == 0) {
      out.R = top.topLeftCorner(m_, m_).triangularView<Eigen::Upper>();
      out.qtb = top.col(m_).head(m_);
      out.residual2 = top(m_, m_) * top(m_, m_);
    }
    return out;
  }

 private:
  const Communicator& comm_;
  int m_;
  long rows_ = 0;
  std::list<Eigen::MatrixXd> blocks_;
};

}  // namespace

std::unique_ptr<RowFactorizer> make_scalapack_factorizer(const Communicator& comm, int M) {
  return std::make_unique<ScalapackFactorizer>(comm, M);
}

}  // namespace soapgap
