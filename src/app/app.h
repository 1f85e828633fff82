// The server side of an application: what a worker calls for each request (App), and what
// the app sees of the request and response it is handling (Exchange).
// Native shared objects are one kind of App; embedded interpreters can be others.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/parser.h"

namespace cppicorn::config {
struct Settings;
}

namespace cppicorn::app {

// The app's side of a WebSocket (RFC 6455) on an asgi worker: the connection's loop does
// the handshake and all framing; the app's thread accepts, takes whole messages and sends
// them. Every method is for the app's thread, between take() and done() of its call.
class WebSocket {
 public:
  struct Message {
    enum Kind : uint8_t { kNone, kText, kBinary, kDisconnect } kind = kNone;
    std::string data;   // the payload (valid UTF-8 for kText), or the disconnect's reason
    uint16_t code = 0;  // kDisconnect: the peer's close code (1005: none, 1006: no close)
  };
  enum class Sent : uint8_t { kOk, kFull, kClosed };

  // Sec-WebSocket-Protocol as the client offered them, in order.
  virtual const std::vector<std::string>& subprotocols() const = 0;
  // The app accepts the handshake: the worker answers 101 with `subprotocol` (empty: none)
  // and the fields added with Exchange::add_header. Then only this interface is used.
  virtual void accept(std::string_view subprotocol) = 0;
  // The next event, or false when none is there yet: the call then shows up in the woken
  // list of CallQueue::take once one arrives. A disconnect repeats once delivered.
  virtual bool receive(Message* out) = 0;
  // Queues one message. kFull: queued, but the outbound buffer is above its high-water
  // mark: wait for a wake-up and writable(). kClosed: the connection is closing or gone.
  virtual Sent send(bool text, const void* data, size_t len) = 0;
  virtual Sent writable() = 0;
  // Starts the closing handshake with `code` (once; later calls do nothing).
  virtual void close(uint16_t code, std::string_view reason) = 0;

 protected:
  ~WebSocket() = default;
};

// One request being handled: the worker's connection implements it for the app call.
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const http::Request& request() const = 0;
  virtual std::string_view remote_addr() const = 0;
  virtual int remote_port() const = 0;
  virtual std::string_view url_scheme() const = 0;
  // What TLS the client connected with, by the environ names nginx and Apache use: HTTPS
  // ("on"), SSL_PROTOCOL ("TLSv1.3"), SSL_CIPHER, SSL_CLIENT_VERIFY ("SUCCESS" or "NONE"),
  // SSL_CLIENT_S_DN and SSL_CLIENT_I_DN (RFC 2253, a verified client certificate's subject
  // and issuer). Empty when not over TLS, or not known.
  virtual std::string_view tls_var(std::string_view /*name*/) const { return {}; }
  // -1 when the body cannot be read (the connection then closes), 0 at its end.
  virtual int64_t read_body(void* buf, size_t len) = 0;
  // For an app on its own loop (asgi): read_body that never waits. kBodyPending: no byte is
  // there yet; the worker reads on its own loop, and the call shows up in the woken list of
  // CallQueue::take once there is something (bytes, the end, a failure): try again then.
  static constexpr int64_t kBodyPending = -2;
  virtual int64_t try_read_body(void* buf, size_t len) { return read_body(buf, len); }
  // Every byte of the body was received and handed to read_body (ASGI's more_body).
  virtual bool body_complete() const { return false; }
  virtual void set_status(int status) = 0;
  // The status line's phrase instead of the registry's ("299 Custom Reason"); false (and
  // nothing changed) when it holds CR, LF or another CTL. Empty: the registry's again.
  virtual bool set_reason(std::string_view reason) = 0;
  virtual void add_header(std::string_view name, std::string_view value) = 0;
  virtual void write(const void* data, size_t len) = 0;
  virtual int stream(const void* data, size_t len) = 0;
  // For an app on its own loop (asgi): stream() that never waits. kStreamPending: the socket
  // took only part; the rest is queued, the worker writes it on its own loop, and the call
  // shows up in the woken list of CallQueue::take once it did (or failed). Nothing may be
  // streamed until stream_flushed() is no longer kStreamPending (0: sent, -1: failed).
  static constexpr int kStreamPending = 1;
  virtual int try_stream(const void* data, size_t len) { return stream(data, len); }
  virtual int stream_flushed() const { return 0; }
  // For an app on its own loop (asgi): the client closed its side while the call ran, seen by
  // the worker's loop, which then puts the call in take()'s woken list (http.disconnect).
  virtual bool client_gone() const { return false; }
  // The body's length as the app announces it (its Content-Length), before the first
  // stream(): the streamed body is then framed by Content-Length instead of chunks (bytes
  // beyond it are dropped; a body that ends short closes the connection), and a HEAD
  // response carries it even though no body is given.
  virtual void set_content_length(uint64_t length) = 0;
  virtual int send_file(int fd, int64_t offset, int64_t len) = 0;
  // Not null when the request is a valid WebSocket handshake on an asgi worker.
  virtual WebSocket* websocket() { return nullptr; }
};

