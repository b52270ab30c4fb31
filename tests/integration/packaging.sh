#!/usr/bin/env bash
# Issue 17, "What it must show" item 2: the Debian package.
#   - `cpack -G DEB` on this build makes a .deb whose Depends name what the
#     binaries link (dpkg-shlibdeps) plus the dlopen()ed libcurl;
#   - `dpkg -i` installs it into a fresh root: a real dpkg run (--root,
#     maintainer scripts with DPKG_ROOT, --force-script-chrootless) against an
#     admin directory that holds only the package's dependencies, copied
#     from this Debian 12 host's status file — so dpkg checks the declared
#     Depends, and postinst creates the hsmca user with systemd-sysusers
#     inside the root; no debootstrap (minutes, and a network mirror);
#   - `systemd-analyze verify` accepts the installed units in that root (with
#     systemd's own units, which the status file says are installed, and the
#     installed man page for Documentation=), ExecStart names the installed
#     binary; a unit naming a missing binary is refused (the check can fail);
#   - `systemd-analyze security` rates the service <= 2.5, and the check it
#     runs still works there: its ExecStart, run from the root against a real
#     state directory in a network namespace of its own, writes the textfile,
#     and every system call it makes is inside the unit's SystemCallFilter;
#   - `pkg-config --cflags --libs hsmca` (with the root as sysroot) and
#     find_package(hsmca) build a small program against the installed
#     libhsmca that opens a state directory and reads a CA certificate;
#   - the bash and zsh completions are installed, name every command of
#     `hsmca --help`, and bash's completes commands, actions and options.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
: "${HSMCA_BUILD_DIR:?the build directory}"

