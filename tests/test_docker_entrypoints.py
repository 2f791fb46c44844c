"""The Docker images' entry points, run directly on 127.0.0.1 (no Docker engine runs here).

The commands are parsed out of docker/Dockerfile.* (ENTRYPOINT, ENV) and docker/docker-compose.yml
(entrypoint, environment, the tuner's command) and started as they are, with only the deployment
addresses changed (bind 127.0.0.1, free ports, the tracker's address) and the mounted secret
(``/run/secrets/tvm_loihi``) a temporary file: a tracker, the compose file's number of hosts, a
short tuning run through them, then ``docker stop``'s SIGTERM. The entry point script
(docker/entrypoint.sh, ``tvm-loihi-docker`` in the images) is run with ``sh``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time

import pytest

from tvm_loihi.measure.tracker import free_port, hosts_for_key, query_summary, wait_for_hosts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKER = os.path.join(ROOT, "docker")
BIN = os.path.dirname(sys.executable)  # where pip put the console script, as in the image
ENTRYPOINT_SCRIPT = os.path.join(DOCKER, "entrypoint.sh")  # /usr/local/bin/tvm-loihi-docker


def _command(argv: list[str]) -> list[str]:
    """An image's entry point as run here: the script with sh, console scripts from the venv."""
    if argv[0] == "tvm-loihi-docker":
        return ["sh", ENTRYPOINT_SCRIPT, *argv[1:]]
    return [os.path.join(BIN, argv[0]), *argv[1:]]


def _env_path(env: dict) -> dict:
    return {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}


def parse_dockerfile(path: str) -> dict:
    """``{"from", "run", "env", "entrypoint", "user", "copy"}`` of a simple Dockerfile."""
    text = re.sub(r"\\\n\s*", " ", open(path).read())  # join continuation lines
    out = {"from": "", "run": [], "env": {}, "entrypoint": None, "user": "root", "copy": []}
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "FROM":
            out["from"] = rest.strip()
        elif word == "RUN":
            out["run"].append(rest)
        elif word == "ENV":
            out["env"].update(re.findall(r"(\w+)=(\S+)", rest))
        elif word == "ENTRYPOINT":
            out["entrypoint"] = json.loads(rest)
        elif word == "USER":
            out["user"] = rest.strip()
        elif word == "COPY":
            out["copy"].append(rest.split())
    return out


def parse_compose(path: str) -> dict:
    """The services of a compose file written in the small YAML subset docker-compose.yml uses."""
    services: dict = {}
    service = key = None
    section = ""
    for raw in open(path):
        line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent, text = len(line) - len(line.lstrip()), line.strip()
        if indent == 0:
            section, service = text.rstrip(":"), None
        elif section != "services":
            continue
        elif indent == 2 and text.endswith(":"):
            service = services.setdefault(text[:-1], {})
        elif indent == 4 and service is not None:
            key, _, value = text.partition(":")
            value = value.strip()
            service[key] = json.loads(value) if value.startswith("[") else (value or {})
        elif (
            indent == 6
            and isinstance(service.get(key), dict)
            and ":" in text
            and not text.startswith("-")
        ):
            k, _, v = text.partition(":")
            service[key][k.strip()] = v.strip().strip('"')
    return services


def _start(argv: list[str], env: dict, log_path: str) -> subprocess.Popen:
    cmd = _command(argv)
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_env_path(env),
            start_new_session=True,
        )


