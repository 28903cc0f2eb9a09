//! Task files (TOML): tasks without writing Rust (docs/tasks.md).
//!
//! A file gives the task's `name` and number of `inputs`, its epochs in
//! order (`[[epochs]]`: `name`, `duration_ms`), its trial types in order
//! (`[[types]]`: `name`, optional `probability`), per type and epoch the
//! input of every channel (`[input.TYPE]`: `EPOCH = [channel 0, …]`) and
//! the target (`[target.TYPE]`: `EPOCH = value`), and the scoring rule
//! (`[scoring]`: `from_ms` and per type one of `above`, `below`, `within`
//! or `follow` with a threshold). Times are in ms, multiples of the 5-ms
//! rate step. A channel is a number (constant; 0 = off), `{ mean, sd }`
//! (Gaussian, a fresh draw per rate step), or `{ sign = "VAR" }` (±1,
//! optionally `scale`, drawn once per trial and shared by every use of
//! `VAR`); a target is a number or a product of such variables (`"cue *
//! probe"`, `"-cue"`). Missing entries are 0.
//!
//! Random draws, in this order (the built-in tasks draw the same way, so
//! their task files in `tasks/` reproduce them bit for bit): the trial type
//! (a 64-bit random integer modulo the number of types, or a 32-bit one
//! with `type_draw = "u32"`, the built-in Mante's; a uniform number in
//! [0, 1) when the probabilities differ), then one bit per sign variable
//! (in order of name), then, rate step by rate step and channel by
//! channel, the Gaussian channels.
//!
//! Every trial type with sign variables becomes one type per combination
//! of their signs (`match cue+ probe-`), so that scoring knows the answer.
//! Errors name the file, the line and the key.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::Array2;
use rand::{Rng, RngCore};
use rand_distr::{Distribution, StandardNormal};
use serde::Deserialize;
use toml::Spanned;

use super::{Task, TaskSpec, Trial};
use crate::error::{Error, Result};
use crate::units::RATE_DT_MS;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: Spanned<String>,
    inputs: Spanned<usize>,
    epochs: Vec<RawEpoch>,
    types: Vec<RawType>,
    #[serde(default)]
    type_draw: TypeDraw,
    #[serde(default)]
    min_training_trials: usize,
    #[serde(default)]
    input: BTreeMap<String, Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    #[serde(default)]
    target: BTreeMap<String, Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    scoring: RawScoring,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEpoch {
    name: Spanned<String>,
    duration_ms: Spanned<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawType {
    name: Spanned<String>,
    probability: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScoring {
    from_ms: Spanned<f64>,
    rule: BTreeMap<String, Spanned<Rule>>,
}

/// How the trial type is drawn when every type is equally likely.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TypeDraw {
    /// A 64-bit random integer modulo the number of types.
    #[default]
    U64,
    /// A 32-bit random integer modulo the number of types (built-in Mante).
    U32,
}

/// When a trial's output window is correct (θ = the value).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// max o > θ.
    Above(f64),
    /// min o < θ.
    Below(f64),
    /// max |o| < θ.
    Within(f64),
    /// By the sign of the trial's target at the window start: above θ
    /// (positive), below −θ (negative), within θ (zero).
    Follow(f64),
}

impl Rule {
    fn is_correct(self, w: &[f64]) -> bool {
        match self {
            Rule::Above(t) => w.iter().cloned().fold(f64::NEG_INFINITY, f64::max) > t,
            Rule::Below(t) => w.iter().cloned().fold(f64::INFINITY, f64::min) < t,
            Rule::Within(t) => w.iter().all(|v| v.abs() < t),
            Rule::Follow(_) => unreachable!("resolved per trial type"),
        }
    }

    fn thresholds(self) -> Vec<f64> {
        match self {
            Rule::Above(t) | Rule::Below(t) => vec![t],
            Rule::Within(t) => vec![t, -t],
            Rule::Follow(t) => vec![t],
        }
    }
}

/// One channel in one epoch.
#[derive(Debug, Clone, PartialEq)]
enum Channel {
    Constant(f64),
    Gauss { mean: f64, sd: f64 },
    Sign { var: usize, scale: f64 },
}

/// A target value: `sign · Π variables` (no variables: a constant).
#[derive(Debug, Clone, PartialEq)]
struct Target {
    value: f64,
    vars: Vec<usize>,
}

/// One trial type after expansion over the sign variables.
#[derive(Debug, Clone)]
struct Kind {
    name: String,
    /// Index of the declared type.
    base: usize,
    /// ±1 per sign variable.
    signs: Vec<f64>,
    rule: Rule,
}

