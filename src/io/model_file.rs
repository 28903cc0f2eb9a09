//! Rate models ↔ `.mat` files (docs/model.md#model-files), on top of [`crate::io::mat`].
//!
//! [`load_model`] accepts files written by this crate, by the Python
//! package's tutorial (keys `w, w_in, w_out, w0, N, m, som_m, inh, exc, taus,
//! taus_gaus, taus_gaus0`) and by the original TensorFlow code (every key,
//! float32 or float64, booleans as uint8, logical or double, extra 3-D
//! arrays). Any numeric class is accepted for any key. Missing optional keys
//! get defaults:
//!
//! | key | default |
//! |---|---|
//! | `w0` | `w` |
//! | `m` | diag(+1 excitatory, −1 inhibitory) from `inh`/`exc` |
//! | `inh` | `!exc`, else the negative entries of diag(`m`) |
//! | `som_m` | all ones |
//! | `b_out` | 0 |
//! | `som_N` | 0 |
//! | `taus_gaus0` | `taus_gaus` |
//! | `activation` | sigmoid |
//! | training keys (`losses`, `tr`, `eval_perf_mean`, `eval_loss_mean`) | `training = None` when all are absent; otherwise absent ones are empty / `losses.len()` / NaN |
//! | `eval_trials`, `eval_perfs`, `eval_losses` (ours: every evaluation during training) | no evaluation points (all three or none are used) |
//! | search keys (`opt_scaling_factor`, `all_perfs`, `scaling_factors`) | `search = None` when all are absent; otherwise absent vectors are empty and a missing optimum is the best-scoring factor |
//! | `task` (char), `task_delay_ms` (DMS delay, ms), `task_file` + `task_file_path` (a task file's TOML text and path; ours) | no task: inferred from the inputs; DMS delay 750 ms |
//! | `init_from`, `init_task` (char; `train --init`: the file training started from and its task) | none |
//! | `rec_noise_sd`, `input_noise_sd` (training noise SDs per rate step; written only when not 0.1 and 0) | 0.1, 0 |
//! | refit keys (`w_out_spk` 1×N, `b_out_spk`, `refit_lambda`, `refit_alpha`, `refit_trials` int64, `refit_holdout_mse`; `search --refit-readout`) | no refitted readout when `w_out_spk` is absent; with it, `b_out_spk` and `refit_lambda` are required, the others NaN / 0 |
//!
//! `dale` is true when any unit is inhibitory. A `taus` with two equal values
//! is a fixed tau.
//!
//! [`save_model`] writes doubles for every array, `int64` 1×1 for the counts
//! `N`, `som_N` and `tr` (what scipy writes for a Python `int`, and what the
//! original TensorFlow code wrote), logical N×1 for `inh`/`exc`, and char
//! for `activation` and `task`. `w_out` is 1×N, `taus_gaus`/`taus_gaus0`
//! N×1, `losses` and `scaling_factors` 1×n, `all_perfs` n×1 (as MATLAB's
//! `lambda_grid_search.m` stores it).

use std::path::Path;

use ndarray::{Array1, Array2, ShapeBuilder};

use crate::error::{Error, Result};
use crate::io::mat::{self, MatFile, MatVar, WriteOptions};
use crate::rate::{
    Activation, EvalPoint, InitSource, RateModel, RefitRecord, SearchRecord, Taus, TrainNoise,
    TrainingRecord, REC_NOISE_SD,
};
use crate::task::TaskSpec;

/// Load a rate model from a `.mat` file; see the module doc for the keys
/// accepted and their defaults. Fails with [`Error::MissingKey`] when `w`,
/// `w_in`, `w_out`, the unit signs (`m`, `inh` or `exc`), `taus` or
/// `taus_gaus` is absent, [`Error::BadKey`] when a shape disagrees with N,
/// and [`Error::MatFormat`] when the file is malformed.
pub fn load_model(path: &Path) -> Result<RateModel> {
    load_model_with_warnings(path).map(|(m, _)| m)
}

