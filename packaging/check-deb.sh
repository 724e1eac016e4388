#!/usr/bin/env bash
# Installs a Debian package of authban into an empty directory tree with `dpkg --root`, as
# root, and checks it: every file in place with its mode, the configuration a conffile
# that `config check` accepts, the binary running, the service neither enabled nor started,
# and remove/purge leaving nothing behind.
#   packaging/check-deb.sh DEB [--run-with qemu-aarch64-static] [--same-files-as OTHER.deb]
# A package for another architecture (packaging/cross.sh deb) is installed into a tree whose
# dpkg takes that architecture; its binary runs here under qemu, through binfmt_misc
# (packaging/cross.sh setup) or --run-with. --same-files-as compares the two packages'
# contents: every path, with its mode and owner.
set -euo pipefail

deb=$1
shift
run_with=()
same_as=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --run-with) run_with=("$2"); shift 2 ;;
        --same-files-as) same_as=$2; shift 2 ;;
        *) echo "check-deb.sh: unknown option $1" >&2; exit 64 ;;
    esac
done
fail() { echo "check-deb.sh: $*" >&2; exit 1; }

# Mode, owner and path of every entry of a package (sizes differ between architectures).
contents() { dpkg-deb -c "$1" | awk '{print $1, $2, $6}' | sort -k3; }
if [[ -n $same_as ]]; then
    if ! diff <(contents "$same_as") <(contents "$deb"); then
        fail "$(basename "$deb") does not carry the files of $(basename "$same_as") (diff above)"
    fi
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/log"
touch "$root/var/lib/dpkg/status"
arch=$(dpkg-deb -f "$deb" Architecture)
if [[ $arch != "$(dpkg --print-architecture)" ]]; then
    dpkg --root="$root" --add-architecture "$arch"
fi
# The maintainer scripts run here, not chrooted (the tree has no shell): they see
# DPKG_ROOT and must touch nothing outside it.
dpkg --root="$root" --force-script-chrootless --log="$root/var/log/dpkg.log" -i "$deb" >"$root/install.out"
cat "$root/install.out"
grep -q "installed, not started" "$root/install.out" || fail "postinst did not say the service is not started"

want=(
    /usr/bin/authban
    /lib/systemd/system/authban.service
    /etc/authban/authban.toml
    /usr/share/man/man1/authban.1.gz
    /usr/share/man/man1/authban-scan.1.gz
    /usr/share/man/man1/authban-run.1.gz
    /usr/share/bash-completion/completions/authban
    /usr/share/zsh/vendor-completions/_authban
    /usr/share/fish/vendor_completions.d/authban.fish
    /usr/share/doc/authban/README.md
    /usr/share/doc/authban/copyright
)
listed=$(dpkg --root="$root" -L authban)
for f in "${want[@]}"; do
    [[ -f $root$f ]] || fail "$f is not installed"
    grep -qxF "$f" <<<"$listed" || fail "$f is not listed by dpkg -L"
done
[[ $(stat -c %a "$root/usr/bin/authban") == 755 ]] || fail "usr/bin/authban is not 0755"
[[ $(stat -c %U:%G "$root/usr/bin/authban") == root:root ]] || fail "usr/bin/authban is not root's"
[[ $(stat -c %a "$root/etc/authban/authban.toml") == 644 ]] || fail "the configuration is not 0644"
# Every command has its manual page.
for cmd in $("${run_with[@]}" "$root/usr/bin/authban" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z-]*\) .*/\1/p' | grep -vx help); do
    [[ -f $root/usr/share/man/man1/authban-$cmd.1.gz ]] || fail "no manual page for $cmd"
done
zcat "$root/usr/share/man/man1/authban-scan.1.gz" | grep -q '^\.TH' || fail "authban-scan.1 is not a manual page"
grep -qxF /etc/authban/authban.toml "$root/var/lib/dpkg/info/authban.conffiles" \
    || fail "the configuration is not a conffile"
grep -q '^ExecStart=/usr/bin/authban run' "$root/lib/systemd/system/authban.service" \
    || fail "the unit does not start /usr/bin/authban"
"${run_with[@]}" "$root/usr/bin/authban" --version
"${run_with[@]}" "$root/usr/bin/authban" config check --config "$root/etc/authban/authban.toml" >/dev/null \
    || fail "config check refuses the packaged configuration"
# No consent, no firewall: the service is not enabled, and nothing was started.
if compgen -G "$root/etc/systemd/system/*.wants/authban.service" >/dev/null; then
    fail "the package enabled the service"
fi
[[ ! -e $root/var/lib/authban ]] || fail "the package created state (did something run?)"

# An admin's change to the configuration survives remove; purge takes everything.
echo '# edited by the admin' >>"$root/etc/authban/authban.toml"
dpkg --root="$root" --force-script-chrootless --log="$root/var/log/dpkg.log" -r authban >/dev/null
[[ ! -e $root/usr/bin/authban ]] || fail "remove left the binary"
grep -q 'edited by the admin' "$root/etc/authban/authban.toml" || fail "remove lost the admin's configuration"
mkdir -p "$root/var/lib/authban"
dpkg --root="$root" --force-script-chrootless --log="$root/var/log/dpkg.log" -P authban >/dev/null
[[ ! -e $root/etc/authban/authban.toml ]] || fail "purge left the configuration"
[[ ! -e $root/var/lib/authban ]] || fail "purge left the state"
left=$(find "$root" -path "$root/var" -prune -o -type f -print | grep -v '/install.out$' || true)
[[ -z $left ]] || fail "purge left files: $left"
echo "check-deb.sh: $(basename "$deb"): installs, carries every file, starts nothing, removes and purges cleanly"
