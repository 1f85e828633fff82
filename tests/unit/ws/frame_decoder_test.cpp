// Unit tests of FrameDecoder: each RFC 6455 rule on client frames, with the exact close code
// for each violation, and the same outcome for every split of the input.
#include <gtest/gtest.h>

#include "ws/frame.h"
#include "ws_test_util.h"

namespace cppicorn::ws {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): frame builders
using V = std::vector<std::string>;

// Decodes `in` whole and in pieces of 1, 2 and 7 bytes; all must agree.
V decoded(const std::string& in, uint64_t max_message = kDefaultMaxMessage) {
  const V whole = decode_all(in, 0, max_message);
  for (size_t step : {1, 2, 7}) {
    EXPECT_EQ(decode_all(in, step, max_message), whole) << "split every " << step << " bytes";
  }
  return whole;
}

std::string reason_of(const std::string& in) {
  std::string reason;
  decode_all(in, 0, kDefaultMaxMessage, &reason);
  return reason;
}

TEST(FrameDecoder, TextAndBinaryMessages) {
  EXPECT_EQ(decoded(text("hello") + binary(std::string("\0\xff", 2))),
            (V{"text:hello", std::string("binary:\0\xff", 9)}));
  EXPECT_EQ(decoded(text("")), V{"text:"});
  EXPECT_EQ(decoded(binary("")), V{"binary:"});
}

TEST(FrameDecoder, UnmasksWithAnyKeyAndPhase) {
  // Long enough for the word loop, odd lengths for the byte tail, several keys.
  std::string payload;
  for (int i = 0; i < 1000; ++i) payload += static_cast<char>('a' + i % 26);
  for (uint32_t key : {0x00000000u, 0xffffffffu, 0x01020304u, 0x37fa213du}) {
    for (size_t len : {1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 125, 126, 1000}) {
      const std::string p = payload.substr(0, len);
      EXPECT_EQ(decoded(frame(0x82, p, key)), V{"binary:" + p}) << key << " " << len;
    }
  }
}

TEST(FrameDecoder, LengthEncodings) {
  for (size_t len : {125, 126, 127, 128, 65535, 65536, 100000}) {
    const std::string p(len, 'x');
    EXPECT_EQ(decode_all(binary(p)), V{"binary:" + p}) << len;
    EXPECT_EQ(decode_all(binary(p), 4096), V{"binary:" + p}) << len;
  }
}

TEST(FrameDecoder, NonMinimalLengthsAreRefused) {
  EXPECT_EQ(decoded(frame(0x82, "abc", 1, true, Len::k16)), V{"error:1002"});
  EXPECT_EQ(decoded(frame(0x82, std::string(125, 'a'), 1, true, Len::k16)), V{"error:1002"});
  EXPECT_EQ(decoded(frame(0x82, std::string(65535, 'a'), 1, true, Len::k64)), V{"error:1002"});
  EXPECT_EQ(reason_of(frame(0x82, "abc", 1, true, Len::k64)), "length not minimally encoded");
  // The smallest lengths of each form are fine.
  EXPECT_EQ(decoded(frame(0x82, std::string(126, 'a'), 1, true, Len::k16)).front(),
            "binary:" + std::string(126, 'a'));
}

TEST(FrameDecoder, SixtyFourBitLengthWithHighBitIsRefused) {
  std::string f = "\x82\xff";
  f += "\x80";
  f += std::string(7, '\0');
  f += "abcd";
  EXPECT_EQ(decoded(f), V{"error:1002"});
  EXPECT_EQ(reason_of(f), "64-bit length with the high bit set");
}

TEST(FrameDecoder, UnmaskedClientFrameIsRefused) {
  EXPECT_EQ(decoded(frame(0x81, "hi", 0, false)), V{"error:1002"});
  EXPECT_EQ(decoded(frame(0x89, "", 0, false)), V{"error:1002"});
  EXPECT_EQ(reason_of(frame(0x81, "hi", 0, false)), "unmasked client frame");
}