def _wait_for(text: str, proc: subprocess.Popen, log_path: str, timeout_s: float = 90) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        out = open(log_path, errors="replace").read()
        if text in out:
            return out
        assert proc.poll() is None and time.monotonic() < deadline, f"no {text!r}:\n{out[-3000:]}"
        time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> int:
    """``docker stop``: SIGTERM to the entry point (PID 1 in the container), then its return code
    (SIGKILL to the whole group if it does not exit)."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        return -9


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_images_and_compose_agree():
    tracker = parse_dockerfile(os.path.join(DOCKER, "Dockerfile.tracker"))
    host = parse_dockerfile(os.path.join(DOCKER, "Dockerfile.host"))
    compose = parse_compose(os.path.join(DOCKER, "docker-compose.yml"))
    for image in (tracker, host):
        assert image["from"] == "python:3.10-slim"
        assert any("pip install" in r and r.rstrip().endswith(" .") for r in image["run"])
        assert image["user"] not in ("root", "0", "")  # the images run as a non-root user
        assert ["docker/entrypoint.sh", "/usr/local/bin/tvm-loihi-docker"] in image["copy"]
    assert (
        tracker["entrypoint"] == compose["tracker"]["entrypoint"] == ["tvm-loihi-docker", "tracker"]
    )
    assert host["entrypoint"] == compose["host"]["entrypoint"] == ["tvm-loihi-docker", "serve"]
    for name in ("tracker", "host", "tune"):
        assert compose[name]["secrets"] == ["tvm_loihi"], name
    port = compose["tracker"]["environment"]["TVM_LOIHI_PORT"]
    assert compose["host"]["environment"]["TVM_LOIHI_TRACKER"] == f"tracker:{port}"
    assert f"rpc://tracker:{port}/loihi2" in compose["tune"]["command"]
    assert int(compose["host"]["deploy"]["replicas"]) >= 2


def _deployment_env(image: dict, service: dict, **local) -> dict:
    # image ENV, then the compose service's environment, then the 127.0.0.1 deployment
    return {
        **os.environ,
        **image["env"],
        **service.get("environment", {}),
        **local,
        "PYTHONUNBUFFERED": "1",
    }


def _secret_file(tmp_path) -> str:
    """The mounted secret (/run/secrets/tvm_loihi in the containers)."""
    path = tmp_path / "tvm_loihi.secret"
    path.write_text(secrets.token_hex(32) + "\n")
    path.chmod(0o600)
    return str(path)


@pytest.mark.parametrize("command", ["serve", "tracker"])
def test_entrypoint_refuses_beyond_loopback_without_a_mounted_secret(tmp_path, command):
    image = "host" if command == "serve" else "tracker"
    host_img = parse_dockerfile(os.path.join(DOCKER, f"Dockerfile.{image}"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVM_LOIHI_SECRET")}
    env = {
        **env,
        **host_img["env"],
        "TVM_LOIHI_PORT": str(free_port()),
        "TVM_LOIHI_SECRET_FILE": str(tmp_path / "not_mounted"),
    }
    assert env["TVM_LOIHI_HOST"] == "0.0.0.0"  # what the images bind
    argv = _command(host_img["entrypoint"])
    for extra in ([], ["--insecure"]):  # --insecure does not open 0.0.0.0 in a container
        res = subprocess.run(
            [*argv, *extra], capture_output=True, text=True, timeout=60, env=_env_path(env)
        )
        assert res.returncode == 1, res.stderr
        assert (
            f"refusing to start '{command}' on 0.0.0.0 without a secret: mount one at" in res.stderr
        ), res.stderr
    # Mounted: the entry point hands it over (192.0.2.1 is not assigned here: the bind fails,
    # after tvm-loihi accepted the secret).
    env["TVM_LOIHI_SECRET_FILE"] = _secret_file(tmp_path)
    res = subprocess.run(
        [*argv, "--host", "192.0.2.1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env_path(env),
    )
    assert res.returncode != 0 and "refusing" not in res.stderr and "secret" not in res.stderr
    assert "Cannot assign requested address" in res.stderr, res.stderr


def test_entrypoints_run_a_farm_on_localhost(tmp_path):
    secret_file = _secret_file(tmp_path)
    tracker_img = parse_dockerfile(os.path.join(DOCKER, "Dockerfile.tracker"))
    host_img = parse_dockerfile(os.path.join(DOCKER, "Dockerfile.host"))
    compose = parse_compose(os.path.join(DOCKER, "docker-compose.yml"))
    n_hosts = int(compose["host"]["deploy"]["replicas"])
    port = free_port()
    procs = []
    try:
        env = _deployment_env(
            tracker_img,
            compose["tracker"],
            TVM_LOIHI_HOST="127.0.0.1",
            TVM_LOIHI_PORT=str(port),
            TVM_LOIHI_SECRET_FILE=secret_file,
        )
        log = str(tmp_path / "tracker.log")
        procs.append(_start(compose["tracker"]["entrypoint"], env, log))
        _wait_for(f"tvm-loihi tracker ready at 127.0.0.1:{port}", procs[0], log)
        for i in range(n_hosts):
            env = _deployment_env(
                host_img,
                compose["host"],
                TVM_LOIHI_HOST="127.0.0.1",
                TVM_LOIHI_PORT=str(free_port()),
                TVM_LOIHI_TRACKER=f"127.0.0.1:{port}",
                TVM_LOIHI_SECRET_FILE=secret_file,
            )
            procs.append(_start(compose["host"]["entrypoint"], env, str(tmp_path / f"host{i}.log")))
        key = host_img["env"]["TVM_LOIHI_KEY"]
        secret = open(secret_file).read().strip()  # the tracker answers only the farm's members
        found = wait_for_hosts("127.0.0.1", port, key, n_hosts, timeout_s=120, secret=secret)
        assert len(found) == n_hosts
        _tune_through_the_farm(compose["tune"], port, tmp_path, secret_file)
        codes = [_stop(p) for p in reversed(procs)]
        assert codes == [0] * len(procs)  # SIGTERM is a clean exit, as under docker stop
        time.sleep(0.5)
        for p in procs:  # nothing of the group (TVM's forked listen/tracker processes) survives
            assert not _group_alive(p.pid), f"process group {p.pid} still has members"
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)


def _tune_through_the_farm(tune_service: dict, port: int, tmp_path, secret_file: str) -> None:
    argv = [*tune_service["entrypoint"], *tune_service["command"]]
    local = {"rpc://tracker:": "rpc://127.0.0.1:", "/results": str(tmp_path / "results")}
    argv = [_replace(a, local) for a in argv]
    argv[argv.index("--workload") + 1] = "mlp_tiny"  # the small member of the family, small budget
    argv[argv.index("--budget") + 1] = "8"
    argv = [a.replace(":9190/", f":{port}/") for a in argv]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVM_LOIHI_SECRET")}
    res = subprocess.run(
        _command(argv),
        capture_output=True,
        text=True,
        timeout=300,
        env=_env_path({**env, "TVM_LOIHI_SECRET_FILE": secret_file}),
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "best found" in res.stdout
    secret = open(secret_file).read().strip()
    hosts = hosts_for_key(query_summary("127.0.0.1", port, secret=secret), "loihi2")
    records = [json.loads(line) for line in open(tmp_path / "results" / "tune.jsonl")]
    assert {r["result"]["host"] for r in records} <= set(hosts) and records


def _replace(arg: str, mapping: dict) -> str:
    for old, new in mapping.items():
        arg = arg.replace(old, new)
    return arg
