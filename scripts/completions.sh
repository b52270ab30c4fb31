#!/usr/bin/env bash
# Generates the bash or zsh completion of hsmca from the binary itself:
#   scripts/completions.sh PATH/TO/hsmca bash|zsh >OUT
# Run by the build (CMakeLists.txt) after hsmca is linked, so the completion
# always matches the command table of src/cli/main.c: the commands and their
# summaries come from `hsmca --help` (which prints that table), each
# command's actions and options from its synopsis and `hsmca CMD --help`.
# Nothing here is kept by hand: a new command or option shows up on the next
# build.  tests/integration/packaging.sh checks the result against --help.
set -euo pipefail
bin=${1:?usage: completions.sh HSMCA bash|zsh}
shell=${2:?usage: completions.sh HSMCA bash|zsh}
# A sanitizer build must not fail the build on a leak report.
export ASAN_OPTIONS=detect_leaks=0
unset HSMCA_HOME

help=$("$bin" --help)
# "  name  summary" lines between "Commands:" and the blank line after them.
mapfile -t cmd_lines < <(printf '%s\n' "$help" |
	awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { sub(/^ +/, ""); print }')
# "  --opt ARG  text" / "  -q, -v  text" lines after "Global options:".
mapfile -t glob_lines < <(printf '%s\n' "$help" |
	awk '/^Global options:/ { on = 1; next } on && /^$/ { exit } on && /^ +-/ { sub(/^ +/, ""); print }')

# opts_of TEXT: every --option (and -x short option) named in TEXT, sorted.
opts_of() {
	{ printf '%s\n' "$1" | grep -oE -- '(^|[][ |,(])(--[a-z][a-z0-9-]*|-[a-zA-Z])([] |,=)]|$)' || true; } |
		sed -E 's/^[][ |,(]//; s/[] |,=)]$//' | sort -u
}
# arg_of SYNOPSIS OPT: the placeholder of OPT's value ("" if it takes none).
arg_of() {
	local a
	a=$({ printf '%s\n' "$1" | grep -oE -- "(^|[][ |])$2(=| )[^] |]+" || true; } | head -1 |
		sed -E "s/^[][ |]?$2[= ]//")
	case $a in
	-* | "|"* | "") echo "" ;;
	[A-Z]* | [a-z]*/* | *,* | true* | *[0-9]*) echo "$a" ;;
	*) echo "" ;;
	esac
}
# is_path ARG: the value is a file (f), a directory (d) or neither ("").
is_path() {
	case $1 in
	DIR) echo d ;;
	FILE | PATH* | *.yaml | */*) echo f ;;
	*) echo "" ;;
	esac
}

names=() summaries=()
for l in "${cmd_lines[@]}"; do
	names+=("${l%% *}")
	s=${l#* }
	summaries+=("${s#"${s%%[! ]*}"}")
done
global_syn=$(printf '%s\n' "$help" | awk '/^Commands:/ { exit } { print }')
mapfile -t globals < <(opts_of "$global_syn"$'\n'"$(printf '%s\n' "${glob_lines[@]}")")

declare -A actions opts args
for opt in "${globals[@]}"; do
	args[$opt]=$(arg_of "$global_syn" "$opt")
done
for c in "${names[@]}"; do
	out=$("$bin" "$c" --help 2>/dev/null || true)
	syn=$(printf '%s\n' "$out" | head -1 | sed 's/^usage: hsmca \[global options\] //')
	actions[$c]=$({ printf '%s\n' "$syn" | grep -oE "(^| |\\| )$c [a-z][a-z-]+" || true; } |
		awk '{ print $NF }' | sort -u | tr '\n' ' ')
	# Global options a command's help mentions are not its own, unless its
	# synopsis takes them (check --json); those before the command name
	# (rotate-ca's -f) are global ones.
	o=""
	for opt in $(opts_of "$out"); do
		case " ${globals[*]} " in
		*" $opt "*) [[ " ${syn#*"$c"} " == *[\[\ ]"$opt"[\]\ =]* && $opt != -h && $opt != --help ]] && o+="$opt " ;;
		*) [[ $opt == -h || $opt == --help ]] || o+="$opt " ;;
		esac
	done
	for opt in $(opts_of "${syn%%"$c"*}"); do
		if [[ " ${globals[*]} " != *" $opt "* ]]; then
			globals+=("$opt")
			args[$opt]=$(arg_of "$syn" "$opt")
		fi
		o=${o//"$opt "/}
	done
	opts[$c]="$o--help"
	for opt in ${opts[$c]}; do
		args[$c$opt]=$(arg_of "$syn"$'\n'"$out" "$opt")
	done
done

gen_bash() {
	local c opt files="" dirs=""
	for opt in "${globals[@]}"; do
		[[ -n ${args[$opt]} ]] || continue
		case $(is_path "${args[$opt]}") in d) dirs+="|$opt" ;; f) files+="|$opt" ;; esac
	done
	for c in "${names[@]}"; do
		for opt in ${opts[$c]}; do
			case $(is_path "${args[$c$opt]:-}") in d) dirs+="|$opt" ;; f) files+="|$opt" ;; esac
		done
	done
	files=$(tr '|' '\n' <<<"${files#|}" | sort -u | paste -sd'|')
	dirs=$(tr '|' '\n' <<<"${dirs#|}" | sort -u | paste -sd'|')
	local gval=""
	for opt in "${globals[@]}"; do [[ -n ${args[$opt]} ]] && gval+="|$opt"; done
	cat <<EOF
