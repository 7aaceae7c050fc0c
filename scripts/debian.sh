# Sourced by the scripts that install what they need: `need_debian
# CMD:PACKAGE ...` installs (apt-get, as root or with sudo) the Debian
# package of each command that is not on PATH.
# `apt_install PACKAGE ...`: apt-get install, as root or with sudo; nothing
# when no package is named.
apt_install() {
  (($#)) || return 0
  echo "installing: $*"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@"
}

need_debian() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  apt_install "${missing[@]}"
}

# `need_debian_file PATH:PACKAGE ...`: the same for packages known by a
# file they install (fonts have no command).
need_debian_file() {
  local missing=() pair
  for pair in "$@"; do
    [ -e "${pair%%:*}" ] || missing+=("${pair#*:}")
  done
  apt_install "${missing[@]}"
}
