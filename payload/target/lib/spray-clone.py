#!/usr/bin/python3
"""kldload spray's helper: many ZFS clones (or destroys) from one process, through libzfs_core.

Reads one JSON job on stdin, writes one JSON result on stdout:
  {"op": "clone", "origin": "pool/ds@snap", "names": ["pool/x/a-1", ...],
   "props": {"canmount": "noauto"}, "threads": 16}
  {"op": "destroy", "snapshots": ["pool/x/a-1@s", ...], "levels": [["pool/x/a-1", ...], ["pool/x"]],
   "threads": 16}
  → {"op": ..., "done": [names], "failed": [{"name": ..., "error": ...}], "seconds": 0.8}
Exit 0 when everything was done, 1 when something failed (the result says what), 2 on a bad job
or when python3-pyzfs is missing.

Why threads: every clone is a ZFS sync task that waits for its transaction group to be written.
One `zfs clone` process per clone waits once per clone; lzc_clone calls made concurrently (cffi
releases the GIL while the C call runs) wait together, so ZFS writes them in a few groups.
"""
import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor

# Index properties go to the kernel as numbers (libzfs translates them for `zfs clone -o`;
# libzfs_core does not). Only what kldload sets is known here: anything else is refused.
INDEX = {"canmount": {"off": 0, "on": 1, "noauto": 2}}


def fail(message):
    print(json.dumps({"error": message}))
    sys.exit(2)


def nvprops(props):
    """JSON properties → the dict lzc_clone wants: bytes names, numbers for index properties."""
    out = {}
    for key, value in props.items():
        if key in INDEX:
            if value not in INDEX[key]:
                fail("property %s=%s: one of %s" % (key, value, ", ".join(INDEX[key])))
            out[key.encode()] = INDEX[key][value]
        elif ":" in key and isinstance(value, str):
            out[key.encode()] = value.encode()  # a user property: a string
        else:
            fail("property %s: spray-clone.py sets only %s and user properties" % (key, ", ".join(INDEX)))
    return out


def why(e):
    """An exception in words; pyzfs's name the dataset as bytes (b'pool/x'): shown as text."""
    return re.sub(r"b'([^']*)'", r"\1", "%s: %s" % (type(e).__name__, e))


def run_all(fn, names, threads):
    """fn(name) for every name from a pool of threads; (done, failed) in the names' order."""
    done, failed = [], []

    def one(name):
        try:
            fn(name.encode())
            return None
        except Exception as e:  # ZFSError and its kin: reported per name, the others go on
            return why(e)

    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(names) or 1))) as pool:
        for name, err in zip(names, pool.map(one, names)):
            if err is None:
                done.append(name)
            else:
                failed.append({"name": name, "error": err})
    return done, failed


def main():
    try:
        job = json.load(sys.stdin)
    except ValueError as e:
        fail("the job on stdin is not JSON: %s" % e)
    try:
        import libzfs_core as lzc
    except ImportError as e:
        fail("libzfs_core (%s): apt-get install python3-pyzfs (Debian contrib)" % e)
    threads = int(job.get("threads", 16))
    start = time.monotonic()
    op = job.get("op")
    if op == "clone":
        origin = job["origin"].encode()
        props = nvprops(job.get("props", {}))
        done, failed = run_all(lambda n: lzc.lzc_clone(n, origin, dict(props)), job["names"], threads)
    elif op == "destroy":
        done, failed = [], []
        snaps = job.get("snapshots", [])
        if snaps:
            try:
                # One call, one transaction group; it fails whole (holds, clones) before any goes.
                lzc.lzc_destroy_snaps([s.encode() for s in snaps], False)
                done.extend(snaps)
            except Exception as e:
                failed.append({"name": snaps[0], "error": why(e)})
        # Deepest level first; a level with a failure stops the ones above it (they would fail too).
        for level in job.get("levels", []) if not failed else []:
            d, f = run_all(lzc.lzc_destroy, level, threads)
            done.extend(d)
            failed.extend(f)
            if f:
                break
    else:
        fail("op %r: clone or destroy" % (op,))
    print(json.dumps({"op": op, "done": done, "failed": failed,
                      "seconds": round(time.monotonic() - start, 3)}))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
