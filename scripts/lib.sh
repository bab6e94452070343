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
