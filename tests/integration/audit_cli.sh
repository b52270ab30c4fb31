#!/usr/bin/env bash
# `hsmca audit verify` against a real state directory (embedded SoftHSM2):
# key events land in audit.log as a hash chain; an edited, truncated or
# reordered log is reported with the line and exit 1; an append on top of a
# truncated log is refused and leaves the file as it was; a head behind the
# log (a crash mid-batch) is accepted, a head that disagrees is not.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"

it_setup
cd "$WORK"
LOG=$HSMCA_HOME/audit.log
HEAD=$HSMCA_HOME/audit.log.head

# --- usage and a directory that is not a state directory ---
it_expect_fail 2 "audit" "$HSMCA" audit
it_expect_fail 2 "unknown action" "$HSMCA" audit frobnicate
it_expect_fail 2 "unexpected argument" "$HSMCA" audit verify extra
it_expect_fail 1 "not an hsmca state directory" "$HSMCA" --home "$WORK/nowhere" audit verify

# --- events: init, generate ok, generate failed, destroy ---
it_ok "$HSMCA" init --softhsm >/dev/null
out=$(it_ok "$HSMCA" audit verify)
# Two lines: init, and the generation of the audit key that signs checkpoints.
it_assert_contains "$out" "2 lines, hash chain intact" "a fresh state directory has the init and audit-key lines"

it_ok "$HSMCA" key generate --label audit-k1 --type ec-p256 >/dev/null
# The same label again: the failure is recorded too (outcome "failed").
it_expect_fail 1 "audit-k1" "$HSMCA" key generate --label audit-k1 --type ec-p256 >/dev/null
it_ok "$HSMCA" key destroy audit-k1 --yes >/dev/null
n=$(wc -l <"$LOG")
out=$(it_ok "$HSMCA" audit verify)
it_assert_contains "$out" "$n lines, hash chain intact" "verify counts every line ($n)"

mode=$(stat -c %a "$LOG")
it_assert_eq 644 "$mode" "audit.log is mode 0644"
it_assert_eq 1 "$(grep -c '"event":"init"' "$LOG")" "one init line"
it_assert_contains "$(grep '"event":"generate"' "$LOG" | head -1)" '"outcome":"ok"' \
	"generate is recorded as ok"
it_assert_contains "$(cat "$LOG")" '"event":"destroy"' "destroy is recorded"
it_assert_eq 1 "$(grep '"event":"generate"' "$LOG" | grep -c '"outcome":"failed"')" \
	"the refused second generate is recorded as failed"
it_assert_contains "$(head -1 "$LOG")" "\"actor\":\"$(id -un)@$(hostname)\"" "actor is user@host"
it_assert_contains "$(head -1 "$LOG")" "\"prev\":\"$(printf '0%.0s' {1..64})\"" \
	"line 1 chains onto 64 zeros"
