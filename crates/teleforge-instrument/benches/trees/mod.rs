//! Fetching and copying the real trees the benches run on (shared by every bench in this folder:
//! `mod trees;`).

#![allow(dead_code)] // each bench uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn command_output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program} on PATH: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `go mod download -json path@version` into the temp GOMODCACHE; a writable copy of the module
/// in `work/trees/go-module`.
pub fn download_go_module(module: &str, work: &Path) -> PathBuf {
    download_go_module_as(module, work, "go-module")
}

/// `npm pack name@version`, extracted into `work/trees/npm`.
pub fn npm_pack(package: &str, work: &Path) -> PathBuf {
    npm_pack_as(package, work, "npm")
}

pub fn copy_file(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
    let mut perm = std::fs::metadata(to).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(to, perm).unwrap();
}

pub fn copy_dir(from: &Path, to: &Path, keep: &dyn Fn(&Path) -> bool) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("reading {}: {e}", from.display())).flatten() {
        let p = e.path();
        if !keep(&p) {
            continue;
        }
        let ty = e.file_type().unwrap();
        if ty.is_dir() {
            copy_dir(&p, &to.join(e.file_name()), keep);
        } else if ty.is_file() {
            copy_file(&p, &to.join(e.file_name()));
        }
    }
}

/// Like [`download_go_module`], into `work/trees/NAME` (several modules in one work dir).
pub fn download_go_module_as(module: &str, work: &Path, name: &str) -> PathBuf {
    let out = Command::new("go").args(["mod", "download", "-json", module]).output().expect("go on PATH");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("go mod download {module}: {e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    let dir = PathBuf::from(json["Dir"].as_str().unwrap_or_else(|| panic!("go mod download {module}: {json}")));
    let dest = work.join("trees").join(name);
    copy_dir(&dir, &dest, &|_| true);
    dest
}

/// Like [`npm_pack`], with its own download folder and into `work/trees/NAME` (the extracted
/// `package/` folder renamed), so that several packages fit in one work dir.
pub fn npm_pack_as(package: &str, work: &Path, name: &str) -> PathBuf {
    let dl = work.join("npm").join(name);
    std::fs::create_dir_all(&dl).unwrap();
    let o = Command::new("npm")
        .args(["pack", "--silent", package, "--pack-destination"])
        .arg(&dl)
        .current_dir(&dl)
        .output()
        .expect("npm on PATH");
    assert!(o.status.success(), "npm pack {package}: {}", String::from_utf8_lossy(&o.stderr));
    let tgz: Vec<PathBuf> = std::fs::read_dir(&dl)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".tgz"))
        .collect();
    assert_eq!(tgz.len(), 1, "npm pack {package}: {tgz:?}");
    let o = Command::new("tar").arg("-xzf").arg(&tgz[0]).arg("-C").arg(&dl).output().expect("tar on PATH");
    assert!(o.status.success(), "tar -xzf: {}", String::from_utf8_lossy(&o.stderr));
    let dest = work.join("trees").join(name);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::rename(dl.join("package"), &dest).unwrap();
    dest
}

/// The release `teleforge` binary: `TELEFORGE_BIN`, else built now (`cargo build --release -p
/// teleforge --bin teleforge`) into the running bench's own target folder (a no-op when up to date).
pub fn teleforge_release_binary() -> PathBuf {
    if let Some(b) = std::env::var_os("TELEFORGE_BIN") {
        return PathBuf::from(b);
    }
    // target/release/deps/BENCH-HASH → target
    let exe = std::env::current_exe().expect("current exe");
    let target = exe.ancestors().nth(3).expect("target folder").to_path_buf();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    eprintln!("[bench] cargo build --release -p teleforge --bin teleforge (target {})", target.display());
    let t = std::time::Instant::now();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "teleforge", "--bin", "teleforge", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("cargo");
    assert!(status.success(), "building the release teleforge binary failed");
    eprintln!("[bench] built in {:.1} s", t.elapsed().as_secs_f64());
    target.join("release/teleforge")
}

/// Removes the work dir when dropped (module cache files are read-only until made writable).
pub struct Cleanup(pub PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("chmod").arg("-R").arg("u+w").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The 1, 5 and 15 minute load averages, for the report.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The go command's module and build caches in `dir` (`gomod`, `gocache`), writable, for every go
/// command this process starts (teleforge's included); `goflags` are added.
pub fn go_caches_in(dir: &Path, goflags: &str) {
    std::env::set_var("GOMODCACHE", dir.join("gomod"));
    std::env::set_var("GOCACHE", dir.join("gocache"));
    std::env::set_var("GOFLAGS", format!("-modcacherw {goflags}").trim());
}

/// The standard library folder of `python3`.
pub fn python_stdlib() -> PathBuf {
    PathBuf::from(command_output("python3", &["-c", "import sysconfig;print(sysconfig.get_paths()['stdlib'])"]).trim())
}

/// The standard library of `python3` copied to `dest`: the `packages` given (without caches), or
/// with none given its folders and `.py` files only (discovery reads nothing else of it, and
/// site-packages, third-party code, is no part of the standard library).
pub fn copy_python_stdlib(dest: &Path, packages: Option<&[&str]>) {
    let stdlib = python_stdlib();
    match packages {
        Some(pkgs) => {
            for pkg in pkgs {
                copy_dir(&stdlib.join(pkg), &dest.join(pkg), &|p| p.file_name().is_none_or(|n| n != "__pycache__"));
            }
        }
        None => copy_dir(&stdlib, dest, &|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if p.is_dir() {
                name != "__pycache__" && name != "site-packages"
            } else {
                name.ends_with(".py")
            }
        }),
    }
}
