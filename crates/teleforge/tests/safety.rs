//! Issue 9, as a new user meets it: the real `teleforge` binary on temp trees must never lose or
//! leak the user's code, keys or learnings. Each test names the bad input it guards against.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::text;

/// A sandbox: its own HOME and config folder (so no real user config or trust list is read), a
/// store, and a scratch folder for trees.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for d in ["home", "config", "store", "work"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Sandbox { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn store(&self) -> PathBuf {
        self.path("store")
    }

    /// `teleforge --storage-dir STORE ARGS` run in `cwd` with a clean environment.
    fn cmd(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_teleforge"));
        c.current_dir(cwd)
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("NO_COLOR", "1")
            .env_remove("TELEMETRY_LEARNINGS_DIR")
            .env_remove("TELEFORGE_GENERATOR")
            .env_remove("TELEFORGE_MODEL")
            .env_remove("TELEFORGE_BASE_URL")
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .arg("--storage-dir")
            .arg(self.store())
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(&self.path("work"), args).output().unwrap()
    }

    /// A small Python project: an executable script with a function, a data file, a go.mod that
    /// nothing instruments, and a link to a file outside the tree.
    fn python_tree(&self, name: &str) -> PathBuf {
        let root = self.path("work").join(name);
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        std::fs::write(
            root.join("tool.py"),
            "#!/usr/bin/env python3\ndef double(x):\n    return x * 2\n\nprint(double(2))\n",
        )
        .unwrap();
        std::fs::set_permissions(root.join("tool.py"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(root.join("pkg/lib.py"), "def add(a, b):\n    return a + b\n").unwrap();
        std::fs::write(root.join("go.mod"), "module example.com/demo\n\ngo 1.21\n").unwrap();
        std::fs::write(root.join("notes.txt"), "keep me\n").unwrap();
        std::fs::write(root.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o750)).unwrap();
        std::fs::write(self.path("work/outside-secret.txt"), "do not copy me\n").unwrap();
        std::os::unix::fs::symlink("../outside-secret.txt", root.join("secret-link")).unwrap();
        root
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Asserts a refusal: exit 2, one error line naming both paths, the tree unchanged.
fn assert_refused(o: &Output, tree: &Path, before: &[(PathBuf, Vec<u8>)], names: &[&str]) {
    assert_eq!(code(o), 2, "{}", text(o));
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "{err}");
    for n in names {
        assert!(err.contains(n), "{n:?} not named in: {err}");
    }
    assert_eq!(support::files(tree), before, "the input tree changed");
}

#[test]
fn out_equal_to_inside_or_containing_the_input_is_refused() {
    let sb = Sandbox::new();
    let tree = sb.python_tree("demo");
    let before = support::files(&tree);
    let work = sb.path("work");
    let tree_s = tree.to_str().unwrap();
    for cmd in ["instrument", "strip"] {
        // The output is the input: today every file it did not change is emptied.
        let o = sb.run(&[cmd, tree_s, "--out", tree_s]);
        assert_refused(&o, &tree, &before, &[tree_s, "is the input"]);
        // The same folder spelled differently.
        let o = sb.cmd(&work, &[cmd, "demo", "--out", "./demo/../demo/"]).output().unwrap();
        assert_refused(&o, &tree, &before, &["./demo/../demo/", "the input demo"]);
        // Inside the input.
        let inside = tree.join("out");
        let o = sb.run(&[cmd, tree_s, "--out", inside.to_str().unwrap()]);
        assert_refused(&o, &tree, &before, &[inside.to_str().unwrap(), "lies inside the input"]);
        assert!(!inside.exists());
        // Containing the input.
        let o = sb.run(&[cmd, tree_s, "--out", work.to_str().unwrap()]);
        assert_refused(&o, &tree, &before, &[work.to_str().unwrap(), "contains the input"]);
    }
}

#[test]
fn the_default_output_of_dot_lands_beside_the_tree() {
    let sb = Sandbox::new();
    let tree = sb.python_tree("demo");
    let o = sb.cmd(&tree, &["instrument", ".", "--no-validate"]).output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    let beside = sb.path("work/demo-instrumented");
    assert!(beside.join("tool.py").is_file(), "{}", text(&o));
    let inside: Vec<_> = std::fs::read_dir(&tree).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!inside.iter().any(|n| n.to_string_lossy().contains("instrumented")), "{inside:?}");
    // strip . too.
    let o = sb.cmd(&beside, &["strip", "."]).output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(sb.path("work/demo-instrumented-stripped/tool.py").is_file());
    assert_eq!(
        std::fs::read(sb.path("work/demo-instrumented-stripped/tool.py")).unwrap(),
        std::fs::read(tree.join("tool.py")).unwrap()
    );
}

