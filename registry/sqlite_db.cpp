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
  const int rc = sqlite3_errcode(db);
  const std::string file = sqlite3_db_filename(db, "main") ? sqlite3_db_filename(db, "main") : "";
  const bool journal = file.size() >= 10 && file.compare(file.size() - 10, 10, "journal.db") == 0;
  const std::string kind = journal ? "service journal" : "registry database";
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    return Status::Infra(kind + ": " + what + ": " + sqlite3_errmsg(db) +
                         "; another process held its write lock for the whole busy timeout (a long "
                         "registration, a promotion, the service, or a process stopped while holding it); "
                         "retry when it is done");
  }
  return Status::Infra(kind + ": " + what + ": " + sqlite3_errmsg(db) + "; check the folder of '" + file +
                       "' (disk full, permissions)" + (journal ? "" : " and run `driftrun registry verify`"));
}

}  // namespace driftrun
