"""Runs ``featuretest`` in a subprocess with a fault hook installed: the fault-injection tests' harness.

Usage: ``python driver.py HOOK[=ARG] ... -- <featuretest arguments>``. Each hook replaces one library
function in this process only (the package itself has no test switches), at the moment the tests
name:

- ``kill-after-epoch=N``: SIGKILL at the end of epoch N of every ``fit``, after all other callbacks
  (so that epoch's backup is complete);
- ``kill-in-backup-write=N``: SIGKILL halfway through writing the N-th backup's ``weights.npz``
  (half the bytes are in the temporary file, nothing is renamed yet);
- ``pause-in-training=DIR``: before a pipeline trains a classifier, create ``DIR/ready`` and wait
  for ``DIR/go``;
- ``kill-in-export=ARTIFACT``: SIGKILL once ``ARTIFACT``'s SavedModel is written, before its
  version folder is renamed into place;
- ``kill-between-report-files``: SIGKILL right after the report's ``results.json`` is written,
  before ``index.html``;
- ``kill-at-exit``: SIGKILL when the command returns (no ``atexit`` handlers run).
"""
import os
import signal
import sys
import time


def _die():
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def kill_after_epoch(arg):
    import keras

    n = int(arg)
    fit = keras.Model.fit

    class KillAt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == n:
                _die()

    def patched(self, *args, callbacks=None, **kwargs):
        return fit(self, *args, callbacks=[*(callbacks or []), KillAt()], **kwargs)

    keras.Model.fit = patched


def kill_in_backup_write(arg):
    from tf_featuretest._util import io
    from tf_featuretest.models import backup

    n, seen = int(arg), [0]
    real = backup.atomic_write

    def patched(path, data):
        if str(path).endswith("weights.npz"):
            seen[0] += 1
            if seen[0] == n:
                with io.atomic_path(path) as tmp:
                    with open(tmp, "wb") as fh:
                        fh.write(bytes(data)[: len(data) // 2])
                        fh.flush()
                        os.fsync(fh.fileno())
                    _die()
        return real(path, data)

    backup.atomic_write = patched


def pause_in_training(arg):
    from tf_featuretest.pipeline import models

    real = models.train_classifier

    def patched(*args, **kwargs):
        open(os.path.join(arg, "ready"), "w").close()
        deadline = time.time() + 300
        while not os.path.exists(os.path.join(arg, "go")) and time.time() < deadline:
            time.sleep(0.1)
        return real(*args, **kwargs)

    models.train_classifier = patched


def kill_in_export(arg):
    from tf_featuretest.export import layout

    real = layout.write_assets

    def patched(path, metadata, class_names):
        if metadata.get("artifact") == arg:
            _die()
        return real(path, metadata, class_names)

    layout.write_assets = patched


def kill_between_report_files(_arg):
    from tf_featuretest.report import html

    real = html.atomic_write

    def patched(path, data):
        out = real(path, data)
        if str(path).endswith("results.json"):
            _die()
        return out

    html.atomic_write = patched


HOOKS = {"kill-after-epoch": kill_after_epoch, "kill-in-backup-write": kill_in_backup_write,
         "pause-in-training": pause_in_training, "kill-in-export": kill_in_export,
         "kill-between-report-files": kill_between_report_files}


def main(argv):
    split = argv.index("--")
    hooks, args = argv[:split], argv[split + 1:]
    at_exit = False
    for hook in hooks:
        name, _, arg = hook.partition("=")
        if name == "kill-at-exit":
            at_exit = True
        else:
            HOOKS[name](arg)
    from tf_featuretest.cli import cli

    try:
        cli.main(args=args, prog_name="featuretest", standalone_mode=not at_exit)
    finally:
        if at_exit:
            _die()


if __name__ == "__main__":
    main(sys.argv[1:])
