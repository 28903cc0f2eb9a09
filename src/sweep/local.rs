//! The sweep directory and the local runner: as many jobs at once as the
//! cores allow (cores / threads per job, each job in its own rayon pool, so
//! the machine is never oversubscribed), resumable.
//!
//! `DIR/sweep.toml` keeps a copy of the sweep file; a directory made by a
//! sweep file with different jobs is refused unless `force`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::observe::{Event, Observer};

use super::cache::TrainCache;
use super::job::{clear_dead_here, clear_stale, job_state, run_job, JobResult, JobState, JobsDir};
use super::spec::{Job, SweepSpec};

/// `DIR/sweep.toml`: the sweep file a directory was made from.
pub fn spec_copy(dir: &Path) -> PathBuf {
    dir.join("sweep.toml")
}

/// Create `dir` for `spec` (keeping a copy of the sweep file), or check
/// that it was made by a sweep file with the same jobs. A different one is
/// an error unless `force` (then the copy is replaced; finished jobs whose
/// ids are still in the sweep are kept).
pub fn prepare(spec: &SweepSpec, dir: &Path, force: bool) -> Result<()> {
    let copy = spec_copy(dir);
    if copy.exists() {
        let ids = |s: &SweepSpec| -> Result<Vec<String>> {
            Ok(s.jobs()?.into_iter().map(|j| j.id).collect())
        };
        let same = match SweepSpec::load(&copy) {
            Ok(old) => ids(&old)? == ids(spec)?,
            Err(_) => false,
        };
        if !same && !force {
            return Err(Error::param(
                "out",
                format!(
                    "{} was made by a different sweep file ({}); pass --force to use it anyway or choose another --out",
                    dir.display(),
                    copy.display()
                ),
            ));
        }
    } else if dir.exists() && !is_empty(dir)? && !force {
        return Err(Error::param(
            "out",
            format!(
                "{} exists, is not empty and is not a sweep directory; pass --force or choose another --out",
                dir.display()
            ),
        ));
    }
    let jobs = JobsDir::of(dir);
    std::fs::create_dir_all(&jobs.0).map_err(|e| Error::io(&jobs.0, e))?;
    write_atomic(&copy, spec.text.as_bytes())
}

fn is_empty(dir: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .next()
        .is_none())
}

/// The sweep of a prepared directory (from its `sweep.toml`).
pub fn load_dir(dir: &Path) -> Result<SweepSpec> {
    let copy = spec_copy(dir);
    if !copy.exists() {
        return Err(Error::param(
            "dir",
            format!(
                "{} is not a sweep directory (no sweep.toml); run `spikernn sweep FILE --out {}` first",
                dir.display(),
                dir.display()
            ),
        ));
    }
    let mut spec = SweepSpec::load(&copy)?;
    if spec.name == "sweep" {
        // No `[sweep] name`: the stem of the copy says nothing; use the directory's name.
        if let Some(n) = std::path::absolute(dir)
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        {
            spec.name = n;
        }
    }
    Ok(spec)
}

/// Options of [`run_local`].
#[derive(Debug, Clone, Default)]
pub struct LocalOptions {
    /// Jobs at once (default: available cores / threads per job, ≥ 1).
    pub jobs: Option<usize>,
    /// Rayon threads per job (default: the sweep file's `threads`).
    pub threads: Option<usize>,
    /// Run failed jobs again.
    pub retry_failed: bool,
    /// Train every job's networks itself instead of sharing them through
    /// the training cache `DIR/trained/` ([`super::cache`]).
    pub no_train_cache: bool,
}

/// The training cache of sweep directory `dir` unless `off`, its temporary
/// entries left by dead processes on this machine removed.
pub fn train_cache(dir: &Path, off: bool) -> Result<Option<TrainCache>> {
    if off {
        return Ok(None);
    }
    let cache = TrainCache::of(dir);
    clear_dead_here(&JobsDir(cache.dir.clone()))?;
    Ok(Some(cache))
}

/// What a local run did.
#[derive(Debug, Clone, Default)]
pub struct LocalSummary {
    /// Jobs of the sweep.
    pub total: usize,
    /// Finished before this run (skipped).
    pub skipped: usize,
    /// Run now.
    pub ran: usize,
    /// Failed (now or before).
    pub failed: usize,
    /// Jobs at once.
    pub parallel: usize,
    /// Wall time of this run (s).
    pub seconds: f64,
}

/// The jobs still to run, after clearing stale temporary directories and
/// corrupt results; the second value counts finished (and failed) ones.
pub fn pending(
    jobs: &JobsDir,
    all: &[Job],
    retry_failed: bool,
    obs: &dyn Observer,
) -> Result<(Vec<Job>, usize, usize)> {
    clear_dead_here(jobs)?;
    let (mut todo, mut done, mut failed) = (Vec::new(), 0, 0);
    for j in all {
        if clear_stale(jobs, &j.id, false)? {
            obs.event(&Event::Warning(format!(
                "job {} is being run by another process on this machine; skipped",
                j.id
            )));
            continue;
        }
        match job_state(jobs, j, obs)? {
            JobState::Done(r) if r.ok() || !retry_failed => {
                done += 1;
                failed += usize::from(!r.ok());
            }
            _ => todo.push(j.clone()),
        }
    }
    Ok((todo, done, failed))
}

/// Jobs at once for `threads` threads per job on this machine.
pub fn default_parallel(threads: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / threads.max(1)).max(1)
}

