#include "common/config.h"

#include <toml++/toml.h>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "common/file_util.h"
#include "common/sha256.h"
#include "common/text.h"
#include "common/toml_json.h"

namespace driftrun {
namespace {

std::string FullKey(const KeyInfo& k) {
  return std::string(k.section).empty() ? k.key : std::string(k.section) + "." + k.key;
}

const KeyInfo* FindKey(const std::string& full) {
  for (const auto& k : ConfigSchema()) {
    if (FullKey(k) == full) return &k;
  }
  return nullptr;
}

bool IsSection(const std::string& name) {
  for (const auto& k : ConfigSchema()) {
    if (name == k.section) return true;
  }
  return false;
}

const char* TypeName(ValueType t) {
  switch (t) {
    case ValueType::kString: return "a string";
    case ValueType::kInt: return "an integer";
    case ValueType::kFloat: return "a number";
    case ValueType::kBool: return "a boolean (true or false)";
    case ValueType::kIntList: return "a list of integers";
    case ValueType::kStringList: return "a list of strings";
  }
  return "?";
}

const char* NodeTypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date or time";
  }
}

// Keys that name files or folders (see Config::Load).
const char* const kPathKeys[] = {"data.train",       "data.val",      "registry.path", "train.init_from",
                                 "monitor.incoming", "service.state", "service.models"};

std::string SuggestSection(const std::string& name) {
  std::vector<std::string> sections;
  for (const auto& k : ConfigSchema()) {
    const std::string sec = k.section;
    if (!sec.empty() && std::find(sections.begin(), sections.end(), sec) == sections.end())
      sections.push_back(sec);
  }
  const std::string best = ClosestMatch(name, sections, 2);
  return best.empty() ? " (see configs/README.md for every key)" : " (did you mean '[" + best + "]'?)";
}

std::string Suggest(const std::string& full) {
  std::vector<std::string> keys;
  for (const auto& k : ConfigSchema()) keys.push_back(FullKey(k));
  const std::string best = ClosestMatch(full, keys, 3);
  return best.empty() ? " (see configs/README.md for every key)" : " (did you mean '" + best + "'?)";
}

// A TOML array whose every element is a T; an error string when it is not.
template <typename T>
std::string ConvertList(const toml::node& n, const KeyInfo& k, ConfigValue* out) {
  const toml::array* arr = n.as_array();
  if (!arr) return std::string("must be ") + TypeName(k.type) + ", got " + NodeTypeName(n);
  std::vector<T> list;
  for (const auto& e : *arr) {
    auto v = e.template value_exact<T>();
    if (!v)
      return std::string("must be ") + TypeName(k.type) + ", found an element that is " + NodeTypeName(e);
    list.push_back(*v);
  }
  *out = list;
  return "";
}

// Converts a TOML node to the key's type; an error string when it does not fit.
std::string Convert(const toml::node& n, const KeyInfo& k, ConfigValue* out) {
  switch (k.type) {
    case ValueType::kString:
      if (auto v = n.value_exact<std::string>()) {
        *out = *v;
        return "";
      }
      break;
    case ValueType::kInt:
      if (auto v = n.value_exact<int64_t>()) {
        *out = *v;
        return "";
      }
      break;
    case ValueType::kFloat:
      if (n.is_integer()) {
        *out = static_cast<double>(*n.value_exact<int64_t>());
        return "";
      }
      if (auto v = n.value_exact<double>()) {
        if (!std::isfinite(*v)) return "must be a finite number, not " + FormatDouble(*v);
        *out = *v;
        return "";
      }
      break;
    case ValueType::kBool:
      if (auto v = n.value_exact<bool>()) {
        *out = *v;
        return "";
      }
      break;
    case ValueType::kIntList: return ConvertList<int64_t>(n, k, out);
    case ValueType::kStringList:
      if (auto v = n.value_exact<std::string>()) {  // one item: the list of it
        *out = std::vector<std::string>{*v};
        return "";
      }
      return ConvertList<std::string>(n, k, out);
  }
  return std::string("must be ") + TypeName(k.type) + ", got " + NodeTypeName(n);
}

std::string CheckChoice(const KeyInfo& k, const ConfigValue& v) {
  std::string choices = k.choices;
  if (choices.empty()) return "";
  const std::string& s = std::get<std::string>(v);
  std::stringstream ss(choices);
  std::string c;
  while (std::getline(ss, c, '|')) {
    if (c == s) return "";
  }
  return "is '" + s + "', must be one of " + choices;
}

