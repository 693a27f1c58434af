#!/usr/bin/env python3
# docroot.py – the document root the capture scripts' private nginx serves (make-pcaps.sh,
# make-h2-pcaps.sh): fixed bytes every run, so sizes and ETags repeat (the caller fixes mtimes).
#
#   docroot.py DIR LARGE_MIB      index.html, a.html, b.html, c.txt and a LARGE_MIB large.bin
import sys


def page(title, n):
    """An HTML page of n paragraphs."""
    body = "".join(f"<p>{title} paragraph {i}: the quick brown fox jumps over the lazy dog.</p>\n"
                   for i in range(n))
    return f"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n{body}</body></html>\n"


def noise(size):
    """size bytes (a multiple of 4) of a fixed linear congruential sequence: not compressible by eye."""
    x, out = 12345, bytearray()
    for _ in range(size // 4):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out += x.to_bytes(4, "little")
    return bytes(out)


def write_common(r, large_mib):
    """The files every capture script serves, in directory r."""
    open(f"{r}/index.html", "w").write(page("index", 7))          # ~600 bytes
    open(f"{r}/a.html", "w").write(page("a", 3))
    open(f"{r}/b.html", "w").write(page("b", 12))
    open(f"{r}/c.txt", "w").write("".join(f"line {i:04d} of c.txt\n" for i in range(40)))
    with open(f"{r}/large.bin", "wb") as f:
        f.write(noise(large_mib * 1024 * 1024))


if __name__ == "__main__":
    write_common(sys.argv[1], int(sys.argv[2]))