# bash completion for hsmca.  GENERATED at build time by scripts/completions.sh
# from \`hsmca --help\` and each \`hsmca COMMAND --help\` (the command table
# of src/cli/main.c): do not edit.
_hsmca() {
	local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
	local i cmd="" at=0
	for ((i = 1; i < COMP_CWORD; i++)); do
		case \${COMP_WORDS[i]} in
		${gval#|}) ((i++)) ;;
		-*) ;;
		*) cmd=\${COMP_WORDS[i]}; at=\$i; break ;;
		esac
	done
	case \$prev in
EOF
	[[ -n $dirs ]] && printf '\t%s) COMPREPLY=($(compgen -d -- "$cur")); return ;;\n' "$dirs"
	[[ -n $files ]] && printf '\t%s) COMPREPLY=($(compgen -f -- "$cur")); return ;;\n' "$files"
	cat <<EOF
	esac
	local words
	case \$cmd in
	"") words="${globals[*]} ${names[*]}" ;;
EOF
	for c in "${names[@]}"; do
		if [[ -n ${actions[$c]} ]]; then
			printf '\t%s) if ((COMP_CWORD == at + 1)); then words="%s"; else words="%s"; fi ;;\n' \
				"$c" "${actions[$c]% }" "${opts[$c]}"
		else
			printf '\t%s) words="%s" ;;\n' "$c" "${opts[$c]}"
		fi
	done
	cat <<'EOF'
	*) words="" ;;
	esac
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
	# Arguments that are not options (a CSR, a CA name…): file names.
	if [[ ${#COMPREPLY[@]} -eq 0 && -n $cmd ]]; then
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}
complete -F _hsmca hsmca
EOF
}

# zsh_desc TEXT: TEXT safe inside a single-quoted _arguments/_describe spec.
zsh_desc() {
	printf '%s' "$1" | tr -d "[]:'\\\\"
}
# zsh_spec CMD OPT: an _arguments spec for OPT ('--opt[help]:ARG:_files').
zsh_spec() {
	local key=$1$2 a act="" help
	a=${args[$key]:-}
	# The text of the help line whose leading option list names OPT
	# ("  --warn D       the window", "  -q, -v   quieter / more verbose").
	help=$(printf '%s\n' "${3:-}" | awk -v o="$2" '
		/^ +-/ {
			line = $0; sub(/^ +/, "", line)
			head = line; sub(/  .*/, "", head)
			text = line; if (!sub(/^[^ ]+( [^ ]+)*  +/, "", text)) text = ""
			n = split(head, w, /[, ]+/)
			for (i = 1; i <= n; i++) if (w[i] == o) { print text; exit }
		}')
	case $(is_path "$a") in d) act=_files\ -/ ;; f) act=_files ;; esac
	[[ $a == true* ]] && act="(true false)"
	if [[ -n $a ]]; then
		local eq=""
		[[ ${3:-} == *"$2="* ]] && eq="="
		printf "'%s%s[%s]:%s:%s'" "$2" "$eq" "$(zsh_desc "$help")" "$(zsh_desc "$a")" "$act"
	else
		printf "'%s[%s]'" "$2" "$(zsh_desc "$help")"
	fi
}

gen_zsh() {
	local c i opt ghelp
	ghelp=$(printf '%s\n' "${glob_lines[@]}" | sed 's/^/  /')
	cat <<'EOF'
#compdef hsmca
# zsh completion for hsmca.  GENERATED at build time by scripts/completions.sh
# from `hsmca --help` and each `hsmca COMMAND --help` (the command table of
# src/cli/main.c): do not edit.
_hsmca() {
	local curcontext=$curcontext state line ret=1
	local -a commands
	commands=(
EOF
	for i in "${!names[@]}"; do
		printf "\t\t'%s:%s'\n" "${names[$i]}" "$(zsh_desc "${summaries[$i]}")"
	done
	printf '\t)\n\t_arguments -C \\\n'
	for opt in "${globals[@]}"; do
		[[ $opt == --help || $opt == -h ]] && continue
		printf '\t\t%s \\\n' "$(zsh_spec "" "$opt" "$ghelp")"
	done
	cat <<'EOF'
		'1:command:->command' \
		'*::argument:->argument' && ret=0
	case $state in
	command) _describe -t commands 'hsmca command' commands && ret=0 ;;
	argument)
		case $words[1] in
EOF
	for c in "${names[@]}"; do
		local out
		out=$("$bin" "$c" --help 2>/dev/null || true)
		printf '\t\t%s)\n' "$c"
		if [[ -n ${actions[$c]} ]]; then
			printf "\t\t\tif (( CURRENT == 2 )); then _values action %s && ret=0; return ret; fi\n" \
				"${actions[$c]% }"
		fi
		printf '\t\t\t_arguments -s'
		for opt in ${opts[$c]}; do
			printf ' \\\n\t\t\t\t%s' "$(zsh_spec "$c" "$opt" "$out")"
		done
		printf " \\\\\n\t\t\t\t'*:file:_files' && ret=0 ;;\n"
	done
	cat <<'EOF'
		esac ;;
	esac
	return ret
}
_hsmca "$@"
EOF
}

case $shell in
bash) gen_bash ;;
zsh) gen_zsh ;;
*) echo "completions.sh: shell must be bash or zsh" >&2; exit 2 ;;
esac
