//! Sweep files: a base run configuration (the keys of `spikernn config`),
//! axes over any of its keys, their expansion into jobs and each job's
//! stable id.
//!
//! ```toml
//! task = "go-nogo"          # the base: any key of `spikernn config`
//! attempts = 1
//! [net]
//! taus = [4, 10]
//!
//! [sweep]                   # optional
//! name = "fig1c-small"
//! steps = ["train", "search", "eval"]
//! threads = 1               # rayon threads per job
//! zip = [["net.act", "search.lambdas"]]   # axes that vary together
//!
//! [axes]                    # full product by default, last key fastest
//! "net.n" = [10, 50, 100]
//! seed = "1..10"            # inclusive integer range
//!
//! [[plot]]                  # figures of `spikernn sweep collect`
//! y = "spiking_accuracy"
//! x = "net.n"
//! ```
//!
//! Each job's configuration is [`RunConfig::for_run`] of its task with the
//! base and the job's axis values applied through the typed TOML patch
//! ([`RunPatch`]), so an unknown key or a value of the wrong type is the
//! same error as in a run configuration file, naming the key and the sweep
//! file.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::config::{RunConfig, RunPatch};
use crate::error::{Error, Result};

/// The steps a job runs, in order (each needs the ones before it).
pub const STEPS: [&str; 3] = ["train", "search", "eval"];

/// A parsed sweep file.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    /// The file it was read from (named in errors).
    pub path: PathBuf,
    /// Its text, as read.
    pub text: String,
    /// `[sweep] name` (default: the file stem).
    pub name: String,
    /// How many of [`STEPS`] each job runs (1 = train only … 3 = all).
    pub steps: usize,
    /// Rayon threads per job.
    pub threads: usize,
    /// The base run configuration patch (every key outside `[sweep]`,
    /// `[axes]` and `[[plot]]`).
    base: Table,
    /// The axes, in key order.
    pub axes: Vec<Axis>,
    /// Groups of axes that vary together (indices into `axes`).
    zip: Vec<Vec<usize>>,
    /// Figures asked for.
    pub plots: Vec<PlotSpec>,
}

/// One axis: a dotted key of the run configuration and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// E.g. `net.n`, `seed`, `search.lesion`.
    pub key: String,
    /// The values, in file order.
    pub values: Vec<Value>,
}

/// A figure of `spikernn sweep collect`: a metric of `results.csv` against
/// an axis, mean ± sd and the fraction ≥ the target, one line per value of
/// another axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlotSpec {
    /// File stem in `DIR/figures/` (default `<y>_vs_<x>[_by_<by>]`).
    #[serde(default)]
    pub name: Option<String>,
    /// A numeric column of results.csv (e.g. `spiking_accuracy`,
    /// `rate_accuracy`, `train_trials`, `train_success`, `best_lambda`).
    pub y: String,
    /// An axis key: the horizontal axis.
    pub x: String,
    /// An axis key: one line per value (optional).
    #[serde(default)]
    pub by: Option<String>,
    /// Only jobs whose rate network met the stopping rule (the paper
    /// converts only those).
    #[serde(default)]
    pub trained_only: bool,
    /// Threshold of "fraction ≥ target" (default: the jobs' target
    /// accuracy).
    #[serde(default)]
    pub target: Option<f64>,
}

impl PlotSpec {
    /// The figure's file stem.
    pub fn stem(&self) -> String {
        let s = self.name.clone().unwrap_or_else(|| {
            let by = self
                .by
                .as_ref()
                .map(|b| format!("_by_{b}"))
                .unwrap_or_default();
            format!("{}_vs_{}{by}", self.y, self.x)
        });
        sanitize(&s, 80)
    }
}

/// One job: a point of the sweep.
#[derive(Debug, Clone)]
pub struct Job {
    /// Position in the expansion (0-based; the SLURM array works on it).
    pub index: usize,
    /// Stable id: readable axis values plus a hash of the resolved
    /// configuration and the steps.
    pub id: String,
    /// The job's axis values, in axis order.
    pub axes: Vec<(String, Value)>,
    /// The resolved run configuration.
    pub cfg: RunConfig,
}

/// `[sweep]` of a sweep file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepTable {
    name: Option<String>,
    steps: Option<Vec<String>>,
    threads: Option<usize>,
    #[serde(default)]
    zip: Vec<Vec<String>>,
}

