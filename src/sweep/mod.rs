//! Sweeps: many networks over a grid of configurations, on this machine or
//! through a cluster's scheduler (docs/sweeps.md).
//!
//! - [`spec`] — the sweep file: base configuration, axes, expansion, ids;
//! - [`job`] — one job, written atomically into `DIR/jobs/<id>/`;
//! - [`cache`] — trained networks shared by jobs with the same training
//!   settings (`DIR/trained/<key>/`);
//! - [`local`] — the sweep directory and the local runner (resumable);
//! - [`slurm`] — the SLURM job array and its collect job;
//! - [`collect`](mod@collect) — results.csv, figures and report.md.

pub mod cache;
pub mod collect;
pub mod job;
pub mod local;
pub mod slurm;
pub mod spec;

pub use cache::TrainCache;
pub use collect::collect;
pub use job::{run_job, JobResult};
pub use local::{prepare, run_local, run_task, LocalOptions, LocalSummary};
pub use slurm::{submit, write_scripts, SlurmOptions};
pub use spec::{Job, SweepSpec};
