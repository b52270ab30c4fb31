#!/usr/bin/env bash
# hsmca demo: installs what is missing, builds, and runs the main job on the
# embedded default — a SoftHSM2 token created inside the state directory.
#   HSMCA_DEMO_DIR   where the demo keeps its state (default /tmp/hsmca-demo)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/deps.sh
hsmca_install_deps
hsmca_install_promtool || echo "==> promtool is missing: the textfile will not be checked" >&2

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

say "issuance in the token: a Talos admin credential from a CSR made with openssl"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$demo/alice.key" \
  -subj "/CN=alice/O=os:admin" -out "$demo/alice.csr" 2>/dev/null
"$hsmca" sign talos-access --csr "$demo/alice.csr" --profile talos-admin --out "$demo/alice.crt"
openssl verify -CAfile "$demo/talos-access.pem" "$demo/alice.crt"

say "batch issuance: eight Talos reader credentials from a directory of CSRs (hsmca issue --jobs 2)"
mkdir -p "$demo/csrs"
mk() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
         -subj "$2" -out "$demo/csrs/$1.csr" 2>/dev/null; }
for i in 1 2 3 4 5 6 7 8; do mk "user$i" "/CN=user$i/O=os:reader"; done
"$hsmca" issue talos-access --profile talos-reader --csr-dir "$demo/csrs" --out-dir "$demo/certs" --jobs 2
ls "$demo/certs"

say "a bad request is refused with the reason: CA:TRUE under a leaf profile"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
  -subj "/CN=mallory/O=os:admin" -addext "basicConstraints=critical,CA:TRUE" -out "$demo/bad.csr" 2>/dev/null
"$hsmca" sign talos-access --csr "$demo/bad.csr" --profile talos-admin --out "$demo/bad.crt" \
  && { echo "demo: the bad CSR was accepted" >&2; exit 1; } || true

say "issuance speed against the token's own signing rate (hsmca bench issue)"
"$hsmca" bench issue --count 5000

say "SIMULATED cluster: 3 control-plane + 3 worker Talos nodes and their kube-apiservers (the Talos and Kubernetes API doubles from tests/, NOT Talos, NOT Kubernetes)"
cluster="$demo/cluster"
TALOS_CLUSTER_KUBE=1 "$root/tests/doubles/talos_cluster.sh" start "$cluster" 3 3 >/dev/null
trap '"$root/tests/doubles/talos_cluster.sh" stop "$cluster" >/dev/null 2>&1 || true' EXIT
. "$cluster/cluster.env"
cp "$TALOS_TALOSCONFIG" "$demo/talosconfig.before"
echo "talm project: $TALOS_PROJECT (node file $TALOS_NODE_FILE)"

say "rotate-ca, dry run (the default): the plan, nothing changes"
(cd "$TALOS_PROJECT" && "$hsmca" -f "$TALOS_NODE_FILE" rotate-ca --talos=true --kubernetes=false)

say "rotate-ca --dry-run=false: first adoption of a hardware-held access CA on every node"
(cd "$TALOS_PROJECT" && "$hsmca" -f "$TALOS_NODE_FILE" rotate-ca --talos=true --kubernetes=false --dry-run=false)
cp "$TALOS_TALOSCONFIG" "$demo/talosconfig.gen1"

say "rotate-ca again: a real rotation — new key in the token, old CA distrusted, old key destroyed"
(cd "$TALOS_PROJECT" && "$hsmca" -f "$TALOS_NODE_FILE" rotate-ca --talos=true --kubernetes=false --dry-run=false)
"$hsmca" rotate status

say "independent check of every node (Python gRPC, not hsmca): new talosconfig accepted, old refused"
echo "-- new talosconfig:"; "$root/tests/doubles/talos_cluster.sh" probe "$cluster" "$TALOS_TALOSCONFIG"
echo "-- talosconfig of the previous access CA:"; "$root/tests/doubles/talos_cluster.sh" probe "$cluster" "$demo/talosconfig.gen1" || true

say "Kubernetes API access CA, dry run: control planes only, each API server checked"
cp "$KUBE_KUBECONFIG" "$demo/kubeconfig.before"
kube=(-f "$TALOS_NODE_FILE" rotate-ca --talos=false --kubernetes=true --k8s-node-endpoints "$KUBE_API_URLS")
(cd "$TALOS_PROJECT" && "$hsmca" "${kube[@]}")

say "Kubernetes: first adoption, then a real rotation (the kubeconfig is re-signed in the token each time)"
(cd "$TALOS_PROJECT" && "$hsmca" "${kube[@]}" --dry-run=false)
cp "$KUBE_KUBECONFIG" "$demo/kubeconfig.gen1"
(cd "$TALOS_PROJECT" && "$hsmca" "${kube[@]}" --dry-run=false)
"$hsmca" kube issue-config --user alice --group developers --out "$demo/alice.kubeconfig"

say "independent check of every API server (Python, SelfSubjectReview): new kubeconfigs accepted, old refused"
echo "-- new admin kubeconfig:"; "$root/tests/doubles/talos_cluster.sh" kprobe "$cluster" "$KUBE_KUBECONFIG"
echo "-- alice:"; "$root/tests/doubles/talos_cluster.sh" kprobe "$cluster" "$demo/alice.kubeconfig"
echo "-- kubeconfig of the previous access CA:"; "$root/tests/doubles/talos_cluster.sh" kprobe "$cluster" "$demo/kubeconfig.gen1" || true

