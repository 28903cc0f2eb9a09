//! The command line's arguments. Every network, training and spiking flag is
//! generated from the one definition in `spikernn::config` (doc, type,
//! default); the help's `[default: …]` texts are computed from the per-task
//! defaults at start-up (see `help.rs`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;
use spikernn::config::{EvalFlags, NetFlags, SearchFlags, SpikeFlags, TrainFlags};

#[derive(Parser)]
#[command(
    name = "spikernn",
    version,
    about = "Functional spiking RNNs from trained rate RNNs (Kim, Li & Sejnowski, PNAS 2019)",
    long_about = "Train a rate RNN under Dale's principle, convert it to a LIF network, find the \
                  scaling factor lambda, evaluate, plot (docs/model.md describes the model).\n\n\
                  Time units: one rate step is 5 ms; one spiking step is 0.05 ms (100 spiking \
                  steps per rate step).\n\nOutput files are written atomically; missing parent \
                  directories are created (and said so on stderr). Results go to stdout (one \
                  JSON object with --json), progress and warnings to stderr."
)]
pub struct Cli {
    /// No progress on stderr (warnings and errors are still printed).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
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
    /// Run a sweep file's jobs (many networks over a grid of settings) here
    /// or through SLURM; `sweep collect DIR` tabulates and plots them
    /// (docs/sweeps.md).
    Sweep(Box<SweepArgs>),
    /// Run the jobs of one task of a prepared sweep directory (what each
    /// SLURM array task runs; PBS, LSF or GNU parallel can drive it too).
    SweepTask(SweepTaskArgs),
    /// Print the default `run` configuration of a task as TOML (for `run --config`).
    Config(ConfigArgs),
    /// The tasks: trial types, timings (ms) and the scoring under each preset.
    Tasks,
    /// Print a shell completion script (e.g. `spikernn completions bash > spikernn.bash`).
    Completions {
        /// The shell.
        shell: Shell,
    },
}

/// Which task a model-based command uses (default: the model's own).
#[derive(Args, Clone, Default)]
pub struct TaskFlags {
    /// Task (default: the model's stored task, else inferred from its inputs).
    #[arg(long)]
    pub task: Option<String>,
    /// Task file (TOML, docs/tasks.md) instead of --task.
    #[arg(long, conflicts_with = "task")]
    pub task_file: Option<PathBuf>,
    /// DMS only: delay between cue offset and probe onset in ms (default:
    /// the model's stored delay, else 750).
    #[arg(long, conflicts_with = "task_file")]
    pub delay_ms: Option<f64>,
}

