"""ckptfs: a small helper over the `ckpt` command-line tool (standard library only).

    from ckptfs import Store
    s = Store("/mnt/ckpt")           # a mount point, or the store directory
    s.latest()                       # the newest committed checkpoint (a dict) or None
    s.best("val_loss")               # best_val_loss under the store's policy, or None
    s.checkpoints()                  # `ckpt ls --json` rows, oldest first
    s.wait(after=None, timeout=None) # blocks until a newer checkpoint commits
    s.pin(name); s.unpin(name)

Every answer comes from `ckpt ... --json` (found through $CKPT, else PATH):
no second reader of the index. Rows are the `ckpt ls --json` objects; when
a mount point is known each row also has "path", a pathlib.Path into it.
Errors raise CkptError (with the tool's exit code and message); wait's
timeout raises TimeoutError.
"""

import json
import os
import pathlib
import shutil
import subprocess

__all__ = ["Store", "CkptError"]

NO_CHECKPOINT = 4  # ckpt's exit code for "no such checkpoint"
TIMED_OUT = 124  # ckpt wait's exit code at --timeout


class CkptError(RuntimeError):
    """A `ckpt` command failed: .code is its exit code, str() its message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _ckpt_binary():
    exe = os.environ.get("CKPT") or shutil.which("ckpt")
    if not exe:
        raise FileNotFoundError("ckpt not found: set CKPT or put ckpt on PATH")
    return exe


class Store:
    """A ckptfs store, named by its directory or by a mount point of it."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        status = self.path / ".ckptfs" / "status"
        self.mount = self.path if status.is_file() else None
        self._ckpt = _ckpt_binary()

    def _run(self, *args):
        p = subprocess.run([self._ckpt, *args, "--json"], capture_output=True, text=True)
        if p.returncode == TIMED_OUT:
            raise TimeoutError(p.stderr.strip())
        if p.returncode != 0:
            raise CkptError(p.returncode, p.stderr.strip())
        return json.loads(p.stdout)

    def _row(self, row):
        if self.mount is not None:
            row["path"] = self.mount / row["name"]
        return row

    def _show(self, name):
        try:
            return self._row(self._run("show", str(self.path), name))
        except CkptError as e:
            if e.code == NO_CHECKPOINT:
                return None
            raise

    def checkpoints(self, all=False):
        """The `ckpt ls --json` rows in commit order (all: also aborted and deleted)."""
        args = ["ls", str(self.path)] + (["--all"] if all else [])
        return [self._row(r) for r in self._run(*args)]

    def latest(self):
        """The checkpoint the mount shows as latest, or None when there is none."""
        return self._show(self._run("policy", str(self.path))["latest_name"])

    def best(self, metric):
        """The best checkpoint by metric (best_<metric> of the policy), or None."""
        return self._show(self._run("policy", str(self.path))["best_prefix"] + metric)

    def wait(self, after=None, timeout=None):
        """Blocks until a checkpoint newer than `after` (a name; default: the
        current latest) commits and returns its row; TimeoutError after
        `timeout` seconds."""
        args = ["wait", str(self.path)]
        if after is not None:
            args += ["--after", after]
        if timeout is not None:
            args += ["--timeout", repr(float(timeout))]
        return self._row(self._run(*args))

    def pin(self, name):
        """Pins a checkpoint (retention keeps it); returns its row."""
        return self._row(self._run("pin", str(self.path), name))

    def unpin(self, name):
        """Removes the pin; returns the checkpoint's row."""
        return self._row(self._run("unpin", str(self.path), name))
