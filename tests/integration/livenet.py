"""livenet.py – network namespaces, servers and a live pktlog for the live-capture tests
and bench/live.

Two namespaces joined by a veth pair: the server side (nginx, MariaDB) and the client
side (curl, ab, mariadb). Everything is created fresh and removed by name; processes
are stopped by their own pid. Needs root (ip netns)."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

# Names carry the pid so that two runs (a test and bench/live, or two `make test`s)
# never tear down each other's namespaces and devices (interface names: <= 15 chars).
SUFFIX = str(os.getpid() % 100000)


def name(stem):
    return "pl" + stem + SUFFIX


SRV, CLI = name("srv"), name("cli")
VSRV, VCLI = name("vs"), name("vc")
SRV_IP, CLI_IP = "10.231.0.2", "10.231.0.1"
HTTP_PORT, OTHER_PORT, MYSQL_PORT = 8080, 9090, 3306

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SAN_ENV = dict(os.environ,
               ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")


def sh(*argv, check=True, ns=None, **kw):
    if ns:
        argv = ("ip", "netns", "exec", ns) + argv
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kw)


def netns_down(*names):
    for n in names:
        sh("ip", "netns", "del", n, check=False)


def netns_up():
    """Fresh namespaces SRV and CLI joined by a veth pair."""
    netns_down(SRV, CLI)
    sh("ip", "netns", "add", SRV)
    sh("ip", "netns", "add", CLI)
    sh("ip", "link", "add", VSRV, "netns", SRV, "type", "veth", "peer", "name", VCLI, "netns", CLI)
    for ns, dev, ip in ((SRV, VSRV, SRV_IP), (CLI, VCLI, CLI_IP)):
        sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "addr", "add", ip + "/24", "dev", dev, ns=ns)
        sh("ip", "link", "set", dev, "up", ns=ns)


def wait_port(ns, port, timeout=15):
    """Wait for a listener by reading the socket table (no probe connection)."""
    end = time.time() + timeout
    while time.time() < end:
        if f":{port} " in sh("ss", "-Hltn", ns=ns, check=False).stdout:
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} in {ns}")


def stop_nginx(proc, root):
    """Stops an nginx gracefully (SIGQUIT; killed after 10 s) and removes its directory."""
    proc.send_signal(signal.SIGQUIT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    shutil.rmtree(root, ignore_errors=True)


class Nginx:
    """A private nginx in namespace ns, on HTTP_PORT and OTHER_PORT, JSON access log."""

    def __init__(self, ns=SRV):
        self.dir = tempfile.mkdtemp(prefix="pktlog-nginx-")
        os.makedirs(os.path.join(self.dir, "html"))
        os.makedirs(os.path.join(self.dir, "tmp"))
        with open(os.path.join(self.dir, "html", "page.html"), "w") as f:
            f.write("<html>" + "pktlog live " * 150 + "</html>\n")
        with open(os.path.join(self.dir, "html", "small.txt"), "w") as f:
            f.write("ok\n")
        self.log = os.path.join(self.dir, "access.log")
        self.mark = 0
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off;
master_process off;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    default_type text/plain;
    client_body_temp_path {self.dir}/tmp;
    proxy_temp_path {self.dir}/tmp;
    fastcgi_temp_path {self.dir}/tmp;
    uwsgi_temp_path {self.dir}/tmp;
    scgi_temp_path {self.dir}/tmp;
    keepalive_requests 100000;
    log_format pljson escape=json '{{"remote_port":$remote_port,"server_port":$server_port,'
        '"request_uri":"$request_uri","request_method":"$request_method","status":$status,'
        '"bytes_sent":$bytes_sent,"request_length":$request_length,'
        '"connection_requests":$connection_requests}}';
    access_log {self.log} pljson;
    server {{
        listen {HTTP_PORT};
        listen {OTHER_PORT};
        root {self.dir}/html;
    }}
}}
""")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, "nginx", "-p", self.dir, "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(ns, HTTP_PORT)
        wait_port(ns, OTHER_PORT)

    def entries(self, port=HTTP_PORT):
        """Access-log entries for `port` written since the last clear()."""
        with open(self.log) as f:
            f.seek(self.mark)
            rows = [json.loads(l) for l in f if l.strip()]
        return [r for r in rows if r["server_port"] == port]

    def clear(self):
        # Remember where the log ends rather than truncating it under a writing nginx.
        self.mark = os.path.getsize(self.log) if os.path.exists(self.log) else 0

    def stop(self):
        stop_nginx(self.proc, self.dir)


