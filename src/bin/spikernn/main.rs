//! `spikernn` command-line interface: a thin layer over the library. Flags
//! override the per-task defaults (or a `--config` file); results go to
//! stdout, progress and warnings to stderr; errors are printed as one line
//! naming the flag, key or file, with a non-zero exit.

use std::path::{Path, PathBuf};

mod args;
mod help;
mod progress;
mod simulate;
mod sweep;

use anyhow::{anyhow, bail, Context, Result};
use clap::error::ErrorKind;
use clap::FromArgMatches;
use serde_json::json;

use args::{Cli, Cmd, EvalArgs, PlotArgs, RunArgs, SearchArgs, TaskFlags, TrainArgs};
use spikernn::config::NetFlags;
use spikernn::config::{parse_lambdas, RunConfig, RunPatch, ScoringPreset};
use spikernn::io::mat;
use spikernn::io::model_file;
use spikernn::observe::Observer;
use spikernn::pipeline::{self, scoring_json};
use spikernn::rate::train;
use spikernn::rate::NetConfig;
use spikernn::rate::RateModel;
use spikernn::spiking::readout::stored_readout;
use spikernn::spiking::search;
use spikernn::task::{task_by_name, Task, TaskSpec, TASK_NAMES};
use spikernn::units::RATE_DT_MS;

/// Fail early if `out` cannot be written (before minutes of work): it must
/// name a file, not a directory; missing parent directories are created (and
/// said so on stderr).
pub fn check_writable(out: &Path, flag: &str) -> Result<()> {
    let text = out.to_string_lossy();
    if out.is_dir() || text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR) {
        bail!(
            "invalid {flag}: {} is a directory; give a file name (e.g. {}/model.mat)",
            out.display(),
            text.trim_end_matches(['/', std::path::MAIN_SEPARATOR])
        );
    }
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    ensure_dir(&dir, flag)?;
    let probe = dir.join(format!(".spikernn-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| anyhow!("invalid {flag}: cannot write in {}: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Create `dir` if it is missing, saying so on stderr.
pub fn ensure_dir(dir: &Path, flag: &str) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow!(
            "invalid {flag}: cannot create directory {}: {e}",
            dir.display()
        )
    })?;
    eprintln!("created directory {}", dir.display());
    Ok(())
}

/// The task of a model file: `--task` / `--task-file` (with `--delay-ms`),
/// else the stored one (with `--delay-ms`), else by inputs.
fn model_task(model: &RateModel, t: &TaskFlags, path: &Path) -> Result<Box<dyn Task>> {
    let given = match (&t.task, &t.task_file, t.delay_ms) {
        (_, Some(f), _) => Some(TaskSpec::read_file(f)?),
        (Some(name), None, delay_ms) => Some(TaskSpec::Builtin {
            name: name.clone(),
            delay_ms,
        }),
        (None, None, Some(d)) => Some(TaskSpec::Builtin {
            name: model.task.as_ref().map_or("dms", |t| t.name()).to_string(),
            delay_ms: Some(d),
        }),
        (None, None, None) => None,
    };
    Ok(model.task(given.as_ref(), &path.display().to_string())?)
}

/// The task of `train`: `--task-file`, else `--task` with `--delay-ms`,
/// else the `--init` model's task (with `--delay-ms`), else Go-NoGo.
fn train_task(a: &TrainArgs, init: Option<&RateModel>) -> Result<TaskSpec> {
    if let Some(f) = &a.task_file {
        return Ok(TaskSpec::read_file(f)?);
    }
    let stored = init.and_then(|m| m.task.clone());
    Ok(match (&a.task, stored) {
        (Some(name), _) => TaskSpec::Builtin {
            name: name.clone(),
            delay_ms: a.delay_ms,
        },
        (None, Some(TaskSpec::Builtin { name, delay_ms })) => TaskSpec::Builtin {
            name,
            delay_ms: a.delay_ms.or(delay_ms),
        },
        (None, Some(file)) if a.delay_ms.is_none() => file,
        (None, _) => TaskSpec::Builtin {
            name: "go-nogo".into(),
            delay_ms: a.delay_ms,
        },
    })
}

