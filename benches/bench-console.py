#!/usr/bin/env python3
"""Console benchmarks, in a pseudo-terminal, against the release binary.

Measures, with medians over repeated runs:
  - launch to the first frame showing data, remote (a `ragkeys serve` on loopback) and embedded,
    against a baseline measured in the same run: launch to exit of `ragkeys --version`;
  - CPU time used in 10 s at rest, after the first frame;
  - bytes written to the terminal per arrow key in a 5-row key list;
  - bytes written per `j` over 50 presses from the top of a 999-service list, at 100×30, 80×24
    and 200×60 (each step after the first screenful scrolls the list by one row);
  - peak RSS (VmHWM) of the console.
Usage: benches/bench-console.py [path/to/ragkeys]   (default target/release/ragkeys)
       ONLY=bytes benches/bench-console.py …   (only the byte counts: 5-row list and long list)
"""
import fcntl
import json
import os
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
import urllib.request

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/ragkeys")
RUNS = int(os.environ.get("RUNS", "10"))
TICK = os.sysconf("SC_CLK_TCK")


def env_for(home, token=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGKEYS_")}
    # The token goes in the environment: typed as --token it would warn (docs/cli.md).
    if token is not None:
        env["RAGKEYS_TOKEN"] = token
    env.update(HOME=home, XDG_CONFIG_HOME=f"{home}/config", XDG_DATA_HOME=f"{home}/data",
               TERM="xterm-256color", LANG="C.UTF-8")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


class Pty:
    def __init__(self, argv, env, cols=100, rows=30):
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, env=env, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True)
        os.close(slave)
        self.buf = b""

    def read_for(self, seconds):
        """Reads whatever arrives for `seconds`; returns the bytes."""
        got = b""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return got
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return got
                if not chunk:
                    return got
                got += chunk
                self.buf += chunk

    def wait_for(self, needle, timeout=10.0):
        """Seconds from launch until `needle` has been written."""
        end = time.monotonic() + timeout
        while needle not in self.buf:
            if time.monotonic() > end:
                raise RuntimeError(f"timed out waiting for {needle!r}; got {self.buf[-400:]!r}")
            self.read_for(0.005)
        return time.monotonic() - self.t0

    def quiet(self, seconds=0.3):
        """Reads until nothing arrives for `seconds`; returns the bytes."""
        total = b""
        while True:
            got = self.read_for(seconds)
            if not got:
                return total
            total += got

    def send(self, data):
        os.write(self.master, data)

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def peak_rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def close(self):
        try:
            self.send(b"\x03")
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def http(method, url, token, body=None):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def start_server(home):
    data = f"{home}/serve"
    proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", data],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env_for(home), text=True)
    for line in proc.stderr:
        if "listening on " in line:
            addr = line.split("listening on ", 1)[1].split()[0]
            break
    else:
        raise RuntimeError("server did not start")
    token = open(f"{data}/admin.token").read().strip()
    return proc, f"http://{addr}", token


def long_list_bytes(url, token, home, cols, rows, presses=50):
    """Bytes written per `j` from the top of the Services list (already holding 999 services)."""
    p = Pty([BIN, "--endpoint", url, "--lang", "en"], env_for(home, token), cols, rows)
    try:
        p.wait_for(b"long-000")
        p.quiet()
        sizes = []
        for _ in range(presses):
            p.send(b"j")
            sizes.append(len(p.quiet(0.25)))
        return sizes
    finally:
        p.close()


def seed_long_list(url, token, count=999):
    for i in range(count - 1):
        http("POST", f"{url}/v1/services", token, {"name": f"long-{i:03}", "description": f"service {i}"})


def median_ms(xs):
    return statistics.median(xs) * 1000


def main():
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} not found: cargo build --release first")
    home = tempfile.mkdtemp(prefix="ragkeys-bench-")
    server, url, token = start_server(home)
    try:
        svc = http("POST", f"{url}/v1/services", token, {"name": "bench-svc", "description": "bench"})
        for i in range(5):
            http("POST", f"{url}/v1/services/{svc['id']}/api-keys", token, {"name": f"k{i}"})

        only_bytes = os.environ.get("ONLY") == "bytes"
        baseline, remote, embedded, first_run, at_rest_ms = [], [], [], 0.0, 0.0
        for _ in range(0 if only_bytes else RUNS):
            t0 = time.monotonic()
            subprocess.run([BIN, "--version"], stdout=subprocess.DEVNULL, check=True)
            baseline.append(time.monotonic() - t0)

        for _ in range(0 if only_bytes else RUNS):
            p = Pty([BIN, "--endpoint", url, "--lang", "en"], env_for(home, token))
            remote.append(p.wait_for(b"bench-svc"))
            p.close()

        embedded_home = tempfile.mkdtemp(prefix="ragkeys-bench-emb-")
        for i in range(0 if only_bytes else RUNS + 1):
            p = Pty([BIN, "--lang", "en"], env_for(embedded_home))
            t = p.wait_for(b"rag-demo")
            if i == 0:
                first_run = t
            else:
                embedded.append(t)
            p.close()

        # At rest, arrow keys and memory: one remote session on the 5-key list.
        p = Pty([BIN, "--endpoint", url, "--lang", "en"], env_for(home, token))
        p.wait_for(b"bench-svc")
        p.quiet()
        if not only_bytes:
            c0 = p.cpu_seconds()
            p.read_for(10.0)
            at_rest_ms = (p.cpu_seconds() - c0) * 1000
        p.send(b"\r")
        p.wait_for(b"k4")
        p.quiet()
        sizes = []
        for key in [b"\x1b[B", b"\x1b[B", b"\x1b[A", b"\x1b[A"] * 3:
            p.send(key)
            sizes.append(len(p.quiet(0.25)))
        rss = p.peak_rss_kib()
        p.close()

        # The long list: 999 services (the service limit), 50 × `j` from the top.
        seed_long_list(url, token)
        long_lists = {(cols, rows, n): long_list_bytes(url, token, home, cols, rows, n)
                      for cols, rows, n in [(100, 30, 50), (80, 24, 50), (200, 60, 50), (200, 60, 100)]}
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(home, ignore_errors=True)

    for (cols, rows, n), xs in long_lists.items():
        print(f"  bytes per `j`, {n} from the top of 999 services, {cols}×{rows}: "
              f"{sum(xs) / len(xs):6.1f} B average (total {sum(xs)} B, max {max(xs)})")
    print(f"  bytes written per arrow key (5-row list)      {statistics.median(sizes):7.0f} B "
          f"(min {min(sizes)}, max {max(sizes)})")
    if only_bytes:
        return
    print(f"ragkeys console benchmark ({RUNS} runs each, medians; {os.cpu_count()} cores, shared machine)")
    print(f"  baseline: `ragkeys --version` start to exit  {median_ms(baseline):7.1f} ms")
    print(f"  launch → first frame with data, remote       {median_ms(remote):7.1f} ms  "
          f"({median_ms(remote) / median_ms(baseline):.1f}× baseline)")
    print(f"  launch → first frame with data, embedded     {median_ms(embedded):7.1f} ms  "
          f"(first run, creating the data dir: {first_run * 1000:.1f} ms)")
    print(f"  CPU used in 10 s at rest                      {at_rest_ms:7.1f} ms")
    print(f"  bytes written per arrow key (5-row list)      {statistics.median(sizes):7.0f} B "
          f"(min {min(sizes)}, max {max(sizes)})")
    print(f"  peak RSS                                      {rss / 1024:7.1f} MiB")


if __name__ == "__main__":
    main()