say "SIMULATED management cluster with a Kamaji tenant, laid out as Cozystack does it (the Kubernetes API double from tests/, NOT Kubernetes, NOT Kamaji): TCP kubernetes-foo in tenant-foo, 3 worker VMs"
kamaji="$demo/kamaji"
mkdir -p "$kamaji"
/usr/bin/python3 "$root/tests/doubles/kube_double.py" --dir "$kamaji" --deadline 900 \
	--kamaji-tenant kubernetes-foo --tenant-namespace tenant-foo --worker-vms 3 \
	--vm-restart-delay 3 >"$kamaji/double.log" 2>&1 &
kamaji_pid=$!
trap '"$root/tests/doubles/talos_cluster.sh" stop "$cluster" >/dev/null 2>&1 || true; kill "$kamaji_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [[ -f "$kamaji/ready.json" ]] && break; sleep 0.2; done
(cd "$demo" && "$hsmca" tenant rotate-ca --name foo --namespace tenant-foo \
	--kubeconfig "$kamaji/admin.kubeconfig")

say "tenant rotate-ca --dry-run=false on the SIMULATED tenant: 12 Secrets (the front-proxy CA too), waits for the 3 worker VMs, proves the new admin kubeconfig"
(cd "$demo" && "$hsmca" tenant rotate-ca --name kubernetes-foo --namespace tenant-foo \
	--kubeconfig "$kamaji/admin.kubeconfig" --dry-run=false --timeout 2m 2>/dev/null)
ls -l "$demo/kubernetes-foo-admin.kubeconfig"

say "a two-tier hierarchy across two tokens: offline root, online intermediate, one cross-signature"
off=(--home "$demo/offline") on=(--home "$demo/online")
"$hsmca" "${off[@]}" init --softhsm >/dev/null && "$hsmca" "${on[@]}" init --softhsm >/dev/null
"$hsmca" "${off[@]}" ca init offline-root --key-type ec-p384 --subject "CN=Offline Root,O=hsmca demo" >/dev/null
"$hsmca" "${off[@]}" ca show offline-root --pem > "$demo/offline-root.pem"
"$hsmca" "${on[@]}" ca init online --key-type ec-p256 --subject "CN=Online Issuing CA,O=hsmca demo" \
  --crl-url http://pki.example.test/online.crl --csr-out "$demo/online.csr"
"$hsmca" "${off[@]}" sign offline-root --csr "$demo/online.csr" --profile intermediate-ca --out "$demo/online.pem"
"$hsmca" "${on[@]}" ca import online --cert "$demo/online.pem" --chain "$demo/offline-root.pem"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
  -subj "/CN=web.example.test" -addext "subjectAltName=DNS:web.example.test" -out "$demo/web.csr" 2>/dev/null
"$hsmca" "${on[@]}" sign online --csr "$demo/web.csr" --profile server --out "$demo/web.crt" --chain-out "$demo/web-chain.pem"
openssl verify -CAfile "$demo/offline-root.pem" -untrusted "$demo/web-chain.pem" "$demo/web.crt"
openssl x509 -in "$demo/web.crt" -noout -ext crlDistributionPoints
echo "-- rollover: the offline root cross-signs the demo's first root (same key and SKI, new issuer)"
"$hsmca" "${off[@]}" ca cross-sign offline-root --subject-cert "$demo/talos-access.pem" --out "$demo/talos-access-by-offline.pem"
openssl verify -CAfile "$demo/offline-root.pem" "$demo/talos-access-by-offline.pem"
openssl verify -CAfile "$demo/offline-root.pem" -untrusted "$demo/talos-access-by-offline.pem" "$demo/alice.crt"

say "records and audit log"
"$hsmca" certs list talos-access | head -5
"$hsmca" audit verify

say "expiry check after the rotations: retired CAs and revocation probes are no alarm (exit 0)"
"$hsmca" check --warn 90d --metrics "$demo/hsmca.prom"
if command -v promtool >/dev/null; then
  promtool check metrics <"$demo/hsmca.prom" && echo "promtool: $demo/hsmca.prom is a valid textfile"
else
  echo "promtool is not installed (scripts/deps.sh: hsmca_install_promtool): textfile not checked"
fi

cat <<EOT

What to look at:
  $demo/talos-access.pem          the root certificate (public)
  $demo/alice.crt, $demo/certs/   certificates signed in the token
  hsmca --home $HSMCA_HOME certs list       every issued certificate, from the records
  $HSMCA_HOME/audit.log           one hash-chained JSON line per key event and rotation step
  $demo/hsmca.prom             the Prometheus textfile of 'hsmca check' (retired CAs labelled)
  $TALOS_TALOSCONFIG
                                  the talosconfig signed in the token by the new access CA (0600)
  $KUBE_KUBECONFIG
                                  the admin kubeconfig signed in the token by the Kubernetes access CA (0600)
  $demo/alice.kubeconfig  a user kubeconfig from 'hsmca kube issue-config'
  $demo/kubernetes-foo-admin.kubeconfig
                                  the SIMULATED Kamaji tenant's new admin kubeconfig (0600)
  $demo/online.pem, $demo/web-chain.pem
                                  an intermediate whose key is in the "online" token, signed by
                                  the "offline" root in another; a leaf and its chain
  $demo/talos-access-by-offline.pem
                                  a cross-certificate for root rollover
  $TALOS_PROJECT/nodes/           talm node files now carrying the accepted CAs
                                  (machine.acceptedCAs; cluster.acceptedCAs on control planes)
  hsmca --home $HSMCA_HOME rotate status      the rotation journal's last run
  hsmca --home $HSMCA_HOME key show talos-access-key
                                  the proof attributes read back from the token
  SOFTHSM2_CONF=$HSMCA_HOME/softhsm2.conf pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so -O
                                  the token, inspected without hsmca
EOT
