//! `capctl build` end to end: the contract the make targets and the
//! scenario harness rely on, and the compiled spec's round trip.

use std::path::{Path, PathBuf};
use std::process::Command;

use ward_sysspec::{DecodeError, Spec};

fn capctl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_capctl"))
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sample.toml")
}

/// A fresh scratch directory under the target dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn inputs(dir: &Path, programs: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
    let kernel = dir.join("ward-kernel");
    let root = dir.join("root-task");
    let progs = dir.join("bin");
    std::fs::create_dir_all(&progs).unwrap();
    std::fs::write(&kernel, b"kernel").unwrap();
    std::fs::write(&root, b"root").unwrap();
    for p in programs {
        std::fs::write(progs.join(p), format!("elf of {p}")).unwrap();
    }
    (kernel, root, progs)
}

fn build(dir: &Path, extra: &[&str], programs: &[&str]) -> (std::process::Output, PathBuf) {
    let (kernel, root, progs) = inputs(dir, programs);
    let out = dir.join("image");
    let output = capctl()
        .arg("build")
        .arg(fixture())
        .arg("--kernel")
        .arg(&kernel)
        .arg("--root-task")
        .arg(&root)
        .arg("--programs")
        .arg(&progs)
        .arg("--out")
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    (output, out)
}

#[test]
fn build_writes_the_image_directory() {
    let dir = scratch("build-ok");
    let (output, out) = build(&dir, &[], &["serial", "e1000", "net", "echo", "http"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let modules = std::fs::read_to_string(out.join("modules")).unwrap();
    assert_eq!(
        modules,
        "root-task.elf\nsystem.bin\nserial.elf\ne1000.elf\nnet.elf\necho.elf\nhttp.elf\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("cmdline")).unwrap(),
        "loglevel=info\n"
    );
    assert_eq!(std::fs::read(out.join("kernel.elf")).unwrap(), b"kernel");
    assert_eq!(std::fs::read(out.join("root-task.elf")).unwrap(), b"root");
    assert_eq!(std::fs::read(out.join("net.elf")).unwrap(), b"elf of net");
    let spec_bytes = std::fs::read(out.join("system.bin")).unwrap();
    let spec = Spec::decode(&spec_bytes).expect("system.bin decodes");
    assert_eq!(spec.name(), "ward-default");
    assert_eq!(spec.components.len(), 5);
    let e1000 = spec.component_index("e1000").unwrap();
    assert_eq!(spec.str(spec.components[e1000].module), "e1000.elf");
}

#[test]
fn a_missing_program_is_an_error_naming_it() {
    let dir = scratch("build-missing");
    let (output, out) = build(&dir, &[], &["serial", "e1000", "net", "echo"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("program `http` (component http) not found"),
        "{stderr}"
    );
    assert!(
        !out.join("modules").exists(),
        "nothing is written on an error"
    );
}

#[test]
fn allow_missing_programs_leaves_the_module_out() {
    let dir = scratch("build-allow");
    let (output, out) = build(&dir, &["--allow-missing-programs"], &["e1000", "net"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("warning: program `serial`"), "{stderr}");
    let modules = std::fs::read_to_string(out.join("modules")).unwrap();
    assert_eq!(modules, "root-task.elf\nsystem.bin\ne1000.elf\nnet.elf\n");
}

#[test]
fn an_invalid_file_builds_nothing() {
    let dir = scratch("build-invalid");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[kernel]\nram = \"64MiB\"\n[component.a]\nkind = \"app\"\nprority = 3\n",
    )
    .unwrap();
    let (kernel, root, progs) = inputs(&dir, &[]);
    let output = capctl()
        .args(["build"])
        .arg(&bad)
        .arg("--kernel")
        .arg(kernel)
        .arg("--root-task")
        .arg(root)
        .arg("--programs")
        .arg(progs)
        .arg("--out")
        .arg(dir.join("image"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("error[unknown-key]: unknown key `prority`"));
    assert!(!dir.join("image").exists());
}

#[test]
fn a_corrupted_spec_is_rejected_clearly() {
    let dir = scratch("build-corrupt");
    let (output, out) = build(&dir, &["--allow-missing-programs"], &[]);
    assert!(output.status.success());
    let good = std::fs::read(out.join("system.bin")).unwrap();
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 1;
    let err = Spec::decode(&flipped).err().unwrap();
    assert!(matches!(err, DecodeError::ChecksumMismatch { .. }));
    assert!(err.to_string().contains("the spec is corrupted"), "{err}");
    assert!(matches!(
        Spec::decode(&good[..good.len() / 2]),
        Err(DecodeError::LengthMismatch { .. })
    ));
    assert_eq!(
        Spec::decode(b"ELF\x7f not a spec at all, long enough to hold a header but wrong........")
            .err(),
        Some(DecodeError::BadMagic)
    );
}

#[test]
fn check_and_lint_exit_status() {
    let ok = capctl().arg("check").arg(fixture()).output().unwrap();
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok (5 components"));
    let dir = scratch("lint-deny");
    let warned = dir.join("w.toml");
    std::fs::write(
        &warned,
        "[kernel]\nram = \"64MiB\"\n[region.unused]\nsize = \"4KiB\"\n",
    )
    .unwrap();
    let lint = capctl().arg("lint").arg(&warned).output().unwrap();
    assert!(lint.status.success());
    let deny = capctl()
        .arg("lint")
        .arg("--deny-warnings")
        .arg(&warned)
        .output()
        .unwrap();
    assert_eq!(deny.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&deny.stderr).contains("warning[unused]"));
}

#[test]
fn audit_round_trip_through_the_cli() {
    let dir = scratch("audit");
    let expected = capctl()
        .arg("audit")
        .arg(fixture())
        .arg("--print-expected")
        .output()
        .unwrap();
    assert!(expected.status.success());
    let text = String::from_utf8(expected.stdout).unwrap();
    // Wrap it in other log output, as a serial log would.
    let log = format!(
        "ward: booting\n{}e1000: link up\n",
        text.lines()
            .map(|l| format!("[root] {l}\n"))
            .collect::<String>()
    );
    let path = dir.join("serial.log");
    std::fs::write(&path, &log).unwrap();
    let clean = capctl()
        .arg("audit")
        .arg(fixture())
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
    assert!(String::from_utf8_lossy(&clean.stdout).contains(" 0 difference(s)"));
    // An extra capability is reported, and the status says so.
    let tampered = log.replace(
        "e1000: link up",
        "[root] capdump: echo 40 device-frames rw 0x0 nic",
    );
    let tampered = tampered.replacen(
        "[root] capdump: end",
        "[root] capdump: echo 40 device-frames rw 0x0 nic\n[root] capdump: end",
        1,
    );
    std::fs::write(&path, tampered).unwrap();
    let bad = capctl()
        .arg("audit")
        .arg(fixture())
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert!(
        stdout.contains("EXTRA: `echo` slot 40 holds device-frames rw 0x0 nic"),
        "{stdout}"
    );
}
