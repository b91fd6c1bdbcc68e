#!/usr/bin/env bash
# Builds the Linux benchmark peer for `make bench-net` from Debian packages only, cached under OUT:
#
#   scripts/linux-peer.sh [OUT]        (default build/linux-peer)
#
# Downloads (once; kept in OUT/debs) with `apt-get download`:
#   - the kernel, linux-image-6.1.0-<abi>-amd64: the one Debian's linux-image-amd64 points at,
#     or LINUX_PEER_KERNEL=<package> to choose; a kernel already in the cache is kept;
#   - busybox-static (a shell, and httpd for the HTTP transfer);
#   - cpio (packs the initramfs).
# and makes OUT/image, a directory scripts/qemu.sh boots like a Ward image:
#   kernel.elf      vmlinux, unpacked from the package's bzImage, entered by PVH (QEMU reads the
#                   ELF's Xen note): no decompression in the guest, the fastest boot measured
#   initramfs.cpio  uncompressed newc: /init (tests/bench-net/linux-peer/peer-init.c, static),
#                   /bin/pipe-rtt, /bin/busybox, /lib/modules/{e1000.ko, its dependencies, load-order}
#   modules         "initramfs.cpio" (what qemu.sh passes as -initrd)
#   cmdline         the kernel's base command line
#   versions        the packages used, one "name version" a line (also printed)
# Host tools it needs: apt-get, dpkg-deb, xz, objcopy, and gcc with static glibc (installed with
# apt-get when missing). Downloads and unpacking happen only when missing; the initramfs is
# rebuilt on every call (a second or two).
set -euo pipefail

out="${1:-build/linux-peer}"
here="$(cd "$(dirname "$0")" && pwd)"
sources="$here/../tests/bench-net/linux-peer"

# The NIC both guests are given (QEMU's e1000, an 82540EM).
readonly MODULES=(e1000)
readonly USERLAND_PACKAGES=(busybox-static cpio)
# The kernel's base command line: serial console; only warnings and worse on it (printing to the
# emulated UART costs boot time); a panic ends the run at once (QEMU runs with -no-reboot).
readonly CMDLINE="console=ttyS0 quiet panic=-1"

say() { printf 'linux-peer: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
    else die "not root and no sudo: cannot run '$*'"
    fi
}

# gcc and static glibc for the two C programs; objcopy (binutils, gcc brings it) reads modules.
if ! command -v gcc >/dev/null 2>&1 || ! command -v objcopy >/dev/null 2>&1 \
    || [ ! -e /usr/lib/x86_64-linux-gnu/libc.a ]; then
    say "installing gcc and libc6-dev with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends gcc libc6-dev binutils
fi
for tool in apt-get apt-cache dpkg-deb xz; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (a Debian host is needed)"
done

mkdir -p "$out/debs" "$out/pkgs"
out="$(cd "$out" && pwd)"
debs="$out/debs"
pkgs="$out/pkgs"

# apt-get download needs the package lists; a fresh machine may have none.
apt_knows() { apt-cache show "$1" >/dev/null 2>&1; }
lists_updated=0
ensure_lists() {
    if ! apt_knows "$1" && [ "$lists_updated" -eq 0 ]; then
        say "updating apt's package lists"
        as_root apt-get update -q >&2
        lists_updated=1
    fi
    apt_knows "$1" || die "apt does not know package '$1'"
}

# The cached .deb of PACKAGE, downloading it when missing.
deb_of() {
    local package="$1" found
    found="$(find "$debs" -maxdepth 1 -name "${package}_*.deb" | sort | tail -n 1)"
    if [ -z "$found" ]; then
        ensure_lists "$package"
        say "downloading $package"
        # As root, apt would hand the download to its sandbox user, who cannot write here.
        local sandbox=()
        [ "$(id -u)" -ne 0 ] || sandbox=(-o APT::Sandbox::User=root)
        (cd "$debs" && apt-get download -q "${sandbox[@]}" "$package" >&2) || die "apt-get download $package failed"
        found="$(find "$debs" -maxdepth 1 -name "${package}_*.deb" | sort | tail -n 1)"
        [ -n "$found" ] || die "apt-get download $package left no .deb in $debs"
    fi
    printf '%s\n' "$found"
}

# Which kernel: the user's choice, else the one already cached, else Debian's current 6.1.
kernel_package="${LINUX_PEER_KERNEL:-}"
if [ -z "$kernel_package" ]; then
    cached="$(find "$debs" -maxdepth 1 -name 'linux-image-6.1.0-*-amd64_*.deb' | sort -V | tail -n 1)"
    if [ -n "$cached" ]; then
        kernel_package="$(basename "$cached" | cut -d_ -f1)"
    else
        ensure_lists linux-image-amd64
        kernel_package="$(apt-cache depends linux-image-amd64 \
            | sed -n -E 's/^ *Depends: (linux-image-6\.1\.0-[0-9]+-amd64)$/\1/p' | head -n 1)"
        [ -n "$kernel_package" ] || die "linux-image-amd64 depends on no linux-image-6.1.0-*-amd64"
    fi
fi
[[ "$kernel_package" =~ ^linux-image-6\.1\.0-[0-9]+-amd64(-unsigned)?$ ]] \
    || die "LINUX_PEER_KERNEL='$kernel_package' is not a linux-image-6.1.0-<abi>-amd64 package"

