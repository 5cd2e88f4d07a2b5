"""What a Hugging Face Trainer does to its output directory, without transformers.

    hf_trainer.py save DIR STEP EVAL_LOSS MANIFEST [--stall-after FILE --marker M]
    hf_trainer.py rotate DIR LIMIT
    hf_trainer.py resume-a DIR MANIFEST   # get_last_checkpoint(), then load it all
    hf_trainer.py resume-b DIR MANIFEST   # DIR/latest/trainer_state.json
    hf_trainer.py train DIR MANIFEST EVALS STEP...   # save + rotate(2) per step, "training" between
    hf_trainer.py resume-both DIR MANIFEST          # prints "A B"

save: mkdir checkpoint-STEP, model.safetensors (+ config.json), optimizer.pt,
scheduler.pt, rng_state.pth, trainer_state.json, in the Trainer's order; the
sha256 of every file is appended to MANIFEST (outside the mount) only once the
checkpoint is complete. --stall-after NAME: after writing NAME, touch M and
sleep (the test SIGKILLs us between files).
resume-*: print the step found and check every file against the manifest.
"""
import hashlib
import json
import os
import random
import re
import shutil
import struct
import sys
import time

import numpy as np
import torch

_re_checkpoint = re.compile(r"^checkpoint\-(\d+)$")


def get_last_checkpoint(folder):  # transformers.trainer_utils.get_last_checkpoint
    content = os.listdir(folder)
    checkpoints = [p for p in content
                   if _re_checkpoint.search(p) is not None and os.path.isdir(os.path.join(folder, p))]
    if len(checkpoints) == 0:
        return None
    return os.path.join(folder, max(checkpoints, key=lambda x: int(_re_checkpoint.search(x).groups()[0])))