/// The `--init` model, checked against the network flags (which do not
/// apply to it).
fn init_model(a: &TrainArgs) -> Result<Option<RateModel>> {
    let Some(path) = &a.init else {
        return Ok(None);
    };
    let m = load(path)?;
    if let Some(n) = a.net.n.filter(|&n| n != m.n()) {
        bail!(
            "invalid init: {} has N = {} but --n is {n}",
            path.display(),
            m.n()
        );
    }
    let n_only = NetFlags {
        n: a.net.n,
        ..NetFlags::default()
    };
    if a.net != n_only {
        bail!(
            "invalid init: the network comes from {}; network flags (--taus, --p-inh, …) do not apply",
            path.display()
        );
    }
    Ok(Some(m))
}

fn load(path: &Path) -> Result<RateModel> {
    let (m, warnings) = model_file::load_model_with_warnings(path)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok(m)
}

/// `--lambda`, else the model's stored optimum.
fn stored_lambda(model: &RateModel, flag: Option<f64>, path: &Path) -> Result<f64> {
    Ok(model.lambda(flag, &path.display().to_string())?)
}

/// A note on stderr unless `--quiet`.
pub fn note(quiet: bool, msg: impl std::fmt::Display) {
    if !quiet {
        eprintln!("{msg}");
    }
}

fn cmd_train(a: &TrainArgs, quiet: bool) -> Result<()> {
    let init = init_model(a)?;
    let mut c = RunConfig::for_spec(&train_task(a, init.as_ref())?)?;
    c.seed = a.seed.unwrap_or(c.seed);
    a.net.apply(&mut c.net);
    a.train.apply(&mut c.train);
    let task = c.task()?;
    let net = match &init {
        Some(m) => NetConfig {
            n: m.n(),
            ..c.net_config()?
        },
        None => c.net_config()?,
    };
    let cfg = c.train_config()?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("models/{}.mat", task.name())));
    check_writable(&out, "out")?;
    if out.exists() && !a.force {
        bail!(
            "invalid out: {} exists; pass --force to overwrite it or --out another file",
            out.display()
        );
    }
    let obs = progress::Cli::new(quiet || a.json);
    let r = match (init, &a.init) {
        (Some(m), Some(p)) => {
            let m = train::init_from(m, &p.display().to_string(), task.as_ref())?;
            train::train_model(m, &cfg, task.as_ref(), &obs)?
        }
        _ => train::train(&net, &cfg, task.as_ref(), &obs)?,
    };
    model_file::save_model(&out, &r.model)?;
    let last = r.last_eval();
    if a.json {
        let j = json!({
            "task": task.name(), "n": net.n, "seed": c.seed, "trials": r.trials,
            "init": a.init,
            "eval_perf": last.map(|e| e.accuracy), "eval_loss": last.map(|e| e.loss),
            "success": r.success, "seconds": r.seconds, "out": out,
        });
        println!("{j}");
    } else {
        println!(
            "{} after {} trials in {:.1} s: eval accuracy {:.3}, eval loss {:.3}; saved {}",
            r.verdict(),
            r.trials,
            r.seconds,
            last.map_or(f64::NAN, |e| e.accuracy),
            last.map_or(f64::NAN, |e| e.loss),
            out.display()
        );
    }
    Ok(())
}

/// The search as text: one line per λ (accuracy, trials, 95 % interval,
/// stage), then the chosen λ and why.
fn print_search(path: &Path, r: &search::SearchResult, secs: f64) {
    println!("{}:", path.display());
    println!("  lambda  accuracy  trials  95% interval  stage");
    for p in r.points() {
        let mark = if p.lambda == r.best_lambda {
            "  <- chosen"
        } else {
            ""
        };
        println!(
            "  {:>6}  {:>8.3}  {:>6}  {:.3}–{:.3}   {}{mark}",
            p.lambda,
            p.accuracy,
            p.trials,
            p.ci95.0,
            p.ci95.1,
            p.stage.describe()
        );
    }
    println!("  {} ({secs:.1} s)", r.selection());
}

