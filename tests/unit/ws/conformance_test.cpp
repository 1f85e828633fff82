// WebSocket conformance runner: every case in tests/conformance/ws/ is fed whole, one byte
// at a time, in random splits, and re-masked with other keys; all feeds must agree before the
// expectations (an exact close code and reason for each violation) are checked.
#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "../../conformance/case_file.h"
#include "../../conformance/ws_feed.h"
#include "../../fuzz/fuzz_harness.h"

namespace cppicorn::conformance {
namespace {

const std::vector<Case>& all_cases() {
  static const std::vector<Case> cases =
      read_cases_or_failure(std::string(CPPICORN_SOURCE_DIR) + "/tests/conformance/ws");
  return cases;
}

uint64_t max_message(const Case& c) {
  uint64_t max = ws::kDefaultMaxMessage;
  for (const auto& [k, v] : c.limits) {
    if (k == "max_message") {
      max = std::stoull(v);
    } else {
      ADD_FAILURE() << "unknown limit " << k;
    }
  }
  return max;
}

// The re-masked variants are only worth something if remask really rewrites the frames.
TEST(Remask, RewritesKeyAndPayloadOfEachMaskedFrame) {
  const std::string zero_key("\x81\x82\0\0\0\0hi\x89\x80\0\0\0\0", 14);
  const std::string masked = remask(zero_key, 0x01020304);
  EXPECT_EQ(masked, std::string("\x81\x82\x01\x02\x03\x04"
                                "ik"
                                "\x89\x80\x01\x02\x03\x04",
                                14));
  EXPECT_EQ(show(feed_frames(masked, 100, {masked.size()})),
            show(feed_frames(zero_key, 100, {zero_key.size()})));
  const std::string unmasked("\x81\x02hi", 4);
  EXPECT_EQ(remask(unmasked, 0x01020304), unmasked);
}

class WsConformance : public ::testing::TestWithParam<size_t> {};

TEST_P(WsConformance, Case) {
  const Case& c = all_cases()[GetParam()];
  ASSERT_FALSE(c.expect.empty()) << c.name << " (" << c.file << ":" << c.line << ")";
  SCOPED_TRACE(c.file + ":" + std::to_string(c.line) + " " + c.name);
  const uint64_t max = max_message(c);
  const std::vector<Message> whole = feed_frames(c.input, max, {c.input.size()});
  for (uint32_t mode = 1; mode < 8; ++mode) {
    ASSERT_EQ(show(whole), show(feed_frames(c.input, max, fuzz::pieces(c.input.size(), mode, 7))))
        << "feed mode " << mode << " disagrees";
  }
  for (uint32_t key : {0x37fa213du, 0xffffffffu, 0x80000001u}) {
    const std::string masked = remask(c.input, key);
    ASSERT_EQ(show(whole), show(feed_frames(masked, max, {masked.size()})))
        << "mask " << key << " disagrees";
    ASSERT_EQ(show(whole), show(feed_frames(masked, max, fuzz::pieces(masked.size(), 1, 0))))
        << "mask " << key << " bytewise disagrees";
  }
  ASSERT_EQ(whole.size(), c.expect.size()) << show(whole);
  for (size_t i = 0; i < whole.size(); ++i) {
    const Message& m = whole[i];
    EXPECT_EQ(m.at("outcome"), c.expect[i].outcome) << "event " << i << "\n" << show(whole);
    for (const auto& [key, want] : c.expect[i].checks) {
      auto it = m.find(key);
      const std::string got = it == m.end() ? "<absent>" : it->second;
      EXPECT_EQ(got, want) << "event " << i << " key " << key << "\n" << show(whole);
    }
  }
}

std::string case_name(const ::testing::TestParamInfo<size_t>& info) {
  return test_name(all_cases()[info.param], info.param);
}

INSTANTIATE_TEST_SUITE_P(Cases, WsConformance, ::testing::Range<size_t>(0, all_cases().size()),
                         case_name);

}  // namespace
}  // namespace cppicorn::conformance
