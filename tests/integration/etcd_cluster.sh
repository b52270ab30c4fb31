#!/usr/bin/env bash
# Issue 3, item 2 (second half): a 3-member etcd cluster (Debian's
# etcd-server 3.4) on 127.0.0.1 with --client-cert-auth and
# --peer-client-cert-auth, every certificate issued by hsmca from a CSR:
# etcd-server and etcd-peer per member (SANs IP:127.0.0.1, DNS:localhost),
# etcd-healthcheck-client and kube-apiserver-etcd-client for clients.
# Shown: the members form a cluster over mTLS peer links; etcdctl with the
# hsmca client certificate can put on one member and get on another; a
# client certificate from another CA, and no client certificate, cannot (and
# the member logs the TLS refusal); the peer port, too, accepts an hsmca peer
# certificate and refuses the other CA's.
# Members are started and stopped by PID; every wait is bounded.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"

it_setup
cd "$WORK"
ETCD=$(command -v etcd || true)
ETCDCTL=$(command -v etcdctl || true)
[[ -x $ETCD && -x $ETCDCTL ]] || _it_die "etcd and etcdctl are needed (apt-get install etcd-server etcd-client)"

it_ok "$HSMCA" init --softhsm >/dev/null
it_ok "$HSMCA" ca init etcd-ca --key-type ec-p256 --subject "CN=etcd-ca,O=hsmca test" >/dev/null
CA=$HSMCA_HOME/cas/etcd-ca/ca.pem

csr() { # NAME SUBJ
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
	openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
}
for m in m1 m2 m3; do
	for kind in server peer; do
		csr "$m-$kind" "/CN=$m"
		it_ok "$HSMCA" sign etcd-ca --csr "$m-$kind.csr" --profile "etcd-$kind" \
			--san IP:127.0.0.1 --san DNS:localhost --out "$m-$kind.crt" >/dev/null
	done
done
csr healthcheck /CN=kube-etcd-healthcheck-client
it_ok "$HSMCA" sign etcd-ca --csr healthcheck.csr --profile etcd-healthcheck-client --out healthcheck.crt >/dev/null
csr apiserver /CN=kube-apiserver-etcd-client
it_ok "$HSMCA" sign etcd-ca --csr apiserver.csr --profile kube-apiserver-etcd-client --out apiserver.crt >/dev/null

# Another CA (openssl) with a client certificate of the same name, and a
# peer certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other-ca.key \
	-subj "/CN=etcd-ca/O=hsmca test" -days 30 -out other-ca.pem 2>/dev/null
for r in rogue-client:/CN=kube-etcd-healthcheck-client:clientAuth rogue-peer:/CN=m4:serverAuth,clientAuth; do
	IFS=: read -r name subj eku <<<"$r"
	csr "$name" "$subj"
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' \
		"$eku" >"$name.ext"
	openssl x509 -req -in "$name.csr" -CA other-ca.pem -CAkey other-ca.key -CAcreateserial \
		-days 30 -extfile "$name.ext" -out "$name.crt" 2>/dev/null
done

# --- the cluster ------------------------------------------------------------------
mapfile -t PORTS < <(it_free_port 6)
declare -A CPORT PPORT PID
i=0
for m in m1 m2 m3; do
	CPORT[$m]=${PORTS[i]} PPORT[$m]=${PORTS[i + 3]}
	i=$((i + 1))
done
CLUSTER="m1=https://127.0.0.1:${PPORT[m1]},m2=https://127.0.0.1:${PPORT[m2]},m3=https://127.0.0.1:${PPORT[m3]}"
ENDPOINTS="https://127.0.0.1:${CPORT[m1]},https://127.0.0.1:${CPORT[m2]},https://127.0.0.1:${CPORT[m3]}"
mkdir -m 0700 etcd
for m in m1 m2 m3; do
	"$ETCD" --name "$m" --data-dir "etcd/$m" --logger zap --log-outputs stderr \
		--listen-client-urls "https://127.0.0.1:${CPORT[$m]}" \
		--advertise-client-urls "https://127.0.0.1:${CPORT[$m]}" \
		--listen-peer-urls "https://127.0.0.1:${PPORT[$m]}" \
		--initial-advertise-peer-urls "https://127.0.0.1:${PPORT[$m]}" \
		--initial-cluster "$CLUSTER" --initial-cluster-state new \
		--initial-cluster-token hsmca-test \
		--cert-file "$m-server.crt" --key-file "$m-server.key" \
		--trusted-ca-file "$CA" --client-cert-auth \
		--peer-cert-file "$m-peer.crt" --peer-key-file "$m-peer.key" \
		--peer-trusted-ca-file "$CA" --peer-client-cert-auth \
		>"etcd/$m.log" 2>&1 </dev/null &
	PID[$m]=$!
	it_register_pid "${PID[$m]}"
done

