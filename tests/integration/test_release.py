"""What a user reads about pktlog agrees with itself: --help and the manual page pktlog(8)
list the same options, signals and exit statuses; the page renders without warnings; the
version comes from VERSION alone and every place that shows it says the same."""
import os
import re
import subprocess

from conftest import PCAPS, ROOT, run

MAN = os.path.join(ROOT, "doc", "pktlog.8")
VERSION = open(os.path.join(ROOT, "VERSION")).read().strip()
# "  -i, --iface IF" in the help, "       -i IF, --iface IF" on the page.
OPTION = re.compile(r"^\s+(-\w)(?: [A-Z]+)?, (--[a-z-]+)(?: ([A-Z]+))?", re.M)


def render(*argv):
    r = subprocess.run(argv, capture_output=True, text=True,
                       env=dict(os.environ, MANWIDTH="100", LC_ALL="C.UTF-8"))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return r.stdout


def man_text():
    """The page as plain text, with groff's warnings (all of them, -ww) counted as failures."""
    return render("groff", "-man", "-Tutf8", "-ww", "-P-cbou", MAN)


def section(text, name):
    m = re.search(r"^%s\n(.*?)(?=^[A-Z][A-Z ]+\n)" % name, text, re.M | re.S)
    assert m, f"no {name} section"
    return m.group(1)


def help_text():
    r = run(["--help"], parse=False)
    assert r.rc == 0
    return r.stdout


def test_man_page_renders():
    text = man_text()
    for name in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EVENTS", "SIGNALS",
                 "EXIT STATUS", "FILES", "EXAMPLES"):
        assert re.search(r"^%s$" % name, text, re.M), name
    # As man(1) shows it, e.g. `man ./doc/pktlog.8`.
    assert "pktlog --pcap" in render("man", "-l", MAN)


def test_help_and_man_page_list_the_same_options():
    in_help = set(OPTION.findall(help_text()))
    in_man = set(OPTION.findall(section(man_text(), "OPTIONS")))
    assert len(in_help) == 9 and in_help == in_man, (in_help ^ in_man)


def test_help_and_man_page_say_the_same_things():
    h, m = help_text(), man_text()
    for word in ("SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "MySQL", "HTTP", "Kafka",
                 "capture.user", "output.kafka.flush_timeout", "tail.db"):
        assert word in h and word in m, word
    assert "--tail" in h.split("Sources")[0], "the help's first lines must name the tailer"
    statuses = section(m, "EXIT STATUS")
    for code, what in (("0", "clean stop"), ("1", "runtime failure"),
                       ("2", "usage or configuration error")):
        words = r"\s+".join(what.split())
        assert re.search(r"%s\s+%s" % (code, words), h, re.I), code
        assert re.search(r"^\s+%s\s+%s" % (code, words), statuses, re.I | re.M), code


def test_version_from_one_place():
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)
    r = run(["--version"], parse=False)
    assert r.rc == 0 and re.fullmatch(r"pktlog %s( \(git [^)]+\))?\n" % re.escape(VERSION), r.stdout)
    r = run(["--pcap", os.path.join(PCAPS, "http_keepalive.pcap")])
    assert r.rc == 0 and {e["agent"]["version"] for e in r.events} == {VERSION}
    # The changelogs' newest entries are this version.
    with open(os.path.join(ROOT, "debian", "changelog")) as f:
        assert f.readline().startswith(f"pktlog ({VERSION}) ")
    with open(os.path.join(ROOT, "CHANGELOG.md")) as f:
        released = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", f.read(), re.M)
    assert released and released[0] == VERSION


def test_version_describes_the_checkout():
    """Built from a git checkout, --version adds git's description of it."""
    r = subprocess.run(["git", "-C", ROOT, "describe", "--tags", "--always", "--dirty"],
                       capture_output=True, text=True)
    if r.returncode == 0:
        assert run(["--version"], parse=False).stdout == \
            f"pktlog {VERSION} (git {r.stdout.strip()})\n"
    else:
        assert not os.path.exists(os.path.join(ROOT, ".git")), r.stderr
        assert run(["--version"], parse=False).stdout == f"pktlog {VERSION}\n"
