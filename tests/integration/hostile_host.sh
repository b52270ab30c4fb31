#!/usr/bin/env bash
# hsmca on a shared host with a hostile local user (issue 11, items 1 and 2):
# - StrictModes: a state directory, hsmca.yaml, token store, PIN, journal or
#   record another user could write is refused by every command, naming the
#   path and the fix; `init` refuses such a directory; a 0666 PIN file is
#   refused; the module-swap attack (hsmca.yaml pointed at a spy module that
#   would be handed the PIN) never loads the spy.
# - One safe writer: a planted symbolic link at an output path and
#   pre-created temporary names change nothing outside the intended output
#   and receive nothing; the output has its final mode from creation.
# Ownership cases chown to `nobody` and need root; without root they are
# reported as not run (never as passes).
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"

it_setup
cd "$WORK"
H=$HSMCA_HOME
ROOT=0
[[ $(id -u) == 0 ]] && ROOT=1
NOBODY=$(id -u nobody 2>/dev/null || echo 65534)
not_run() { printf 'NOT RUN (needs root): %s\n' "$*" >&2; }

csr() { # csr NAME CN
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
		-subj "/CN=$2" -out "$1.csr" 2>/dev/null
}

it_ok "$HSMCA" init --softhsm >/dev/null
it_ok "$HSMCA" ca init root --key-type ec-p256 --subject "CN=Hostile Host Root" >/dev/null
csr a alice
it_ok "$HSMCA" sign root --csr a.csr --profile client --out a.pem >/dev/null
mkdir -p csrs out
cp a.csr csrs/

# Every command that reads the state directory (usage errors aside).
every_command() {
	cat <<EOF
key list
ca list
ca show root
sign root --csr $WORK/a.csr --profile client --out $WORK/x.pem
issue root --profile client --csr-dir $WORK/csrs --out-dir $WORK/out
profiles list
certs list root
revoke root 01
crl root --out $WORK/x.crl
check
audit verify
rotate status
token list
EOF
}

# refused_by_all WHAT NEEDLE: every command exits 1 naming NEEDLE.
refused_by_all() {
	local what=$1 needle=$2 line n=0 bad=0
	while read -r line; do
		n=$((n + 1))
		# `check` exits 3 when it could not run at all (hsmca(1)); every
		# other command exits 1 for a refusal.
		local want=1
		[[ "$line" == check ]] && want=3
		# shellcheck disable=SC2086
		it_expect_fail "$want" "$needle" "$HSMCA" $line || bad=$((bad + 1))
	done < <(every_command)
	((bad == 0)) && it_pass "$what: all $n commands refuse" || it_fail "$what: $bad of $n accepted"
}

# --- 1. StrictModes on the state directory --------------------------------
chmod 0777 "$H"
refused_by_all "state directory mode 0777" "$H is writable by group or others (mode 0777)"
it_expect_fail 1 "fix: chmod go-w $H)" "$HSMCA" key list
chmod 0700 "$H"
it_ok "$HSMCA" key list >/dev/null

chmod 0666 "$H/hsmca.yaml"
refused_by_all "hsmca.yaml mode 0666" "$H/hsmca.yaml is writable by group or others"
chmod 0644 "$H/hsmca.yaml"

for rel in tokens pins/user.pin softhsm2.conf cas/root/issued.jsonl audit.log; do
	m=$(stat -c %a "$H/$rel")
	chmod g+w "$H/$rel"
	it_expect_fail 1 "$H/$rel is writable by group or others" "$HSMCA" certs list root
	chmod "$m" "$H/$rel"
done
tok=$(find "$H/tokens" -mindepth 1 -maxdepth 1 -type d | head -1)
chmod 0777 "$tok"
it_expect_fail 1 "$tok is writable by group or others" "$HSMCA" key list
chmod 0700 "$tok"

# A parent directory others can write: they could rename the state directory
# away and put their own in its place.
wmode=$(stat -c %a "$WORK")
chmod 0777 "$WORK"
it_expect_fail 1 "$WORK is writable by group or others" "$HSMCA" key list
# A sticky one owned by root (a /tmp) is accepted: nobody but us may rename
# or remove our entry in it.
if ((ROOT)); then
	chmod 1777 "$WORK"
	it_ok "$HSMCA" key list >/dev/null
else
	not_run "a root-owned sticky parent is accepted"
fi
chmod "$wmode" "$WORK"

