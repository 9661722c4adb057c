// SQLite helpers for the registry's embedded store (and the service's journal,
// scheduler/journal.cpp): a prepared statement, a write transaction that rolls
// back unless committed, and the one place where SQLite error codes become
// Status (DbError).
//
// Thread-safety: none; each object belongs to the connection's thread.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "common/status.h"

namespace driftrun {

// Current UTC time as ISO 8601 with milliseconds ("2026-11-27T08:34:44.120Z"),
// for audit columns; strictly increasing within a process.
std::string UtcNow();

// Status::Infra naming the database (registry or service journal), `what`,
// SQLite's message and what to do (a busy database: another process holds
// its write lock).
Status DbError(sqlite3* db, const std::string& what);
// A database file SQLite finds malformed (SQLITE_CORRUPT, SQLITE_NOTADB):
// Status::Data (exit 3) naming it, and what to do.
Status DamagedDb(const std::string& file, const std::string& what);
// SQLite's quick_check of the whole file (every page read: milliseconds for
// a few MB): DamagedDb with its first finding, else Ok. For start-up, where a
// damaged page found later would act on half the truth.
Status QuickCheck(sqlite3* db, const std::string& file);

class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  // A failed bind makes every later Step() fail with its code.
  Stmt& Bind(int i, const std::string& v) {
    return Keep(ok() ? sqlite3_bind_text(s_, i, v.c_str(), -1, SQLITE_TRANSIENT) : rc_);
  }
  Stmt& Bind(int i, int64_t v) { return Keep(ok() ? sqlite3_bind_int64(s_, i, v) : rc_); }
  Stmt& BindDouble(int i, double v) { return Keep(ok() ? sqlite3_bind_double(s_, i, v) : rc_); }
  Stmt& BindNull(int i) { return Keep(ok() ? sqlite3_bind_null(s_, i) : rc_); }
  // SQLITE_ROW, SQLITE_DONE or an error code (BUSY, IOERR, ...): a loop
  // `while (s.Step() == SQLITE_ROW)` must be followed by Check(), so that a
  // failing database is an error, never "no more rows".
  int Step() {
    last_ = ok() ? sqlite3_step(s_) : rc_;
    return last_;
  }
  // Status::Infra (DbError) when preparing, binding or the last Step() failed.
  Status Check(const std::string& what) const {
    if (ok() && (last_ == SQLITE_ROW || last_ == SQLITE_DONE || last_ == SQLITE_OK)) return Status::Ok();
    return DbError(db_, what);
  }
  std::string Text(int i) const {
    const unsigned char* t = sqlite3_column_text(s_, i);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  int64_t Int(int i) const { return sqlite3_column_int64(s_, i); }
  double Double(int i) const { return sqlite3_column_double(s_, i); }
  bool Null(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
  std::string Error() const { return sqlite3_errmsg(db_); }

 private:
  Stmt& Keep(int rc) {
    if (rc != SQLITE_OK) rc_ = rc;
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  int rc_;
  int last_ = SQLITE_OK;
};

// " (did you mean 'x'?)" when `s` is a near miss (a prefix, or a few edits
// away) of a value of `sql`'s first column (`param` bound to ?1 unless
// empty); "" otherwise, or when reading fails (it only adds to a message).
std::string DidYouMean(sqlite3* db, const std::string& sql, const std::string& param, const std::string& s);

// Rolls back unless Commit() was called.
class Txn {
 public:
  explicit Txn(sqlite3* db) : db_(db) {}
  Status Begin() {
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
      return DbError(db_, "cannot take the write lock");
    open_ = true;
    return Status::Ok();
  }
  Status Commit() {
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
      return DbError(db_, "commit failed");
    open_ = false;
    return Status::Ok();
  }
  ~Txn() {
    if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

 private:
  sqlite3* db_;
  bool open_ = false;
};

}  // namespace driftrun
