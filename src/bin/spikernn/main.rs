//! `spikernn` command-line interface: a thin layer over the library. Flags
//! override the per-task defaults (or a `--config` file); errors are printed
//! as one line naming the flag, key or file, with a non-zero exit.

use std::path::{Path, PathBuf};

mod progress;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use spikernn::config::{parse_lambdas, RunConfig};
use spikernn::io::{mat, model_file, sim_file};
use spikernn::observe::Observer;
use spikernn::pipeline::{self, scoring_json};
use spikernn::rate::train;
use spikernn::rate::RateModel;
use spikernn::spiking::lif::{LifNetwork, Opto, OptoMode, Record, SimOptions};
use spikernn::spiking::search;
use spikernn::task::{extend_stimulus, task_by_name, Task};

#[derive(Parser)]
#[command(
    name = "spikernn",
    version,
    about = "Functional spiking RNNs from trained rate RNNs (Kim, Li & Sejnowski, PNAS 2019)",
    long_about = "Train a rate RNN under Dale's principle, convert it to a LIF network, find the \
                  scaling factor lambda, evaluate, plot.\n\nTime units: one rate step is 5 ms; one \
                  spiking step is 0.05 ms (100 spiking steps per rate step)."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train a rate RNN on a task by BPTT and save it as a .mat file.
    Train(TrainArgs),
    /// Grid search for the scaling factor lambda of the spiking network; stores
    /// opt_scaling_factor, all_perfs and scaling_factors in the model file.
    Search(SearchArgs),
    /// Accuracy and firing rates of the spiking network on fresh trials.
    Eval(EvalArgs),
    /// Simulate one trial of the spiking network and save spikes and output as .mat.
    Simulate(SimulateArgs),
    /// The whole pipeline: train, save, search lambda, evaluate, figures, report.
    Run(Box<RunArgs>),
    /// Make the figures from an existing model .mat or `simulate` output.
    Plot(PlotArgs),
    /// Print the default `run` configuration of a task as TOML (for `run --config`).
    Config(ConfigArgs),
}

/// Network flags (defaults depend on the task; see `spikernn config`).
#[derive(Args, Clone, Default)]
struct NetFlags {
    /// Number of units N [go-nogo, xor: 200; mante: 250].
    #[arg(long)]
    n: Option<usize>,
    /// Synaptic decay constant(s) in rate steps of 5 ms: one value (fixed) or MIN MAX (trained range) [4 20].
    #[arg(long, num_args = 1..=2, allow_negative_numbers = true)]
    taus: Option<Vec<f64>>,
    /// Probability that a unit is inhibitory, in [0, 1] [0.2].
    #[arg(long, allow_negative_numbers = true)]
    p_inh: Option<f64>,
    /// Initial connection probability, in (0, 1] [0.2].
    #[arg(long, allow_negative_numbers = true)]
    p_rec: Option<f64>,
    /// Gain of the gaus initial weights [1.5].
    #[arg(long, allow_negative_numbers = true)]
    gain: Option<f64>,
    /// Number of SOM units (inhibitory units that receive no inhibition) [0].
    #[arg(long)]
    som_n: Option<usize>,
    /// Turn Dale's principle off (no inhibitory units).
    #[arg(long)]
    no_dale: bool,
    /// Initial weight distribution: gaus or gamma [gaus].
    #[arg(long)]
    w_dist: Option<String>,
    /// Activation: sigmoid, clipped_relu or softplus [sigmoid].
    #[arg(long)]
    act: Option<String>,
}