std::string ValueToToml(const ConfigValue& v) {
  struct {
    std::string operator()(const std::string& s) const {
      std::ostringstream os;
      os << toml::value<std::string>(s);
      return os.str();
    }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      // Shortest round-trip form (0.1, not 0.10000000000000001); TOML floats need
      // a '.' or an exponent.
      std::string t = FormatDouble(d);
      if (t.find_first_of(".eni") == std::string::npos) t += ".0";
      return t;
    }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const std::vector<std::string>& l) const {
      std::string s = "[";
      for (size_t i = 0; i < l.size(); ++i) s += (i ? ", " : "") + (*this)(l[i]);
      return s + "]";
    }
    std::string operator()(const std::vector<int64_t>& l) const {
      std::string s = "[";
      for (size_t i = 0; i < l.size(); ++i) s += (i ? ", " : "") + std::to_string(l[i]);
      return s + "]";
    }
  } visitor;
  return std::visit(visitor, v);
}

Status SetFromNode(const toml::node& n, const KeyInfo& k, const std::string& where,
                   std::map<std::string, ConfigValue>* values, std::map<std::string, std::string>* origin) {
  ConfigValue v;
  std::string err = Convert(n, k, &v);
  if (err.empty()) err = CheckChoice(k, v);
  if (!err.empty()) {
    return Status::Usage(where + ": key '" + FullKey(k) + "' " + err + "; fix the value");
  }
  (*values)[FullKey(k)] = v;
  (*origin)[FullKey(k)] = where;
  return Status::Ok();
}

}  // namespace

Result<std::vector<std::string>> SweepOverrides(const std::string& entry, const std::string& where,
                                                const std::string& base) {
  const size_t eq = entry.find('=');
  auto trim = [](std::string t) {
    const size_t a = t.find_first_not_of(" \t"), b = t.find_last_not_of(" \t");
    return a == std::string::npos ? std::string() : t.substr(a, b - a + 1);
  };
  const std::string key = trim(entry.substr(0, eq));
  const std::string shape = "; write \"section.key = [value, value, ...]\"";
  if (eq == std::string::npos) return Status::Usage(where + ": '" + entry + "' has no '='" + shape);
  const KeyInfo* k = FindKey(key);
  if (!k) return Status::Usage(where + ": unknown key '" + key + "'" + Suggest(key));
  for (const char* fixed : {"sweep", "slurm", "service"}) {
    if (std::string(k->section) == fixed) {
      return Status::Usage(where + ": '" + key + "' cannot be swept: [" + fixed +
                           "] is the same for every trial of a sweep");
    }
  }
  toml::table t;
  try {
    t = toml::parse("v = " + entry.substr(eq + 1), where);
  } catch (const toml::parse_error& e) {
    return Status::Usage(where + ": '" + key + "': the values are not TOML: " + std::string(e.description()) +
                         shape);
  }
  const toml::array* values = t.get("v") ? t.get("v")->as_array() : nullptr;
  if (!values || values->empty())
    return Status::Usage(where + ": '" + key + "' needs a non-empty list" + shape);
  std::vector<std::string> out;
  for (const toml::node& n : *values) {
    ConfigValue v;
    const std::string err = Convert(n, *k, &v);
    if (!err.empty()) return Status::Usage(where + ": a value of '" + key + "' " + err);
    // A path is relative to the folder of the file the entry is in, as the
    // same path under its own section would be.
    if (std::any_of(std::begin(kPathKeys), std::end(kPathKeys), [&](const char* p) { return key == p; })) {
      if (auto* one = std::get_if<std::string>(&v)) {
        if (!one->empty()) *one = AbsolutePath(*one, base);
      } else if (auto* many = std::get_if<std::vector<std::string>>(&v)) {
        for (std::string& item : *many) item = AbsolutePath(item, base);
      }
    }
    out.push_back(key + "=" + ValueToToml(v));
    DRIFTRUN_RETURN_IF_ERROR(Config::FromString("", where, {out.back()}).status().WithContext(where));
  }
  return out;
}

// Paths in a config file are relative to that file's folder; defaults and
// --set values to the working directory. All are stored absolute, so that a
// run's config.resolved.toml means the same files from anywhere.
Result<Config> Config::Load(const std::string& path, const std::vector<std::string>& overrides) {
  std::string text;
  if (!path.empty()) {
    if (IsDir(path)) {
      return Status::Usage("config file '" + path +
                           "' is a directory, not a file; name a .toml file (examples are in configs/)");
    }
    auto t = ReadFile(path);
    if (!t.ok()) {
      return Status::Usage("config file '" + path + "' cannot be read (" + t.status().message() +
                           "); check the --config path (examples are in configs/)");
    }
    text = t.take();
  }
  DRIFTRUN_ASSIGN_OR_RETURN(Config cfg, FromString(text, path.empty() ? "<defaults>" : path, overrides));
  for (const char* key : kPathKeys) {
    const std::string& origin = cfg.origin_.at(key);
    const bool from_file = !path.empty() && origin != "default" && origin.rfind("--set", 0) != 0;
    const std::string base = from_file ? DirName(path) : ".";
    ConfigValue& v = cfg.values_.at(key);
    if (auto* one = std::get_if<std::string>(&v)) {
      if (!one->empty()) *one = AbsolutePath(*one, base);  // empty: unset (monitor.incoming)
    } else {
      for (std::string& item : std::get<std::vector<std::string>>(v)) item = AbsolutePath(item, base);
    }
  }
  return cfg;
}

