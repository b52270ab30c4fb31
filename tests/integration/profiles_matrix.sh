#!/usr/bin/env bash
# Issue 3, item 1: every built-in profile, from a CSR made with `openssl req`
# for each accepted key type (P-256, P-384, Ed25519, RSA-2048), is accepted by
# `openssl verify` (with the TLS purpose), GnuTLS `certtool` (with the purpose
# OID) and Go's crypto/x509 (with the EKU), and carries exactly the fields of
# reference/kubernetes.md and talos.md (checked through Go's parser by
# lib/certcheck.py). Then: intermediate-ca (isCA, pathLen 0, keyCertSign +
# cRLSign; a root -> intermediate -> leaf chain where the leaf is signed by
# openssl with the intermediate's key; pathLen 0 enforced), custom YAML
# profiles, and a custom profile named like a built-in.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
: "${HSMCA_GO_VERIFY:?path of the Go verifier}"

it_setup
cd "$WORK"
CHECK=("$IT_PYTHON" "$HSMCA_TEST_SRCDIR/tests/integration/lib/certcheck.py" "$HSMCA_GO_VERIFY")
EKU_SERVER=1.3.6.1.5.5.7.3.1
EKU_CLIENT=1.3.6.1.5.5.7.3.2

it_ok "$HSMCA" init --softhsm >/dev/null
it_ok "$HSMCA" ca init root --key-type ec-p256 --subject "CN=Matrix Root,O=hsmca test" >/dev/null
ROOT=$HSMCA_HOME/cas/root/ca.pem

# A second, unrelated root: every verifier must refuse our leaves against it
# (proves the verifiers are really checking the chain).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key \
	-subj "/CN=Other Root" -days 30 -out other.pem 2>/dev/null

# --- the built-in profiles are exactly the 19 of issue 3 ---------------------
"$HSMCA" --json profiles list >profiles.json
names=$("$IT_PYTHON" -c 'import json,sys; print(" ".join(sorted(p["name"] for p in json.load(open(sys.argv[1])))))' profiles.json)
it_assert_eq "client etcd-healthcheck-client etcd-peer etcd-server front-proxy-client intermediate-ca kube-admin kube-apiserver kube-apiserver-etcd-client kube-apiserver-kubelet-client kube-controller-manager kube-scheduler kube-user kubelet-client server talos-admin talos-etcd-backup talos-operator talos-reader" \
	"$names" "profiles list --json names the 19 built-in profiles"

# --- one key per key type; CSRs are made from it with `openssl req -key` -----
newkey() { # TYPE FILE
	case $1 in
	ec-p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2" ;;
	ec-p384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$2" ;;
	ed25519) openssl genpkey -algorithm ED25519 -out "$2" ;;
	rsa-2048) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$2" ;;
	rsa-3072) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$2" ;;
	esac 2>/dev/null
}
declare -A GOKEY=([ec-p256]="ECDSA P-256" [ec-p384]="ECDSA P-384" [ed25519]="Ed25519"
	[rsa-2048]="RSA 2048" [rsa-3072]="RSA 3072")
for kt in ec-p256 ec-p384 ed25519 rsa-2048 rsa-3072; do
	newkey "$kt" "key-$kt.pem"