if ((ROOT)); then
	chown nobody "$H/hsmca.yaml"
	refused_by_all "hsmca.yaml owned by another user" \
		"$H/hsmca.yaml is owned by uid $NOBODY, not by you (uid 0) or root"
	chown 0 "$H/hsmca.yaml"
	chown nobody "$H/cas/root/issued.jsonl"
	it_expect_fail 1 "$H/cas/root/issued.jsonl is owned by uid $NOBODY" "$HSMCA" certs list root
	chown 0 "$H/cas/root/issued.jsonl"
	mkdir -p "$H/rotate"
	: >"$H/rotate/journal.planted"
	chown nobody "$H/rotate/journal.planted"
	it_expect_fail 1 "$H/rotate/journal.planted is owned by uid $NOBODY" "$HSMCA" rotate status
	rm -f "$H/rotate/journal.planted"
	rmdir "$H/rotate"
else
	not_run "files owned by another user are refused"
fi
it_ok "$HSMCA" certs list root >/dev/null

# --- init refuses an existing directory it cannot trust --------------------
mkdir -m 0777 "$WORK/shared"
it_expect_fail 1 "$WORK/shared is writable by group or others" \
	"$HSMCA" --home "$WORK/shared" init --softhsm
it_assert_eq "777 " "$(stat -c %a "$WORK/shared") $(ls -A "$WORK/shared")" \
	"the refused directory is left as it was (mode 777, empty)"
it_expect_fail 1 "cannot create $WORK/shared/a/b safely" \
	"$HSMCA" --home "$WORK/shared/a/b" init --softhsm
[[ ! -e "$WORK/shared/a" ]] && it_pass "nothing was created under it" ||
	it_fail "init created $WORK/shared/a"
if ((ROOT)); then
	chmod 0700 "$WORK/shared"
	chown nobody "$WORK/shared"
	it_expect_fail 1 "$WORK/shared is owned by uid $NOBODY" \
		"$HSMCA" --home "$WORK/shared" init --softhsm
else
	not_run "init refuses a directory owned by another user"
fi

# --- the module-swap attack -------------------------------------------------
# A spy PKCS#11 "module": loading it at all leaves a marker (its constructor
# runs at dlopen), and its C_Login would write the PIN it is handed.
mkdir -m 0755 "$WORK/spy"
cat >"$WORK/spy/spy.c" <<EOF
#include <stdio.h>
__attribute__((constructor)) static void loaded(void)
{
	FILE *f = fopen("$WORK/spy/loaded", "a");
	if (f) { fputs("dlopen\n", f); fclose(f); }
}
EOF
it_ok cc -shared -fPIC -o "$WORK/spy/libspy.so" "$WORK/spy/spy.c" >/dev/null
swap_module() { # swap_module HOME: point HOME's hsmca.yaml at the spy
	sed -i "s|^module: .*|module: \"$WORK/spy/libspy.so\"|" "$1/hsmca.yaml"
}
cp -a "$H" "$WORK/victim"
swap_module "$WORK/victim"
chmod 0777 "$WORK/victim"
((ROOT)) && chown -R nobody "$WORK/victim"
rm -f "$WORK/spy/loaded"
it_expect_fail 1 "$WORK/victim" "$HSMCA" --home "$WORK/victim" key list
it_expect_fail 1 "$WORK/victim" "$HSMCA" --home "$WORK/victim" sign root --csr a.csr \
	--profile client --out "$WORK/victim.pem"
[[ ! -e "$WORK/spy/loaded" ]] && it_pass "the swapped module is never loaded: no PIN handed over" ||
	it_fail "the spy module was loaded from an untrusted hsmca.yaml"
# Control: the same spy in a trusted directory IS loaded (and then refused as
# not a PKCS#11 module), so the marker above can tell.
chown -R 0 "$WORK/victim" 2>/dev/null || true
chmod 0700 "$WORK/victim"
it_expect_fail 1 "cannot load PKCS#11 module $WORK/spy/libspy.so" "$HSMCA" --home "$WORK/victim" key list
[[ -e "$WORK/spy/loaded" ]] && it_pass "control: a trusted config's module is loaded" ||
	it_fail "control: the spy's marker never appears, so the check above proves nothing"
# The module file itself, or its directory, writable by others: not loaded.
rm -f "$WORK/spy/loaded"
chmod 0777 "$WORK/spy"
it_expect_fail 1 "$WORK/spy is writable by group or others" "$HSMCA" --home "$WORK/victim" key list
chmod 0755 "$WORK/spy"
chmod 0666 "$WORK/spy/libspy.so"
it_expect_fail 1 "$WORK/spy/libspy.so is writable by group or others" \
	"$HSMCA" --home "$WORK/victim" key list
[[ ! -e "$WORK/spy/loaded" ]] && it_pass "a module others can write is never loaded" ||
	it_fail "a module others can write was loaded"

