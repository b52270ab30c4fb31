#!/usr/bin/env bash
# Issue 10, items 3 to 5: policy that holds across profiles.
#  - O=system:masters and CN=system:kube-controller-manager are refused under
#    every profile but the one meant for them, with the Kubernetes access CA
#    (ca.yaml purpose) and with any other CA; a CA marked for a purpose issues
#    only that purpose's profiles (also one marked by the rotation's
#    access-ca pointer).
#  - a --path-len 0 root refuses to issue an intermediate; pathLen 1 allows
#    pathLen 0 below it, not more.
#  - *.com, *.co.uk, 0.0.0.0, ::, multicast are refused (SAN in the CSR or
#    --san).
#  - a failing output path (sign, issue, talos/kube issue-config) leaves the
#    records and the audit log byte-identical.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
: "${HSMCA_GO_VERIFY:?path of the Go verifier}"

it_setup
cd "$WORK"
it_ok "$HSMCA" init --softhsm >/dev/null
it_ok "$HSMCA" ca init root --key-type ec-p256 --subject "CN=Policy Root" >/dev/null
it_ok "$HSMCA" ca init kaccess --key-type ec-p256 --subject "CN=Kubernetes access" --path-len 0 >/dev/null
printf 'purpose: "kubernetes-access"\n' >>"$HSMCA_HOME/cas/kaccess/ca.yaml"
# Made before ca.yaml had `purpose`: marked by the rotation's pointer.
it_ok "$HSMCA" ca init taccess --key-type ec-p256 --subject "CN=Talos access" --path-len 0 >/dev/null
mkdir -p "$HSMCA_HOME/talos" "$HSMCA_HOME/kubernetes"
echo taccess >"$HSMCA_HOME/talos/access-ca"

mkcsr() { # OUT SUBJ [openssl req args]
	local out=$1 subj=$2
	shift 2
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$out.key" \
		-subj "$subj" "$@" -out "$out" 2>/dev/null
}
# state: every file but SoftHSM2's token objects, which record logins.
state() { it_snapshot_dir "$HSMCA_HOME" | grep -v '/tokens/'; }

mkcsr masters.csr "/CN=eve/O=system:masters"
mkcsr kcm.csr "/CN=system:kube-controller-manager"
mkcsr plain.csr "/CN=alice"

# --- reserved Kubernetes names, every profile, two CAs --------------------------------
# One batch per CA and profile holding both requests (the batch and `sign`
# share the policy; `sign` is checked on its own below).
mapfile -t profiles < <("$HSMCA" profiles list 2>/dev/null | awk '{print $1}')
it_assert_eq 19 "${#profiles[@]}" "all built-in profiles listed" || true
mkdir reserved
cp masters.csr kcm.csr reserved/
for ca in root kaccess; do
	for p in "${profiles[@]}"; do
		rc=0
		"$HSMCA" issue "$ca" --profile "$p" --csr-dir reserved --out-dir "res-$ca-$p" \
			>"$IT_OUT" 2>"$IT_ERR" || rc=$?
		for c in masters kcm; do
			meant=no
			[[ $c == masters && $p == kube-admin ]] && meant=yes
			[[ $c == kcm && $p == kube-controller-manager ]] && meant=yes
			# The access CA issues only kube-admin and kube-user.
			[[ $ca == kaccess && $p != kube-admin && $p != kube-user ]] && meant=no
			if [[ $meant == yes ]]; then
				if [[ -s res-$ca-$p/$c.crt ]]; then
					it_pass "$ca/$p issues its own reserved name ($c)"
				else
					it_fail "$ca/$p refuses $c, the name it is meant for: $(cat "$IT_ERR")" || true
				fi
				continue
			fi
			why="reserved Kubernetes name"
			[[ $ca == kaccess && $p != kube-admin && $p != kube-user ]] && why="kubernetes-access CA"
			if ((rc == 1)) && [[ ! -e res-$ca-$p/$c.crt ]] && grep -qF "$why" "$IT_ERR"; then
				it_pass "$ca/$p refuses $c: $why"
			else
				it_fail "$ca/$p: $c (exit $rc) not refused with '$why': $(tail -n 2 "$IT_ERR")" || true
			fi
		done
	done
done
# And by `sign`, with both CAs.
for ca in root kaccess; do
	for p in client kube-user kube-admin; do
		[[ $ca == kaccess && $p == client ]] && continue # refused for its purpose, above
		[[ $p == kube-admin ]] || it_expect_fail 1 "reserved Kubernetes name" \
			"$HSMCA" sign "$ca" --csr masters.csr --profile "$p" --out never.crt || true
		it_expect_fail 1 "reserved Kubernetes name" "$HSMCA" sign "$ca" --csr kcm.csr --profile "$p" --out never.crt || true
	done
