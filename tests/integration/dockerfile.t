#!/usr/bin/env bash
# The Dockerfile cannot be built here (no docker), so its parts are checked
# against the tree: every `make` in a RUN step names targets the Makefile has
# (`make -n`), it COPYs every folder the Makefile includes, the binaries it
# copies out are where `make install DESTDIR PREFIX` puts them, the build
# stage installs the -dev package of every -l library the build links, and
# the runtime stage installs the Debian package of every soname that
# `ldd build/meshcut-*` resolves (directly or as a dependency of what it
# installs, or as part of debian:12-slim).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
DF=Dockerfile

# a check whose subject is not in the tree yet: reported, not failed
todo() { TAP_N=$((TAP_N + 1)); echo "not ok $TAP_N - $1 # TODO $2"; }

[ -f "$DF" ] || { echo "Bail out! no Dockerfile"; exit 1; }

# the Dockerfile with continuation lines joined, one instruction per line
joined=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$DF" | grep -v '^[[:space:]]*#')
stage_of() { # N -> the instructions of stage N (0-based)
	awk -v want="$1" '/^FROM /{s++} s-1==want' <<<"$joined"
}
pkgs_of_stage() { # N -> the packages its apt-get install names
	stage_of "$1" | grep -o 'apt-get install[^&;]*' | tr ' ' '\n' |
		grep -v -e '^-' -e '^apt-get$' -e '^install$' -e '^$'
}