done
# Go's --show prints RSA keys as "RSA <bits>"; make sure of the spelling once.
openssl req -new -key key-rsa-2048.pem -subj /CN=probe -out probe.csr
"$HSMCA" sign root --csr probe.csr --profile client --out probe.crt 2>/dev/null
GOKEY[rsa-2048]=$("$HSMCA_GO_VERIFY" --show probe.crt | "$IT_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["publicKey"])')
it_assert_contains "${GOKEY[rsa-2048]}" "2048" "Go names the RSA-2048 key size"

# go_refuses NEEDLE ARGS...: the Go verifier exits 1 and says NEEDLE (stdout).
go_refuses() {
	local needle=$1
	shift
	it_expect_fail 1 "" "$HSMCA_GO_VERIFY" "$@" || return 1
	if grep -qF -- "$needle" "$IT_OUT"; then
		it_pass "Go: $needle"
	else
		it_fail "Go refused $*, but not with '$needle': $(cat "$IT_OUT")"
	fi
}

# The three independent verifiers, with the purpose when the cert has one.
verify_all() { # CERT EKU-LIST(comma) [DNS-or-IP [KEYTYPE]]
	local cert=$1 ekus=$2 name=${3:-} kt=${4:-ec-p256} e purpose oid
	for e in ${ekus//,/ }; do
		case $e in
		serverAuth) purpose=sslserver oid=$EKU_SERVER ;;
		clientAuth) purpose=sslclient oid=$EKU_CLIENT ;;
		*) purpose=any oid= ;;
		esac
		it_ok openssl verify -x509_strict -purpose "$purpose" -CAfile "$ROOT" "$cert" >/dev/null
		if [[ -n $oid ]]; then
			it_ok certtool --verify --verify-profile=medium --verify-purpose="$oid" \
				--load-ca-certificate "$ROOT" --infile "$cert" >/dev/null
			it_ok "$HSMCA_GO_VERIFY" --roots "$ROOT" --eku "${e%Auth}" \
				${name:+--dns "$name"} "$cert" >/dev/null
		fi
	done
	# and the negative controls (once per profile): the wrong root, the wrong purpose
	[[ $kt == ec-p256 ]] || return 0
	it_expect_fail 2 "" openssl verify -CAfile other.pem "$cert" >/dev/null
	it_expect_fail 1 "" "$HSMCA_GO_VERIFY" --roots other.pem "$cert" >/dev/null
	if [[ $ekus == clientAuth ]]; then
		go_refuses "incompatible key usage" --roots "$ROOT" --eku server "$cert"
	elif [[ $ekus == serverAuth ]]; then
		go_refuses "incompatible key usage" --roots "$ROOT" --eku client "$cert"
	fi
}

