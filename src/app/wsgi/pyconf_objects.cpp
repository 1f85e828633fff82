// The Python half of config files and server hooks (pyconf.cpp runs it once per process):
// reading gunicorn.conf.py as gunicorn does, and the stand-ins hooks receive for gunicorn's
// objects, documented in cppicorn-gunicorn(7):
//   server  (Server)  pid, num_workers, WORKERS {pid: Worker}, cfg, log, proc_name
//   worker  (Worker)  pid, ppid, age, booted, aborted, alive, cfg, log, exit_status
//   req     (Request) method, uri, path, query, fragment, version, headers, scheme,
//                     remote_addr, peer_addr
//   resp    (Response) status, status_code, headers, sent
//   cfg     (Config)  every name the config file set, then the server's effective values
//                     of the common settings (bind, workers, threads, timeout...)
//   log     (Log)     debug/info/warning/error/critical/exception/log, into the error log
#include "app/wsgi/pyconf.h"

namespace cppicorn::wsgi {

const char* pyconf_source() {
  return R"PY(
import ast, importlib, sys, traceback, types
from http import HTTPStatus
import _cppicorn

HOOKS = ("on_starting", "on_reload", "when_ready", "pre_fork", "post_fork",
         "post_worker_init", "worker_int", "worker_abort", "pre_exec", "pre_request",
         "post_request", "child_exit", "worker_exit", "nworkers_changed", "on_exit")
SCALAR, LIST, NONE, HOOK, OTHER, MAP = range(6)
hooks = {}
names = {}


class Log:
    """gunicorn's logger as hooks use it: each message is one entry in cppicorn's log."""
    LEVELS = {10: 0, 20: 1, 30: 2, 40: 3, 50: 4}

    def _emit(self, level, msg, args, exc_info=False):
        text = str(msg) % args if args else str(msg)
        if exc_info:
            text += "\n" + traceback.format_exc().rstrip()
        _cppicorn.log_at(level, text)

    def debug(self, msg, *args, **kw): self._emit(0, msg, args, kw.get("exc_info"))
    def info(self, msg, *args, **kw): self._emit(1, msg, args, kw.get("exc_info"))
    def warning(self, msg, *args, **kw): self._emit(2, msg, args, kw.get("exc_info"))
    warn = warning
    def error(self, msg, *args, **kw): self._emit(3, msg, args, kw.get("exc_info"))
    def critical(self, msg, *args, **kw): self._emit(4, msg, args, kw.get("exc_info"))
    def exception(self, msg, *args, **kw): self._emit(3, msg, args, True)
    def log(self, lvl, msg, *args, **kw):
        self._emit(self.LEVELS.get(lvl, 1), msg, args, kw.get("exc_info"))
    def reopen_files(self): pass
    def close_on_exec(self): pass


LOG = Log()


class Config:
    """server.cfg and worker.cfg: the config file's names, then the effective settings."""
    def __init__(self, effective):
        self.__dict__.update({k: v for k, v in names.items() if not k.startswith("_")})
        self.__dict__.update(effective)

    def __getattr__(self, name):
        raise AttributeError(f"No configuration setting for: {name}")


class Worker:
    def __init__(self, pid, ppid, age, booted, aborted, exit_status, cfg):
        self.pid, self.ppid, self.age = pid, ppid, age
        self.booted, self.aborted, self.alive = booted, aborted, True
        self.exit_status = exit_status
        self.cfg, self.log = cfg, LOG

    def __repr__(self):
        return f"<Worker {self.pid}>"


class Server:
    def __init__(self, pid, num_workers, workers, cfg):
        self.pid, self.num_workers, self.cfg, self.log = pid, num_workers, cfg, LOG
        self.proc_name = cfg.proc_name
        self.WORKERS = {p: Worker(p, pid, 0, True, False, None, cfg) for p in workers}

    def __repr__(self):
        return f"<Server {self.pid}>"


class Request:
    def __init__(self, method, uri, path, query, minor, headers, scheme, addr, port):
        self.method, self.uri, self.path, self.query = method, uri, path, query
        self.fragment = ""
        self.version = (1, minor)
        self.headers = [(k.upper(), v) for k, v in headers]
        self.scheme = scheme
        self.remote_addr = self.peer_addr = (addr, port)

    def environ(self):
        env = {"REQUEST_METHOD": self.method, "PATH_INFO": self.path,
               "QUERY_STRING": self.query, "RAW_URI": self.uri,
               "SERVER_PROTOCOL": "HTTP/%d.%d" % self.version,
               "REMOTE_ADDR": self.remote_addr[0], "REMOTE_PORT": str(self.remote_addr[1]),
               "wsgi.url_scheme": self.scheme}
        for k, v in self.headers:
            key = k.replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                env[key] = v
            else:
                env["HTTP_" + key] = v
        return env


class Response:
    def __init__(self, status_code, reason, headers, sent):
        self.status_code = status_code
        if not reason:
            try:
                reason = HTTPStatus(status_code).phrase
            except ValueError:
                reason = ""
        self.status = f"{status_code} {reason}".rstrip()
        self.headers = headers
        self.sent = sent


def _targets(node, line):
    if isinstance(node, ast.Name):
        yield node.id, line
    elif isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            yield from _targets(elt, line)


def _names_of(node):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        yield node.name, node.lineno
    elif isinstance(node, ast.Assign):
        for target in node.targets:
            yield from _targets(target, node.lineno)
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        yield from _targets(node.target, node.lineno)
    elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
        for part in ("body", "orelse", "finalbody"):
            for child in getattr(node, part, ()):
                yield from _names_of(child)
        for handler in getattr(node, "handlers", ()):
            for child in handler.body:
                yield from _names_of(child)


def _lines(filename):
    try:
        with open(filename, "rb") as f:
            tree = ast.parse(f.read(), filename)
    except Exception:
        return {}
    lines = {}
    for node in tree.body:
        for name, line in _names_of(node):
            lines[name] = line
    return lines


def _describe(exc, filename):
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        head = f"{filename}:{exc.lineno}: SyntaxError: {exc.msg}"
    else:
        line = 0
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == filename:
                line = frame.lineno
        where = f"{filename}:{line}" if line else filename
        head = f"{where}: {type(exc).__name__}: {exc}"
    return head + "\n" + "".join(traceback.format_exception(exc)).rstrip()


def _value(v):
    if v is None:
        return NONE, []
    if isinstance(v, bool):
        return SCALAR, ["true" if v else "false"]
    if isinstance(v, (int, float, str)):
        return SCALAR, [str(v)]
    if isinstance(v, (list, tuple)) and all(
            isinstance(i, (int, float, str)) and not isinstance(i, bool) for i in v):
        return LIST, [str(i) for i in v]
    if isinstance(v, dict) and all(
            isinstance(i, (int, float, str)) and not isinstance(i, bool) for i in v.values()):
        return MAP, [f"{k}={i}" for k, i in v.items()]
    return OTHER, []


def read(location):
    """Runs the config; returns (error, entries): entries are (name, line, kind, items, type)."""
    filename = location
    try:
        if location.startswith("python:"):
            name = location[len("python:"):]
            module = sys.modules.get(name)
            module = importlib.reload(module) if module else importlib.import_module(name)
            ns = dict(vars(module))
            filename = getattr(module, "__file__", None) or location
        else:
            with open(filename, "rb") as f:
                code = compile(f.read(), filename, "exec")
            ns = {"__builtins__": __builtins__, "__name__": "__config__",
                  "__file__": filename, "__doc__": None, "__package__": None}
            exec(code, ns, ns)
    except BaseException as exc:
        return _describe(exc, filename), []
    lines = _lines(filename)
    hooks.clear()
    names.clear()
    entries = [("__file__", 0, SCALAR, [filename], "str")]
    for key, value in ns.items():
        if key.startswith("_"):
            continue
        names[key] = value
        line = lines.get(key, 0)
        if key in HOOKS and callable(value):
            hooks[key] = value
            entries.append((key, line, HOOK, [], type(value).__name__))
            continue
        kind, items = _value(value)
        entries.append((key, line, kind, items, type(value).__name__))
    return "", entries


def asgi_hooks(worker):
    """(begin, end) for the asgi glue, around each HTTP request as gunicorn's asgi worker
    runs them: begin(scope) calls pre_request and returns the req; end(req, status,
    headers, sent) calls post_request. None when neither hook is defined."""
    if "pre_request" not in hooks and "post_request" not in hooks:
        return None

    def begin(scope):
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        query = scope.get("query_string", b"").decode("latin-1")
        uri = raw.decode("latin-1") + ("?" + query if query else "")
        minor = int(scope.get("http_version", "1.1").rpartition(".")[2] or 1)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        addr, port = scope.get("client") or ("", 0)
        req = Request(scope["method"], uri, scope["path"], query, minor, headers,
                      scope["scheme"], addr, port)
        call("pre_request", worker, req)
        return req

    def end(req, status, headers, sent):
        if "post_request" in hooks:
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
            call("post_request", worker, req, req.environ(), Response(status, "", headers, sent))
    return begin, end


def call(name, *args):
    hook = hooks.get(name)
    if hook is None:
        return
    try:
        hook(*args)
    except BaseException:
        _cppicorn.log_at(3, f"Exception in {name} hook:\n" + traceback.format_exc().rstrip())
)PY";
}

}  // namespace cppicorn::wsgi