impl SweepSpec {
    /// Read and check a sweep file (every job is resolved once, so that a
    /// bad axis value is an error here, before any work).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parse sweep-file text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let err = |msg: String| config_error(path, text, None, msg);
        let mut table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| crate::config::toml_error(&e, text, path))?;
        let sweep: SweepTable = match table.remove("sweep") {
            Some(v) => v
                .try_into()
                .map_err(|e| err(format!("[sweep]: {}", patch_error(&e, None))))?,
            None => SweepTable::default(),
        };
        let axes_table = match table.remove("axes") {
            Some(Value::Table(t)) => t,
            Some(_) => return Err(err("[axes] must be a table".into())),
            None => Table::new(),
        };
        let plots: Vec<PlotSpec> = match table.remove("plot") {
            Some(v) => v
                .try_into()
                .map_err(|e| err(format!("[[plot]]: {}", patch_error(&e, None))))?,
            None => Vec::new(),
        };
        // The base alone must be a valid run configuration patch.
        Value::Table(table.clone())
            .try_into::<RunPatch>()
            .map_err(|e| err(format!("base configuration: {}", patch_error(&e, None))))?;
        let steps = parse_steps(sweep.steps.as_deref()).map_err(err)?;
        let threads = sweep.threads.unwrap_or(1);
        if threads == 0 {
            return Err(err("[sweep] threads must be at least 1".into()));
        }
        let mut axes = Vec::new();
        flatten_axes(&axes_table, "", &mut axes, path, text)?;
        let zip = zip_groups(&sweep.zip, &axes).map_err(err)?;
        let name = sweep.name.unwrap_or_else(|| {
            path.file_stem()
                .map_or("sweep".into(), |s| s.to_string_lossy().into_owned())
        });
        let spec = SweepSpec {
            path: path.to_path_buf(),
            text: text.to_string(),
            name,
            steps,
            threads,
            base: table,
            axes,
            zip,
            plots,
        };
        for p in &spec.plots {
            spec.check_plot(p).map_err(err)?;
        }
        spec.jobs()?;
        Ok(spec)
    }

    /// Whether the jobs run `step` ("train", "search" or "eval").
    pub fn runs(&self, step: &str) -> bool {
        STEPS[..self.steps].contains(&step)
    }

    fn check_plot(&self, p: &PlotSpec) -> std::result::Result<(), String> {
        for k in std::iter::once(&p.x).chain(p.by.as_ref()) {
            if !self.axes.iter().any(|a| &a.key == k) {
                return Err(format!("[[plot]]: `{k}` is not an axis of this sweep"));
            }
        }
        Ok(())
    }

    /// Every job, in expansion order: the full product of the axes (last
    /// key fastest), each zip group counting as one axis.
    pub fn jobs(&self) -> Result<Vec<Job>> {
        let mut seen = HashSet::new();
        let mut jobs = Vec::new();
        for (index, point) in self.points().into_iter().enumerate() {
            let axes: Vec<(String, Value)> = point
                .iter()
                .enumerate()
                .map(|(a, &v)| (self.axes[a].key.clone(), self.axes[a].values[v].clone()))
                .collect();
            let cfg = self.resolve(&axes)?;
            let id = job_id(&axes, &cfg, self.steps);
            if !seen.insert(id.clone()) {
                return Err(config_error(
                    &self.path,
                    &self.text,
                    None,
                    format!("two jobs have the same configuration ({id}); check the axes and zip groups"),
                ));
            }
            jobs.push(Job {
                index,
                id,
                axes,
                cfg,
            });
        }
        Ok(jobs)
    }

    /// The value index of every axis for each job.
    fn points(&self) -> Vec<Vec<usize>> {
        // Units of the product: a zip group, or a lone axis.
        let mut units: Vec<Vec<usize>> = Vec::new();
        for a in 0..self.axes.len() {
            match self.zip.iter().find(|g| g.contains(&a)) {
                Some(g) if g[0] == a => units.push(g.clone()),
                Some(_) => {}
                None => units.push(vec![a]),
            }
        }
        let mut out = vec![vec![0usize; self.axes.len()]];
        for u in &units {
            let len = self.axes[u[0]].values.len();
            out = out
                .into_iter()
                .flat_map(|p| {
                    (0..len).map(move |v| {
                        let mut q = p.clone();
                        for &a in u {
                            q[a] = v;
                        }
                        q
                    })
                })
                .collect();
        }
        out
    }

    /// The run configuration of one job: `for_run(task)`, the base, then
    /// the axis values, through the typed patch.
    fn resolve(&self, axes: &[(String, Value)]) -> Result<RunConfig> {
        let mut t = self.base.clone();
        for (k, v) in axes {
            set_dotted(&mut t, k, v.clone());
        }
        let what = describe(axes);
        let bad = |msg: String| config_error(&self.path, &self.text, None, msg);
        let patch: RunPatch = Value::Table(t)
            .try_into()
            .map_err(|e| bad(format!("job {what}: {}", patch_error(&e, None))))?;
        let task = patch.task.as_deref().unwrap_or("go-nogo");
        let mut cfg = RunConfig::for_run(task).map_err(|e| bad(format!("job {what}: {e}")))?;
        patch.apply(&mut cfg);
        cfg.validate()
            .map_err(|e| bad(format!("job {what}: {e}")))?;
        Ok(cfg)
    }
}

