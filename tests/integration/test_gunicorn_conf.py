"""gunicorn.conf.py (issue 16): a Python config file run by the plugin, its settings through
the settings table, and its server hooks at gunicorn's points in the right process. Each hook
in these configs appends "NAME PID DETAIL" to a file: the tests compare those pids with the
master's and the workers' instead of timing anything."""
import os
import shutil
import signal
import subprocess

from conftest import exited, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
ENV = {"PYTHONDONTWRITEBYTECODE": "1"}

HOOKS = '''
import os
EVIDENCE = {evidence!r}
helper_variable = "not a setting: ignored, as gunicorn ignores it"

def note(name, detail=""):
    with open(EVIDENCE, "a") as f:
        f.write(f"{{name}} {{os.getpid()}} {{detail}}\\n")

def on_starting(server): note("on_starting", server.pid)
def when_ready(server): note("when_ready", server.pid)
def on_reload(server): note("on_reload", server.pid)
def pre_fork(server, worker): note("pre_fork", worker.pid)
def post_fork(server, worker): note("post_fork", f"{{worker.pid}} {{server.pid}}")
def post_worker_init(worker): note("post_worker_init", f"{{worker.pid}} {{worker.ppid}}")
def pre_request(worker, req): note("pre_request", f"{{worker.pid}} {{req.method}} {{req.path}}")
def post_request(worker, req, environ, resp):
    note("post_request", f"{{req.path}} {{resp.status_code}} {{environ['PATH_INFO']}}")
def child_exit(server, worker): note("child_exit", worker.pid)
def worker_exit(server, worker): note("worker_exit", worker.pid)
def nworkers_changed(server, new_value, old_value): note("nworkers_changed", f"{{new_value}} {{old_value}}")
def on_exit(server): note("on_exit", server.pid)
'''


def evidence(path):
    """[(hook, pid, detail...)] in the order written."""
    try:
        with open(path) as f:
            return [tuple(line.split()) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def seen(path, hook):
    return [e for e in evidence(path) if e[0] == hook]


def launch(server, *args, cwd):
    """Runs the binary as a gunicorn user would: no flags added, the config file decides."""
    server.output = open(os.path.join(server.tmpdir, "stdout.log"), "wb")
    env = dict(os.environ, **ENV)
    env.pop("CPPICORN_CMD_ARGS", None)
    env.pop("WEB_CONCURRENCY", None)
    server.proc = subprocess.Popen([server.binary, *args], stdout=server.output,
                                   stderr=subprocess.STDOUT, cwd=cwd, env=env)
    server.wait_serving()


def run_check(binary, cwd, *args):
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, **ENV), timeout=30)


def test_gunicorn_deployment_by_changing_the_command_name(server, tmp_path):
    shutil.copy(os.path.join(APPS, "flaskapp.py"), tmp_path / "app.py")
    log = tmp_path / "hooks.log"
    (tmp_path / "gunicorn.conf.py").write_text(
        f'bind = "127.0.0.1:{server.port}"\nworkers = 2\nthreads = 2\n'
        f'errorlog = {server.log_path!r}\nloglevel = "info"\n' + HOOKS.format(evidence=str(log)))
    launch(server, "-c", "gunicorn.conf.py", "app:app", cwd=tmp_path)
    master = server.proc.pid
    workers = server.wait_workers(2)
    status, _, body = server.request("GET", "/user/ada")
    assert status == 200 and b"ada" in body
    ada = lambda hook: [e for e in seen(log, hook) if "/user/ada" in e]  # noqa: E731
    wait_for(lambda: ada("post_request"), what="post_request")

    assert [e[1:] for e in seen(log, "on_starting")] == [(str(master), str(master))]
    assert seen(log, "when_ready")[0][1] == str(master)
    assert seen(log, "nworkers_changed")[0][1:] == (str(master), "2", "None")
    assert {e[1] for e in seen(log, "pre_fork")} == {str(master)}
    forked = {e[1] for e in seen(log, "post_fork")}
    assert forked == {str(p) for p in workers}
    assert all(e[2] == e[1] and e[3] == str(master) for e in seen(log, "post_fork"))
    wait_for(lambda: len(seen(log, "post_worker_init")) == 2, what="post_worker_init")
    assert all(e[1] in forked and e[3] == str(master) for e in seen(log, "post_worker_init"))
    (pre,) = ada("pre_request")
    assert pre[1] in forked and pre[1] == pre[2] and pre[3:] == ("GET", "/user/ada")
    (post,) = ada("post_request")
    assert post[1] == pre[1] and post[2:] == ("/user/ada", "200", "/user/ada")

    server.signal(signal.SIGTTIN)
    wait_for(lambda: len(seen(log, "nworkers_changed")) == 2, what="nworkers_changed on TTIN")
    assert seen(log, "nworkers_changed")[1][1:] == (str(master), "3", "2")
    now = server.wait_workers(3)
    server.signal(signal.SIGTTOU)
    wait_for(lambda: seen(log, "child_exit"), what="child_exit on TTOU")
    (gone,) = seen(log, "child_exit")
    assert gone[1] == str(master) and int(gone[2]) in now
    exits = seen(log, "worker_exit")
    assert [(e[1], e[2]) for e in exits] == [(gone[2], gone[2])]  # in the worker itself
    assert seen(log, "nworkers_changed")[2][2:] == ("2", "3")

    server.signal(signal.SIGHUP)
    wait_for(lambda: seen(log, "on_reload"), what="on_reload on HUP")
    assert seen(log, "on_reload")[0][1] == str(master)
    server.stop()
    assert seen(log, "on_exit")[0][1] == str(master)