def safetensors_bytes(tensors):
    """The safetensors format by hand: u64 LE header size, JSON header, data."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, arr in tensors.items():
        b = arr.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def parse_safetensors(data):
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(body[s:e], dtype="<f4").reshape(v["shape"])
    return out


def trainer_state(step, eval_losses):
    hist = []
    for s in sorted(eval_losses):
        if s > step:
            break
        hist.append({"epoch": s / 200, "grad_norm": 1.0 + s / 1000, "learning_rate": 5e-5 * (1 - s / 1000),
                     "loss": 2.0 - s / 1000, "step": s})
        hist.append({"epoch": s / 200, "eval_loss": eval_losses[s], "eval_runtime": 1.25,
                     "eval_samples_per_second": 80.0, "eval_steps_per_second": 10.0, "step": s})
    done = {s: v for s, v in eval_losses.items() if s <= step}
    best = min(done, key=lambda s: (done[s], s))
    return {
        "best_metric": done[best], "best_model_checkpoint": "out/checkpoint-%d" % best,
        "epoch": step / 200, "eval_steps": 100, "global_step": step,
        "is_hyper_param_search": False, "is_local_process_zero": True, "is_world_process_zero": True,
        "log_history": hist, "logging_steps": 100, "max_steps": 1000, "num_input_tokens_seen": 0,
        "num_train_epochs": 5, "save_steps": 100,
        "stateful_callbacks": {"TrainerControl": {"args": {"should_epoch_stop": False, "should_evaluate": False,
                                                           "should_log": False, "should_save": True,
                                                           "should_training_stop": False}, "attributes": {}}},
        "total_flos": 123456789.0, "train_batch_size": 8, "trial_name": None, "trial_params": None,
    }


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


EVAL = {}  # filled from argv: the eval_loss of every step saved so far


def save(d, step, eval_loss, manifest, stall_after=None, marker=None):
    rs = np.random.RandomState(step)
    torch.manual_seed(step)
    out = os.path.join(d, "checkpoint-%d" % step)
    os.makedirs(out, exist_ok=True)
    files = []

    def done(name):
        files.append(name)
        if name == stall_after:
            with open(marker, "w") as m:
                m.write("stalled\n")
            time.sleep(300)
            sys.exit(3)

    weights = {"embed.weight": rs.randn(512, 64), "layer.0.weight": rs.randn(64, 64),
               "layer.0.bias": rs.randn(64), "head.weight": rs.randn(10, 64)}
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(safetensors_bytes(weights))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"architectures": ["TinyModel"], "hidden_size": 64, "vocab_size": 512,
                   "torch_dtype": "float32", "transformers_version": "4.44.0"}, f, indent=2)
    done("model.safetensors")
    opt = {"state": {i: {"step": torch.tensor(float(step)), "exp_avg": torch.randn(64, 64),
                         "exp_avg_sq": torch.rand(64, 64)} for i in range(4)},
           "param_groups": [{"lr": 5e-5, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                             "params": [0, 1, 2, 3]}]}
    torch.save(opt, os.path.join(out, "optimizer.pt"))
    done("optimizer.pt")
    torch.save({"base_lrs": [5e-5], "last_epoch": step, "_step_count": step + 1,
                "_last_lr": [5e-5 * (1 - step / 1000)]}, os.path.join(out, "scheduler.pt"))
    done("scheduler.pt")
    torch.save({"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.get_rng_state()},
               os.path.join(out, "rng_state.pth"))
    done("rng_state.pth")
    with open(os.path.join(out, "trainer_state.json"), "w") as f:
        json.dump(trainer_state(step, EVAL), f, indent=2, sort_keys=True)
        f.write("\n")
    done("trainer_state.json")
    # complete: record it outside the mount
    entry = {"name": "checkpoint-%d" % step, "step": step,
             "files": {n: sha(os.path.join(out, n)) for n in sorted(os.listdir(out))}}
    with open(manifest, "a") as m:
        m.write(json.dumps(entry) + "\n")


def rotate(d, limit):  # Trainer._rotate_checkpoints (save_total_limit)
    ckpts = sorted((int(m.group(1)), p) for p in os.listdir(d)
                   for m in [_re_checkpoint.match(p)] if m and os.path.isdir(os.path.join(d, p)))
    for _, p in ckpts[:max(0, len(ckpts) - limit)]:
        shutil.rmtree(os.path.join(d, p))


def load_and_check(path, manifest):
    entries = {}
    with open(manifest) as m:
        for line in m:
            e = json.loads(line)
            entries[e["name"]] = e  # the last save of a name wins
    with open(os.path.join(path, "trainer_state.json")) as f:
        st = json.load(f)
    name = "checkpoint-%d" % st["global_step"]
    e = entries.get(name)
    assert e is not None, "%s (global_step %d) was never completely saved" % (path, st["global_step"])
    got = {n: sha(os.path.join(path, n)) for n in sorted(os.listdir(path))}
    assert got == e["files"], "%s differs from the saved %s: %s vs %s" % (path, name, got, e["files"])
    with open(os.path.join(path, "model.safetensors"), "rb") as f:
        w = parse_safetensors(f.read())
    assert w["embed.weight"].shape == (512, 64)
    torch.load(os.path.join(path, "optimizer.pt"))
    torch.load(os.path.join(path, "scheduler.pt"))
    torch.load(os.path.join(path, "rng_state.pth"), weights_only=False)
    return st["global_step"]


def main():
    cmd = sys.argv[1]
    if cmd == "save":
        d, step, manifest = sys.argv[2], int(sys.argv[3]), sys.argv[5]
        for kv in sys.argv[4].split(","):  # "100:0.9,200:0.4,..." up to this step
            s, v = kv.split(":")
            EVAL[int(s)] = float(v)
        stall, marker = None, None
        if "--stall-after" in sys.argv:
            stall = sys.argv[sys.argv.index("--stall-after") + 1]
            marker = sys.argv[sys.argv.index("--marker") + 1]
        save(d, step, EVAL[step], manifest, stall, marker)
    elif cmd == "rotate":
        rotate(sys.argv[2], int(sys.argv[3]))
    elif cmd == "train":
        d, manifest = sys.argv[2], sys.argv[3]
        for kv in sys.argv[4].split(","):
            s, v = kv.split(":")
            EVAL[int(s)] = float(v)
        for step in map(int, sys.argv[5:]):
            save(d, step, EVAL[step], manifest)
            rotate(d, 2)
            time.sleep(float(os.environ.get("HF_TRAIN_PAUSE", "0.5")))  # training until the next save
    elif cmd == "resume-both":
        last = get_last_checkpoint(sys.argv[2])
        a = load_and_check(last, sys.argv[3])
        assert os.path.basename(last) == "checkpoint-%d" % a, (last, a)
        b = load_and_check(os.path.join(sys.argv[2], "latest"), sys.argv[3])
        print(a, b)
    elif cmd == "resume-a":
        last = get_last_checkpoint(sys.argv[2])
        step = load_and_check(last, sys.argv[3])
        assert os.path.basename(last) == "checkpoint-%d" % step, (last, step)
        print(step)
    elif cmd == "resume-b":
        print(load_and_check(os.path.join(sys.argv[2], "latest"), sys.argv[3]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