# profile | CSR subject | CSR subjectAltName (-addext) | sign args | CN | O (comma) | EKU | DNS SANs | IP SANs
# Subjects and SANs follow what `kubeadm certs generate-csr` and talosctl put
# into their CSRs; the profile decides the rest.
CASES=$(
	cat <<'EOF'
talos-admin|/CN=admin/O=os:admin|||admin|os:admin|clientAuth||
talos-operator|/CN=operator|||operator|os:operator|clientAuth||
talos-reader|/CN=reader/O=os:reader|||reader|os:reader|clientAuth||
talos-etcd-backup|/CN=backup|||backup|os:etcd:backup|clientAuth||
kube-admin|/CN=kubernetes-super-admin/O=system:masters|||kubernetes-super-admin|system:masters|clientAuth||
kube-user|/CN=placeholder||--subject CN=alice,O=dev,O=ops|alice|dev,ops|clientAuth||
server|/CN=srv.example.test||--san DNS:srv.example.test --san IP:127.0.0.1|srv.example.test||serverAuth|srv.example.test|127.0.0.1
client|/CN=svc-client/O=team-a|||svc-client|team-a|clientAuth||
kube-apiserver|/CN=kube-apiserver|subjectAltName=DNS:cp1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1,IP:192.0.2.10||kube-apiserver||serverAuth|cp1,kubernetes,kubernetes.default,kubernetes.default.svc,kubernetes.default.svc.cluster.local|10.96.0.1,192.0.2.10
kube-apiserver-kubelet-client|/CN=kube-apiserver-kubelet-client/O=kubeadm:cluster-admins|||kube-apiserver-kubelet-client|kubeadm:cluster-admins|clientAuth||
front-proxy-client|/CN=front-proxy-client|||front-proxy-client||clientAuth||
kube-apiserver-etcd-client|/CN=kube-apiserver-etcd-client|||kube-apiserver-etcd-client||clientAuth||
etcd-server|/CN=cp1|subjectAltName=DNS:cp1,DNS:localhost,IP:192.0.2.10,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1||cp1||serverAuth,clientAuth|cp1,localhost|192.0.2.10,127.0.0.1,::1
etcd-peer|/CN=cp1|subjectAltName=DNS:cp1,DNS:localhost,IP:192.0.2.10,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1||cp1||serverAuth,clientAuth|cp1,localhost|192.0.2.10,127.0.0.1,::1
etcd-healthcheck-client|/CN=kube-etcd-healthcheck-client|||kube-etcd-healthcheck-client||clientAuth||
kube-controller-manager|/CN=system:kube-controller-manager|||system:kube-controller-manager||clientAuth||
kube-scheduler|/CN=system:kube-scheduler|||system:kube-scheduler||clientAuth||
kubelet-client|/CN=system:node:worker-1/O=system:nodes|||system:node:worker-1|system:nodes|clientAuth||
EOF
)
# jlist "a,b" -> ["a","b"] (values here hold no quotes or backslashes)
jlist() {
	local IFS=, out='' v
	for v in $1; do
		[[ -n $v ]] && out+="${out:+,}\"$v\""
	done
	printf '[%s]' "$out"
}
# Field checks are collected and run in one process at the end of each pass.
run_checks() { # FILE
	local line rc=0
	"${CHECK[@]}" --batch "$1" >"$1.out" || rc=$?
	while read -r line; do
		case $line in
		OK\ *) it_pass "fields: ${line#OK }" ;;
		*) it_fail "fields: ${line#BAD }" || true ;;
		esac
	done <"$1.out"
	[[ $(wc -l <"$1.out") == $(wc -l <"$1") ]] || it_fail "certcheck stopped early (exit $rc)"
}
tested=()
: >checks.tsv
for kt in ec-p256 ec-p384 ed25519 rsa-2048; do
	while IFS='|' read -r prof subj addext signargs cn o eku dns ip; do
		csr=$prof-$kt.csr crt=$prof-$kt.crt
		args=(-new -key "key-$kt.pem" -subj "$subj" -out "$csr")
		[[ -n $addext ]] && args+=(-addext "$addext")
		openssl req "${args[@]}" 2>/dev/null
		# shellcheck disable=SC2086 # signargs are words without spaces
		it_ok "$HSMCA" sign root --csr "$csr" --profile "$prof" --out "$crt" $signargs >/dev/null
		ku='"digitalSignature"'
		[[ $kt == rsa-* ]] && ku+=',"keyEncipherment"'
		printf '%s\t%s\t{"cn":"%s","o":%s,"eku":%s,"ku":[%s],"ca":false,"dns":%s,"ip":%s,"uri":[],"email":[],"validity_days":365,"key":"%s"}\n' \
			"$crt" "$ROOT" "$cn" "$(jlist "$o")" "$(jlist "$eku")" "$ku" "$(jlist "$dns")" \
			"$(jlist "$ip")" "${GOKEY[$kt]}" >>checks.tsv
		first=${dns%%,*}
		[[ -z $first ]] && first=${ip%%,*}
		verify_all "$crt" "$eku" "$first" "$kt"
		tested+=("$prof")
	done <<<"$CASES"
done
run_checks checks.tsv
# Every built-in except intermediate-ca went through the loop above.
covered=$(printf '%s\n' "${tested[@]}" intermediate-ca | sort -u | tr '\n' ' ')
it_assert_eq "${names} " "$covered" "every built-in profile was issued and checked"

# RSA: the leaf's KU must say keyEncipherment, the EC leaf's must not (also
# seen by OpenSSL, not only by Go).
openssl x509 -in kube-apiserver-rsa-2048.crt -noout -ext keyUsage >ku-rsa.txt
openssl x509 -in kube-apiserver-ec-p256.crt -noout -ext keyUsage >ku-ec.txt
it_assert_contains "$(cat ku-rsa.txt)" "Key Encipherment" "RSA leaf: keyEncipherment (openssl)"
if grep -q "Key Encipherment" ku-ec.txt; then
	it_fail "EC leaf carries keyEncipherment"
else
	it_pass "EC leaf: no keyEncipherment (openssl)"
fi

# The public key in the certificate is the CSR's, byte for byte.
for kt in ec-p256 ec-p384 ed25519 rsa-2048; do
	openssl req -in "client-$kt.csr" -noout -pubkey >pub-csr.pem
	openssl x509 -in "client-$kt.crt" -noout -pubkey >pub-crt.pem
	it_ok cmp pub-csr.pem pub-crt.pem
done