#[derive(Args, Clone)]
pub struct TrainArgs {
    /// Task: go-nogo, xor, mante or dms [default: go-nogo, or the --init model's task].
    #[arg(long)]
    pub task: Option<String>,
    /// Task file (TOML, docs/tasks.md) instead of --task; its name and text
    /// are saved in the model.
    #[arg(long, conflicts_with = "task")]
    pub task_file: Option<PathBuf>,
    /// DMS only: delay between cue offset and probe onset in ms, a multiple
    /// of 5 [default: 750] (the follow-up paper first trained with 50).
    #[arg(long, conflicts_with = "task_file")]
    pub delay_ms: Option<f64>,
    /// Start from this model file (weights, masks, Dale signs, taus,
    /// readout) instead of a fresh network, e.g. the short-delay DMS
    /// network for the long delay; N and the number of inputs must match.
    /// The network flags (--n, --taus, …) do not apply.
    #[arg(long, value_name = "MODEL.mat")]
    pub init: Option<PathBuf>,
    /// Seed for every random draw.
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub net: NetFlags,
    #[command(flatten)]
    pub train: TrainFlags,
    /// Output model file (.mat) [default: models/<task>.mat]; checked before
    /// training, written atomically at the end; an existing file needs --force.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite an existing --out file.
    #[arg(long)]
    pub force: bool,
    /// Print one JSON object on stdout instead of the summary line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Clone)]
pub struct SearchArgs {
    /// Model file (.mat).
    #[arg(required_unless_present = "all")]
    pub model: Option<PathBuf>,
    /// Search every .mat model in this directory instead.
    #[arg(long, conflicts_with = "model")]
    pub all: Option<PathBuf>,
    #[command(flatten)]
    pub task: TaskFlags,
    /// Seed of the per-trial random streams.
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub search: SearchFlags,
    #[command(flatten)]
    pub spike: SpikeFlags,
    /// Do not write the results into the model file.
    #[arg(long)]
    pub no_save: bool,
    /// Print one JSON object on stdout instead of the summary line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Clone)]
pub struct EvalArgs {
    /// Model file (.mat).
    pub model: PathBuf,
    /// Scaling factor (default: the model's stored opt_scaling_factor).
    #[arg(long, allow_negative_numbers = true)]
    pub lambda: Option<f64>,
    #[command(flatten)]
    pub eval: EvalFlags,
    #[command(flatten)]
    pub task: TaskFlags,
    /// Seed of the per-trial random streams.
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub spike: SpikeFlags,
    /// Print one JSON object on stdout instead of the summary lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Clone)]
pub struct SimulateArgs {
    /// Model file (.mat).
    pub model: PathBuf,
    /// Scaling factor (default: the model's stored opt_scaling_factor).
    #[arg(long, allow_negative_numbers = true)]
    pub lambda: Option<f64>,
    /// Trial type by name (e.g. go, nogo; ++, +-; ctx0:+-) or index.
    #[arg(long, default_value = "0")]
    pub trial_type: String,
    #[command(flatten)]
    pub task: TaskFlags,
    /// Output .mat: spk (N×nt logical), out (1×nt), dt and T (s), t_spk (spike
    /// times, s), and what --record asks for. Missing parent directories are created.
    #[arg(long)]
    pub out: PathBuf,
    /// Also record N×nt matrices: any of rs (filtered spike trains), REC (voltages, mV), IPSC (input currents).
    #[arg(long, value_delimiter = ',')]
    pub record: Vec<String>,
    /// Seed of the random stream.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Optogenetic stimulation: none, exc (+0.5 mV) or inh (−0.5 mV) with probability 0.5 per step.
    #[arg(long, value_enum, default_value = "none")]
    pub opto: spikernn::spiking::lif::OptoMode,
    /// Stimulation window [on, off) in spiking steps.
    #[arg(long, num_args = 2, value_names = ["ON", "OFF"])]
    pub opto_window: Option<Vec<usize>>,
    /// Stimulated units (0-based indices, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub opto_units: Vec<usize>,
    #[command(flatten)]
    pub spike: SpikeFlags,
}

#[derive(Args, Clone)]
pub struct RunArgs {
    /// Task: go-nogo, xor, mante or dms (default: the --config file's, else go-nogo).
    #[arg(long)]
    pub task: Option<String>,
    /// Task file (TOML, docs/tasks.md) instead of --task.
    #[arg(long, conflicts_with = "task")]
    pub task_file: Option<PathBuf>,
    /// DMS only: delay between cue offset and probe onset in ms [default: 750].
    #[arg(long, conflicts_with = "task_file")]
    pub delay_ms: Option<f64>,
    /// Run directory (model, config, metrics, figures, report); created if missing.
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite an existing, non-empty run directory.
    #[arg(long)]
    pub force: bool,
    /// TOML configuration (see `spikernn config`) giving only what it
    /// changes; flags given here override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Seed for every random draw.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Networks to train at most: while one's spiking accuracy misses the
    /// target, train another with the next seed (--seed, --seed + 1, …).
    #[arg(long)]
    pub attempts: Option<usize>,
    /// Best spiking accuracy (fraction) of the lambda search that accepts a network.
    #[arg(long)]
    pub target_accuracy: Option<f64>,
    #[command(flatten)]
    pub net: NetFlags,
    #[command(flatten)]
    pub train: TrainFlags,
    #[command(flatten)]
    pub search: SearchFlags,
    #[command(flatten)]
    pub spike: SpikeFlags,
    /// Fresh trials of the final spiking evaluation.
    #[arg(long, allow_negative_numbers = true)]
    pub eval_trials_spiking: Option<usize>,
    /// Print metrics.json on stdout instead of the summary lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Clone)]
pub struct PlotArgs {
    /// A model .mat (trained by spikernn or the reference tools) or a `simulate` output .mat.
    pub file: PathBuf,
    /// Output directory for the figures; created if missing.
    #[arg(long)]
    pub out: PathBuf,
    /// Scaling factor for the spiking figures (default: the model's stored optimum).
    #[arg(long, allow_negative_numbers = true)]
    pub lambda: Option<f64>,
    #[command(flatten)]
    pub task: TaskFlags,
    /// Seed of the example trials.
    #[arg(long)]
    pub seed: Option<u64>,
}

#[derive(Args, Clone)]
pub struct ConfigArgs {
    /// Task: go-nogo, xor, mante or dms.
    #[arg(long, default_value = "go-nogo")]
    pub task: String,
}

#[derive(Args, Clone)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub cmd: Option<SweepCmd>,
    /// The sweep file (TOML): a run configuration plus [axes], [sweep], [[plot]].
    #[arg(required = true)]
    pub file: Option<PathBuf>,
    /// Sweep directory: sweep.toml (a copy of FILE), jobs/<id>/ (model.mat,
    /// result.json); created if missing.
    #[arg(long, required = true)]
    pub out: Option<PathBuf>,
    /// List the jobs (index, id, axis values) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Use a directory made by a different sweep file (finished jobs whose
    /// ids are still in this sweep are kept).
    #[arg(long)]
    pub force: bool,
    /// Jobs at once [default: available cores / threads per job].
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Rayon threads per job [default: the file's [sweep] threads, else 1].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run jobs that failed before again.
    #[arg(long)]
    pub retry_failed: bool,
    /// Every job trains its own networks: no sharing of trained networks
    /// between jobs with the same task, [net], [train] and seed through
    /// DIR/trained/ (with --slurm: the tasks get the flag too).
    #[arg(long)]
    pub no_train_cache: bool,
    /// Do not run here: write DIR/sweep.sbatch (a SLURM job array),
    /// DIR/collect.sbatch and DIR/submit.sh.
    #[arg(long)]
    pub slurm: bool,
    /// With --slurm: submit with sbatch (the collect job after the array, afterok).
    #[arg(long, requires = "slurm")]
    pub submit: bool,
    /// With --slurm: at most K array tasks at once.
    #[arg(long, requires = "slurm", value_name = "K")]
    pub array_limit: Option<usize>,
    /// With --slurm: jobs per array task.
    #[arg(long, requires = "slurm", value_name = "J", default_value_t = 1)]
    pub jobs_per_task: usize,
    /// With --slurm: time limit per task.
    #[arg(long, requires = "slurm", value_name = "T", default_value = "02:00:00")]
    pub time: String,
    /// With --slurm: CPUs per task (= rayon threads per job).
    #[arg(long, requires = "slurm", value_name = "C", default_value_t = 1)]
    pub cpus: usize,
    /// With --slurm: partition.
    #[arg(long, requires = "slurm", value_name = "P")]
    pub partition: Option<String>,
}

#[derive(Subcommand, Clone)]
pub enum SweepCmd {
    /// Write DIR/results.csv, the sweep file's figures (DIR/figures/) and DIR/report.md.
    Collect {
        /// The sweep directory.
        dir: PathBuf,
    },
}

#[derive(Args, Clone)]
pub struct SweepTaskArgs {
    /// The sweep directory (prepared by `spikernn sweep FILE --out DIR --slurm`).
    pub dir: PathBuf,
    /// Task index (0-based): runs jobs INDEX·J … INDEX·J + J − 1.
    #[arg(long)]
    pub index: usize,
    /// Jobs per task J.
    #[arg(long, default_value_t = 1)]
    pub jobs_per_task: usize,
    /// Rayon threads [default: RAYON_NUM_THREADS, else all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run jobs that failed before again.
    #[arg(long)]
    pub retry_failed: bool,
    /// Every job trains its own networks (no DIR/trained/ cache).
    #[arg(long)]
    pub no_train_cache: bool,
}
