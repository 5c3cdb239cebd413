"""Peak memory of a fit on image files against the same fit on in-memory arrays.

The same ``FineTuneClassifier`` fit (``backbone="identity"`` by default,
``image_size=--image-size``,
``max_epochs=1``, ``batch_size=--batch-size``, CPU, one thread) runs on the
same pictures given three ways, each in a fresh subprocess:

- ``files``: the paths of ``--n`` JPEG files of mixed sizes
  (``_jpeg_folders.py``: MNIST digits painted in random colours and
  upsampled to ``--sizes`` px a side), as ``dataset_to_paths(ImageFolder)``
  lists them; the fit decodes them;
- ``uint8``: the same files decoded beforehand (PIL, RGB, torchvision's
  antialiased resize to ``image_size``) into one ``(n, 3, S, S)`` uint8 array;
- ``float32``: that array as float32 in [0, 1].

The default model is ``backbone="identity"`` (a linear layer on the
pixels), so that the data dominate; ``--channels C`` uses a Conv4 of width C.

In the subprocess the data are prepared first, and a warm-up fit on
``--batch-size`` items of the same ``X`` loads the libraries; then the resident set size
(RSS) is read (``rss_before``), the kernel's peak counter is reset (writing
``5`` to ``/proc/self/clear_refs``), the fit runs, and the peak of the fit is
read back as ``VmHWM`` from ``/proc/self/status``. A thread also samples,
every 5 ms with psutil, the RSS of the process plus that of its children
(DataLoader workers, where a fit starts any), which gives a second peak that
counts workers. ``getrusage`` maxrss of ``RUSAGE_SELF`` (the whole process
life, data preparation included) and ``RUSAGE_CHILDREN`` are reported too.
**Growth** is peak minus ``rss_before``: what the fit itself added. The
issue's target for ``files``: growth at most 1.6 x the uint8 size of the
decoded set, plus the model and a few batches of activations, counted here as
4 x the model's parameters and buffers (weights, gradients, two Adam moments)
plus 3 float32 input batches.

Usage (from the repository root)::

    python benchmarks/images_memory.py            # 3,000 JPEGs at image_size=224
    python benchmarks/images_memory.py --quick    # 300 JPEGs at 96

The JSON report goes to ``--out`` (default ``$OUT/images_memory.json``
when ``$OUT`` is set, else ``bench_results/images_memory.json``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _jpeg_folders import folder_bytes, make_jpeg_folders

REPO_ROOT = Path(__file__).resolve().parents[1]
MODES = ("files", "uint8", "float32")
MB = 1e6


def _status_kb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return None


class Sampler(threading.Thread):
    """Largest RSS of this process plus its children, sampled every 5 ms."""

    def __init__(self):
        super().__init__(daemon=True)
        import psutil

        self.proc, self.peak, self.stop = psutil.Process(), 0, threading.Event()

    def run(self):
        import psutil

        while not self.stop.is_set():
            try:
                rss = self.proc.memory_info().rss
                for child in self.proc.children(recursive=True):
                    try:
                        rss += child.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                rss = 0
            self.peak = max(self.peak, rss)
            time.sleep(0.005)


def _decode(paths, size):
    import numpy as np
    import torch
    from PIL import Image
    from torchvision.transforms.v2 import functional as TF

    out = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    for i, p in enumerate(paths):
        with Image.open(p) as img:
            arr = torch.from_numpy(np.asarray(img.convert("RGB"))).permute(2, 0, 1)
        out[i] = TF.resize(arr, [size, size], antialias=True).numpy()
    return out


def child(args):
    """One fit in this process; print a JSON line with the measurements."""
    import numpy as np
    import psutil
    import torch
    from sklearn.base import clone
    from torchvision.datasets import ImageFolder

    from sklearn_meta import FineTuneClassifier
    from sklearn_meta.backbones import Conv4Backbone
    from sklearn_meta.datasets import dataset_to_paths

    torch.set_num_threads(1)
    paths, labels = dataset_to_paths(ImageFolder(args.train_dir))
    X = paths
    if args.child != "files":
        X = _decode(paths, args.image_size)
        uint8_bytes = X.nbytes
        if args.child == "float32":
            Xf = np.empty(X.shape, dtype=np.float32)
            for s in range(0, len(X), 256):
                Xf[s:s + 256] = X[s:s + 256] / np.float32(255.0)
            X = Xf
    backbone = "identity" if args.channels == 0 else Conv4Backbone(channels=args.channels)
    clf = FineTuneClassifier(backbone=backbone, image_size=args.image_size, max_epochs=1,
                             batch_size=args.batch_size, device="cpu", random_state=0)
    # warm-up on a few items of the same X: libraries load and code paths compile here
    few = np.linspace(0, len(X) - 1, min(len(X), args.batch_size)).astype(int)
    clone(clf).fit(X[few], labels[few])
    gc.collect()
    rss_before = psutil.Process().memory_info().rss
    try:
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    sampler = Sampler()
    sampler.start()
    tic = time.perf_counter()
    clf.fit(X, labels)
    seconds = time.perf_counter() - tic
    sampler.stop.set()
    sampler.join()
    model_bytes = sum(t.numel() * t.element_size()
                      for t in [*clf.module_.parameters(), *clf.module_.buffers()])
    result = {
        "mode": args.child, "n_images": len(labels), "fit_s": seconds,
        "rss_before": rss_before,
        "peak_vmhwm": _status_kb("VmHWM") if reset else None,
        "peak_sampled_with_children": sampler.peak,
        "ru_maxrss_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "ru_maxrss_children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        "x_bytes": int(getattr(X, "nbytes", 0)) if args.child != "files" else 0,
        "uint8_bytes": (len(labels) * 3 * args.image_size ** 2 if args.child == "files"
                        else uint8_bytes),
        "model_bytes": model_bytes, "n_channels": int(getattr(clf, "n_channels_", 0) or 0),
    }
    print("RESULT " + json.dumps(result), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--root", default="/tmp/sklearn_meta_bench_jpeg_large")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--sizes", type=int, nargs=2, default=[200, 320])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--channels", type=int, default=0,
                        help="Conv4 width; 0 (default): backbone='identity', a linear model")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--quick", action="store_true",
                        help="300 files of 100-140 px at image_size 96")
    parser.add_argument("--out", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--train-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    if args.quick:
        args.n, args.sizes, args.image_size = 300, [100, 140], 96
        args.root = args.root.rstrip("/") + "_quick"

    train_dir, _, recipe = make_jpeg_folders(args.root, n_train=args.n, n_test=0,
                                             sizes=args.sizes, data_home=args.data_home)
    net = "backbone='identity'" if args.channels == 0 else f"Conv4 width {args.channels}"
    print(f"{args.n} JPEG files of {args.sizes[0]}-{args.sizes[1]} px under {train_dir} "
          f"({folder_bytes(train_dir) / MB:.0f} MB on disk); FineTuneClassifier({net}, "
          f"image_size={args.image_size}, max_epochs=1, "
          f"batch_size={args.batch_size}), CPU, one thread; each mode in a fresh process")
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    rows = []
    for mode in args.modes:
        cmd = [sys.executable, __file__, "--child", mode, "--train-dir", str(train_dir),
               "--image-size", str(args.image_size), "--channels", str(args.channels),
               "--batch-size", str(args.batch_size)]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            sys.exit(f"{mode} failed:\n{proc.stdout}\n{proc.stderr}")
        row = json.loads(line[len("RESULT "):])
        peak = row["peak_vmhwm"] or row["peak_sampled_with_children"]
        row["growth"] = peak - row["rss_before"]
        row["growth_sampled"] = row["peak_sampled_with_children"] - row["rss_before"]
        rows.append(row)
        print(f"  {mode}: growth {row['growth'] / MB:.0f} MB in {row['fit_s']:.1f} s",
              flush=True)

    u8 = next(r["uint8_bytes"] for r in rows)
    model = rows[0]["model_bytes"]
    batch = 4 * args.batch_size * 3 * args.image_size ** 2
    allowance = 4 * model + 3 * batch
    print(f"\nuint8 size of the decoded set: {u8 / MB:.0f} MB; float32: {4 * u8 / MB:.0f} MB; "
          f"model: {model / MB:.2f} MB; one float32 batch: {batch / MB:.0f} MB")
    print("\n| X given as | data in the process before fit (MB) | RSS before fit (MB) | "
          "peak during fit (MB) | growth (MB) | growth / uint8 size | "
          "growth, sampled with children (MB) | fit s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        peak = r["peak_vmhwm"] or r["peak_sampled_with_children"]
        print(f"| {r['mode']} | {r['x_bytes'] / MB:.0f} | {r['rss_before'] / MB:.0f} | "
              f"{peak / MB:.0f} | {r['growth'] / MB:.0f} | {r['growth'] / u8:.2f} | "
              f"{r['growth_sampled'] / MB:.0f} | {r['fit_s']:.1f} |")
    files = next((r for r in rows if r["mode"] == "files"), None)
    if files:
        target = 1.6 * u8 + allowance
        print(f"\ntarget for files: 1.6 x {u8 / MB:.0f} + 4 x model + 3 batches "
              f"({allowance / MB:.0f}) = "
              f"{target / MB:.0f} MB; measured {files['growth'] / MB:.0f} MB: "
              f"{'within' if files['growth'] <= target else 'ABOVE'}")

    out = Path(args.out) if args.out else (
        Path(os.environ["OUT"]) / "images_memory.json" if os.environ.get("OUT")
        else REPO_ROOT / "bench_results" / "images_memory.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"args": vars(args), "data": recipe, "allowance_bytes": allowance,
              "platform": platform.platform(),
              "peak_measure": "VmHWM after clear_refs=5 (else psutil sampling)",
              "results": rows}
    out.write_text(json.dumps(report, indent=2))
    print(f"\nJSON report: {out}")


if __name__ == "__main__":
    main()
