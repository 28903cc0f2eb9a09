//! `spikernn simulate`: one trial of the spiking network, saved as .mat.

use anyhow::{bail, Result};
use spikernn::config::RunConfig;
use spikernn::io::mat::{self, MatData, MatVar};
use spikernn::rate::RateModel;
use spikernn::spiking::lif::{LifNetwork, Opto, OptoMode, Record, SimOptions, SimResult};
use spikernn::task::{extend_stimulus, Task};

use crate::args::SimulateArgs;
use crate::{check_writable, load, model_task, note, stored_lambda};

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

pub fn cmd_simulate(a: &SimulateArgs, quiet: bool) -> Result<()> {
    let model = load(&a.model)?;
    let task = model_task(&model, &a.task, &a.model)?;
    let lambda = stored_lambda(&model, a.lambda, &a.model)?;
    let kind = trial_kind(task.as_ref(), &a.trial_type)?;
    let mut c = RunConfig::for_task(task.name())?;
    c.seed = a.seed.unwrap_or(c.seed);
    a.spike.apply(&mut c.search);
    let opts = SimOptions {
        downsample: c.search.downsample,
        opto: opto(a, model.n())?,
        record: record(&a.record)?,
    };
    check_writable(&a.out, "out")?;
    let net = LifNetwork::from_rate(&model, lambda, &c.conversion()?)?;
    if let Some(w) = net.warning() {
        eprintln!("warning: {w}");
    }
    let mut r = spikernn::rng::stream(c.seed, &[0x0053_494d, kind as u64]);
    let trial = task.trial_of_kind(kind, &mut r);
    let u = extend_stimulus(&trial.u, 1);
    let sim = net.simulate(&u, &opts, &mut r)?;
    let trial_vars = [
        MatVar::f64_matrix("u", u.nrows(), u.ncols(), u.t().iter().cloned().collect()),
        MatVar::string("task", task.name()),
        MatVar::string("trial_type", &task.trial_types()[kind]),
    ];
    let vars = sim_vars(&model, &sim, lambda, trial_vars);
    mat::write(&a.out, &vars)?;
    let scoring_task = c.scoring_task()?;
    let correct =
        c.scoring()?
            .is_correct(scoring_task.as_ref(), kind, &sim.out, c.search.downsample);
    println!(
        "{} trial at lambda {lambda}: {} spikes, E {:.2} Hz, I {:.2} Hz, {}; wrote {}",
        task.trial_types()[kind],
        sim.spikes.len(),
        sim.mean_rate_hz(&model.exc()),
        sim.mean_rate_hz(&model.inh),
        if correct { "correct" } else { "incorrect" },
        a.out.display()
    );
    note(quiet, format_args!("  {}", c.scoring()?.describe()));
    Ok(())
}

/// `--record` as a [`Record`].
fn record(names: &[String]) -> Result<Record> {
    let mut record = Record::default();
    for r in names {
        match r.to_ascii_lowercase().as_str() {
            "rs" | "rates" => record.rates = true,
            "rec" | "v" | "voltages" => record.voltages = true,
            "ipsc" | "currents" => record.currents = true,
            o => bail!("invalid record: '{o}' (expected rs, REC or IPSC)"),
        }
    }
    Ok(record)
}

/// `--opto`, `--opto-window`, `--opto-units` as an [`Opto`], checked against N.
fn opto(a: &SimulateArgs, n: usize) -> Result<Opto> {
    let (on, off) = match &a.opto_window {
        Some(w) => (w[0], w[1]),
        None => (0, 0),
    };
    if a.opto != OptoMode::None && (a.opto_units.is_empty() || on >= off) {
        bail!("invalid opto-window/opto-units: stimulation needs --opto-window ON OFF with ON < OFF and --opto-units");
    }
    if let Some(&u) = a.opto_units.iter().find(|&&u| u >= n) {
        bail!("invalid opto-units: unit {u} ≥ N = {n}");
    }
    Ok(Opto {
        mode: a.opto,
        on,
        off,
        units: a.opto_units.clone(),
    })
}

/// The variables of the output file (spikes, output, rates …), in the
/// order of earlier versions, with the trial's `u`, `task`, `trial_type`.
fn sim_vars(model: &RateModel, sim: &SimResult, lambda: f64, trial: [MatVar; 3]) -> Vec<MatVar> {
    let n = model.n();
    let nt = sim.n_steps;
    let mut spk = vec![false; n * nt];
    for &(unit, step) in &sim.spikes {
        spk[unit as usize + n * step as usize] = true;
    }
    let dt_s = sim.dt_ms / 1000.0;
    let mut vars = vec![
        MatVar::new("spk", vec![n, nt], MatData::Bool(spk)),
        MatVar::f64_row("out", sim.out.clone()),
        MatVar::scalar("dt", dt_s),
        MatVar::scalar("T", sim.t_sec),
        MatVar::scalar("lambda", lambda),
        MatVar::f64_col("firing_rates", sim.rates_hz.clone()),
    ];
    vars.extend(trial);
    vars.extend([
        MatVar::bool_col("inh", &model.inh),
        MatVar::f64_matrix(
            "t_spk",
            sim.spikes.len(),
            2,
            sim.spikes
                .iter()
                .map(|&(u, _)| u as f64 + 1.0)
                .chain(sim.spikes.iter().map(|&(_, s)| (s as f64 + 1.0) * dt_s))
                .collect(),
        ),
    ]);
    let col_major = |a: &ndarray::Array2<f64>| a.t().iter().cloned().collect::<Vec<f64>>();
    if let Some(m) = &sim.rates {
        vars.push(MatVar::f64_matrix("rs", n, nt, col_major(m)));
    }
    if let Some(m) = &sim.voltages {
        vars.push(MatVar::f64_matrix("REC", n, nt, col_major(m)));
    }
    if let Some(m) = &sim.currents {
        vars.push(MatVar::f64_matrix("IPSC", n, nt, col_major(m)));
    }
    vars
}