// One request handed to an app that runs many at once on its own event loop (ASGI).
class Call {
 public:
  // Never null for a call an app's loop was given (null: a task that is no request).
  virtual Exchange* exchange() { return nullptr; }

 protected:
  ~Call() = default;
};

// The worker's side of such an app's loop, which runs on a thread of its own (App::run_loop).
// Calls arrive through take(), announced by wake_fd() becoming readable; each goes back with
// done(), after which the app must not touch it: the worker owns the connection again.
class CallQueue {
 public:
  // Readable (an eventfd) when calls wait or the worker stops.
  virtual int wake_fd() const = 0;
  // The app's thread: appends the calls that arrived to *calls, and to *woken those whose
  // WebSocket has news (an event, or room to send) since the app last looked; false once the
  // worker stops (no call comes after that, and none is in flight).
  virtual bool take(std::vector<Call*>* calls, std::vector<Call*>* woken) = 0;
  // The app's thread: the call is over. ok: its response is in the Exchange (streamed, or
  // buffered for the worker to write); false: it failed (500 if nothing was sent yet).
  virtual void done(Call& call, bool ok) = 0;
  // The app's thread, once, before any take(): the loop serves (lifespan startup passed),
  // or it failed with error (the worker exits 4).
  virtual void started(bool ok, const std::string& error) = 0;
  // The app's thread: the code of this call starts now. Should the loop then stop coming
  // back to take(), the worker's timeout names it.
  virtual void running(Call& /*call*/) {}

 protected:
  ~CallQueue() = default;
};

// A loaded application.
class App {
 public:
  virtual ~App() = default;
  // In each worker after fork, before serving. False (with *error) stops the server (exit 4).
  virtual bool worker_start(std::string* error) = 0;
  virtual void worker_stop() = 0;
  // False when the app failed; the worker answers 500 if nothing was sent yet. With
  // threads, runs on several of the worker's threads at once (one Exchange each).
  virtual bool handle(Exchange& exchange) = 0;
  // Whether handle() may run on several threads at once; a worker with threads refuses an
  // app that does not say so (exit 4).
  virtual bool thread_safe() const = 0;
  // On each pool thread, after worker_start and before the thread's first handle(); false
  // (with *error) stops the server (exit 4). thread_stop runs on the same thread when the
  // worker stops, before worker_stop.
  virtual bool thread_start(int index, std::string* error) = 0;
  virtual void thread_stop() = 0;
  // Whether the app runs its calls on its own event loop (ASGI) instead of handle(). The
  // worker then runs run_loop on a thread of its own, after worker_start and before serving;
  // run_loop returns once queue.take() said stop and the app shut down (before worker_stop).
  virtual bool has_loop() const { return false; }
  virtual void run_loop(CallQueue& /*queue*/) {}
  // The files the app was loaded from, which --reload watches: a native app's .so, a Python
  // app's modules. On the loop thread, after worker_start.
  virtual std::vector<std::string> source_files() { return {}; }
};

// Loads the app named by settings.app ("module:symbol"), looking for module.so in
// settings.app_path and then the current directory (after --chdir). nullptr with *error
// ("cannot load app 'x:app': ...") when it cannot.
std::unique_ptr<App> load(const config::Settings& settings, std::string* error);

}  // namespace cppicorn::app
