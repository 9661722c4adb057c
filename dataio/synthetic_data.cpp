#include "dataio/synthetic_data.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <random>

#include "common/file_util.h"
#include "dataio/h5_io.h"
#include "dataio/sharding.h"

namespace driftrun {
namespace {

// Portable generator (splitmix64) with uniform and normal draws.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }
  double Normal() {
    double u1 = Uniform(), u2 = Uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }

 private:
  uint64_t s_;
};

struct Truth {
  std::vector<double> mu, sigma;
  std::vector<double> w;  // regression weights [D] or class weights [K * D]
};

Truth MakeTruth(const SyntheticOptions& o) {
  Rng r(MixSeed(o.seed, 0x7747));
  Truth t;
  const int64_t d = o.features;
  for (int64_t j = 0; j < d; ++j) {
    t.mu.push_back(2 * r.Uniform() - 1);
    t.sigma.push_back(0.5 + 1.5 * r.Uniform());
  }
  const int64_t k = o.task == "classification" ? o.classes : 1;
  for (int64_t i = 0; i < k * d; ++i) t.w.push_back(r.Normal() / std::sqrt(static_cast<double>(d)));
  return t;
}

Status WriteFile(const std::string& path, const std::string& set_id, const SyntheticOptions& o,
                 const Truth& truth, int64_t rows, uint64_t seed, const std::string& drift, int64_t drifted) {
  const int64_t d = o.features;
  const bool cls = o.task == "classification";
  Rng r(seed);
  std::vector<float> x(rows * d);
  std::vector<float> y;
  std::vector<int64_t> c;
  std::vector<double> z(d);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      z[j] = r.Normal();
      double mu = truth.mu[j], sigma = truth.sigma[j];
      double v = mu + sigma * z[j];
      if (j < drifted && drift == "mean") v += o.drift_magnitude * sigma;
      if (j < drifted && drift == "scale") v = mu + sigma * (1 + o.drift_magnitude) * z[j];
      x[i * d + j] = static_cast<float>(v);
    }
    auto weight = [&](int64_t row, int64_t j) {
      double w = truth.w[row * d + j];
      return (j < drifted && drift == "label") ? -w : w;
    };
    if (cls) {
      int64_t best = 0;
      double best_s = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < o.classes; ++k) {
        double s = 0;
        for (int64_t j = 0; j < d; ++j) s += weight(k, j) * z[j];
        s += 0.1 * r.Normal();
        if (s > best_s) {
          best_s = s;
          best = k;
        }
      }
      c.push_back(best);
    } else {
      double s = 0;
      for (int64_t j = 0; j < d; ++j) s += weight(0, j) * z[j];
      if (d >= 2) s += 0.5 * std::sin(2 * z[0]) * z[1];
      y.push_back(static_cast<float>(s + 0.1 * r.Normal()));
    }
    for (int64_t j = 0; j < d; ++j) {
      if (r.Uniform() < o.missing) x[i * d + j] = std::numeric_limits<float>::quiet_NaN();
    }
  }
  DRIFTRUN_ASSIGN_OR_RETURN(auto w, H5Writer::Create(path));
  DRIFTRUN_RETURN_IF_ERROR(w->Write("/features", {rows, d}, x.data()));
  if (cls) {
    DRIFTRUN_RETURN_IF_ERROR(w->Write("/labels", {rows}, c.data()));
  } else {
    DRIFTRUN_RETURN_IF_ERROR(w->Write("/labels", {rows}, y.data()));
  }
  std::vector<std::string> names;
  for (int64_t j = 0; j < d; ++j) names.push_back("f" + std::to_string(j));
  DRIFTRUN_RETURN_IF_ERROR(w->AttrStrings("/", "feature_names", names));
  DRIFTRUN_RETURN_IF_ERROR(w->AttrString("/", "drift", drift));
  DRIFTRUN_RETURN_IF_ERROR(w->AttrDouble("/", "drifted_features", static_cast<double>(drifted)));
  DRIFTRUN_RETURN_IF_ERROR(w->AttrDouble("/", "drift_magnitude", drift == "none" ? 0.0 : o.drift_magnitude));
  DRIFTRUN_RETURN_IF_ERROR(w->AttrDouble("/", "seed", static_cast<double>(o.seed)));
  DRIFTRUN_RETURN_IF_ERROR(w->AttrString("/", "task", o.task));
  DRIFTRUN_RETURN_IF_ERROR(w->AttrString("/", "data_set", set_id));  // which make-data wrote it
  return w->Commit();
}

}  // namespace