# prev of line 2 is the SHA-256 of line 1's bytes, without its newline.
h1=$(head -1 "$LOG" | tr -d '\n' | sha256sum | cut -d' ' -f1)
it_assert_contains "$(sed -n 2p "$LOG")" "\"prev\":\"$h1\"" "line 2's prev is sha256(line 1)"
hn=$(tail -1 "$LOG" | tr -d '\n' | sha256sum | cut -d' ' -f1)
it_assert_eq "{\"seq\":$n,\"hash\":\"$hn\"}" "$(cat "$HEAD")" "the head records the last line"
leaked=0
for pin in "$HSMCA_HOME"/pins/*.pin; do
	[[ -s "$pin" ]] || continue
	if grep -qF -- "$(cat "$pin")" "$LOG"; then leaked=1; fi
done
it_assert_eq 0 "$leaked" "no PIN value in audit.log"

json=$(it_ok "$HSMCA" --json audit verify)
it_assert_eq "true $n" "$(printf '%s' "$json" | /usr/bin/python3 -c \
	'import json,sys; o=json.load(sys.stdin); print(str(o["ok"]).lower(), o["lines"])')" \
	"--json reports ok and the line count"

cp "$LOG" "$WORK/good.log"
cp "$HEAD" "$WORK/good.head"
restore() { cp "$WORK/good.log" "$LOG"; cp "$WORK/good.head" "$HEAD"; }

# --- a value changed in line 2: line 2 still parses, line 3 no longer chains ---
sed -i '2s/"event":"generate"/"event":"generatE"/' "$LOG"
it_expect_fail 1 "line 3: prev does not match the hash of line 2 (line 2 was altered" \
	"$HSMCA" audit verify
restore

# --- broken JSON in line 2 ---
sed -i '2s/^{/[/' "$LOG"
it_expect_fail 1 "line 2: not valid JSON" "$HSMCA" audit verify
restore

# --- line 2 deleted; lines 2 and 3 swapped ---
sed -i '2d' "$LOG"
it_expect_fail 1 "line 2: seq is 3, expected 2" "$HSMCA" audit verify
restore
awk 'NR == 2 { held = $0; next } NR == 3 { print; print held; next } { print }' \
	"$WORK/good.log" >"$LOG"
it_expect_fail 1 "line 2: seq is 3, expected 2" "$HSMCA" audit verify
restore

# --- the last line edited: only the head can tell ---
sed -i "${n}s/\"outcome\":\"ok\"/\"outcome\":\"failed\"/" "$LOG"
it_expect_fail 1 "line $n: hash does not match the head file" "$HSMCA" audit verify
restore

# --- the last line removed: detected, and no new event may cover it up ---
sed -i '$d' "$LOG"
it_expect_fail 1 "log ends at line $((n - 1)) but the head records line $n" "$HSMCA" audit verify
before=$(sha256sum <"$LOG")
it_expect_fail 1 "refusing to append" \
	"$HSMCA" key generate --label audit-k2 --type ec-p256
it_assert_eq "$before" "$(sha256sum <"$LOG")" "the refused append left the log untouched"
it_expect_fail 1 "log ends at line $((n - 1)) but the head records line $n" "$HSMCA" audit verify
restore

# --- the log removed altogether: the head still remembers ---
rm -f "$LOG"
it_expect_fail 1 "log ends at line 0 but the head records line $n" "$HSMCA" audit verify
restore

# --- the head behind the log, as a crash in a batch of deferred appends
#     leaves it: accepted, and the lines after it are still chain-checked ---
h2=$(sed -n 2p "$LOG" | tr -d '\n' | sha256sum | cut -d' ' -f1)
printf '{"seq":2,"hash":"%s"}\n' "$h2" >"$HEAD"
out=$(it_ok "$HSMCA" audit verify)
it_assert_contains "$out" "$n lines, hash chain intact" "a head behind the log verifies ($n lines)"
sed -i '3s/"event":"generate"/"event":"generatE"/' "$LOG"
it_expect_fail 1 "line 4: prev does not match the hash of line 3" "$HSMCA" audit verify
cp "$WORK/good.log" "$LOG"
# The next logged event moves the head to the end of the log again.
it_ok "$HSMCA" key generate --label audit-k3 --type ec-p256 >/dev/null
m=$(wc -l <"$LOG")
hm=$(tail -1 "$LOG" | tr -d '\n' | sha256sum | cut -d' ' -f1)
it_assert_eq "{\"seq\":$m,\"hash\":\"$hm\"}" "$(cat "$HEAD")" "the next event brings the head to the end"
restore

# --- the head names a line that is there, with another hash ---
printf '{"seq":2,"hash":"%s"}\n' "$(printf 'e%.0s' {1..64})" >"$HEAD"
it_expect_fail 1 "line 2: hash does not match the head file (the head file was altered" \
	"$HSMCA" audit verify
restore

# --- a 1 MB line is named, not swallowed ---
head -c 1048576 /dev/zero | tr '\0' 'x' >>"$LOG"
echo >>"$LOG"
it_expect_fail 1 "line $((n + 1)): longer than the 65536-byte limit" "$HSMCA" audit verify
restore

out=$(it_ok "$HSMCA" audit verify)
it_assert_contains "$out" "$n lines, hash chain intact" "restored log verifies again"
it_summary
