//! One job of a sweep: its steps through the library's pipeline functions
//! (train → save → λ search as
//! [`train_until_converts`](crate::pipeline::train_until_converts) does them, then the
//! evaluation at the chosen λ), written whole into `DIR/jobs/<id>/`
//! (`model.mat`, `result.json`) or not at all.
//!
//! The job works in `DIR/jobs/.<id>.tmp-<host>-<pid>` and renames it to
//! `DIR/jobs/<id>` when complete; a killed job leaves only its temporary
//! directory, which the next run removes and redoes.
//!
//! Its rate networks come from the sweep's training cache
//! ([`super::cache`]) when one is given: trained once per training key,
//! then loaded by every job with the same key.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::io::{model_file, write_atomic};
use crate::observe::{Event, Observer};
use crate::pipeline::{train_network, train_until_converts_using, RunPaths};
use crate::rate::train::{self, TrainOutcome};
use crate::spiking::readout::SpikingReadout;
use crate::spiking::search;
use crate::task::Task;

use super::cache::TrainCache;
use super::spec::{axes_json, Job, SweepSpec};

/// `result.json` of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    /// The job's id (= its directory name).
    pub id: String,
    /// The job's axis values.
    pub axes: BTreeMap<String, serde_json::Value>,
    /// `ok`, or `failed` (then `error` says why).
    pub status: String,
    /// The error of a failed job.
    #[serde(default)]
    pub error: Option<String>,
    /// Seed of the kept network (the job's seed unless `attempts` > 1).
    pub seed_used: Option<u64>,
    /// Training trials of the kept network.
    pub train_trials: Option<usize>,
    /// Whether it met the rate stopping rule.
    pub train_success: Option<bool>,
    /// Rate accuracy on `eval.trials` fresh trials (fraction).
    pub rate_accuracy: Option<f64>,
    /// Chosen λ (dimensionless).
    pub best_lambda: Option<f64>,
    /// Spiking accuracy at the chosen λ in the search (fraction).
    pub search_accuracy: Option<f64>,
    /// Spiking accuracy on `eval.trials` fresh trials (fraction).
    pub spiking_accuracy: Option<f64>,
    /// Its 95 % Wilson interval.
    pub spiking_ci95: Option<(f64, f64)>,
    /// Mean excitatory rate in the evaluation (Hz).
    pub exc_hz: Option<f64>,
    /// Mean inhibitory rate in the evaluation (Hz; NaN → null without any).
    pub inh_hz: Option<f64>,
    /// Networks trained (attempts).
    pub networks: usize,
    /// Training time of the kept network (s; 0 when it came from the
    /// training cache).
    pub train_seconds: f64,
    /// Whether the kept network came from the sweep's training cache
    /// (`DIR/trained/`) instead of being trained by this job.
    #[serde(default)]
    pub train_cached: bool,
    /// Search time (s).
    pub search_seconds: f64,
    /// Evaluation time (s).
    pub eval_seconds: f64,
    /// The whole job (s).
    pub wall_seconds: f64,
    /// CPU time of the job's thread (s), when it ran on one thread (Linux;
    /// `/proc/thread-self/stat`): the job's cost on a quiet machine, even
    /// when the machine was shared.
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
    /// Rayon threads the job ran on.
    pub threads: usize,
}

impl JobResult {
    fn empty(job: &Job, threads: usize) -> Self {
        JobResult {
            id: job.id.clone(),
            axes: axes_json(&job.axes),
            status: "ok".into(),
            error: None,
            seed_used: None,
            train_trials: None,
            train_success: None,
            rate_accuracy: None,
            best_lambda: None,
            search_accuracy: None,
            spiking_accuracy: None,
            spiking_ci95: None,
            exc_hz: None,
            inh_hz: None,
            networks: 0,
            train_seconds: 0.0,
            train_cached: false,
            search_seconds: 0.0,
            eval_seconds: 0.0,
            wall_seconds: 0.0,
            cpu_seconds: None,
            threads,
        }
    }