#[test]
fn copies_keep_mode_bits_and_links_and_never_follow_a_link_out_of_the_tree() {
    let sb = Sandbox::new();
    let tree = sb.python_tree("demo");
    let out = sb.path("work/copy");
    let o = sb.run(&["instrument", tree.to_str().unwrap(), "--no-validate", "--out", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let tool = std::fs::read_to_string(out.join("tool.py")).unwrap();
    assert_ne!(tool, std::fs::read_to_string(tree.join("tool.py")).unwrap(), "tool.py was not instrumented");
    assert_eq!(mode(&out.join("tool.py")), 0o755, "a rewritten script lost its executable bit");
    assert_eq!(mode(&out.join("run.sh")), 0o750);
    assert_eq!(std::fs::read_to_string(out.join("go.mod")).unwrap(), "module example.com/demo\n\ngo 1.21\n");
    let link = out.join("secret-link");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was followed");
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("../outside-secret.txt"));

    // In place, the rewritten file keeps its mode too; strip restores bytes and mode.
    let o = sb.run(&["instrument", tree.to_str().unwrap(), "--no-validate", "--in-place"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(mode(&tree.join("tool.py")), 0o755);
    let o = sb.run(&["strip", tree.to_str().unwrap(), "--in-place"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(mode(&tree.join("tool.py")), 0o755);
    assert!(!tree.join(".teleforge-undo").exists());
}

#[test]
fn a_missing_path_exits_66_for_instrument_and_strip() {
    let sb = Sandbox::new();
    for cmd in ["instrument", "strip"] {
        let o = sb.run(&[cmd, "no-such-folder"]);
        assert_eq!(code(&o), 66, "{cmd}: {}", text(&o));
        assert!(stderr(&o).contains("no-such-folder"), "{}", text(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{}", text(&o));
    }
}

#[test]
fn language_names_that_would_escape_the_store_are_refused() {
    let sb = Sandbox::new();
    // Two folders above the store's `x_patterns.json` would be `../../x`.
    let store = sb.path("a/b/store");
    std::fs::create_dir_all(&store).unwrap();
    let victim = sb.path("x_patterns.json");
    std::fs::write(&victim, "[]").unwrap();
    let with_store = |args: &[&str]| {
        let mut all = vec!["--storage-dir", store.to_str().unwrap()];
        all.extend_from_slice(args);
        // The last --storage-dir would clash with the sandbox's: run without it.
        let mut c = Command::new(env!("CARGO_BIN_EXE_teleforge"));
        c.current_dir(sb.path("work")).env("HOME", sb.path("home")).env("XDG_CONFIG_HOME", sb.path("config"));
        c.args(&all).output().unwrap()
    };
    let o = with_store(&["learnings", "clear", "--language", "../../x", "--yes"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(stderr(&o).contains("\"../../x\" is not a language name"), "{}", text(&o));
    assert!(victim.exists(), "clear deleted a file outside the store");

    let out = sb.path("exports/dir");
    for bad in ["../x", "a/b", "..", "x\\y", ""] {
        let o = with_store(&["learnings", "export", "--language", bad, "--out", out.to_str().unwrap()]);
        assert_eq!(code(&o), 2, "{bad}: {}", text(&o));
    }
    assert!(!sb.path("exports").exists(), "export touched the file system before refusing");
    let o = with_store(&["consolidate", "--language", "../../x"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let o = with_store(&["stats", "--language", "../x"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    // Aliases still work.
    let o = with_store(&["stats", "--language", "golang"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn export_streams_the_same_seed_format() {
    let sb = Sandbox::new();
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/seed_go_learnings.json");
    let o = sb.run(&["learnings", "import", seed.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = sb.path("export");
    let o = sb.run(&["learnings", "export", "--language", "go", "--out", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("go_learnings.json")).unwrap()).unwrap();
    let original: serde_json::Value = serde_json::from_slice(&std::fs::read(&seed).unwrap()).unwrap();
    assert_eq!(written.as_array().unwrap().len(), original.as_array().unwrap().len());
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1, "a temporary file was left behind");
}

#[test]
fn an_untrusted_project_config_cannot_send_code_or_keys_anywhere() {
    let sb = Sandbox::new();
    let tree = sb.python_tree("cloned");
    // A listener that records whether anyone connected.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::fs::write(sb.path("home/id_rsa"), "PRIVATE KEY\n").unwrap();
    let config = tree.join("teleforge.toml");
    std::fs::write(
        &config,
        format!(
            "[llm]\ngenerator = \"openai\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\napi_key_file = \"../../home/id_rsa\"\n\n[learning]\nexplore_share = 0.5\n"
        ),
    )
    .unwrap();
    let out = sb.path("work/out");
    let args = ["instrument", tree.to_str().unwrap(), "--no-validate", "--out", out.to_str().unwrap(), "--verbose"];
    let o = sb.cmd(&sb.path("work"), &args).env("OPENAI_API_KEY", "sk-user-secret").output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    let err = stderr(&o);
    let warning: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warning.len(), 1, "{err}");
    for word in [config.to_str().unwrap(), "not trusted", "generator, model, base_url, api_key_file", "teleforge trust"]
    {
        assert!(warning[0].contains(word), "{word:?} missing from {}", warning[0]);
    }
    assert!(err.contains(&format!("read {} (project config, not trusted)", config.display())), "{err}");
    assert!(listener.accept().is_err(), "the untrusted base_url was contacted");
    assert!(!err.contains("openai/"), "the untrusted generator was used: {err}");

    // Trusted: its settings are used (the summary names the provider; --no-validate sends nothing).
    let o = sb.cmd(&sb.path("work"), &["trust", config.to_str().unwrap()]).output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    std::fs::write(&config, "[llm]\ngenerator = \"openai\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:9/v1\"\n")
        .unwrap();
    // Changed since it was trusted: ignored again, with a warning saying so.
    let o = sb.cmd(&sb.path("work"), &args).env("OPENAI_API_KEY", "sk-user-secret").output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(stderr(&o).contains("has changed since it was trusted"), "{}", text(&o));
    assert!(!stderr(&o).contains("openai/m"), "{}", text(&o));
    // Trust the new content from inside the folder (the default PATH).
    let o = sb.cmd(&tree, &["trust"]).output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = sb.cmd(&sb.path("work"), &args).env("OPENAI_API_KEY", "sk-user-secret").output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(stderr(&o).contains("openai/m:"), "the trusted generator was not used: {}", text(&o));
    assert!(!stderr(&o).contains("warning"), "{}", text(&o));
    // Revoked: ignored again.
    let o = sb.cmd(&tree, &["trust", "--revoke"]).output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = sb.cmd(&sb.path("work"), &args).env("OPENAI_API_KEY", "sk-user-secret").output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(stderr(&o).contains("is not trusted") && !stderr(&o).contains("openai/m"), "{}", text(&o));

    // The user's own config needs no trust.
    std::fs::remove_file(&config).unwrap();
    std::fs::create_dir_all(sb.path("config/teleforge")).unwrap();
    std::fs::write(
        sb.path("config/teleforge/config.toml"),
        "[llm]\ngenerator = \"openai\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:9/v1\"\n",
    )
    .unwrap();
    let o = sb.cmd(&sb.path("work"), &args).env("OPENAI_API_KEY", "sk-user-secret").output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(stderr(&o).contains("(user config)") && stderr(&o).contains("openai/m:"), "{}", text(&o));
    assert!(!stderr(&o).contains("warning"), "{}", text(&o));
}

#[test]
fn learning_settings_in_teleforge_toml_are_checked_and_need_no_trust() {
    let sb = Sandbox::new();
    let tree = sb.python_tree("demo");
    let out = sb.path("work/out");
    let args = ["instrument", tree.to_str().unwrap(), "--no-validate", "--out", out.to_str().unwrap()];
    std::fs::write(
        tree.join("teleforge.toml"),
        "[learning]\nconsolidate_every = 0\nmin_lesson_failures = 3\nexplore_share = 0.25\n\n[instrument]\nmax_file_size = 100000\n",
    )
    .unwrap();
    let o = sb.run(&args);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(!stderr(&o).contains("warning"), "{}", text(&o));
    for (bad, what) in [
        ("[learning]\nexplore_share = 1.5\n", "explore_share"),
        ("[learning]\nmin_lesson_failures = 0\n", "min_lesson_failures"),
        ("[learning]\nconsolidate_every = -1\n", "consolidate_every"),
        ("[learning]\nconsolidate_evry = 1\n", "consolidate_evry"),
    ] {
        std::fs::write(tree.join("teleforge.toml"), bad).unwrap();
        let o = sb.run(&args);
        assert_eq!(code(&o), 78, "{bad}: {}", text(&o));
        assert!(stderr(&o).contains(what) || stderr(&o).contains("teleforge.toml:2"), "{what}: {}", text(&o));
    }
}

/// A git work tree with one commit of the python tree.
fn git_tree(sb: &Sandbox) -> Option<PathBuf> {
    if !support::have("git") {
        return None;
    }
    let tree = sb.python_tree("repo");
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .arg("-C")
            .arg(&tree)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "init"]);
    Some(tree)
}

#[test]
fn in_place_refuses_uncommitted_changes_unless_allow_dirty() {
    let sb = Sandbox::new();
    let Some(tree) = git_tree(&sb) else { return };
    std::fs::write(tree.join("pkg/lib.py"), "def add(a, b):\n    return b + a\n").unwrap();
    // git status refreshes its own index; the work tree is what must not change.
    let work_files = |t: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        support::files(t).into_iter().filter(|(p, _)| !p.starts_with(".git")).collect()
    };
    let before = work_files(&tree);
    let o = sb.run(&["instrument", tree.to_str().unwrap(), "--no-validate", "--in-place"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("uncommitted changes") && err.contains("pkg/lib.py") && err.contains("--allow-dirty"),
        "{err}"
    );
    assert_eq!(work_files(&tree), before);
    // A dirty file teleforge would never touch does not count.
    std::fs::write(tree.join("pkg/lib.py"), "def add(a, b):\n    return a + b\n").unwrap();
    std::fs::write(tree.join("notes.txt"), "edited\n").unwrap();
    let o = sb.run(&["instrument", tree.to_str().unwrap(), "--no-validate", "--in-place"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // Now instrumented and dirty: a second run refuses, --allow-dirty goes ahead.
    let o = sb.run(&["instrument", tree.to_str().unwrap(), "--no-validate", "--in-place"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let o = sb.run(&["instrument", tree.to_str().unwrap(), "--no-validate", "--in-place", "--allow-dirty"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn an_interrupted_in_place_write_is_rolled_back_by_the_next_run() {
    let sb = Sandbox::new();
    let tree = sb.python_tree("demo");
    let original = std::fs::read(tree.join("tool.py")).unwrap();
    // What a run killed between its undo record and its last rename leaves behind.
    let undo = tree.join(".teleforge-undo");
    std::fs::create_dir_all(&undo).unwrap();
    std::fs::copy(tree.join("tool.py"), undo.join("0.orig")).unwrap();
    std::fs::write(undo.join("manifest.json"), r#"{"files":[["tool.py","0.orig"],["_teleforge_tel.py",null]]}"#)
        .unwrap();
    std::fs::write(tree.join("tool.py"), "half written").unwrap();
    std::fs::write(tree.join("_teleforge_tel.py"), "# new runtime\n").unwrap();
    // Outside --in-place the tree is left alone, with a warning.
    let o = sb.run(&["strip", tree.to_str().unwrap(), "--diff"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(stderr(&o).contains("was interrupted"), "{}", text(&o));
    assert!(undo.exists());
    let o = sb.run(&["strip", tree.to_str().unwrap(), "--in-place"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(stderr(&o).contains("restored 2 file(s)"), "{}", text(&o));
    assert_eq!(std::fs::read(tree.join("tool.py")).unwrap(), original);
    assert_eq!(mode(&tree.join("tool.py")), 0o755);
    assert!(!tree.join("_teleforge_tel.py").exists());
    assert!(!undo.exists());
}

/// A folder whose `python3` hangs: the validator must give up at --check-timeout.
fn hanging_python(sb: &Sandbox) -> PathBuf {
    let bin = sb.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("python3"), "#!/bin/sh\nsleep 120\n").unwrap();
    std::fs::set_permissions(bin.join("python3"), std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn a_hung_toolchain_is_killed_at_check_timeout() {
    let sb = Sandbox::new();
    let tree = sb.python_tree("demo");
    let bin = hanging_python(&sb);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let start = std::time::Instant::now();
    let out = sb.path("work/out");
    let o = sb
        .cmd(
            &sb.path("work"),
            &["instrument", tree.to_str().unwrap(), "--check-timeout", "1", "--out", out.to_str().unwrap()],
        )
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(start.elapsed() < std::time::Duration::from_secs(30), "{:?}", start.elapsed());
    assert_eq!(code(&o), 1, "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("python3") && err.contains("did not finish within 1 s") && err.contains("--check-timeout"),
        "{err}"
    );
}

#[test]
fn a_hung_validate_cmd_is_killed_at_check_timeout() {
    let sb = Sandbox::new();
    let tree = sb.python_tree("demo");
    let start = std::time::Instant::now();
    let out = sb.path("work/out");
    let o = sb.run(&[
        "instrument",
        tree.to_str().unwrap(),
        "--no-validate",
        "--check-timeout",
        "1",
        "--validate-cmd",
        "sleep 120",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(start.elapsed() < std::time::Duration::from_secs(30), "{:?}", start.elapsed());
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(stderr(&o).contains("sleep 120") && stderr(&o).contains("did not finish within 1 s"), "{}", text(&o));
    assert!(!out.exists(), "written although the check never finished");
}

#[test]
fn check_timeout_and_max_file_size_are_validated() {
    let sb = Sandbox::new();
    let tree = sb.python_tree("demo");
    for bad in
        [["--check-timeout", "0"], ["--check-timeout", "soon"], ["--max-file-size", "0"], ["--max-file-size", "4X"]]
    {
        let o = sb.run(&["instrument", tree.to_str().unwrap(), "--no-validate", bad[0], bad[1]]);
        assert_eq!(code(&o), 2, "{bad:?}: {}", text(&o));
    }
    let out = sb.path("work/out");
    let o = sb.run(&[
        "instrument",
        tree.to_str().unwrap(),
        "--no-validate",
        "--check-timeout",
        "30",
        "--max-file-size",
        "1M",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

// ---- Every exit code the README documents, through the real binary. ----

#[test]
fn exit_0_done_and_1_validate_cmd_failed() {
    let sb = Sandbox::new();
    let tree = sb.python_tree("demo");
    assert_eq!(code(&sb.run(&["stats"])), 0);
    let out = sb.path("work/out");
    let o = sb.run(&[
        "instrument",
        tree.to_str().unwrap(),
        "--no-validate",
        "--validate-cmd",
        "exit 3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(!out.exists(), "written although --validate-cmd failed");
}

#[test]
fn exit_2_usage() {
    let sb = Sandbox::new();
    assert_eq!(code(&sb.run(&["instrument"])), 2);
    assert_eq!(code(&sb.run(&["--no-such-flag"])), 2);
    assert_eq!(code(&sb.run(&["learnings", "clear", "--language", "go"])), 2);
    assert_eq!(code(&sb.run(&["learnings", "show", "ffffffff"])), 2);
}

#[test]
fn exit_65_bad_input_data() {
    let sb = Sandbox::new();
    let bad = sb.path("work/bad.json");
    std::fs::write(&bad, "[{\"language\": \"go\"}]").unwrap();
    let o = sb.run(&["learnings", "import", bad.to_str().unwrap()]);
    assert_eq!(code(&o), 65, "{}", text(&o));
}

#[test]
fn exit_66_input_cannot_be_read() {
    let sb = Sandbox::new();
    let o = sb.run(&["learnings", "import", "missing.json"]);
    assert_eq!(code(&o), 66, "{}", text(&o));
}

#[test]
fn exit_69_toolchain_missing() {
    let sb = Sandbox::new();
    let tree = sb.python_tree("demo");
    let empty = sb.path("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let out = sb.path("work/out");
    let o = sb
        .cmd(&sb.path("work"), &["instrument", tree.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .env("PATH", &empty)
        .output()
        .unwrap();
    assert_eq!(code(&o), 69, "{}", text(&o));
    assert!(stderr(&o).contains("python3 not found on PATH"), "{}", text(&o));
}

#[test]
fn exit_74_cannot_write() {
    let sb = Sandbox::new();
    let file = sb.path("work/a-file");
    std::fs::write(&file, "x").unwrap();
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/seed_go_learnings.json");
    assert_eq!(code(&sb.run(&["learnings", "import", seed.to_str().unwrap()])), 0);
    let o = sb.run(&["learnings", "export", "--out", file.join("sub").to_str().unwrap()]);
    assert_eq!(code(&o), 74, "{}", text(&o));
}

fn python_sqlite(script: &str, db: &Path) -> Command {
    let mut c = Command::new("python3");
    c.args(["-c", script]).arg(db);
    c
}

#[test]
fn exit_75_store_busy() {
    if !support::have("python3") {
        return;
    }
    let sb = Sandbox::new();
    assert_eq!(code(&sb.run(&["stats"])), 0);
    let db = sb.store().join("learnings.db");
    let mut holder = python_sqlite(
        "import sqlite3, sys, time\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\ntime.sleep(90)\n",
        &db,
    )
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.take().unwrap()), &mut line).unwrap();
    assert_eq!(line.trim(), "locked");
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/seed_go_learnings.json");
    let o = sb.run(&["learnings", "import", seed.to_str().unwrap()]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(code(&o), 75, "{}", text(&o));
}

#[test]
fn exit_78_store_from_a_newer_teleforge_or_bad_config() {
    if !support::have("python3") {
        return;
    }
    let sb = Sandbox::new();
    assert_eq!(code(&sb.run(&["stats"])), 0);
    let db = sb.store().join("learnings.db");
    let o = python_sqlite(
        "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute('PRAGMA user_version = 9999')\nc.commit()\n",
        &db,
    )
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = sb.run(&["stats"]);
    assert_eq!(code(&o), 78, "{}", text(&o));

    let sb = Sandbox::new();
    let tree = sb.python_tree("demo");
    std::fs::write(tree.join("teleforge.toml"), "[llm\n").unwrap();
    let o = sb.run(&["instrument", tree.to_str().unwrap(), "--no-validate", "--diff"]);
    assert_eq!(code(&o), 78, "{}", text(&o));
}

#[test]
fn ctrl_c_kills_the_toolchain_process_group() {
    let sb = Sandbox::new();
    let tree = sb.python_tree("demo");
    // A python3 that records its pid and that of a child it starts, then hangs.
    let bin = sb.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let pids = sb.path("pids");
    std::fs::write(
        bin.join("python3"),
        format!("#!/bin/sh\nsleep 120 &\necho $! >> {0}\necho $$ >> {0}\nwait\n", pids.display()),
    )
    .unwrap();
    std::fs::set_permissions(bin.join("python3"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = sb.path("work/out");
    let mut child = sb
        .cmd(&sb.path("work"), &["instrument", tree.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .env("PATH", path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let recorded = loop {
        let text = std::fs::read_to_string(&pids).unwrap_or_default();
        if text.lines().count() >= 2 {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "the fake python3 never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(!status.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    for pid in recorded.lines() {
        // Gone, or a zombie waiting for a reaper (a container's init may not reap): not running.
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        let state = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()).unwrap_or("gone");
        assert!(
            matches!(state, "gone" | "Z" | "X"),
            "process {pid} of the toolchain's group outlived teleforge: {stat}"
        );
    }
}

#[test]
fn max_file_size_from_the_flag_or_teleforge_toml_skips_large_files() {
    let sb = Sandbox::new();
    let tree = sb.python_tree("demo");
    let skipped = |o: &Output| -> u64 {
        assert_eq!(code(o), 0, "{}", text(o));
        let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        summary["files_skipped"].as_object().map_or(0, |m| m.values().filter_map(|v| v.as_u64()).sum())
    };
    let base = ["instrument", tree.to_str().unwrap(), "--no-validate", "--diff", "--json"];
    assert_eq!(skipped(&sb.run(&base)), 0);
    // tool.py (73 bytes) and pkg/lib.py (35 bytes) are over 20 bytes.
    assert_eq!(skipped(&sb.run(&[&base[..], &["--max-file-size", "20"]].concat())), 2);
    std::fs::write(tree.join("teleforge.toml"), "[instrument]\nmax_file_size = 50\n").unwrap();
    assert_eq!(skipped(&sb.run(&base)), 1);
    // The flag wins over the file.
    assert_eq!(skipped(&sb.run(&[&base[..], &["--max-file-size", "1K"]].concat())), 0);
}
