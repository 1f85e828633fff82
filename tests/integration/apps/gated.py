"""A WSGI app whose import waits for a ticket from the test, so a test decides when each worker
has booted: the import blocks until it can claim (rename away) one file from $GATE_DIR."""
import os
import time

_gate = os.environ.get("GATE_DIR")
while _gate:
    claimed = False
    for name in sorted(n for n in os.listdir(_gate) if n.startswith("ticket")):
        try:
            os.rename(os.path.join(_gate, name), os.path.join(_gate, f".used-{os.getpid()}"))
            claimed = True
            break
        except FileNotFoundError:
            pass  # another worker claimed it first
    if claimed:
        break
    time.sleep(0.01)


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"served by {os.getpid()}\n".encode()]