    /// Whether the job finished without error.
    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// The job directories of a sweep directory.
#[derive(Debug, Clone)]
pub struct JobsDir(pub PathBuf);

impl JobsDir {
    /// `DIR/jobs` of sweep directory `dir`.
    pub fn of(dir: &Path) -> Self {
        JobsDir(dir.join("jobs"))
    }
    /// The finished job's directory.
    pub fn done(&self, id: &str) -> PathBuf {
        self.0.join(id)
    }
    /// Its result.json.
    pub fn result(&self, id: &str) -> PathBuf {
        self.done(id).join("result.json")
    }
    /// This process's temporary directory for `id`.
    pub fn tmp(&self, id: &str) -> PathBuf {
        self.0
            .join(format!(".{id}.tmp-{}-{}", host(), std::process::id()))
    }
}

/// This machine's name (for temporary directory names).
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// What a job's directory holds.
#[derive(Debug, Clone)]
pub enum JobState {
    /// Finished (ok or failed).
    Done(Box<JobResult>),
    /// Not (validly) finished: to run.
    Pending,
}

/// The state of `job`: a readable result.json with its id is finished; a
/// directory without one (or with a corrupt one) is reported to `obs`,
/// removed, and the job is pending again.
pub fn job_state(jobs: &JobsDir, job: &Job, obs: &dyn Observer) -> Result<JobState> {
    let dir = jobs.done(&job.id);
    if !dir.exists() {
        return Ok(JobState::Pending);
    }
    let path = jobs.result(&job.id);
    let read = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<JobResult>(&b).map_err(|e| e.to_string()));
    match read {
        Ok(r) if r.id == job.id => Ok(JobState::Done(Box::new(r))),
        Ok(r) => redo(&dir, obs, format!("{} holds job {}", path.display(), r.id)),
        Err(e) => redo(&dir, obs, format!("{}: {e}", path.display())),
    }
}

fn redo(dir: &Path, obs: &dyn Observer, why: String) -> Result<JobState> {
    obs.event(&Event::Warning(format!(
        "corrupt job result ({why}); the job is redone"
    )));
    std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    Ok(JobState::Pending)
}

/// Whether process `pid` runs on this machine: `/proc/PID` exists and the
/// process is not a zombie (a `kill -9`ed sweep's pid stays in /proc as a
/// zombie until its parent reaps it).
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: "pid (comm) S …".
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// Remove temporary directories of `id` left by processes that are gone
/// (another host's are left alone unless `all_hosts`). Returns whether a
/// live process on this host is working on the job.
pub fn clear_stale(jobs: &JobsDir, id: &str, all_hosts: bool) -> Result<bool> {
    let prefix = format!(".{id}.tmp-");
    let Ok(rd) = std::fs::read_dir(&jobs.0) else {
        return Ok(false);
    };
    let (me, here) = (std::process::id(), host());
    let mut busy = false;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let (h, pid) = rest.rsplit_once('-').unwrap_or(("", rest));
        let pid: Option<u32> = pid.parse().ok();
        let alive_here = h == here && pid.is_some_and(|p| p != me && process_alive(p));
        if alive_here {
            busy = true;
        } else if h == here || all_hosts {
            std::fs::remove_dir_all(e.path()).map_err(|err| Error::io(e.path(), err))?;
        }
    }
    Ok(busy)
}

/// Remove every temporary job directory in `jobs` that a dead process on
/// this machine left (also of jobs no longer in the sweep, e.g. after
/// `--force` with another sweep file).
pub fn clear_dead_here(jobs: &JobsDir) -> Result<()> {
    let Ok(rd) = std::fs::read_dir(&jobs.0) else {
        return Ok(());
    };
    let suffix = format!("-{}-", host());
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((_, owner)) = name.rsplit_once(".tmp") else {
            continue;
        };
        let Some(pid) = owner
            .strip_prefix(&suffix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !name.starts_with('.') || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        std::fs::remove_dir_all(e.path()).map_err(|err| Error::io(e.path(), err))?;
    }
    Ok(())
}

/// Forwards warnings (prefixed with the job id) and cancellation; drops
/// progress, which would interleave between parallel jobs.
struct JobObserver<'a> {
    id: &'a str,
    inner: &'a dyn Observer,
}