/// `key=value, …` of a job's axes (for messages).
pub fn describe(axes: &[(String, Value)]) -> String {
    axes.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_steps(s: Option<&[String]>) -> std::result::Result<usize, String> {
    let Some(s) = s else { return Ok(STEPS.len()) };
    if s.is_empty() || s.len() > STEPS.len() || s.iter().zip(STEPS).any(|(a, b)| a != b) {
        return Err(format!(
            "[sweep] steps must be [\"train\"], [\"train\", \"search\"] or [\"train\", \"search\", \"eval\"], got {s:?}"
        ));
    }
    Ok(s.len())
}

/// Axes from `[axes]`: nested tables (`[axes.net]` or dotted keys) and
/// quoted dotted keys alike become `section.key`. Each key is checked
/// against the run configuration with its first value, so that an unknown
/// key names itself and the file.
fn flatten_axes(
    t: &Table,
    prefix: &str,
    out: &mut Vec<Axis>,
    path: &Path,
    text: &str,
) -> Result<()> {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let bad = |msg: String| config_error(path, text, Some(&key), msg);
        let values = match v {
            Value::Table(sub) => {
                flatten_axes(sub, &key, out, path, text)?;
                continue;
            }
            Value::Array(a) if a.is_empty() => {
                return Err(bad(format!("axis `{key}` has no values")))
            }
            Value::Array(a) => a.clone(),
            Value::String(s) if s.contains("..") => {
                range_values(s).map_err(|m| bad(format!("axis `{key}`: {m}")))?
            }
            other => {
                return Err(bad(format!(
                    "axis `{key}` must be a list of values or a range \"A..B\", got {other}"
                )))
            }
        };
        for v in &values {
            let mut t = Table::new();
            set_dotted(&mut t, &key, v.clone());
            Value::Table(t).try_into::<RunPatch>().map_err(|e| {
                let e = patch_error(&e, Some(&key));
                bad(format!("axis `{key}`, value {v}: {e}"))
            })?;
        }
        out.push(Axis { key, values });
    }
    Ok(())
}

/// A TOML patch error `e` on one line: its message, after the key it names
/// (toml puts that on a second line, "in `net.n`") unless the caller names
/// `known` (that key or one inside it) already.
fn patch_error(e: &toml::de::Error, known: Option<&str>) -> String {
    let text = e.to_string();
    let key = text.lines().find_map(|l| {
        l.trim()
            .strip_prefix("in `")
            .and_then(|k| k.strip_suffix('`'))
    });
    let msg = e.message().trim().replace('\n', " ");
    let named = |k: &str| known.is_some_and(|n| n == k || n.starts_with(&format!("{k}.")));
    match key {
        Some(k) if !named(k) => format!("`{k}`: {msg}"),
        _ => msg,
    }
}

/// `"A..B"`: the integers A to B inclusive.
fn range_values(s: &str) -> std::result::Result<Vec<Value>, String> {
    let (a, b) = s.split_once("..").ok_or("expected A..B")?;
    let num = |t: &str| {
        t.trim()
            .parse::<i64>()
            .map_err(|_| format!("'{t}' in \"{s}\" is not a whole number"))
    };
    let (a, b) = (num(a)?, num(b.trim_start_matches('='))?);
    if b < a || b - a > 100_000 {
        return Err(format!("\"{s}\" needs A ≤ B (at most 100000 values)"));
    }
    Ok((a..=b).map(Value::Integer).collect())
}

