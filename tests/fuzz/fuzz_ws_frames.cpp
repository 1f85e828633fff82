// libFuzzer target: ws::FrameDecoder on client frames, fed whole, bytewise and in random
// splits, and re-masked with another key.
//
// Input: one byte selecting the message limit (bit 0: 64 bytes, else the 16 MiB default),
// then frames. All feeds must report the same messages, control frames and verdict; text
// messages and close reasons must be valid UTF-8, messages within the limit, and a verdict's
// close code one of 1002, 1007, 1009.
#include "conformance/ws_feed.h"
#include "fuzz_harness.h"

namespace cppicorn::fuzz {
namespace {

std::string run(std::string_view in, uint64_t max_message, uint32_t mode) {
  const std::vector<conformance::Message> events =
      conformance::feed_frames(in, max_message, pieces(in.size(), mode, 0));
  for (const conformance::Message& m : events) {
    const std::string& o = m.at("outcome");
    if (o == "text" || o == "binary") {
      check(m.at("data").size() <= max_message, "message within the limit");
      check(o == "binary" || ws::valid_utf8(m.at("data")), "text is valid UTF-8");
    } else if (o == "close") {
      const auto code = static_cast<uint16_t>(std::stoi(m.at("code")));
      check(code == ws::close_code::kNoStatus || ws::valid_close_code(code), "close code");
      check(ws::valid_utf8(m.at("reason")), "close reason is valid UTF-8");
    } else if (o == "error") {
      const std::string& s = m.at("status");
      check(s == "1002" || s == "1007" || s == "1009", "error close code");
      check(!m.at("reason").empty(), "error reason");
    } else if (o == "ping" || o == "pong") {
      check(m.at("data").size() <= ws::kMaxControlPayload, "control payload size");
    } else {
      check(o == "closed" || o == "incomplete", "known outcome");
    }
  }
  return conformance::show(events);
}

}  // namespace
}  // namespace cppicorn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cppicorn;  // NOLINT(google-build-using-namespace)
  if (size == 0) return 0;
  const uint64_t max_message = (data[0] & 1) != 0 ? 64 : ws::kDefaultMaxMessage;
  fuzz::splits_agree(data, size, [&](std::string_view in, uint32_t mode) {
    return fuzz::run(in, max_message, mode);
  });
  // Masking is transparent: the same frames under another key report the same.
  const std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string masked = conformance::remask(in, 0x9e3779b9u ^ data[0]);
  fuzz::check(fuzz::run(masked, max_message, 0) == fuzz::run(in, max_message, 0),
              "re-masked input agrees");
  return 0;
}