/// A task defined by a task file.
#[derive(Debug, Clone)]
pub struct FileTask {
    name: String,
    path: String,
    text: String,
    n_inputs: usize,
    /// (start, end) rate steps of each epoch.
    epochs: Vec<(usize, usize)>,
    /// Per declared type, per epoch, per channel.
    inputs: Vec<Vec<Vec<Channel>>>,
    /// Per declared type, per epoch.
    targets: Vec<Vec<Target>>,
    /// Cumulative probabilities of the declared types, when unequal.
    cumulative: Option<Vec<f64>>,
    type_draw: TypeDraw,
    vars: Vec<String>,
    kinds: Vec<Kind>,
    from: usize,
    min_trials: usize,
}

/// Errors of one file: its path and text, for line numbers.
struct Src<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Src<'_> {
    fn line(&self, span: std::ops::Range<usize>) -> usize {
        self.text[..span.start.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    /// An error at `span` naming `key`.
    fn err(&self, span: std::ops::Range<usize>, key: &str, msg: impl std::fmt::Display) -> Error {
        Error::Config {
            path: self.path.to_path_buf(),
            line: Some(self.line(span)),
            msg: format!("{key}: {msg}"),
        }
    }

    /// A time in ms as rate steps: a multiple of 5 ms, ≥ 0 (> 0 if `positive`).
    fn steps(&self, v: &Spanned<f64>, key: &str, positive: bool) -> Result<usize> {
        let ms = *v.get_ref();
        let s = ms / RATE_DT_MS;
        let ok = ms.is_finite() && ms >= 0.0 && !(positive && ms == 0.0) && s.fract() == 0.0;
        if !ok || s > 1e7 {
            let what = if positive { "positive" } else { "nonnegative" };
            return Err(self.err(
                v.span(),
                key,
                format!("must be a {what} multiple of {RATE_DT_MS} ms, got {ms}"),
            ));
        }
        Ok(s as usize)
    }
}

impl FileTask {
    /// Parse the TOML `text` of a task file; `path` names it in errors,
    /// which also give the line and the key.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let src = Src { path, text };
        let raw: Raw =
            toml::from_str(text).map_err(|e| crate::config::toml_error(&e, text, path))?;
        build(&src, raw)
    }

    /// Read and parse a task file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }
}

/// Check the raw file and build the task.
fn build(src: &Src, raw: Raw) -> Result<FileTask> {
    if raw.name.get_ref().trim().is_empty() {
        return Err(src.err(raw.name.span(), "name", "must not be empty"));
    }
    if *raw.inputs.get_ref() == 0 {
        return Err(src.err(raw.inputs.span(), "inputs", "must be at least 1"));
    }
    let epochs = epochs(src, &raw.epochs)?;
    let t = epochs.last().map_or(0, |e| e.1);
    let names: Vec<&str> = raw
        .types
        .iter()
        .map(|t| t.name.get_ref().as_str())
        .collect();
    if names.is_empty() {
        return Err(Error::Config {
            path: src.path.to_path_buf(),
            line: None,
            msg: "types: at least one trial type is needed".into(),
        });
    }
    let epoch_names: Vec<&str> = raw
        .epochs
        .iter()
        .map(|e| e.name.get_ref().as_str())
        .collect();
    let mut vars = Vec::new();
    let mut inputs = per_type(
        src,
        &raw.input,
        "input",
        &names,
        |v, key| channels(src, v, key, *raw.inputs.get_ref(), &mut vars),
        &epoch_names,
    )?;
    let mut targets = per_type(
        src,
        &raw.target,
        "target",
        &names,
        |v, key| target(src, v, key, &mut vars),
        &epoch_names,
    )?;
    sort_vars(&mut vars, &mut inputs, &mut targets);
    let from = src.steps(&raw.scoring.from_ms, "scoring.from_ms", false)?;
    if from >= t.saturating_sub(1) {
        return Err(src.err(
            raw.scoring.from_ms.span(),
            "scoring.from_ms",
            format!(
                "the window must start inside the trial's outputs (before {} ms), got {} ms",
                (t - 1) as f64 * RATE_DT_MS,
                raw.scoring.from_ms.get_ref()
            ),
        ));
    }
    let mut task = FileTask {
        name: raw.name.get_ref().clone(),
        path: src.path.display().to_string(),
        text: src.text.to_string(),
        n_inputs: *raw.inputs.get_ref(),
        epochs,
        inputs,
        targets,
        cumulative: probabilities(src, &raw.types)?,
        type_draw: raw.type_draw,
        vars,
        kinds: Vec::new(),
        from,
        min_trials: raw.min_training_trials,
    };
    task.kinds = kinds(src, &raw.scoring.rule, &names, &task)?;
    Ok(task)
}

