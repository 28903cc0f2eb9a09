//! The `.mat` file of one simulated spiking trial (`spikernn simulate`):
//! written and read here, so the layout lives in one place.
//!
//! Variables (MATLAB's names and units): `spk` (N × nt logical, spike of
//! unit i at step k), `out` (1 × nt, network output), `dt` (s), `T` (s),
//! `lambda`, `firing_rates` (N × 1, Hz), `u` (the stimulus as simulated,
//! inputs × steps), `task`, `trial_type`, `inh` (N × 1 logical),
//! `t_spk` (spikes × 2: 1-based unit, time in s) and, when recorded, `rs`
//! (filtered spike trains), `REC` (voltages, mV) and `IPSC` (currents), each
//! N × nt.

use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::io::mat::{self, MatData, MatFile, MatVar};
use crate::spiking::SimResult;

/// What a simulation file records besides the simulation itself.
#[derive(Debug, Clone, Copy)]
pub struct SimulationMeta<'a> {
    /// The stimulus as simulated (inputs × steps).
    pub stimulus: &'a Array2<f64>,
    /// Scaling factor λ of the spiking network.
    pub lambda: f64,
    /// Task name, e.g. `"go-nogo"`.
    pub task: &'a str,
    /// Trial type, e.g. `"Go"`.
    pub trial_type: &'a str,
    /// `inh[i]`: unit i is inhibitory.
    pub inh: &'a [bool],
}

/// Write one simulated trial to `path` (atomically, like every `.mat`).
///
/// # Examples
///
/// ```
/// use ndarray::Array2;
/// use spikernn::io::sim_file::{read_simulation, write_simulation, SimulationMeta};
/// use spikernn::spiking::SimResult;
///
/// let sim = SimResult {
///     spikes: vec![(1, 0), (0, 2)],
///     out: vec![0.0, 0.5, 1.0],
///     dt_ms: 0.05,
///     t_sec: 0.00015,
///     n_steps: 3,
///     rates_hz: vec![0.0, 0.0],
///     voltages: None,
///     rates: None,
///     currents: None,
/// };
/// let u = Array2::zeros((1, 3));
/// let meta = SimulationMeta { stimulus: &u, lambda: 40.0, task: "go-nogo", trial_type: "Go", inh: &[false, true] };
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("sim.mat");
/// write_simulation(&path, &sim, &meta)?;
/// let back = read_simulation(&path)?;
/// assert_eq!((back.n_units, back.n_steps), (2, 3));
/// assert_eq!(back.spikes, vec![(1, 0), (0, 2)]);
/// assert!((back.dt_ms - 0.05).abs() < 1e-12);
/// assert_eq!(back.inh, vec![false, true]);
/// assert_eq!(back.trial_type.as_deref(), Some("Go"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_simulation(path: &Path, sim: &SimResult, meta: &SimulationMeta) -> Result<()> {
    let n = meta.inh.len();
    let nt = sim.n_steps;
    let mut spk = vec![false; n * nt];
    for &(unit, step) in &sim.spikes {
        spk[unit as usize + n * step as usize] = true;
    }
    let dt_s = sim.dt_ms / 1000.0;
    let u = meta.stimulus;
    let mut vars = vec![
        MatVar::new("spk", vec![n, nt], MatData::Bool(spk)),
        MatVar::f64_row("out", sim.out.clone()),
        MatVar::scalar("dt", dt_s),
        MatVar::scalar("T", sim.t_sec),
        MatVar::scalar("lambda", meta.lambda),
        MatVar::f64_col("firing_rates", sim.rates_hz.clone()),
        MatVar::f64_matrix("u", u.nrows(), u.ncols(), col_major(u)),
        MatVar::string("task", meta.task),
        MatVar::string("trial_type", meta.trial_type),
        MatVar::bool_col("inh", meta.inh),
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
    ];
    for (name, m) in [
        ("rs", &sim.rates),
        ("REC", &sim.voltages),
        ("IPSC", &sim.currents),
    ] {
        if let Some(m) = m {
            vars.push(MatVar::f64_matrix(name, n, nt, col_major(m)));
        }
    }
    mat::write(path, &vars)
}

/// An N × nt matrix in MATLAB's column-major order.
fn col_major(a: &Array2<f64>) -> Vec<f64> {
    a.t().iter().cloned().collect()
}

/// A simulated trial as read back from its file (what the figures need).
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// Number of units N.
    pub n_units: usize,
    /// Number of steps nt.
    pub n_steps: usize,
    /// Step length (ms).
    pub dt_ms: f64,
    /// Spikes as (unit, 0-based step), in time order.
    pub spikes: Vec<(u32, u32)>,
    /// Network output at every step.
    pub out: Vec<f64>,
    /// `inh[i]`: unit i is inhibitory (all false when the file has no `inh`).
    pub inh: Vec<bool>,
    /// Trial type, when the file names it.
    pub trial_type: Option<String>,
}