fn search_one(path: &Path, a: &SearchArgs, obs: &progress::Cli) -> Result<serde_json::Value> {
    let mut model = load(path)?;
    let task = model_task(&model, &a.task, path)?;
    let mut c = RunConfig::for_spec(&task.spec())?;
    c.seed = a.seed.unwrap_or(c.seed);
    a.search.apply(&mut c.search);
    a.spike.apply(&mut c.search);
    let lesions = c.apply_lesions(&mut model)?;
    note_lesions(obs.quiet(), &lesions);
    let task = c.scoring_task()?;
    let opts = c.search_options()?;
    let quiet = obs.quiet();
    note(
        quiet,
        format_args!(
            "searching lambda for {} ({}, N = {}): {} values × {} trials{}; {}",
            path.display(),
            task.name(),
            model.n(),
            opts.lambdas.len(),
            opts.n_trials,
            if opts.refine { ", then refinement" } else { "" },
            c.scoring()?.describe()
        ),
    );
    let t0 = std::time::Instant::now();
    let r = search::grid_search(&model, task.as_ref(), &opts, obs)?;
    let secs = t0.elapsed().as_secs_f64();
    if !lesions.is_empty() && !a.no_save {
        note(
            obs.quiet(),
            format_args!(
                "not stored in {}: the search was on a lesioned network",
                path.display()
            ),
        );
    }
    if !a.no_save && lesions.is_empty() {
        model_file::write_search_record(path, &r.to_record())?;
        note(
            quiet,
            format_args!(
                "stored opt_scaling_factor, all_perfs, scaling_factors{} in {}",
                if r.refit.is_some() {
                    ", w_out_spk, b_out_spk, refit_*"
                } else {
                    ""
                },
                path.display()
            ),
        );
    }
    if let Some(w) = r.shortfall(c.target()) {
        eprintln!("warning: {}: {w}", path.display());
    }
    if !a.json {
        print_search(path, &r, secs);
    }
    let mut j = serde_json::to_value(&r)?;
    j["model"] = json!(path);
    j["seconds"] = json!(secs);
    j["scoring"] = scoring_json(&c)?;
    if !lesions.is_empty() {
        j["lesions"] = serde_json::to_value(&lesions)?;
    }
    Ok(j)
}

/// `error: …` for one failed model of `search --all`, naming the file once.
fn model_error(f: &Path, e: &anyhow::Error) -> String {
    let m = format!("{e:#}");
    if m.contains(&*f.to_string_lossy()) {
        format!("error: {m}")
    } else {
        format!("error: {}: {m}", f.display())
    }
}

