#!/usr/bin/env bash
# Train the copy-or-create networks (book chapter 12): the MNIST UNet and ResNet (zero padding,
# unconditional) at the laptop recipe on nested class-balanced subsets of N images, every size
# for the same number of steps. The two smallest sizes keep snapshots along training
# (snapshots/<steps>/). Resumable: rerun the script; finished networks are skipped. Finished runs
# keep no optimiser state (checkpoint.pt is deleted once model.pt and manifest.json exist).
#   bash scripts/train_memorisation.sh            # all
#   SIZES="16 64" ARCHS=unet bash scripts/train_memorisation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
STEPS=${STEPS:-12000}
SIZES=${SIZES:-16 64 128 256}
ARCHS=${ARCHS:-unet resnet}
SNAPSHOT_SIZES=${SNAPSHOT_SIZES:-16 64}
SNAPSHOT_STEPS=${SNAPSHOT_STEPS:-1500 3000 6000}
THREADS=${THREADS:-1}
ROOT=${ROOT:-artifacts/models/memorisation}

for n in $SIZES; do
  for arch in $ARCHS; do
    out=$ROOT/mnist_${arch}_n$n
    if [ -f "$out/manifest.json" ] && [ ! -f "$out/checkpoint.pt" ]; then continue; fi
    stops=""
    case " $SNAPSHOT_SIZES " in *" $n "*) stops="$SNAPSHOT_STEPS";; esac
    for s in $stops $STEPS; do
      if [ "$s" != "$STEPS" ] && [ -d "$out/snapshots/$s" ]; then continue; fi
      resume=""; [ -f "$out/checkpoint.pt" ] && resume="--resume"
      $PY -m els train --dataset mnist --arch "$arch" --padding zeros --preset laptop \
        --max-images "$n" --steps "$s" --max-minutes 600 --threads "$THREADS" --no-progress \
        --out "$out" $resume
      if [ "$s" != "$STEPS" ]; then
        mkdir -p "$out/snapshots/$s"
        cp "$out"/model.pt "$out"/model.json "$out"/manifest.json "$out"/samples.png "$out/snapshots/$s/"
      fi
    done
    rm -f "$out/checkpoint.pt"
  done
done