done
it_ok "$HSMCA" sign root --csr kcm.csr --profile kube-controller-manager --out kcm.crt >/dev/null
# Through the operator's --subject too.
for args in "kube-user --subject CN=system:kube-controller-manager" \
	"kube-user --subject CN=alice,O=system:masters" "client --subject CN=alice,O=system:masters" \
	"kube-user --subject CN=alice,O=System:Masters" "client --subject CN=system:node:w1"; do
	# shellcheck disable=SC2086
	it_expect_fail 1 "reserved Kubernetes name" "$HSMCA" sign root --csr plain.csr --profile $args --out never.crt || true
done
# What the names' own profiles issue, Go accepts.
it_ok "$HSMCA" sign root --csr masters.csr --profile kube-admin --out admin.crt >/dev/null
it_assert_contains "$(openssl x509 -in admin.crt -noout -subject)" "O = system:masters" "kube-admin issues O=system:masters" || true
it_ok "$HSMCA_GO_VERIFY" --roots "$HSMCA_HOME/cas/root/ca.pem" --eku client admin.crt >/dev/null

# --- purpose ----------------------------------------------------------------------
it_expect_fail 1 "kubernetes-access CA: it issues only with profiles kube-admin, kube-user" \
	"$HSMCA" sign kaccess --csr plain.csr --profile client --out never.crt || true
it_expect_fail 1 "kubernetes-access CA" "$HSMCA" sign kaccess --csr plain.csr --profile talos-admin --out never.crt || true
it_ok "$HSMCA" sign kaccess --csr plain.csr --profile kube-user --subject CN=alice,O=dev --out kuser.crt >/dev/null
it_expect_fail 1 "talos-access CA" "$HSMCA" sign taccess --csr plain.csr --profile client --out never.crt || true
it_expect_fail 1 "talos-access CA" "$HSMCA" sign taccess --csr plain.csr --profile kube-admin --out never.crt || true
it_ok "$HSMCA" sign taccess --csr plain.csr --profile talos-reader --out treader.crt >/dev/null
mkdir pbatch
cp plain.csr pbatch/a.csr
it_expect_fail 1 "kubernetes-access CA" "$HSMCA" issue kaccess --profile client --csr-dir pbatch --out-dir pbatch.out || true

# --- pathLen ------------------------------------------------------------------------
it_ok "$HSMCA" ca init p0 --key-type ec-p256 --subject "CN=PathLen Zero" --path-len 0 >/dev/null
it_ok "$HSMCA" ca init p1 --key-type ec-p256 --subject "CN=PathLen One" --path-len 1 >/dev/null
mkcsr sub.csr "/CN=Sub CA"
base=$(state)
it_expect_fail 1 "pathLenConstraint 0" "$HSMCA" sign p0 --csr sub.csr --profile intermediate-ca --out never.crt || true
mkdir subbatch
cp sub.csr subbatch/sub.csr
it_expect_fail 1 "pathLenConstraint 0" "$HSMCA" issue p0 --profile intermediate-ca --csr-dir subbatch --out-dir subbatch.out || true
it_assert_eq "$base" "$(state)" "pathLen 0: nothing recorded" || true
it_ok "$HSMCA" sign p1 --csr sub.csr --profile intermediate-ca --out sub1.crt >/dev/null
it_ok openssl verify -x509_strict -CAfile "$HSMCA_HOME/cas/p1/ca.pem" sub1.crt
mkdir -p "$HSMCA_HOME/profiles"
cat >"$HSMCA_HOME/profiles/deep-ca.yaml" <<'EOF'
version: 1
name: deep-ca
ca: {path_len: 1}
key_usage: [keyCertSign, cRLSign]
validity: {max: 5y}
subject: {o_from_request: true}
EOF
it_expect_fail 1 "pathLenConstraint 1" "$HSMCA" sign p1 --csr sub.csr --profile deep-ca --out never.crt || true
it_ok "$HSMCA" sign root --csr sub.csr --profile deep-ca --out deep.crt >/dev/null
it_assert_contains "$(openssl x509 -in deep.crt -noout -ext basicConstraints)" "pathlen:1" "unconstrained root: pathLen 1 below it" || true

# --- public-suffix wildcards, addresses that name no host ---------------------------------
for s in "DNS:*.com" "DNS:*.co.uk" "DNS:*.CO.UK" "DNS:*.local" "IP:0.0.0.0" "IP:::" "IP:224.0.0.1" "IP:ff02::1" "IP:255.255.255.255"; do
	it_expect_fail 1 "$([[ $s == DNS* ]] && echo "public suffix" || echo "does not name a host")" \
		"$HSMCA" sign root --csr plain.csr --profile server --san "$s" --out never.crt || true
