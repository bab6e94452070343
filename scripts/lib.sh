# Shared by scripts/run and scripts/test: find swift, and know whether an engine answers.

if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi

# engine_answers ADDRESS: true when a Docker Engine answers /_ping at unix:///path or tcp://host:port.
engine_answers() {
    local address=$1
    case "$address" in
        unix://*) curl -sf --max-time 3 --unix-socket "${address#unix://}" http://docker/_ping >/dev/null 2>&1 ;;
        tcp://*) curl -sf --max-time 3 "http://${address#tcp://}/_ping" >/dev/null 2>&1 ;;
        /*) curl -sf --max-time 3 --unix-socket "$address" http://docker/_ping >/dev/null 2>&1 ;;
        *) return 1 ;;
    esac
}

# build_release [SWIFT BUILD ARGS]: the release binary at $release_binary, as installed and benchmarked. The Swift
# runtime and Foundation are linked in (no shared Swift libraries to find or map) and no symbol is exported (an
# executable needs none, and exports keep the linker from dropping unused code). Its code is laid out in the order
# of scripts/release.order (made by bench/code-order): what an idle server runs sits together, so it maps a few
# MiB of code instead of some of every 64 KiB of it. That takes a section per function, functions not merged into
# nameless shared bodies (the order names functions), lld, and scripts/release.ld for the compiler's own nameless
# functions. BERTH_RELEASE_SCRATCH puts the build elsewhere than .build (a debug build and a release build in one
# folder wait for each other's lock).
release_scratch=${BERTH_RELEASE_SCRATCH:-.build}
release_binary="$release_scratch/release/berth"
release_layout=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_release() {
    local order=()
    if [ -f "$release_layout/release.order" ]; then
        order=(-Xlinker "--symbol-ordering-file=$release_layout/release.order" -Xlinker --no-warn-symbol-ordering)
    fi
    # SwiftPM does not know the order file is an input: without the binary it links again (seconds).
    rm -f "$release_binary"
    swift build -c release --product berth --static-swift-stdlib -Xlinker --no-export-dynamic \
        -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections \
        -Xswiftc -Xfrontend -Xswiftc -disable-llvm-merge-functions-pass -Xswiftc -use-ld=lld \
        -Xlinker -T -Xlinker "$release_layout/release.ld" "${order[@]}" --scratch-path "$release_scratch" "$@"
}
