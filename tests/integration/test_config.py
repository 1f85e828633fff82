"""Configuration through the installed binary: YAML errors with FILE:LINE, a valid file, and
the precedence defaults < YAML < CPPICORN_CMD_ARGS < command line, checked both with
--print-config and by counting the live workers."""
import os
import re
import subprocess

import pytest

from conftest import free_port


def run(binary, *args, env=None, cwd=None, timeout=20):
    full_env = dict(os.environ)
    full_env.pop("CPPICORN_CMD_ARGS", None)
    full_env.pop("WEB_CONCURRENCY", None)
    full_env.update(env or {})
    return subprocess.run([binary, *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout)


def printed_workers(out):
    m = re.search(r"^workers: (\d+)\s*$", out, re.M)
    assert m, out
    return int(m.group(1))


def test_yaml_typo_rejected_with_file_line_and_suggestion(binary, examples, tmp_path):
    port = free_port()
    cfg = tmp_path / "cppicorn.yaml"
    cfg.write_text(f"bind: 127.0.0.1:{port}\ntimeout: 30\nwrokers: 2\n")
    p = run(binary, "-c", str(cfg), "--chdir", examples, "hello:app")
    print(p.stderr)
    assert p.returncode == 2
    assert f"{cfg}:3:" in p.stderr
    assert "did you mean 'workers'" in p.stderr
    # Nothing started: no listener was opened and no worker forked before the refusal.
    assert "Listening at" not in p.stderr + p.stdout
    assert "Booting worker" not in p.stderr + p.stdout


def test_check_config_reports_typo(binary, tmp_path):
    cfg = tmp_path / "cppicorn.yaml"
    cfg.write_text("workers: 2\n\nwrokers: 2\n")
    p = run(binary, "-c", str(cfg), "--check-config", "hello:app")
    assert p.returncode != 0
    assert f"{cfg}:3:" in p.stderr


def test_print_config_precedence(binary, tmp_path):
    cfg = tmp_path / "cppicorn.yaml"
    cfg.write_text("workers: 3\ntimeout: 7\n")
    assert printed_workers(run(binary, "--print-config").stdout) == 1
    assert printed_workers(run(binary, "--print-config", env={"WEB_CONCURRENCY": "5"}).stdout) == 5
    assert printed_workers(run(binary, "-c", str(cfg), "--print-config",
                               env={"WEB_CONCURRENCY": "5"}).stdout) == 3
    assert printed_workers(run(binary, "-c", str(cfg), "--print-config",
                               env={"CPPICORN_CMD_ARGS": "-w 4"}).stdout) == 4
    both = run(binary, "-c", str(cfg), "-w", "2", "--print-config",
               env={"CPPICORN_CMD_ARGS": "-w 4"}).stdout
    assert printed_workers(both) == 2
    # Keys not overridden keep the file's value.
    assert re.search(r"^timeout: 7(\.0)?\s*$", both, re.M), both
    # The config file itself may come from CPPICORN_CMD_ARGS.
    assert printed_workers(run(binary, "--print-config",
                               env={"CPPICORN_CMD_ARGS": f"-c {cfg}"}).stdout) == 3


@pytest.mark.parametrize("cli,env,expected", [
    ((), None, 3),
    (("-w", "2"), None, 2),
    ((), {"CPPICORN_CMD_ARGS": "-w 4"}, 4),
    (("-w", "1"), {"CPPICORN_CMD_ARGS": "-w 4"}, 1),
], ids=["file", "cli", "env", "cli-over-env"])
def test_yaml_workers_live(server, tmp_path, cli, env, expected):
    cfg = tmp_path / "cppicorn.yaml"
    cfg.write_text("# workers from the file\nworkers: 3\ngraceful_timeout: 5\n")
    server.start("-c", str(cfg), *cli, env=env)
    server.wait_workers(expected)
    assert server.request("GET", "/")[0] == 200
    assert len(server.workers()) == expected


def test_relative_config_path_resolved_from_start_dir(server, tmp_path):
    # --chdir moves the process; the -c path is the one given relative to where it started.
    (tmp_path / "rel.yaml").write_text("workers: 2\n")
    server.start("-c", "rel.yaml", cwd=str(tmp_path))
    server.wait_workers(2)
