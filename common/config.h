// Config: one TOML file per experiment or service, resolved against a schema.
//
// Every key has a type, a default and a one-line doc in ConfigSchema(); the schema
// is the single source for validation, `driftrun config --docs` and
// configs/README.md. Loading merges defaults, the file and `--set section.key=value`
// overrides (in that order). Unknown keys, wrong types and values outside a key's
// choices are Status::Usage errors that name the file, line and key.
//
// A Config is an immutable value after loading; copies are cheap enough.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/status.h"

namespace driftrun {

enum class ValueType { kString, kInt, kFloat, kBool, kIntList, kStringList };

struct KeyInfo {
  const char* section;  // "" for top-level keys
  const char* key;
  ValueType type;
  const char* default_toml;  // a TOML literal
  const char* choices;       // "a|b|c" for enumerations, else ""
  const char* doc;
};

// All known keys, in documentation order.
const std::vector<KeyInfo>& ConfigSchema();

// One entry of sweep.params, "section.key = [v1, v2, ...]" (TOML values), as
// one --set override per value ("train.lr=0.001"). Status::Usage, prefixed by
// `where`, for an unknown key, a key that cannot be swept ([sweep], [slurm],
// [service]), an empty or non-array list, or a value of the wrong type. Paths
// among the values are made absolute against `base` (the folder of the file
// the entry is in; "." for the working directory).
Result<std::vector<std::string>> SweepOverrides(const std::string& entry, const std::string& where,
                                                const std::string& base = ".");

using ConfigValue =
    std::variant<std::string, int64_t, double, bool, std::vector<int64_t>, std::vector<std::string>>;

class Config {
 public:
  // Reads `path` (or only defaults when path is empty) and applies overrides of the
  // form "section.key=value" (value in TOML syntax; bare words are strings).
  static Result<Config> Load(const std::string& path, const std::vector<std::string>& overrides);
  // Same, from text; `source` names it in messages.
  static Result<Config> FromString(const std::string& text, const std::string& source,
                                   const std::vector<std::string>& overrides);

  // Typed getters take "section.key" (or "key" at top level). Key names are
  // literals in driftrun's code, never user input, so asking for an unknown key
  // or the wrong type is a programming error: it throws std::logic_error naming
  // the key (main's last-resort handler reports it, exit 5), never aborts.
  const std::string& Str(const std::string& full_key) const;
  int64_t Int(const std::string& full_key) const;
  double Float(const std::string& full_key) const;
  bool Bool(const std::string& full_key) const;
  const std::vector<int64_t>& IntList(const std::string& full_key) const;
  const std::vector<std::string>& StrList(const std::string& full_key) const;

  // Where a key's value came from: "FILE:LINE", "--set", or "default".
  std::string Origin(const std::string& full_key) const;

  // The fully resolved config as TOML, every key present, stable order.
  std::string ToToml() const;
  // Every key with its value as TOML text ("train.lr", "0.003"), schema order.
  std::vector<std::pair<std::string, std::string>> Flat() const;
  // sha256 of ToToml() without its [mlflow] section: identifies what a run
  // computes in checkpoints and lineage.
  std::string Hash() const;
  // "section.key: this -> other" for every key whose value differs, in schema order.
  std::vector<std::string> Differences(const Config& other) const;
  // Differences in keys that change what a run computes: those of the service
  // ([service] [monitor] [trigger] [retrain]), of Slurm ([slurm] [sweep]) and of
  // MLflow ([mlflow]) say when, where and how a model is trained or reported,
  // not what a run computes.
  std::vector<std::string> RunDifferences(const Config& other) const;

  // Markdown table of every key (for configs/README.md).
  static std::string DocsMarkdown();

 private:
  std::map<std::string, ConfigValue> values_;
  std::map<std::string, std::string> origin_;
};

}  // namespace driftrun