done
mkcsr wild-com.csr "/CN=w" -addext "subjectAltName=DNS:*.com"
it_expect_fail 1 "public suffix" "$HSMCA" sign root --csr wild-com.csr --profile server --out never.crt || true
mkcsr zero.csr "/CN=z" -addext "subjectAltName=DNS:ok.example.test,IP:0.0.0.0"
it_expect_fail 1 "does not name a host" "$HSMCA" sign root --csr zero.csr --profile server --out never.crt || true
it_ok "$HSMCA" sign root --csr plain.csr --profile server --san "DNS:*.example.co.uk" --san IP:10.1.2.3 --out wild.crt >/dev/null
it_ok "$HSMCA_GO_VERIFY" --roots "$HSMCA_HOME/cas/root/ca.pem" --eku server wild.crt >/dev/null

# --- output paths: checked before anything is signed --------------------------------------
same_state() { # WHAT BASE
	if [[ $2 == "$(state)" ]]; then
		it_pass "$1: records and audit log unchanged"
	else
		it_fail "$1: the state changed: $(diff <(echo "$2") <(state) | head -5)" || true
	fi
}
base=$(state)
it_expect_fail 1 "nothing was signed" "$HSMCA" sign root --csr plain.csr --profile client --out no-such-dir/x.crt || true
same_state "sign --out into a missing directory" "$base"
mkdir adir
it_expect_fail 1 "not a regular file" "$HSMCA" sign root --csr plain.csr --profile client --out adir || true
same_state "sign --out a directory" "$base"
ln -s elsewhere.crt link.crt
it_expect_fail 1 "symbolic link" "$HSMCA" sign root --csr plain.csr --profile client --out link.crt || true
same_state "sign --out a symlink" "$base"
: >afile
it_expect_fail 1 "nothing was issued" "$HSMCA" issue root --profile client --csr-dir pbatch --out-dir afile || true
same_state "issue --out-dir a file" "$base"

# Credentials: the access CAs and the cluster facts a rotation would leave.
echo kaccess >"$HSMCA_HOME/kubernetes/access-ca"
"$IT_PYTHON" - "$HSMCA_HOME" <<'EOF'
import json, sys
home = sys.argv[1]
pem = open(home + "/cas/root/ca.pem").read()
json.dump({"context": "prod", "endpoints": ["10.0.0.1"], "nodes": ["10.0.0.1"], "node_ca_pem": pem},
          open(home + "/talos/cluster.json", "w"))
json.dump({"context": "prod", "endpoints": ["https://10.0.0.1:6443"], "nodes": [], "node_ca_pem": pem},
          open(home + "/kubernetes/cluster.json", "w"))
EOF
printf 'context: other\ncontexts:\n    other:\n        endpoints: []\n' >other.talosconfig
printf 'apiVersion: v1\nkind: Config\ncontexts:\n- name: other\n  context: {cluster: c, user: u}\n' >other.kubeconfig
base=$(state)
it_expect_fail 1 "no-such-dir" "$HSMCA" talos issue-config --role os:reader --out no-such-dir/tc || true
same_state "talos issue-config into a missing directory" "$base"
it_expect_fail 1 "another context" "$HSMCA" talos issue-config --role os:reader --out other.talosconfig || true
same_state "talos issue-config over a talosconfig with another context" "$base"
it_expect_fail 1 "no-such-dir" "$HSMCA" kube issue-config --user alice --out no-such-dir/kc || true
same_state "kube issue-config into a missing directory" "$base"
it_expect_fail 1 "also holds context" "$HSMCA" kube issue-config --user alice --out other.kubeconfig || true
same_state "kube issue-config over a kubeconfig with another context" "$base"
it_expect_fail 1 "https://" "$HSMCA" kube issue-config --user alice --server http://10.0.0.1 --out kc || true
same_state "kube issue-config with a server that is not https" "$base"
it_expect_fail 1 "reserved Kubernetes name" "$HSMCA" kube issue-config --user system:kube-controller-manager --out kc || true
it_expect_fail 1 "reserved Kubernetes name" "$HSMCA" kube issue-config --user alice --group system:nodes --out kc || true
same_state "kube issue-config for reserved names" "$base"
# The same commands with a usable output do issue (the setup above is sound).
it_ok "$HSMCA" talos issue-config --role os:reader --out tc >/dev/null
it_ok "$HSMCA" kube issue-config --user alice --group dev --out kc >/dev/null
it_assert_eq 600 "$(stat -c %a kc)" "kubeconfig written 0600" || true

it_ok "$HSMCA" audit verify >/dev/null
it_summary
