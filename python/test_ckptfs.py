"""Tests of python/ckptfs.py against a real mount.

Run by tests/cli/test_python.sh, which mounts a fresh store and sets
CKPTFS_TEST_STORE, CKPTFS_TEST_MNT and CKPT (the built ckpt binary):
    /usr/bin/python3 -m unittest test_ckptfs
"""

import json
import os
import pathlib
import threading
import time
import unittest

import ckptfs

STORE = os.environ.get("CKPTFS_TEST_STORE")
MNT = os.environ.get("CKPTFS_TEST_MNT")


def save(name, loss, payload):
    """A directory checkpoint with a metrics.json, as a trainer writes it."""
    d = pathlib.Path(MNT) / name
    d.mkdir()
    (d / "model.bin").write_bytes(payload)
    (d / "metrics.json").write_text(json.dumps({"loss": loss}))


def committed(store, name, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(r["name"] == name and r["state"] == "committed" for r in store.checkpoints()):
            return True
        time.sleep(0.1)
    return False


@unittest.skipUnless(STORE and MNT, "needs a mount (tests/cli/test_python.sh)")
class StoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mnt = ckptfs.Store(MNT)
        cls.store = ckptfs.Store(STORE)
        for i, loss in ((1, 0.5), (2, 0.2), (3, 0.4)):
            save("step-%d" % i, loss, bytes([i]) * 70000)
            assert committed(cls.mnt, "step-%d" % i), "step-%d did not commit" % i

    def test_checkpoints_are_ls_rows_with_paths(self):
        rows = self.mnt.checkpoints()
        self.assertEqual([r["name"] for r in rows][:3], ["step-1", "step-2", "step-3"])
        for r in rows:
            self.assertEqual(r["path"], pathlib.Path(MNT) / r["name"])
            self.assertTrue((r["path"] / "model.bin").is_file())
        # the store itself: the same rows, no mount known so no paths
        plain = self.store.checkpoints()
        self.assertEqual([{k: v for k, v in r.items() if k != "path"} for r in rows], plain)
        self.assertNotIn("path", plain[0])
        self.assertGreaterEqual(len(self.mnt.checkpoints(all=True)), len(rows))

    def test_latest_and_best(self):
        latest = self.mnt.latest()
        self.assertEqual(latest["name"], self.mnt.checkpoints()[-1]["name"])
        self.assertEqual((latest["path"] / "model.bin").read_bytes(),
                         (pathlib.Path(MNT) / "latest" / "model.bin").read_bytes())
        best = self.mnt.best("loss")
        self.assertEqual(best["name"], "step-2")
        self.assertEqual(best["metrics"]["loss"], 0.2)
        self.assertEqual((best["path"] / "model.bin").read_bytes(), bytes([2]) * 70000)
        self.assertIsNone(self.mnt.best("no_such_metric"))

    def test_pin_unpin(self):
        self.assertTrue(self.mnt.pin("step-1")["pinned"])
        self.assertTrue(next(r for r in self.store.checkpoints() if r["name"] == "step-1")["pinned"])
        self.assertFalse(self.mnt.unpin("step-1")["pinned"])
        with self.assertRaises(ckptfs.CkptError) as e:
            self.mnt.pin("no-such-checkpoint")
        self.assertEqual(e.exception.code, 4)

    def test_wait(self):
        with self.assertRaises(TimeoutError):
            self.mnt.wait(timeout=0.3)
        # after a name: the next one, at once
        self.assertEqual(self.store.wait(after="step-1", timeout=5)["name"], "step-2")
        t = threading.Timer(0.5, save, ("step-9", 0.9, b"9" * 1000))
        t.start()
        try:
            row = self.mnt.wait(timeout=30)
        finally:
            t.join()
        self.assertEqual(row["name"], "step-9")
        self.assertEqual(row["path"], pathlib.Path(MNT) / "step-9")
        self.assertEqual(row["state"], "committed")


if __name__ == "__main__":
    unittest.main()
