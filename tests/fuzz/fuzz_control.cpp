// libFuzzer target: the control socket's request parser (control/protocol.cpp), which reads
// bytes from anyone who can open the socket. It must never crash, accept only the commands
// it knows, and give every refusal a message; JSON quoting must stay valid for any bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "control/protocol.h"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    __builtin_printf("invariant failed: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  cppicorn::control::Command c;
  std::string error;
  if (cppicorn::control::parse(line, &c, &error)) {
    check(error.empty(), "no error on success");
    check(c.verb != cppicorn::control::Verb::kWorkers ||
              (c.delta != 0 && c.delta >= -1024 && c.delta <= 1024),
          "workers delta in range");
    check(line.find("status") != std::string_view::npos || c.writes(), "verb named");
  } else {
    check(!error.empty(), "a refusal says why");
    for (char ch : error) check(ch == '\n' || (ch >= 0x20 && ch < 0x7f), "printable error");
  }
  std::string q = cppicorn::control::json_string(line);
  check(q.size() >= 2 && q.front() == '"' && q.back() == '"', "quoted");
  for (size_t i = 1; i + 1 < q.size(); ++i) {
    auto u = static_cast<unsigned char>(q[i]);
    check(u >= 0x20, "no raw control characters");
    if (q[i] == '\\')
      ++i;  // an escape: skip what it escapes
    else
      check(q[i] != '"', "inner quotes escaped");
  }
  return 0;
}
