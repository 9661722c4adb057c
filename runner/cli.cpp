#include "runner/cli.h"

#include <unistd.h>

#include <gflags/gflags.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "common/config.h"
#include "common/file_util.h"
#include "common/text.h"
#include "registry/registry.h"
#include "trainers/resume.h"

namespace driftrun {

namespace {

// " (did you mean '--run-dir'?)" for a near miss of one of cmd's flags, else "".
std::string SuggestFlag(const CommandSpec& cmd, const std::string& name) {
  std::vector<std::string> names;
  for (const auto& f : cmd.flags) names.push_back(f.name);
  if (cmd.takes_set) names.push_back("set");
  names.push_back("help");
  std::string near = ClosestMatch(name, names, name.size() <= 3 ? 1 : 2);
  if (near.empty()) return "";
  std::replace(near.begin(), near.end(), '_', '-');
  return " (did you mean '--" + near + "'?)";
}

}  // namespace

Result<ParsedArgs> ParseArgs(const CommandSpec& cmd, int argc, char** argv, int first) {
  ParsedArgs out;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h" || a == "-help") {
      out.help = true;
      continue;
    }
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      if (a.rfind("-", 0) == 0 && a.size() > 1) {
        return Status::Usage("unknown option '" + EscapeForConsole(a) +
                             "'; flags take two dashes (see --help)");
      }
      out.positional.push_back(a);
      continue;
    }
    std::string body = a.substr(2), name = body, value;
    bool has_value = false;
    if (auto eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    std::replace(name.begin(), name.end(), '-', '_');
    if (name == "set" && cmd.takes_set) {
      if (!has_value) {
        if (i + 1 >= argc) return Status::Usage("--set needs section.key=value");
        value = argv[++i];
      }
      out.sets.push_back(value);
      continue;
    }
    auto known = [&](const std::string& n) {
      return std::any_of(cmd.flags.begin(), cmd.flags.end(), [&](const FlagHelp& f) { return n == f.name; });
    };
    bool negated = false;
    if (!known(name) && name.rfind("no", 0) == 0 && known(name.substr(2))) {
      name = name.substr(2);
      negated = true;
    }
    if (!known(name)) {
      return Status::Usage("unknown flag '--" + EscapeForConsole(body.substr(0, body.find('='))) + "'" +
                           SuggestFlag(cmd, name) + "; run `driftrun " + cmd.name + " --help` for the list");
    }
    std::string dashed = name;  // as the user types it
    for (const FlagHelp& f : cmd.flags) {
      if (name == f.name) name = f.Gflag();
    }
    gflags::CommandLineFlagInfo info;
    gflags::GetCommandLineFlagInfo(name.c_str(), &info);
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    if (info.type == "bool") {
      if (!has_value) value = negated ? "false" : "true";
    } else if (!has_value) {
      if (i + 1 >= argc) return Status::Usage("--" + dashed + " needs a value");
      value = argv[++i];
    }
    // "--run-dir=" or --out "$UNSET": an empty value is a mistake, never "the default".
    if (value.empty()) return Status::Usage("--" + dashed + " needs a value, got an empty one");
    if (gflags::SetCommandLineOption(name.c_str(), value.c_str()).empty()) {
      return Status::Usage("--" + dashed + "='" + EscapeForConsole(value) + "' is not a valid " + info.type);
    }
  }
  return out;
}

std::string CommandHelp(const CommandSpec& cmd) {
  std::ostringstream os;
  os << "driftrun " << cmd.name << ": " << cmd.summary << "\n\nusage: " << cmd.usage << "\n\nflags:\n";
  for (const auto& f : cmd.flags) {
    gflags::CommandLineFlagInfo info;
    std::string dashed = f.name;
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    std::string def;  // none shown for a string without a default (required, or optional without one)
    if (gflags::GetCommandLineFlagInfo(f.Gflag(), &info) && !info.default_value.empty()) {
      def = info.type == "string" ? "\"" + info.default_value + "\"" : info.default_value;
    }
    os << "  --" << dashed << (def.empty() ? "" : " (default " + def + ")") << "\n      " << f.help << "\n";
  }
  if (cmd.takes_set) {
    os << "  --set section.key=value\n      override one config key; repeatable (keys: configs/README.md)\n";
  }
  os << "  --help\n      this text\n";
  return os.str();
}