# --- PIN files ---------------------------------------------------------------
upin=$(cat "$H/pins/user.pin")
pf=$(it_pin_file pin.txt "$upin")
it_ok "$HSMCA" --pin-source "file:$pf" key list >/dev/null
chmod 0666 "$pf"
it_expect_fail 1 "$pf has mode 0666: a PIN file must be readable by you alone (fix: chmod 0600 $pf)" \
	"$HSMCA" --pin-source "file:$pf" key list
chmod 0644 "$pf"
it_expect_fail 1 "has mode 0644" "$HSMCA" --pin-source "file:$pf" sign root --csr a.csr \
	--profile client --out x.pem
chmod 0400 "$pf"
it_ok "$HSMCA" --pin-source "file:$pf" key list >/dev/null
if ((ROOT)); then
	chmod 0600 "$pf"
	chown nobody "$pf"
	it_expect_fail 1 "$pf is owned by uid $NOBODY, not by you" "$HSMCA" --pin-source "file:$pf" key list
	chown 0 "$pf"
else
	not_run "a PIN file owned by another user is refused"
fi
mkdir -m 0777 "$WORK/pindir"
cp -p "$pf" "$WORK/pindir/pin"
it_expect_fail 1 "$WORK/pindir is writable by group or others" \
	"$HSMCA" --pin-source "file:$WORK/pindir/pin" key list
# A pipe (process substitution) is not a file anyone else can reach.
it_ok "$HSMCA" --pin-source "file:/dev/stdin" key list < <(printf '%s' "$upin") >/dev/null

# --- 2. the safe writer ------------------------------------------------------
# A root-owned file an attacker would like overwritten (and made readable).
printf 'precious\n' >"$WORK/precious"
chmod 0600 "$WORK/precious"
snap_precious() { printf '%s %s' "$(stat -c %a "$WORK/precious")" "$(sha256sum <"$WORK/precious")"; }
before=$(snap_precious)
mkdir -m 0755 "$WORK/pub"
for cmd in "sign root --csr $WORK/a.csr --profile client --out" "crl root --out" "check --metrics" \
	"ca init r2 --key-type ec-p256 --subject CN=r2 --out"; do
	out=$WORK/pub/target-${cmd%% *}
	ln -s "$WORK/precious" "$out"
	rc=0
	# shellcheck disable=SC2086
	"$HSMCA" $cmd "$out" >/dev/null 2>"$WORK/err" || rc=$?
	# Refused by name: by the writer ("PATH is a symbolic link") or, for the
	# commands that check their outputs before signing, by that pre-check.
	# `check` cannot write its textfile: "could not run", exit 3 (hsmca(1)).
	want=1
	[[ "$cmd" == check* ]] && want=3
	if [[ $rc == "$want" ]] && grep -qF "$out" "$WORK/err" && grep -qF "symbolic link" "$WORK/err"; then
		it_pass "${cmd%% *}: a symbolic link at the output is refused by name"
	else
		it_fail "${cmd%% *}: exit $rc, $(cat "$WORK/err")"
	fi
	it_assert_eq "$before" "$(snap_precious)" "${cmd%% *}: the link's target is unchanged (content, mode 0600)"
	[[ -L "$out" ]] && it_pass "${cmd%% *}: the link itself is left alone" || it_fail "${cmd%% *}: link replaced"
	rm -f "$out"
done
mkdir "$WORK/pub/adir"
it_expect_fail 1 "$WORK/pub/adir is a directory" "$HSMCA" crl root --out "$WORK/pub/adir"

# Pre-created temporary names: the old writer used "<out>.tmp.<pid>" with
# O_TRUNC, so an attacker's file (or link) under the next PIDs received the
# certificate.  Plant files and links for the next 300 PIDs.
mkdir -m 0755 "$WORK/drop"
next=$(sh -c 'echo $$')
for ((p = next; p < next + 300; p++)); do
	: >"$WORK/drop/c.pem.tmp.$p"
	chmod 0666 "$WORK/drop/c.pem.tmp.$p"
	ln -s "$WORK/precious" "$WORK/drop/k.pem.tmp.$p"
done
planted=$(it_snapshot_dir "$WORK/drop"; find "$WORK/drop" -type l | sort)
(umask 077 && it_ok "$HSMCA" sign root --csr a.csr --profile client --out "$WORK/drop/c.pem" >/dev/null)
(umask 0 && it_ok "$HSMCA" sign root --csr a.csr --profile client --out "$WORK/drop/k.pem" >/dev/null)
after=$(cd "$WORK/drop" && find . -type f ! -name c.pem ! -name k.pem -print0 | LC_ALL=C sort -z |
	xargs -0 -r sha256sum; find "$WORK/drop" -type l | sort)
