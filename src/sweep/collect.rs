//! `spikernn sweep collect DIR`: `results.csv` (one row per job),
//! the figures of the sweep file's `[[plot]]`s and `report.md`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::io::write_atomic;
use crate::observe::{hms, Observer};
use crate::report::plot::{sweep_curve, CurvePoint, CurveSeries};

use super::job::{job_state, JobResult, JobState, JobsDir};
use super::local::load_dir;
use super::spec::{Job, PlotSpec, SweepSpec};

/// The metric columns of results.csv, in order.
pub const METRICS: [&str; 16] = [
    "train_trials",
    "train_success",
    "rate_accuracy",
    "best_lambda",
    "search_accuracy",
    "spiking_accuracy",
    "spiking_ci_low",
    "spiking_ci_high",
    "exc_hz",
    "inh_hz",
    "networks",
    "seed_used",
    "train_cached",
    "wall_seconds",
    "cpu_seconds",
    "threads",
];

/// Metrics that are fractions: their plots also show the fraction of jobs
/// at or above the target.
const FRACTIONS: [&str; 5] = [
    "spiking_accuracy",
    "rate_accuracy",
    "search_accuracy",
    "spiking_ci_low",
    "spiking_ci_high",
];

/// One row: a job and its result, if finished.
#[derive(Debug, Clone)]
pub struct Row {
    /// The job.
    pub job: Job,
    /// Its result.
    pub result: Option<JobResult>,
}

impl Row {
    /// `ok`, `failed` or `missing`.
    pub fn status(&self) -> &str {
        self.result
            .as_ref()
            .map_or("missing", |r| r.status.as_str())
    }

    /// A metric of [`METRICS`] as a number.
    pub fn metric(&self, m: &str) -> Option<f64> {
        let r = self.result.as_ref()?;
        let f = |x: Option<usize>| x.map(|v| v as f64);
        match m {
            "train_trials" => f(r.train_trials),
            "train_success" => r.train_success.map(|b| f64::from(u8::from(b))),
            "rate_accuracy" => r.rate_accuracy,
            "best_lambda" => r.best_lambda,
            "search_accuracy" => r.search_accuracy,
            "spiking_accuracy" => r.spiking_accuracy,
            "spiking_ci_low" => r.spiking_ci95.map(|c| c.0),
            "spiking_ci_high" => r.spiking_ci95.map(|c| c.1),
            "exc_hz" => r.exc_hz,
            "inh_hz" => r.inh_hz,
            "networks" => Some(r.networks as f64),
            "seed_used" => r.seed_used.map(|s| s as f64),
            "train_cached" => Some(f64::from(u8::from(r.train_cached))),
            "wall_seconds" => Some(r.wall_seconds),
            "cpu_seconds" => r.cpu_seconds,
            "threads" => Some(r.threads as f64),
            _ => None,
        }
    }

    /// The job's value of axis `key`, as text.
    pub fn axis(&self, key: &str) -> String {
        self.job
            .axes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| value_text(v))
            .unwrap_or_default()
    }
}

fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(a) => a.iter().map(value_text).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

/// What collect wrote.
#[derive(Debug, Clone)]
pub struct Collected {
    /// results.csv.
    pub csv: PathBuf,
    /// report.md.
    pub report: PathBuf,
    /// Figure stems written.
    pub figures: Vec<String>,
    /// Jobs ok / failed / missing.
    pub counts: (usize, usize, usize),
}

/// Every job of the sweep in `dir` with its result (corrupt results are
/// reported to `obs` and removed, so the next run redoes them).
pub fn rows(dir: &Path, obs: &dyn Observer) -> Result<(SweepSpec, Vec<Row>)> {
    let spec = load_dir(dir)?;
    let jobs = JobsDir::of(dir);
    let mut out = Vec::new();
    for job in spec.jobs()? {
        let result = match job_state(&jobs, &job, obs)? {
            JobState::Done(r) => Some(*r),
            JobState::Pending => None,
        };
        out.push(Row { job, result });
    }
    Ok((spec, out))
}

