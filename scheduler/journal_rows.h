// Reading the journal's rows back (internal to scheduler/journal*.cpp): the
// column lists of batches and jobs and the records they make.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "registry/sqlite_db.h"
#include "scheduler/journal.h"

namespace driftrun {
namespace journal_internal {

extern const char* const kBatchColumns;  // in ReadBatch's order
extern const char* const kJobColumns;    // in ReadJob's order

// Text that is not JSON stays a JSON string.
nlohmann::json ParseJson(const std::string& text);
BatchRecord ReadBatch(const Stmt& s);
Result<JobRecord> ReadJob(const Stmt& s, const std::string& where);
// Every row of a prepared job query.
Result<std::vector<JobRecord>> ReadJobs(Stmt& s, const std::string& path);

}  // namespace journal_internal
}  // namespace driftrun