/// [`load_model`], also returning the reader's warnings (variables of
/// unsupported classes that were skipped).
pub fn load_model_with_warnings(path: &Path) -> Result<(RateModel, Vec<String>)> {
    let file = mat::read(path)?;
    let model = model_from_mat(&file, path)?;
    Ok((model, file.warnings))
}

/// Build a rate model from a parsed file; `path` names the source in errors.
pub fn model_from_mat(file: &MatFile, path: &Path) -> Result<RateModel> {
    let s = Src { file, path };
    let n = s.size()?;
    let w = s.matrix("w", n, Some(n))?;
    let (inh, m) = s.signs(n)?;
    let (taus, taus_gaus, taus_gaus0) = s.taus(n)?;
    let model = RateModel {
        w0: s.matrix_or("w0", n, || w.clone())?,
        w,
        m,
        som_m: s.matrix_or("som_m", n, || Array2::ones((n, n)))?,
        w_in: s.matrix("w_in", n, None)?,
        w_out: s.vector("w_out", n)?,
        b_out: s.scalar("b_out")?.unwrap_or(0.0),
        som_n: match s.scalar("som_N")? {
            Some(v) => s.count("som_N", v)?,
            None => 0,
        },
        dale: inh.iter().any(|&b| b),
        inh,
        taus,
        taus_gaus,
        taus_gaus0,
        activation: s.activation()?,
        training: s.training()?,
        search: s.search()?,
        task: s.task()?,
        init_from: s.init_from()?,
    };
    model.validate(path)?;
    Ok(model)
}

/// The variables [`save_model`] writes for `model`, in file order.
pub fn model_to_vars(model: &RateModel) -> Vec<MatVar> {
    let n = model.n();
    let mut v = vec![
        matrix_var("w", &model.w),
        matrix_var("w0", &model.w0),
        matrix_var("m", &model.m),
        matrix_var("som_m", &model.som_m),
        matrix_var("w_in", &model.w_in),
        MatVar::f64_row("w_out", model.w_out.to_vec()),
        MatVar::scalar("b_out", model.b_out),
        MatVar::i64_scalar("N", n as i64),
        MatVar::i64_scalar("som_N", model.som_n as i64),
        MatVar::bool_col("inh", &model.inh),
        MatVar::bool_col("exc", &model.exc()),
        MatVar::f64_row("taus", model.taus.to_vec()),
        MatVar::f64_col("taus_gaus", model.taus_gaus.to_vec()),
        MatVar::f64_col("taus_gaus0", model.taus_gaus0.to_vec()),
        MatVar::string("activation", model.activation.name()),
    ];
    if let Some(t) = &model.training {
        v.push(MatVar::f64_row("losses", t.losses.clone()));
        v.push(MatVar::i64_scalar("tr", t.trials as i64));
        v.push(MatVar::scalar("eval_perf_mean", t.eval_perf_mean));
        v.push(MatVar::scalar("eval_loss_mean", t.eval_loss_mean));
        if !t.evals.is_empty() {
            let col = |f: fn(&EvalPoint) -> f64| t.evals.iter().map(f).collect::<Vec<f64>>();
            v.push(MatVar::f64_row("eval_trials", col(|e| e.trial as f64)));
            v.push(MatVar::f64_row("eval_perfs", col(|e| e.accuracy)));
            v.push(MatVar::f64_row("eval_losses", col(|e| e.loss)));
        }
        if t.noise != TrainNoise::default() {
            v.push(MatVar::scalar("rec_noise_sd", t.noise.rec_sd));
            v.push(MatVar::scalar("input_noise_sd", t.noise.input_sd));
        }
    }
    if let Some(s) = &model.search {
        v.extend(search_vars(s));
    }
    if let Some(t) = &model.task {
        v.extend(task_vars(t));
    }
    if let Some(i) = &model.init_from {
        v.push(MatVar::string("init_from", &i.path));
        v.push(MatVar::string("init_task", &i.task));
    }
    v
}