# --- make targets of the RUN steps ---
while read -r line; do
	# words after "make": VAR=VALUE assignments, -options, targets
	read -ra words <<<"${line#*make }"
	vars=(); targets=()
	for w in "${words[@]}"; do
		case $w in
		*=*) vars+=("$w") ;;
		-*) ;;
		*) targets+=("$w") ;;
		esac
	done
	[ ${#targets[@]} -gt 0 ] || targets=(all)
	for t in "${targets[@]}"; do
		out=$(make -n "${vars[@]}" "$t" 2>&1 >/dev/null); rc=$?
		if [ $rc = 0 ]; then
			ok "make -n ${vars[*]} $t: the Makefile has it"
		elif grep -q "No rule to make target" <<<"$out"; then
			todo "make -n ${vars[*]} $t" "$(grep -o "No rule to make target[^.]*" <<<"$out" | head -1) (not in the tree yet)"
		else
			not_ok "make -n ${vars[*]} $t"
			while IFS= read -r l; do diag "$l"; done <<<"$out"
		fi
	done
done < <(grep '^RUN ' <<<"$joined" | sed 's/^RUN //; s/&&/\n/g; s/;/\n/g' | sed 's/^[[:space:]]*//' | grep '^make ')

# --- the sources it copies ---
for dir in mk $(sed -n 's|^include \([^/]*\)/.*|\1|p' Makefile | sort -u); do
	if grep -qE "^COPY ($dir/? |.* $dir/? )" <<<"$(stage_of 0)"; then
		ok "build stage copies $dir/ (the Makefile needs it)"
	else
		not_ok "build stage copies $dir/ (the Makefile needs it)"
	fi
done
if grep -qE '^COPY (\. |\./ )' <<<"$joined"; then
	not_ok "build stage copies sources only (COPY . would bring build/ and .git)"
else
	ok "build stage copies sources only (no COPY .)"
fi

# --- what it takes out of the build stage ---
make_line=$(grep '^RUN ' <<<"$joined" | sed 's/^RUN //; s/&&/\n/g; s/;/\n/g' | grep -E '^[[:space:]]*make .*install' | head -1)
destdir=$(grep -oE 'DESTDIR=[^ ]+' <<<"$make_line" | cut -d= -f2)
prefix=$(grep -oE 'PREFIX=[^ ]+' <<<"$make_line" | cut -d= -f2)
if grep -qE "^COPY --from=build ${destdir}${prefix}/bin/? /usr/local/bin/" <<<"$joined"; then
	ok "runtime stage copies \$DESTDIR\$PREFIX/bin ($destdir$prefix/bin) to /usr/local/bin"
else
	not_ok "runtime stage copies \$DESTDIR\$PREFIX/bin ($destdir$prefix/bin) to /usr/local/bin"
fi
user=$(stage_of 1 | sed -n 's/^USER \([0-9]*\).*/\1/p' | tail -1)
if [ -n "$user" ] && [ "$user" != 0 ]; then ok "runtime image runs as a non-root user ($user)"
else not_ok "runtime image runs as a non-root user"; fi

# --- packages: real, and covering what is linked ---
build_pkgs=$(pkgs_of_stage 0)
run_pkgs=$(pkgs_of_stage 1)
unknown=()
for p in $build_pkgs $run_pkgs; do
	dpkg-query -W "$p" >/dev/null 2>&1 || apt-cache show "$p" >/dev/null 2>&1 || unknown+=("$p")
done
if [ ${#unknown[@]} = 0 ]; then
	ok "every package the Dockerfile names exists ($(wc -w <<<"$build_pkgs $run_pkgs") packages)"
else
	not_ok "packages unknown to Debian: ${unknown[*]}"
fi

# pkg_of FILE: the installed package that ships it, in $PKG: the file itself
# (a -dev symlink) first, then what it resolves to; /lib and /usr/lib alike
declare -A PKG_OF
pkg_of() {
	local base f
	PKG=${PKG_OF[$1]:-}
	[ -z "$PKG" ] || return 0
	for base in "$(realpath -s "$1")" "$(readlink -f "$1")"; do
		for f in "$base" "/usr${base#/usr}" "${base#/usr}"; do
			PKG=$(dpkg -S "$f" 2>/dev/null | head -1 | cut -d: -f1)
			[ -n "$PKG" ] && { PKG_OF[$1]=$PKG; return 0; }
		done
	done
	return 1
}
# closure PKGS: the packages plus what they depend on, recursively, from the
# dpkg database (every runtime library is installed where the binaries are
# built); alternatives (a | b) all count
declare -A DEPS
while IFS=$'\t' read -r p deps; do
	DEPS[$p]=$deps
done < <(dpkg-query -W -f='${Package}\t${Depends}, ${Pre-Depends}\n' |
	sed -e 's/([^)]*)//g' -e 's/:any//g' -e 's/[,|]/ /g' -e 's/  */ /g')
closure() {
	local todo=($*) p
	declare -A seen
	while [ ${#todo[@]} -gt 0 ]; do
		p=${todo[-1]}; unset 'todo[-1]'
		[ -z "${seen[$p]:-}" ] || continue
		seen[$p]=1
		todo+=(${DEPS[$p]:-})
	done
	echo "${!seen[@]}"
}
# debian:12-slim holds the "required" packages
slim=$(dpkg-query -W -f='${Package} ${Priority}\n' | awk '$2 == "required" {print $1}')

# the libraries the image's binaries link: -l flags outside tests/ (which
# builds test programs only)
build_closure=" $(closure $build_pkgs $slim) "
link_files=$(ls Makefile */build.mk */*/build.mk 2>/dev/null | grep -v '^tests/')
for lib in $(cat $link_files | grep -oE '(^|[ =])-l[a-zA-Z0-9_]+' | sed 's/.*-l//' | sort -u); do
	so=$(gcc -print-file-name="lib$lib.so")
	[ "$so" != "lib$lib.so" ] || so=$(gcc -print-file-name="lib$lib.a") # glibc's libpthread
	if [ "$so" = "lib$lib.a" ]; then
		not_ok "-l$lib: no lib$lib.so or lib$lib.a on this machine"
		continue
	fi
	PKG=; pkg_of "$so"; p=$PKG
	if [ -n "$p" ] && [[ "$build_closure" == *" $p "* ]]; then
		ok "-l$lib: $p is in the build stage"
	else
		not_ok "-l$lib: ${p:-no package} ($so) is not in the build stage"
	fi
done

allowed=" $(closure $run_pkgs $slim) "
for b in "$BUILD"/meshcut-agent "$BUILD"/meshcut "$BUILD"/meshcut-init "$BUILD"/meshcut-webhook; do
	if [ ! -x "$b" ]; then
		todo "ldd $b" "not built in this tree yet"
		continue
	fi
	missing=()
	while read -r so path; do
		[ -n "$path" ] || continue
		pkg_of "$path" || { missing+=("$so (no package)"); continue; }
		[[ "$allowed" == *" $PKG "* ]] || missing+=("$so ($PKG)")
	done < <(ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}')
	if [ ${#missing[@]} = 0 ]; then
		ok "ldd $b: every library comes with the runtime stage's packages"
	else
		not_ok "ldd $b: the runtime stage lacks ${missing[*]}"
	fi
done

tap_done
[ "$TAP_FAILED" = 0 ]
