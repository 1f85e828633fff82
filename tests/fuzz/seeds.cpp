// Writes fuzz seeds from the conformance cases:
//   fuzz_seeds CASE_DIR REQUEST_DIR CHUNKED_DIR [WS_CASE_DIR WS_DIR]
//
// Request seeds are a limits-preset byte followed by the case input; chunked seeds are the
// bytes after the first blank line of cases that mention "chunked". WebSocket seeds are a
// limit byte (1: the small limit, for cases that set max_message) and the case's frames.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>

#include "conformance/case_file.h"

namespace {

void write(const std::filesystem::path& dir, const std::string& name, char preset,
           const std::string& bytes) {
  std::ofstream out(dir / name, std::ios::binary);
  out.put(preset);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 6) {
    std::fprintf(stderr, "usage: %s CASE_DIR REQUEST_DIR CHUNKED_DIR [WS_CASE_DIR WS_DIR]\n",
                 argv[0]);
    return 2;
  }
  try {
    const auto cases = cppicorn::conformance::read_case_dir(argv[1]);
    size_t requests = 0, chunked = 0;
    for (size_t i = 0; i < cases.size(); ++i) {
      const auto& c = cases[i];
      const std::string name = "case-" + std::to_string(i);
      // Preset 1 (small limits) for cases written against custom limits, else defaults;
      // bare-LF cases get the permissive preset bit.
      char preset =
          static_cast<char>((c.limits.empty() ? 0 : 1) | (c.limits.count("bare_lf") ? 2 : 0));
      write(argv[2], name, preset, c.input);
      ++requests;
      std::string lower = c.input;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      size_t blank = c.input.find("\r\n\r\n");
      if (lower.find("chunked") != std::string::npos && blank != std::string::npos) {
        write(argv[3], name, preset, c.input.substr(blank + 4));
        ++chunked;
      }
    }
    size_t frames = 0;
    if (argc == 6) {
      const auto ws_cases = cppicorn::conformance::read_case_dir(argv[4]);
      for (size_t i = 0; i < ws_cases.size(); ++i) {
        const auto& c = ws_cases[i];
        write(argv[5], "case-" + std::to_string(i), c.limits.empty() ? 0 : 1, c.input);
        ++frames;
      }
    }
    std::printf("seeds: %zu request, %zu chunked, %zu ws\n", requests, chunked, frames);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