/// The epochs as (start, end) rate steps.
fn epochs(src: &Src, raw: &[RawEpoch]) -> Result<Vec<(usize, usize)>> {
    let mut at = 0;
    let mut out = Vec::new();
    for (i, e) in raw.iter().enumerate() {
        let d = src.steps(&e.duration_ms, &format!("epochs[{i}].duration_ms"), true)?;
        if raw[..i]
            .iter()
            .any(|p| p.name.get_ref() == e.name.get_ref())
        {
            return Err(src.err(
                e.name.span(),
                &format!("epochs[{i}].name"),
                format!("'{}' appears twice", e.name.get_ref()),
            ));
        }
        out.push((at, at + d));
        at += d;
    }
    if at < 2 {
        return Err(Error::Config {
            path: src.path.to_path_buf(),
            line: None,
            msg: "epochs: the trial needs at least two rate steps (10 ms)".into(),
        });
    }
    Ok(out)
}

/// Cumulative probabilities when the types' probabilities differ; `None`
/// when all are absent or equal (the modulo draw).
fn probabilities(src: &Src, types: &[RawType]) -> Result<Option<Vec<f64>>> {
    let given: Vec<&Spanned<f64>> = types
        .iter()
        .filter_map(|t| t.probability.as_ref())
        .collect();
    if given.is_empty() {
        return Ok(None);
    }
    if given.len() != types.len() {
        let t = types
            .iter()
            .find(|t| t.probability.is_none())
            .expect("one lacks it");
        return Err(src.err(
            t.name.span(),
            "types.probability",
            format!(
                "'{}' has none; give every type one or none",
                t.name.get_ref()
            ),
        ));
    }
    if let Some(p) = given.iter().find(|p| !(0.0..=1.0).contains(p.get_ref())) {
        return Err(src.err(
            p.span(),
            "types.probability",
            format!("must lie in [0, 1], got {}", p.get_ref()),
        ));
    }
    let sum: f64 = given.iter().map(|p| *p.get_ref()).sum();
    if (sum - 1.0).abs() > 1e-9 {
        return Err(src.err(
            given[0].span(),
            "types.probability",
            format!("the probabilities sum to {sum}, not 1"),
        ));
    }
    if given.iter().all(|p| p.get_ref() == given[0].get_ref()) {
        return Ok(None);
    }
    let mut acc = 0.0;
    Ok(Some(
        given
            .iter()
            .map(|p| {
                acc += *p.get_ref();
                acc
            })
            .collect(),
    ))
}

/// Per declared type and epoch, the entries of `[SECTION.TYPE]` parsed by
/// `f` (default when absent); unknown types and epochs are errors.
fn per_type<T: Default + Clone>(
    src: &Src,
    map: &BTreeMap<String, Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    section: &str,
    types: &[&str],
    mut f: impl FnMut(&Spanned<toml::Value>, &str) -> Result<T>,
    epochs: &[&str],
) -> Result<Vec<Vec<T>>> {
    let mut out = vec![vec![T::default(); epochs.len()]; types.len()];
    for (ty, entries) in map {
        let Some(k) = types.iter().position(|t| t == ty) else {
            return Err(src.err(
                entries.span(),
                &format!("{section}.{ty}"),
                format!("unknown trial type '{ty}' (types: {})", types.join(", ")),
            ));
        };
        for (ep, v) in entries.get_ref() {
            let key = format!("{section}.{ty}.{ep}");
            let Some(e) = epochs.iter().position(|x| x == ep) else {
                return Err(src.err(
                    v.span(),
                    &key,
                    format!("unknown epoch '{ep}' (epochs: {})", epochs.join(", ")),
                ));
            };
            out[k][e] = f(v, &key)?;
        }
    }
    Ok(out)
}

/// Number the sign variables in order of name.
fn sort_vars(
    vars: &mut Vec<String>,
    inputs: &mut [Vec<Vec<Channel>>],
    targets: &mut [Vec<Target>],
) {
    let mut sorted = vars.clone();
    sorted.sort();
    let new: Vec<usize> = vars
        .iter()
        .map(|v| sorted.iter().position(|s| s == v).expect("same names"))
        .collect();
    for ch in inputs.iter_mut().flatten().flatten() {
        if let Channel::Sign { var, .. } = ch {
            *var = new[*var];
        }
    }
    for z in targets.iter_mut().flatten() {
        z.vars.iter_mut().for_each(|v| *v = new[*v]);
    }
    *vars = sorted;
}