def test_request_hooks_run_around_asgi_requests(server, tmp_path):
    # gunicorn's asgi worker runs pre_request before the app and post_request after it.
    shutil.copy(os.path.join(APPS, "fastapi_app.py"), tmp_path / "main.py")
    log = tmp_path / "hooks.log"
    (tmp_path / "gunicorn.conf.py").write_text(
        f'bind = "127.0.0.1:{server.port}"\nworkers = 1\n'
        f'worker_class = "uvicorn.workers.UvicornWorker"\nerrorlog = {server.log_path!r}\n'
        + HOOKS.format(evidence=str(log)))
    launch(server, "-c", "gunicorn.conf.py", "main:app", cwd=tmp_path)
    (worker,) = server.wait_workers(1)
    assert server.request("GET", "/items/5?q=x")[0] == 200
    assert server.request("GET", "/nothing")[0] == 404
    on = lambda hook, path: [e for e in seen(log, hook) if path in e]  # noqa: E731
    wait_for(lambda: on("post_request", "/nothing"), what="post_request")
    assert on("pre_request", "/items/5") == [("pre_request", str(worker), str(worker), "GET",
                                              "/items/5")]
    assert on("post_request", "/items/5") == [("post_request", str(worker), "/items/5", "200",
                                               "/items/5")]
    assert on("post_request", "/nothing")[0][3] == "404"
    assert server.request("GET", "/items/6")[0] == 200  # the loop serves on


def test_pre_exec_runs_in_the_usr2_child_before_exec(server, tmp_path):
    shutil.copy(os.path.join(APPS, "flaskapp.py"), tmp_path / "app.py")
    log = tmp_path / "hooks.log"
    (tmp_path / "gunicorn.conf.py").write_text(
        f'bind = "127.0.0.1:{server.port}"\nworkers = 1\nerrorlog = {server.log_path!r}\n'
        + HOOKS.format(evidence=str(log))
        + 'def pre_exec(server): note("pre_exec", server.pid)\n')
    launch(server, "-c", "gunicorn.conf.py", "app:app", cwd=tmp_path)
    old = server.proc.pid
    server.signal(signal.SIGUSR2)
    wait_for(lambda: seen(log, "pre_exec"), what="pre_exec")
    ((_, child, server_pid),) = seen(log, "pre_exec")
    new = int(child)
    try:
        # In the forked child (gunicorn's `server` still names the old master), which then
        # execs the new master: the same pid runs on_starting again.
        assert new != old and server_pid == str(old)
        wait_for(lambda: [e for e in seen(log, "on_starting") if e[1] == child],
                 what="on_starting in the new master")
        assert server.wait_exit() == 0  # the old master handed over
        assert server.request("GET", "/user/ada")[0] == 200
    finally:
        try:
            os.kill(new, signal.SIGINT)
        except ProcessLookupError:
            pass
        wait_for(lambda: exited(new), what="the new master's exit")