/// Write results.csv, the figures and report.md into `dir`.
pub fn collect(dir: &Path, obs: &dyn Observer) -> Result<Collected> {
    let (spec, rows) = rows(dir, obs)?;
    let csv = dir.join("results.csv");
    write_atomic(&csv, results_csv(&spec, &rows).as_bytes())?;
    let mut figures = Vec::new();
    let mut sections = String::new();
    let target = rows.first().map_or(0.95, |r| r.job.cfg.target());
    for p in &spec.plots {
        let fraction = p
            .target
            .or((FRACTIONS.contains(&p.y.as_str())).then_some(target));
        let groups = aggregate(&rows, p, fraction.unwrap_or(f64::INFINITY));
        let stem = p.stem();
        sweep_curve(
            &dir.join("figures").join(&stem),
            &format!("{} vs {}", p.y, p.x),
            &p.x,
            &p.y,
            &groups,
            fraction,
        )?;
        sections.push_str(&plot_section(p, &stem, &groups, fraction));
        figures.push(stem);
    }
    let count = |s: &str| rows.iter().filter(|r| r.status() == s).count();
    let counts = (count("ok"), count("failed"), count("missing"));
    let report = dir.join("report.md");
    let md = report_md(&spec, &rows, counts, &sections);
    write_atomic(&report, md.as_bytes())?;
    Ok(Collected {
        csv,
        report,
        figures,
        counts,
    })
}

/// results.csv: id, every axis, status, every metric, error.
pub fn results_csv(spec: &SweepSpec, rows: &[Row]) -> String {
    let mut s = String::from("id");
    for a in &spec.axes {
        let _ = write!(s, ",{}", a.key);
    }
    s.push_str(",status");
    for m in METRICS {
        let _ = write!(s, ",{m}");
    }
    s.push_str(",error\n");
    for r in rows {
        s.push_str(&r.job.id);
        for a in &spec.axes {
            let _ = write!(s, ",{}", csv_field(&r.axis(&a.key)));
        }
        let _ = write!(s, ",{}", r.status());
        for m in METRICS {
            match r.metric(m) {
                Some(v) => {
                    let _ = write!(s, ",{v}");
                }
                None => s.push(','),
            }
        }
        let err = r
            .result
            .as_ref()
            .and_then(|x| x.error.clone())
            .unwrap_or_default();
        let _ = writeln!(s, ",{}", csv_field(&err));
    }
    s
}

fn csv_field(t: &str) -> String {
    if t.contains([',', '"', '\n']) {
        format!("\"{}\"", t.replace('"', "\"\""))
    } else {
        t.to_string()
    }
}

/// The plot's lines: per value of `by` (or one line), per value of `x` in
/// axis order, mean ± sd of `y` and the fraction ≥ `target` over the
/// finished jobs (only trained networks with `trained_only`).
pub fn aggregate(rows: &[Row], p: &PlotSpec, target: f64) -> Vec<CurveSeries> {
    let order = |key: &str| -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for r in rows {
            let v = r.axis(key);
            if !seen.contains(&v) {
                seen.push(v);
            }
        }
        seen
    };
    let xs = order(&p.x);
    let bys = p.by.as_deref().map_or(vec![String::new()], order);
    let mut out = Vec::new();
    for b in &bys {
        let mut points = Vec::new();
        for (i, x) in xs.iter().enumerate() {
            let vals: Vec<f64> = rows
                .iter()
                .filter(|r| &r.axis(&p.x) == x)
                .filter(|r| p.by.as_deref().is_none_or(|k| &r.axis(k) == b))
                .filter(|r| !p.trained_only || r.metric("train_success") == Some(1.0))
                .filter_map(|r| r.metric(&p.y))
                .collect();
            points.push(CurvePoint::of(x.clone(), i, &vals, target));
        }
        let label = match &p.by {
            Some(k) => format!("{k} = {b}"),
            None => p.y.clone(),
        };
        out.push(CurveSeries { label, points });
    }
    out
}