impl Observer for JobObserver<'_> {
    fn event(&self, e: &Event) {
        // A missed target is in result.json; with `attempts = 1` (the
        // usual sweep) it would be one warning per job.
        if let Event::Warning(w) = e.clone() {
            if w.starts_with("no network reached") {
                return;
            }
            self.inner
                .event(&Event::Warning(format!("{}: {w}", self.id)));
        }
    }
    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
}

/// Run `job` of `spec` on the current rayon pool into its temporary
/// directory, write result.json there, and rename it to `DIR/jobs/<id>`.
/// Its networks come from `cache` when given (else they are trained). A
/// failing job is finished too (`status = "failed"`, no model kept); a
/// cancelled one leaves nothing and returns [`Error::Interrupted`].
pub fn run_job(
    spec: &SweepSpec,
    job: &Job,
    jobs: &JobsDir,
    (threads, cache): (usize, Option<&TrainCache>),
    obs: &dyn Observer,
) -> Result<JobResult> {
    let tmp = jobs.tmp(&job.id);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let t0 = Instant::now();
    let cpu0 = thread_cpu_seconds();
    let o = JobObserver {
        id: &job.id,
        inner: obs,
    };
    let mut r = JobResult::empty(job, threads);
    let nets = Networks {
        cache,
        cached: RefCell::new(Vec::new()),
    };
    if let Err(e) = steps(spec, job, (&tmp, &nets), &o, &mut r) {
        if matches!(e, Error::Interrupted) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        r.status = "failed".into();
        r.error = Some(e.to_string());
        obs.event(&Event::Warning(format!("job {} failed: {e}", job.id)));
    }
    r.wall_seconds = t0.elapsed().as_secs_f64();
    if threads == 1 && rayon::current_num_threads() == 1 {
        r.cpu_seconds = cpu0.zip(thread_cpu_seconds()).map(|(a, b)| b - a);
    }
    let text = serde_json::to_string_pretty(&r).expect("plain data serialises");
    write_atomic(&tmp.join("result.json"), text.as_bytes())?;
    std::fs::File::open(&tmp)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    let done = jobs.done(&job.id);
    if done.exists() {
        std::fs::remove_dir_all(&done).map_err(|e| Error::io(&done, e))?;
    }
    std::fs::rename(&tmp, &done).map_err(|e| Error::io(&done, e))?;
    Ok(r)
}

/// User + system CPU time of the calling thread (s), from
/// `/proc/thread-self/stat` (clock ticks of 1/100 s); `None` elsewhere.
fn thread_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Where a job's rate networks come from: the training cache, or training.
struct Networks<'a> {
    cache: Option<&'a TrainCache>,
    /// Seeds whose network came from the cache.
    cached: RefCell<Vec<u64>>,
}

impl Networks<'_> {
    /// The network of `cfg` (with its attempt's seed) on `task`, as
    /// [`train_network`] gives it.
    fn get(&self, cfg: &RunConfig, task: &dyn Task, obs: &dyn Observer) -> Result<TrainOutcome> {
        let Some(cache) = self.cache else {
            return train_network(cfg, task, obs);
        };
        let (o, hit) = cache.get_or_train(cfg, task, obs)?;
        if hit {
            self.cached.borrow_mut().push(cfg.seed);
        }
        Ok(o)
    }

    /// Whether the network of `seed` came from the cache.
    fn was_cached(&self, seed: u64) -> bool {
        self.cached.borrow().contains(&seed)
    }
}

