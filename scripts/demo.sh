#!/usr/bin/env bash
# hsmca demo: installs what is missing, builds, and runs the main job on the
# embedded default — a SoftHSM2 token created inside the state directory.
#   HSMCA_DEMO_DIR   where the demo keeps its state (default /tmp/hsmca-demo)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/deps.sh
hsmca_install_deps

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "building hsmca (build/release)"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j2 -- --no-print-directory >/dev/null
hsmca="$root/build/release/hsmca"

demo=${HSMCA_DEMO_DIR:-/tmp/hsmca-demo}
rm -rf "$demo"
mkdir -p "$demo"
export HSMCA_HOME="$demo/state"

say "hsmca init --softhsm   (a development token inside $HSMCA_HOME)"
"$hsmca" init --softhsm

say "root ceremony: hsmca ca init talos-access --key-type ec-p256"
"$hsmca" ca init talos-access --key-type ec-p256 \
  --subject "CN=Talos Access Root,O=hsmca demo" --validity 10y

say "the key in the token, inspected independently with pkcs11-tool"
SOFTHSM2_CONF="$HSMCA_HOME/softhsm2.conf" pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so \
  --login --pin "$(cat "$HSMCA_HOME/pins/user.pin")" -O --type privkey 2>/dev/null \
  | sed -n '1,/^Private Key Object/p;/Access:/p;/Usage:/p'

say "independent verification of the root with openssl"
"$hsmca" ca show talos-access --pem > "$demo/talos-access.pem"
openssl verify -check_ss_sig -CAfile "$demo/talos-access.pem" "$demo/talos-access.pem"
openssl x509 -in "$demo/talos-access.pem" -noout -subject -issuer -serial -dates -ext basicConstraints,keyUsage

say "audit log"
"$hsmca" audit verify

cat <<EOT

What to look at:
  $demo/talos-access.pem          the root certificate (public)
  $HSMCA_HOME/audit.log           one hash-chained JSON line per key event
  hsmca --home $HSMCA_HOME key show talos-access-key
                                  the proof attributes read back from the token
  SOFTHSM2_CONF=$HSMCA_HOME/softhsm2.conf pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so -O
                                  the token, inspected without hsmca
EOT