fn zip_groups(
    groups: &[Vec<String>],
    axes: &[Axis],
) -> std::result::Result<Vec<Vec<usize>>, String> {
    let mut used = HashSet::new();
    let mut out = Vec::new();
    for g in groups {
        let mut idx = Vec::new();
        for k in g {
            let i = axes
                .iter()
                .position(|a| &a.key == k)
                .ok_or_else(|| format!("[sweep] zip names `{k}`, which is not an axis"))?;
            if !used.insert(i) {
                return Err(format!("[sweep] zip names `{k}` twice"));
            }
            idx.push(i);
        }
        idx.sort_unstable();
        let len = idx.first().map(|&i| axes[i].values.len());
        if let Some(&j) = idx.iter().find(|&&i| Some(axes[i].values.len()) != len) {
            return Err(format!(
                "[sweep] zip group {g:?}: axes of different lengths (`{}` has {})",
                axes[j].key,
                axes[j].values.len()
            ));
        }
        if !idx.is_empty() {
            out.push(idx);
        }
    }
    Ok(out)
}

/// Set `a.b.c = v` in `t`, creating tables on the way.
fn set_dotted(t: &mut Table, key: &str, v: Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().expect("split yields one part");
    let mut cur = t;
    for p in parts {
        let e = cur
            .entry(p.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        if !e.is_table() {
            *e = Value::Table(Table::new());
        }
        cur = e.as_table_mut().expect("a table");
    }
    cur.insert(last.to_string(), v);
}

/// An error in the sweep file: the file, the line of `key` if found.
fn config_error(path: &Path, text: &str, key: Option<&str>, msg: String) -> Error {
    let line = key.and_then(|k| {
        let last = k.rsplit('.').next().unwrap_or(k);
        let axes_at = text.lines().position(|l| l.trim() == "[axes]").unwrap_or(0);
        text.lines()
            .enumerate()
            .skip(axes_at)
            .find(|(_, l)| {
                let l = l.trim_start();
                l.starts_with(&format!("\"{k}\"")) || l.starts_with(k) || l.starts_with(last)
            })
            .map(|(i, _)| i + 1)
    });
    Error::Config {
        path: path.to_path_buf(),
        line,
        msg,
    }
}

/// The job's id: `<axis values>-<hash>`, the hash of the resolved
/// configuration (canonical TOML) and the steps; the same on any machine.
fn job_id(axes: &[(String, Value)], cfg: &RunConfig, steps: usize) -> String {
    let canon = format!("{}\nsteps = {steps}\n", cfg.to_toml());
    let h = fnv1a64(canon.as_bytes());
    let prefix: Vec<String> = axes
        .iter()
        .map(|(k, v)| {
            let short = k.rsplit('.').next().unwrap_or(k);
            let val = match v {
                Value::String(s) => s.clone(),
                Value::Array(a) if a.is_empty() => "none".into(),
                other => other.to_string(),
            };
            format!("{short}{}", sanitize(&val, 16))
        })
        .collect();
    let prefix = sanitize(&prefix.join("_"), 48);
    let hash = format!("{:012x}", h >> 16);
    if prefix.is_empty() {
        format!("job-{hash}")
    } else {
        format!("{prefix}-{hash}")
    }
}

/// Keep `[A-Za-z0-9._=+-]`, the rest becomes `-`; at most `max` chars.
fn sanitize(s: &str, max: usize) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=+-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let t = t.trim_matches('-').to_string();
    t.chars().take(max).collect()
}

