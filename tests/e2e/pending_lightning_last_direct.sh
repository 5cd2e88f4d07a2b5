#!/usr/bin/env bash
# PENDING (not registered with CTest: exposes a ckptfs bug).
# torch.save overwriting last.ckpt under the same name while another process
# reads MNT/last.ckpt (and MNT/latest) whole in a loop. The contract says an
# overwrite of a committed checkpoint "starts a new version that replaces the
# old one atomically when it commits", so a reader opening last.ckpt must get
# the old version until the writer's close. Observed: it reads the staging
# version (0 bytes right after the O_TRUNC open, then the partial data), while
# MNT/latest correctly reads the old version.
# Rename to test_lightning_last_direct.sh once it passes.
CKPT_LAST_MODES="direct:last.ckpt,latest" exec bash "$(dirname "$0")/test_lightning_last.sh"
