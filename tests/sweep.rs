//! Sweeps: resume, atomic jobs, refusal of a different sweep file, the
//! SLURM scripts, collect. (Expansion, zip, ids and bad axes: unit tests
//! in src/sweep/spec.rs.)

use std::path::Path;
use std::sync::Mutex;

use spikernn::observe::{Event, Observer, Silent};
use spikernn::sweep::{self, LocalOptions, SlurmOptions, SweepSpec};

/// Keeps warnings.
#[derive(Default)]
struct Warnings(Mutex<Vec<String>>);
impl Observer for Warnings {
    fn event(&self, e: &Event) {
        if let Event::Warning(w) = e {
            self.0.lock().unwrap().push(w.clone());
        }
    }
}

/// Four tiny Go-NoGo jobs (N 10/12 × seeds 1–2), train + search + eval.
const TINY: &str = r#"
task = "go-nogo"
attempts = 1
[net]
n = 10
p_inh = 0.2
som_n = 0
[train]
n_trials = 20
eval_freq = 10
eval_trials = 4
[search]
lambdas = "30,40"
trials = 4
refine = false
[eval]
trials = 4
[axes]
"net.n" = [10, 12]
seed = "1..2"
[[plot]]
y = "spiking_accuracy"
x = "net.n"
by = "seed"
"#;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A sweep file with `text` in a fresh temporary directory, loaded and
/// its output directory `out` prepared.
fn prepared(text: &str) -> (tempfile::TempDir, SweepSpec, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let spec = SweepSpec::load(&write(tmp.path(), "s.toml", text)).unwrap();
    let dir = tmp.path().join("out");
    sweep::prepare(&spec, &dir, false).unwrap();
    (tmp, spec, dir)
}

fn results(dir: &Path) -> Vec<serde_json::Value> {
    let spec = SweepSpec::load(&dir.join("sweep.toml")).unwrap();
    spec.jobs()
        .unwrap()
        .iter()
        .map(|j| {
            let p = dir.join("jobs").join(&j.id).join("result.json");
            let mut v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            for k in [
                "wall_seconds",
                "cpu_seconds",
                "train_seconds",
                "search_seconds",
                "eval_seconds",
                "threads",
                "train_cached",
            ] {
                v.as_object_mut().unwrap().remove(k);
            }
            v
        })
        .collect()
}

