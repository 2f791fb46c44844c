#!/bin/sh
# tvm-loihi-docker: the images' entry point, `tvm-loihi-docker serve|tracker|tune [ARGS...]`.
#
# * A secret mounted at $TVM_LOIHI_SECRET_FILE (default /run/secrets/tvm_loihi, where compose and
#   swarm put the secret "tvm_loihi") is handed to tvm-loihi as --secret-file's default.
# * Without one, `serve` and `tracker` refuse to bind anything but loopback, even with --insecure:
#   a container's 0.0.0.0 is the network. On loopback, tvm-loihi itself still refuses to start
#   without a secret unless --insecure is given.
# tests/test_docker_entrypoints.py runs this script directly (no Docker engine there).
set -eu

secret_file="${TVM_LOIHI_SECRET_FILE:-/run/secrets/tvm_loihi}"
command="${1:-}"
host="${TVM_LOIHI_HOST:-127.0.0.1}"
previous=""
for arg in "$@"; do  # --host X / --host=X win over $TVM_LOIHI_HOST, as in tvm-loihi
    if [ "$previous" = "--host" ]; then host="$arg"; fi
    case "$arg" in --host=*) host="${arg#--host=}" ;; esac
    previous="$arg"
done

if [ -e "$secret_file" ]; then
    if [ ! -r "$secret_file" ]; then
        echo "tvm-loihi-docker: $secret_file is not readable by uid $(id -u); make it readable" \
             "by that user (docker/README.md)" >&2
        exit 1
    fi
    export TVM_LOIHI_SECRET_FILE="$secret_file"
    exec tvm-loihi "$@"
fi
unset TVM_LOIHI_SECRET_FILE  # nothing there: tvm-loihi must not try to read it

case "$command" in
    serve|tracker)
        case "$host" in
            127.*|localhost|::1) ;;
            *)
                echo "tvm-loihi-docker: refusing to start '$command' on $host without a secret:" \
                     "mount one at $secret_file (compose secret tvm_loihi, or" \
                     "-v PATH:$secret_file:ro); see docker/README.md" >&2
                exit 1
                ;;
        esac
        ;;
esac
exec tvm-loihi "$@"