it_assert_eq "$planted" "$after" "the 600 planted temporary names are untouched (all still empty)"
it_assert_eq "$before" "$(snap_precious)" "nothing was written through the planted links"
it_assert_eq "600" "$(find "$WORK/drop" -name '*.tmp.*' | wc -l)" "nothing left behind, nothing removed"
it_assert_eq "644 0" "$(stat -c '%a %u' "$WORK/drop/c.pem")" "output mode 0644 under umask 077"
it_assert_eq "644 0" "$(stat -c '%a %u' "$WORK/drop/k.pem")" "output mode 0644 under umask 000"
openssl x509 -in "$WORK/drop/c.pem" -noout >/dev/null 2>&1 && it_pass "the output is the certificate" ||
	it_fail "the output is not a certificate"

# The mode is set at creation: the temporary file is opened O_EXCL|O_NOFOLLOW
# with mode 0644 and never chmod-ed wider afterwards.
strace -f -qq -e trace=openat,fchmod,chmod,fchmodat,renameat,rename -o "$WORK/trace" \
	"$HSMCA" sign root --csr a.csr --profile client --out "$WORK/drop/s.pem" >/dev/null 2>&1 || true
tline=$(grep -E 'openat\(.*"\.s\.pem\.[0-9a-f]{16}\.tmp"' "$WORK/trace" || true)
for flag in O_CREAT O_EXCL O_NOFOLLOW; do
	it_assert_contains "$tline" "$flag" "the temporary file (random name) is opened with $flag"
done
it_assert_contains "$tline" ", 0644)" "with its final mode 0644"
grep -qE 'chmod' "$WORK/trace" && it_fail "a chmod after creation: $(grep chmod "$WORK/trace")" ||
	it_pass "no chmod after creation (umask 022)"
grep -qE 'renameat.*s\.pem\.[0-9a-f]{16}\.tmp.*"s\.pem"' "$WORK/trace" &&
	it_pass "published with renameat in the output's directory" || it_fail "no renameat seen"

# /dev/stdout (a link under /dev) and /dev/null are written in place.
out=$(it_ok "$HSMCA" crl root --out /dev/stdout)
it_assert_contains "$out" "BEGIN X509 CRL" "crl --out /dev/stdout writes the CRL to stdout"
it_ok "$HSMCA" crl root --out /dev/null >/dev/null
[[ -L /dev/stdout && -c /dev/null ]] && it_pass "/dev/stdout is still a link, /dev/null a device" ||
	it_fail "hsmca replaced /dev/stdout or /dev/null"

# --- 3. bounded YAML from the command line -----------------------------------
# An 837-byte talm node file whose body is an alias bomb (10^8 leaves) and a
# 1 MB talosconfig of nested flow collections: refused with the reason, and
# no rotation begins.  (No time is asserted; the report measures it.)
mkdir -p "$WORK/proj/nodes" "$WORK/proj/templates"
printf 'name: hostile\n' >"$WORK/proj/Chart.yaml"
"$IT_PYTHON" - "$WORK/proj/nodes/n1.yaml" "$WORK/tc-deep.yaml" <<'PYEOF'
import sys
s = ('# talm: nodes=["192.0.2.4"], endpoints=["192.0.2.4"], '
     'templates=["templates/controlplane.yaml"]\nmachine:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n')
for i in range(1, 9):
    s += '  a%d: &a%d [%s]\n' % (i, i, ','.join(['*a%d' % (i - 1)] * 10))
s += '  certSANs: [*a8]\n#'
s += '#' * (836 - len(s)) + '\n'
open(sys.argv[1], 'w').write(s)
pre = 'context: a\ncontexts: '
n = (1000000 - len(pre) - 1) // 2
open(sys.argv[2], 'w').write(pre + '[' * n + ']' * n + '\n')
PYEOF
it_assert_eq "837 1000000" "$(stat -c %s "$WORK/proj/nodes/n1.yaml") $(stat -c %s "$WORK/tc-deep.yaml")" \
	"the bombs are 837 bytes and 1 MB"
it_expect_fail 1 "$WORK/proj/nodes/n1.yaml: YAML aliases are not accepted" \
	"$HSMCA" -f "$WORK/proj/nodes/n1.yaml" rotate-ca
it_expect_fail 1 "$WORK/proj/nodes/n1.yaml: YAML aliases are not accepted" \
	"$HSMCA" -f "$WORK/proj/nodes/n1.yaml" rotate-ca --dry-run=false
it_expect_fail 1 "parse $WORK/tc-deep.yaml: line 2: flow collections nested deeper than 64 levels" \
	"$HSMCA" rotate-ca --talosconfig "$WORK/tc-deep.yaml" --control-plane-nodes 192.0.2.1 \
	--endpoints 192.0.2.1 --dry-run=false
out=$(it_ok "$HSMCA" rotate status)
it_assert_contains "$out" "no rotation in progress" "the refused inputs began no rotation"

it_summary