fn cmd_search(a: &SearchArgs, quiet: bool) -> Result<()> {
    if let Some(l) = &a.search.lambdas {
        parse_lambdas(l)?;
    }
    let obs = progress::Cli::new(quiet || a.json);
    let Some(dir) = &a.all else {
        let path = a.model.as_ref().expect("clap requires MODEL or --all");
        let j = search_one(path, a, &obs)?;
        if a.json {
            println!("{j}");
        }
        return Ok(());
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("invalid all: {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("mat")))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("invalid all: {} has no .mat files", dir.display());
    }
    let mut results = Vec::new();
    let mut failed = 0;
    for f in &files {
        match search_one(f, a, &obs) {
            Ok(j) => results.push(j),
            Err(e) if obs.cancelled() => return Err(e),
            Err(e) => {
                eprintln!("{}", model_error(f, &e));
                failed += 1;
            }
        }
    }
    if a.json {
        println!("{}", json!({ "models": results }));
    }
    if failed > 0 {
        bail!("{failed} of {} models failed", files.len());
    }
    Ok(())
}

fn cmd_eval(a: &EvalArgs, quiet: bool) -> Result<()> {
    let mut model = load(&a.model)?;
    let task = model_task(&model, &a.task, &a.model)?;
    let lambda = stored_lambda(&model, a.lambda, &a.model)?;
    let mut c = RunConfig::for_spec(&task.spec())?;
    c.seed = a.seed.unwrap_or(c.seed);
    a.eval.apply(&mut c.eval);
    a.spike.apply(&mut c.search);
    let lesions = c.apply_lesions(&mut model)?;
    note_lesions(quiet || a.json, &lesions);
    let task = c.scoring_task()?;
    let mut opts = c.eval_options()?;
    opts.readout = stored_readout(&model, lambda);
    let obs = progress::Cli::new(quiet || a.json);
    let r = search::evaluate(&model, task.as_ref(), lambda, &opts, &obs)?;
    if a.json {
        let mut j = serde_json::to_value(&r)?;
        j["scoring"] = scoring_json(&c)?;
        if !lesions.is_empty() {
            j["lesions"] = serde_json::to_value(&lesions)?;
        }
        if let Some(rec) = opts.readout.and(model.search.and_then(|s| s.refit)) {
            j["readout"] = json!("refit");
            merge(&mut j, serde_json::to_value(rec)?);
        }
        println!("{j}");
        return Ok(());
    }
    println!(
        "lambda {}: accuracy {:.3} (95% CI {:.3}–{:.3}, {} trials); E {:.2} Hz, I {:.2} Hz",
        r.lambda,
        r.overall.accuracy,
        r.ci95.0,
        r.ci95.1,
        r.overall.n_trials,
        r.overall.exc_rate_hz,
        r.overall.inh_rate_hz
    );
    for (k, v) in &r.per_type {
        println!(
            "  {k:>8}: accuracy {:.3} ({} trials), E {:.2} Hz, I {:.2} Hz",
            v.accuracy, v.n_trials, v.exc_rate_hz, v.inh_rate_hz
        );
    }
    if opts.readout.is_some() {
        println!("  readout: refitted (w_out_spk, b_out_spk stored by search --refit-readout)");
    }
    for l in &lesions {
        println!("  lesion {}: {} connections", l.lesion, l.connections);
    }
    println!("  {}", c.scoring()?.describe());
    Ok(())
}

/// Say on stderr which lesions were applied (unless `quiet`).
pub(crate) fn note_lesions(quiet: bool, lesions: &[spikernn::lesion::Applied]) {
    for l in lesions {
        note(
            quiet,
            format_args!(
                "lesion {}: {} connections, {} readout weights changed (the file is not)",
                l.lesion, l.connections, l.readout_units
            ),
        );
    }
}

/// Copy the keys of the object `extra` into the object `j`.
fn merge(j: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(j), serde_json::Value::Object(e)) = (j.as_object_mut(), extra) {
        j.extend(e);
    }
}

/// The configuration of `run`: the file (or `for_run` of the task), then the flags.
fn run_config(a: &RunArgs) -> Result<RunConfig> {
    let mut c = match (&a.config, &a.task_file) {
        (Some(p), _) => {
            let c = RunConfig::load(p, a.task.as_deref())?;
            let given = match (&a.task, &a.task_file) {
                (Some(t), _) => Some(task_by_name(t)?.name().to_string()),
                (None, Some(f)) => Some(TaskSpec::read_file(f)?.name().to_string()),
                (None, None) => None,
            };
            if let Some(t) = given.filter(|t| *t != c.task) {
                bail!(
                    "invalid task: {t} (--task / --task-file) disagrees with task = \"{}\" in {}",
                    c.task,
                    p.display()
                );
            }
            c
        }
        (None, Some(f)) => RunConfig::for_run_spec(&TaskSpec::read_file(f)?)?,
        (None, None) => RunConfig::for_run(a.task.as_deref().unwrap_or("go-nogo"))?,
    };
    if a.delay_ms.is_some() {
        c.delay_ms = a.delay_ms;
    }
    let top = RunPatch {
        seed: a.seed,
        attempts: a.attempts,
        target_accuracy: a.target_accuracy,
        ..RunPatch::default()
    };
    top.apply(&mut c);
    a.net.apply(&mut c.net);
    a.train.apply(&mut c.train);
    a.search.apply(&mut c.search);
    a.spike.apply(&mut c.search);
    c.eval.trials = a.eval_trials_spiking.unwrap_or(c.eval.trials);
    c.validate()?;
    Ok(c)
}

fn cmd_run(a: &RunArgs, quiet: bool) -> Result<()> {
    let c = run_config(a)?;
    let obs = progress::Cli::new(quiet);
    let out = pipeline::run(&c, &a.out, a.force, &obs)?;
    if a.json {
        println!("{}", out.metrics);
        return Ok(());
    }
    println!(
        "{}: spiking accuracy {:.3} at lambda {} (rate accuracy {:.3}); {}",
        a.out.display(),
        out.eval.overall.accuracy,
        out.search.best_lambda,
        out.rate_accuracy,
        c.scoring()?.describe()
    );
    Ok(())
}

