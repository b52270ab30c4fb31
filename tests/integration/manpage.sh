#!/usr/bin/env bash
# docs/hsmca.1 is kept in step with the binary: every command `hsmca --help`
# lists has its section in COMMANDS (and no section is left for a command that
# is gone), every option and action that `hsmca --help` and each
# `hsmca COMMAND --help` print is documented, the exit codes, files and
# environment variables are there, and the page renders without a single
# groff warning.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"

it_setup
cd "$WORK"
PAGE=$HSMCA_TEST_SRCDIR/docs/hsmca.1
[[ -f "$PAGE" ]] && it_pass "docs/hsmca.1 exists" || it_fail "docs/hsmca.1 is missing"

# The page as plain searchable text: roff's \- is a hyphen-minus.
src=$(sed 's/\\-/-/g' "$PAGE")
# section NAME: the roff source of `.SS NAME` up to the next .SS/.SH.
section() {
	printf '%s\n' "$src" | awk -v n="$1" '
		/^\.S[SH] / { on = ($0 == ".SS " n) ; if (on) { print; next } }
		on { print }'
}
# has_word TEXT OPTION: OPTION occurs in TEXT as a whole word (--grace does
# not count as --gracex).
has_word() {
	grep -qE -- "(^|[^a-z0-9-])$2([^a-z0-9-]|\$)" <<<"$1"
}
global=$(printf '%s\n' "$src" | awk '/^\.SH "?GLOBAL OPTIONS"?/ { on = 1; next } /^\.SH / { on = 0 } on')

# --- rendering ---
warn=$(groff -man -Tutf8 -ww -z "$PAGE" 2>&1)
it_assert_eq "" "$warn" "groff -man -ww renders the page without warnings"
if command -v man >/dev/null; then
	rc=0
	out=$(MANWIDTH=80 man --warnings=w -l "$PAGE" 2>&1 >/dev/null) || rc=$?
	it_assert_eq "0:" "$rc:$out" "man -l renders the page without warnings"
fi
rendered=$(MANWIDTH=80 groff -man -Tutf8 "$PAGE" 2>/dev/null | col -bx 2>/dev/null || true)
for sh in NAME SYNOPSIS DESCRIPTION "GLOBAL OPTIONS" COMMANDS "PIN SOURCES" "EXIT STATUS" FILES \
	ENVIRONMENT EXAMPLES "SEE ALSO"; do
	it_assert_contains "$rendered" $'\n'"$sh"$'\n' "section $sh"
done

