// Typed helpers over the type-erased Communicator (see communicator.h).
//
// AgreeStatus is how a failure on one rank reaches all: every rank calls it at the
// same point; the highest error code wins. A rank whose own status was OK gets a
// Status with that code and an empty message (the failing rank prints the reason).
#pragma once

#include <string>
#include <vector>

#include "comm/communicator.h"

namespace driftrun {

Status AgreeStatus(Communicator& comm, const Status& local);
// Keeps the message of the lowest-numbered rank that has one; every other rank
// gets the same code with an empty message, so a failure is printed once. Every
// rank must call it (not for kInfra: the group may be broken).
Status DedupeStatus(Communicator& comm, const Status& st);
Status AllReduceDoubles(Communicator& comm, std::vector<double>* v, ReduceOp op = ReduceOp::kSum);
// Broadcasts a string of any length from `root`.
Status BroadcastString(Communicator& comm, std::string* s, int root = 0);

}  // namespace driftrun
