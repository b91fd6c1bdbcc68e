//! `capctl build`: compile the spec and assemble the boot image directory.
//!
//! The output directory holds everything QEMU needs:
//!
//! | file | what |
//! |---|---|
//! | `kernel.elf` | copy of the kernel |
//! | `root-task.elf` | copy of the root task |
//! | `system.bin` | the compiled spec |
//! | `<program>.elf` | one per program found as `PROGRAMS/<program>` |
//! | `modules` | boot-module file names, one a line, in boot order |
//! | `cmdline` | the kernel command line (one line, possibly empty; `cpus=N` added when `[kernel] cpus` is given) |
//! | `cpus` | the machine's core count (QEMU `-smp`), when `[kernel] cpus` is given |
//!
//! Boot order is fixed: `root-task.elf`, `system.bin`, then the program ELFs
//! in the order components are declared (each program once).

use std::fs;
use std::path::{Path, PathBuf};

use crate::compile::{compile, module_name};
use crate::layout::Layout;
use crate::model::System;

/// What `build` needs besides the checked system.
pub struct BuildInputs<'a> {
    pub kernel: &'a Path,
    pub root_task: &'a Path,
    pub programs: &'a Path,
    pub out: &'a Path,
    pub allow_missing_programs: bool,
}

/// What `build` did, for its report.
#[derive(Debug, Default)]
pub struct BuildReport {
    pub modules: Vec<String>,
    pub warnings: Vec<String>,
    pub spec_bytes: usize,
}

/// Builds the image directory. Errors are complete sentences naming the file.
pub fn build(sys: &System, layout: &Layout, inputs: &BuildInputs) -> Result<BuildReport, String> {
    let mut report = BuildReport::default();
    // Find every program first, so that nothing is written on an error.
    let mut programs: Vec<(String, PathBuf)> = Vec::new();
    let mut missing = Vec::new();
    for c in &sys.components {
        if programs.iter().any(|(p, _)| *p == c.program) || missing.contains(&c.program) {
            continue;
        }
        let path = inputs.programs.join(&c.program);
        if path.is_file() {
            programs.push((c.program.clone(), path));
        } else {
            missing.push(c.program.clone());
        }
    }
    for p in &missing {
        let users: Vec<&str> = sys
            .components
            .iter()
            .filter(|c| c.program == *p)
            .map(|c| c.name.as_str())
            .collect();
        let msg = format!(
            "program `{p}` (component {}) not found: no file {}",
            users.join(", "),
            inputs.programs.join(p).display()
        );
        if !inputs.allow_missing_programs {
            return Err(format!(
                "{msg}\n  = help: build it first, or pass --allow-missing-programs to leave it out"
            ));
        }
        report
            .warnings
            .push(format!("{msg}; its module is left out"));
    }
    for (what, path) in [("kernel", inputs.kernel), ("root task", inputs.root_task)] {
        if !path.is_file() {
            return Err(format!("{what} not found: no file {}", path.display()));
        }
    }

    let spec = compile(sys, layout).encode();
    report.spec_bytes = spec.len();
    let out = inputs.out;
    fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let copy = |from: &Path, name: &str| {
        fs::copy(from, out.join(name)).map(|_| ()).map_err(|e| {
            format!(
                "cannot copy {} to {}: {e}",
                from.display(),
                out.join(name).display()
            )
        })
    };
    copy(inputs.kernel, "kernel.elf")?;
    copy(inputs.root_task, "root-task.elf")?;
    write(&out.join("system.bin"), &spec)?;
    report.modules.push("root-task.elf".into());
    report.modules.push("system.bin".into());
    for (program, path) in &programs {
        let name = module_name(program);
        copy(path, &name)?;
        report.modules.push(name);
    }
    let mut modules = report.modules.join("\n");
    modules.push('\n');
    write(&out.join("modules"), modules.as_bytes())?;
    // The kernel uses every core the machine has unless told otherwise; a
    // system that says how many cores it has says it to the kernel and to
    // the QEMU runner (scripts/qemu.sh reads `cpus`).
    let mut cmdline = sys.kernel.cmdline.trim().to_string();
    let cpus_file = out.join("cpus");
    if sys.kernel.cpus_given {
        if !cmdline.is_empty() {
            cmdline.push(' ');
        }
        cmdline.push_str(&format!("cpus={}", sys.kernel.cpus));
        write(&cpus_file, format!("{}\n", sys.kernel.cpus).as_bytes())?;
    } else if cpus_file.exists() {
        fs::remove_file(&cpus_file)
            .map_err(|e| format!("cannot remove {}: {e}", cpus_file.display()))?;
    }
    write(&out.join("cmdline"), format!("{cmdline}\n").as_bytes())?;
    Ok(report)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