// One --set section.key=value onto `values`: its value parsed as TOML, a bare
// word as a string.
static Status ApplySet(const std::string& o, std::map<std::string, ConfigValue>* values,
                       std::map<std::string, std::string>* origin) {
  auto eq = o.find('=');
  if (eq == std::string::npos || eq == 0) {
    return Status::Usage("--set " + o + ": expected section.key=value, for example --set train.lr=3e-4");
  }
  std::string full = o.substr(0, eq), raw = o.substr(eq + 1);
  const KeyInfo* k = FindKey(full);
  if (!k) return Status::Usage("--set " + o + ": unknown key '" + full + "'" + Suggest(full));
  toml::table t;
  try {
    t = toml::parse("v = " + raw);
  } catch (const toml::parse_error& e) {
    // A bare word such as adamw is a string; a number TOML cannot hold, or a
    // list or quoted string it cannot read, is an error.
    const char c0 = raw.empty() ? '\0' : raw[0];
    const bool number = (k->type == ValueType::kInt || k->type == ValueType::kFloat) &&
                        (std::isdigit(static_cast<unsigned char>(c0)) || c0 == '-' || c0 == '+' || c0 == '.');
    if (number)
      return Status::Usage("--set " + o + ": '" + raw + "' is not a number TOML can hold (" +
                           std::string(e.description()) + "); fix the value");
    if (c0 == '[' || c0 == '"' || c0 == '\'')
      return Status::Usage("--set " + o + ": '" + raw + "' is not valid TOML (" +
                           std::string(e.description()) + "); for example --set model.hidden=[64,32]");
    t = toml::table{{"v", raw}};
  }
  // 1e-400 parses as 0: say so, rather than "must be > 0" about a value the user did not write.
  if (const auto* f = t.get("v")->as_floating_point(); f && f->get() == 0.0) {
    const std::string mantissa = raw.substr(0, raw.find_first_of("eE"));
    if (mantissa.find_first_of("123456789") != std::string::npos)
      return Status::Usage(
          "--set " + o + ": '" + raw +
          "' is too small for a double and would be 0; write 0 if you mean 0, else a larger value");
  }
  return SetFromNode(*t.get("v"), *k, "--set " + o, values, origin);
}

Result<Config> Config::FromString(const std::string& text, const std::string& source,
                                  const std::vector<std::string>& overrides) {
  Config cfg;
  for (const auto& k : ConfigSchema()) {
    toml::table t = toml::parse(std::string("v = ") + k.default_toml);
    ConfigValue v;
    std::string err = Convert(*t.get("v"), k, &v);
    if (!err.empty()) throw std::logic_error("config schema: the default of " + FullKey(k) + " " + err);
    cfg.values_[FullKey(k)] = v;
    cfg.origin_[FullKey(k)] = "default";
  }

  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return Status::Usage(source + ":" + std::to_string(e.source().begin.line) +
                         ": TOML syntax error: " + std::string(e.description()));
  }
  auto where_of = [&](const toml::node& n) { return source + ":" + std::to_string(n.source().begin.line); };
  // Every mistake in the file at once, in line order (a stranger fixing one
  // typo per run learns of the next only after the next try).
  std::vector<std::pair<int64_t, std::string>> errors;
  auto set = [&](const toml::node& n, const std::string& full) {
    const KeyInfo* k = FindKey(full);
    Status st = k ? SetFromNode(n, *k, where_of(n), &cfg.values_, &cfg.origin_)
                  : Status::Usage(where_of(n) + ": unknown key '" + full + "'" + Suggest(full));
    if (!st.ok()) errors.emplace_back(n.source().begin.line, st.message());
  };
  for (auto&& [key, node] : root) {
    std::string name(key.str());
    if (!node.is_table()) {
      set(node, name);
    } else if (!IsSection(name)) {
      errors.emplace_back(node.source().begin.line,
                          where_of(node) + ": unknown section '[" + name + "]'" + SuggestSection(name));
    } else {
      for (auto&& [sub, subnode] : *node.as_table()) set(subnode, name + "." + std::string(sub.str()));
    }
  }
  std::stable_sort(errors.begin(), errors.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  // Then every --set, each checked (after the file's, in command-line order).
  for (const std::string& o : overrides) {
    Status st = ApplySet(o, &cfg.values_, &cfg.origin_);
    if (!st.ok()) errors.emplace_back(0, st.message());
  }
  if (!errors.empty()) {
    std::string all;
    for (const auto& e : errors) all += (all.empty() ? "" : "\n") + e.second;
    return Status::Usage(all);
  }
  return cfg;
}

