//! SLURM: a job array whose task `i` runs `spikernn sweep-task DIR --index
//! i` (J jobs per task), and a collect job chained with
//! `--dependency=afterok` on the array.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::io::write_atomic;

use super::spec::SweepSpec;

/// Options of the SLURM scripts.
#[derive(Debug, Clone)]
pub struct SlurmOptions {
    /// The `spikernn` binary the tasks run (absolute path).
    pub exe: PathBuf,
    /// At most this many array tasks at once (`%K`).
    pub array_limit: Option<usize>,
    /// Jobs per array task.
    pub jobs_per_task: usize,
    /// Time limit per task (`--time`, e.g. `01:00:00`).
    pub time: String,
    /// CPUs per task (= rayon threads of each job).
    pub cpus: usize,
    /// Partition (`--partition`), if any.
    pub partition: Option<String>,
    /// The tasks run `sweep-task --no-train-cache` (every job trains its
    /// own networks instead of sharing them through `DIR/trained/`).
    pub no_train_cache: bool,
}

/// The files written and the size of the array.
#[derive(Debug, Clone)]
pub struct SlurmFiles {
    /// `DIR/sweep.sbatch`.
    pub array: PathBuf,
    /// `DIR/collect.sbatch`.
    pub collect: PathBuf,
    /// `DIR/submit.sh`: both, chained.
    pub submit: PathBuf,
    /// Array tasks.
    pub tasks: usize,
}

fn quote(p: &Path) -> String {
    let s = p.display().to_string();
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Write the scripts for `spec` into the prepared sweep directory `dir`
/// (made absolute, so the scripts run from anywhere).
pub fn write_scripts(spec: &SweepSpec, dir: &Path, o: &SlurmOptions) -> Result<SlurmFiles> {
    let dir = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
    let n = spec.jobs()?.len();
    let per = o.jobs_per_task.max(1);
    let tasks = n.div_ceil(per);
    let logs = dir.join("slurm");
    std::fs::create_dir_all(&logs).map_err(|e| Error::io(&logs, e))?;
    let limit = o.array_limit.map(|k| format!("%{k}")).unwrap_or_default();
    let part = o
        .partition
        .as_ref()
        .map(|p| format!("#SBATCH --partition={p}\n"))
        .unwrap_or_default();
    let head = |name: &str, out: &str| {
        format!(
            "#!/bin/bash\n#SBATCH --job-name={name}\n#SBATCH --cpus-per-task={cpus}\n#SBATCH --time={time}\n{part}#SBATCH --output={out}\n",
            cpus = o.cpus,
            time = o.time,
            out = logs.join(out).display()
        )
    };
    let (exe, d) = (quote(&o.exe), quote(&dir));
    let array = format!(
        "{}#SBATCH --array=0-{}{limit}\n# Sweep '{}': {n} jobs, {per} per task.\nexport RAYON_NUM_THREADS={}\nexec {exe} sweep-task {d} --index \"$SLURM_ARRAY_TASK_ID\" --jobs-per-task {per} --threads {}{}\n",
        head("spikernn-sweep", "task-%A_%a.out"),
        tasks.saturating_sub(1),
        spec.name,
        o.cpus,
        o.cpus,
        if o.no_train_cache {
            " --no-train-cache"
        } else {
            ""
        }
    );
    let collect = format!(
        "{}exec {exe} sweep collect {d}\n",
        head("spikernn-collect", "collect-%j.out")
    );
    let files = SlurmFiles {
        array: dir.join("sweep.sbatch"),
        collect: dir.join("collect.sbatch"),
        submit: dir.join("submit.sh"),
        tasks,
    };
    let submit = format!(
        "#!/bin/bash\n# Submit the array, then the collect job once every task succeeded.\nset -euo pipefail\narray=$(sbatch --parsable {a})\narray=${{array%%;*}}\ncollect=$(sbatch --parsable --dependency=afterok:$array {c})\necho \"array job $array, collect job ${{collect%%;*}}\"\n",
        a = quote(&files.array),
        c = quote(&files.collect)
    );
    write_atomic(&files.array, array.as_bytes())?;
    write_atomic(&files.collect, collect.as_bytes())?;
    write_atomic(&files.submit, submit.as_bytes())?;
    Ok(files)
}

/// Submit with `sbatch`: the array, then the collect job with
/// `--dependency=afterok:<array>`. Returns both job ids.
pub fn submit(files: &SlurmFiles) -> Result<(String, String)> {
    let array = sbatch(&[], &files.array)?;
    let dep = format!("--dependency=afterok:{array}");
    let collect = sbatch(&[&dep], &files.collect)?;
    Ok((array, collect))
}

fn sbatch(args: &[&str], script: &Path) -> Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .arg(script)
        .output()
        .map_err(|e| Error::param("submit", format!("cannot run sbatch: {e}")))?;
    if !out.status.success() {
        return Err(Error::param(
            "submit",
            format!(
                "sbatch {} failed: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok(id.split(';').next().unwrap_or(&id).to_string())
}
