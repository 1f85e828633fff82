// libFuzzer target: ChunkedDecoder on its own, fed whole, bytewise and in random splits.
//
// Input: one byte selecting limits (fuzz_harness.h; preset 1 also sets max_body), then a
// chunked body possibly followed by other bytes. All feeds must agree on the verdict, the
// decoded bytes and how much input was consumed.
#include "fuzz_harness.h"

namespace cppicorn::fuzz {
namespace {

std::string run(std::string_view in, const http::Limits& limits, uint32_t mode) {
  http::ChunkedDecoder dec(limits.body, limits);
  std::string pending, body;
  size_t fed = 0;
  http::ChunkedDecoder::Result r;
  for (size_t n : pieces(in.size(), mode, 0)) {
    pending.append(in.substr(fed, n));
    fed += n;
    const size_t len = pending.size();
    r = dec.decode(pending.data(), len);
    check(r.produced <= r.consumed && r.consumed <= len, "produced <= consumed <= len");
    body.append(pending, 0, r.produced);
    pending.erase(0, r.consumed);
    if (r.status != http::ChunkedDecoder::Result::kNeedMore) break;
  }
  check(dec.total() == body.size(), "total() counts produced bytes");
  check(limits.body == 0 || body.size() <= limits.body, "body limit");
  std::string out = body + "|";
  switch (r.status) {
    case http::ChunkedDecoder::Result::kDone:
      // A second call after the end must not consume anything.
      {
        http::ChunkedDecoder::Result again = dec.decode(pending.data(), pending.size());
        check(again.status == http::ChunkedDecoder::Result::kDone && again.consumed == 0 &&
                  again.produced == 0,
              "decode after done");
      }
      return out + "done rest=" + std::to_string(in.size() - fed + pending.size());
    case http::ChunkedDecoder::Result::kError:
      check(valid_status(r.http_status) && !r.reason.empty(), "error without status/reason");
      return out + "error " + std::to_string(r.http_status);
    case http::ChunkedDecoder::Result::kNeedMore:
      break;
  }
  return out + "needmore";
}

}  // namespace
}  // namespace cppicorn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return cppicorn::fuzz::check_splits_agree(data, size, cppicorn::fuzz::run);
}
