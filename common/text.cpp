#include "common/text.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace driftrun {

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1] ? 1 : 0)});
    }
    prev.swap(cur);
  }
  return prev[b.size()];
}

std::string ClosestMatch(std::string_view s, const std::vector<std::string>& candidates,
                         size_t max_distance) {
  std::string best;
  size_t best_d = max_distance + 1;
  for (const auto& c : candidates) {
    const size_t d = EditDistance(s, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

namespace {

// Length of the valid UTF-8 sequence at s[i] (1-4), or 0 when it is not one.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  size_t n = 0;
  unsigned cp = 0;
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2, cp = b & 0x1F;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3, cp = b & 0x0F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4, cp = b & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  const bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
  if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

std::string Hex(const char* fmt, unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

}  // namespace

// The second and third bytes of E2 xx xx for U+202A-U+202E and U+2066-U+2069.
bool IsBidiControl(unsigned char b1, unsigned char b2) {
  return (b1 == 0x80 && b2 >= 0xAA && b2 <= 0xAE) || (b1 == 0x81 && b2 >= 0xA6 && b2 <= 0xA9);
}

std::string EscapeForConsole(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      switch (b) {
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        case 0x1B: out += "\\e"; break;
        default: out += (b < 0x20 || b == 0x7F) ? Hex("\\x%02x", b) : std::string(1, s[i]);
      }
      ++i;
      continue;
    }
    const size_t n = Utf8Length(s, i);
    if (n == 0) {
      out += Hex("\\x%02x", b);
      ++i;
    } else if (n == 2 && b == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0) {
      out += Hex("\\u%04x", static_cast<unsigned char>(s[i + 1]));  // C1 control (U+0080-U+009F)
      i += 2;
    } else if (n == 3 && b == 0xE2 &&
               IsBidiControl(static_cast<unsigned char>(s[i + 1]), static_cast<unsigned char>(s[i + 2]))) {
      // Bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069)
      // reorder what follows them on a terminal.
      const unsigned cp = 0x2000u | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
                          (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
      out += Hex("\\u%04x", cp);
      i += 3;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = Utf8Length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof(buf), "%.*g", p, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  // Whole numbers people write as such (600, not 6e+02).
  if (std::strchr(buf, 'e') && v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  return buf;
}

Status ValidateName(const std::string& what, const std::string& v) {
  bool ok = !v.empty() && v.size() <= 128 && std::isalnum(static_cast<unsigned char>(v[0]));
  for (char c : v)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  if (!ok || v.find("..") != std::string::npos) {
    return Status::Usage(
        what + " '" + EscapeForConsole(v) +
        "' is not allowed: use 1-128 letters, digits, '.', '_' or '-', starting with a letter "
        "or digit, without '..' or '/'");
  }
  return Status::Ok();
}

std::string Join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

}  // namespace driftrun
