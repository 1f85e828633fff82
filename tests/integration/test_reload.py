"""--reload and --reload-extra-file (gunicorn's development reload): a change to a file the
app was loaded from (a Python module it imported, its native .so) or to an extra file starts
one new generation of workers, as HUP does, and that generation serves the new code."""
import os
import shutil
import subprocess

from conftest import wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = {"PYTHONDONTWRITEBYTECODE": "1"}
CHANGED = "Reloading: the application's files changed (--reload)"


def body(server):
    try:
        status, _, data = server.request("GET", "/", timeout=5)
    except OSError:
        return None  # between generations nothing is refused, but be robust to a reset
    return data if status == 200 else None


def replace(path, text):
    """Saves as an editor does: a new file renamed over the old one."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def new_generation(server, old_pids, want):
    """Waits until the new code serves and every worker of the old generation is gone, then
    returns the log: after that no old worker can ask for another reload."""
    wait_for(lambda: body(server) == want, timeout=20, what=f"the new code ({want!r})")
    wait_for(lambda: not (set(server.workers()) & old_pids), timeout=20,
             what="the old generation to retire")
    return server.log()


def test_reload_on_an_imported_python_module(server, tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "helper.py").write_text('GREETING = "v1"\n')
    (app / "reloadapp.py").write_text(
        "import helper\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [helper.GREETING.encode()]\n")
    server.start("-w", "2", "--reload", "--app-path", str(app), app="reloadapp:app", env=ENV)
    assert body(server) == b"v1"
    old = set(server.workers())
    assert len(old) == 2

    replace(str(app / "helper.py"), 'GREETING = "v2"\n')
    log = new_generation(server, old, b"v2")
    assert f"Worker reloading: {app}/helper.py modified" in log
    # both workers saw it; one new generation, as one HUP
    assert log.count(CHANGED) == 1, log
    assert len(server.workers()) == 2


def test_reload_extra_file(server, tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    greeting = app / "greeting.txt"
    greeting.write_text("from the file, v1\n")
    (app / "fileapp.py").write_text(
        "import os\n"
        "with open(os.path.join(os.path.dirname(__file__), 'greeting.txt')) as f:\n"
        "    TEXT = f.read().strip().encode()\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [TEXT]\n")
    server.start("-w", "1", "--reload", "--reload-extra-file", str(greeting),
                 "--app-path", str(app), app="fileapp:app", env=ENV)
    assert body(server) == b"from the file, v1"
    old = set(server.workers())

    with open(greeting, "w") as f:  # written in place this time
        f.write("from the file, v2\n")
    log = new_generation(server, old, b"from the file, v2")
    assert f"Worker reloading: {greeting} modified" in log
    assert log.count(CHANGED) == 1, log


def test_reload_on_a_rebuilt_native_app(server, tmp_path, prefix):
    cc = shutil.which("gcc") or shutil.which("g++")
    lang = ["-x", "c"] if cc.endswith("g++") else []
    out = tmp_path / "greeting.so"

    def build(greeting):
        subprocess.run([cc, *lang, "-shared", "-fPIC", "-I", os.path.join(prefix, "include"),
                        f'-DGREETING="{greeting}"', "-o", str(out),
                        os.path.join(HERE, "apps", "greeting.c")], check=True)

    build("native v1")
    os.chmod(tmp_path, 0o755)
    server.start("-w", "2", "--reload", "--app-path", str(tmp_path), app="greeting:app")
    assert body(server) == b"native v1"
    old = set(server.workers())

    build("native v2")  # the linker writes a new file where the old one was
    log = new_generation(server, old, b"native v2")
    assert f"Worker reloading: {out} modified" in log
    assert log.count(CHANGED) == 1, log
