// The settings table: one row per setting, and the typed operations every source shares.
//
// Internal to src/config. CLI flags, YAML keys, CPPICORN_CMD_ARGS, --help, --print-config and
// the man page are all generated from these rows, so adding a setting is adding one row in
// table.cpp (and the field in Settings).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/settings.h"

namespace cppicorn::config {

// Where a setting lives in Settings. The alternative chosen decides how text is parsed and
// how the value is printed, so most rows need nothing more than the member pointer.
using Field = std::variant<int Settings::*, int64_t Settings::*, double Settings::*,
                           bool Settings::*, std::string Settings::*,
                           std::vector<std::string> Settings::*, HeaderUnderscores Settings::*>;

// Checks (and may normalise, e.g. lowercase) one text value; returns an error or "".
// The error completes "<key>: ...", e.g. "invalid address 'x' (expected ...)".
using TextCheck = std::string (*)(std::string& value);

// How a list setting is spelled on the command line.
enum class ListStyle {
  kRepeat,  // one item per flag (-b A -b B); YAML: a sequence or one item
  kComma,   // one comma-separated flag value (--forwarded-allow-ips 'a,b'); YAML: either form
};

// One setting: everything the generators need to know about it.
// Rows are constexpr-friendly aggregates; see table.cpp for the list.
struct Setting {
  std::string_view name = {};     // YAML key and --print-config key, snake_case
  std::string_view flags = {};    // CLI11 names, comma-separated ("-w,--workers"); "" = positional
  Field field = {};               // the Settings member it fills
  std::string_view section = {};  // heading in --help and the man page
  std::string_view meta = {};     // placeholder for the value in help ("INT", "ADDRESS")
  std::string_view doc = {};      // one paragraph; the first sentence is the --help summary
  double min = -1e300;            // inclusive range for numbers
  double max = 1e300;
  TextCheck check = nullptr;  // for strings and list items
  bool octal = false;         // ints: accept 0o22 / 022 (octal) as well as decimal
  ListStyle list = ListStyle::kRepeat;
  std::string_view default_doc = {};  // shown instead of the computed default when set
  bool negated = false;               // bools: the flag sets false ("--no-sendfile" for sendfile)
  // The value of the flag given alone; it takes a value only as --flag=V or when the next
  // argument passes `check` (gunicorn's nargs="?": "--proxy-protocol v2" or "--proxy-protocol").
  std::string_view flag_value = {};
  // Lists of NAME=VALUE items, which a YAML mapping or a Python dict also gives.
  bool map = false;
};

// All rows, in help/man order (grouped by section, sections in first-appearance order).
std::span<const Setting> settings_table();
// The second part of the rows (table_operations.cpp), which settings_table() appends.
std::span<const Setting> operations_rows();
// The row with this YAML name, or nullptr.
const Setting* find_setting(std::string_view name);
// The first long flag of a row ("--workers"), or the upper-cased name for positionals.
std::string primary_flag(const Setting& s);

// Parses one textual value (CLI, env or YAML scalar) into the field; lists: the whole list
// from one source, which replaces the earlier source's list. Returns "" or an error that
// completes "<where>: ", e.g. "expected an integer, got 'abc'".
std::string assign_text(const Setting& s, std::string_view text, Settings& out);
std::string assign_list(const Setting& s, const std::vector<std::string>& items, Settings& out);
// Human-facing description of the type ("integer", "list of addresses").
std::string type_name(const Setting& s);
// The value in YAML syntax that assign_text/assign_list read back unchanged.
std::string yaml_value(const Setting& s, const Settings& in);
// The default as shown in help and the man page.
std::string default_text(const Setting& s);
bool is_bool(const Setting& s);
bool is_list(const Setting& s);

// A gunicorn setting with no cppicorn equivalent (gunicorn_table.cpp): known by its name and
// flags so that it is never an "unknown option", and answered with what to do instead.
struct Foreign {
  std::string_view name = {};   // gunicorn's setting name (its config-file key)
  std::string_view flags = {};  // its CLI flags ("-D,--daemon"), "" when config-file only
  bool value = false;           // the flag takes a value
  // A value that means "as cppicorn already does" and needs no message ("1" for --threads).
  std::string_view ignore_value = {};
  bool refused = false;       // stop with the message instead of warning
  TextCheck check = nullptr;  // maps the value instead (worker_class); its error refuses
  std::string_view message = {};
};
std::span<const Foreign> foreign_table();
const Foreign* find_foreign(std::string_view name);
// What giving `f` (as `where`: "--daemon" or "FILE:LINE: daemon") with `value` means: "" to
// go on (then *warning may hold a message to log), else the error that stops loading.
std::string foreign_outcome(const Foreign& f, std::string_view where, std::string value,
                            std::string* warning);

// Validators used by rows (values.cpp).
std::string check_bind(std::string& v);
std::string check_ip_or_network(std::string& v);
std::string check_statsd_host(std::string& v);    // HOST:PORT, unix:PATH
std::string check_statsd_prefix(std::string& v);  // adds the trailing dot
std::string check_log_level(std::string& v);
std::string check_cert_reqs(std::string& v);
std::string check_tls_version(std::string& v);
std::string check_env(std::string& v);               // KEY=VALUE
std::string check_scheme_header(std::string& v);     // NAME=VALUE, NAME upper-cased
std::string check_forwarder_header(std::string& v);  // a field name, upper-cased, or "*"
std::string check_proxy_protocol(std::string& v);    // off/false, v1, v2, auto/true
std::string check_asgi_loop(std::string& v);         // auto, asyncio, uvloop
std::string check_asgi_lifespan(std::string& v);     // auto, on, off
// gunicorn's worker class names (and uvicorn's UvicornWorker) to sync, gthread or asgi;
// gevent, eventlet and tornado get a message naming the class to use instead.
std::string check_worker_class(std::string& v);

// The candidate closest to `word` by edit distance, or "" if none is plausibly meant.
std::string nearest(std::string_view word, const std::vector<std::string>& candidates);
// Double-quoted YAML scalar (always quoted so '%', ':' and '#' survive).
std::string yaml_quote(std::string_view s);

}  // namespace cppicorn::config