/// `task`, and `task_delay_ms` (DMS) or `task_file` + `task_file_path`.
fn task_vars(t: &TaskSpec) -> Vec<MatVar> {
    let mut v = vec![MatVar::string("task", t.name())];
    match t {
        TaskSpec::Builtin {
            delay_ms: Some(d), ..
        } => v.push(MatVar::scalar("task_delay_ms", *d)),
        TaskSpec::Builtin { delay_ms: None, .. } => {}
        TaskSpec::File { path, text, .. } => {
            v.push(MatVar::string("task_file", text));
            v.push(MatVar::string("task_file_path", path));
        }
    }
    v
}

/// Save `model` to `path` (zlib-compressed MAT v5, atomically: a temporary
/// file in the same directory renamed over `path`). The keys are those of
/// docs/model.md#model-files; see the module doc for their classes and shapes.
pub fn save_model(path: &Path, model: &RateModel) -> Result<()> {
    mat::write(path, &model_to_vars(model))
}

/// Add or replace `opt_scaling_factor` (1×1 double), `all_perfs` (n×1
/// double) and `scaling_factors` (1×n double) in the existing file `path`,
/// atomically, keeping every other variable, including ones this crate
/// cannot parse.
///
/// With `rec.refit`, the refit keys are written too; without, a refitted
/// readout already in the file is voided (`refit_lambda` = NaN), since it
/// belonged to an earlier search.
pub fn write_search_record(path: &Path, rec: &SearchRecord) -> Result<()> {
    let mut vars = search_vars(rec);
    if rec.refit.is_none() && mat::read(path)?.get("w_out_spk").is_some() {
        vars.push(MatVar::scalar("refit_lambda", f64::NAN));
    }
    mat::update(path, &vars, &WriteOptions::default()).map(|_| ())
}

fn search_vars(s: &SearchRecord) -> Vec<MatVar> {
    let mut v = vec![
        MatVar::scalar("opt_scaling_factor", s.opt_scaling_factor),
        MatVar::f64_col("all_perfs", s.all_perfs.clone()),
        MatVar::f64_row("scaling_factors", s.scaling_factors.clone()),
    ];
    if let Some(r) = &s.refit {
        v.extend([
            MatVar::f64_row("w_out_spk", r.w_out_spk.clone()),
            MatVar::scalar("b_out_spk", r.b_out_spk),
            MatVar::scalar("refit_lambda", r.lambda),
            MatVar::scalar("refit_alpha", r.alpha),
            MatVar::i64_scalar("refit_trials", r.trials as i64),
            MatVar::scalar("refit_holdout_mse", r.holdout_mse),
        ]);
    }
    v
}

/// An r×c double variable from a row-major ndarray (written column-major).
fn matrix_var(name: &str, a: &Array2<f64>) -> MatVar {
    let (r, c) = a.dim();
    MatVar::f64_matrix(name, r, c, a.t().iter().copied().collect())
}

fn dims_str(v: &MatVar) -> String {
    let d: Vec<String> = v.dims.iter().map(|d| d.to_string()).collect();
    format!("{} {}", d.join("×"), v.data.class_name())
}

/// Key lookups with errors naming the file and key.
struct Src<'a> {
    file: &'a MatFile,
    path: &'a Path,
}