/// Training flags.
#[derive(Args, Clone, Default)]
struct TrainFlags {
    /// Maximum number of training trials [go-nogo 6000; xor, mante 10000].
    #[arg(long)]
    n_trials: Option<usize>,
    /// Evaluate every this many trials [100].
    #[arg(long)]
    eval_freq: Option<usize>,
    /// Trials per evaluation [100].
    #[arg(long)]
    eval_trials: Option<usize>,
    /// Adam learning rate [0.01].
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Trials per Adam update [1].
    #[arg(long)]
    batch: Option<usize>,
    /// Loss: l2 (the paper's) or l1 [l2].
    #[arg(long)]
    loss: Option<String>,
    /// Stopping rule: mean evaluation loss below this [7].
    #[arg(long, allow_negative_numbers = true)]
    loss_threshold: Option<f64>,
    /// Stopping rule: evaluation accuracy above this [0.95].
    #[arg(long, allow_negative_numbers = true)]
    acc_threshold: Option<f64>,
}

/// Spiking-network flags shared by search, eval and run.
#[derive(Args, Clone, Default)]
struct SpikeFlags {
    /// Score from this spiking step (0.05 ms each) instead of the task's
    /// response window; the MATLAB search used 10000 (go-nogo), 20000 (xor), 26000 (mante).
    #[arg(long)]
    window_start: Option<usize>,
    /// NoGo trials (go-nogo): abs = max |output| < 0.3 (SPEC, the training
    /// rule) or max = max output < 0.3 (MATLAB's lambda_grid_search.m) [abs].
    #[arg(long)]
    nogo_rule: Option<String>,
    /// Down-sampling factor d: every d-th stimulus column, dt = d·0.05 ms [1].
    #[arg(long)]
    downsample: Option<usize>,
    /// Neuron model: lif or qif [lif].
    #[arg(long)]
    neuron: Option<String>,
    /// Convert the initial weights w0 instead of the trained w.
    #[arg(long)]
    initial_weights: bool,
    /// Keep negative raw weights of a Dale model (files of the Python tutorial) instead of applying relu.
    #[arg(long)]
    keep_negative_weights: bool,
    /// Synaptic rise time in ms; 0 selects the single-exponential synapse [2].
    #[arg(long, allow_negative_numbers = true)]
    tr_ms: Option<f64>,
}

/// Lambda-search flags.
#[derive(Args, Clone, Default)]
struct SearchFlags {
    /// Coarse lambda grid START:STOP:STEP (inclusive) or a list a,b,c [20:75:5].
    #[arg(long)]
    lambdas: Option<String>,
    /// Trials per lambda [100].
    #[arg(long)]
    trials: Option<usize>,
    /// No refinement around the best coarse lambda (MATLAB-identical grid).
    #[arg(long)]
    no_refine: bool,
}