# Serials are distinct over everything issued above, and each is recorded.
serials=$(for f in *-ec-p256.crt *-ec-p384.crt *-ed25519.crt *-rsa-2048.crt; do
	openssl x509 -in "$f" -noout -serial
done | sort)
it_assert_eq "$(wc -l <<<"$serials")" "$(sort -u <<<"$serials" | wc -l)" "all serials distinct"
for f in kubelet-client-ed25519.crt etcd-server-ec-p384.crt; do
	s=$(openssl x509 -in "$f" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
	it_ok grep -q "\"serial\":\"$s\"" "$HSMCA_HOME/cas/root/issued.jsonl"
done

# --- intermediate-ca ---------------------------------------------------------
openssl req -new -key key-rsa-2048.pem -subj "/CN=Sub RSA2048" -out int-rsa2048.csr
it_expect_fail 1 "RSA-3072" "$HSMCA" sign root --csr int-rsa2048.csr --profile intermediate-ca --out x.crt
for kt in rsa-3072 ec-p384 ec-p256; do
	openssl req -new -key "key-$kt.pem" -subj "/CN=Issuing CA $kt/O=hsmca test" \
		-addext basicConstraints=critical,CA:TRUE -out "int-$kt.csr"
	it_ok "$HSMCA" sign root --csr "int-$kt.csr" --profile intermediate-ca --out "int-$kt.crt" >/dev/null
	it_ok "${CHECK[@]}" "int-$kt.crt" "$ROOT" "{\"cn\":\"Issuing CA $kt\",\"o\":[\"hsmca test\"],\"eku\":[],
		\"ku\":[\"keyCertSign\",\"cRLSign\"],\"ca\":true,\"path_len\":0,\"key\":\"${GOKEY[$kt]}\"}" >/dev/null
	it_ok openssl verify -x509_strict -CAfile "$ROOT" "int-$kt.crt" >/dev/null
	it_ok certtool --verify --verify-profile=medium --load-ca-certificate "$ROOT" --infile "int-$kt.crt" >/dev/null
	it_ok "$HSMCA_GO_VERIFY" --roots "$ROOT" "int-$kt.crt" >/dev/null
done
openssl x509 -in int-ec-p256.crt -noout -ext basicConstraints,keyUsage >int-ext.txt
it_assert_contains "$(tr -s ' \n' ' ' <int-ext.txt)" "critical CA:TRUE, pathlen:0" "intermediate: BC critical CA:TRUE pathlen:0 (openssl)"
it_assert_contains "$(tr -s ' \n' ' ' <int-ext.txt)" "Certificate Sign, CRL Sign" "intermediate: keyCertSign + cRLSign (openssl)"

# A leaf signed by the intermediate's key (held by openssl, not hsmca).
cat >leaf.ext <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:leaf.example.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
newkey ec-p256 leaf.key
openssl req -new -key leaf.key -subj /CN=leaf.example.test -out leaf.csr
openssl x509 -req -in leaf.csr -CA int-ec-p256.crt -CAkey key-ec-p256.pem -CAcreateserial \
	-days 30 -extfile leaf.ext -out leaf.crt 2>/dev/null
cat leaf.crt int-ec-p256.crt >leaf-chain.pem
it_ok openssl verify -x509_strict -purpose sslserver -CAfile "$ROOT" -untrusted int-ec-p256.crt leaf.crt >/dev/null
it_ok certtool --verify --verify-profile=medium --verify-purpose=$EKU_SERVER \
	--load-ca-certificate "$ROOT" --infile leaf-chain.pem >/dev/null
it_ok "$HSMCA_GO_VERIFY" --roots "$ROOT" --intermediates int-ec-p256.crt --eku server \
	--dns leaf.example.test leaf.crt >/dev/null
# without the intermediate, no chain
it_expect_fail 2 "" openssl verify -CAfile "$ROOT" leaf.crt
it_expect_fail 1 "" "$HSMCA_GO_VERIFY" --roots "$ROOT" leaf.crt

# pathLen 0: a CA under the intermediate makes every chain through it invalid.
cat >sub.ext <<'EOF'
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
newkey ec-p256 sub.key
openssl req -new -key sub.key -subj "/CN=Too Deep CA" -out sub.csr
openssl x509 -req -in sub.csr -CA int-ec-p256.crt -CAkey key-ec-p256.pem -CAcreateserial \
	-days 30 -extfile sub.ext -out sub.crt 2>/dev/null
openssl x509 -req -in leaf.csr -CA sub.crt -CAkey sub.key -CAcreateserial \
	-days 30 -extfile leaf.ext -out deep-leaf.crt 2>/dev/null
cat int-ec-p256.crt sub.crt >deep-untrusted.pem
it_expect_fail 2 "path length" openssl verify -CAfile "$ROOT" -untrusted deep-untrusted.pem deep-leaf.crt
it_expect_fail 1 "" "$HSMCA_GO_VERIFY" --roots "$ROOT" --intermediates deep-untrusted.pem deep-leaf.crt

# --- issuers of every key type ---------------------------------------------------
# The root above is P-256; the same leaf from roots of the other key types a
# ceremony accepts (P-384, Ed25519, RSA-3072 PKCS#1 v1.5 and PSS).
for rk in ec-p384 ed25519 rsa-3072 rsa-3072-pss; do
	args=(--key-type "${rk%-pss}" --subject "CN=Root $rk,O=hsmca test")
	[[ $rk == *-pss ]] && args+=(--rsa-pss)
	it_ok "$HSMCA" ca init "root-$rk" "${args[@]}" >/dev/null
	r=$HSMCA_HOME/cas/root-$rk/ca.pem
	it_ok "$HSMCA" sign "root-$rk" --csr etcd-server-ec-p256.csr --profile etcd-server \
		--out "leaf-by-$rk.crt" >/dev/null
	it_ok "${CHECK[@]}" "leaf-by-$rk.crt" "$r" '{"cn":"cp1","eku":["serverAuth","clientAuth"],
		"ku":["digitalSignature"],"dns":["cp1","localhost"],"ip":["192.0.2.10","127.0.0.1","::1"],
		"validity_days":365}' >/dev/null
	it_ok openssl verify -x509_strict -purpose sslserver -CAfile "$r" "leaf-by-$rk.crt" >/dev/null
	it_ok certtool --verify --verify-profile=medium --verify-purpose=$EKU_SERVER \
		--load-ca-certificate "$r" --infile "leaf-by-$rk.crt" >/dev/null
	it_ok "$HSMCA_GO_VERIFY" --roots "$r" --eku server --dns localhost "leaf-by-$rk.crt" >/dev/null
	it_ok "$HSMCA_GO_VERIFY" --roots "$r" --eku client "leaf-by-$rk.crt" >/dev/null
