#include "registry/sqlite_db.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <vector>

#include <ctime>

#include "common/file_util.h"
#include "common/text.h"

namespace driftrun {

std::string UtcNow() {
  // Milliseconds, strictly increasing within a process: the history merges its
  // tables by this stamp, so two events of one millisecond (an approval, then a
  // rollback) would otherwise come back in table order, not in the order made.
  static std::mutex mu;
  static int64_t last_ms = 0;
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  {
    std::lock_guard<std::mutex> lock(mu);
    if (ms <= last_ms) ms = last_ms + 1;
    last_ms = ms;
  }
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  char buf[32], out[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", std::gmtime(&t));
  std::snprintf(out, sizeof(out), "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

// The service's journal.db and the registry's registry.db share this code;
// messages name which one.
static bool IsJournal(const std::string& file) {
  return EndsWith(file, "journal.db");
}

Status DamagedDb(const std::string& file, const std::string& what) {
  const bool journal = IsJournal(file);
  return Status::Data(std::string(journal ? "service journal" : "registry database") + " '" + file +
                      "' is damaged (" + what + "): restore it from a backup" +
                      (journal ? "" : " (the models themselves are in the artifacts/ folder beside it)"));
}

Status QuickCheck(sqlite3* db, const std::string& file) {
  Stmt s(db, "PRAGMA quick_check(1)");
  const int rc = s.Step();
  if (rc == SQLITE_ROW && s.Text(0) == "ok") return Status::Ok();
  if (rc == SQLITE_ROW) return DamagedDb(file, "quick_check: " + s.Text(0));
  return DbError(db, "checking '" + file + "'");
}

Status DbError(sqlite3* db, const std::string& what) {
  const int rc = sqlite3_errcode(db);
  const std::string file = sqlite3_db_filename(db, "main") ? sqlite3_db_filename(db, "main") : "";
  const bool journal = IsJournal(file);
  const std::string kind = journal ? "service journal" : "registry database";
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    return Status::Infra(kind + ": " + what + ": " + sqlite3_errmsg(db) +
                         "; another process held its write lock for the whole busy timeout (a long "
                         "registration, a promotion, the service, or a process stopped while holding it); "
                         "retry when it is done");
  }
  if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) return DamagedDb(file, what + ": " + sqlite3_errmsg(db));
  return Status::Infra(kind + ": " + what + ": " + sqlite3_errmsg(db) + "; check the folder of '" + file +
                       "' (disk full, permissions)" + (journal ? "" : " and run `driftrun registry verify`"));
}

std::string DidYouMean(sqlite3* db, const std::string& sql, const std::string& param, const std::string& s) {
  Stmt q(db, sql);
  if (!param.empty()) q.Bind(1, param);
  std::vector<std::string> values;
  while (q.Step() == SQLITE_ROW) values.push_back(q.Text(0));
  std::string near;
  for (const std::string& v : values) {
    if (!s.empty() && v.size() > s.size() && v.compare(0, s.size(), s) == 0) {
      near = v;
      break;
    }
  }
  if (near.empty()) near = ClosestMatch(s, values, std::min<size_t>(3, s.size() / 2));
  return near.empty() || near == s ? "" : " (did you mean '" + near + "'?)";
}

}  // namespace driftrun
