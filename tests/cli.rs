//! The command line: bad input gives a one-line error naming the flag, key or
//! file, exits non-zero and leaves files as they were; same seed → same file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use spikernn::io::mat::{self, MatData};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spikernn"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("spawn spikernn")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The JSON object on the last line of stdout.
fn last_json(o: &Output) -> serde_json::Value {
    let out = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(out.lines().last().expect("stdout line")).expect("JSON")
}

/// Every key of `keys` is in the JSON object `j`.
fn assert_keys(j: &serde_json::Value, keys: &[&str]) {
    for k in keys {
        assert!(j.get(k).is_some(), "missing {k} in {j}");
    }
}

/// The last non-empty stderr line, which must be the error.
fn error_line(o: &Output) -> String {
    assert!(!o.status.success(), "expected failure: {}", stderr(o));
    let e = stderr(o);
    let last = e.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(last.starts_with("error: "), "{e}");
    last.to_string()
}

/// A tiny trained Go-NoGo model (N = 20, 30 trials) in `dir`.
fn tiny_model(dir: &Path, name: &str, seed: &str) -> PathBuf {
    let out = dir.join(name);
    let o = run(&[
        "train",
        "--n",
        "20",
        "--n-trials",
        "30",
        "--eval-freq",
        "10",
        "--eval-trials",
        "5",
        "--seed",
        seed,
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = last_json(&o);
    assert_keys(
        &j,
        &[
            "task",
            "n",
            "seed",
            "trials",
            "eval_perf",
            "eval_loss",
            "success",
            "seconds",
            "out",
        ],
    );
    assert_eq!(j["trials"], 30);
    out
}

#[test]
fn bad_train_flags_name_the_flag_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.mat");
    let o = out.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--task", "flip-flop"], "task"),
        (vec!["--n", "0"], "n"),
        (vec!["--p-inh", "1.5"], "p-inh"),
        (vec!["--p-inh", "-0.1"], "p-inh"),
        (vec!["--taus", "20", "4"], "taus"),
        (vec!["--lr", "0"], "lr"),
        (vec!["--act", "tanh"], "act"),
    ];
    for (flags, name) in cases {
        let mut args = vec!["train", "--out", o];
        args.extend(flags.iter());
        let r = run(&args);
        let line = error_line(&r);
        assert!(line.contains(name), "{flags:?}: {line}");
        assert_eq!(stderr(&r).trim().lines().count(), 1, "{}", stderr(&r));
        assert!(!out.exists(), "{flags:?} left {}", out.display());
    }
    // An output path that cannot be written: under an existing file.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let bad = file.join("m.mat");
    let r = run(&["train", "--n", "10", "--out", bad.to_str().unwrap()]);
    assert!(error_line(&r).contains("out"), "{}", stderr(&r));
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[test]
fn same_seed_gives_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = tiny_model(dir.path(), "a.mat", "4");
    let b = tiny_model(dir.path(), "b.mat", "4");
    let c = tiny_model(dir.path(), "c.mat", "5");
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    // And the contents are a model: every key of docs/model.md#model-files is there.
    let f = mat::read(&a).unwrap();
    for k in [
        "w",
        "w0",
        "m",
        "som_m",
        "w_in",
        "w_out",
        "b_out",
        "N",
        "som_N",
        "inh",
        "exc",
        "taus",
        "taus_gaus",
        "taus_gaus0",
        "activation",
        "losses",
        "tr",
        "eval_perf_mean",
        "eval_loss_mean",
    ] {
        assert!(f.get(k).is_some(), "missing {k}");
    }
}