done

# --- custom profiles -----------------------------------------------------------
mkdir -p "$HSMCA_HOME/profiles"
cat >"$HSMCA_HOME/profiles/web.yaml" <<'EOF'
version: 1
name: web
description: "public web servers, 90 days at most"
key_usage: [digitalSignature]
extended_key_usage: [serverAuth]
validity: {max: 90d, default: 30d}
san: {allowed: [dns], required: true}
subject: {o: [Example Web]}
EOF
cat >"$HSMCA_HOME/profiles/team-ca.yaml" <<'EOF'
version: 1
name: team-ca
ca: {path_len: 1}
key_usage: [keyCertSign, cRLSign, digitalSignature]
validity: {max: 3y}
EOF
"$HSMCA" --json profiles list >profiles2.json
it_assert_contains "$("$IT_PYTHON" -c 'import json,sys; print(" ".join(p["name"] for p in json.load(open(sys.argv[1]))))' profiles2.json)" \
	"web" "profiles list shows the custom profile"
show=$(it_ok "$HSMCA" profiles show web)
it_assert_contains "$show" "max 90 days" "profiles show web: max 90 days"
openssl req -new -key key-ec-p256.pem -subj "/CN=www.example.test" -out web.csr
it_ok "$HSMCA" sign root --csr web.csr --profile web --san DNS:www.example.test --out web.crt >/dev/null
it_ok "${CHECK[@]}" web.crt "$ROOT" '{"cn":"www.example.test","o":["Example Web"],"eku":["serverAuth"],
	"ku":["digitalSignature"],"dns":["www.example.test"],"validity_days":30}' >/dev/null
