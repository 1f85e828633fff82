"""A plain WSGI app for the server-hook tests: / answers, /stuck never does (a timeout),
/sigblk answers with the blocked-signal mask of a process it spawns (SigBlk, hex)."""
import subprocess
import time


def app(environ, start_response):
    if environ["PATH_INFO"] == "/stuck":
        time.sleep(3600)
    body = b"ok\n"
    if environ["PATH_INFO"] == "/sigblk":
        status = subprocess.run(["cat", "/proc/self/status"], capture_output=True,
                                check=True).stdout
        body = next(line for line in status.splitlines() if line.startswith(b"SigBlk:"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
