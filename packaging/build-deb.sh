#!/usr/bin/env bash
# Builds the Debian package of authban from a built static binary:
#   packaging/build-deb.sh [--arch amd64|arm64|armhf] [--binary PATH] [--tool PATH]
#                          [--strip PROGRAM] [--out DIR]
# --binary is the executable to package (default target/release/authban, as the README
# builds it); --tool is an authban that runs here, used to write the unit, the manual pages
# and the completions (default: the binary itself, which must then run on this machine);
# --strip is the binutils strip for the binary's architecture (default strip): the release
# profile keeps line tables for backtraces, which the package leaves out (21 MB → 5 MB).
# Prints the path of the .deb. Needs dpkg-deb (Debian's dpkg) and nothing else.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
arch=$(dpkg --print-architecture)
binary=target/release/authban
tool=""
strip=strip
out=target/debian
while [[ $# -gt 0 ]]; do
    case $1 in
        --arch) arch=$2; shift 2 ;;
        --binary) binary=$2; shift 2 ;;
        --tool) tool=$2; shift 2 ;;
        --strip) strip=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "build-deb.sh: unknown option $1" >&2; exit 64 ;;
    esac
done
tool=${tool:-$binary}
[[ -x $binary ]] || { echo "build-deb.sh: no executable $binary: build it first (README, Two commands)" >&2; exit 66; }
"$tool" --version >/dev/null || { echo "build-deb.sh: $tool does not run here; give --tool" >&2; exit 69; }

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"

install -D -m 755 "$binary" "$stage/usr/bin/authban"
"$strip" --strip-debug "$stage/usr/bin/authban"
# The unit and the default configuration, as `authban install` writes them, moved to where a
# package keeps them: the unit under /lib (an admin's /etc/systemd/system copy wins), the
# configuration in /etc as a conffile (dpkg keeps the admin's changes on upgrade).
env -u AUTHBAN_CONFIG "$tool" install --root "$stage" --exec /usr/bin/authban >/dev/null
install -D -m 644 "$stage/etc/systemd/system/authban.service" "$stage/lib/systemd/system/authban.service"
rm -r "$stage/etc/systemd"
# The manual pages and the completions, from the same command definition as --help.
man=$stage/usr/share/man/man1
mkdir -p "$man"
"$tool" man | gzip -9n >"$man/authban.1.gz"
for cmd in $("$tool" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z-]*\) .*/\1/p' | grep -vx help); do
    "$tool" man "$cmd" | gzip -9n >"$man/authban-$cmd.1.gz"
done
install -d "$stage/usr/share/bash-completion/completions" "$stage/usr/share/zsh/vendor-completions" \
    "$stage/usr/share/fish/vendor_completions.d"
"$tool" completions bash >"$stage/usr/share/bash-completion/completions/authban"
"$tool" completions zsh >"$stage/usr/share/zsh/vendor-completions/_authban"
"$tool" completions fish >"$stage/usr/share/fish/vendor_completions.d/authban.fish"
doc=$stage/usr/share/doc/authban
install -D -m 644 README.md "$doc/README.md"
install -m 644 examples/grafana-dashboard.json "$doc/grafana-dashboard.json"
printf 'Licence: MIT OR Apache-2.0 (Cargo.toml).\n' >"$doc/copyright"

install -d "$stage/DEBIAN"
for script in postinst prerm postrm; do
    install -m 755 "packaging/debian/$script" "$stage/DEBIAN/$script"
done
echo /etc/authban/authban.toml >"$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: authban
Version: $version
Architecture: $arch
Maintainer: authban developers <authban@localhost>
Installed-Size: $size
Section: net
Priority: optional
Recommends: nftables
Suggests: ipset, iptables
Description: protects a server against SSH brute force
 authban reads sshd's authentication log or the systemd journal, recognises
 password guessing, invalid users and scanners, and bans the attacking addresses
 in nftables, ipset/iptables or /etc/hosts.deny, within milliseconds. It also runs
 from cron (authban scan). The package installs the daemon's unit but neither
 enables nor starts it: review /etc/authban/authban.toml, then run
 systemctl enable --now authban.
CONTROL
mkdir -p "$out"
deb="$out/authban_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
