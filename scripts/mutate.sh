#!/usr/bin/env bash
# Mutation trials of the safety-critical checks: scripts/mutate.sh [ID...]
#
# Each mutant below breaks one check the way a careless edit would (a
# condition made false, a call removed, two steps swapped).  It is applied to
# a copy of the tree in build/mutate/tree (never to the working tree), the
# copy is built (-Werror; incremental, so only the mutated file recompiles), and
# the tests named for it are run.  A mutant must be KILLED: some named test
# fails.  If every named test passes the mutant SURVIVED: the suite would not
# notice that check going away.
#
# Before the mutants, the named tests are run once on the unmutated copy; a
# mutant only counts as killed when those tests passed there.  Prints a kill
# table; exit 0 when every mutant was killed, 1 otherwise.  Slow (it runs
# rotation and tenant integration tests several times): run by hand, not by
# scripts/test.sh.  With IDs, only those mutants run.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
work=$src/build/mutate
tree=$work/tree
build=$tree/build

# id # file # perl substitution (perl -0pe: over the whole file) # ctest regex # what it breaks
mutants=(
	'csr-sig-ec#src/issue/csr.c#s/switch \(ec_verify\(csr, md, mdlen\)\)/switch (ec_verify(csr, md, mdlen) * 0)/#^it/bad_csrs$#CSR signature check (ECDSA) skipped'
	'csr-sig-ed#src/issue/csr.c#s/(EVP_DigestVerify\(m, csr->sig, csr->sig_len, csr->info, csr->info_len\) == 1)/($1 || 1)/#^it/bad_csrs$#CSR signature check (Ed25519) skipped'
	'tbs-lint#src/x509/lint.c#s/(\tsize_t seq;\n\n)/$1\tif (ex)\n\t\treturn 0;\n/#^(it/bad_csrs|it/profiles_matrix|unit/test_lint)$#TBS lint before signing always passes'
	'prove-revoked#src/rotate/steps.c#s/\tif \(probe_until\(r, &r->plan.nodes\[i\], c->probe, false, NULL, 0, err\) != 0\)\n\t\treturn -1;\n/\t(void)c;\n/#^it/(rotate_basic|rotate_faults|rotate_kube|rotate_kube_faults)$#Talos/Kubernetes rotation: old-CA refusal probe removed'
	'tenant-prove#src/tenant/prove.c#s/(\n\twhile \(!old_done \|\| !cred_done\) \{)/\n\told_done = true;$1/#^it/(tenant_rotate|tenant_faults)$#tenant rotation: old-CA refusal probe removed'
	'retire-order#src/rotate/steps.c#s/step_distrust_old, step_prove_revoked, step_retire,/step_distrust_old, step_retire, step_prove_revoked,/#^it/rotate_basic$#retire scheduled before prove-revoked (guard in step_retire kept)'
	'retire-unguarded#src/rotate/steps.c#s/step_distrust_old, step_prove_revoked, step_retire,/step_distrust_old, step_retire, step_prove_revoked,/; s/if \(r->st.steps\[HSMCA_ROT_PROVE_REVOKED\] != HSMCA_ROT_ST_DONE\)/if (0)/; s/if \(!r->st.node_done\[HSMCA_ROT_PROVE_REVOKED\]\[i\]\)/if (0)/#^it/rotate_basic$#retire before prove-revoked, guard removed too'
	'audit-prev#src/audit/audit_verify.c#s/if \(strcmp\(rec.prev, c->hash\) != 0\) \{/if (0) {/#^(it/audit_chain|it/audit_cli|unit/test_audit)$#audit verify ignores the hash chain (prev)'
	'audit-seq#src/audit/audit_verify.c#s/if \(rec.seq != \(int64_t\)k\)/if (0)/#^(it/audit_chain|it/audit_cli|unit/test_audit)$#audit verify ignores sequence numbers'
	'nonextractable#pkcs11/key.c#s/if \(!tpm && i->extractable\)/if (0)/; s/if \(!i->never_extractable\)/if (0)/#^(it/keys_nonextractable|unit/test_extract)$#key read-back accepts an extractable key'
	'keyscan-needle#tests/integration/lib/kube_tenant.sh#s/if nd in data:/if False and nd in data:/#^it/tenant_rotate$#test key-material scan ignores key needles'
	'keyscan-marker#tests/integration/lib/kube_tenant.sh#s/if "PRIVATE KEY" in data:/if False:/#^it/(tenant_rotate|tenant_faults)$#test key-material scan ignores PEM key markers'
)

