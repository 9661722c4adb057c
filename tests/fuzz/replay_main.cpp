// The main() of a fuzz target in the normal build: runs every file named on the
// command line (folders: every file in them, sorted) through the target once, so
// CTest replays the seed corpora (tests/fuzz/corpus/<target>/) without libFuzzer.
// A crash, sanitizer report or abort fails the test; the file is named first.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::string> FilesOf(const std::string& path) {
  struct stat sb;
  if (::stat(path.c_str(), &sb) != 0) return {};
  if (!S_ISDIR(sb.st_mode)) return {path};
  std::vector<std::string> out;
  if (DIR* d = ::opendir(path.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(path + "/" + n);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::vector<std::string> files = FilesOf(argv[i]);
    if (files.empty()) {
      std::fprintf(stderr, "replay: '%s' has no inputs\n", argv[i]);
      return 2;
    }
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      std::fprintf(stderr, "replay: %s (%zu bytes)\n", f.c_str(), bytes.size());
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ++runs;
    }
  }
  std::printf("replay: %d inputs ran without a crash\n", runs);
  return 0;
}