fn cmd_plot(a: &PlotArgs) -> Result<()> {
    let file = mat::read(&a.file)?;
    ensure_dir(&a.out, "out")?;
    if file.get("spk").is_some() && file.get("w").is_none() {
        let names = pipeline::plot_simulation(&file, &a.file, &a.out)?;
        println!("wrote {} to {}", names.join(", "), a.out.display());
        return Ok(());
    }
    let model = model_file::model_from_mat(&file, &a.file)?;
    let task = model_task(&model, &a.task, &a.file)?;
    let lambda = stored_lambda(&model, a.lambda, &a.file)?;
    let mut c = RunConfig::for_spec(&task.spec())?;
    c.seed = a.seed.unwrap_or(c.seed);
    let evals = model
        .training
        .as_ref()
        .map(|t| t.evals.clone())
        .unwrap_or_default();
    let figs = pipeline::make_figures(&model, task.as_ref(), lambda, None, &evals, &c, &a.out)?;
    println!(
        "wrote {} (PNG and SVG) to {}",
        figs.names.join(", "),
        a.out.display()
    );
    Ok(())
}

fn cmd_config(task: &str) -> Result<()> {
    let c = RunConfig::for_run(task)?;
    if c.task == "go-nogo" {
        println!(
            "# Go-NoGo run defaults: the paper's Fig. S3 network (p_inh 0.33, som_n 20),\n\
             # which converts to LIF more reliably than the generic p_inh 0.2, som_n 0\n\
             # that `spikernn train` uses (see RunConfig::for_run)."
        );
    }
    println!(
        "# A file for `run --config` needs only the keys it changes.\n\
         # [search] scoring = \"paper\" (MATLAB's windows and NoGo rule) or \"strict\";\n\
         # optional overrides: window_start = STEP (0.05-ms spiking steps) and, for\n\
         # go-nogo, nogo_rule = \"abs\" or \"max\" (docs/model.md, \"Scoring protocols\")."
    );
    print!("{}", c.to_toml());
    Ok(())
}

/// `spikernn tasks`: names, trial types, timings and scoring per preset.
fn cmd_tasks() -> Result<()> {
    for name in TASK_NAMES {
        let t = task_by_name(name)?;
        println!(
            "{name}: {} input(s), trial {} ms ({} rate steps of {RATE_DT_MS} ms), response window from {} ms",
            t.n_inputs(),
            t.n_steps() as f64 * RATE_DT_MS,
            t.n_steps(),
            t.response_start() as f64 * RATE_DT_MS
        );
        for k in 0..t.trial_types().len() {
            println!("  trial type {}", t.describe_type(k));
        }
        let mut c = RunConfig::for_task(name)?;
        for p in ScoringPreset::ALL {
            c.search.scoring = p;
            println!("  {}", c.scoring()?.describe());
        }
    }
    Ok(())
}

fn parse_cli() -> Cli {
    let matches = help::command()
        .try_get_matches()
        .unwrap_or_else(|e| match e.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
            _ => {
                eprintln!("{}", help::one_line(&e));
                std::process::exit(2)
            }
        });
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn main() {
    let cli = parse_cli();
    let q = cli.quiet;
    let r = match &cli.cmd {
        Cmd::Train(a) => cmd_train(a, q),
        Cmd::Search(a) => cmd_search(a, q),
        Cmd::Eval(a) => cmd_eval(a, q),
        Cmd::Simulate(a) => simulate::cmd_simulate(a, q),
        Cmd::Run(a) => cmd_run(a, q),
        Cmd::Plot(a) => cmd_plot(a),
        Cmd::Sweep(a) => sweep::cmd_sweep(a, q),
        Cmd::SweepTask(a) => sweep::cmd_sweep_task(a, q),
        Cmd::Config(a) => cmd_config(&a.task),
        Cmd::Tasks => cmd_tasks(),
        Cmd::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut help::command(), "spikernn", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script).context("stdout")
        }
    };
    if let Err(e) = r {
        eprintln!("error: {e:#}");
        std::process::exit(match e.downcast_ref::<spikernn::Error>() {
            Some(spikernn::Error::Interrupted) => 130,
            _ => 1,
        });
    }
}
