"""Hosts on one machine for the multi-host test: each host a network namespace (its own
interfaces, addresses and ports) and its own UTS namespace (its own host name, so worker names
and heartbeats tell the hosts apart), joined through one switch: a bridge in a namespace of its
own. Nothing is attached to the machine's own network, so every packet stays between these
hosts. Needs root and iproute2; everything made here is removed by ``Lan.down``."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


def namespaces_available() -> str:
    """Why this machine cannot make the test's hosts ('' when it can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip") or not shutil.which("unshare"):
        return "needs iproute2 (ip) and util-linux (unshare)"
    probe = f"cqprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ""


def _is_zombie(pid: int) -> bool:
    try:
        # The state follows the parenthesised command name, which may itself hold spaces.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except (OSError, IndexError):
        return True  # gone already


def _ip(*args: str, netns: str | None = None) -> None:
    command = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")


@dataclass
class Lan:
    """``hosts`` maps a host name to its address on 10.<subnet>.0.0/24."""

    hosts: dict[str, str]
    tag: str = field(default_factory=lambda: f"cq{os.getpid() % 100000}")
    processes: list[subprocess.Popen] = field(default_factory=list)

    def netns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    @property
    def switch(self) -> str:
        return f"{self.tag}-lan"

    def up(self) -> None:
        _ip("netns", "add", self.switch)
        _ip("link", "add", "br0", "type", "bridge", netns=self.switch)
        _ip("link", "set", "br0", "up", netns=self.switch)
        for number, (host, address) in enumerate(self.hosts.items()):
            netns, port = self.netns(host), f"{self.tag}p{number}"
            _ip("netns", "add", netns)
            _ip("link", "set", "lo", "up", netns=netns)
            # Made in the machine's namespace, then each end moved at once into its own.
            _ip("link", "add", f"{self.tag}h{number}", "type", "veth", "peer", "name", port)
            _ip("link", "set", f"{self.tag}h{number}", "netns", netns, "name", "eth0")
            _ip("link", "set", port, "netns", self.switch)
            _ip("link", "set", port, "master", "br0", netns=self.switch)
            _ip("link", "set", port, "up", netns=self.switch)
            _ip("addr", "add", f"{address}/24", "dev", "eth0", netns=netns)
            _ip("link", "set", "eth0", "up", netns=netns)

    def command(self, host: str, argv: list[str]) -> list[str]:
        """``argv`` run on ``host``: in its network namespace, under its own host name."""
        return ["ip", "netns", "exec", self.netns(host), "unshare", "--uts", "sh", "-c",
                f'hostname {host} && exec "$@"', "sh", *argv]

    def start(self, host: str, argv: list[str], log: Path, env: dict | None = None,
              cwd: str | None = None) -> subprocess.Popen:
        """A long-running program on ``host`` in a process group of its own, output to ``log``."""
        with open(log, "ab") as out:
            process = subprocess.Popen(self.command(host, argv), stdout=out, stderr=subprocess.STDOUT,
                                       env=env, cwd=cwd, start_new_session=True)
        self.processes.append(process)
        return process

    def run(self, host: str, argv: list[str], env: dict | None = None, cwd: str | None = None,
            timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run(self.command(host, argv), env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, input=input)
        if done.returncode != 0:
            raise RuntimeError(f"on {host}: {' '.join(argv)} exited {done.returncode}\n{done.stdout[-3000:]}\n"
                               f"{done.stderr[-3000:]}")
        return done

    def pids(self, host: str) -> list[int]:
        """The live processes on ``host`` (a killed process not yet reaped is not one)."""
        listed = subprocess.run(["ip", "netns", "pids", self.netns(host)], capture_output=True, text=True)
        return [int(pid) for pid in listed.stdout.split() if not _is_zombie(int(pid))]

    def kill_host(self, host: str) -> list[int]:
        """Every process on ``host`` gets SIGKILL at once, as when the machine loses power."""
        killed = []
        for pid in self.pids(host):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while self.pids(host) and time.monotonic() < deadline:
            for process in self.processes:
                process.poll()  # reap the ones this test started
            time.sleep(0.1)
        return killed

    def down(self) -> None:
        """Stop everything the hosts run (TERM, then KILL after a grace), remove the namespaces."""
        for host in self.hosts:
            for pid in self.pids(host):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(self.pids(host) for host in self.hosts):
            time.sleep(0.2)
        for host in self.hosts:
            self.kill_host(host)
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        for netns in [*map(self.netns, self.hosts), self.switch]:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)
