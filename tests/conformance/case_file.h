// Reader for the conformance case files in tests/conformance/cases/*.txt (format in README.md).
//
// Header-only so that both the GoogleTest runner and the fuzz seed generator use one reader.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace cppicorn::conformance {

// One expected message outcome: "complete" or "error" or "incomplete", plus key=value checks.
struct Expectation {
  std::string outcome;
  std::vector<std::pair<std::string, std::string>> checks;  // values already unescaped
};

struct Case {
  std::string file;
  int line = 0;
  std::string name;
  std::map<std::string, std::string> limits;
  std::string input;  // raw bytes
  std::vector<Expectation> expect;
};

// Decodes \r \n \t \0 \v \f \s (space) \\ and \xHH.
inline std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    switch (c) {
      case 'r':
        out += '\r';
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case '0':
        out += '\0';
        break;
      case 'v':
        out += '\v';
        break;
      case 'f':
        out += '\f';
        break;
      case 's':
        out += ' ';
        break;
      case '\\':
        out += '\\';
        break;
      case 'x': {
        if (i + 2 >= s.size()) throw std::runtime_error("truncated \\x escape");
        out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
        break;
      }
      default:
        throw std::runtime_error(std::string("unknown escape \\") + c);
    }
  }
  return out;
}

// The inverse of unescape, for readable diagnostics.
inline std::string escape(const std::string& s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == ' ') {
      out += "\\s";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

inline std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> words;
  std::istringstream in(s);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// Reads one case file. Throws std::runtime_error with file:line on malformed input.
inline std::vector<Case> read_case_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::vector<Case> cases;
  std::string line;
  int lineno = 0;
  auto where = [&] { return path.filename().string() + ":" + std::to_string(lineno); };
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("=== ", 0) == 0) {
      Case c;
      c.file = path.filename().string();
      c.line = lineno;
      c.name = line.substr(4);
      cases.push_back(std::move(c));
      continue;
    }
    if (cases.empty()) throw std::runtime_error(where() + ": text before the first case");
    Case& c = cases.back();
    try {
      if (line.rfind("> ", 0) == 0 || line == ">") {
        c.input += unescape(line.size() > 2 ? line.substr(2) : "");
      } else if (line.rfind("limits:", 0) == 0) {
        for (const std::string& w : split_words(line.substr(7))) {
          size_t eq = w.find('=');
          if (eq == std::string::npos) throw std::runtime_error("limit without '='");
          c.limits[w.substr(0, eq)] = w.substr(eq + 1);
        }
      } else if (line.rfind("< ", 0) == 0) {
        std::vector<std::string> words = split_words(line.substr(2));
        if (words.empty()) throw std::runtime_error("empty expectation");
        Expectation e;
        e.outcome = words[0];
        for (size_t i = 1; i < words.size(); ++i) {
          size_t eq = words[i].find('=');
          if (eq == std::string::npos) {
            // "< error 400": a bare word after "error" is the status.
            if (e.outcome != "error" || i != 1) throw std::runtime_error("check without '='");
            e.checks.emplace_back("status", words[i]);
            continue;
          }
          e.checks.emplace_back(words[i].substr(0, eq), unescape(words[i].substr(eq + 1)));
        }
        c.expect.push_back(std::move(e));
      } else {
        throw std::runtime_error("unrecognised line");
      }
    } catch (const std::exception& ex) {
      throw std::runtime_error(where() + ": " + ex.what());
    }
  }
  return cases;
}

// All cases of all *.txt files in `dir`, in file-name order.
inline std::vector<Case> read_case_dir(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".txt") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<Case> all;
  for (const auto& f : files) {
    std::vector<Case> cases = read_case_file(f);
    all.insert(all.end(), cases.begin(), cases.end());
  }
  return all;
}

// What a runner observed for one message or event: "outcome" plus named values.
using Message = std::map<std::string, std::string>;

// Messages one per line, values escaped, for comparing runs and for diagnostics.
inline std::string show(const std::vector<Message>& msgs) {
  std::string s;
  for (const Message& m : msgs) {
    s += "{";
    for (const auto& [k, v] : m) s += " " + k + "=" + escape(v);
    s += " }\n";
  }
  return s;
}

// read_case_dir, or on a malformed file a single case named after the failure, so that a
// parameterised suite still registers and fails on it instead of silently running nothing.
inline std::vector<Case> read_cases_or_failure(const std::filesystem::path& dir) {
  try {
    return read_case_dir(dir);
  } catch (const std::exception& e) {
    Case broken;
    broken.name = std::string("LOAD FAILURE: ") + e.what();
    return {broken};
  }
}

// A test name for case number `index`: file stem, index, then the case name in [A-Za-z0-9_].
inline std::string test_name(const Case& c, size_t index) {
  std::string name = c.file.substr(0, c.file.find('.')) + "_" + std::to_string(index) + "_";
  for (char ch : c.name) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return name;
}

}  // namespace cppicorn::conformance
