"""WSGI test app for test_fork.py: routes that fork the way apps do (os.fork, multiprocessing
pools) so the tests can check what a forked child inherits from its worker.

  /pid                 the worker's pid
  /fork-term           forks a child that sends SIGTERM to itself (and _exits 0 if it lives
                       on); answers how the child ended: "signal 15" or "exit N"
  /fork-sleep          forks a child that sleeps until killed; answers its pid once the
                       child runs. ?blocked=1 forks from a thread that blocks every signal
                       (as a thread pool's threads do)
  /reap?pid=N          waits for that child; answers how it ended
  /pool?ctx=NAME       runs a multiprocessing pool of the start method NAME (fork, spawn,
                       forkserver); answers the sum of its results
"""
import multiprocessing
import os
import signal
import threading
import time


def ended(status):
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.WEXITSTATUS(status)}"


def fork_term():
    pid = os.fork()
    if pid == 0:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # a handled TERM returns here; a default one has ended us
        finally:
            os._exit(0)
    return ended(os.waitpid(pid, 0)[1])


def fork_sleep():
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.write(ready_w, b"1")  # running the app's code now, past fork() in the child
            os.close(ready_w)
            while True:
                time.sleep(3600)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.read(ready_r, 1)
    os.close(ready_r)
    return str(pid)


def fork_sleep_blocked():
    out = []

    def run():
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        out.append(fork_sleep())

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out[0]


def pool(ctx):
    with multiprocessing.get_context(ctx).Pool(2) as p:
        return str(sum(p.map(abs, range(-10, 10))))


def app(environ, start_response):
    path = environ["PATH_INFO"]
    query = dict(q.split("=", 1) for q in environ["QUERY_STRING"].split("&") if "=" in q)
    if path == "/pid":
        body = str(os.getpid())
    elif path == "/fork-term":
        body = fork_term()
    elif path == "/fork-sleep":
        body = fork_sleep_blocked() if query.get("blocked") == "1" else fork_sleep()
    elif path == "/reap":
        body = ended(os.waitpid(int(query["pid"]), 0)[1])
    elif path == "/pool":
        body = pool(query["ctx"])
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    data = (body + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