/// The markdown of one plot: its figure and a table with a row per point
/// (the `by` value first when the plot has `by`; "–" for a point without
/// values).
fn plot_section(p: &PlotSpec, stem: &str, groups: &[CurveSeries], target: Option<f64>) -> String {
    let mut s = format!("## {} vs {}\n\n![{stem}](figures/{stem}.png)\n\n", p.y, p.x);
    if p.trained_only {
        s.push_str("Only networks that met the rate stopping rule.\n\n");
    }
    let by =
        p.by.as_deref()
            .map(|b| format!("| {b} "))
            .unwrap_or_default();
    let by_rule = if p.by.is_some() { "|---" } else { "" };
    let (head, rule) = match target {
        Some(t) => (format!(" ≥ {t} |"), "---|"),
        None => (String::new(), ""),
    };
    let _ = writeln!(
        s,
        "{by}| {} | n | mean ± sd |{head}\n{by_rule}|---|---|---|{rule}",
        p.x
    );
    for g in groups {
        let gl = match &p.by {
            Some(_) => format!("| {} ", g.label.split(" = ").nth(1).unwrap_or("")),
            None => String::new(),
        };
        for q in &g.points {
            let stat = if q.n == 0 || !q.mean.is_finite() {
                "–".to_string()
            } else {
                format!("{:.3} ± {:.3}", q.mean, q.sd)
            };
            let ok = target.map_or("".into(), |_| format!(" {}/{} |", q.n_ok, q.n));
            let _ = writeln!(s, "{gl}| {} | {} | {stat} |{ok}", q.label, q.n);
        }
    }
    s.push('\n');
    s
}

/// `mean ± sd` of `v` with `digits` decimals, "–" without values.
fn mean_sd_text(v: &[f64], digits: usize) -> String {
    if v.is_empty() {
        return "–".into();
    }
    let (m, sd) = mean_sd(v);
    format!("{m:.digits$} ± {sd:.digits$}")
}

fn report_md(spec: &SweepSpec, rows: &[Row], counts: (usize, usize, usize), plots: &str) -> String {
    let mut s = format!("# Sweep `{}`\n\n", spec.name);
    let walls: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.metric("wall_seconds"))
        .collect();
    let _ = writeln!(
        s,
        "{} jobs: {} ok, {} failed, {} missing. Steps: {}. Job time summed: {} (mean {} s per job).\n",
        rows.len(),
        counts.0,
        counts.1,
        counts.2,
        super::spec::STEPS[..spec.steps].join(" → "),
        hms(walls.iter().sum()),
        if walls.is_empty() {
            "–".to_string()
        } else {
            format!("{:.1}", mean_sd(&walls).0)
        }
    );
    s.push_str(plots);
    for a in &spec.axes {
        let _ = writeln!(
            s,
            "## Job time by {}\n\n| {} | jobs | wall s (mean ± sd) | CPU s (mean ± sd) |\n|---|---|---|---|",
            a.key, a.key
        );
        let mut by: BTreeMap<usize, (String, Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for r in rows {
            let v = r.axis(&a.key);
            let i = a
                .values
                .iter()
                .position(|x| value_text(x) == v)
                .unwrap_or(0);
            let e = by.entry(i).or_insert((v, Vec::new(), Vec::new()));
            e.1.extend(r.metric("wall_seconds"));
            e.2.extend(r.metric("cpu_seconds"));
        }
        for (v, w, c) in by.values() {
            let (wall, cpu) = (mean_sd_text(w, 1), mean_sd_text(c, 1));
            let _ = writeln!(s, "| {v} | {} | {wall} | {cpu} |", w.len());
        }
        s.push('\n');
    }
    let failed: Vec<&Row> = rows.iter().filter(|r| r.status() == "failed").collect();
    if !failed.is_empty() {
        s.push_str("## Failed jobs\n\n");
        for r in failed {
            let e = r
                .result
                .as_ref()
                .and_then(|x| x.error.clone())
                .unwrap_or_default();
            let _ = writeln!(s, "- `{}`: {e}", r.job.id);
        }
    }
    s
}

/// Mean and sample SD (0 for fewer than two values; NaN mean for none).
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, 0.0);
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var.sqrt())
}
