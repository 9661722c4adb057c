// `driftrun registry export-mlflow`: mirrors the registry's versions into an
// MLflow model registry. Per model: a registered model of the same name; per
// version, an MLflow model version whose source is runs:/<run>/model-v<N> (the
// MLflow run `driftrun train` logged when tracking was on, found through the
// run folder's mlflow.json or its driftrun.run_id tag, else a run made for the
// version), with the ONNX file uploaded there, and tags driftrun.version, driftrun.trigger,
// driftrun.verdict, driftrun.sha256 (of the ONNX file), driftrun.run_id; then
// the aliases production and candidate set to where the registry has them.
//
// Idempotent: a version already mirrored (its driftrun.version tag) is not
// created again, so a second export adds nothing. Errors are the client's
// (Status::Infra when MLflow is unreachable, Status::Data when it refuses).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace driftrun {

class MlflowClient;
class Registry;

// One object per model: {model, created: [[driftrun version, MLflow version]],
// existing: n, aliases: {alias: MLflow version}}.
Result<nlohmann::json> ExportToMlflow(Registry& reg, const std::string& model, MlflowClient& mlflow);

}  // namespace driftrun