/// Read a simulation file written by [`write_simulation`].
pub fn read_simulation(path: &Path) -> Result<Simulation> {
    simulation_from_mat(&mat::read(path)?, path)
}

/// The simulation held by an already-read `file` (read from `path`, which
/// errors name). Needs `spk`, `out` and `dt`; `inh` and `trial_type` are
/// optional.
pub fn simulation_from_mat(file: &MatFile, path: &Path) -> Result<Simulation> {
    let key = Keys { file, path };
    let spk = key.need("spk")?;
    let (n, nt) = spk
        .matrix_dims()
        .ok_or_else(|| key.bad("spk", "an N×nt matrix", format!("dims {:?}", spk.dims)))?;
    let spk_v = key.numbers("spk")?;
    let out = key.numbers("out")?;
    let dt = key.numbers("dt")?;
    let dt_s = match dt.as_slice() {
        [x] if x.is_finite() && *x > 0.0 => *x,
        _ => return Err(key.bad("dt", "a positive scalar (s)", format!("{dt:?}"))),
    };
    let inh: Vec<bool> = match file.get("inh").and_then(|v| v.to_f64()) {
        Some(v) if v.len() == n => v.iter().map(|&x| x != 0.0).collect(),
        _ => vec![false; n],
    };
    let mut spikes = Vec::new();
    for step in 0..nt {
        for unit in 0..n {
            if spk_v[unit + n * step] != 0.0 {
                spikes.push((unit as u32, step as u32));
            }
        }
    }
    Ok(Simulation {
        n_units: n,
        n_steps: nt,
        dt_ms: dt_s * 1000.0,
        spikes,
        out,
        inh,
        trial_type: file
            .get("trial_type")
            .and_then(|v| v.as_str())
            .map(str::to_string),
    })
}

/// Looks variables up in a file, with errors naming the file and key.
struct Keys<'a> {
    file: &'a MatFile,
    path: &'a Path,
}

impl Keys<'_> {
    fn need(&self, k: &str) -> Result<&MatVar> {
        self.file.get(k).ok_or_else(|| Error::MissingKey {
            path: self.path_buf(),
            key: k.into(),
        })
    }

    fn numbers(&self, k: &str) -> Result<Vec<f64>> {
        self.need(k)?
            .to_f64()
            .ok_or_else(|| self.bad(k, "numbers", "text".into()))
    }

    fn bad(&self, k: &str, expected: &str, found: String) -> Error {
        Error::BadKey {
            path: self.path_buf(),
            key: k.into(),
            expected: expected.into(),
            found,
        }
    }

    fn path_buf(&self) -> PathBuf {
        self.path.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_bad_keys_name_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.mat");
        mat::write(&p, &[MatVar::f64_row("out", vec![1.0])]).unwrap();
        let e = read_simulation(&p).unwrap_err().to_string();
        assert!(e.contains("s.mat") && e.contains("'spk'"), "{e}");
        mat::write(
            &p,
            &[
                MatVar::new("spk", vec![1, 2], MatData::Bool(vec![true, false])),
                MatVar::f64_row("out", vec![1.0, 2.0]),
                MatVar::scalar("dt", -1.0),
            ],
        )
        .unwrap();
        let e = read_simulation(&p).unwrap_err().to_string();
        assert!(e.contains("'dt'") && e.contains("positive"), "{e}");
    }

    #[test]
    fn spike_times_and_recordings_follow_matlab_layout() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.mat");
        let v = Array2::from_shape_fn((2, 3), |(i, k)| (10 * i + k) as f64);
        let sim = SimResult {
            spikes: vec![(1, 1)],
            out: vec![0.0; 3],
            dt_ms: 0.05,
            t_sec: 1.5e-4,
            n_steps: 3,
            rates_hz: vec![0.0, 0.0],
            voltages: Some(v),
            rates: None,
            currents: None,
        };
        let u = Array2::zeros((1, 3));
        let meta = SimulationMeta {
            stimulus: &u,
            lambda: 30.0,
            task: "go-nogo",
            trial_type: "NoGo",
            inh: &[false, false],
        };
        write_simulation(&p, &sim, &meta).unwrap();
        let f = mat::read(&p).unwrap();
        // t_spk: 1-based unit 2, time (step 1 + 1) · 0.05 ms = 1e-4 s.
        let t = f.get("t_spk").unwrap().to_f64().unwrap();
        assert_eq!(t[0], 2.0);
        assert!((t[1] - 1e-4).abs() < 1e-15);
        // REC column-major: unit 1 at step 2 is 12.
        let rec = f.get("REC").unwrap();
        assert_eq!(rec.dims, vec![2, 3]);
        assert_eq!(rec.to_f64().unwrap()[1 + 2 * 2], 12.0);
        assert!(f.get("rs").is_none() && f.get("IPSC").is_none());
    }
}
