"""A client that leaves during an asgi request (apps/asgi_gone.py): the app hears
http.disconnect at once, its task is cancelled only when asgi_disconnect_grace_period is
over (gunicorn's setting and default, 3 s), and work after a complete response is never
cancelled that way."""
import json
import socket

from conftest import RawReader, wait_for
from test_asgi import start


def state(server):
    status, _, body = server.request("GET", "/state")
    assert status == 200
    return json.loads(body)


def leave(server, path, seen):
    """Sends GET path, waits until the app reports `seen` for it, then closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(f"GET /{path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        wait_for(lambda: state(server)[path] == seen, what=f"/{path} in the app")


def test_a_task_that_ignores_the_disconnect_is_cancelled(server):
    start(server, "asgi_gone:app", "--asgi-disconnect-grace-period", "0")
    leave(server, "ignore", "waiting")
    wait_for(lambda: state(server)["ignore"] == "cancelled", what="the task cancelled")
    wait_for(lambda: server.log_has("Cancelled GET /ignore: its client left"),
             what="the log line")
    assert "Traceback" not in server.log()  # a cancellation of ours is not an app error
    assert server.request("GET", "/release")[0] == 200  # the worker serves on


def test_the_grace_period_lets_the_app_tidy_up(server):
    # The app hears http.disconnect and goes on until /release: within the grace period
    # it is not cancelled.
    start(server, "asgi_gone:app", "--asgi-disconnect-grace-period", "60")
    leave(server, "tidy", "waiting")
    wait_for(lambda: state(server)["tidy"] == "http.disconnect", what="http.disconnect")
    assert server.request("GET", "/release")[0] == 200
    wait_for(lambda: state(server)["tidy"] == "finished", what="the tidy-up done")


def test_work_after_a_complete_response_is_not_cancelled(server):
    # Background work (Starlette's BackgroundTasks run so): the response is complete, the
    # client leaves, and the grace period does not apply.
    start(server, "asgi_gone:app", "--asgi-disconnect-grace-period", "0")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        assert RawReader(s).read_response().body == b"done"
        wait_for(lambda: state(server)["after"] == "responded", what="/after responded")
    # Had the close cancelled it (grace 0: at once), "cancelled" would stay for good.
    assert server.request("GET", "/release")[0] == 200
    wait_for(lambda: state(server)["after"] != "responded", what="/after's end")
    assert state(server)["after"] == "finished"
