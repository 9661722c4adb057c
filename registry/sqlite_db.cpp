#include "registry/sqlite_db.h"

#include <chrono>
#include <cstdio>

#include <ctime>

namespace driftrun {

std::string UtcNow() {
  // Milliseconds, so that the audit trail's events of one second keep their order.
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  char buf[32], out[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", std::gmtime(&t));
  std::snprintf(out, sizeof(out), "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

Status DbError(sqlite3* db, const std::string& what) {
  return Status::Infra(
      "registry database: " + what + ": " + sqlite3_errmsg(db) +
      "; check the registry folder (disk full, permissions) and run `driftrun registry verify`");
}

}  // namespace driftrun