verify_all web.crt serverAuth www.example.test
it_ok "$HSMCA" sign root --csr web.csr --profile web --san DNS:www.example.test --validity 90d --out web90.crt >/dev/null
it_ok "${CHECK[@]}" web90.crt "$ROOT" '{"cn":"www.example.test","dns":["www.example.test"],"validity_days":90}' >/dev/null
it_expect_fail 1 "maximum of 90 days" "$HSMCA" sign root --csr web.csr --profile web --san DNS:www.example.test --validity 91d
it_expect_fail 1 "IP SAN" "$HSMCA" sign root --csr web.csr --profile web --san DNS:a.test --san IP:192.0.2.1
it_expect_fail 1 "SAN" "$HSMCA" sign root --csr web.csr --profile web
openssl req -new -key key-ec-p384.pem -subj "/CN=Team CA" -out team.csr
it_ok "$HSMCA" sign root --csr team.csr --profile team-ca --validity 2y --out team.crt >/dev/null
it_ok "${CHECK[@]}" team.crt "$ROOT" '{"cn":"Team CA","ca":true,"path_len":1,
	"ku":["digitalSignature","keyCertSign","cRLSign"],"eku":[],"validity_days":730}' >/dev/null
it_ok "$HSMCA_GO_VERIFY" --roots "$ROOT" team.crt >/dev/null

# The whole lifetime (notAfter - notBefore) stays within the profile's
# maximum, also when notBefore is back-dated for clock skew: with the clock
# an hour after the root's creation, nothing clamps notBefore to the root.
lifetime() { # CERT -> seconds
	local nb na
	nb=$(date -u -d "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)" +%s)
	na=$(date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s)
	echo $((na - nb))
}
later=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
HSMCA_NOW=$later it_ok "$HSMCA" sign root --csr web.csr --profile web --san DNS:www.example.test \
	--validity 90d --out web-life.crt >/dev/null
life=$(lifetime web-life.crt)
if ((life <= 90 * 86400)); then
	it_pass "web --validity 90d: lifetime ${life}s <= 90 days"
else
	it_fail "web --validity 90d: lifetime is 90 days + $((life - 90 * 86400))s, more than the profile's maximum" || true
fi
HSMCA_NOW=$later it_ok "$HSMCA" sign root --csr probe.csr --profile client --out client-life.crt >/dev/null
life=$(lifetime client-life.crt)
if ((life <= 365 * 86400)); then
	it_pass "client (default 365d): lifetime ${life}s <= 365 days"
else
	it_fail "client (default 365d): lifetime is 365 days + $((life - 365 * 86400))s, more than the profile's maximum" || true
fi

# Strict parsing: an unknown key is an error naming file:line, and nothing is
# issued with it.
cat >"$HSMCA_HOME/profiles/typo.yaml" <<'EOF'
version: 1
name: typo
key_usage: [digitalSignature]
extended_key_usage: [serverAuth]
validity: {max: 30d}
san: {allowed: [dns], requried: true}
EOF
it_expect_fail 1 "typo.yaml:6" "$HSMCA" sign root --csr web.csr --profile typo --san DNS:a.test
it_expect_fail 1 "typo.yaml:6" "$HSMCA" profiles list
rm "$HSMCA_HOME/profiles/typo.yaml"

# A custom profile named like a built-in is refused — by every command that
# could read it, not silently replaced by the built-in for some and an error
# for others.
sed 's/^name: web$/name: server/' "$HSMCA_HOME/profiles/web.yaml" >"$HSMCA_HOME/profiles/server.yaml"
it_expect_fail 1 "shadow" "$HSMCA" profiles list
it_expect_fail 1 "server.yaml" "$HSMCA" profiles show server || true
lines_before=$(wc -l <"$HSMCA_HOME/cas/root/issued.jsonl")
it_expect_fail 1 "server.yaml" "$HSMCA" sign root --csr web.csr --profile server \
	--san DNS:www.example.test --out shadow.crt || true
it_assert_eq "$lines_before" "$(wc -l <"$HSMCA_HOME/cas/root/issued.jsonl")" \
	"nothing issued under a shadowed profile name" || true
rm "$HSMCA_HOME/profiles/server.yaml"

it_summary
