# Shared by the test dependency scripts: `ensure_command COMMAND PACKAGE` installs the Debian
# PACKAGE with apt-get (as root, or with sudo) unless COMMAND is already on PATH, and fails
# with the reason when it cannot.
ensure_command() {
    local command="$1" package="$2"
    if command -v "$command" >/dev/null 2>&1; then
        return 0
    fi
    echo "installing Debian's $package (for $command)" >&2
    local sudo_cmd=""
    if [ "$(id -u)" != "0" ]; then
        command -v sudo >/dev/null 2>&1 || { echo "$command is missing and neither root nor sudo is available to install $package" >&2; return 1; }
        sudo_cmd="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "${APT_UPDATED:-}" ]; then
        $sudo_cmd apt-get update -qq
        APT_UPDATED=1
    fi
    $sudo_cmd apt-get install -y -qq --no-install-recommends "$package" >/dev/null
    command -v "$command" >/dev/null 2>&1 || { echo "$command is still not on PATH after installing $package" >&2; return 1; }
}