ctl() { # CERT-NAME ENDPOINTS etcdctl-args...: etcdctl with bounded timeouts
	local c=$1 ep=$2
	shift 2
	local args=(--endpoints "$ep" --cacert "$CA" --dial-timeout=3s --command-timeout=3s)
	[[ -n $c ]] && args+=(--cert "$c.crt" --key "$c.key")
	timeout 20 "$ETCDCTL" "${args[@]}" "$@"
}

# Wait (at most 30 s) until all three members report healthy.
healthy=0
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
	if ctl healthcheck "$ENDPOINTS" endpoint health --cluster >health.out 2>&1 &&
		[[ $(grep -c 'is healthy' health.out) == 3 ]]; then
		healthy=1
		break
	fi
	for m in m1 m2 m3; do
		kill -0 "${PID[$m]}" 2>/dev/null || break 2
	done
	sleep 0.5
done
if ((healthy)); then
	it_pass "3 etcd members healthy over mTLS with hsmca certificates (client and peer cert auth)"
else
	it_fail "etcd cluster not healthy within 30 s: $(cat health.out)" || true
	for m in m1 m2 m3; do tail -5 "etcd/$m.log" >&2; done
	it_summary
fi
members=$(ctl healthcheck "$ENDPOINTS" member list -w simple)
it_assert_eq 3 "$(grep -c started <<<"$members")" "member list: 3 started members"

# --- clients ----------------------------------------------------------------------------
it_assert_eq OK "$(ctl healthcheck "https://127.0.0.1:${CPORT[m1]}" put /hsmca/test value-1)" \
	"etcdctl put with the hsmca etcd-healthcheck-client certificate (member m1)"
it_assert_eq "$(printf '/hsmca/test\nvalue-1')" \
	"$(ctl healthcheck "https://127.0.0.1:${CPORT[m3]}" get /hsmca/test)" \
	"etcdctl get on member m3 returns it (replicated over hsmca peer certificates)"
it_assert_eq OK "$(ctl apiserver "https://127.0.0.1:${CPORT[m2]}" put /hsmca/apiserver value-2)" \
	"etcdctl put with the hsmca kube-apiserver-etcd-client certificate (member m2)"

rejected_before=$(cat etcd/m1.log etcd/m2.log etcd/m3.log | grep -c 'rejected connection' || true)
it_expect_fail 1 "" ctl rogue-client "https://127.0.0.1:${CPORT[m1]}" put /hsmca/rogue evil
it_expect_fail 1 "" ctl "" "https://127.0.0.1:${CPORT[m2]}" put /hsmca/nocert evil
rejected_after=$(cat etcd/m1.log etcd/m2.log etcd/m3.log | grep -c 'rejected connection' || true)
if ((rejected_after > rejected_before)); then
	it_pass "the members logged the TLS refusals ($((rejected_after - rejected_before)) rejected connections)"
else
	it_fail "no 'rejected connection' in the member logs" || true
fi
it_assert_contains "$(cat etcd/m1.log)" "unknown authority" "m1: the other CA's client certificate is unknown to it"
got=$(ctl healthcheck "$ENDPOINTS" get --prefix /hsmca/ --keys-only | grep -v '^$' | tr '\n' ' ')
it_assert_eq "/hsmca/apiserver /hsmca/test " "$got" "nothing was written by the refused clients"

# --- the peer port -----------------------------------------------------------------------
# etcd serves /members on its peer URLs; with --peer-client-cert-auth only
# a certificate of the peer CA gets an answer.
code=$(curl -sS --http1.1 -o members.json -w '%{http_code}' --max-time 5 --cacert "$CA" \
	--cert m2-peer.crt --key m2-peer.key "https://127.0.0.1:${PPORT[m1]}/members" || true)
it_assert_eq 200 "$code" "peer port of m1 answers an hsmca etcd-peer certificate"
it_assert_contains "$(cat members.json)" "\"name\":\"m3\"" "  ... with the member list"
if curl -s --http1.1 -o /dev/null --max-time 5 --cacert "$CA" --cert rogue-peer.crt --key rogue-peer.key \
	"https://127.0.0.1:${PPORT[m1]}/members"; then
	it_fail "peer port of m1 answered a peer certificate from another CA" || true
else
	it_pass "peer port of m1 refuses a peer certificate from another CA"
fi
if curl -s --http1.1 -o /dev/null --max-time 5 --cacert "$CA" "https://127.0.0.1:${PPORT[m1]}/members"; then
	it_fail "peer port of m1 answered without a client certificate" || true
else
	it_pass "peer port of m1 refuses a connection without certificate"
fi

# --- stop by PID --------------------------------------------------------------------------
for m in m1 m2 m3; do
	if it_kill_pid "${PID[$m]}" 10; then
		it_pass "etcd $m (pid ${PID[$m]}) stopped"
	else
		it_fail "etcd $m (pid ${PID[$m]}) did not stop" || true
	fi
done

it_summary
