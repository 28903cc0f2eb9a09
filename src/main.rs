//! `spikernn` command-line interface: a thin layer over the library.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use spikernn::bptt::Loss;
use spikernn::rate::{Activation, NetConfig, Taus, WeightDist};
use spikernn::task::task_by_name;
use spikernn::train::{train, TrainConfig};

#[derive(Parser)]
#[command(name = "spikernn", version, about = "Functional spiking RNNs from trained rate RNNs (Kim, Li & Sejnowski 2019)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train a rate RNN on a task by BPTT and save it as a .mat file.
    Train(TrainArgs),
}

#[derive(Args, Clone)]
struct NetArgs {
    /// Task: go-nogo, xor or mante.
    #[arg(long, default_value = "go-nogo")]
    task: String,
    /// Number of units N.
    #[arg(long, default_value_t = 200)]
    n: usize,
    /// Synaptic decay constant(s) in rate steps of 5 ms: one value (fixed) or MIN MAX (trained range).
    #[arg(long, num_args = 1..=2, default_values_t = [4.0, 20.0])]
    taus: Vec<f64>,
    /// Probability that a unit is inhibitory, in [0, 1].
    #[arg(long, default_value_t = 0.2)]
    p_inh: f64,
    /// Initial connection probability, in (0, 1].
    #[arg(long, default_value_t = 0.2)]
    p_rec: f64,
    /// Gain of the gaus initial weights.
    #[arg(long, default_value_t = 1.5)]
    gain: f64,
    /// Number of SOM units (inhibitory units that receive no inhibition).
    #[arg(long, default_value_t = 0)]
    som_n: usize,
    /// Turn Dale's principle off (no inhibitory units).
    #[arg(long)]
    no_dale: bool,
    /// Initial weight distribution: gaus or gamma.
    #[arg(long, default_value = "gaus")]
    w_dist: String,
    /// Activation: sigmoid, clipped_relu or softplus.
    #[arg(long, default_value = "sigmoid")]
    act: String,
}

#[derive(Args, Clone)]
struct TrainArgs {
    #[command(flatten)]
    net: NetArgs,
    /// Maximum number of training trials.
    #[arg(long, default_value_t = 6000)]
    n_trials: usize,
    /// Evaluate every this many trials.
    #[arg(long, default_value_t = 100)]
    eval_freq: usize,
    /// Trials per evaluation.
    #[arg(long, default_value_t = 100)]
    eval_trials: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 0.01)]
    lr: f64,
    /// Trials per Adam update.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Loss: l2 (the paper's) or l1.
    #[arg(long, default_value = "l2")]
    loss: String,
    /// Seed for every random draw.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output model file (.mat).
    #[arg(long, default_value = "models/go-nogo.mat")]
    out: PathBuf,
    /// Print one JSON object as the last line of stdout.
    #[arg(long)]
    json: bool,
}

fn net_config(a: &NetArgs) -> Result<NetConfig> {
    let cfg = NetConfig {
        n: a.n,
        p_inh: a.p_inh,
        p_rec: a.p_rec,
        gain: a.gain,
        som_n: a.som_n,
        w_dist: WeightDist::parse(&a.w_dist)?,
        dale: !a.no_dale,
        activation: Activation::parse(&a.act)?,
        taus: Taus::from_slice(&a.taus)?,
    };
    cfg.validate()?;
    Ok(cfg)
}

fn cancel_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let _ = ctrlc::set_handler(move || f.store(true, std::sync::atomic::Ordering::SeqCst));
    flag
}

fn cmd_train(a: &TrainArgs) -> Result<()> {
    let task = task_by_name(&a.net.task)?;
    let net = net_config(&a.net)?;
    let cfg = TrainConfig {
        n_trials: a.n_trials,
        eval_freq: a.eval_freq,
        eval_trials: a.eval_trials,
        lr: a.lr,
        batch: a.batch,
        loss: Loss::parse(&a.loss)?,
        seed: a.seed,
        ..TrainConfig::default()
    };
    cfg.validate()?;
    let cancel = cancel_flag();
    let out = train(&net, &cfg, task.as_ref(), !a.json, &cancel).context("training failed")?;
    let last = out.last_eval();
    eprintln!(
        "{} after {} trials in {:.1} s: eval accuracy {:.3}, eval loss {:.3}",
        if out.success { "stopping rule met" } else { "stopping rule NOT met" },
        out.trials,
        out.seconds,
        last.map_or(f64::NAN, |e| e.accuracy),
        last.map_or(f64::NAN, |e| e.loss)
    );
    if a.json {
        let j = serde_json::json!({
            "task": task.name(), "n": net.n, "seed": a.seed, "trials": out.trials,
            "eval_perf": last.map(|e| e.accuracy), "eval_loss": last.map(|e| e.loss),
            "success": out.success, "seconds": out.seconds, "out": a.out,
        });
        println!("{j}");
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let r = match &cli.cmd {
        Cmd::Train(a) => cmd_train(a),
    };
    if let Err(e) = r {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