# --- commands ---
help=$(it_ok "$HSMCA" --help)
mapfile -t cmds < <(printf '%s\n' "$help" | awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }')
((${#cmds[@]} >= 5)) && it_pass "hsmca --help lists ${#cmds[@]} commands" ||
	it_fail "could not read the command list from hsmca --help"
for c in "${cmds[@]}"; do
	[[ -n "$(section "$c")" ]] && it_pass "command '$c' has a section (.SS $c)" ||
		it_fail "command '$c' from hsmca --help has no '.SS $c' in docs/hsmca.1"
done
# No section for a command the binary does not have.
mapfile -t documented < <(printf '%s\n' "$src" |
	awk '/^\.SH COMMANDS/ { on = 1; next } /^\.SH / { on = 0 } on && /^\.SS / { print $2 }')
for d in "${documented[@]}"; do
	[[ " ${cmds[*]} " == *" $d "* ]] && it_pass "documented command '$d' exists" ||
		it_fail "docs/hsmca.1 documents '$d', which hsmca --help does not list"
done

# --- global options ---
# (the usage lines and the "Global options:" part, not the command summaries)
ghelp=$(printf '%s\n' "$help" | awk '/^Commands:/ { skip = 1 } /^Global options:/ { skip = 0 } !skip')
for opt in $(printf '%s\n' "$ghelp" | grep -oE '(^|[ [|,])--?[a-z][a-z-]*' | sed 's/^[ [|,]//' | sort -u); do
	has_word "$global" "$opt" && it_pass "global option $opt documented" ||
		it_fail "global option $opt from hsmca --help is not in GLOBAL OPTIONS"
done

# --- each command's own help: its options and actions ---
for c in "${cmds[@]}"; do
	out=$("$HSMCA" "$c" --help 2>&1) || { it_fail "hsmca $c --help failed: $out" || true; continue; }
	if head -n 1 <<<"$out" | grep -qE -- "^usage: hsmca \[global options\] (\[[^]]*\] )*$c( |\$)"; then
		it_pass "hsmca $c --help prints its usage"
	else
		it_fail "hsmca $c --help does not start with its usage line: $(head -n 1 <<<"$out")"
	fi
	sec=$(section "$c")
	for opt in $(printf '%s\n' "$out" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
		if has_word "$sec" "$opt" || has_word "$global" "$opt"; then
			it_pass "$c: $opt documented"
		else
			it_fail "$c: option $opt (from hsmca $c --help) is not in the '$c' section"
		fi
	done
	# Actions: "key generate", "ca list", ... as the synopsis shows them.
	syn=$(head -n 1 <<<"$out")
	for a in $(printf '%s\n' "$syn" | grep -oE "(^| |\\| )$c [a-z][a-z-]+" | awk '{ print $NF }' | sort -u); do
		if grep -qE "^\\.SY \"hsmca $c $a\"" <<<"$sec"; then
			it_pass "$c $a has a synopsis"
		else
			it_fail "$c $a (from hsmca $c --help) has no '.SY \"hsmca $c $a\"' in docs/hsmca.1"
		fi
	done
done

# --- key types, exit status, files, environment ---
for t in ec-p256 ec-p384 ed25519 rsa-3072 rsa-4096; do
	it_assert_contains "$(section ca)$src" "$t" "key type $t documented"
done
exit_sec=$(printf '%s\n' "$src" | awk '/^\.SH "?EXIT STATUS"?/ { on = 1; next } /^\.SH / { on = 0 } on')
for code in 0 1 2 3; do
	grep -qx "\\.B $code" <<<"$exit_sec" && it_pass "exit status $code documented" ||
		it_fail "exit status $code missing from EXIT STATUS"
done
it_assert_contains "$help" "Exit status: 0 success, 1 the operation failed, 2 usage error." \
	"hsmca --help states the exit codes the page documents"
files_sec=$(printf '%s\n' "$src" | awk '/^\.SH FILES/ { on = 1; next } /^\.SH / { on = 0 } on')
for f in hsmca.yaml audit.log audit.log.head cas/NAME/ca.pem softhsm2.conf tokens/ pins/user.pin \
	tpm2-store/ profiles/NAME.yaml; do
	it_assert_contains "$files_sec" "$f" "FILES: $f"
done
env_sec=$(printf '%s\n' "$src" | awk '/^\.SH ENVIRONMENT/ { on = 1; next } /^\.SH / { on = 0 } on')
for v in HSMCA_HOME HOME SOFTHSM2_CONF TPM2_PKCS11_TCTI TPM2_PKCS11_STORE HSMCA_P11KIT_MODULE_DIRS \
	HSMCA_NOW; do
	it_assert_contains "$env_sec" "$v" "ENVIRONMENT: $v"
done
# Every variable the code reads (getenv/secure_getenv of a literal name in
# src/ and pkcs11/) has its own entry (.B NAME, or one of .BR's names).
mapfile -t read_vars < <(grep -rhoE '(secure_)?getenv\("[A-Za-z_][A-Za-z0-9_]*"\)' \
	"$HSMCA_TEST_SRCDIR/src" "$HSMCA_TEST_SRCDIR/pkcs11" | sed -E 's/.*\("(.*)"\)/\1/' | sort -u)
((${#read_vars[@]} >= 10)) && it_pass "the code reads ${#read_vars[@]} environment variables by name" ||
	it_fail "found only ${#read_vars[@]} getenv() names in src/ and pkcs11/: the scan is broken"
env_items=$(printf '%s\n' "$env_sec" | awk '/^\.TP/ { getline; print }' | grep -E '^\.BR? ' |
	sed -E 's/^\.BR? //; s/"//g; s/[ ,]+/\n/g')
for v in "${read_vars[@]}"; do
	grep -qx -- "$v" <<<"$env_items" && it_pass "ENVIRONMENT has an entry for $v (read by the code)" ||
		it_fail "the code reads $v, which has no entry in ENVIRONMENT of docs/hsmca.1"
done

# --- the files in FILES are the files init makes ---
it_ok "$HSMCA" init --softhsm >/dev/null
for f in $(cd "$HSMCA_HOME" && find . -maxdepth 2 -mindepth 1 ! -path './tokens/*' | sed 's|^\./||'); do
	[[ "$files_sec" == *"$f"* ]] && it_pass "FILES documents $f (made by init --softhsm)" ||
		it_fail "init --softhsm made $f, which FILES does not mention"
done
it_summary
