#!/usr/bin/env python3
"""Page-cache folio sizes of files: how much of each file's cached data sits
in large folios (compound pages) versus single 4 KiB pages.

    folios.py FILE...      (root: reads /proc/self/pagemap and /proc/kpageflags)

Each file's first MiB..GiB (up to 1 GiB) is mapped read-only and touched, so
pages already in the page cache are mapped as they are (a file just read
through the page cache keeps the folios that read made). Used by profile.sh:
the kernel's FUSE page cache here uses order-0 folios while ext4 uses large
ones, which is what bounds warm reads through a FUSE mount.
"""
import ctypes
import os
import struct
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")
KPF_COMPOUND_HEAD, KPF_COMPOUND_TAIL = 15, 16


def folio_stats(path, max_bytes=1 << 30):
    size = min(os.path.getsize(path), max_bytes)
    npages = size // PAGE
    if npages == 0:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                          ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, npages * PAGE, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap " + path)
        mem = (ctypes.c_char * (npages * PAGE)).from_address(addr)
        for i in range(npages):
            mem[i * PAGE]  # fault the page in (from the cache when it is there)
        head = tail = small = absent = 0
        with open("/proc/self/pagemap", "rb") as pm, open("/proc/kpageflags", "rb") as kf:
            pm.seek(addr // PAGE * 8)
            entries = struct.unpack("%dQ" % npages, pm.read(8 * npages))
            for e in entries:
                if not e >> 63:
                    absent += 1
                    continue
                kf.seek((e & ((1 << 55) - 1)) * 8)
                flags = struct.unpack("Q", kf.read(8))[0]
                if flags >> KPF_COMPOUND_HEAD & 1:
                    head += 1
                elif flags >> KPF_COMPOUND_TAIL & 1:
                    tail += 1
                else:
                    small += 1
        libc.munmap(addr, npages * PAGE)
    finally:
        os.close(fd)
    return npages, head, tail, small, absent


def main():
    for path in sys.argv[1:]:
        try:
            r = folio_stats(path)
        except OSError as e:
            print("%s: %s" % (path, e))
            continue
        if r is None:
            print("%s: empty" % path)
            continue
        n, head, tail, small, absent = r
        large = head + tail
        print("%s: %d pages: %.1f%% in %d large folios (avg %.0f KiB), %.1f%% single 4 KiB pages%s"
              % (path, n, 100.0 * large / n, head, large * PAGE / 1024 / max(head, 1), 100.0 * small / n,
                 ", %d not mapped" % absent if absent else ""))


if __name__ == "__main__":
    main()