def test_syntax_error_names_file_and_line(binary, tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text("workers = 2\nthreads = = 4\n")
    r = run_check(binary, tmp_path, "-c", "gunicorn.conf.py", "--check-config", "app:app")
    assert r.returncode != 0
    assert f"{tmp_path}/gunicorn.conf.py:2: SyntaxError: invalid syntax" in r.stderr


def test_exception_names_file_and_line(binary, tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text("workers = 2\nbind = undefined_name\n")
    r = run_check(binary, tmp_path, "-c", "gunicorn.conf.py", "--check-config", "app:app")
    assert r.returncode != 0
    assert (f"{tmp_path}/gunicorn.conf.py:2: NameError: name 'undefined_name' is not "
            "defined") in r.stderr


def test_bad_value_names_key_and_line(binary, tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text('import os\n\nworkers = "many"\n')
    r = run_check(binary, tmp_path, "-c", "gunicorn.conf.py", "--check-config", "app:app")
    assert r.returncode != 0
    assert f"{tmp_path}/gunicorn.conf.py:3: workers: expected an integer" in r.stderr
    (tmp_path / "gunicorn.conf.py").write_text("def post_fork(server, worker):\n    pass\n"
                                               "on_exit = 3\n")
    r = run_check(binary, tmp_path, "-c", "gunicorn.conf.py", "--check-config", "app:app")
    assert r.returncode != 0
    assert f"{tmp_path}/gunicorn.conf.py:3: on_exit: expected a function, got an int" in r.stderr


def test_settings_from_conf_and_command_line_wins(binary, tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text(
        'workers = 3\nthreads = 4\npreload_app = True\nbind = ["127.0.0.1:1", "[::1]:2"]\n'
        'accesslog = "-"\nsecure_scheme_headers = {"X-FORWARDED-PROTO": "https"}\n')
    r = run_check(binary, tmp_path, "-c", "gunicorn.conf.py", "-w", "5", "--print-config")
    assert r.returncode == 0, r.stderr
    assert "workers: 5" in r.stdout and "threads: 4" in r.stdout
    assert "preload: true" in r.stdout and '"[::1]:2"' in r.stdout
    assert 'access_logfile: "-"' in r.stdout


def test_secure_scheme_headers_errors_name_file_line_and_key(binary, tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text(
        'workers = 2\nsecure_scheme_headers = {"X-SCHEME": ["https"]}\n')
    r = run_check(binary, tmp_path, "-c", "gunicorn.conf.py", "--check-config", "app:app")
    assert r.returncode != 0
    assert f"{tmp_path}/gunicorn.conf.py:2: secure_scheme_headers: expected" in r.stderr
    (tmp_path / "gunicorn.conf.py").write_text('secure_scheme_headers = {"X SCHEME": "https"}\n')
    r = run_check(binary, tmp_path, "-c", "gunicorn.conf.py", "--check-config", "app:app")
    assert r.returncode != 0
    assert "invalid scheme header 'X SCHEME=https' (expected a header name)" in r.stderr
    (tmp_path / "c.yaml").write_text("workers: 2\nsecure_scheme_headers:\n  X-Scheme: [a]\n")
    r = run_check(binary, tmp_path, "-c", "c.yaml", "--check-config", "app:app")
    assert r.returncode != 0
    assert f"{tmp_path}/c.yaml:3: secure_scheme_headers: expected a mapping of strings" in r.stderr
    (tmp_path / "gunicorn.conf.py").unlink()  # else read without -c, as gunicorn does
    r = run_check(binary, tmp_path, "--secure-scheme-headers", "X-Scheme", "--check-config",
                  "app:app")
    assert r.returncode != 0
    assert "invalid scheme header 'X-Scheme' (expected NAME=VALUE)" in r.stderr


def test_c_file_without_py_suffix_runs_as_python_as_gunicorn(binary, tmp_path):
    # gunicorn runs whatever -c names; only *.yaml, *.yml and *.json are cppicorn's YAML.
    (tmp_path / "gunicorn.conf").write_text("import os\nworkers = 3\nthreads = 2\n")
    r = run_check(binary, tmp_path, "-c", "gunicorn.conf", "--print-config", "app:app")
    assert r.returncode == 0, r.stderr
    assert "workers: 3" in r.stdout and "threads: 2" in r.stdout
    (tmp_path / "c.yml").write_text("workers: 4\n")
    r = run_check(binary, tmp_path, "-c", "c.yml", "--print-config", "app:app")
    assert r.returncode == 0, r.stderr
    assert "workers: 4" in r.stdout


def test_default_gunicorn_conf_py_without_c(server, tmp_path):
    shutil.copy(os.path.join(APPS, "hookapp.py"), tmp_path / "hookapp.py")
    log = tmp_path / "hooks.log"
    (tmp_path / "gunicorn.conf.py").write_text(
        f'bind = "127.0.0.1:{server.port}"\nerrorlog = {server.log_path!r}\n' +
        HOOKS.format(evidence=str(log)))
    launch(server, "hookapp:app", cwd=tmp_path)
    assert server.request("GET", "/")[0] == 200
    assert seen(log, "on_starting")[0][1] == str(server.proc.pid)


def test_raising_hook_is_logged_and_the_server_serves_on(server, tmp_path):
    conf = tmp_path / "conf.py"
    conf.write_text("def pre_request(worker, req):\n    1 / 0\n"
                    "def when_ready(server):\n    raise RuntimeError('not ready')\n")
    server.start("-c", str(conf), "--app-path", APPS, app="hookapp:app", env=ENV)
    for _ in range(3):
        assert server.request("GET", "/")[0] == 200
    log = server.log()
    assert "Exception in pre_request hook:" in log and "ZeroDivisionError" in log
    assert "Exception in when_ready hook:" in log and "RuntimeError: not ready" in log
    assert 'conf.py", line 2, in pre_request' in log


def test_worker_abort_on_timeout(server, tmp_path):
    log = tmp_path / "abort.log"
    conf = tmp_path / "conf.py"
    conf.write_text(f"import os\ntimeout = 1\n"
                    f"def worker_abort(worker):\n"
                    f"    open({str(log)!r}, 'a').write(f'{{os.getpid()}} {{worker.pid}}\\n')\n")
    server.start("-c", str(conf), "--app-path", APPS, app="hookapp:app", env=ENV)
    (worker,) = server.wait_workers(1)
    conn = server.connection(timeout=30)
    conn.request("GET", "/stuck")
    try:
        conn.getresponse()
    except OSError:
        pass  # the worker was aborted under this request
    conn.close()
    wait_for(lambda: os.path.exists(log) and open(log).read(), timeout=20, what="worker_abort")
    assert open(log).read().split() == [str(worker), str(worker)]
    wait_for(lambda: server.log_has(f"Worker (pid:{worker})") or
             worker not in server.workers(), what="aborted worker gone")
    assert server.request("GET", "/")[0] == 200  # a new worker serves


def test_missing_plugin_message_names_the_package(binary, tmp_path):
    """A .py config without Python support: the package to install, not a traceback."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy(binary, bindir / "cppicorn")
    (tmp_path / "gunicorn.conf.py").write_text("workers = 2\n")
    r = run_check(str(bindir / "cppicorn"), tmp_path, "--check-config", "hello:app")
    assert r.returncode != 0
    assert "gunicorn.conf.py: it is a Python config file, but Python support (wsgi.so) is " \
           "not installed: apt install cppicorn-python3" in r.stderr


def test_yaml_config_and_native_app_never_load_libpython(server, tmp_path):
    conf = tmp_path / "site.yaml"
    conf.write_text("workers: 1\nthreads: 2\n")
    server.start("-c", str(conf))
    (worker,) = server.wait_workers(1)
    assert server.request("GET", "/")[0] == 200
    for pid in (server.proc.pid, worker):
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read()
        assert "libpython" not in maps and "wsgi.so" not in maps, pid


def test_worker_int_on_int_in_the_worker(server, tmp_path):
    log = tmp_path / "int.log"
    conf = tmp_path / "conf.py"
    conf.write_text(f"import os\nthreads = 2\n"
                    f"def worker_int(worker):\n"
                    f"    open({str(log)!r}, 'a').write(f'{{os.getpid()}} {{worker.pid}}\\n')\n")
    server.start("-c", str(conf), "--app-path", APPS, app="hookapp:app", env=ENV)
    (worker,) = server.wait_workers(1)
    os.kill(worker, signal.SIGINT)
    wait_for(lambda: os.path.exists(log) and open(log).read(), what="worker_int")
    assert open(log).read().split() == [str(worker), str(worker)]
    wait_for(lambda: worker not in server.workers() and len(server.workers()) == 1,
             what="a new worker")
    assert server.request("GET", "/")[0] == 200


def test_worker_int_and_abort_hooks_leave_spawned_processes_signals_unblocked(server, tmp_path):
    conf = tmp_path / "conf.py"
    conf.write_text("threads = 2\n"
                    "def worker_int(worker): pass\n"
                    "def worker_abort(worker): pass\n")
    server.start("-c", str(conf), "--app-path", APPS, app="hookapp:app", env=ENV)
    for _ in range(2):  # either thread of the pool
        status, _, body = server.request("GET", "/sigblk")
        assert status == 200 and body.startswith(b"SigBlk:"), body
        blocked = int(body.split()[1], 16)
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGABRT):
            assert not blocked & (1 << (sig - 1)), (sig.name, body)