namespace {
template <typename T>
const T& Get(const std::map<std::string, ConfigValue>& values, const std::string& key) {
  auto it = values.find(key);
  if (it == values.end() || !std::holds_alternative<T>(it->second)) {
    // Key names are literals in driftrun's code, never user input: a bug, not bad config.
    throw std::logic_error("internal error: config key '" + key +
                           "' is not in the schema or not of this type");
  }
  return std::get<T>(it->second);
}
}  // namespace

const std::string& Config::Str(const std::string& k) const {
  return Get<std::string>(values_, k);
}
int64_t Config::Int(const std::string& k) const {
  return Get<int64_t>(values_, k);
}
double Config::Float(const std::string& k) const {
  return Get<double>(values_, k);
}
bool Config::Bool(const std::string& k) const {
  return Get<bool>(values_, k);
}
const std::vector<std::string>& Config::StrList(const std::string& k) const {
  return Get<std::vector<std::string>>(values_, k);
}
const std::vector<int64_t>& Config::IntList(const std::string& k) const {
  return Get<std::vector<int64_t>>(values_, k);
}

std::string Config::Origin(const std::string& k) const {
  auto it = origin_.find(k);
  return it == origin_.end() ? "" : it->second;
}

std::vector<std::string> Config::Differences(const Config& other) const {
  std::vector<std::string> out;
  for (const auto& k : ConfigSchema()) {
    const std::string key = FullKey(k);
    const std::string a = ValueToToml(values_.at(key)), b = ValueToToml(other.values_.at(key));
    if (a != b) out.push_back(key + ": " + a + " -> " + b);
  }
  return out;
}

std::vector<std::string> Config::RunDifferences(const Config& other) const {
  std::vector<std::string> out;
  for (const std::string& d : Differences(other)) {
    bool outside = false;
    for (const char* section :
         {"service.", "monitor.", "trigger.", "retrain.", "slurm.", "sweep.", "mlflow."})
      outside = outside || d.rfind(section, 0) == 0;
    // What a rank may hold: a resume keeps its checkpoint's data order anyway.
    // How a step is launched (train.cuda_graph) and how ranks meet and wait
    // (gradient buckets, shared memory, deadlines, replica checks) do not
    // change what is computed.
    for (const char* key :
         {"data.memory_mb:", "data.stream_chunk_rows:", "train.cuda_graph:", "dist.bucket_mb:",
          "dist.shared_memory:", "dist.timeout_s:", "dist.verify_every_steps:"})
      outside = outside || d.rfind(key, 0) == 0;
    if (!outside) out.push_back(d);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> Config::Flat() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& k : ConfigSchema()) {
    const std::string key = FullKey(k);
    out.emplace_back(key, ValueToToml(values_.at(key)));
  }
  return out;
}

std::string Config::ToToml() const {
  std::ostringstream os;
  std::string section = "\x01";
  for (const auto& k : ConfigSchema()) {
    if (section != k.section) {
      section = k.section;
      if (!section.empty()) os << "\n[" << section << "]\n";
    }
    os << k.key << " = " << ValueToToml(values_.at(FullKey(k))) << "\n";
  }
  return os.str();
}

std::string Config::Hash() const {
  // Where a run is reported ([mlflow]) is not what it computes: the same
  // training has the same hash with tracking on or off.
  std::string toml = ToToml();
  const size_t from = toml.find("\n[mlflow]\n");
  if (from != std::string::npos) {
    const size_t to = toml.find("\n[", from + 1);
    toml.erase(from, to == std::string::npos ? std::string::npos : to - from);
  }
  return Sha256Hex(toml);
}

std::string Config::DocsMarkdown() {
  std::ostringstream os;
  os << "| key | type | default | meaning |\n| --- | --- | --- | --- |\n";
  for (const auto& k : ConfigSchema()) {
    std::string doc = k.doc;
    if (std::string(k.choices).size()) doc += " (" + std::string(k.choices) + ")";
    std::string type = TypeName(k.type);
    os << "| `" << FullKey(k) << "` | " << type.substr(type.find(' ') + 1) << " | `" << k.default_toml
       << "` | " << doc << " |\n";
  }
  return os.str();
}

std::string TomlValueAsJson(const std::string& value) {
  try {
    const toml::table t = toml::parse("v = " + value);
    std::ostringstream os;
    os << toml::json_formatter{t};
    const std::string text = os.str();  // {"v": ...}
    const size_t colon = text.find(':'), end = text.rfind('}');
    if (colon == std::string::npos || end == std::string::npos || end <= colon) return "";
    return text.substr(colon + 1, end - colon - 1);
  } catch (const toml::parse_error&) {
    return "";
  }
}

}  // namespace driftrun