/// results.csv without the columns that depend on timing and on the
/// training cache (wall_seconds, cpu_seconds, threads, train_cached).
fn strip_times(p: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(p).unwrap();
    let head: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let skip = ["wall_seconds", "cpu_seconds", "threads", "train_cached"]
        .map(|k| head.iter().position(|h| *h == k).unwrap());
    text.lines()
        .map(|l| {
            l.split(',')
                .enumerate()
                .filter(|(i, _)| !skip.contains(i))
                .map(|(_, f)| f)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

fn run(spec: &SweepSpec, dir: &Path, jobs: usize, obs: &dyn Observer) -> sweep::LocalSummary {
    let o = LocalOptions {
        jobs: Some(jobs),
        ..LocalOptions::default()
    };
    sweep::run_local(spec, dir, &o, obs).unwrap()
}

#[test]
fn resume_skips_finished_jobs_and_redoes_stale_and_corrupt_ones() {
    let (_tmp, spec, dir) = prepared(TINY);
    let s = run(&spec, &dir, 2, &Silent);
    assert_eq!((s.total, s.ran, s.skipped, s.failed), (4, 4, 0, 0));
    let first = results(&dir);
    for j in spec.jobs().unwrap() {
        let d = dir.join("jobs").join(&j.id);
        assert!(d.join("model.mat").exists() && d.join("result.json").exists());
    }
    // Again: nothing to do.
    let s = run(&spec, &dir, 2, &Silent);
    assert_eq!((s.ran, s.skipped), (0, 4));
    // A job killed half-way: only its temporary directory is left.
    let ids: Vec<String> = spec.jobs().unwrap().into_iter().map(|j| j.id).collect();
    let jobs = dir.join("jobs");
    std::fs::remove_dir_all(jobs.join(&ids[1])).unwrap();
    let stale = jobs.join(format!(".{}.tmp-{}-999999999", ids[1], sweep::job::host()));
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("model.mat"), b"half").unwrap();
    // Left by a dead process for a job of another sweep file.
    let orphan = jobs.join(format!(".gone-0123.tmp-{}-999999998", sweep::job::host()));
    std::fs::create_dir_all(&orphan).unwrap();
    // A corrupt result.
    std::fs::write(jobs.join(&ids[2]).join("result.json"), b"{ not json").unwrap();
    let w = Warnings::default();
    let s = run(&spec, &dir, 1, &w);
    assert_eq!((s.ran, s.skipped), (2, 2));
    assert!(!stale.exists() && !orphan.exists());
    let warnings = w.0.lock().unwrap().join("\n");
    assert!(
        warnings.contains("corrupt")
            && warnings.contains(&ids[2])
            && warnings.contains("result.json"),
        "{warnings}"
    );
    // Redone jobs give the same numbers (one job at a time this time).
    assert_eq!(results(&dir), first);
    let names: Vec<String> = std::fs::read_dir(&jobs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn a_different_sweep_file_is_refused_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let a = SweepSpec::load(&write(tmp.path(), "a.toml", TINY)).unwrap();
    let dir = tmp.path().join("out");
    sweep::prepare(&a, &dir, false).unwrap();
    // Same jobs, other comments: accepted.
    let a2 = SweepSpec::load(&write(tmp.path(), "a2.toml", &format!("# note\n{TINY}"))).unwrap();
    sweep::prepare(&a2, &dir, false).unwrap();
    let b = SweepSpec::load(&write(tmp.path(), "b.toml", &TINY.replace("1..2", "1..3"))).unwrap();
    let e = sweep::prepare(&b, &dir, false).unwrap_err().to_string();
    assert!(
        e.contains("different sweep file") && e.contains("--force"),
        "{e}"
    );
    sweep::prepare(&b, &dir, true).unwrap();
    assert!(std::fs::read_to_string(dir.join("sweep.toml"))
        .unwrap()
        .contains("1..3"));
    // A non-empty directory that is no sweep directory.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("x"), b"x").unwrap();
    assert!(sweep::prepare(&a, &other, false).is_err());
}

#[test]
fn tasks_run_their_share_and_match_the_local_runner() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = SweepSpec::load(&write(tmp.path(), "s.toml", TINY)).unwrap();
    let (local, tasks) = (tmp.path().join("local"), tmp.path().join("tasks"));
    sweep::prepare(&spec, &local, false).unwrap();
    run(&spec, &local, 2, &Silent);
    sweep::prepare(&spec, &tasks, false).unwrap();
    for i in 0..2 {
        let r = sweep::run_task(&tasks, (i, 2), false, false, &Silent).unwrap();
        assert_eq!(r.len(), 2);
    }
    let e = sweep::run_task(&tasks, (2, 2), false, false, &Silent)
        .unwrap_err()
        .to_string();
    assert!(e.contains("index") && e.contains("0–1"), "{e}");
    assert_eq!(results(&local), results(&tasks));
    let c1 = sweep::collect(&local, &Silent).unwrap();
    let c2 = sweep::collect(&tasks, &Silent).unwrap();
    assert_eq!(c1.counts, (4, 0, 0));
    assert_eq!(strip_times(&c1.csv), strip_times(&c2.csv));
    assert!(local
        .join("figures/spiking_accuracy_vs_net.n_by_seed.png")
        .exists());
    let md = std::fs::read_to_string(&c1.report).unwrap();
    assert!(md.contains("4 jobs: 4 ok"), "{md}");
}

#[test]
fn slurm_scripts_name_the_array_the_task_command_and_the_dependency() {
    let (_tmp, spec, dir) = prepared(TINY);
    let o = SlurmOptions {
        exe: "/opt/bin/spikernn".into(),
        array_limit: Some(5),
        jobs_per_task: 3,
        time: "00:10:00".into(),
        cpus: 2,
        partition: Some("short".into()),
        no_train_cache: false,
    };
    let f = sweep::write_scripts(&spec, &dir, &o).unwrap();
    assert_eq!(f.tasks, 2);
    let a = std::fs::read_to_string(&f.array).unwrap();
    for want in [
        "#SBATCH --array=0-1%5",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --time=00:10:00",
        "#SBATCH --partition=short",
        "sweep-task",
        "--index \"$SLURM_ARRAY_TASK_ID\" --jobs-per-task 3",
    ] {
        assert!(a.contains(want), "{want}: {a}");
    }
    assert!(!a.contains("--no-train-cache"), "{a}");
    let c = std::fs::read_to_string(&f.collect).unwrap();
    assert!(c.contains("sweep collect"), "{c}");
    let s = std::fs::read_to_string(&f.submit).unwrap();
    assert!(s.contains("--dependency=afterok:"), "{s}");
    let off = SlurmOptions {
        no_train_cache: true,
        ..o
    };
    let f = sweep::write_scripts(&spec, &dir, &off).unwrap();
    let a = std::fs::read_to_string(&f.array).unwrap();
    assert!(a.contains("--threads 2 --no-train-cache"), "{a}");
}

#[test]
fn a_train_only_sweep_writes_models_and_rate_results() {
    let (_tmp, spec, dir) = prepared(&format!("{TINY}[sweep]\nsteps = [\"train\"]\n"));
    run(&spec, &dir, 2, &Silent);
    let r = results(&dir);
    assert!(r[0]["rate_accuracy"].is_number() && r[0]["best_lambda"].is_null());
}

/// Two refractory periods × two seeds: jobs differ only in `[search]`.
fn refractory_sweep() -> String {
    TINY.replace(
        "\"net.n\" = [10, 12]",
        "\"search.refractory_ms\" = [2.0, 5.0]",
    )
    .replace("x = \"net.n\"", "x = \"search.refractory_ms\"")
}

fn run_opts(spec: &SweepSpec, dir: &Path, jobs: usize, no_cache: bool, obs: &dyn Observer) {
    sweep::prepare(spec, dir, false).unwrap();
    let o = LocalOptions {
        jobs: Some(jobs),
        no_train_cache: no_cache,
        ..LocalOptions::default()
    };
    sweep::run_local(spec, dir, &o, obs).unwrap();
}

/// (train_cached, train_seconds, search.refractory_ms) of every job, in
/// expansion order.
fn cache_use(dir: &Path) -> Vec<(bool, f64, f64)> {
    let spec = SweepSpec::load(&dir.join("sweep.toml")).unwrap();
    spec.jobs()
        .unwrap()
        .iter()
        .map(|j| {
            let p = dir.join("jobs").join(&j.id).join("result.json");
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            (
                v["train_cached"].as_bool().unwrap(),
                v["train_seconds"].as_f64().unwrap(),
                j.cfg.search.refractory_ms.unwrap(),
            )
        })
        .collect()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("trained"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn jobs_that_differ_in_search_settings_share_trained_networks() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = SweepSpec::load(&write(tmp.path(), "s.toml", &refractory_sweep())).unwrap();
    let (cached, fresh, par) = (
        tmp.path().join("cached"),
        tmp.path().join("fresh"),
        tmp.path().join("parallel"),
    );
    run_opts(&spec, &cached, 1, false, &Silent);
    run_opts(&spec, &fresh, 2, true, &Silent);
    run_opts(&spec, &par, 2, false, &Silent);
    // One network per seed, no temporary entries; none without the cache.
    let e = entries(&cached);
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("seed1-") && e[1].starts_with("seed2-"),
        "{e:?}"
    );
    assert_eq!(entries(&par), e);
    assert!(!fresh.join("trained").exists());
    // One job at a time: the 2 ms jobs train, the 5 ms jobs reuse.
    for (hit, secs, refr) in cache_use(&cached) {
        assert_eq!(hit, refr == 5.0, "{refr}");
        assert_eq!(hit, secs == 0.0, "{refr}: {secs}");
    }
    assert!(cache_use(&fresh).iter().all(|u| !u.0 && u.1 > 0.0));
    // Identical results and model files either way.
    assert_eq!(results(&cached), results(&fresh));
    assert_eq!(results(&par), results(&fresh));
    for j in spec.jobs().unwrap() {
        let m = |d: &Path| std::fs::read(d.join("jobs").join(&j.id).join("model.mat")).unwrap();
        assert!(m(&cached) == m(&fresh) && m(&par) == m(&fresh), "{}", j.id);
    }
    let (c1, c2) = (
        sweep::collect(&cached, &Silent).unwrap(),
        sweep::collect(&fresh, &Silent).unwrap(),
    );
    assert_eq!(strip_times(&c1.csv), strip_times(&c2.csv));
    let csv = std::fs::read_to_string(&c1.csv).unwrap();
    let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = head.iter().position(|h| *h == "train_cached").unwrap();
    let hits: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(col).unwrap())
        .collect();
    assert_eq!(hits.iter().filter(|h| **h == "1").count(), 2, "{csv}");
}

#[test]
fn a_corrupt_cache_entry_is_reported_and_retrained() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = SweepSpec::load(&write(tmp.path(), "s.toml", &refractory_sweep())).unwrap();
    let dir = tmp.path().join("out");
    run_opts(&spec, &dir, 1, false, &Silent);
    let first = results(&dir);
    let e = entries(&dir);
    let trained = dir.join("trained");
    // Seed 1: a truncated model file; seed 2: a train.json of other settings.
    std::fs::write(trained.join(&e[0]).join("model.mat"), b"MATLAB 5.0 half").unwrap();
    let json = trained.join(&e[1]).join("train.json");
    let text = std::fs::read_to_string(&json).unwrap();
    std::fs::write(&json, text.replace("n_trials = 20", "n_trials = 21")).unwrap();
    assert_ne!(std::fs::read_to_string(&json).unwrap(), text);
    // Every job again.
    std::fs::remove_dir_all(dir.join("jobs")).unwrap();
    let w = Warnings::default();
    run_opts(&spec, &dir, 1, false, &w);
    let warnings = w.0.lock().unwrap().clone();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    for (warning, entry) in warnings.iter().zip(&e) {
        assert!(
            warning.contains("corrupt training cache entry") && warning.contains(entry.as_str()),
            "{warning}"
        );
    }
    // Retrained (not served from the bad entries), then reused, and repaired.
    for (hit, _, refr) in cache_use(&dir) {
        assert_eq!(hit, refr == 5.0, "{refr}");
    }
    assert_eq!(results(&dir), first);
    assert_eq!(entries(&dir), e);
    let key = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap()["key"].clone();
    assert_eq!(key(&std::fs::read_to_string(&json).unwrap()), key(&text));
}

