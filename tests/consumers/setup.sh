#!/bin/bash
# Installs the tools that tests/unit/check_report_consumers.c opens pyinstr-report's outputs
# with. Everything goes to $PYI_CONSUMERS (default /tmp/pyinstr-consumers), nothing into the
# repository; the test reports each missing tool as SKIPPED.
#
#   speedscope    npm install speedscope            (needs npm)
#   chromium      apt-get install chromium          (runs speedscope headless; root, --apt)
#   go            apt-get install golang-go         (go tool pprof; root, --apt)
#   pyinstrument  on neither apt nor npm: pass a checkout of github.com/joerick/pyinstrument
#                 as PYINSTRUMENT_SRC=/path; its C extension is built for a python3 that has
#                 its headers (pyenv builds do).
#
# usage: tests/consumers/setup.sh [--apt]
set -eu

dir=${PYI_CONSUMERS:-/tmp/pyinstr-consumers}
mkdir -p "$dir"

if [ "${1:-}" = --apt ]; then
	need=
	command -v chromium >/dev/null || need="$need chromium"
	command -v go >/dev/null || need="$need golang-go"
	command -v npm >/dev/null || need="$need npm"
	if [ -n "$need" ]; then
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $need
	fi
fi

if command -v npm >/dev/null; then
	npm install --prefix "$dir" --no-audit --no-fund speedscope
else
	echo "setup.sh: npm is missing: speedscope not installed (try --apt)" >&2
fi

if [ -n "${PYINSTRUMENT_SRC:-}" ]; then
	rm -rf "$dir/pyinstrument"
	mkdir -p "$dir/pyinstrument"
	cp -r "$PYINSTRUMENT_SRC/pyinstrument" "$dir/pyinstrument/"
	built=
	for py in $(ls /root/.pyenv/versions/*/bin/python3 2>/dev/null) $(command -v python3); do
		inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
		[ -f "$inc/Python.h" ] || continue
		suffix=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
		low="$dir/pyinstrument/pyinstrument/low_level"
		cc -shared -fPIC -O2 -I"$inc" -I"$low" "$low/stat_profile.c" "$low/pyi_floatclock.c" \
			"$low/pyi_timing_thread.c" -o "$low/stat_profile$suffix" && built="$built $py"
	done
	echo "setup.sh: pyinstrument built for:${built:- nothing (no Python headers found)}"
else
	echo "setup.sh: PYINSTRUMENT_SRC not set: pyinstrument not installed" >&2
fi

for tool in chromium go; do
	command -v $tool >/dev/null || echo "setup.sh: $tool is missing (run with --apt as root)" >&2
done
echo "setup.sh: consumers in $dir"
