#!/usr/bin/env bash
# Installs what building and booting Ward needs, and nothing else, without asking:
#   - the bare-metal Rust target `x86_64-unknown-none` and the `rust-src` component (rustup);
#   - QEMU for x86_64 (Debian package `qemu-system-x86`, which brings qboot.rom along);
#   - objcopy (binutils), curl and python3 for the network components' image and tests.
# When everything is already there it does no network access and returns in well under a second,
# so every make target that needs these things can depend on it.
#
# It cannot install Rust itself (that is not a package-registry download); if cargo or rustup is
# missing it says so and fails.
set -euo pipefail

# The bare-metal target for the kernel and every user program.
readonly TARGET=x86_64-unknown-none
# The firmware the runner boots with: ~0.05 s to the kernel, and it still provides ACPI tables.
readonly QBOOT=/usr/share/qemu/qboot.rom

say() { printf 'ensure-prereqs: %s\n' "$*" >&2; }

for tool in cargo rustup; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        say "error: '$tool' is not on PATH; install the Rust toolchain (rustup, stable) first"
        exit 1
    fi
done

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    say "installing Rust target $TARGET"
    rustup target add "$TARGET"
fi

if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
    say "installing Rust component rust-src"
    rustup component add rust-src
fi

# Debian packages: QEMU; objcopy (binutils), which strips debug info from the network
# components' boot modules; curl and Python 3, the host clients of the network tests.
need=()
if ! command -v qemu-system-x86_64 >/dev/null 2>&1 || [ ! -e "$QBOOT" ]; then
    need+=(qemu-system-x86)
fi
command -v objcopy >/dev/null 2>&1 || need+=(binutils)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]} with apt-get"
    if [ "$(id -u)" -eq 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null 2>&1; then
        sudo=(sudo -n)
    else
        say "error: not root and no sudo; install ${need[*]} by hand"
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# `timeout` (coreutils) bounds every non-interactive QEMU run; it is part of any Debian base system,
# but a missing one would make runs unbounded, so check rather than assume.
if ! command -v timeout >/dev/null 2>&1; then
    say "error: 'timeout' (coreutils) is missing"
    exit 1
fi
