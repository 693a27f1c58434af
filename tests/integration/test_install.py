"""make install: binary, config, unit, manual page and data dir in their usual places, PREFIX and
DESTDIR honoured; the unit passes systemd-analyze verify."""
import os
import shutil
import stat
import subprocess

from conftest import ROOT


def install(dest, *extra):
    r = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", *extra], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return r


def test_install_layout_and_unit(tmp_path):
    dest = tmp_path / "root"
    install(dest, "PREFIX=/usr")
    binary = dest / "usr/bin/pktlog"
    assert binary.exists() and os.stat(binary).st_mode & stat.S_IXUSR
    cfg = dest / "etc/pktlog/pktlog.yml"
    assert cfg.read_text() == open(os.path.join(ROOT, "conf/pktlog.yml")).read()
    unit = dest / "lib/systemd/system/pktlog.service"
    text = unit.read_text()
    assert "ExecStart=/usr/bin/pktlog --config /etc/pktlog/pktlog.yml" in text
    assert "AmbientCapabilities=CAP_NET_RAW" in text and "NoNewPrivileges=yes" in text
    assert (dest / "var/lib/pktlog").is_dir()
    assert (dest / "usr/share/doc/pktlog/README.md").exists()
    assert (dest / "usr/share/man/man8/pktlog.8").read_text() == \
        open(os.path.join(ROOT, "doc/pktlog.8")).read()
    r = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("pktlog ")

    # systemd-analyze needs the unit's programs to exist: point them into DESTDIR.
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing (package systemd)"
    check = tmp_path / "pktlog.service"
    check.write_text(text.replace("/usr/bin/pktlog", str(binary))
                         .replace("/usr/share/doc", str(dest / "usr/share/doc")))
    # It also runs man for Documentation=man:pktlog(8): point MANPATH at the installed page.
    r = subprocess.run(["systemd-analyze", "verify", str(check)], capture_output=True, text=True,
                       env=dict(os.environ, MANPATH=str(dest / "usr/share/man")))
    assert r.returncode == 0, r.stderr


def test_install_keeps_an_edited_config(tmp_path):
    dest = tmp_path / "root"
    install(dest)
    cfg = dest / "etc/pktlog/pktlog.yml"
    cfg.write_text("# mine\n")
    install(dest)
    assert cfg.read_text() == "# mine\n"
    assert (dest / "usr/local/bin/pktlog").exists()