/// The job's steps in `dir`, its networks from `nets`, filling `r`.
fn steps(
    spec: &SweepSpec,
    job: &Job,
    (dir, nets): (&Path, &Networks),
    obs: &dyn Observer,
    r: &mut JobResult,
) -> Result<()> {
    let cfg = &job.cfg;
    let paths = RunPaths {
        dir: dir.to_path_buf(),
    };
    if !spec.runs("search") {
        return train_only(cfg, &paths, nets, obs, r);
    }
    let get = |c: &RunConfig, t: &dyn Task, o: &dyn Observer| nets.get(c, t, o);
    let a = train_until_converts_using(cfg, obs, &paths, &get, &mut |_| Ok(()))?;
    let kept = a.kept();
    let sr = kept.search.clone().expect("the kept attempt was searched");
    r.seed_used = Some(kept.cfg.seed);
    r.train_trials = Some(kept.train.trials);
    r.train_success = Some(kept.train.success);
    r.rate_accuracy = Some(kept.rate_accuracy);
    r.train_seconds = kept.train.seconds;
    r.train_cached = nets.was_cached(kept.cfg.seed);
    r.networks = a.tried.len();
    r.best_lambda = Some(sr.best_lambda);
    r.search_accuracy = Some(sr.best_accuracy);
    r.search_seconds = kept.search_seconds;
    if !spec.runs("eval") {
        return Ok(());
    }
    let t0 = Instant::now();
    let mut model = kept.train.model.clone();
    model.search = Some(sr.to_record());
    let mut opts = kept.cfg.eval_options()?;
    opts.readout = sr.refit.as_ref().map(|f| SpikingReadout {
        w: f.w_out_spk.clone(),
        b: f.b_out_spk,
    });
    let spike_task = cfg.scoring_task()?;
    let ev = search::evaluate(&model, spike_task.as_ref(), sr.best_lambda, &opts, obs)?;
    r.eval_seconds = t0.elapsed().as_secs_f64();
    r.spiking_accuracy = Some(ev.overall.accuracy);
    r.spiking_ci95 = Some(ev.ci95);
    r.exc_hz = Some(ev.overall.exc_rate_hz).filter(|x| x.is_finite());
    r.inh_hz = Some(ev.overall.inh_rate_hz).filter(|x| x.is_finite());
    Ok(())
}

/// A train-only job: the network of `cfg` (from `nets`) saved to
/// `paths.model()` and scored on `eval.trials` fresh rate trials.
fn train_only(
    cfg: &RunConfig,
    paths: &RunPaths,
    nets: &Networks,
    obs: &dyn Observer,
    r: &mut JobResult,
) -> Result<()> {
    let task = cfg.task()?;
    let o = nets.get(cfg, task.as_ref(), obs)?;
    model_file::save_model(&paths.model(), &o.model)?;
    let (_, acc) = train::evaluate_rate(
        &o.model,
        task.as_ref(),
        cfg.train_config()?.loss,
        cfg.eval.trials,
        cfg.seed,
        crate::pipeline::TAG_RATE_EVAL,
    );
    (r.seed_used, r.train_trials, r.train_success) =
        (Some(cfg.seed), Some(o.trials), Some(o.success));
    (r.rate_accuracy, r.train_seconds, r.networks) = (Some(acc), o.seconds, 1);
    r.train_cached = nets.was_cached(cfg.seed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{process_alive, JobResult};

    /// A result.json written before `train_cached` existed still loads
    /// (as not cached); a current one keeps the flag.
    #[test]
    fn old_results_without_train_cached_load() {
        let spec =
            super::SweepSpec::parse("[net]\nn = 10\n[axes]\nseed = [1]\n", "s.toml".as_ref())
                .unwrap();
        let job = &spec.jobs().unwrap()[0];
        let mut r = JobResult::empty(job, 1);
        r.train_cached = true;
        let mut v = serde_json::to_value(&r).unwrap();
        assert_eq!(serde_json::from_value::<JobResult>(v.clone()).unwrap(), r);
        v.as_object_mut().unwrap().remove("train_cached");
        assert!(!serde_json::from_value::<JobResult>(v).unwrap().train_cached);
    }

    /// A running process is alive; an exited, not yet reaped child (a
    /// zombie, what `kill -9` of a sweep leaves for a moment) and a pid
    /// that does not exist are not.
    #[test]
    fn zombies_and_missing_pids_are_not_alive() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(4_000_000_000));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let mut zombie = false;
        for _ in 0..200 {
            if !process_alive(pid) {
                zombie = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(zombie, "an exited child must not count as alive");
        assert!(
            std::fs::metadata(format!("/proc/{pid}")).is_ok(),
            "not reaped yet"
        );
        child.wait().unwrap();
    }
}