Status ValidateSynthetic(const SyntheticOptions& o) {
  // Negated comparisons: NaN fails them.
  if (o.rows < 1 || o.rows > (int64_t{1} << 31)) return Status::Usage("--rows must be in [1, 2^31]");
  if (o.features < 1 || o.features > 2000) return Status::Usage("--features must be in [1, 2000]");
  if (o.rows * o.features > (int64_t{1} << 32))
    return Status::Usage("--rows x --features must be at most 2^32 values (16 GiB of float32)");
  if (o.task != "regression" && o.task != "classification") {
    return Status::Usage("--task must be regression or classification, got '" + o.task + "'");
  }
  if (o.task == "classification" && (o.classes < 2 || o.classes > 100000))
    return Status::Usage("--classes must be in [2, 100000]");
  if (!(o.missing >= 0 && o.missing < 1)) return Status::Usage("--missing must be in [0, 1)");
  if (o.batches < 0 || o.batches > 100000 || o.batch_rows < 1 || o.batch_rows > (int64_t{1} << 31))
    return Status::Usage("--batches must be in [0, 100000] and --batch-rows in [1, 2^31]");
  if (o.drift != "none" && o.drift != "mean" && o.drift != "scale" && o.drift != "label") {
    return Status::Usage("--drift must be none, mean, scale or label, got '" + o.drift + "'");
  }
  if (!(o.drift_share > 0 && o.drift_share <= 1)) return Status::Usage("--drift-share must be in (0, 1]");
  if (!(o.drift_magnitude >= 0 && o.drift_magnitude <= 1000))
    return Status::Usage("--drift-magnitude must be in [0, 1000]");
  if (o.drift_from < 1) return Status::Usage("--drift-from must be >= 1 (batches are numbered from 1)");
  if (o.drift != "none" && o.drift_from > o.batches) {
    return Status::Usage("--drift " + o.drift + " drifts batches from --drift-from " +
                         std::to_string(o.drift_from) + " on, but only " + std::to_string(o.batches) +
                         " batches are made; raise --batches");
  }
  return Status::Ok();
}

namespace {

// The data set a file of make-data belongs to (its root attribute
// "data_set"; "" for a file of an older make-data); nullopt when make-data
// did not write it (not HDF5, or without make-data's root attributes).
std::optional<std::string> SyntheticSet(const std::string& path) {
  if (!H5RootAttr(path, "drift") || !H5RootAttr(path, "task")) return std::nullopt;
  return H5RootAttr(path, "data_set").value_or("");
}

// The batch number of "batch-NNN.h5", else 0.
int64_t BatchNumber(const std::string& name) {
  if (name.size() < 10 || name.compare(0, 6, "batch-") != 0 || name.compare(name.size() - 3, 3, ".h5") != 0)
    return 0;
  const std::string digits = name.substr(6, name.size() - 9);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9)
    return 0;
  return std::stoll(digits);
}

// The batches of `dir`'s earlier data set that a new one of `batches`
// batches leaves behind (to delete once it is written). Status::Usage naming
// every file in the way: a train.h5 or batch-NNN.h5 make-data did not write,
// and a batch beyond `batches` of another data set than the folder's train.h5.
Result<std::vector<std::string>> StaleBatches(const std::string& dir, int64_t batches) {
  std::vector<std::string> stale, problems;
  std::optional<std::string> set;
  if (PathExists(dir + "/train.h5")) set = SyntheticSet(dir + "/train.h5");
  for (const std::string& name : ListDir(dir)) {
    const int64_t n = BatchNumber(name);
    if (name != "train.h5" && n == 0) continue;
    const std::string path = dir + "/" + name;
    const std::optional<std::string> mine = name == "train.h5" ? set : SyntheticSet(path);
    if (!mine) {
      problems.push_back("'" + path + "' was not written by make-data");
    } else if (n > batches && (!set || set->empty() || *mine != *set)) {
      problems.push_back("'" + path + "' is not of the data set of '" + dir +
                         "/train.h5' (it would stay beside the new one)");
    } else if (n > batches) {
      stale.push_back(path);
    }
  }
  if (problems.empty()) return stale;
  std::string all;
  for (const auto& p : problems) all += "\n  " + p;
  return Status::Usage("--out '" + dir +
                       "' holds files make-data would destroy or mix with its new data set:" + all +
                       "\nMove them away, or choose another --out folder");
}

// A new data set's id: 16 hex digits.
std::string NewSetId() {
  std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%08x%08x", rd(), rd());
  return buf;
}

}  // namespace

Status WriteSynthetic(const std::string& dir, const SyntheticOptions& o, std::vector<std::string>* written,
                      std::vector<std::string>* removed) {
  DRIFTRUN_RETURN_IF_ERROR(ValidateSynthetic(o));
  if (PathExists(dir) && !IsDir(dir))
    return Status::Usage("--out '" + dir +
                         "' is a file; make-data writes a folder (train.h5, batch-001.h5, ...)");
  std::vector<std::string> stale;
  if (IsDir(dir)) {
    DRIFTRUN_ASSIGN_OR_RETURN(stale, StaleBatches(dir, o.batches));
  }
  const std::string set_id = NewSetId();
  DRIFTRUN_RETURN_IF_ERROR(MakeDirs(dir));
  const Truth truth = MakeTruth(o);
  const int64_t drifted = static_cast<int64_t>(std::ceil(o.drift_share * o.features));
  const std::string train = dir + "/train.h5";
  DRIFTRUN_RETURN_IF_ERROR(WriteFile(train, set_id, o, truth, o.rows, MixSeed(o.seed, 1), "none", 0));
  written->push_back(train);
  for (int64_t b = 1; b <= o.batches; ++b) {
    char name[32];
    std::snprintf(name, sizeof(name), "/batch-%03lld.h5", static_cast<long long>(b));
    const bool drifts = o.drift != "none" && b >= o.drift_from;
    DRIFTRUN_RETURN_IF_ERROR(WriteFile(dir + name, set_id, o, truth, o.batch_rows, MixSeed(o.seed, 2, b),
                                       drifts ? o.drift : "none", drifts ? drifted : 0));
    written->push_back(dir + name);
  }
  for (const std::string& path : stale) {
    if (std::remove(path.c_str()) != 0)
      return Status::Infra("cannot remove '" + path +
                           "', a batch of the folder's earlier data set; remove it yourself");
    if (removed) removed->push_back(path);
  }
  return Status::Ok();
}

}  // namespace driftrun
