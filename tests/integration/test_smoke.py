"""The seed tutorial's promise: hello served to real clients."""
import subprocess


def test_hello_to_curl(server):
    server.start("-w", "2")
    out = subprocess.run(["curl", "-sS", "-i", f"http://127.0.0.1:{server.port}/"],
                         capture_output=True, check=True).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"Content-Type: text/plain" in head
    assert body == b"Hello, World!\n"
