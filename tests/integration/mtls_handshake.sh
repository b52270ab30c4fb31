#!/usr/bin/env bash
# Issue 3, item 2 (first half): real TLS with mutual authentication between
# `openssl s_server -Verify 1 -verify_return_error` and `openssl s_client`,
# every certificate issued by hsmca from a CSR (server: profile `server` with
# IP:127.0.0.1 and DNS:localhost; clients: `client`, `talos-admin` with an
# Ed25519 key, `kube-admin` with RSA-2048), over TLS 1.2 and TLS 1.3. Refused:
# a client certificate signed by another (openssl-made) CA, a client without
# a certificate, an hsmca certificate without clientAuth (profile `server`)
# used as a client certificate, and — on the client side — the hsmca server
# when the client trusts only the other CA.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"

it_setup
cd "$WORK"
it_ok "$HSMCA" init --softhsm >/dev/null
it_ok "$HSMCA" ca init root --key-type ec-p256 --subject "CN=mTLS Root,O=hsmca test" >/dev/null
ROOT=$HSMCA_HOME/cas/root/ca.pem

csr() { # NAME KEYALG SUBJ
	case $2 in
	ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" ;;
	ed25519) openssl genpkey -algorithm ED25519 -out "$1.key" ;;
	rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key" ;;
	esac 2>/dev/null
	openssl req -new -key "$1.key" -subj "$3" -out "$1.csr"
}
csr server ec /CN=localhost
it_ok "$HSMCA" sign root --csr server.csr --profile server --san IP:127.0.0.1 --san DNS:localhost \
	--out server.crt >/dev/null
csr client ec /CN=svc-client
it_ok "$HSMCA" sign root --csr client.csr --profile client --out client.crt >/dev/null
csr admin ed25519 "/CN=admin/O=os:admin"
it_ok "$HSMCA" sign root --csr admin.csr --profile talos-admin --out admin.crt >/dev/null
csr kadmin rsa "/CN=kubernetes-super-admin/O=system:masters"
it_ok "$HSMCA" sign root --csr kadmin.csr --profile kube-admin --out kadmin.crt >/dev/null
# An hsmca certificate without clientAuth.
csr srvonly ec /CN=not-a-client
it_ok "$HSMCA" sign root --csr srvonly.csr --profile server --san DNS:not-a-client.test \
	--out srvonly.crt >/dev/null

# Another CA, made by openssl, and a client certificate from it that looks
# like ours in every other respect.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other-ca.key \
	-subj "/CN=mTLS Root/O=hsmca test" -days 30 -out other-ca.pem 2>/dev/null
csr rogue ec /CN=svc-client
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >rogue.ext
openssl x509 -req -in rogue.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial -days 30 \
	-extfile rogue.ext -out rogue.crt 2>/dev/null

PORT=$(it_free_port 1)
openssl s_server -accept "127.0.0.1:$PORT" -Verify 1 -verify_return_error -CAfile "$ROOT" \
	-cert server.crt -key server.key -rev >server.log 2>&1 </dev/null &
SERVER=$!
it_register_pid "$SERVER"
# Wait (bounded) until it listens.
up=0
for ((i = 0; i < 100; i++)); do
	if grep -q ACCEPT server.log 2>/dev/null; then up=1 && break; fi
	kill -0 "$SERVER" 2>/dev/null || break
	sleep 0.1
done
it_assert_eq 1 "$up" "s_server is listening on 127.0.0.1:$PORT"

# handshake NAME CERT KEY CA [s_client options...]: one line over mTLS; the
# client's transcript is left in NAME.out; exit 0 only when the server
# answered it (s_server -rev sends the line reversed, which it does only after
# the whole handshake, including the client certificate's verification,
# succeeded; "CLOSE" makes it end the connection).
handshake() {
	local name=$1 cert=$2 key=$3 ca=$4
	shift 4
	local args=(-connect "127.0.0.1:$PORT" -CAfile "$ca" -verify_return_error
		-verify_ip 127.0.0.1 -servername localhost -ign_eof "$@")
	[[ -n $cert ]] && args+=(-cert "$cert" -key "$key")
	printf 'hello-%s\nCLOSE\n' "$name" | timeout 15 openssl s_client "${args[@]}" >"$name.out" 2>&1 || true
	grep -qF -- "$(rev <<<"hello-$name")" "$name.out"
}

for tls in -tls1_2 -tls1_3; do
	for c in client admin kadmin; do
		if handshake "ok-$c$tls" "$c.crt" "$c.key" "$ROOT" "$tls"; then
			it_pass "mTLS $tls: hsmca server + hsmca $c certificate: handshake and echo"
		else
			it_fail "mTLS $tls with $c.crt: $(tail -5 "ok-$c$tls.out")" || true
		fi
		it_assert_contains "$(cat "ok-$c$tls.out")" "Verify return code: 0 (ok)" \
			"  ... and the client verified the hsmca server certificate"
	done
done
# The server saw and verified the client certificates' subjects.
it_assert_contains "$(cat server.log)" "Peer certificate: O = os:admin, CN = admin" \
	"s_server verified the talos-admin client certificate"
it_assert_contains "$(cat server.log)" "Peer certificate: O = system:masters, CN = kubernetes-super-admin" \
	"s_server verified the kube-admin client certificate"

for tls in -tls1_2 -tls1_3; do
	if handshake "rogue$tls" rogue.crt rogue.key "$ROOT" "$tls"; then
		it_fail "mTLS $tls: a client certificate from another CA was accepted" || true
	else
		it_pass "mTLS $tls: client certificate from another CA refused"
	fi
	if handshake "nocert$tls" "" "" "$ROOT" "$tls"; then
		it_fail "mTLS $tls: a client without certificate was accepted" || true
	else
		it_pass "mTLS $tls: client without certificate refused"
	fi
	if handshake "srvonly$tls" srvonly.crt srvonly.key "$ROOT" "$tls"; then
		it_fail "mTLS $tls: a serverAuth-only certificate was accepted as a client certificate" || true
	else
		it_pass "mTLS $tls: serverAuth-only hsmca certificate refused as a client certificate"
	fi
	# The client side: trusting only the other CA, our server is refused.
	if handshake "wrongca$tls" client.crt client.key other-ca.pem "$tls"; then
		it_fail "mTLS $tls: the client accepted the hsmca server while trusting another CA" || true
	else
		it_pass "mTLS $tls: client trusting another CA refuses the hsmca server"
	fi
done
# ... each for its own reason, as the server logged it (once per TLS version).
it_assert_eq 2 "$(grep -c 'unable to get local issuer certificate' server.log)" \
	"s_server: the other CA's client certificate has no issuer it trusts"
it_assert_eq 2 "$(grep -c 'unsuitable certificate purpose' server.log)" \
	"s_server: the serverAuth-only certificate is unsuitable as a client certificate"
it_assert_eq 2 "$(grep -c 'peer did not return a certificate' server.log)" \
	"s_server: the client without certificate was refused for that"
it_assert_eq 2 "$(grep -c 'alert unknown ca' server.log)" \
	"s_server: the client trusting another CA sent 'unknown ca'"
# The server is still up after the refusals and still serves a good client.
if handshake "after" client.crt client.key "$ROOT"; then
	it_pass "after the refusals, a good client still gets through"
else
	it_fail "after the refusals the good client failed: $(tail -5 after.out)" || true
fi
if kill -0 "$SERVER" 2>/dev/null; then
	it_pass "s_server still running"
else
	it_fail "s_server died" || true
fi
it_kill_pid "$SERVER" 5

it_summary
