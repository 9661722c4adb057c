// driftrun-export: writes the ONNX file of one checkpoint. A separate small
// executable because the ONNX protobuf library and LibTorch's bundled protobuf
// cannot share a process; `driftrun export`, training's automatic export and
// registration run it. Usage:
//   driftrun-export --checkpoint CKPT.json --out model.onnx [--meta KEY=VALUE ...]
//                   [--producer-version V]
// Exit codes as driftrun: 2 usage, 3 bad checkpoint, 5 cannot write.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/file_util.h"
#include "common/guard.h"
#include "common/sha256.h"
#include "export/onnx_export.h"
#include "models/checkpoint.h"
#include "models/model_spec.h"

namespace {

// A text model's input is hashed n-gram ids: every setting of the hashing goes
// into the metadata, so that a serving side reproduces the ids exactly
// (README "Text models"; scripts/text_ids.py reads these keys).
void AddTextHashMetadata(const driftrun::CheckpointState& ck, std::map<std::string, std::string>* meta) {
  auto spec = driftrun::ModelSpec::FromJson(ck.model_spec);
  if (!spec.ok() || spec.value().kind != "text" || spec.value().input.empty()) return;
  const driftrun::ModelSpec& m = spec.value();
  (*meta)["driftrun.text.scheme"] = "driftrun-ngrams-1";
  (*meta)["driftrun.text.buckets"] = std::to_string(m.pad_id);
  (*meta)["driftrun.text.pad_id"] = std::to_string(m.pad_id);
  (*meta)["driftrun.text.max_ids"] = std::to_string(m.input[0]);
  if (m.word_ngrams > 0) {
    (*meta)["driftrun.text.word_ngrams"] = std::to_string(m.word_ngrams);
    (*meta)["driftrun.text.char_ngrams"] = std::to_string(m.char_ngrams);
  }
}

}  // namespace

namespace driftrun {
namespace {

int Run(int argc, char** argv) {
  std::string ckpt, out, version = "unknown";
  std::map<std::string, std::string> meta;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--checkpoint" && has_value) {
      ckpt = argv[++i];
    } else if (a == "--out" && has_value) {
      out = argv[++i];
    } else if (a == "--producer-version" && has_value) {
      version = argv[++i];
    } else if (a == "--meta" && has_value) {
      const std::string kv = argv[++i];
      const size_t eq = kv.find('=');
      if (eq == std::string::npos) {
        std::cerr << "driftrun-export: --meta " << kv << ": expected KEY=VALUE\n";
        return 2;
      }
      meta[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else {
      std::cerr << "usage: driftrun-export --checkpoint CKPT.json --out model.onnx [--meta KEY=VALUE ...]\n";
      return 2;
    }
  }
  if (ckpt.empty() || out.empty()) {
    std::cerr << "usage: driftrun-export --checkpoint CKPT.json --out model.onnx [--meta KEY=VALUE ...]\n";
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto ck = ReadCheckpoint(ckpt);
  if (!ck.ok()) {
    std::cerr << "driftrun-export: " << ck.status().WithContext("reading '" + ckpt + "'").ToString() << "\n";
    return static_cast<int>(ck.status().code());
  }
  // The input's columns by name, so a serving side can line its data up.
  if (!ck.value().pre.names.empty())
    meta["driftrun.feature_names"] = nlohmann::json(ck.value().pre.names).dump();
  AddTextHashMetadata(ck.value(), &meta);
  auto bytes = BuildOnnx(ck.value(), meta, version);
  Status st = bytes.ok() ? WriteFileAtomic(out, bytes.value()) : bytes.status();
  if (!st.ok()) {
    std::cerr << "driftrun-export: " << st.WithContext("exporting '" + ckpt + "'").ToString() << "\n";
    return static_cast<int>(st.code());
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const nlohmann::json r = {{"onnx", out},
                            {"bytes", bytes.value().size()},
                            {"sha256", Sha256Hex(bytes.value())},
                            {"seconds", std::round(secs * 1e4) / 1e4}};
  std::printf("%s\n", r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return 0;
}

}  // namespace
}  // namespace driftrun

int main(int argc, char** argv) {
  driftrun::InitProcessForFiles();
  // Last resort: an exception (out of memory, a library's throw) is a message and
  // an exit code from the contract, never an abort.
  try {
    return driftrun::Run(argc, argv);
  } catch (...) {
    const driftrun::Status st =
        driftrun::ExceptionStatus(std::current_exception(), "unexpected failure", driftrun::Code::kInfra);
    std::cerr << "driftrun-export: " << st.ToString() << "\n";
    return st.exit_code();
  }
}
