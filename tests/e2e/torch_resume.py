"""A small deterministic training run that checkpoints like Lightning.

    torch_resume.py train  --dir DIR --epochs N --final OUT [--resume CKPT]
                           [--stall-at E --marker FILE]

Every epoch saves {model, optimizer, scheduler, RNG states (torch, numpy,
random), epoch} with torch.save to DIR/epoch=E-val_loss=V.ckpt, V taken from
a fixed non-monotone table. --resume loads a checkpoint (e.g. MNT/latest) and
continues from the epoch after it. --stall-at E: in epoch E, write half of the
checkpoint's bytes, flush, touch MARKER and sleep (the test SIGKILLs us).
At the end the model's state_dict is saved to OUT (outside the mount).
"""
import argparse
import io
import os
import random
import sys
import time

import numpy as np
import torch
from torch import nn

VAL_LOSS = [0.9000, 0.3500, 0.7000, 0.4000, 0.2000, 0.3000, 0.4500, 0.6000]  # epoch 4 (the killed save) is the lowest


def name_for(epoch):
    return "epoch=%d-val_loss=%.4f.ckpt" % (epoch, VAL_LOSS[epoch])


def make_data():
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(512, 16, generator=g)
    w = torch.randn(16, 1, generator=g)
    y = x @ w + 0.1 * torch.randn(512, 1, generator=g)
    return x, y


def make_model():
    return nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1))


def rng_state():
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
            "python": random.getstate()}


def set_rng_state(s):
    torch.set_rng_state(s["torch"])
    np.random.set_state(s["numpy"])
    random.setstate(s["python"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["train"])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--final", required=True)
    ap.add_argument("--resume")
    ap.add_argument("--stall-at", type=int, default=-1)
    ap.add_argument("--marker")
    a = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    x, y = make_data()
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    start = 0
    if a.resume:
        ck = torch.load(a.resume, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        set_rng_state(ck["rng"])
        start = ck["epoch"] + 1
        print("resumed from epoch", ck["epoch"], file=sys.stderr)

    for epoch in range(start, a.epochs):
        model.train()
        perm = torch.randperm(x.shape[0])           # torch RNG
        bs = 32 + random.randrange(0, 33)            # python RNG
        for i in range(0, x.shape[0], bs):
            idx = perm[i:i + bs]
            xb = x[idx] + torch.from_numpy(np.random.normal(0, 0.01, size=(len(idx), 16)).astype(np.float32))  # numpy RNG
            loss = nn.functional.mse_loss(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                 "scheduler": sched.state_dict(), "rng": rng_state(),
                 "epoch": epoch, "val_loss": VAL_LOSS[epoch]}
        path = os.path.join(a.dir, name_for(epoch))
        if epoch == a.stall_at:
            buf = io.BytesIO()
            torch.save(state, buf)
            data = buf.getvalue()
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                os.fsync(f.fileno())
                with open(a.marker, "w") as m:
                    m.write("stalled\n")
                time.sleep(300)
                f.write(data[len(data) // 2:])
            sys.exit(3)
        torch.save(state, path)
    torch.save(model.state_dict(), a.final)


if __name__ == "__main__":
    main()