/// Run every unfinished job of `spec` in `dir` (prepared by [`prepare`]) on
/// this machine. Progress goes to `obs` as [`Event::Jobs`]; cancelling
/// `obs` stops the running jobs (their temporary directories are removed)
/// and returns [`Error::Interrupted`]; finished jobs stay.
pub fn run_local(
    spec: &SweepSpec,
    dir: &Path,
    opts: &LocalOptions,
    obs: &dyn Observer,
) -> Result<LocalSummary> {
    let t0 = Instant::now();
    let jobs = JobsDir::of(dir);
    let all = spec.jobs()?;
    let (todo, done0, failed0) = pending(&jobs, &all, opts.retry_failed, obs)?;
    let cache = train_cache(dir, opts.no_train_cache)?;
    let threads = opts.threads.unwrap_or(spec.threads).max(1);
    let parallel = opts
        .jobs
        .unwrap_or_else(|| default_parallel(threads))
        .clamp(1, todo.len().max(1));
    let state = Mutex::new(Progress {
        done: done0,
        failed: failed0,
        running: 0,
        total: all.len(),
        ran: 0,
        job_seconds: 0.0,
        parallel,
        error: None,
    });
    obs.event(&state.lock().unwrap().event());
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..parallel {
            s.spawn(|| {
                let run = |job: &Job| run_job(spec, job, &jobs, (threads, cache.as_ref()), obs);
                worker(&todo, &next, &run, threads, &state, obs)
            });
        }
    });
    let st = state.into_inner().unwrap();
    if let Some(e) = st.error {
        return Err(e);
    }
    if obs.cancelled() {
        return Err(Error::Interrupted);
    }
    Ok(LocalSummary {
        total: all.len(),
        skipped: done0,
        ran: st.ran,
        failed: st.failed,
        parallel,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Counters shared by the workers.
struct Progress {
    done: usize,
    failed: usize,
    running: usize,
    total: usize,
    ran: usize,
    job_seconds: f64,
    parallel: usize,
    error: Option<Error>,
}

impl Progress {
    fn event(&self) -> Event {
        let left = self.total - self.done;
        let eta = (self.ran > 0).then(|| {
            let per = self.job_seconds / self.ran as f64;
            per * left as f64 / self.parallel.min(left.max(1)) as f64
        });
        Event::Jobs {
            done: self.done,
            failed: self.failed,
            running: self.running,
            total: self.total,
            eta_seconds: eta,
        }
    }
}

/// One worker: its own rayon pool of `threads` threads, in which it runs
/// jobs with `run` until none is left, an error occurred or the run is
/// cancelled.
fn worker(
    todo: &[Job],
    next: &AtomicUsize,
    run: &(dyn Fn(&Job) -> Result<JobResult> + Sync),
    threads: usize,
    state: &Mutex<Progress>,
    obs: &dyn Observer,
) {
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(p) => p,
        Err(e) => {
            state.lock().unwrap().error = Some(Error::param("threads", e.to_string()));
            return;
        }
    };
    loop {
        if obs.cancelled() || state.lock().unwrap().error.is_some() {
            return;
        }
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(job) = todo.get(i) else { return };
        {
            let mut st = state.lock().unwrap();
            st.running += 1;
            obs.event(&st.event());
        }
        let r: Result<JobResult> = pool.install(|| run(job));
        let mut st = state.lock().unwrap();
        st.running -= 1;
        match r {
            Ok(r) => {
                st.done += 1;
                st.ran += 1;
                st.failed += usize::from(!r.ok());
                st.job_seconds += r.wall_seconds;
                obs.event(&st.event());
            }
            Err(Error::Interrupted) => return,
            Err(e) => {
                st.error.get_or_insert(e);
                return;
            }
        }
    }
}

/// Run the jobs of task `index` (jobs `index·per_task` to
/// `(index+1)·per_task − 1` of the expansion) of the sweep in `dir`, one
/// after the other on the current rayon pool: what one SLURM array task
/// (or a PBS/LSF array element, or one GNU parallel slot) does. Finished
/// jobs are skipped; temporary directories of these jobs left by other
/// hosts or by dead processes here are removed first (a job that a live
/// process on this machine is running is skipped). Networks are shared
/// through the training cache `DIR/trained/` unless `no_train_cache`.
/// Returns the results.
pub fn run_task(
    dir: &Path,
    (index, per_task): (usize, usize),
    retry_failed: bool,
    no_train_cache: bool,
    obs: &dyn Observer,
) -> Result<Vec<JobResult>> {
    let spec = load_dir(dir)?;
    let all = spec.jobs()?;
    let per_task = per_task.max(1);
    let tasks = all.len().div_ceil(per_task);
    if index >= tasks {
        return Err(Error::param(
            "index",
            format!(
                "{index} is out of range: the sweep has {} jobs, i.e. tasks 0–{} at {per_task} job(s) per task",
                all.len(),
                tasks.saturating_sub(1)
            ),
        ));
    }
    let jobs = JobsDir::of(dir);
    let cache = train_cache(dir, no_train_cache)?;
    let threads = rayon::current_num_threads();
    let mut out = Vec::new();
    for job in all.iter().skip(index * per_task).take(per_task) {
        if clear_stale(&jobs, &job.id, true)? {
            obs.event(&Event::Warning(format!(
                "job {} is being run by another process on this machine; skipped",
                job.id
            )));
            continue;
        }
        match job_state(&jobs, job, obs)? {
            JobState::Done(r) if r.ok() || !retry_failed => {
                obs.event(&Event::Info(format!("job {} already finished", job.id)));
                out.push(*r);
            }
            _ => {
                obs.event(&Event::Info(format!(
                    "job {} ({}): running",
                    job.id,
                    super::spec::describe(&job.axes)
                )));
                let r = run_job(&spec, job, &jobs, (threads, cache.as_ref()), obs)?;
                obs.event(&Event::Info(format!(
                    "job {}: {} in {:.1} s",
                    job.id, r.status, r.wall_seconds
                )));
                out.push(r);
            }
        }
    }
    Ok(out)
}