/// report.md of a half-finished sweep: a plot without `by` has no empty
/// first column, and points and groups without values print "–", not NaN.
#[test]
fn report_tables_without_by_and_without_values() {
    let (_tmp, _spec, dir) = prepared(&format!(
        "{TINY}[[plot]]\ny = \"rate_accuracy\"\nx = \"net.n\"\n"
    ));
    // Only the N = 10 jobs (the first two).
    sweep::run_task(&dir, (0, 2), false, false, &Silent).unwrap();
    let c = sweep::collect(&dir, &Silent).unwrap();
    assert_eq!(c.counts, (2, 0, 2));
    let md = std::fs::read_to_string(&c.report).unwrap();
    assert!(!md.contains("NaN"), "{md}");
    let section = md.split("## rate_accuracy vs net.n").nth(1).unwrap();
    let table: Vec<&str> = section.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(table[0], "| net.n | n | mean ± sd | ≥ 0.95 |", "{md}");
    assert_eq!(table[1], "|---|---|---|---|", "{md}");
    assert!(table[2].starts_with("| 10 | 2 | "), "{md}");
    assert_eq!(table[3], "| 12 | 0 | – | 0/0 |", "{md}");
    // With `by`: the by value first.
    let by = md.split("## spiking_accuracy vs net.n").nth(1).unwrap();
    assert!(
        by.contains("| seed | net.n | n |") && by.contains("| 2 | 12 | 0 | – |"),
        "{md}"
    );
    // Job time of the missing jobs' group.
    assert!(md.contains("| 12 | 0 | – | – |"), "{md}");
    assert!(md.contains("Job time summed:"), "{md}");
}
