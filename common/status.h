// Status: the one error type of driftrun.
//
// Expected failures (bad config, bad data, a diverged run, a failed collective)
// travel up as values, never as exceptions across library boundaries. A Status is
// either OK or carries a Code, which maps one-to-one onto the process exit codes of
// DESIGN.md, and a message that says what was wrong, where, and what to do.
// Context is chained with WithContext() as the error travels up:
//   "reading data/train.h5: dataset '/labels': 900 rows, features have 1000".
// The chain stays inspectable: root_message() is what failed, context() the
// layers it failed inside (outermost first); message() joins them.
//
// Misuse is a bug and fails loudly in checked builds (debug, or
// -DDRIFTRUN_CHECKED as the sanitizer build sets): reading a Result's value when
// it holds an error aborts with the error, instead of a default-constructed value.
//
// Thread-safety: a Status is a value; copies are independent.
#pragma once

#include <string>
#include <utility>
#include <vector>

#if !defined(NDEBUG) && !defined(DRIFTRUN_CHECKED)
#define DRIFTRUN_CHECKED 1
#endif

namespace driftrun {

enum class Code : int {
  kOk = 0,
  kUsage = 2,     // bad command line or config
  kData = 3,      // bad input data
  kTraining = 4,  // NaN, divergence, gate failed
  kInfra = 5,     // MPI, NCCL, Slurm, disk
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Usage(std::string msg) { return Status(Code::kUsage, std::move(msg)); }
  static Status Data(std::string msg) { return Status(Code::kData, std::move(msg)); }
  static Status Training(std::string msg) { return Status(Code::kTraining, std::move(msg)); }
  static Status Infra(std::string msg) { return Status(Code::kInfra, std::move(msg)); }

  Status(Code code, std::string msg) : code_(code), msg_(std::move(msg)) {}

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  int exit_code() const { return static_cast<int>(code_); }
  const std::string& message() const { return msg_; }

  // Prefixes the message with where the failure happened; OK stays OK.
  Status WithContext(const std::string& where) const;
  // The innermost message (what failed) and the layers around it, outermost first.
  const std::string& root_message() const { return context_.empty() ? msg_ : root_; }
  const std::vector<std::string>& context() const { return context_; }

  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string msg_;
  std::string root_;                  // set once context is added
  std::vector<std::string> context_;  // outermost first
};

namespace internal {
// A checked build's answer to reading the value of a failed Result: prints the
// error and where, then aborts (a bug in driftrun, not bad input).
[[noreturn]] void DieOnMisusedResult(const Status& st, const char* what);
}  // namespace internal

// Name of a code as printed in messages ("usage error", "data error", ...).
const char* CodeName(Code code);

// A value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT(implicit)
  Result(Status status) : status_(std::move(status)) {}  // NOLINT(implicit)
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() {
    Check("value()");
    return value_;
  }
  const T& value() const {
    Check("value()");
    return value_;
  }
  T&& take() {
    Check("take()");
    return std::move(value_);
  }

 private:
  void Check(const char* what) const {
#ifdef DRIFTRUN_CHECKED
    if (!status_.ok()) internal::DieOnMisusedResult(status_, what);
#else
    (void)what;
#endif
  }
  Status status_;
  T value_{};
};

}  // namespace driftrun

// Returns early from the enclosing function when `expr` is not OK.
#define DRIFTRUN_RETURN_IF_ERROR(expr) \
  do {                                 \
    ::driftrun::Status _st = (expr);   \
    if (!_st.ok()) return _st;         \
  } while (0)

#define DRIFTRUN_CONCAT_INNER(a, b) a##b
#define DRIFTRUN_CONCAT(a, b) DRIFTRUN_CONCAT_INNER(a, b)
// NOLINTBEGIN(bugprone-macro-parentheses): tmp is a name and lhs a declaration
// (`auto x`); neither can be parenthesised.
#define DRIFTRUN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = tmp.take()
// NOLINTEND(bugprone-macro-parentheses)
// `DRIFTRUN_ASSIGN_OR_RETURN(auto x, F());` binds x to F()'s value or returns its Status.
#define DRIFTRUN_ASSIGN_OR_RETURN(lhs, expr) \
  DRIFTRUN_ASSIGN_OR_RETURN_IMPL(DRIFTRUN_CONCAT(_res_, __LINE__), lhs, expr)