# Unpacks a package once into pkgs/<package>; prints that directory.
unpacked() {
    local package="$1" deb dir
    deb="$(deb_of "$package")"
    dir="$pkgs/$package"
    if [ ! -e "$dir/.unpacked" ]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        dpkg-deb -x "$deb" "$dir"
        touch "$dir/.unpacked"
    fi
    printf '%s\n' "$dir"
}
kernel_dir="$(unpacked "$kernel_package")"
busybox_dir="$(unpacked busybox-static)"
cpio_dir="$(unpacked cpio)"
versions=()
for p in "$kernel_package" "${USERLAND_PACKAGES[@]}"; do
    versions+=("$p $(dpkg-deb -f "$(deb_of "$p")" Version)")
done

kernel_release="$(basename "$(find "$kernel_dir/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")"
[ -n "$kernel_release" ] || die "$kernel_package has no lib/modules/<release>"
bzimage="$kernel_dir/boot/vmlinuz-$kernel_release"
[ -f "$bzimage" ] || die "$kernel_package has no boot/vmlinuz-$kernel_release"

image="$out/image"
staging="$out/initramfs"
rm -rf "$staging"
mkdir -p "$image" "$staging/bin" "$staging/lib/modules"

# --- vmlinux out of the bzImage (x86 boot protocol 2.08+, Documentation/x86/boot.rst) ---------
# The protected-mode part starts after (setup_sects + 1) sectors of 512 bytes (setup_sects 0
# means 4); payload_offset and payload_length locate the compressed kernel inside it.
u8_at() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
u32_at() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
vmlinux="$image/kernel.elf"
# Which package the unpacked kernel came from: a different choice unpacks again.
kernel_from="${versions[0]}"
if [ ! -s "$vmlinux" ] || [ "$(cat "$image/kernel.from" 2>/dev/null)" != "$kernel_from" ]; then
    [ "$(od -An -c -j $((0x202)) -N4 "$bzimage" | tr -d ' ')" = "HdrS" ] || die "$bzimage is not a bzImage"
    setup_sects="$(u8_at "$bzimage" $((0x1f1)))"
    [ "$setup_sects" -ne 0 ] || setup_sects=4
    payload_offset="$(u32_at "$bzimage" $((0x248)))"
    payload_length="$(u32_at "$bzimage" $((0x24c)))"
    start=$(( (setup_sects + 1) * 512 + payload_offset ))
    # Debian builds with CONFIG_KERNEL_XZ; the payload ends with the 4-byte uncompressed size.
    dd if="$bzimage" iflag=skip_bytes,count_bytes skip="$start" count="$payload_length" bs=1M status=none \
        | xz -dc --single-stream > "$vmlinux.tmp" || die "cannot unpack the kernel from $bzimage"
    [ "$(od -An -c -N4 "$vmlinux.tmp" | tr -d ' ')" = '177ELF' ] || die "the unpacked kernel is not an ELF file"
    mv "$vmlinux.tmp" "$vmlinux"
    echo "$kernel_from" > "$image/kernel.from"
fi

# --- the NIC driver and what it depends on, in load order -------------------------------------
modules_root="$kernel_dir/lib/modules/$kernel_release/kernel"
module_file() {  # the .ko of a module name (module names treat - and _ alike)
    local f
    f="$(find "$modules_root" \( -name "$1.ko" -o -name "${1//_/-}.ko" -o -name "${1//-/_}.ko" \) | head -n 1)"
    [ -n "$f" ] || die "module $1 not found in $kernel_package"
    printf '%s\n' "$f"
}
module_depends() {  # the modules a .ko names in its depends= field
    objcopy -O binary --only-section=.modinfo "$1" /dev/stdout | tr '\0' '\n' \
        | sed -n 's/^depends=//p' | tr ',' ' '
}
loaded=" "
add_module() {  # depth first: dependencies before the module itself
    local name="$1" file dep
    case "$loaded" in *" $name "*) return ;; esac
    file="$(module_file "$name")"
    for dep in $(module_depends "$file"); do add_module "$dep"; done
    loaded="$loaded$name "
    cp "$file" "$staging/lib/modules/$name.ko"
    echo "$name.ko" >> "$staging/lib/modules/load-order"
}
: > "$staging/lib/modules/load-order"
for m in "${MODULES[@]}"; do add_module "$m"; done

# --- userland ---------------------------------------------------------------------------------
cflags=(-static -O2 -Wall -Wextra -Werror)
gcc "${cflags[@]}" -o "$staging/init" "$sources/peer-init.c"
gcc "${cflags[@]}" -o "$staging/bin/pipe-rtt" "$sources/pipe-rtt.c"
cp "$busybox_dir/bin/busybox" "$staging/bin/busybox"
ln -s busybox "$staging/bin/sh"
versions+=("gcc $(gcc -dumpfullversion)")

# Uncompressed: the guest unpacks it without decompressing (a few MiB, read by QEMU directly).
(cd "$staging" && find . -mindepth 1 | LC_ALL=C sort \
    | "$cpio_dir/bin/cpio" --quiet -o -H newc --owner=0:0 --reproducible) > "$image/initramfs.cpio.tmp"
mv "$image/initramfs.cpio.tmp" "$image/initramfs.cpio"
echo "initramfs.cpio" > "$image/modules"
echo "$CMDLINE" > "$image/cmdline"
printf '%s\n' "${versions[@]}" > "$image/versions"

say "built $image from:"
sed 's/^/  /' "$image/versions" >&2