bool ParseCommand(const CommandSpec& cmd, int argc, char** argv, ParsedArgs* out, int* exit_code) {
  auto args = ParseArgs(cmd, argc, argv, 2);
  if (!args.ok()) {
    *exit_code = ReportStatus(cmd.name, args.status());
    return false;
  }
  if (args.value().help) {
    std::cout << CommandHelp(cmd);
    *exit_code = 0;
    return false;
  }
  *out = args.take();
  return true;
}

int ReportStatus(const std::string& cmd, const Status& st) {
  if (st.ok()) return 0;
  if (!st.message().empty()) {
    // Messages carry names and values from data and users: escaped line by line
    // (a message may have lines of its own).
    std::string text, line;
    std::istringstream lines(st.message());
    while (std::getline(lines, line)) text += (text.empty() ? "" : "\n") + EscapeForConsole(line);
    // No doubled prefixes: a message that already starts with the command or
    // its own label ("usage error: ...", "promotion refused: ...") keeps it alone.
    const std::string code = CodeName(st.code());
    const std::string self = "driftrun " + cmd + ": ";
    if (text.rfind(self, 0) == 0) text = text.substr(self.size());
    const bool labelled = text.rfind(code + ": ", 0) == 0 || text.rfind("promotion refused: ", 0) == 0;
    // One write: under mpirun, a line written in pieces can be split by
    // Open MPI's own abort message on the same stream.
    const std::string whole = self + (labelled ? "" : code + ": ") + text + "\n";
    std::fwrite(whole.data(), 1, whole.size(), stderr);
    std::fflush(stderr);
  }
  return st.exit_code();
}

Result<int> EnvSwitch(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return -1;
  const std::string s(v);
  if (s == "0" || s == "1") return s == "1" ? 1 : 0;
  return Status::Usage(std::string(name) + "='" + EscapeForConsole(s) + "': use 0 or 1 (or leave it unset)");
}

Status CheckStepSwitches() {
  for (const char* name : {"DRIFTRUN_AUTOGRAD_STEP", "DRIFTRUN_STEP_PIPELINE"})
    DRIFTRUN_RETURN_IF_ERROR(EnvSwitch(name).status());
  return Status::Ok();
}

Status CheckExperimentConfig(const Config& cfg, const std::string& path) {
  const std::vector<std::string>& models = cfg.StrList("service.models");
  if (models.empty()) return Status::Ok();
  return Status::Usage("'" + path +
                       "' is a service config (it sets service.models): start it with driftrun serve "
                       "--config " +
                       path + "; this command takes an experiment config, such as one of its models ('" +
                       models.front() + "')");
}

Status CheckNotAnothersFile(const std::string& out, const std::string& flag, const std::string& own_run) {
  if (const std::string registry = Registry::HoldingStore(out); !registry.empty())
    return Status::Usage(
        flag + " '" + out + "' is inside the registry '" + registry +
        "': its files are the registry's own (registry verify checks them); write elsewhere");
  const std::string name = BaseName(out), run = DirName(AbsolutePath(out));
  if ((name == "model.onnx" || name == "report.html") && PathExists(out) && IsRunFolder(run) &&
      (own_run.empty() || !SameFile(run, own_run)))
    return Status::Usage(
        flag + " '" + out + "' is the " + name + " of run folder '" + run +
        "', not of this command's run; write elsewhere (that run's own command rewrites it)");
  return Status::Ok();
}

std::string SelfExe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "driftrun";
}

}  // namespace driftrun