it_setup
cd "$WORK"
cache=$HSMCA_BUILD_DIR/CMakeCache.txt
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$cache"; }
PREFIX=$(cache_value CMAKE_INSTALL_PREFIX)
LIBDIR=$(cache_value CMAKE_INSTALL_LIBDIR)
[[ $LIBDIR == /* ]] || LIBDIR=$PREFIX/$LIBDIR
SANITIZE=$(cache_value HSMCA_SANITIZE)

# --- build the package (into $WORK: the build directory is not touched) ---
it_ok cpack -G DEB --config "$HSMCA_BUILD_DIR/CPackConfig.cmake" -B "$WORK/out" >/dev/null
deb=$(ls "$WORK"/out/hsmca_*.deb 2>/dev/null | head -1)
[[ -f $deb ]] && it_pass "cpack -G DEB made $(basename "$deb")" || { it_fail "no .deb"; it_summary; }
depends=$(dpkg-deb -f "$deb" Depends)
for d in libc6 libssl3 libp11-kit0 libyaml-0-2 libjson-c5 libcurl4 systemd; do
	[[ ", $depends" == *", $d "* || ", $depends" == *", $d,"* || ", $depends" == *", $d" ]] &&
		it_pass "Depends names $d" || it_fail "Depends lacks $d: $depends"
done
if [[ $PREFIX == /usr ]]; then
	multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
	it_assert_eq "/usr/lib/$multiarch" "$LIBDIR" "GNUInstallDirs: the multiarch libdir under /usr"
fi

# --- a fresh root: an admin directory holding only the dependencies ---
R=$WORK/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/etc"
: >"$R/var/lib/dpkg/status"
for p in $(tr ',' '\n' <<<"$depends" | sed -E 's/\(.*\)//; s/\|.*//; s/ //g'); do
	awk -v p="$p" 'BEGIN { RS = ""; ORS = "\n\n" }
		$0 ~ "(^|\n)Package: " p "\n" && $0 ~ "\nStatus: install ok installed" { print; exit }' \
		/var/lib/dpkg/status >>"$R/var/lib/dpkg/status"
	arch=$(dpkg-query -W -f='${Architecture}' "$p" 2>/dev/null || echo all)
	: >"$R/var/lib/dpkg/info/$p.list"
	: >"$R/var/lib/dpkg/info/$p:$arch.list"
done
# dpkg refuses a package whose Depends the root does not satisfy: shown on
# an empty admin directory (the check of the declared dependencies is real).
mkdir -p empty/var/lib/dpkg/info empty/var/lib/dpkg/updates
: >empty/var/lib/dpkg/status
it_expect_fail 1 "dependency problems" dpkg --root="$WORK/empty" --force-script-chrootless -i "$deb"
it_ok dpkg --root="$R" --force-script-chrootless -i "$deb" >/dev/null
it_assert_eq "install ok installed" "$(dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${Status}' hsmca)" \
	"dpkg records hsmca as installed in the root"
grep -q '^hsmca:x:[0-9]*:[0-9]*:.*:/var/lib/hsmca:/usr/sbin/nologin$' "$R/etc/passwd" &&
	it_pass "postinst made the hsmca system user (sysusers.d)" || it_fail "no hsmca user: $(cat "$R/etc/passwd" 2>&1)"
[[ -d $R/var/lib/hsmca && $(stat -c %a "$R/var/lib/hsmca") == 750 ]] &&
	it_pass "postinst made /var/lib/hsmca 0750 (tmpfiles.d)" || it_fail "no /var/lib/hsmca"
for f in "$PREFIX/bin/hsmca" "$LIBDIR/libhsmca.so.0" "$LIBDIR/pkgconfig/hsmca.pc" \
	"$LIBDIR/cmake/hsmca/hsmcaConfig.cmake" "$PREFIX/include/hsmca/hsmca.h" \
	"$PREFIX/share/man/man1/hsmca.1" "$PREFIX/share/doc/hsmca/operations.md" \
	"$PREFIX/share/bash-completion/completions/hsmca"; do
	[[ -e $R$f ]] && it_pass "installed $f" || it_fail "missing $f"
done
zsh_comp=$(find "$R$PREFIX/share/zsh" -name _hsmca 2>/dev/null | head -1)
[[ -n $zsh_comp ]] && it_pass "installed ${zsh_comp#"$R"}" || it_fail "no zsh completion"
it_assert_eq "hsmca $(cache_value CMAKE_PROJECT_VERSION)" "$("$R$PREFIX/bin/hsmca" --version)" \
	"the installed binary runs"

# --- the units ---
UNITS=$R$PREFIX/lib/systemd/system
exec_start=$(sed -n 's/^ExecStart=//p' "$UNITS/hsmca-check.service")
it_assert_eq "$PREFIX/bin/hsmca" "${exec_start%% *}" "ExecStart names the installed binary"
# systemd's own units, as its package (installed, says the status file) has them.
dpkg -L systemd | grep -E '^/(usr/)?lib/systemd/system/[^/]+\.(target|slice|socket|service|mount)$' |
	while read -r f; do cp -P "$f" "$R/usr/lib/systemd/system/" 2>/dev/null || true; done
if MANPATH=$R/usr/share/man systemd-analyze verify --root="$R" hsmca-check.service hsmca-check.timer \
	>verify.out 2>&1; then
	it_pass "systemd-analyze verify accepts the installed units"
else
	it_fail "systemd-analyze verify: $(cat verify.out)"
fi
sed "s|^ExecStart=$PREFIX/bin/hsmca|ExecStart=$PREFIX/bin/hsmca-missing|" "$UNITS/hsmca-check.service" \
	>"$UNITS/hsmca-broken.service"
MANPATH=$R/usr/share/man systemd-analyze verify --root="$R" hsmca-broken.service >broken.out 2>&1 &&
	it_fail "verify accepted a unit whose ExecStart does not exist" ||
	it_pass "verify refuses a unit whose ExecStart is missing (the check can fail)"
rm "$UNITS/hsmca-broken.service"
systemd-analyze security --offline=true --root="$R" hsmca-check.service >security.out 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for hsmca-check.service: \([0-9.]*\) .*/\1/p' security.out)
if [[ -n $score ]] && awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }'; then
	it_pass "systemd-analyze security: $score (<= 2.5)"
else
	it_fail "systemd-analyze security: '${score:-no score}': $(tail -3 security.out)"
fi

# The check under the unit's restrictions: ExecStart from the root, in a
# network namespace of its own (PrivateNetwork=yes), against a real state
# directory, its textfile path moved into $WORK; strace records every system
# call, which must all be allowed by SystemCallFilter (systemd's own groups,
# expanded by systemd-analyze syscall-filter).
it_ok "$HSMCA" init --softhsm >/dev/null
it_ok "$HSMCA" ca init root --key-type ec-p256 --subject "CN=Package Root" --validity 2y >/dev/null
mkdir textfile
read -r -a argv <<<"${exec_start//\/var\/lib\/prometheus\/node-exporter/$WORK/textfile}"
argv[0]=$R${argv[0]}
if [[ $SANITIZE == ON ]]; then
	# Not a result: ASan's runtime makes calls of its own (setrlimit for
	# core dumps) that are not the check's; the -Werror build runs it.
	echo "note: sanitizer build: the SystemCallFilter comparison runs in the -Werror build" >&2
	it_ok unshare -n "${argv[@]}" >/dev/null
else
	it_ok unshare -n strace -f -qq -o strace.out "${argv[@]}" >/dev/null
	expand() { # expand GROUP...: the system calls of systemd's groups, recursively
		local g
		for g in "$@"; do
			systemd-analyze syscall-filter "$g" | sed -n 's/^    //p' | grep -v '^#' |
				while read -r s; do
					if [[ $s == @* ]]; then expand "$s"; else echo "$s"; fi
				done
		done
	}
	allow=$(sed -n 's/^SystemCallFilter=\([^~].*\)/\1/p' "$UNITS/hsmca-check.service")
	deny=$(sed -n 's/^SystemCallFilter=~//p' "$UNITS/hsmca-check.service")
	# shellcheck disable=SC2086
	comm -23 <(expand $allow | sort -u) <(expand $deny | sort -u) >allowed
	awk '{ sub(/^[0-9]+ +/, ""); if (match($0, /^[a-z_0-9]+\(/)) print substr($0, 1, RLENGTH - 1) }' \
		strace.out | sort -u >used
	outside=$(comm -23 used allowed | tr '\n' ' ')
	[[ -s used && -z $outside ]] &&
		it_pass "every system call of the check ($(wc -l <used)) is inside SystemCallFilter" ||
		it_fail "system calls outside SystemCallFilter: ${outside:-none recorded}"
fi
grep -q '^hsmca_ca_expiry_seconds{ca="root",retired="false"} ' textfile/hsmca.prom &&
	it_pass "the installed ExecStart writes the textfile" || it_fail "no textfile from ExecStart"

# --- libhsmca: pkg-config and CMake ---
cat >prog.c <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <hsmca/hsmca.h>
int main(int argc, char **argv)
{
	char err[256] = "", *pem = NULL;
	size_t len = 0;
	hsmca_ctx *ctx = hsmca_open(argv[1], NULL, err, sizeof(err));
	if (!ctx || hsmca_ca_certificate(ctx, argc > 2 ? argv[2] : "root", &pem, &len) != 0)
		return fprintf(stderr, "%s\n", ctx ? hsmca_last_error(ctx) : err), hsmca_close(ctx), 1;
	printf("libhsmca %s\n%s", hsmca_version(), pem);
	free(pem);
	hsmca_close(ctx);
	return 0;
}
EOF
extra=()
[[ $SANITIZE == ON ]] && extra=(-fsanitize=address,undefined)
pc=(env PKG_CONFIG_SYSROOT_DIR="$R" PKG_CONFIG_LIBDIR="$R$LIBDIR/pkgconfig" pkg-config)
flags=$("${pc[@]}" --cflags --libs hsmca) && it_pass "pkg-config --cflags --libs hsmca: $flags" ||
	it_fail "pkg-config does not find hsmca.pc"
it_assert_eq "$(cache_value CMAKE_PROJECT_VERSION)" "$("${pc[@]}" --modversion hsmca)" "hsmca.pc carries the version"
# shellcheck disable=SC2086
it_ok cc "${extra[@]}" prog.c $flags -o prog >/dev/null
openssl x509 -in "$HSMCA_HOME/cas/root/ca.pem" >root.pem
out=$(LD_LIBRARY_PATH=$R$LIBDIR ./prog "$HSMCA_HOME" root 2>&1) || true
[[ $out == "libhsmca $(cache_value CMAKE_PROJECT_VERSION)"$'\n'"$(cat root.pem)" ]] &&
	it_pass "a program built with pkg-config against the installed libhsmca opens the state directory and reads the CA" ||
	it_fail "the pkg-config program printed: $out"
LD_LIBRARY_PATH=$R$LIBDIR it_expect_fail 1 "" ./prog "$HSMCA_HOME" no-such-ca
mkdir cm
cat >cm/CMakeLists.txt <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(uses_hsmca C)
find_package(hsmca 0.1 REQUIRED)
add_executable(prog ../prog.c)
target_link_libraries(prog PRIVATE hsmca::hsmca)
EOF
cm_flags=()
[[ $SANITIZE == ON ]] && cm_flags=(-DCMAKE_C_FLAGS=-fsanitize=address,undefined)
if cmake -S cm -B cm/build -DCMAKE_PREFIX_PATH="$R$PREFIX" "${cm_flags[@]}" >cm.out 2>&1 &&
	cmake --build cm/build >>cm.out 2>&1 &&
	[[ $(LD_LIBRARY_PATH=$R$LIBDIR cm/build/prog "$HSMCA_HOME" root 2>&1 | tail -n +2) == "$(cat root.pem)" ]]; then
	it_pass "find_package(hsmca) + hsmca::hsmca builds and runs the same program"
else
	it_fail "CMake package: $(tail -5 cm.out)"
fi

# --- completions: generated from the command table, complete ---
mapfile -t cmds < <("$HSMCA" --help | awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }')
bash_comp=$R$PREFIX/share/bash-completion/completions/hsmca
missing=""
for c in "${cmds[@]}"; do
	grep -qE "^	$c\)" "$bash_comp" || missing+=" bash:$c"
	grep -qF "'$c:" "$zsh_comp" || missing+=" zsh:$c"
done
[[ ${#cmds[@]} -ge 10 && -z $missing ]] && it_pass "both completions name all ${#cmds[@]} commands" ||
	it_fail "completions miss:$missing"
complete_words() { # complete_words WORD...: what bash completes for the last word
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _hsmca; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$bash_comp" "$@" | sort | tr '\n' ' '
}
it_assert_eq "check " "$(complete_words hsmca ch)" "bash: 'hsmca ch' completes to check"
it_assert_eq "cross-sign import init list show " "$(complete_words hsmca --home /x ca '')" "bash: 'hsmca --home /x ca' offers its actions"
it_assert_eq "--warn " "$(complete_words hsmca check --wa)" "bash: 'hsmca check --wa' completes to --warn"
it_assert_eq "--dry-run " "$(complete_words hsmca -f n.yaml rotate-ca --dry)" "bash: rotate-ca options after -f FILE"
if command -v zsh >/dev/null; then
	zsh -n "$zsh_comp" && it_pass "zsh parses the zsh completion" || it_fail "zsh -n rejects the zsh completion"
else
	it_fail "zsh is not installed (scripts/deps.sh)"
fi
it_summary
