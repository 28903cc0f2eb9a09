//! Help texts with the defaults that apply, computed from the per-task
//! defaults of the library (`RunConfig::for_task` / `for_run`), and clap's
//! errors as one line.

use clap::{Command, CommandFactory};
use serde_json::Value;
use spikernn::config::{EvalFlags, NetFlags, RunConfig, SearchFlags, SpikeFlags, TrainFlags};
use spikernn::task::TASK_NAMES;

use crate::args::Cli;

/// A flag group: its TOML section and fields (= flag ids).
type Group = (&'static str, &'static [&'static str]);

const NET: Group = (NetFlags::SECTION, NetFlags::FIELDS);
const TRAIN: Group = (TrainFlags::SECTION, TrainFlags::FIELDS);
const SEARCH: Group = (SearchFlags::SECTION, SearchFlags::FIELDS);
const SPIKE: Group = (SpikeFlags::SECTION, SpikeFlags::FIELDS);
const EVAL: Group = (EvalFlags::SECTION, EvalFlags::FIELDS);

/// The command line with every `[default: …]` filled in.
pub fn command() -> Command {
    let mut cmd = Cli::command();
    let specs: [(&str, &[Group], bool); 5] = [
        ("train", &[NET, TRAIN], false),
        ("search", &[SEARCH, SPIKE], false),
        ("eval", &[SPIKE, EVAL], false),
        ("simulate", &[SPIKE], false),
        ("run", &[NET, TRAIN, SEARCH, SPIKE], true),
    ];
    for (name, groups, run) in specs {
        let configs = defaults(run);
        let mut flags: Vec<(&str, Vec<&str>)> = vec![
            ("seed", vec!["seed"]),
            ("attempts", vec!["attempts"]),
            ("target_accuracy", vec!["target_accuracy"]),
            ("eval_trials_spiking", vec!["eval", "trials"]),
        ];
        for (section, fields) in groups {
            flags.extend(fields.iter().map(|f| (*f, vec![*section, *f])));
        }
        cmd = cmd.mut_subcommand(name, |mut sc| {
            sc = sc.mut_args(|a| {
                // Names of values (enums) are read case-insensitively.
                let named = a.get_action().takes_values()
                    && a.get_num_args() != Some(0.into())
                    && !a.get_possible_values().is_empty();
                a.ignore_case(named)
            });
            for (id, path) in &flags {
                // A flag without a value (`--no-dale`) has no default to show.
                let takes_value =
                    |a: &clap::Arg| a.get_num_args().is_none_or(|n| n.max_values() > 0);
                if !sc
                    .get_arguments()
                    .any(|a| a.get_id() == id && takes_value(a))
                {
                    continue;
                }
                if let Some(d) = default_text(&configs, path) {
                    sc = sc.mut_arg(id, |a| with_default(a, &d));
                }
            }
            sc
        });
    }
    cmd
}

fn with_default(a: clap::Arg, d: &str) -> clap::Arg {
    let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
    let long = a.get_long_help().map(|h| format!("{h} [default: {d}]"));
    let a = a.help(format!("{help} [default: {d}]"));
    match long {
        Some(l) => a.long_help(l),
        None => a,
    }
}

/// Every task's defaults as JSON (`for_run` for `run`, else `for_task`).
fn defaults(run: bool) -> Vec<(&'static str, Value)> {
    TASK_NAMES
        .iter()
        .map(|t| {
            let c = if run {
                RunConfig::for_run(t)
            } else {
                RunConfig::for_task(t)
            };
            let c = c.expect("every task has defaults");
            (*t, serde_json::to_value(&c).expect("config serialises"))
        })
        .collect()
}

/// `0.2`, or `go-nogo 0.33, xor/mante 0.2` where the tasks differ; `None`
/// for flags without a default or whose default is an empty list
/// (`--lesion`).
fn default_text(configs: &[(&str, Value)], path: &[&str]) -> Option<String> {
    let mut groups: Vec<(Vec<&str>, String)> = Vec::new();
    for (task, v) in configs {
        let text = value_text(path.iter().try_fold(v, |v, k| v.get(k))?)?;
        match groups.iter_mut().find(|(_, t)| *t == text) {
            Some((tasks, _)) => tasks.push(task),
            None => groups.push((vec![task], text)),
        }
    }
    match groups.as_slice() {
        [(_, t)] => Some(t.clone()),
        _ => Some(
            groups
                .iter()
                .map(|(tasks, t)| format!("{} {t}", tasks.join("/")))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    }
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(match n.as_f64() {
            Some(x) if n.is_f64() => format!("{x}"),
            _ => n.to_string(),
        }),
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(a) if a.is_empty() => None,
        Value::Array(a) => a
            .iter()
            .map(value_text)
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(" ")),
        _ => None,
    }
}

/// clap's error as one line (`error: …`), without the usage block.
pub fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect();
    parts.join(" ")
}
