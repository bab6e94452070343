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

# The test build's debug information: line tables only (file and line in every backtrace, no variable or type
# information for a debugger), which takes 10-20 % off a clean debug build of Berth and its packages.
debug_build_flags=(-Xswiftc -gline-tables-only -Xcc -gline-tables-only)

# build_release [SWIFT BUILD ARGS]: the release binary at $release_binary, as installed and benchmarked: the ordinary
# `swift build -c release`, with the Swift runtime and Foundation linked in (no shared Swift libraries to find or map)
# and no symbol exported (an executable needs none, and exports keep the linker from dropping unused code).
# BERTH_RELEASE_SCRATCH puts the build elsewhere than .build (a debug build and a release build in one folder wait for
# each other's lock).
release_scratch=${BERTH_RELEASE_SCRATCH:-.build}
release_binary="$release_scratch/release/berth"
build_release() {
    swift build -c release --product berth --static-swift-stdlib -Xlinker --no-export-dynamic \
        --scratch-path "$release_scratch" "$@"
}
