#!/usr/bin/env bash
# Installs the Debian 12 packages hsmca needs to build, test and demo.
# Sourced by scripts/test.sh and scripts/demo.sh; installs only what is missing.
hsmca_packages=(
  build-essential cmake pkg-config
  libssl-dev libp11-kit-dev libyaml-dev libcurl4-openssl-dev libjson-c-dev libcmocka-dev
  libpsl-dev publicsuffix
  openssl softhsm2 opensc gnutls-bin golang-go
  swtpm swtpm-tools tpm2-abrmd libtss2-tcti-tabrmd0 libtpm2-pkcs11-1 tpm2-tools dbus
  faketime etcd-server etcd-client python3 python3-grpcio python3-cryptography python3-yaml
  libengine-pkcs11-openssl
  libgfshare-dev
  dpkg-dev systemd strace zsh man-db
)

hsmca_install_deps() {
  local missing=() p
  for p in "${hsmca_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  echo "==> installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts: packages are missing and this is not root; install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# promtool (the checker the acceptance names, for the metrics
# textfile) comes from Debian's prometheus package, which also ships the
# Prometheus server (96 MB, started by its postinst on a systemd host): only
# the one static binary is taken out of the package and put in
# /usr/local/bin.  apt-get download fetches it; nothing is installed in dpkg.
hsmca_install_promtool() {
  local tmp
  command -v promtool >/dev/null && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts: promtool is missing; as root run: . scripts/deps.sh && hsmca_install_promtool" >&2
    return 1
  fi
  echo "==> extracting promtool from Debian's prometheus package"
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download -qq prometheus >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get download -qq prometheus >/dev/null; }; } &&
    dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool) &&
    install -m 0755 "$tmp/usr/bin/promtool" /usr/local/bin/promtool
  local rc=$?
  rm -rf "$tmp"
  return $rc
}
