#!/usr/bin/python3 -I -S
"""kldload spray's helper: many ZFS clones (or destroys) from one process, through libzfs_core.

Reads one JSON job on stdin, writes one JSON result on stdout:
  {"op": "clone", "origin": "pool/ds@snap", "names": ["pool/x/a-1", ...], "threads": 100,
   "create": [{"name": "pool/x", "props": {"mountpoint": "none", "canmount": 0}}]}
  {"op": "destroy", "snapshots": ["pool/x/a-1@s", ...], "levels": [["pool/x/a-1", ...], ["pool/x"]],
   "threads": 100}
  → {"op": ..., "done": [names], "failed": [{"name": ..., "error": ...}], "seconds": 0.8}
    (a failed clone job adds "undone": [names], "left": [{"name": ..., "error": ...}])
Exit 0 when everything was done, 1 when something failed (the result says what), 2 on a bad job
or when libzfs_core cannot be opened.
"create": filesystems made first, in order (lzc_create), before any clone: the clones' parents. A
string property is sent as a string, a number as uint64 (ZFS wants index properties such as
canmount as their number: off 0, on 1, noauto 2). A failed create stops the job before any clone.
All or nothing: when a create or a clone fails, the helper destroys what it made itself (clones,
then its creates, last first) and lists them in "undone" ("left": what it could not destroy). Only
names this process made go: a container that already existed (another run's, made between the
caller's check and this job) is never touched.

Why threads: every clone is a ZFS sync task that waits for its transaction group to be written.
One `zfs clone` process per clone waits once per clone; lzc_clone calls made concurrently (ctypes
releases the GIL while the C call runs) wait together, so ZFS writes them in a few groups.
Why ctypes and not python3-pyzfs: the same libzfs_core calls, but pyzfs's cffi parses its C
declarations at every import (over a second in a slow VM) and wraps each call in Python work that
took longer than the clones themselves (bench/README "spray"). No property is set per clone: each
one would be another sync task (the container's mountpoint=none keeps clones unmounted).
"""
import ctypes
import errno
import json
import os
import sys
import threading
import time


LZC_DATSET_TYPE_ZFS = 2  # libzfs_core.h: enum lzc_dataset_type


def fail(message):
    print(json.dumps({"error": message}))
    sys.exit(2)


def load(names):
    """The first of the library's sonames that opens (Debian's libzfs*linux packages)."""
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            pass
    fail("cannot open %s: apt-get install zfsutils-linux" % " or ".join(names))


def why(rc):
    """An errno as text: EEXIST (File exists)."""
    return "%s (%s)" % (errno.errorcode.get(rc, "errno %d" % rc), os.strerror(rc))


def run_all(fn, names, threads):
    """fn(name) → errno for every name, from up to `threads` threads; (done, failed) in names' order."""
    results = [0] * len(names)
    next_index = [0]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(names):
                return
            results[i] = fn(names[i].encode())

    pool = [threading.Thread(target=worker) for _ in range(max(1, min(threads, len(names))))]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    done = [n for n, rc in zip(names, results) if rc == 0]
    failed = [{"name": n, "error": why(rc)} for n, rc in zip(names, results) if rc != 0]
    return done, failed


def main():
    try:
        job = json.load(sys.stdin)
    except ValueError as e:
        fail("the job on stdin is not JSON: %s" % e)
    op = job.get("op")
    if op not in ("clone", "destroy"):
        fail("op %r: clone or destroy" % (op,))
    threads = int(job.get("threads", 100))
    lzc = load(["libzfs_core.so.3", "libzfs_core.so"])
    nv = load(["libnvpair.so.3", "libnvpair.so"])
    lzc.lzc_clone.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p]
    # lzc_create(name, LZC_DATSET_TYPE_ZFS, props, wkeydata, wkeylen)
    lzc.lzc_create.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                               ctypes.c_uint]
    lzc.lzc_destroy.argtypes = [ctypes.c_char_p]
    lzc.lzc_destroy_snaps.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
    nv.fnvlist_alloc.restype = ctypes.c_void_p
    nv.fnvlist_add_boolean.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    nv.fnvlist_add_string.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    nv.fnvlist_add_uint64.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint64]
    if lzc.libzfs_core_init() != 0:
        fail("libzfs_core_init: cannot open /dev/zfs (root, and the zfs module loaded?)")
    start = time.monotonic()
    result = {"op": op}
    if op == "clone":
        origin = job["origin"].encode()
        done, failed = [], []
        for ds in job.get("create", []):
            props = nv.fnvlist_alloc()
            for key, value in ds.get("props", {}).items():
                if isinstance(value, str):
                    nv.fnvlist_add_string(props, key.encode(), value.encode())
                else:
                    nv.fnvlist_add_uint64(props, key.encode(), int(value))
            rc = lzc.lzc_create(ds["name"].encode(), LZC_DATSET_TYPE_ZFS, props, None, 0)
            if rc != 0:
                failed.append({"name": ds["name"], "error": why(rc)})
                break
            done.append(ds["name"])
        made = len(done)
        if not failed:
            d, failed = run_all(lambda n: lzc.lzc_clone(n, origin, None), job["names"], threads)
            done.extend(d)
        if failed:
            undone, left = run_all(lzc.lzc_destroy, done[made:], threads)
            for name in reversed(done[:made]):
                if left:
                    break  # a clone is left: its container stays, or the destroy would fail anyway
                rc = lzc.lzc_destroy(name.encode())
                if rc == 0:
                    undone.append(name)
                else:
                    left.append({"name": name, "error": why(rc)})
            result["undone"], result["left"] = undone, left
            gone = set(undone)
            done = [n for n in done if n not in gone]
    else:
        done, failed = [], []
        snaps = job.get("snapshots", [])
        if snaps:
            # One call, one transaction group; it fails whole (holds, clones) before any goes.
            nvl = nv.fnvlist_alloc()
            for s in snaps:
                nv.fnvlist_add_boolean(nvl, s.encode())
            errlist = ctypes.c_void_p()
            rc = lzc.lzc_destroy_snaps(nvl, 0, ctypes.byref(errlist))
            if rc == 0:
                done.extend(snaps)
            else:
                failed.append({"name": snaps[0], "error": why(rc)})
        # Deepest level first; a level with a failure stops the ones above it (they would fail too).
        for level in job.get("levels", []) if not failed else []:
            d, f = run_all(lzc.lzc_destroy, level, threads)
            done.extend(d)
            failed.extend(f)
            if f:
                break
    result.update(done=done, failed=failed, seconds=round(time.monotonic() - start, 3))
    print(json.dumps(result))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
