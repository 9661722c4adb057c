#include "registry/sqlite_db.h"

#include <ctime>

namespace driftrun {

std::string UtcNow() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

Status DbError(sqlite3* db, const std::string& what) {
  return Status::Infra(
      "registry database: " + what + ": " + sqlite3_errmsg(db) +
      "; check the registry folder (disk full, permissions) and run `driftrun registry verify`");
}

}  // namespace driftrun
