#!/usr/bin/env bash
# torch.save overwriting last.ckpt under the same name while another process
# reads MNT/last.ckpt (and MNT/latest) whole in a loop. The contract says an
# overwrite of a committed checkpoint "starts a new version that replaces the
# old one atomically when it commits", so a reader opening last.ckpt gets the
# old version whole until the writer's close (a read-only open of a file
# checkpoint being overwritten binds to its committed version). Then the same
# for torch.save to last.ckpt.tmp + os.replace.
CKPT_LAST_MODES="direct:last.ckpt,latest replace:last.ckpt,latest" exec bash "$(dirname "$0")/test_lightning_last.sh"
