"""The Debian package (make deb): lintian accepts it, and on this machine it installs
(dpkg -i), runs, is removed and then purged, each step checked: files, the pktlog user, the
unit (systemd-analyze verify), the installed binary on a capture from pcaps/, and what is
left after remove and after purge. The machine is left as the test found it: it refuses to
start where pktlog is already installed (by the package or by make install), and purges
whatever it installed even when a check fails."""
import glob
import grp
import json
import os
import pwd
import shutil
import subprocess

import pytest

from conftest import PCAPS, ROOT, strip_volatile

VERSION = open(os.path.join(ROOT, "VERSION")).read().strip()
# What make install or an earlier package would have left, and what the package creates.
TRACES = ["/usr/bin/pktlog", "/usr/local/bin/pktlog", "/etc/pktlog", "/var/lib/pktlog",
          "/lib/systemd/system/pktlog.service", "/usr/share/man/man8/pktlog.8.gz"]
SHIPPED = ["/usr/bin/pktlog", "/etc/pktlog/pktlog.yml", "/lib/systemd/system/pktlog.service",
           "/usr/share/man/man8/pktlog.8.gz", "/usr/share/doc/pktlog/copyright",
           "/usr/share/doc/pktlog/changelog.gz", "/usr/share/doc/pktlog/README.md"]
ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def sh(*argv, check=True):
    r = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=900)
    if check:
        assert r.returncode == 0, f"{' '.join(argv)}: {r.stdout[-3000:]}{r.stderr[-3000:]}"
    return r


def status():
    """dpkg's status of pktlog ("install ok installed", "deinstall ok config-files"), or None."""
    r = sh("dpkg-query", "-W", "-f=${Status}", "pktlog", check=False)
    return r.stdout if r.returncode == 0 else None


def user_exists(name="pktlog"):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name="pktlog"):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def unit_state():
    """deb-systemd-helper's records of the unit."""
    return glob.glob("/var/lib/systemd/deb-systemd-helper-*/*pktlog*") + \
        glob.glob("/etc/systemd/system/*/pktlog.service")


@pytest.fixture(scope="module")
def deb():
    """Build the package (make deb) and check the machine has no pktlog on it yet."""
    assert os.geteuid() == 0, "the package tests install a package: they need root"
    for tool in ("dpkg-buildpackage", "dh", "lintian", "systemd-analyze"):
        assert shutil.which(tool), f"{tool} is missing (scripts/install-deps.sh test)"
    found = [p for p in TRACES if os.path.lexists(p)] + \
        (["the pktlog user"] if user_exists() else []) + \
        ([f"package pktlog ({status()})"] if status() else [])
    assert not found, f"pktlog is already on this machine, so the test could not leave it as " \
                      f"it found it: {found}"
    sh("make", "-C", ROOT, "-s", "deb")
    arch = sh("dpkg", "--print-architecture").stdout.strip()
    path = os.path.join(ROOT, f"pktlog_{VERSION}_{arch}.deb")
    assert os.path.exists(path), f"make deb made no {path}"
    return path


@pytest.fixture(scope="module")
def installed(deb):
    """dpkg -i the package; whatever happens in the tests, purge it at the end."""
    try:
        sh("dpkg", "-i", deb)
        yield deb
    finally:
        if status():
            sh("dpkg", "--purge", "pktlog", check=False)


def test_lintian_is_clean(deb):
    r = sh("lintian", "--fail-on", "error,warning", deb, check=False)
    tags = [l for l in r.stdout.splitlines() if l[:2] in ("E:", "W:")]
    assert r.returncode == 0 and tags == [], r.stdout + r.stderr


def test_control_fields(deb):
    control = sh("dpkg-deb", "--field", deb).stdout
    assert f"Version: {VERSION}\n" in control
    depends = next(l for l in control.splitlines() if l.startswith("Depends:"))
    # From dpkg-shlibdeps: every library the binary is linked with, the four formerly opened
    # with dlopen included.
    for lib in ("adduser", "libc6", "libpcap0.8", "librdkafka1", "libmicrohttpd12",
                "libsqlite3-0", "libbpf1", "libyaml-0-2", "libhttp-parser2.9"):
        assert lib in depends, depends
    assert sh("dpkg-deb", "--info", deb, "conffiles").stdout.split() == ["/etc/pktlog/pktlog.yml"]


def test_install_run_remove_purge(installed):
    # --- installed: the files, the user and its directory, the unit ---
    assert status() == "install ok installed"
    for p in SHIPPED:
        assert os.path.exists(p), p
    with open("/etc/pktlog/pktlog.yml") as a, open(os.path.join(ROOT, "conf/pktlog.yml")) as b:
        assert a.read() == b.read()
    u = pwd.getpwnam("pktlog")
    assert u.pw_uid < 1000 and u.pw_dir == "/var/lib/pktlog" and u.pw_shell.endswith("nologin")
    assert grp.getgrgid(u.pw_gid).gr_name == "pktlog"
    st = os.stat("/var/lib/pktlog")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (u.pw_uid, u.pw_gid, 0o750)
    unit = open("/lib/systemd/system/pktlog.service").read()
    assert "ExecStart=/usr/bin/pktlog --config /etc/pktlog/pktlog.yml" in unit
    assert "Documentation=man:pktlog(8) file:///usr/share/doc/pktlog/README.md" in unit
    sh("systemd-analyze", "verify", "/lib/systemd/system/pktlog.service")
    # Installed, not enabled: it has nothing to do before the operator configures it.
    assert not glob.glob("/etc/systemd/system/*.wants/pktlog.service")
    man = sh("man", "-l", "/usr/share/man/man8/pktlog.8.gz")
    assert "pktlog" in man.stdout and man.stderr == ""

    # --- the installed binary on a capture ---
    assert sh("/usr/bin/pktlog", "--version").stdout.startswith(f"pktlog {VERSION}")
    pcap = os.path.join(PCAPS, "http_keepalive.pcap")
    r = sh("/usr/bin/pktlog", "--pcap", pcap)
    events = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    with open(pcap[:-len(".pcap")] + ".events.jsonl") as f:
        expected = [json.loads(l) for l in f if l.strip()]
    assert [strip_volatile(e) for e in events] == expected
    assert {e["agent"]["version"] for e in events} == {VERSION}

    # --- removed: the program goes; the operator's config, user and data stay ---
    with open("/etc/pktlog/pktlog.yml", "a") as f:
        f.write("# edited by the operator\n")
    open("/var/lib/pktlog/tail.db", "w").close()
    sh("dpkg", "--remove", "pktlog")
    assert status() == "deinstall ok config-files"
    for p in ("/usr/bin/pktlog", "/lib/systemd/system/pktlog.service",
              "/usr/share/man/man8/pktlog.8.gz", "/usr/share/doc/pktlog"):
        assert not os.path.lexists(p), p
    assert open("/etc/pktlog/pktlog.yml").read().endswith("# edited by the operator\n")
    assert user_exists() and os.path.exists("/var/lib/pktlog/tail.db")

    # --- purged: nothing is left ---
    sh("dpkg", "--purge", "pktlog")
    assert status() is None
    left = [p for p in TRACES if os.path.lexists(p)]
    assert left == [] and not user_exists() and not group_exists() and unit_state() == []