impl Src<'_> {
    /// N: the `N` key, else the rows of `w`.
    fn size(&self) -> Result<usize> {
        let w_var = self.req("w")?;
        let n = match self.scalar("N")? {
            Some(v) => self.count("N", v)?,
            None => match w_var.matrix_dims() {
                Some((r, _)) => r,
                None => return Err(self.bad("w", "an N×N matrix".into(), dims_str(w_var))),
            },
        };
        if n == 0 {
            return Err(self.bad("N", "at least 1 unit".into(), "0".into()));
        }
        Ok(n)
    }

    /// The inhibitory units and the sign mask `m`: from `inh`, else `exc`,
    /// else diag(m); `m` built from them when absent, checked when present.
    fn signs(&self, n: usize) -> Result<(Vec<bool>, Array2<f64>)> {
        let m_opt = match self.get("m") {
            Some(_) => Some(self.matrix("m", n, Some(n))?),
            None => None,
        };
        let inh: Vec<bool> = if self.get("inh").is_some() {
            self.vector("inh", n)?.iter().map(|&v| v != 0.0).collect()
        } else if self.get("exc").is_some() {
            self.vector("exc", n)?.iter().map(|&v| v == 0.0).collect()
        } else if let Some(m) = &m_opt {
            m.diag().iter().map(|&v| v < 0.0).collect()
        } else {
            return Err(Error::MissingKey {
                path: self.path.to_path_buf(),
                key: "m".into(),
            });
        };
        let Some(m) = m_opt else {
            let diag = inh.iter().map(|&b| if b { -1.0 } else { 1.0 });
            return Ok((inh.clone(), Array2::from_diag(&Array1::from_iter(diag))));
        };
        if let Some(i) = (0..n).find(|&i| (m[[i, i]] < 0.0) != inh[i]) {
            return Err(self.bad(
                "inh",
                "inhibitory units where diag(m) is negative".into(),
                format!(
                    "unit {i}: inh = {}, m[{i}, {i}] = {}",
                    u8::from(inh[i]),
                    m[[i, i]]
                ),
            ));
        }
        Ok((inh, m))
    }

    /// `taus`, `taus_gaus` and `taus_gaus0` (defaulting to `taus_gaus`).
    fn taus(&self, n: usize) -> Result<(Taus, Array1<f64>, Array1<f64>)> {
        let taus_v = self.nums(self.req("taus")?)?;
        let taus = Taus::from_slice(&taus_v).map_err(|e| {
            self.bad(
                "taus",
                "1 or 2 values ≥ 1 (tau or [tau_min, tau_max], in steps)".into(),
                format!("{taus_v:?} ({e})"),
            )
        })?;
        let taus_gaus = self.vector("taus_gaus", n)?;
        let taus_gaus0 = match self.get("taus_gaus0") {
            Some(_) => self.vector("taus_gaus0", n)?,
            None => taus_gaus.clone(),
        };
        Ok((taus, taus_gaus, taus_gaus0))
    }

    /// `activation` (default sigmoid).
    fn activation(&self) -> Result<Activation> {
        let Some(name) = self.string("activation")? else {
            return Ok(Activation::Sigmoid);
        };
        Activation::parse(&name).map_err(|_| {
            self.bad(
                "activation",
                "sigmoid, clipped_relu or softplus".into(),
                format!("'{name}'"),
            )
        })
    }

    /// The task: `task_file` (with `task_file_path`) when present, else
    /// the built-in `task` with `task_delay_ms`.
    fn task(&self) -> Result<Option<TaskSpec>> {
        if let Some(text) = self.string("task_file")? {
            let path = self
                .string("task_file_path")?
                .unwrap_or_else(|| format!("{}:task_file", self.path.display()));
            let name = self.string("task")?.unwrap_or_default();
            return Ok(Some(TaskSpec::File { name, path, text }));
        }
        let Some(name) = self.string("task")? else {
            return Ok(None);
        };
        Ok(Some(TaskSpec::Builtin {
            name,
            delay_ms: self.scalar("task_delay_ms")?,
        }))
    }

    /// `init_from` and `init_task` (`train --init`), if recorded.
    fn init_from(&self) -> Result<Option<InitSource>> {
        let Some(path) = self.string("init_from")? else {
            return Ok(None);
        };
        Ok(Some(InitSource {
            path,
            task: self.string("init_task")?.unwrap_or_default(),
        }))
    }

    /// An optional char-array key.
    fn string(&self, key: &str) -> Result<Option<String>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let t = v
            .as_str()
            .ok_or_else(|| self.bad(key, "a char array".into(), v.data.class_name().into()))?;
        Ok(Some(t.to_string()))
    }

    /// An optional N×N matrix, `default()` when absent.
    fn matrix_or(
        &self,
        key: &str,
        n: usize,
        default: impl FnOnce() -> Array2<f64>,
    ) -> Result<Array2<f64>> {
        match self.get(key) {
            Some(_) => self.matrix(key, n, Some(n)),
            None => Ok(default()),
        }
    }

    fn get(&self, key: &str) -> Option<&MatVar> {
        self.file.get(key)
    }

    fn req(&self, key: &str) -> Result<&MatVar> {
        self.get(key).ok_or_else(|| Error::MissingKey {
            path: self.path.to_path_buf(),
            key: key.into(),
        })
    }

    fn bad(&self, key: &str, expected: String, found: String) -> Error {
        Error::BadKey {
            path: self.path.to_path_buf(),
            key: key.into(),
            expected,
            found,
        }
    }

    fn nums(&self, v: &MatVar) -> Result<Vec<f64>> {
        v.to_f64()
            .ok_or_else(|| self.bad(&v.name, "a numeric array".into(), dims_str(v)))
    }

    /// A rows×cols matrix (any `cols` when `None`).
    fn matrix(&self, key: &str, rows: usize, cols: Option<usize>) -> Result<Array2<f64>> {
        let v = self.req(key)?;
        let expected = match cols {
            Some(c) => format!("{rows}×{c}"),
            None => format!("{rows}×n"),
        };
        let (r, c) = match v.matrix_dims() {
            Some((r, c)) if r == rows && cols.is_none_or(|k| k == c) => (r, c),
            _ => return Err(self.bad(key, expected, dims_str(v))),
        };
        let data = self.nums(v)?;
        // MATLAB stores column-major; keep the crate's row-major layout.
        Array2::from_shape_vec((r, c).f(), data)
            .map(|a| a.as_standard_layout().into_owned())
            .map_err(|e| self.bad(key, expected, e.to_string()))
    }

    /// A vector of n values stored as 1×n, n×1 (or with trailing 1s).
    fn vector(&self, key: &str, n: usize) -> Result<Array1<f64>> {
        let v = self.req(key)?;
        let non_one = v.dims.iter().filter(|&&d| d != 1).count();
        if v.numel() != Some(n) || non_one > 1 {
            return Err(self.bad(key, format!("{n}×1 or 1×{n}"), dims_str(v)));
        }
        Ok(Array1::from(self.nums(v)?))
    }

    /// The value of a 1×1 key, if present.
    fn scalar(&self, key: &str) -> Result<Option<f64>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        if v.numel() != Some(1) {
            return Err(self.bad(key, "1×1".into(), dims_str(v)));
        }
        Ok(self.nums(v)?.first().copied())
    }

    /// Any-shaped numeric key as a flat list, if present.
    fn list(&self, key: &str) -> Result<Option<Vec<f64>>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => self.nums(v).map(Some),
        }
    }

    fn count(&self, key: &str, v: f64) -> Result<usize> {
        if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 1e15 {
            Ok(v as usize)
        } else {
            Err(self.bad(key, "a nonnegative whole number".into(), v.to_string()))
        }
    }

    fn training(&self) -> Result<Option<TrainingRecord>> {
        let losses = self.list("losses")?;
        let tr = self.scalar("tr")?;
        let perf = self.scalar("eval_perf_mean")?;
        let loss = self.scalar("eval_loss_mean")?;
        if losses.is_none() && tr.is_none() && perf.is_none() && loss.is_none() {
            return Ok(None);
        }
        let losses = losses.unwrap_or_default();
        let trials = match tr {
            Some(t) => self.count("tr", t)?,
            None => losses.len(),
        };
        Ok(Some(TrainingRecord {
            losses,
            trials,
            eval_perf_mean: perf.unwrap_or(f64::NAN),
            eval_loss_mean: loss.unwrap_or(f64::NAN),
            evals: self.evals()?,
            noise: TrainNoise {
                rec_sd: self.scalar("rec_noise_sd")?.unwrap_or(REC_NOISE_SD),
                input_sd: self.scalar("input_noise_sd")?.unwrap_or(0.0),
            },
        }))
    }

    /// The evaluations during training: three equally long rows, or none.
    fn evals(&self) -> Result<Vec<EvalPoint>> {
        let (Some(at), Some(perfs), Some(losses)) = (
            self.list("eval_trials")?,
            self.list("eval_perfs")?,
            self.list("eval_losses")?,
        ) else {
            return Ok(Vec::new());
        };
        for (key, v) in [("eval_perfs", &perfs), ("eval_losses", &losses)] {
            if v.len() != at.len() {
                return Err(self.bad(
                    key,
                    format!("{} values like eval_trials", at.len()),
                    format!("{} values", v.len()),
                ));
            }
        }
        at.iter()
            .zip(perfs.iter().zip(&losses))
            .map(|(&t, (&accuracy, &loss))| {
                Ok(EvalPoint {
                    trial: self.count("eval_trials", t)?,
                    loss,
                    accuracy,
                })
            })
            .collect()
    }

    fn search(&self) -> Result<Option<SearchRecord>> {
        let opt = self.scalar("opt_scaling_factor")?;
        let perfs = self.list("all_perfs")?;
        let factors = self.list("scaling_factors")?;
        if opt.is_none() && perfs.is_none() && factors.is_none() {
            return Ok(None);
        }
        let all_perfs = perfs.unwrap_or_default();
        let scaling_factors = factors.unwrap_or_default();
        if !all_perfs.is_empty()
            && !scaling_factors.is_empty()
            && all_perfs.len() != scaling_factors.len()
        {
            return Err(self.bad(
                "all_perfs",
                format!("{} values (one per scaling factor)", scaling_factors.len()),
                format!("{} values", all_perfs.len()),
            ));
        }
        let opt_scaling_factor = match opt {
            Some(o) => o,
            None => best_factor(&all_perfs, &scaling_factors),
        };
        Ok(Some(SearchRecord {
            opt_scaling_factor,
            all_perfs,
            scaling_factors,
            refit: self.refit()?,
        }))
    }

    /// The refitted readout: `None` without `w_out_spk` (older files);
    /// otherwise `b_out_spk` and `refit_lambda` are required.
    fn refit(&self) -> Result<Option<RefitRecord>> {
        let Some(w) = self.list("w_out_spk")? else {
            return Ok(None);
        };
        let need = |key: &str| -> Result<f64> {
            self.scalar(key)?.ok_or_else(|| Error::MissingKey {
                key: key.into(),
                path: self.path.to_path_buf(),
            })
        };
        let trials = match self.scalar("refit_trials")? {
            Some(t) => self.count("refit_trials", t)?,
            None => 0,
        };
        Ok(Some(RefitRecord {
            w_out_spk: w,
            b_out_spk: need("b_out_spk")?,
            lambda: need("refit_lambda")?,
            alpha: self.scalar("refit_alpha")?.unwrap_or(f64::NAN),
            trials,
            holdout_mse: self.scalar("refit_holdout_mse")?.unwrap_or(f64::NAN),
        }))
    }
}

/// The factor with the highest accuracy (first on ties); NaN when unknown.
fn best_factor(perfs: &[f64], factors: &[f64]) -> f64 {
    let mut best: Option<(f64, f64)> = None;
    for (&p, &f) in perfs.iter().zip(factors) {
        if best.is_none_or(|(bp, _)| p > bp) {
            best = Some((p, f));
        }
    }
    best.map_or(f64::NAN, |(_, f)| f)
}
