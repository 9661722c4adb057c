// Text helpers shared by every command: edit distance for "did you mean"
// hints, console escaping of strings that come from data or users, and the
// shortest round-trip form of a double. Pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace driftrun {

// Levenshtein distance between a and b (bytes).
size_t EditDistance(std::string_view a, std::string_view b);

// The items with `sep` between them (no escaping).
std::string Join(const std::vector<std::string>& items, const std::string& sep = ", ");

// The candidate closest to `s` by EditDistance when it is at most
// `max_distance` away (ties: the first); "" when none is.
std::string ClosestMatch(std::string_view s, const std::vector<std::string>& candidates,
                         size_t max_distance = 3);

// `s` safe to print on a terminal: control characters (C0, DEL, C1) become
// visible escapes ("\n", "\t", "\r", "\e", "\x07", "\u009b"), and bytes that are
// not valid UTF-8 become "\xNN"; a backslash stays a backslash. Printable
// UTF-8 (accents, CJK, emoji) passes through unchanged. Use it wherever a
// string from data or user input (feature, model, run or file names, notes,
// reasons, values in error messages) is printed.
std::string EscapeForConsole(std::string_view s);

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or bytes
// beyond U+10FFFF).
bool IsValidUtf8(std::string_view s);

// The shortest decimal form that reads back as exactly `v` ("0.1", "3e-05",
// "1234.5"); "nan", "inf", "-inf" for non-finite values.
std::string FormatDouble(double v);

// Status::Usage (exit 2) unless `v` is a usable name (model, run, alias): 1-128
// letters, digits, '.', '_' or '-', starting with a letter or digit, without
// "..". `what` names the value in the message ("model name", "alias"). The one
// rule for `config`, `train` and the registry.
Status ValidateName(const std::string& what, const std::string& v);

}  // namespace driftrun
