//! `spikernn sweep`, `spikernn sweep collect` and `spikernn sweep-task`:
//! flags in, the library's sweep functions, lines out.

use anyhow::{Context, Result};
use spikernn::observe::hms;
use spikernn::sweep::{self, spec::describe, LocalOptions, SlurmOptions, SweepSpec};

use crate::args::{SweepArgs, SweepCmd, SweepTaskArgs};
use crate::progress;

pub fn cmd_sweep(a: &SweepArgs, quiet: bool) -> Result<()> {
    if let Some(SweepCmd::Collect { dir }) = &a.cmd {
        return collect(dir, quiet);
    }
    let file = a.file.as_ref().expect("clap requires FILE");
    let dir = a.out.as_ref().expect("clap requires --out");
    let spec = SweepSpec::load(file)?;
    let jobs = spec.jobs()?;
    if a.dry_run {
        println!("{} jobs (sweep '{}'):", jobs.len(), spec.name);
        for j in &jobs {
            println!("{:>5}  {}  {}", j.index, j.id, describe(&j.axes));
        }
        return Ok(());
    }
    sweep::prepare(&spec, dir, a.force)?;
    if a.slurm {
        return slurm(a, &spec, dir);
    }
    let obs = progress::Cli::new(quiet);
    let opts = LocalOptions {
        jobs: a.jobs,
        threads: a.threads,
        retry_failed: a.retry_failed,
        no_train_cache: a.no_train_cache,
    };
    let s = sweep::run_local(&spec, dir, &opts, &obs);
    if !quiet {
        eprintln!();
    }
    let s = s?;
    println!(
        "{} jobs: {} already finished, {} run now ({} at once) in {}; {} failed. `spikernn sweep collect {}` tabulates them.",
        s.total,
        s.skipped,
        s.ran,
        s.parallel,
        hms(s.seconds),
        s.failed,
        dir.display()
    );
    Ok(())
}

fn slurm(a: &SweepArgs, spec: &SweepSpec, dir: &std::path::Path) -> Result<()> {
    let exe = std::env::current_exe().context("the path of this spikernn binary")?;
    let o = SlurmOptions {
        exe,
        array_limit: a.array_limit,
        jobs_per_task: a.jobs_per_task,
        time: a.time.clone(),
        cpus: a.cpus,
        partition: a.partition.clone(),
        no_train_cache: a.no_train_cache,
    };
    let f = sweep::write_scripts(spec, dir, &o)?;
    println!(
        "wrote {} ({} array tasks), {} and {}",
        f.array.display(),
        f.tasks,
        f.collect.display(),
        f.submit.display()
    );
    if a.submit {
        let (array, collect) = sweep::submit(&f)?;
        println!("submitted: array job {array}, collect job {collect} (afterok:{array})");
    } else {
        println!("submit with: bash {}", f.submit.display());
    }
    Ok(())
}

fn collect(dir: &std::path::Path, quiet: bool) -> Result<()> {
    let obs = progress::Cli::new(quiet);
    let c = sweep::collect(dir, &obs)?;
    println!(
        "{} jobs ok, {} failed, {} missing; wrote {}, {} and {} figure(s) in {}",
        c.counts.0,
        c.counts.1,
        c.counts.2,
        c.csv.display(),
        c.report.display(),
        c.figures.len(),
        dir.join("figures").display()
    );
    Ok(())
}

pub fn cmd_sweep_task(a: &SweepTaskArgs, quiet: bool) -> Result<()> {
    if let Some(t) = a.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .context("--threads")?;
    }
    let obs = progress::Cli::new(quiet);
    let rs = sweep::run_task(
        &a.dir,
        (a.index, a.jobs_per_task),
        a.retry_failed,
        a.no_train_cache,
        &obs,
    )?;
    let failed = rs.iter().filter(|r| !r.ok()).count();
    println!("task {}: {} job(s), {} failed", a.index, rs.len(), failed);
    Ok(())
}