/// 64-bit FNV-1a: a fixed, platform-independent hash.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Axis values of a job as JSON (for result.json and results.csv).
pub fn axes_json(axes: &[(String, Value)]) -> BTreeMap<String, serde_json::Value> {
    axes.iter()
        .map(|(k, v)| {
            let j = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
            (k.clone(), j)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<SweepSpec> {
        SweepSpec::parse(text, Path::new("s.toml"))
    }

    const TINY: &str = "task = \"go-nogo\"\nattempts = 1\n[net]\nn = 10\n";

    #[test]
    fn product_last_axis_fastest() {
        let s = spec(&format!(
            "{TINY}[axes]\n\"net.n\" = [10, 20]\nseed = \"1..3\"\n"
        ))
        .unwrap();
        let j = s.jobs().unwrap();
        assert_eq!(j.len(), 6);
        let pts: Vec<(usize, u64)> = j.iter().map(|j| (j.cfg.net.n, j.cfg.seed)).collect();
        assert_eq!(pts, [(10, 1), (10, 2), (10, 3), (20, 1), (20, 2), (20, 3)]);
        assert!(j[0].id.starts_with("n10_seed1-"), "{}", j[0].id);
    }

    #[test]
    fn nested_axes_tables_are_dotted_keys() {
        let s = spec(&format!("{TINY}[axes.net]\nn = [10, 20]\n")).unwrap();
        assert_eq!(s.axes[0].key, "net.n");
    }

    #[test]
    fn zipped_axes_vary_together() {
        let text = format!(
            "{TINY}[sweep]\nzip = [[\"net.act\", \"search.lambdas\"]]\n[axes]\n\"net.act\" = [\"sigmoid\", \"softplus\"]\n\"search.lambdas\" = [\"20:75:5\", \"4:26:2\"]\nseed = [1, 2]\n"
        );
        let j = spec(&text).unwrap().jobs().unwrap();
        assert_eq!(j.len(), 4);
        assert_eq!(j[2].cfg.search.lambdas, "4:26:2");
        assert_eq!(format!("{:?}", j[2].cfg.net.act), "Softplus");
        let bad = text.replace("\"4:26:2\"]", "\"4:26:2\", \"1,2\"]");
        let e = spec(&bad).unwrap_err().to_string();
        assert!(e.contains("different lengths"), "{e}");
    }

    #[test]
    fn ids_are_stable_and_follow_the_configuration() {
        let a = spec(&format!("{TINY}[axes]\nseed = [1, 2]\n")).unwrap();
        let b = spec(&format!("# a comment\n{TINY}[axes]\nseed = [1, 2]\n")).unwrap();
        let ids = |s: &SweepSpec| {
            s.jobs()
                .unwrap()
                .into_iter()
                .map(|j| j.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a)[0], ids(&a)[1]);
        let c = spec(&format!(
            "{TINY}[search]\ntrials = 7\n[axes]\nseed = [1, 2]\n"
        ))
        .unwrap();
        assert_ne!(ids(&a)[0], ids(&c)[0]);
        // A value equal to the default is the same configuration.
        let d = spec(&format!(
            "{TINY}[train]\nlr = 0.01\n[axes]\nseed = [1, 2]\n"
        ))
        .unwrap();
        assert_eq!(ids(&a), ids(&d));
    }

    #[test]
    fn lesions_are_axis_values() {
        let s = spec(&format!(
            "{TINY}[axes]\n\"search.lesion\" = [[], [\"ii:scale=0.7\"], [\"ee:remove=0.5\", \"units=I:remove\"]]\n"
        ))
        .unwrap();
        let j = s.jobs().unwrap();
        assert_eq!(j[2].cfg.search.lesion.len(), 2);
        assert!(j[0].id.starts_with("lesionnone-"), "{}", j[0].id);
        let e = spec(&format!(
            "{TINY}[axes]\n\"search.lesion\" = [[\"xx:scale=2\"]]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("s.toml") && e.contains("search.lesion"), "{e}");
    }

    #[test]
    fn bad_axes_name_the_key_and_the_file() {
        let cases = [
            ("[axes]\n\"net.bogus\" = [1, 2]\n", "net.bogus"),
            ("[axes]\n\"net.n\" = [\"many\"]\n", "net.n"),
            ("[axes]\nnet.act = [\"tanh\"]\n", "net.act"),
            ("[axes]\nseed = \"1..x\"\n", "seed"),
            ("[axes]\nseed = 3\n", "seed"),
            ("[axes]\n\"search.tr_ms\" = [true]\n", "search.tr_ms"),
        ];
        for (axes, key) in cases {
            let e = spec(&format!("{TINY}{axes}")).unwrap_err().to_string();
            assert!(e.contains("s.toml") && e.contains(key), "{axes}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
        let e = spec(&format!("{TINY}[axes]\n\"net.n\" = [\"many\"]\n"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "s.toml, line 6: axis `net.n`, value \"many\": invalid type: string \"many\", expected usize"
        );
        let e = spec("[net]\nn = \"x\"\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "s.toml: base configuration: `net.n`: invalid type: string \"x\", expected usize"
        );
        let e = spec(&format!(
            "{TINY}[axes]\n\"net.n\" = [10]\n[train]\nlr = 0.0\n"
        ));
        assert!(e.is_err());
        let e = spec("[net]\nbogus = 1\n").unwrap_err().to_string();
        assert!(e.contains("s.toml") && e.contains("bogus"), "{e}");
        let e = spec(&format!("{TINY}[sweep]\nsteps = [\"search\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("steps"), "{e}");
    }

    #[test]
    fn plots_name_axes() {
        let ok =
            format!("{TINY}[axes]\nseed = [1]\n[[plot]]\ny = \"spiking_accuracy\"\nx = \"seed\"\n");
        assert_eq!(
            spec(&ok).unwrap().plots[0].stem(),
            "spiking_accuracy_vs_seed"
        );
        let bad = ok.replace("x = \"seed\"", "x = \"net.n\"");
        assert!(spec(&bad).unwrap_err().to_string().contains("net.n"));
    }
}