/// The index of sign variable `name`, added if new.
fn var_index(vars: &mut Vec<String>, name: &str) -> usize {
    match vars.iter().position(|v| v == name) {
        Some(i) => i,
        None => {
            vars.push(name.to_string());
            vars.len() - 1
        }
    }
}

/// One epoch's list of channels.
fn channels(
    src: &Src,
    v: &Spanned<toml::Value>,
    key: &str,
    n: usize,
    vars: &mut Vec<String>,
) -> Result<Vec<Channel>> {
    let bad = |m: String| src.err(v.span(), key, m);
    let toml::Value::Array(items) = v.get_ref() else {
        return Err(bad(format!("expected a list of {n} channel values")));
    };
    if items.len() != n {
        return Err(bad(format!(
            "expected {n} channel values (inputs = {n}), got {}",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(c, item)| channel(item, vars).map_err(|m| bad(format!("channel {c}: {m}"))))
        .collect()
}

/// One channel value: a number, `{ mean, sd }` or `{ sign, scale }`.
fn channel(v: &toml::Value, vars: &mut Vec<String>) -> std::result::Result<Channel, String> {
    let num = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    if let Some(x) = num(v) {
        return Ok(Channel::Constant(x));
    }
    let Some(t) = v.as_table() else {
        return Err(format!(
            "expected a number, {{ mean, sd }} or {{ sign = \"VAR\" }}, got {v}"
        ));
    };
    let get = |k: &str| {
        t.get(k)
            .map(|x| num(x).ok_or(format!("'{k}' must be a number")))
    };
    if let Some(k) = t
        .keys()
        .find(|k| !["mean", "sd", "sign", "scale"].contains(&k.as_str()))
    {
        return Err(format!(
            "unknown key '{k}' (expected mean and sd, or sign and scale)"
        ));
    }
    match t.get("sign") {
        Some(s) => {
            let name = s.as_str().ok_or("'sign' must name a variable")?;
            if t.contains_key("mean") || t.contains_key("sd") {
                return Err("a sign channel takes no mean or sd".into());
            }
            let scale = get("scale").transpose()?.unwrap_or(1.0);
            Ok(Channel::Sign {
                var: var_index(vars, name),
                scale,
            })
        }
        None => {
            if t.contains_key("scale") {
                return Err("'scale' goes with 'sign'".into());
            }
            let mean = get("mean").transpose()?.unwrap_or(0.0);
            let sd = get("sd")
                .transpose()?
                .ok_or("a Gaussian channel needs 'sd'")?;
            if !(sd.is_finite() && sd >= 0.0) {
                return Err(format!("'sd' must be ≥ 0, got {sd}"));
            }
            Ok(Channel::Gauss { mean, sd })
        }
    }
}

/// A target: a number or a product of sign variables (`"-cue * probe"`).
fn target(
    src: &Src,
    v: &Spanned<toml::Value>,
    key: &str,
    vars: &mut Vec<String>,
) -> Result<Target> {
    match v.get_ref() {
        toml::Value::Float(x) => Ok(Target {
            value: *x,
            vars: Vec::new(),
        }),
        toml::Value::Integer(i) => Ok(Target {
            value: *i as f64,
            vars: Vec::new(),
        }),
        toml::Value::String(s) => {
            let (value, body) = match s.trim().strip_prefix('-') {
                Some(rest) => (-1.0, rest),
                None => (1.0, s.trim()),
            };
            let names: Vec<&str> = body.split('*').map(str::trim).collect();
            if names.iter().any(|n| n.is_empty()) {
                return Err(src.err(
                    v.span(),
                    key,
                    format!("'{s}' is not a product of sign variables"),
                ));
            }
            let vars = names.iter().map(|n| var_index(vars, n)).collect();
            Ok(Target { value, vars })
        }
        other => Err(src.err(
            v.span(),
            key,
            format!("expected a number or a product of sign variables, got {other}"),
        )),
    }
}

/// The trial types after expansion over the sign variables, with their rules.
fn kinds(
    src: &Src,
    rules: &BTreeMap<String, Spanned<Rule>>,
    names: &[&str],
    task: &FileTask,
) -> Result<Vec<Kind>> {
    if let Some((ty, r)) = rules.iter().find(|(ty, _)| !names.contains(&ty.as_str())) {
        return Err(src.err(
            r.span(),
            &format!("scoring.rule.{ty}"),
            format!("unknown trial type '{ty}' (types: {})", names.join(", ")),
        ));
    }
    let nv = task.vars.len();
    let mut out = Vec::new();
    for (b, name) in names.iter().enumerate() {
        let Some(rule) = rules.get(*name) else {
            return Err(Error::Config {
                path: src.path.to_path_buf(),
                line: None,
                msg: format!("scoring.rule: no rule for trial type '{name}'"),
            });
        };
        for bits in 0..1usize << nv {
            let signs: Vec<f64> = (0..nv)
                .map(|i| {
                    if bits >> (nv - 1 - i) & 1 == 0 {
                        1.0
                    } else {
                        -1.0
                    }
                })
                .collect();
            let mut kname = name.to_string();
            for (v, s) in task.vars.iter().zip(&signs) {
                kname.push_str(&format!(" {v}{}", if *s > 0.0 { '+' } else { '-' }));
            }
            let rule = match *rule.get_ref() {
                Rule::Follow(t) => {
                    let z = task.target_at(b, &signs, task.from);
                    if z > 0.0 {
                        Rule::Above(t)
                    } else if z < 0.0 {
                        Rule::Below(-t)
                    } else {
                        Rule::Within(t)
                    }
                }
                r => r,
            };
            out.push(Kind {
                name: kname,
                base: b,
                signs,
                rule,
            });
        }
    }
    Ok(out)
}

impl FileTask {
    /// The ±1 of each sign variable (in order of name) in trial type `kind`.
    pub fn kind_signs(&self, kind: usize) -> Vec<f64> {
        self.kinds[kind].signs.clone()
    }

    /// The target of declared type `b` with variable `signs` at rate step `k`.
    fn target_at(&self, b: usize, signs: &[f64], k: usize) -> f64 {
        let e = self
            .epochs
            .iter()
            .position(|&(s, t)| k >= s && k < t)
            .unwrap_or(0);
        let z = &self.targets[b][e];
        z.vars.iter().fold(z.value, |acc, &v| acc * signs[v])
    }
}

impl Default for Channel {
    fn default() -> Self {
        Channel::Constant(0.0)
    }
}

impl Default for Target {
    fn default() -> Self {
        Target {
            value: 0.0,
            vars: Vec::new(),
        }
    }
}

impl Task for FileTask {
    fn name(&self) -> &str {
        &self.name
    }
    fn n_inputs(&self) -> usize {
        self.n_inputs
    }
    fn n_steps(&self) -> usize {
        self.epochs.last().map_or(0, |e| e.1)
    }
    fn trial_types(&self) -> Vec<String> {
        self.kinds.iter().map(|k| k.name.clone()).collect()
    }
    fn trial_of_kind(&self, kind: usize, rng: &mut dyn RngCore) -> Trial {
        let k = &self.kinds[kind];
        let t = self.n_steps();
        let mut u = Array2::zeros((self.n_inputs, t));
        let mut target = vec![0.0; t - 1];
        for (e, &(s, end)) in self.epochs.iter().enumerate() {
            let chans = &self.inputs[k.base][e];
            for step in s..end {
                for (c, ch) in chans.iter().enumerate() {
                    u[[c, step]] = match *ch {
                        Channel::Constant(x) => x,
                        Channel::Sign { var, scale } => scale * k.signs[var],
                        Channel::Gauss { mean, sd } => {
                            let z: f64 = StandardNormal.sample(rng);
                            mean + sd * z
                        }
                    };
                }
            }
            let z = self.target_at(k.base, &k.signs, s);
            for v in target.iter_mut().take(end).skip(s) {
                *v = z;
            }
        }
        Trial { kind, u, target }
    }
    fn response_start(&self) -> usize {
        self.from
    }
    fn is_correct(&self, kind: usize, window: &[f64]) -> bool {
        self.kinds[kind].rule.is_correct(window)
    }
    fn thresholds(&self, kind: usize) -> Vec<f64> {
        self.kinds[kind].rule.thresholds()
    }
    fn min_training_trials(&self) -> usize {
        self.min_trials
    }
    fn sample(&self, rng: &mut dyn RngCore) -> Trial {
        let n = self.inputs.len();
        let base = match (&self.cumulative, self.type_draw) {
            (Some(cum), _) => {
                let x: f64 = rng.random();
                cum.iter().position(|&c| x < c).unwrap_or(n - 1)
            }
            (None, TypeDraw::U64) => (rng.next_u64() % n as u64) as usize,
            (None, TypeDraw::U32) => (rng.next_u32() % n as u32) as usize,
        };
        let nv = self.vars.len();
        let bits = (0..nv).fold(0usize, |acc, _| acc << 1 | (rng.next_u64() >> 63) as usize);
        self.trial_of_kind(base * (1 << nv) + bits, rng)
    }
    fn spec(&self) -> TaskSpec {
        TaskSpec::File {
            name: self.name.clone(),
            path: self.path.clone(),
            text: self.text.clone(),
        }
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