TEST(FrameDecoder, ReservedBitsAreRefused) {
  for (uint8_t rsv : {0x40, 0x20, 0x10, 0x70}) {
    EXPECT_EQ(decoded(frame(0x81 | rsv, "hi")), V{"error:1002"}) << int{rsv};
    EXPECT_EQ(decoded(frame(0x89 | rsv, "")), V{"error:1002"}) << int{rsv};
  }
  // Refused on the first byte, before the rest of the frame arrives.
  EXPECT_EQ(decoded("\xc1"), V{"error:1002"});
  EXPECT_EQ(reason_of("\xc1"), "reserved bits set");
}

TEST(FrameDecoder, UnknownOpcodesAreRefused) {
  for (uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    EXPECT_EQ(decoded(frame(0x80 | op, "")), V{"error:1002"}) << int{op};
  }
  EXPECT_EQ(reason_of(frame(0x83, "")), "unknown opcode");
}

TEST(FrameDecoder, ControlFrames) {
  EXPECT_EQ(decoded(ping("") + ping("abc") + pong("x") + pong("")),
            (V{"ping:", "ping:abc", "pong:x", "pong:"}));
  EXPECT_EQ(decoded(ping(std::string(125, 'p'))), V{"ping:" + std::string(125, 'p')});
  EXPECT_EQ(decoded(ping(std::string(126, 'p'))), V{"error:1002"});
  EXPECT_EQ(decoded(frame(0x8A, std::string(126, 'p'), 1, true, Len::k16)), V{"error:1002"});
  EXPECT_EQ(reason_of(ping(std::string(126, 'p'))), "control frame over 125 bytes");
  // A fragmented control frame (FIN clear).
  EXPECT_EQ(decoded(frame(0x09, "a")), V{"error:1002"});
  EXPECT_EQ(decoded(frame(0x08, "")), V{"error:1002"});
  EXPECT_EQ(reason_of(frame(0x09, "a")), "fragmented control frame");
}

TEST(FrameDecoder, Fragmentation) {
  EXPECT_EQ(decoded(text("Hel", false) + cont("lo, ", false) + cont("world")),
            V{"text:Hello, world"});
  EXPECT_EQ(decoded(binary("", false) + cont("", false) + cont("")), V{"binary:"});
  // Control frames may come between fragments.
  EXPECT_EQ(decoded(text("a", false) + ping("p") + cont("b", false) + pong("q") + cont("c")),
            (V{"ping:p", "pong:q", "text:abc"}));
  // A message may end in an empty continuation.
  EXPECT_EQ(decoded(text("ab", false) + cont("")), V{"text:ab"});
}

TEST(FrameDecoder, FragmentationViolations) {
  EXPECT_EQ(decoded(cont("x")), V{"error:1002"});
  EXPECT_EQ(reason_of(cont("x")), "continuation frame without a message");
  EXPECT_EQ(decoded(text("a") + cont("x")), (V{"text:a", "error:1002"}));
  EXPECT_EQ(decoded(text("a", false) + text("b")), V{"error:1002"});
  EXPECT_EQ(decoded(text("a", false) + binary("b")), V{"error:1002"});
  EXPECT_EQ(reason_of(text("a", false) + binary("b")),
            "new data frame inside a fragmented message");
}

