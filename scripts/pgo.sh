#!/bin/bash
# Records pgo/evpnscope.profdata, the profile the release build is optimised with (Package.swift).
# An instrumented build analyses and decodes training inputs: scenarios other than the
# benchmark's, generated at sizes where the large-table paths are hot, in every compression and
# in MRT and BMP; the demo dataset; the public dumps beside the project when they are there.
# llvm-profdata then merges the counts. Run it again (`make pgo`) after large changes to the
# decoders, the replay or the store: code changed since the profile runs unguided, not wrong.
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
toolchain=$(dirname "$(readlink -f "$(command -v "$SWIFT")")")
profdata=$toolchain/llvm-profdata
runtime=$(find "$toolchain/../lib/clang" -name "libclang_rt.profile-$(uname -m).a" | head -1)
[ -x "$profdata" ] && [ -n "$runtime" ] || { echo "pgo: llvm-profdata or the profile runtime not found beside $SWIFT" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build=.build-pgo
EVPNSCOPE_PGO=off "$SWIFT" build -c release --product evpnscope --scratch-path "$build" \
    -Xswiftc -Xfrontend -Xswiftc -ir-profile-generate \
    -Xlinker "$runtime" -Xlinker -u__llvm_profile_runtime
bin=$build/release/evpnscope

# Counts of the generator itself are left out: it does not run where speed matters.
export LLVM_PROFILE_FILE=$work/discarded-%p.profraw
"$bin" generate steady-fabric --out "$work/steady-bz2" --scale 100 --compression bz2 >/dev/null
"$bin" generate layer2-loop --out "$work/loop-gz" --scale 10 --compression gz >/dev/null
for scenario in duplicate-mac sequence-anomalies stale-routes false-positive-traps real-routers-frr \
    real-routers-gobgp; do
    "$bin" generate "$scenario" --out "$work/$scenario" --scale 5 >/dev/null
done

mkdir "$work/profiles"
export LLVM_PROFILE_FILE=$work/profiles/run-%p.profraw
analyze() {
    # Exit 1 is "findings", what these scenarios are made of.
    rm -f "$work/run.sqlite"
    "$bin" analyze "$1" --db "$work/run.sqlite" --report "$work/run.md" >/dev/null || [ $? -eq 1 ]
}
for data in "$work"/*/dumps datasets/demo/dumps; do analyze "$data"; done
for format in bgpdump jsonl text; do
    "$bin" decode --format "$format" "$work/loop-gz/dumps" >/dev/null
done
public=../shared/datasets/public
if [ -d "$public/ripe-bgpdump" ]; then
    "$bin" decode --format bgpdump "$public"/ripe-bgpdump/*.gz >/dev/null 2>&1 || true  # some are damaged on purpose
fi

mkdir -p pgo
"$profdata" merge --sparse -o pgo/evpnscope.profdata "$work"/profiles/*.profraw
echo "pgo: pgo/evpnscope.profdata from $(ls "$work"/profiles | wc -l) runs"
# The build does not see the profile as an input of its own: the next release build starts over.
rm -rf "$("$SWIFT" build -c release --show-bin-path)"