only=("$@")
selected() {
	local id=$1 x
	[ ${#only[@]} -eq 0 ] && return 0
	for x in "${only[@]}"; do [ "$x" = "$id" ] && return 0; done
	return 1
}

# The copy is kept between runs: a file is copied only when its content
# differs, and a plain cp gives it a new mtime, so the next build recompiles
# exactly what changed (also a file a previous, interrupted run left mutated).
echo "==> syncing the copy of the tree in $tree"
mkdir -p "$tree"
(cd "$src" && git ls-files -z --cached --others --exclude-standard) |
	while IFS= read -r -d '' f; do
		case $f in build/*) continue ;; esac
		[ -f "$src/$f" ] || continue
		if ! cmp -s "$src/$f" "$tree/$f"; then
			mkdir -p "$(dirname "$tree/$f")"
			cp "$src/$f" "$tree/$f"
		fi
	done

echo "==> building the copy (-Werror)"
nice cmake -S "$tree" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHSMCA_WERROR=ON >"$work/configure.log" 2>&1
nice cmake --build "$build" -j2 >"$work/build.log" 2>&1 || { tail -n 30 "$work/build.log"; exit 1; }

run_tests() { # regex log
	nice ctest --test-dir "$build" -R "$1" -j2 --timeout 900 --no-tests=error --output-on-failure \
		>"$2" 2>&1
}

declare -A baseline
rows=()
killed=0
total=0
for m in "${mutants[@]}"; do
	IFS='#' read -r id file subst regex what <<<"$m"
	selected "$id" || continue
	total=$((total + 1))
	if [ -z "${baseline[$regex]:-}" ]; then
		echo "==> baseline: $regex"
		# The copy holds no mutant here, but its binaries may still be the
		# last mutant's: rebuild first.
		if nice cmake --build "$build" -j2 >"$work/baseline-$id.build.log" 2>&1 &&
			run_tests "$regex" "$work/baseline-$id.log"; then
			baseline[$regex]=pass
		else
			baseline[$regex]=fail
		fi
	fi
	echo "==> mutant $id: $what"
	cp "$tree/$file" "$work/$id.orig"
	perl -0pe "$subst" "$work/$id.orig" >"$tree/$file"
	if cmp -s "$work/$id.orig" "$tree/$file"; then
		result="NOT-APPLIED"
	elif [ "${baseline[$regex]}" != pass ]; then
		result="BASELINE-FAILS"
	elif ! nice cmake --build "$build" -j2 >"$work/$id.build.log" 2>&1; then
		result="BUILD-FAILS"
	elif run_tests "$regex" "$work/$id.log"; then
		result="SURVIVED"
	else
		result="killed"
		killed=$((killed + 1))
	fi
	(cd "$work" && diff -u "$id.orig" "$tree/$file" >"$work/$id.diff") || true
	# A plain copy gives the restored file a new mtime, so it recompiles.
	cp "$work/$id.orig" "$tree/$file"
	by=""
	[ "$result" = killed ] && by=$(sed -n 's/^[[:space:]]*[0-9]* - \([^ ]*\) .*/\1/p' "$work/$id.log" | tr '\n' ' ')
	rows+=("$(printf '%-17s %-12s %-55s %s' "$id" "$result" "$what" "${by:-$regex}")")
	echo "    $result ${by}"
done

echo
printf '%-17s %-12s %-55s %s\n' MUTANT RESULT "WHAT IT BREAKS" "KILLED BY (or tests run)"
printf '%s\n' "${rows[@]}"
echo "$killed of $total mutants killed (logs and diffs in $work)"
[ "$killed" -eq "$total" ]
