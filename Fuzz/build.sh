#!/usr/bin/env bash
# Builds the libFuzzer targets: each library module with coverage and ASan, then one binary
# per target (make fuzz). SwiftPM has no fuzzer sanitizer, so swiftc is driven directly.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build-fuzz
mkdir -p "$out"
flags=(-O -g -parse-as-library -sanitize=fuzzer,address -enable-testing -I "$out" -I Sources/CZlib -I Sources/CBZip2 -I Sources/CSQLite -I Sources/CCRC
       -I Sources/CPrefetch -module-cache-path "$out/cache")
module() {  # module NAME: the target's sources, subfolders included
  local name=$1; shift
  set -- $(find "Sources/$name" -name '*.swift' | sort)
  swiftc "${flags[@]}" -module-name "$name" -emit-module -emit-module-path "$out/$name.swiftmodule" -emit-library -static -o "$out/lib$name.a" "$@"
}
module EVPNModel
module BGPWire
module ByteStreams
module MRT
module BMP
libs=("$out/libMRT.a" "$out/libBMP.a" "$out/libByteStreams.a" "$out/libBGPWire.a" "$out/libEVPNModel.a" -lz -lbz2)
for target in Update EVPN MRT BMP BZip2; do
  swiftc "${flags[@]}" -module-name "Fuzz$target" "Fuzz/Fuzz$target.swift" "${libs[@]}" -o "$out/fuzz-$(echo $target | tr A-Z a-z)"
done
# The report renderer, with the tests' hostile report data compiled in.
module Containers
module Replay
module Analysis
module Store
module Reports
# The structure check is compiled without coverage: its branches are not what the fuzzer should
# explore, and instrumenting them cost a fifth of each execution.
swiftc "${flags[@]/fuzzer,address/address}" -module-name HostileReportCheck -emit-module -emit-module-path "$out/HostileReportCheck.swiftmodule" \
  -emit-library -static -o "$out/libHostileReportCheck.a" Tests/TestSupport/HostileReport.swift
swiftc "${flags[@]}" -module-name FuzzReport Fuzz/FuzzReport.swift "$out/libHostileReportCheck.a" \
  "$out/libReports.a" "$out/libStore.a" "$out/libAnalysis.a" "$out/libReplay.a" "$out/libContainers.a" "$out/libEVPNModel.a" -lsqlite3 -lz -o "$out/fuzz-report"
echo "built: $(ls $out/fuzz-* | tr '\n' ' ')"
