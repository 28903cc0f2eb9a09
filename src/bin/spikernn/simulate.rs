//! `spikernn simulate`: one trial of the spiking network, saved as .mat.

use anyhow::{bail, Result};
use spikernn::config::RunConfig;
use spikernn::io::sim_file::{write_simulation, SimulationMeta};
use spikernn::rng::tag;
use spikernn::spiking::lif::{Opto, OptoMode, Record, SimOptions};
use spikernn::spiking::readout::network_as_scored;
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
    let mut model = load(&a.model)?;
    let task = model_task(&model, &a.task, &a.model)?;
    let lambda = stored_lambda(&model, a.lambda, &a.model)?;
    let kind = trial_kind(task.as_ref(), &a.trial_type)?;
    let mut c = RunConfig::for_spec(&task.spec())?;
    c.seed = a.seed.unwrap_or(c.seed);
    a.spike.apply(&mut c.search);
    let lesions = c.apply_lesions(&mut model)?;
    crate::note_lesions(quiet, &lesions);
    let opts = SimOptions {
        downsample: c.search.downsample,
        opto: opto(a, model.n())?,
        record: record(&a.record)?,
    };
    check_writable(&a.out, "out")?;
    let net = network_as_scored(&model, lambda, &c.conversion()?)?;
    if let Some(w) = net.warning() {
        eprintln!("warning: {w}");
    }
    let mut r = spikernn::rng::stream(c.seed, &[tag::SIMULATE, kind as u64]);
    let trial = task.trial_of_kind(kind, &mut r);
    let u = extend_stimulus(&trial.u, 1);
    let sim = net.simulate(&u, &opts, &mut r)?;
    let meta = SimulationMeta {
        stimulus: &u,
        lambda,
        task: task.name(),
        trial_type: &task.trial_types()[kind],
        inh: &model.inh,
    };
    write_simulation(&a.out, &sim, &meta)?;
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