#[derive(Args, Clone)]
struct TrainArgs {
    /// Task: go-nogo, xor or mante.
    #[arg(long, default_value = "go-nogo")]
    task: String,
    /// Seed for every random draw [1].
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    net: NetFlags,
    #[command(flatten)]
    train: TrainFlags,
    /// Output model file (.mat); written atomically at the end.
    #[arg(long, default_value = "models/go-nogo.mat")]
    out: PathBuf,
    /// Print one JSON object as the last line of stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Clone)]
struct SearchArgs {
    /// Model file (.mat).
    #[arg(required_unless_present = "all")]
    model: Option<PathBuf>,
    /// Search every .mat model in this directory instead.
    #[arg(long, conflicts_with = "model")]
    all: Option<PathBuf>,
    /// Task (default: the model's stored task, else inferred from its inputs).
    #[arg(long)]
    task: Option<String>,
    /// Seed of the per-trial random streams [1].
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    search: SearchFlags,
    #[command(flatten)]
    spike: SpikeFlags,
    /// Do not write the results into the model file.
    #[arg(long)]
    no_save: bool,
    /// Print one JSON object as the last line of stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Clone)]
struct EvalArgs {
    /// Model file (.mat).
    model: PathBuf,
    /// Scaling factor (default: the model's stored opt_scaling_factor).
    #[arg(long, allow_negative_numbers = true)]
    lambda: Option<f64>,
    /// Number of fresh trials [200].
    #[arg(long)]
    trials: Option<usize>,
    /// Task (default: the model's stored task, else inferred from its inputs).
    #[arg(long)]
    task: Option<String>,
    /// Seed of the per-trial random streams [1].
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    spike: SpikeFlags,
    /// Print one JSON object as the last line of stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Clone)]
struct SimulateArgs {
    /// Model file (.mat).
    model: PathBuf,
    /// Scaling factor (default: the model's stored opt_scaling_factor).
    #[arg(long, allow_negative_numbers = true)]
    lambda: Option<f64>,
    /// Trial type by name (e.g. go, nogo; ++, +-; ctx0:+-) or index.
    #[arg(long, default_value = "0")]
    trial_type: String,
    /// Task (default: the model's stored task, else inferred from its inputs).
    #[arg(long)]
    task: Option<String>,
    /// Output .mat: spk (N×nt logical), out (1×nt), dt and T (s), t_spk (spike times, s), and what --record asks for.
    #[arg(long)]
    out: PathBuf,
    /// Also record N×nt matrices: any of rs (filtered spike trains), REC (voltages, mV), IPSC (input currents).
    #[arg(long, value_delimiter = ',')]
    record: Vec<String>,
    /// Seed of the random stream [1].
    #[arg(long)]
    seed: Option<u64>,
    /// Optogenetic stimulation: none, exc (+0.5 mV) or inh (−0.5 mV) with probability 0.5 per step.
    #[arg(long, default_value = "none")]
    opto: String,
    /// Stimulation window [on, off) in spiking steps.
    #[arg(long, num_args = 2, value_names = ["ON", "OFF"])]
    opto_window: Option<Vec<usize>>,
    /// Stimulated units (0-based indices, comma-separated).
    #[arg(long, value_delimiter = ',')]
    opto_units: Vec<usize>,
    #[command(flatten)]
    spike: SpikeFlags,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Task: go-nogo, xor or mante [go-nogo].
    #[arg(long)]
    task: Option<String>,
    /// Run directory (model, config, metrics, figures, report).
    #[arg(long)]
    out: PathBuf,
    /// Overwrite an existing, non-empty run directory.
    #[arg(long)]
    force: bool,
    /// TOML configuration (see `spikernn config`); flags given here override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed for every random draw [1].
    #[arg(long)]
    seed: Option<u64>,
    /// Networks to train at most: while one's spiking accuracy misses the
    /// target, train another with the next seed (--seed, --seed + 1, …) [3].
    #[arg(long)]
    attempts: Option<usize>,
    /// Best spiking accuracy (fraction) of the lambda search that accepts a
    /// network [go-nogo, mante 0.95; xor 0.90].
    #[arg(long)]
    target_accuracy: Option<f64>,
    #[command(flatten)]
    net: NetFlags,
    #[command(flatten)]
    train: TrainFlags,
    #[command(flatten)]
    search: SearchFlags,
    #[command(flatten)]
    spike: SpikeFlags,
    /// Fresh trials of the final spiking evaluation [200].
    #[arg(long)]
    eval_trials_spiking: Option<usize>,
    /// Print metrics.json as the last line of stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Clone)]
struct PlotArgs {
    /// A model .mat (trained by spikernn or the reference tools) or a `simulate` output .mat.
    file: PathBuf,
    /// Output directory for the figures.
    #[arg(long)]
    out: PathBuf,
    /// Scaling factor for the spiking figures (default: the model's stored optimum).
    #[arg(long, allow_negative_numbers = true)]
    lambda: Option<f64>,
    /// Task (default: the model's stored task, else inferred from its inputs).
    #[arg(long)]
    task: Option<String>,
    /// Seed of the example trials [1].
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Args, Clone)]
struct ConfigArgs {
    /// Task: go-nogo, xor or mante.
    #[arg(long, default_value = "go-nogo")]
    task: String,
}

impl NetFlags {
    fn apply(&self, c: &mut RunConfig) {
        let n = &mut c.net;
        set(&mut n.n, self.n);
        set(&mut n.taus, self.taus.clone());
        set(&mut n.p_inh, self.p_inh);
        set(&mut n.p_rec, self.p_rec);
        set(&mut n.gain, self.gain);
        set(&mut n.som_n, self.som_n);
        if self.no_dale {
            n.dale = false;
        }
        set(&mut n.w_dist, self.w_dist.clone());
        set(&mut n.act, self.act.clone());
    }
}

impl TrainFlags {
    fn apply(&self, c: &mut RunConfig) {
        let t = &mut c.train;
        set(&mut t.n_trials, self.n_trials);
        set(&mut t.eval_freq, self.eval_freq);
        set(&mut t.eval_trials, self.eval_trials);
        set(&mut t.lr, self.lr);
        set(&mut t.batch, self.batch);
        set(&mut t.loss, self.loss.clone());
        set(&mut t.loss_threshold, self.loss_threshold);
        set(&mut t.acc_threshold, self.acc_threshold);
    }
}

impl SpikeFlags {
    fn apply(&self, c: &mut RunConfig) {
        let s = &mut c.search;
        if self.window_start.is_some() {
            s.window_start = self.window_start;
        }
        if self.nogo_rule.is_some() {
            s.nogo_rule = self.nogo_rule.clone();
        }
        set(&mut s.downsample, self.downsample);
        set(&mut s.neuron, self.neuron.clone());
        if self.initial_weights {
            s.initial_weights = true;
        }
        if self.keep_negative_weights {
            s.keep_negative_weights = true;
        }
        set(&mut s.tr_ms, self.tr_ms);
    }
}

impl SearchFlags {
    fn apply(&self, c: &mut RunConfig) {
        set(&mut c.search.lambdas, self.lambdas.clone());
        set(&mut c.search.trials, self.trials);
        if self.no_refine {
            c.search.refine = false;
        }
    }
}

fn set<T>(dst: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *dst = v;
    }
}

/// Fail early if `out` cannot be written (before minutes of work).
fn check_writable(out: &Path, flag: &str) -> Result<()> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        anyhow!(
            "invalid {flag}: cannot create directory {}: {e}",
            dir.display()
        )
    })?;
    if out.is_dir() {
        bail!("invalid {flag}: {} is a directory", out.display());
    }
    let probe = dir.join(format!(".spikernn-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| anyhow!("invalid {flag}: cannot write in {}: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The task of a model: `--task`, else the model's stored task, else by its
/// number of inputs (1: go-nogo, 2: xor, 4: mante).
fn model_task(model: &RateModel, flag: &Option<String>, path: &Path) -> Result<Box<dyn Task>> {
    let name = match (flag, &model.task) {
        (Some(t), _) => t.clone(),
        (None, Some(t)) => t.clone(),
        (None, None) => match model.n_inputs() {
            1 => "go-nogo".into(),
            2 => "xor".into(),
            4 => "mante".into(),
            k => bail!(
                "{}: the model has {k} inputs and no stored task; pass --task",
                path.display()
            ),
        },
    };
    let task = task_by_name(&name)?;
    if task.n_inputs() != model.n_inputs() {
        bail!(
            "invalid task: {} has {} inputs but the model in {} has {}",
            task.name(),
            task.n_inputs(),
            path.display(),
            model.n_inputs()
        );
    }
    Ok(task)
}

fn load(path: &Path) -> Result<RateModel> {
    let (m, warnings) = model_file::load_model_with_warnings(path)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok(m)
}

fn stored_lambda(model: &RateModel, flag: Option<f64>, path: &Path) -> Result<f64> {
    match (flag, &model.search) {
        (Some(l), _) => Ok(l),
        (None, Some(s)) => Ok(s.opt_scaling_factor),
        (None, None) => bail!(
            "{}: no stored opt_scaling_factor (run `spikernn search` first) and no --lambda",
            path.display()
        ),
    }
}

fn cmd_train(a: &TrainArgs) -> Result<()> {
    let mut c = RunConfig::for_task(&a.task)?;
    set(&mut c.seed, a.seed);
    a.net.apply(&mut c);
    a.train.apply(&mut c);
    let task = c.task()?;
    let net = c.net_config()?;
    let cfg = c.train_config()?;
    check_writable(&a.out, "out")?;
    let obs = progress::Cli::new(a.json);
    let out = train::train(&net, &cfg, task.as_ref(), &obs)?;
    model_file::save_model(&a.out, &out.model)?;
    let last = out.last_eval();
    eprintln!(
        "{} after {} trials in {:.1} s: eval accuracy {:.3}, eval loss {:.3}; saved {}",
        out.verdict(),
        out.trials,
        out.seconds,
        last.map_or(f64::NAN, |e| e.accuracy),
        last.map_or(f64::NAN, |e| e.loss),
        a.out.display()
    );
    if a.json {
        let j = json!({
            "task": task.name(), "n": net.n, "seed": c.seed, "trials": out.trials,
            "eval_perf": last.map(|e| e.accuracy), "eval_loss": last.map(|e| e.loss),
            "success": out.success, "seconds": out.seconds, "out": a.out,
        });
        println!("{j}");
    }
    Ok(())
}

fn search_one(path: &Path, a: &SearchArgs, obs: &progress::Cli) -> Result<serde_json::Value> {
    let model = load(path)?;
    let task = model_task(&model, &a.task, path)?;
    let mut c = RunConfig::for_task(task.name())?;
    set(&mut c.seed, a.seed);
    a.search.apply(&mut c);
    a.spike.apply(&mut c);
    let task = c.scoring_task()?;
    let opts = c.search_options()?;
    eprintln!(
        "searching lambda for {} ({}, N = {}): {} values × {} trials{}; scored {}",
        path.display(),
        task.name(),
        model.n(),
        opts.lambdas.len(),
        opts.n_trials,
        if opts.refine { ", then refinement" } else { "" },
        c.scoring()?.describe()
    );
    let t0 = std::time::Instant::now();
    let r = search::grid_search(&model, task.as_ref(), &opts, obs)?;
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "best lambda {} with accuracy {:.3} ({:.1} s)",
        r.best_lambda, r.best_accuracy, secs
    );
    if !a.no_save {
        model_file::write_search_record(path, &r.to_record())?;
        eprintln!(
            "stored opt_scaling_factor, all_perfs, scaling_factors in {}",
            path.display()
        );
    }
    let mut j = serde_json::to_value(&r)?;
    j["model"] = json!(path);
    j["seconds"] = json!(secs);
    j["scoring"] = scoring_json(&c)?;
    Ok(j)
}

fn cmd_search(a: &SearchArgs) -> Result<()> {
    if let Some(l) = &a.search.lambdas {
        parse_lambdas(l)?;
    }
    let obs = progress::Cli::new(a.json);
    if let Some(dir) = &a.all {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("--all {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("mat")))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("--all {}: no .mat files", dir.display());
        }
        let mut results = Vec::new();
        let mut failed = 0;
        for f in &files {
            match search_one(f, a, &obs) {
                Ok(j) => results.push(j),
                Err(e) => {
                    if obs.cancelled() {
                        return Err(e);
                    }
                    eprintln!("error: {}: {e:#}", f.display());
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
        return Ok(());
    }
    let path = a.model.as_ref().expect("clap requires MODEL or --all");
    let j = search_one(path, a, &obs)?;
    if a.json {
        println!("{j}");
    }
    Ok(())
}

fn cmd_eval(a: &EvalArgs) -> Result<()> {
    let model = load(&a.model)?;
    let task = model_task(&model, &a.task, &a.model)?;
    let lambda = stored_lambda(&model, a.lambda, &a.model)?;
    let mut c = RunConfig::for_task(task.name())?;
    set(&mut c.seed, a.seed);
    set(&mut c.eval.trials, a.trials);
    a.spike.apply(&mut c);
    let task = c.scoring_task()?;
    let opts = c.eval_options()?;
    let obs = progress::Cli::new(a.json);
    let r = search::evaluate(&model, task.as_ref(), lambda, &opts, &obs)?;
    eprintln!(
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
        eprintln!(
            "  {k:>8}: accuracy {:.3} ({} trials), E {:.2} Hz, I {:.2} Hz",
            v.accuracy, v.n_trials, v.exc_rate_hz, v.inh_rate_hz
        );
    }
    eprintln!("  scored {}", c.scoring()?.describe());
    if a.json {
        let mut j = serde_json::to_value(&r)?;
        j["scoring"] = scoring_json(&c)?;
        println!("{j}");
    }
    Ok(())
}

fn trial_kind(task: &dyn Task, s: &str) -> Result<usize> {
    let types = task.trial_types();
    if let Some(k) = types.iter().position(|t| t.eq_ignore_ascii_case(s)) {
        return Ok(k);
    }
    match s.parse::<usize>() {
        Ok(k) if k < types.len() => Ok(k),
        _ => bail!(
            "invalid trial-type: '{s}' (task {} has {})",
            task.name(),
            types.join(", ")
        ),
    }
}

fn cmd_simulate(a: &SimulateArgs) -> Result<()> {
    let model = load(&a.model)?;
    let task = model_task(&model, &a.task, &a.model)?;
    let lambda = stored_lambda(&model, a.lambda, &a.model)?;
    let kind = trial_kind(task.as_ref(), &a.trial_type)?;
    let mut c = RunConfig::for_task(task.name())?;
    set(&mut c.seed, a.seed);
    a.spike.apply(&mut c);
    let mut record = Record::default();
    for r in &a.record {
        match r.to_ascii_lowercase().as_str() {
            "rs" | "rates" => record.rates = true,
            "rec" | "v" | "voltages" => record.voltages = true,
            "ipsc" | "currents" => record.currents = true,
            o => bail!("invalid record: '{o}' (expected rs, REC or IPSC)"),
        }
    }
    let mode = match a.opto.to_ascii_lowercase().as_str() {
        "none" => OptoMode::None,
        "exc" => OptoMode::Exc,
        "inh" => OptoMode::Inh,
        o => bail!("invalid opto: '{o}' (expected none, exc or inh)"),
    };
    let (on, off) = match &a.opto_window {
        Some(w) => (w[0], w[1]),
        None => (0, 0),
    };
    if mode != OptoMode::None && (a.opto_units.is_empty() || on >= off) {
        bail!("invalid opto-window/opto-units: stimulation needs --opto-window ON OFF with ON < OFF and --opto-units");
    }
    if let Some(&u) = a.opto_units.iter().find(|&&u| u >= model.n()) {
        bail!("invalid opto-units: unit {u} ≥ N = {}", model.n());
    }
    check_writable(&a.out, "out")?;
    let net = LifNetwork::from_rate(&model, lambda, &c.conversion()?)?;
    if let Some(w) = net.warning() {
        eprintln!("warning: {w}");
    }
    let mut r = spikernn::rng::stream(c.seed, &[0x0053_494d, kind as u64]);
    let trial = task.trial_of_kind(kind, &mut r);
    let u = extend_stimulus(&trial.u, 1);
    let opts = SimOptions {
        downsample: c.search.downsample,
        opto: Opto {
            mode,
            on,
            off,
            units: a.opto_units.clone(),
        },
        record,
    };
    let sim = net.simulate(&u, &opts, &mut r)?;
    let meta = sim_file::SimulationMeta {
        stimulus: &u,
        lambda,
        task: task.name(),
        trial_type: &task.trial_types()[kind],
        inh: &model.inh,
    };
    sim_file::write_simulation(&a.out, &sim, &meta)?;
    let correct = task.score(kind, &sim.out, steps_per_rate(c.search.downsample));
    eprintln!(
        "{} trial at lambda {lambda}: {} spikes, E {:.2} Hz, I {:.2} Hz, {}; wrote {}",
        task.trial_types()[kind],
        sim.spikes.len(),
        sim.mean_rate_hz(&model.exc()),
        sim.mean_rate_hz(&model.inh),
        if correct { "correct" } else { "incorrect" },
        a.out.display()
    );
    Ok(())
}

fn steps_per_rate(downsample: usize) -> usize {
    spikernn::units::spiking_steps_per_rate_step(downsample.max(1))
}

fn cmd_run(a: &RunArgs) -> Result<()> {
    let mut c = match &a.config {
        Some(p) => {
            let c = RunConfig::load(p)?;
            if let Some(t) = &a.task {
                if task_by_name(t)?.name() != c.task {
                    bail!(
                        "invalid task: --task {t} disagrees with task = \"{}\" in {}",
                        c.task,
                        p.display()
                    );
                }
            }
            c
        }
        None => RunConfig::for_run(a.task.as_deref().unwrap_or("go-nogo"))?,
    };
    set(&mut c.seed, a.seed);
    set(&mut c.attempts, a.attempts);
    if a.target_accuracy.is_some() {
        c.target_accuracy = a.target_accuracy;
    }
    a.net.apply(&mut c);
    a.train.apply(&mut c);
    a.search.apply(&mut c);
    a.spike.apply(&mut c);
    set(&mut c.eval.trials, a.eval_trials_spiking);
    c.validate()?;
    let obs = progress::Cli::new(false);
    let out = pipeline::run(&c, &a.out, a.force, &obs)?;
    if a.json {
        println!("{}", out.metrics);
    }
    Ok(())
}

fn cmd_plot(a: &PlotArgs) -> Result<()> {
    let file = mat::read(&a.file)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("--out {}", a.out.display()))?;
    if file.get("spk").is_some() && file.get("w").is_none() {
        let names = pipeline::plot_simulation(&file, &a.file, &a.out)?;
        eprintln!("wrote {} to {}", names.join(", "), a.out.display());
        return Ok(());
    }
    let model = model_file::model_from_mat(&file, &a.file)?;
    let task = model_task(&model, &a.task, &a.file)?;
    let lambda = stored_lambda(&model, a.lambda, &a.file)?;
    let mut c = RunConfig::for_task(task.name())?;
    set(&mut c.seed, a.seed);
    let evals = model
        .training
        .as_ref()
        .map(|t| t.evals.clone())
        .unwrap_or_default();
    let figs = pipeline::make_figures(&model, task.as_ref(), lambda, None, &evals, &c, &a.out)?;
    eprintln!(
        "wrote {} (PNG and SVG) to {}",
        figs.names.join(", "),
        a.out.display()
    );
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let r = match &cli.cmd {
        Cmd::Train(a) => cmd_train(a),
        Cmd::Search(a) => cmd_search(a),
        Cmd::Eval(a) => cmd_eval(a),
        Cmd::Simulate(a) => cmd_simulate(a),
        Cmd::Run(a) => cmd_run(a),
        Cmd::Plot(a) => cmd_plot(a),
        Cmd::Config(a) => RunConfig::for_run(&a.task)
            .map(|c| {
                if c.task == "go-nogo" {
                    println!(
                        "# Go-NoGo run defaults: the paper's Fig. S3 network (p_inh 0.33, som_n 20),\n\
                         # which converts to LIF more reliably than the generic p_inh 0.2, som_n 0\n\
                         # that `spikernn train` uses (see RunConfig::for_run)."
                    );
                }
                println!(
                    "# Optional in [search]: window_start = STEP (score from this 0.05-ms step;\n\
                     # MATLAB: go-nogo 10000, xor 20000, mante 26000) and, for go-nogo,\n\
                     # nogo_rule = \"max\" (MATLAB's max output < 0.3 instead of max |output| < 0.3)."
                );
                print!("{}", c.to_toml())
            })
            .map_err(Into::into),
    };
    if let Err(e) = r {
        eprintln!("error: {e:#}");
        std::process::exit(match e.downcast_ref::<spikernn::Error>() {
            Some(spikernn::Error::Interrupted) => 130,
            _ => 1,
        });
    }
}