class Mariadb:
    """A private mariadbd in namespace ns on MYSQL_PORT with user pl/pw and database shop."""

    def __init__(self, ns=SRV):
        self.dir = tempfile.mkdtemp(prefix="pktlog-mariadb-")
        self.sock = os.path.join(self.dir, "mysqld.sock")
        sh("mariadb-install-db", "--user=root", "--datadir=" + self.dir + "/data",
           "--auth-root-authentication-method=socket", "--skip-test-db")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "mariadbd", "--no-defaults", "--user=root",
             "--datadir=" + self.dir + "/data", "--socket=" + self.sock, f"--port={MYSQL_PORT}",
             "--bind-address=0.0.0.0", "--skip-ssl", "--log-error=" + self.dir + "/err.log",
             "--pid-file=" + self.dir + "/mysqld.pid", "--skip-name-resolve"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(ns, MYSQL_PORT, timeout=60)
        sh("mariadb", "--no-defaults", "-uroot", "-S", self.sock, "-e",
           "CREATE DATABASE shop; CREATE USER 'pl'@'%' IDENTIFIED BY 'pw';"
           " GRANT ALL ON shop.* TO 'pl'@'%';")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def mysql_client(sql, ns=CLI, host=SRV_IP):
    return sh("mariadb", "--no-defaults", "--protocol=tcp", "-h", host, f"-P{MYSQL_PORT}",
              "--skip-ssl", "-upl", "-ppw", "shop", "-e", sql, ns=ns)


class Pktlog:
    """pktlog capturing live on `iface` inside namespace ns; events go to a file."""

    def __init__(self, binary, ns, iface, config, prefix=(), wait=True, env=None, verbose=True,
                 output="console"):
        self.dir = tempfile.mkdtemp(prefix="pktlog-live-")
        os.chmod(self.dir, 0o755)
        self.cfg = os.path.join(self.dir, "pktlog.yml")
        self.write_config(config)
        self.out = open(os.path.join(self.dir, "events.jsonl"), "w+")
        self.err = open(os.path.join(self.dir, "stderr.txt"), "w+")
        argv = ["ip", "netns", "exec", ns, *prefix, binary, "--config", self.cfg,
                "--iface", iface, "--output", output] + (["-v"] if verbose else [])
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=self.err,
                                     env=env or SAN_ENV)
        if wait:
            try:
                self.wait_for("capturing with")
            except AssertionError:
                self.cleanup()
                raise
            time.sleep(0.3)

    def write_config(self, text):
        tmp = self.cfg + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.cfg)

    def stderr(self):
        with open(self.err.name) as f:
            return f.read()

    def wait_for(self, text, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            if text in self.stderr():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"pktlog exited ({self.proc.returncode}):\n{self.stderr()}")
            time.sleep(0.05)
        raise AssertionError(f"pktlog never said {text!r}:\n{self.stderr()}")

    def events(self):
        with open(self.out.name) as f:
            return [json.loads(l) for l in f if l.strip()]

    def stop(self, timeout=60, interrupt=True):
        """Stop with SIGINT (or, interrupt=False, wait for pktlog to exit by itself)."""
        if interrupt and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        err = self.stderr()
        assert "Sanitizer" not in err and "runtime error" not in err, err[-4000:]
        return self.proc.returncode

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def config(ebpf="on", workers=1, http_ports=(HTTP_PORT,), mysql=False, extra=""):
    ports = ", ".join(str(p) for p in http_ports)
    return (f"capture:\n  ebpf: {ebpf}\n  workers: {workers}\n  buffer_size_mb: 8\n{extra}"
            f"protocols:\n  http:\n    ports: [{ports}]\n"
            f"  mysql:\n    enabled: {'true' if mysql else 'false'}\n    ports: [{MYSQL_PORT}]\n"
            f"  tls:\n    enabled: false\n"
            f"  http2:\n    enabled: false\n")


def summary_counts(stderr):
    """Numbers from pktlog's exit lines: received, kernel drops, read (decoded), eBPF kept."""
    out = {}
    for line in stderr.splitlines():
        if "packets received," in line:
            words = line.split()
            out["received"] = int(words[words.index("packets") - 1])
            out["kernel_drops"] = int(words[words.index("dropped") - 1])
        if "summary:" in line:
            out["read"] = int(line.split("summary:")[1].split()[0])
        if "summary:" in line and "kept by the eBPF filter" in line:
            part = line.split("kept by the eBPF filter")[0].rsplit(",", 1)[1]
            out["ebpf_kept"] = int(part.split()[0])
    return out