TEST(FrameDecoder, MessageSizeLimit) {
  EXPECT_EQ(decoded(binary("0123456789"), 10), V{"binary:0123456789"});
  EXPECT_EQ(decoded(binary("0123456789a"), 10), V{"error:1009"});
  // Across fragments: the total counts, and the refusal comes at the header that crosses it.
  EXPECT_EQ(decoded(text("01234", false) + cont("56789"), 10), V{"text:0123456789"});
  EXPECT_EQ(decoded(text("01234", false) + cont("56789", false) + cont("x"), 10), V{"error:1009"});
  // The next message starts from zero again.
  EXPECT_EQ(decoded(binary("0123456789") + binary("0123456789"), 10),
            (V{"binary:0123456789", "binary:0123456789"}));
  // Control frames do not count against the limit.
  EXPECT_EQ(decoded(ping("0123456789abc"), 10), V{"ping:0123456789abc"});
  // A huge declared length is refused from the header alone.
  std::string f = "\x82\xff";
  f += std::string("\x00\x00\x01\x00\x00\x00\x00\x00", 8);
  EXPECT_EQ(decoded(f), V{"error:1009"});
}

TEST(FrameDecoder, DefaultLimitIsSixteenMebibytes) {
  EXPECT_EQ(kDefaultMaxMessage, 16u * 1024 * 1024);
  const std::string at_limit(kDefaultMaxMessage, 'x');
  EXPECT_EQ(decode_all(binary(at_limit), 1 << 20), V{"binary:" + at_limit});
  EXPECT_EQ(decode_all(binary(at_limit + "x")), V{"error:1009"});
}

TEST(FrameDecoder, Utf8InText) {
  // Boundaries of each sequence length are valid, noncharacters too.
  const std::string ok =
      "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xed\x9f\xbf\xee\x80\x80"
      "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\xef\xbf\xbe";
  EXPECT_EQ(decoded(text(ok)), V{"text:" + ok});
  const char* bad[] = {
      "\x80",              // stray continuation
      "\xc0\x80",          // overlong NUL
      "\xc1\xbf",          // overlong
      "\xe0\x80\x80",      // overlong 3-byte
      "\xe0\x9f\xbf",      // overlong 3-byte
      "\xf0\x80\x80\x80",  // overlong 4-byte
      "\xf0\x8f\xbf\xbf",  // overlong 4-byte
      "\xed\xa0\x80",      // surrogate U+D800
      "\xed\xbf\xbf",      // surrogate U+DFFF
      "\xf4\x90\x80\x80",  // U+110000
      "\xf5\x80\x80\x80",  // lead byte beyond U+10FFFF
      "\xff",
      "\xc2\x41",  // continuation missing
      "\xe2\x82\x41",
  };
  for (const char* b : bad) {
    EXPECT_EQ(decoded(text(std::string("ok") + b)), V{"error:1007"}) << b;
    EXPECT_EQ(decoded(binary(b)), V{"binary:" + std::string(b)}) << b;  // binary is not text
  }
  EXPECT_EQ(reason_of(text("\xff")), "invalid UTF-8 in a text message");
}

TEST(FrameDecoder, Utf8AcrossFragments) {
  // A character split over frames is fine; the check is over the whole message.
  EXPECT_EQ(decoded(text("\xe2", false) + cont("\x82", false) + cont("\xac")),
            V{"text:\xe2\x82\xac"});
  // Refused at the fragment that goes wrong, before the message ends.
  EXPECT_EQ(decoded(text("\xe2\x82", false) + cont("\x41", false)), V{"error:1007"});
  // A message that ends inside a character.
  EXPECT_EQ(decoded(text("a\xe2\x82")), V{"error:1007"});
  EXPECT_EQ(decoded(text("a", false) + cont("\xf0\x9f")), V{"error:1007"});
  EXPECT_EQ(reason_of(text("a\xe2\x82")), "text message ends inside a UTF-8 character");
  // A non-final fragment may end inside one.
  EXPECT_EQ(decoded(text("a\xe2\x82", false)), V{"incomplete"});
}

