# Sourced by the test scripts.
#
# install_packages WHO PACKAGE...: installs the Debian packages with
# apt-get when this runs as root on a Debian-like machine; otherwise says,
# as WHO, what is missing and returns 1. Nothing to install: returns 0.
install_packages() {
    local who=$1
    shift
    [ "$#" -gt 0 ] || return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
    else
        echo "$who: missing $*; install them first" >&2
        return 1
    fi
}