#[test]
fn search_errors_and_interrupts_leave_the_model_file_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_model(dir.path(), "m.mat", "1");
    let before = std::fs::read(&m).unwrap();
    let ms = m.to_str().unwrap();

    let r = run(&["search", ms, "--lambdas", "0,10", "--trials", "2"]);
    assert!(error_line(&r).contains("lambdas"), "{}", stderr(&r));
    let r = run(&["eval", ms, "--lambda", "-5", "--trials", "2"]);
    assert!(error_line(&r).contains("lambda"), "{}", stderr(&r));
    let r = run(&["search", ms, "--nogo-rule", "both", "--trials", "2"]);
    assert!(error_line(&r).contains("nogo-rule"), "{}", stderr(&r));
    assert_eq!(std::fs::read(&m).unwrap(), before);

    // Ctrl-C during a long search: non-zero exit, file untouched.
    let child = bin()
        .args([
            "search",
            ms,
            "--lambdas",
            "20:75:1",
            "--trials",
            "400",
            "--json",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let k = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    let o = child.wait_with_output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&m).unwrap(), before);

    // A short search stores its results and keeps every other variable.
    let r = run(&[
        "search",
        ms,
        "--lambdas",
        "25,50",
        "--trials",
        "4",
        "--no-refine",
        "--json",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let j = last_json(&r);
    assert_keys(
        &j,
        &[
            "lambdas",
            "accuracies",
            "refined_lambdas",
            "refined_accuracies",
            "best_lambda",
            "best_accuracy",
        ],
    );
    let f = mat::read(&m).unwrap();
    let old = mat::parse(&before, &m).unwrap();
    for v in &old.vars {
        assert_eq!(f.get(&v.name), Some(v), "{} changed", v.name);
    }
    assert_eq!(
        f.get("scaling_factors").unwrap().to_f64().unwrap(),
        vec![25.0, 50.0]
    );
    assert!(f.get("opt_scaling_factor").is_some() && f.get("all_perfs").is_some());

    // eval then uses the stored optimum and reports the JSON keys.
    let r = run(&["eval", ms, "--trials", "4", "--json"]);
    assert!(r.status.success(), "{}", stderr(&r));
    let j = last_json(&r);
    assert_keys(
        &j,
        &[
            "lambda",
            "accuracy",
            "per_type",
            "ci95",
            "rate_exc_hz",
            "rate_inh_hz",
        ],
    );

    // MATLAB's NoGo rule (max o < 0.3) only forgives: on the same trials
    // (same seed) it never scores lower than the task's max |o| < 0.3.
    let acc = |rule: &str| {
        let r = run(&[
            "eval",
            ms,
            "--trials",
            "8",
            "--seed",
            "3",
            "--nogo-rule",
            rule,
            "--json",
        ]);
        assert!(r.status.success(), "{}", stderr(&r));
        let j = last_json(&r);
        assert_eq!(j["scoring"]["nogo_rule"], rule);
        j["accuracy"].as_f64().unwrap()
    };
    assert!(acc("max") >= acc("abs"));
}

#[test]
fn search_prints_each_lambda_and_one_relu_warning_in_a_log() {
    // Test stderr is not a terminal: the progress bar is hidden, but the
    // accuracy per lambda and the relu warning must still reach the log.
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_model(dir.path(), "m.mat", "1");
    let mut vars = mat::read(&m).unwrap().vars;
    let w = vars.iter_mut().find(|v| v.name == "w").unwrap();
    let MatData::F64(data) = &mut w.data else {
        panic!("w is not double")
    };
    let k = data.iter().position(|&x| x > 0.0).unwrap();
    data[k] = -0.5;
    let neg = dir.path().join("neg.mat");
    mat::write(&neg, &vars).unwrap();
    let r = run(&[
        "search",
        neg.to_str().unwrap(),
        "--lambdas",
        "25,50",
        "--trials",
        "2",
        "--no-refine",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let e = stderr(&r);
    assert!(e.contains("lambda  25.00: accuracy"), "{e}");
    assert!(e.contains("lambda  50.00: accuracy"), "{e}");
    assert_eq!(e.matches("1 negative").count(), 1, "{e}");
    assert!(!e.contains("warning: warning"), "{e}");
}

#[test]
fn missing_key_is_named_and_file_kept() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_model(dir.path(), "m.mat", "2");
    let f = mat::read(&m).unwrap();
    let vars: Vec<_> = f.vars.into_iter().filter(|v| v.name != "w_out").collect();
    let broken = dir.path().join("broken.mat");
    mat::write(&broken, &vars).unwrap();
    let before = std::fs::read(&broken).unwrap();
    for cmd in ["search", "eval"] {
        let r = run(&[cmd, broken.to_str().unwrap(), "--lambda", "30"]);
        let r = if cmd == "search" {
            run(&[cmd, broken.to_str().unwrap()])
        } else {
            r
        };
        let line = error_line(&r);
        assert!(
            line.contains("w_out") && line.contains("broken.mat"),
            "{line}"
        );
    }
    assert_eq!(std::fs::read(&broken).unwrap(), before);
    let r = run(&["eval", dir.path().join("nope.mat").to_str().unwrap()]);
    assert!(error_line(&r).contains("nope.mat"));
}

#[test]
fn simulate_writes_spikes_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_model(dir.path(), "m.mat", "3");
    let out = dir.path().join("sim.mat");
    let r = run(&[
        "simulate",
        m.to_str().unwrap(),
        "--lambda",
        "30",
        "--trial-type",
        "go",
        "--record",
        "rs,REC",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let f = mat::read(&out).unwrap();
    assert_eq!(f.get("spk").unwrap().dims, vec![20, 20_000]);
    assert!(matches!(f.get("spk").unwrap().data, mat::MatData::Bool(_)));
    assert_eq!(f.get("out").unwrap().dims, vec![1, 20_000]);
    assert_eq!(f.get("REC").unwrap().dims, vec![20, 20_000]);
    assert_eq!(f.get("rs").unwrap().dims, vec![20, 20_000]);
    assert!(f.get("IPSC").is_none());
    let dt = f.get("dt").unwrap().to_f64().unwrap()[0];
    assert!((dt - 5e-5).abs() < 1e-12);
    let r = run(&[
        "simulate",
        m.to_str().unwrap(),
        "--lambda",
        "30",
        "--trial-type",
        "maybe",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(error_line(&r).contains("trial-type"));
    // Missing parent directories are created, and said so on stderr.
    let nested = dir.path().join("new/dir/s.mat");
    let args = ["simulate", m.to_str().unwrap(), "--lambda", "30", "--out"];
    let r = bin().args(args).arg(&nested).output().unwrap();
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(nested.exists());
    assert!(stderr(&r).contains("created directory"), "{}", stderr(&r));
    assert!(String::from_utf8_lossy(&r.stdout).contains("trial at lambda 30"));
}

#[test]
fn run_refuses_an_existing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("keep.txt");
    std::fs::write(&keep, b"mine").unwrap();
    let r = run(&["run", "--out", dir.path().to_str().unwrap(), "--n", "10"]);
    let line = error_line(&r);
    assert!(line.contains("--force") && line.contains("out"), "{line}");
    assert_eq!(std::fs::read(&keep).unwrap(), b"mine");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // A failing step is named once, with its cause once.
    let out = dir.path().join("r");
    let r = run(&["run", "--out", out.to_str().unwrap(), "--n", "10"]);
    let line = error_line(&r);
    assert!(line.contains("step 'train' failed"), "{line}");
    assert_eq!(line.matches("som-n").count(), 1, "{line}");
}

#[test]
fn config_prints_a_loadable_default() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(&["config", "--task", "mante"]);
    assert!(r.status.success());
    let text = String::from_utf8_lossy(&r.stdout).into_owned();
    assert!(
        text.contains("task = \"mante\"") && text.contains("n = 250"),
        "{text}"
    );
    let p = dir.path().join("run.toml");
    std::fs::write(&p, text.replace("n = 250", "n = 0")).unwrap();
    let r = run(&[
        "run",
        "--config",
        p.to_str().unwrap(),
        "--out",
        dir.path().join("r").to_str().unwrap(),
    ]);
    assert!(error_line(&r).contains("n"), "{}", stderr(&r));
}

/// `run` arguments for a tiny Go-NoGo network (N = 20, 30 training trials,
/// no refinement) into `out`, followed by `extra`.
fn tiny_run<'a>(out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "run",
        "--out",
        out.to_str().unwrap(),
        "--n",
        "20",
        "--som-n",
        "0",
        "--n-trials",
        "30",
        "--eval-freq",
        "10",
        "--eval-trials",
        "5",
        "--no-refine",
    ];
    a.extend_from_slice(extra);
    a
}

#[test]
fn run_retrains_until_the_target_and_keeps_every_attempt() {
    // Tiny networks trained for 30 trials miss the stopping rule, so the
    // first attempt is dropped before the search; the last one is searched.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let o = run(&tiny_run(
        &out,
        &[
            "--lambdas",
            "30,40",
            "--trials",
            "4",
            "--eval-trials-spiking",
            "4",
            "--attempts",
            "2",
            "--target-accuracy",
            "1.0",
            "--scoring",
            "strict",
            "--json",
        ],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let m = last_json(&o);
    assert_eq!(m["scoring"]["window_start_step"], 7500, "{m}");
    let att = m["attempts"].as_array().expect("attempts");
    assert_eq!(att.len(), 2, "{m}");
    assert_eq!(att[0]["seed"], 1);
    assert_eq!(att[1]["seed"], 2);
    assert!(att[0].get("best_accuracy").is_none(), "{}", att[0]);
    assert!(att[1].get("best_accuracy").is_some(), "{}", att[1]);
    assert_eq!(m["seed_used"], att[1]["seed"]);
    assert_eq!(m["target_met"], false);
    // model.mat is the searched attempt, byte for byte; both attempts kept.
    let kept = out.join(att[1]["file"].as_str().unwrap());
    assert_eq!(
        std::fs::read(out.join("model.mat")).unwrap(),
        std::fs::read(&kept).unwrap()
    );
    assert!(out.join(att[0]["file"].as_str().unwrap()).exists());
    for k in ["rate_accuracy", "spiking_accuracy"] {
        assert!(m[k].is_number(), "{k} in {m}");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("Networks trained"), "{report}");
    assert!(
        report.contains("from 375 ms (spiking step 7500"),
        "{report}"
    );
    // Every spiking summary row is a two-cell Markdown row (no stray '|').
    for line in report.lines().filter(|l| l.starts_with("| spiking")) {
        assert_eq!(line.matches('|').count(), 3, "{line}");
    }

    // A forced re-run with one network leaves no attempts of the old run.
    let o = run(&tiny_run(
        &out,
        &[
            "--force",
            "--lambdas",
            "30",
            "--trials",
            "2",
            "--eval-trials-spiking",
            "2",
            "--attempts",
            "1",
            "--window-start",
            "10000",
            "--nogo-rule",
            "max",
        ],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join("attempts").exists());
    assert!(out.join("model.mat").exists());
    // MATLAB's scoring is kept in the run's config and named in the report.
    let cfg = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(cfg.contains("nogo_rule = \"max\""), "{cfg}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("from 500 ms (spiking step 10000")
            && report.contains("max output < 0.3 (MATLAB"),
        "{report}"
    );

    for (flag, val) in [
        ("--attempts", "0"),
        ("--target-accuracy", "1.5"),
        ("--nogo-rule", "min"),
    ] {
        let r = run(&[
            "run",
            "--out",
            dir.path().join("bad").to_str().unwrap(),
            flag,
            val,
        ]);
        let line = error_line(&r);
        assert!(line.contains(&flag[2..]), "{line}");
        assert!(!dir.path().join("bad").exists());
    }
}

/// A search of one λ (30) on 2 trials.
const ONE_LAMBDA: [&str; 5] = ["--lambdas", "30", "--trials", "2", "--no-refine"];

/// `train` with a tiny budget (N = 10, 10 trials) and `extra` flags, run in `cwd`.
fn tiny_train(cwd: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "--n",
        "10",
        "--n-trials",
        "10",
        "--eval-freq",
        "5",
        "--eval-trials",
        "2",
    ];
    args.extend_from_slice(extra);
    bin()
        .current_dir(cwd)
        .args(&args)
        .output()
        .expect("spawn spikernn")
}

#[test]
fn train_guards_its_output_file() {
    let dir = tempfile::tempdir().unwrap();
    // Default path names the task; its directory is created and said so.
    let o = tiny_train(dir.path(), &["--task", "xor", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let made = dir.path().join("models/xor.mat");
    assert!(made.exists());
    assert!(
        stderr(&o).contains("created directory models"),
        "{}",
        stderr(&o)
    );
    // The summary is a result: stdout. With --quiet, stderr has no progress.
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("saved models/xor.mat"), "{out}");
    // An existing file is refused without --force, and left as it was.
    let before = std::fs::read(&made).unwrap();
    let o = tiny_train(dir.path(), &["--task", "xor", "--seed", "2"]);
    let line = error_line(&o);
    assert!(
        line.contains("exists") && line.contains("--force"),
        "{line}"
    );
    assert_eq!(std::fs::read(&made).unwrap(), before);
    let o = tiny_train(dir.path(), &["--task", "xor", "--seed", "2", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(std::fs::read(&made).unwrap(), before);
    // A directory as --out is found before training starts.
    for bad in ["dir-not-file/", "models"] {
        let t0 = std::time::Instant::now();
        let o = bin()
            .current_dir(dir.path())
            .args(["train", "--n", "10", "--out", bad])
            .output()
            .unwrap();
        let line = error_line(&o);
        assert!(
            line.contains("invalid out") && line.contains("directory"),
            "{line}"
        );
        assert!(t0.elapsed().as_secs() < 20, "trained before failing");
    }
    assert!(!dir.path().join("dir-not-file").exists());
}

#[test]
fn results_go_to_stdout_and_progress_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_model(dir.path(), "m.mat", "1");
    let ms = m.to_str().unwrap();
    let r = run(&[&["search", ms][..], &ONE_LAMBDA].concat());
    assert!(r.status.success(), "{}", stderr(&r));
    let out = String::from_utf8_lossy(&r.stdout);
    // One row per λ with its trials and interval, the chosen one marked,
    // then why it was chosen.
    assert!(
        out.contains("95% interval") && out.contains("<- chosen"),
        "{out}"
    );
    assert!(
        out.contains("λ 30: first maximum of the coarse grid"),
        "{out}"
    );
    // A 30-trial network is untrained: its best accuracy is far below the
    // Go-NoGo target 0.95, and the search says so (on stderr).
    let err = stderr(&r);
    let acc = last_json(&run(&[&["search", ms, "--json"][..], &ONE_LAMBDA].concat()))
        ["best_accuracy"]
        .as_f64()
        .unwrap();
    assert_eq!(
        acc < 0.85,
        err.contains("far below the target"),
        "{acc}: {err}"
    );
    let r = run(&["--quiet", "eval", ms, "--trials", "4"]);
    assert!(r.status.success(), "{}", stderr(&r));
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(
        out.contains("lambda 30: accuracy") && out.contains("4 trials"),
        "{out}"
    );
    assert!(out.contains("paper scoring"), "{out}");
    assert_eq!(stderr(&r), "", "quiet eval printed on stderr");
    // --json: stdout is exactly one JSON object.
    let r = run(&["eval", ms, "--trials", "4", "--json"]);
    let out = String::from_utf8_lossy(&r.stdout);
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    assert_eq!(last_json(&r)["scoring"]["preset"], "paper");
}

#[test]
fn scoring_presets_are_named_in_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_model(dir.path(), "m.mat", "1");
    let ms = m.to_str().unwrap();
    let base = [&["search", ms][..], &ONE_LAMBDA, &["--json"]].concat();
    // (preset flags, window_start_step, window, nogo_rule)
    let cases: [(&[&str], u64, &str, &str); 4] = [
        (&[], 10_000, "preset", "max"),
        (&["--scoring", "paper"], 10_000, "preset", "max"),
        (&["--scoring", "strict"], 7500, "task", "abs"),
        (
            &["--scoring", "strict", "--window-start", "9000"],
            9000,
            "override",
            "abs",
        ),
    ];
    for (flags, step, window, rule) in cases {
        let mut args = base.clone();
        args.extend_from_slice(flags);
        let r = run(&args);
        assert!(r.status.success(), "{}", stderr(&r));
        let s = &last_json(&r)["scoring"];
        assert_eq!(s["window_start_step"], step, "{flags:?}: {s}");
        assert_eq!(s["window_start_ms"], step as f64 * 0.05, "{s}");
        assert_eq!(
            (s["window"].as_str(), s["nogo_rule"].as_str()),
            (Some(window), Some(rule))
        );
        let preset = if flags.contains(&"strict") {
            "strict"
        } else {
            "paper"
        };
        assert_eq!(s["preset"], preset, "{s}");
    }
}

#[test]
fn errors_name_their_cause_once() {
    let r = run(&["eval", "nonexistent.mat"]);
    let line = error_line(&r);
    assert!(line.contains("nonexistent.mat"), "{line}");
    assert_eq!(line.matches("os error 2").count(), 1, "{line}");
    // A negative count is a range error naming the flag, on one line.
    let r = run(&["train", "--n", "-5"]);
    let line = error_line(&r);
    assert!(line.contains("--n") && line.contains("≥ 0"), "{line}");
    assert_eq!(stderr(&r).trim().lines().count(), 1, "{}", stderr(&r));
    // search --all names a failing file once.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.mat");
    std::fs::write(&bad, b"not a mat file").unwrap();
    let r = run(&[
        "search",
        "--all",
        dir.path().to_str().unwrap(),
        "--trials",
        "2",
    ]);
    assert!(!r.status.success());
    let e = stderr(&r);
    let line = e
        .lines()
        .find(|l| l.contains("bad.mat"))
        .expect("bad.mat named");
    assert_eq!(line.matches("bad.mat").count(), 1, "{line}");
}

#[test]
fn config_files_give_only_what_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.toml");
    // Only task and n: accepted (the rest is xor's defaults); --n-trials 0
    // then fails validation, which shows the file was read.
    std::fs::write(&f, "task = \"xor\"\n[net]\nn = 30\n").unwrap();
    let out = dir.path().join("r");
    let (fs, os) = (f.to_str().unwrap(), out.to_str().unwrap());
    let r = run(&["run", "--config", fs, "--out", os, "--n-trials", "0"]);
    assert!(error_line(&r).contains("n-trials") || error_line(&r).contains("n_trials"));
    // An unknown key names the file, the line and the key.
    std::fs::write(&f, "task = \"xor\"\n[net]\nn = 30\nbogus = 1\n").unwrap();
    let r = run(&["run", "--config", fs, "--out", os]);
    let line = error_line(&r);
    assert!(
        line.contains("c.toml, line 4") && line.contains("bogus"),
        "{line}"
    );
    assert!(!out.exists());
}

#[test]
fn help_tasks_and_completions() {
    let r = run(&["run", "--help"]);
    let h = String::from_utf8_lossy(&r.stdout);
    assert!(
        h.contains("[default: go-nogo 0.33, xor/mante/dms 0.2]"),
        "{h}"
    );
    assert!(h.contains("[default: go-nogo 20, xor/mante/dms 0]"), "{h}");
    assert!(
        h.contains("[default: go-nogo/xor/dms 200, mante 250]"),
        "{h}"
    );
    assert!(h.contains("[default: paper]") && !h.contains("SPEC"), "{h}");
    let r = run(&["train", "--help"]);
    let h = String::from_utf8_lossy(&r.stdout);
    assert!(
        h.contains("[default: 0.2]") && h.contains("models/<task>.mat"),
        "{h}"
    );
    let r = run(&["tasks"]);
    let t = String::from_utf8_lossy(&r.stdout);
    for s in [
        "go-nogo:",
        "xor:",
        "mante:",
        "strict scoring: from 375 ms",
        "paper scoring: from 1300 ms",
        "dms: 2 input(s), trial 1955 ms",
        "paper scoring: from 1450 ms (spiking step 29000, the task's response window)",
    ] {
        assert!(t.contains(s), "{s}: {t}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let r = run(&["completions", shell]);
        assert!(r.status.success(), "{}", stderr(&r));
        assert!(
            String::from_utf8_lossy(&r.stdout).contains("p-inh"),
            "{shell}"
        );
    }
}

/// `search MODEL` on λ 25, 50 × 2 trials at dt = 0.2 ms, plus `extra`.
fn small_search(ms: &str, extra: &[&str]) -> Output {
    let mut a = vec!["search", ms, "--lambdas", "25,50", "--trials", "2"];
    a.extend_from_slice(&["--no-refine", "--downsample", "4"]);
    a.extend_from_slice(extra);
    run(&a)
}

#[test]
fn search_with_refit_readout_stores_the_keys_and_eval_uses_them() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_model(dir.path(), "m.mat", "1");
    let ms = m.to_str().unwrap();
    let r = small_search(
        ms,
        &[
            "--refit-readout",
            "--refit-trials",
            "8",
            "--lambda-rule",
            "margin",
            "--json",
        ],
    );
    assert!(r.status.success(), "{}", stderr(&r));
    let j = last_json(&r);
    assert_keys(
        &j,
        &[
            "w_out_spk",
            "b_out_spk",
            "refit_lambda",
            "refit_alpha",
            "refit_trials",
            "refit_holdout_mse",
        ],
    );
    assert_eq!(j["refit_lambda"], j["best_lambda"]);
    assert_eq!(j["refit_trials"], 8);
    let f = mat::read(&m).unwrap();
    let n = f.get("N").unwrap().data.to_f64().unwrap()[0] as usize;
    assert_eq!(f.get("w_out_spk").unwrap().dims, vec![1, n]);
    let model = spikernn::io::model_file::load_model(&m).unwrap();
    let refit = model.search.unwrap().refit.unwrap();
    assert_eq!(refit.w_out_spk.len(), n);
    assert_eq!(refit.trials, 8);
    let r = run(&["eval", ms, "--trials", "2", "--downsample", "4", "--json"]);
    assert!(r.status.success(), "{}", stderr(&r));
    let e = last_json(&r);
    assert_eq!(e["readout"], "refit");
    assert_eq!(e["b_out_spk"], j["b_out_spk"]);
    // A later search without the refit (the off form of the go-nogo
    // default) voids the stored readout.
    let r = small_search(ms, &["--refit-readout=false"]);
    assert!(r.status.success(), "{}", stderr(&r));
    let r = run(&["eval", ms, "--trials", "2", "--downsample", "4", "--json"]);
    assert!(last_json(&r).get("readout").is_none());
}

#[test]
fn lesions_apply_to_the_loaded_network_and_never_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_model(dir.path(), "m.mat", "1");
    let ms = m.to_str().unwrap();
    let before = std::fs::read(&m).unwrap();
    let base = ["eval", ms, "--lambda", "30", "--trials", "4", "--json"];
    let r = run(&[
        &base[..],
        &["--lesion", "units=I:remove", "--lesion", "ee:scale=0.5"],
    ]
    .concat());
    assert!(r.status.success(), "{}", stderr(&r));
    let j = last_json(&r);
    let l = j["lesions"]
        .as_array()
        .expect("lesions reported next to the accuracy");
    assert_eq!(l[0]["lesion"], "units=I:remove");
    assert_eq!(l[1]["lesion"], "ee:scale=0.5");
    assert!(j["accuracy"].is_number());
    // Without lesions: no key.
    assert!(last_json(&run(&base)).get("lesions").is_none());
    // A lesioned search stores nothing in the model file.
    let r = run(&[
        &["search", ms][..],
        &ONE_LAMBDA,
        &["--lesion", "ii:scale=0.7"],
    ]
    .concat());
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(stderr(&r).contains("lesioned network"), "{}", stderr(&r));
    assert_eq!(std::fs::read(&m).unwrap(), before, "the model file changed");
    // A bad spec names the flag.
    let r = run(&[&base[..], &["--lesion", "xx:remove"]].concat());
    assert!(!r.status.success());
    assert!(error_line(&r).contains("lesion"), "{}", error_line(&r));
}

/// The string variable `key` of the .mat file `p`.
fn mat_string(p: &Path, key: &str) -> Option<String> {
    let f = mat::read(p).unwrap();
    f.get(key).and_then(|v| v.as_str().map(str::to_string))
}

/// The 1×1 numeric variable `key` of the .mat file `p`.
fn mat_scalar(p: &Path, key: &str) -> Option<f64> {
    let f = mat::read(p).unwrap();
    f.get(key).and_then(|v| v.to_f64()).map(|v| v[0])
}

#[test]
fn dms_curriculum_goes_on_from_a_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.mat");
    let long = dir.path().join("long.mat");
    let s = short.to_str().unwrap();
    let o = tiny_train(
        dir.path(),
        &["--task", "dms", "--delay-ms", "50", "--out", s],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(mat_string(&short, "task").as_deref(), Some("dms"));
    assert_eq!(mat_scalar(&short, "task_delay_ms"), Some(50.0));
    let args = [
        "--task",
        "dms",
        "--init",
        s,
        "--out",
        long.to_str().unwrap(),
    ];
    let o = tiny_train(dir.path(), &args[..]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(mat_string(&long, "init_from").as_deref(), Some(s));
    assert_eq!(mat_string(&long, "init_task").as_deref(), Some("dms"));
    assert_eq!(mat_scalar(&long, "task_delay_ms"), Some(750.0));
    // The inhibitory units and masks are the initial model's.
    let (a, b) = (mat::read(&short).unwrap(), mat::read(&long).unwrap());
    for key in ["inh", "m", "som_m", "w_in", "w0", "taus"] {
        assert_eq!(
            a.get(key).unwrap().to_f64(),
            b.get(key).unwrap().to_f64(),
            "{key}"
        );
    }
    // N (10) and the inputs must agree; network flags do not apply.
    let cases: [(&[&str], &str); 3] = [
        (&["--n", "12"], "N = 10 but --n is 12"),
        (
            &["--task", "go-nogo"],
            "2 input channels but task go-nogo has 1",
        ),
        (&["--taus", "5"], "network flags"),
    ];
    for (extra, want) in cases {
        let bad = dir.path().join("bad.mat");
        let mut args = vec!["train", "--n-trials", "10", "--init", s];
        args.extend_from_slice(&["--out", bad.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let o = run(&args);
        let e = error_line(&o);
        assert!(e.contains("invalid init") && e.contains(want), "{e}");
        assert!(!bad.exists());
    }
}

#[test]
fn task_files_train_and_the_model_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tasks/xor.toml");
    let m = dir.path().join("m.mat");
    let args = [
        "--task-file",
        file.to_str().unwrap(),
        "--out",
        m.to_str().unwrap(),
    ];
    let o = tiny_train(dir.path(), &args[..]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(mat_string(&m, "task").as_deref(), Some("xor-file"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(mat_string(&m, "task_file"), Some(text.clone()));
    // eval re-creates the task from the model (its window: 1000 ms).
    let ms = m.to_str().unwrap();
    let o = run(&[
        "eval",
        ms,
        "--lambda",
        "30",
        "--trials",
        "2",
        "--downsample",
        "4",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = last_json(&o);
    assert_eq!(j["scoring"]["window_start_ms"], 1000.0);
    let types = j["per_type"].as_object().unwrap();
    assert!(types
        .keys()
        .all(|k| ["++", "--", "+-", "-+"].contains(&k.as_str())));
    // A run configuration names the file relative to itself.
    let cfg = dir.path().join("c.toml");
    std::fs::copy(&file, dir.path().join("t.toml")).unwrap();
    std::fs::write(&cfg, "task_file = \"t.toml\"\n[net]\nn = 30\n").unwrap();
    let c = spikernn::config::RunConfig::load(&cfg, None).unwrap();
    assert_eq!((c.task.as_str(), c.net.n), ("xor-file", 30));
    assert_eq!(c.task().unwrap().n_steps(), 300);
    // A bad file: the error names the file, the line and the key.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        text.replace("duration_ms = 50 # 100", "duration_ms = -50 # 100"),
    )
    .unwrap();
    let o = tiny_train(dir.path(), &["--task-file", bad.to_str().unwrap()]);
    let e = error_line(&o);
    assert!(
        e.contains("bad.toml, line 14") && e.contains("epochs[2].duration_ms"),
        "{e}"
    );
}