TEST(FrameDecoder, CloseFrames) {
  EXPECT_EQ(decoded(frame(0x88, "")), (V{"close:1005:", "closed"}));
  EXPECT_EQ(decoded(close(1000)), (V{"close:1000:", "closed"}));
  EXPECT_EQ(decoded(close(1001, "bye \xc3\xa9")), (V{"close:1001:bye \xc3\xa9", "closed"}));
  EXPECT_EQ(decoded(close(4999, std::string(123, 'r'))),
            (V{"close:4999:" + std::string(123, 'r'), "closed"}));
  // Nothing after a close frame is read.
  EXPECT_EQ(decoded(close(1000) + text("late") + "\xff\xff"), (V{"close:1000:", "closed"}));
  // A close between fragments ends the connection, the message never completes.
  EXPECT_EQ(decoded(text("a", false) + close(1000)), (V{"close:1000:", "closed"}));
}

TEST(FrameDecoder, CloseFrameViolations) {
  EXPECT_EQ(decoded(frame(0x88, "\x03")), V{"error:1002"});
  EXPECT_EQ(reason_of(frame(0x88, "\x03")), "close frame with a 1-byte payload");
  EXPECT_EQ(decoded(close(1000, "\xff")), V{"error:1007"});
  EXPECT_EQ(decoded(close(1000, "\xe2\x82")), V{"error:1007"});
  EXPECT_EQ(reason_of(close(1000, "\xff")), "invalid UTF-8 in a close reason");
  for (int code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    EXPECT_EQ(decoded(close(static_cast<uint16_t>(code))), V{"error:1002"}) << code;
  }
  EXPECT_EQ(reason_of(close(1005)), "invalid close code");
  for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
                   3999, 4000, 4999}) {
    const std::string c = std::to_string(code);
    EXPECT_EQ(decoded(close(static_cast<uint16_t>(code))), (V{"close:" + c + ":", "closed"}));
  }
}

TEST(FrameDecoder, ErrorsRepeat) {
  FrameDecoder dec;
  Recorder rec;
  std::string in = text("ok") + frame(0x83, "");
  FrameDecoder::Result r = dec.decode(in.data(), in.size(), rec);
  EXPECT_EQ(r.status, FrameDecoder::Result::kError);
  EXPECT_EQ(r.consumed, text("ok").size());  // the bytes before the bad frame
  std::string more = text("again");
  r = dec.decode(more.data(), more.size(), rec);
  EXPECT_EQ(r.status, FrameDecoder::Result::kError);
  EXPECT_EQ(r.close_code, 1002);
  EXPECT_EQ(r.consumed, 0u);
  EXPECT_EQ(brief(rec.events), V{"text:ok"});
}

TEST(FrameDecoder, IncompleteInputIsKeptOrStreamed) {
  FrameDecoder dec;
  Recorder rec;
  // A partial header is not consumed.
  std::string in = text("hello").substr(0, 4);
  FrameDecoder::Result r = dec.decode(in.data(), in.size(), rec);
  EXPECT_EQ(r.status, FrameDecoder::Result::kNeedMore);
  EXPECT_EQ(r.consumed, 0u);
  EXPECT_TRUE(dec.idle());
  // A data payload is streamed as it comes, unmasked in place.
  in = text("hello").substr(0, 9);
  r = dec.decode(in.data(), in.size(), rec);
  EXPECT_EQ(r.consumed, 9u);
  EXPECT_EQ(rec.partial, "hel");
  EXPECT_EQ(in.substr(6), "hel");
  EXPECT_FALSE(dec.idle());
  // A partial control frame is kept whole.
  FrameDecoder dec2;
  in = ping("abc").substr(0, 8);
  r = dec2.decode(in.data(), in.size(), rec);
  EXPECT_EQ(r.consumed, 0u);
}

TEST(FrameDecoder, OnePiecePerFrameWhenWhole) {
  FrameDecoder dec;
  Recorder rec;
  std::string in = text("abc", false) + cont("def", false) + cont("ghi");
  dec.decode(in.data(), in.size(), rec);
  EXPECT_EQ(rec.pieces, 3u);
  EXPECT_EQ(brief(rec.events), V{"text:abcdefghi"});
}

}  // namespace
}  // namespace cppicorn::ws
