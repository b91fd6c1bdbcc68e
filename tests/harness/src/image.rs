//! Boot images for scenarios: where the image of a system description lives, how it is built
//! (through the Makefile, the one place that knows the build commands), and the per-scenario copy
//! with a spoiled root-task module.
//!
//! An image directory holds `kernel.elf`, the module files, `modules` (module file names in boot
//! order, the root task first) and `cmdline`; see `scripts/qemu.sh`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::elf::{self, Mutation};

/// Where `make image` puts images, relative to the repository root.
pub const IMAGES_DIR: &str = "build/images";

/// The image directory of a system description: `build/images/<file name without .toml>`.
pub fn image_dir(root: &Path, system: &str) -> PathBuf {
    let stem = Path::new(system)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(system);
    root.join(IMAGES_DIR).join(stem)
}

/// Builds (or refreshes) the image of `system` with `make image-only`, which expects the kernel,
/// user programs and capctl to be built already (the `scenarios` make target sees to that).
/// Returns the image directory, or make's output on failure.
pub fn build(root: &Path, system: &str) -> Result<PathBuf, String> {
    if !root.join(system).is_file() {
        return Err(format!("system description '{system}' does not exist"));
    }
    let make = std::env::var("MAKE").unwrap_or_else(|_| "make".to_string());
    let out = Command::new(&make)
        .current_dir(root)
        .args(["--no-print-directory", "image-only"])
        .arg(format!("SYSTEM={system}"))
        .output()
        .map_err(|e| format!("cannot run {make}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "'{make} image-only SYSTEM={system}' failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let dir = image_dir(root, system);
    check(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// Checks that `dir` looks like a boot image, so that a broken image is reported as such rather
/// than as a failing boot.
pub fn check(dir: &Path) -> Result<(), String> {
    for f in ["kernel.elf", "modules"] {
        if !dir.join(f).is_file() {
            return Err(format!(
                "no {f} in the image (was it built with 'make image'?)"
            ));
        }
    }
    root_module(dir).map(|_| ())
}

/// File name of the root-task module: the first line of `modules`.
pub fn root_module(dir: &Path) -> Result<String, String> {
    let modules = fs::read_to_string(dir.join("modules")).map_err(|e| format!("modules: {e}"))?;
    modules
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "the modules file lists no root task".to_string())
}

/// Copies the image in `base` to `dest` (replacing it) and spoils its root-task module as `m` says.
pub fn spoiled_copy(base: &Path, dest: &Path, m: Mutation) -> Result<(), String> {
    copy_flat(base, dest)
        .map_err(|e| format!("copying {} to {}: {e}", base.display(), dest.display()))?;
    let root = root_module(dest)?;
    let path = dest.join(&root);
    let original = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let write =
        |p: &Path, data: &[u8]| fs::write(p, data).map_err(|e| format!("{}: {e}", p.display()));
    match elf::mutate(m, &original).map_err(|e| e.to_string())? {
        Some(bytes) => write(&path, &bytes),
        None => write(&dest.join("modules"), b""),
    }
}

/// Where the Makefile's `user` target puts the bare-metal user programs, relative to the
/// repository root.
pub const USER_PROGRAMS_DIR: &str = "target/x86_64-unknown-none/release";

/// Copies the image in `base` to `dest` (replacing it) with its root-task module replaced by the
/// user program `program` (an ELF file), keeping the module's file name so `modules` stays valid.
pub fn with_root_program(base: &Path, dest: &Path, program: &Path) -> Result<(), String> {
    if !program.is_file() {
        return Err(format!(
            "root program {} does not exist (is its package in the Makefile's USER_PACKAGES?)",
            program.display()
        ));
    }
    copy_flat(base, dest)
        .map_err(|e| format!("copying {} to {}: {e}", base.display(), dest.display()))?;
    let root = root_module(dest)?;
    let path = dest.join(&root);
    fs::copy(program, &path)
        .map_err(|e| format!("{} to {}: {e}", program.display(), path.display()))?;
    Ok(())
}

/// Copies the image in `base` to `dest` (replacing it) with program modules replaced: for each
/// `(program, elf)`, the module file `<program>.elf` (the name `capctl build` gives a program's
/// module) becomes a copy of the user program `elf`. The root task checks each component's
/// layout stamp, so only a program built against the same capability layout boots.
pub fn with_programs(
    base: &Path,
    dest: &Path,
    programs: &[(String, PathBuf)],
) -> Result<(), String> {
    copy_flat(base, dest)
        .map_err(|e| format!("copying {} to {}: {e}", base.display(), dest.display()))?;
    for (program, elf) in programs {
        let module = dest.join(format!("{program}.elf"));
        if !module.is_file() {
            return Err(format!(
                "the image has no module {program}.elf to replace (is `{program}` a program of the system?)"
            ));
        }
        if !elf.is_file() {
            return Err(format!(
                "program {} does not exist (is its package in the Makefile's USER_PACKAGES?)",
                elf.display()
            ));
        }
        fs::copy(elf, &module)
            .map_err(|e| format!("{} to {}: {e}", elf.display(), module.display()))?;
    }
    Ok(())
}

/// Copies the regular files of `from` into a fresh directory `to` (images have no subdirectories).
fn copy_flat(from: &Path, to: &Path) -> io::Result<()> {
    if to.exists() {
        fs::remove_dir_all(to)?;
    }
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("ward-scenario-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn image_dir_is_named_after_the_system_file() {
        let root = Path::new("/r");
        assert_eq!(
            image_dir(root, "system.toml"),
            Path::new("/r/build/images/system")
        );
        assert_eq!(
            image_dir(root, "tests/systems/edu.toml"),
            Path::new("/r/build/images/edu")
        );
    }

    #[test]
    fn spoiled_copy_changes_only_the_copy() {
        let base = scratch("base");
        fs::write(base.join("kernel.elf"), b"k").unwrap();
        fs::write(base.join("root-task.elf"), b"\x7fELF and the rest of it").unwrap();
        fs::write(base.join("system.bin"), b"s").unwrap();
        fs::write(base.join("modules"), "root-task.elf\nsystem.bin\n").unwrap();
        check(&base).unwrap();

        let dest = base.with_extension("empty");
        spoiled_copy(&base, &dest, Mutation::Empty).unwrap();
        assert_eq!(fs::read(dest.join("root-task.elf")).unwrap(), b"");
        assert_eq!(fs::read(dest.join("system.bin")).unwrap(), b"s");
        assert_eq!(
            fs::read(base.join("root-task.elf")).unwrap(),
            b"\x7fELF and the rest of it"
        );

        let dest = base.with_extension("missing");
        spoiled_copy(&base, &dest, Mutation::Missing).unwrap();
        assert_eq!(fs::read_to_string(dest.join("modules")).unwrap(), "");
        assert!(root_module(&dest).is_err());

        // Not an ELF64 file: the mutation that needs program headers says so.
        let dest = base.with_extension("kaddr");
        let e = spoiled_copy(&base, &dest, Mutation::KernelAddress).unwrap_err();
        assert!(e.contains("root-task ELF"), "{e}");

        for d in ["empty", "missing", "kaddr"] {
            let _ = fs::remove_dir_all(base.with_extension(d));
        }
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn root_program_replaces_only_the_root_module() {
        let base = scratch("prog-base");
        fs::write(base.join("kernel.elf"), b"k").unwrap();
        fs::write(base.join("root-task.elf"), b"root").unwrap();
        fs::write(base.join("system.bin"), b"s").unwrap();
        fs::write(base.join("modules"), "root-task.elf\nsystem.bin\n").unwrap();
        let program = base.with_extension("ktest-elf");
        fs::write(&program, b"ktest").unwrap();

        let dest = base.with_extension("prog");
        with_root_program(&base, &dest, &program).unwrap();
        assert_eq!(fs::read(dest.join("root-task.elf")).unwrap(), b"ktest");
        assert_eq!(fs::read(dest.join("system.bin")).unwrap(), b"s");
        assert_eq!(fs::read(base.join("root-task.elf")).unwrap(), b"root");
        let e = with_root_program(&base, &dest, &base.join("no-such-program")).unwrap_err();
        assert!(e.contains("USER_PACKAGES"), "{e}");

        fs::remove_dir_all(&dest).unwrap();
        fs::remove_file(&program).unwrap();
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn check_names_what_is_missing() {
        let d = scratch("bad");
        assert!(check(&d).unwrap_err().contains("kernel.elf"));
        fs::write(d.join("kernel.elf"), b"k").unwrap();
        fs::write(d.join("modules"), "\n").unwrap();
        assert!(check(&d).unwrap_err().contains("no root task"));
        fs::remove_dir_all(&d).unwrap();
    }
}
