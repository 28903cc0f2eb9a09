//! The report of a run: `report.md` (Markdown, PNG figures) and
//! `report.html` (the same text rendered by pulldown-cmark, SVG figures
//! inline so the one file is viewable offline).

use std::fmt::Write as _;
use std::path::Path;

use pulldown_cmark::{html, Event, Options, Parser};

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::pipeline::{KeptMetrics, RunMetrics};
use crate::report::figures::{Figures, VOLLEY_NOTE};
use crate::spiking::search::{EvalResult, SearchResult};

/// What the report of a run is made from.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// The configuration of the kept network (its seed).
    pub cfg: &'a RunConfig,
    /// The run's metrics, with training, search and evaluation done.
    pub metrics: &'a RunMetrics,
    /// The kept network's λ search.
    pub search: &'a SearchResult,
    /// The spiking evaluation at the chosen λ.
    pub eval: &'a EvalResult,
    /// The figures written (stems in `figures/`).
    pub figures: &'a Figures,
}

/// Write `report.md` and `report.html` into the run directory `dir` (whose
/// `figures/` holds the figures' PNG and SVG files).
pub fn write_report(dir: &Path, input: &ReportInput) -> Result<()> {
    let body = markdown_body(input)?;
    let config = format!("## Configuration\n\n```toml\n{}```\n", input.cfg.to_toml());
    let mut md = body.clone();
    for (name, cap) in input.figures.names.iter().zip(&input.figures.captions) {
        let _ = writeln!(md, "### {name}\n\n{cap}\n\n![{name}](figures/{name}.png)\n");
    }
    md.push_str(&config);
    write_atomic(&dir.join("report.md"), md.as_bytes())?;

    let mut page = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>spikernn report</title>\
         <style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}\
         svg{max-width:100%;height:auto}pre{background:#f4f4f4;padding:1em}\
         blockquote{border-left:4px solid #c33;margin-left:0;padding-left:1em}</style></head><body>\n",
    );
    page.push_str(&markdown_to_html(&body));
    for (name, cap) in input.figures.names.iter().zip(&input.figures.captions) {
        let svg_path = dir.join("figures").join(format!("{name}.svg"));
        let svg = std::fs::read_to_string(&svg_path).map_err(|e| Error::io(&svg_path, e))?;
        let svg = svg.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        page.push_str(&markdown_to_html(&format!("### {name}\n\n{cap}\n")));
        page.push_str(svg);
        page.push('\n');
    }
    page.push_str(&markdown_to_html(&config));
    page.push_str("</body></html>\n");
    write_atomic(&dir.join("report.html"), page.as_bytes())
}

/// CommonMark with tables to HTML; raw HTML in the text is escaped, not
/// passed through (report text is data, not markup).
///
/// # Examples
///
/// ```
/// use spikernn::report::run_report::markdown_to_html;
///
/// let html = markdown_to_html("| λ | accuracy |\n|---|---|\n| 40 | 0.95 <x> |\n");
/// assert!(html.contains("<th>λ</th>") && html.contains("<td>0.95 &lt;x&gt;</td>"));
/// ```
pub fn markdown_to_html(md: &str) -> String {
    let mut out = String::new();
    let events = Parser::new_ext(md, Options::ENABLE_TABLES).map(|e| match e {
        Event::Html(t) | Event::InlineHtml(t) => Event::Text(t),
        e => e,
    });
    html::push_html(&mut out, events);
    out
}

/// Three decimals, or "–" for a non-finite value.
fn f3(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "–".into()
    }
}

/// Everything above the figures: warnings, summary, per-type accuracy,
/// networks trained, the λ search.
fn markdown_body(input: &ReportInput) -> Result<String> {
    let kept =
        input.metrics.kept.as_ref().ok_or_else(|| {
            Error::param("report", "the run has no trained and searched network yet")
        })?;
    let mut md = String::new();
    let _ = writeln!(md, "# spikernn run: {}\n", input.cfg.task);
    for w in warnings(input.search, kept) {
        let _ = writeln!(md, "> **Warning:** {w}\n");
    }
    summary(&mut md, input, kept)?;
    per_type(&mut md, input.eval);
    attempts(&mut md, input.metrics, input.cfg.attempts);
    lambda_section(&mut md, input.search);
    let _ = writeln!(md, "\n## Figures\n");
    Ok(md)
}

/// The warnings the report opens with: target missed, and far missed.
fn warnings(sr: &SearchResult, kept: &KeptMetrics) -> Vec<String> {
    let mut w = Vec::new();
    if !kept.target_met {
        w.push(format!(
            "no network reached the target spiking accuracy {:.2}; this report shows the best one (seed {}).",
            kept.target_accuracy, kept.seed_used
        ));
    }
    w.extend(sr.shortfall(kept.target_accuracy));
    w
}

fn summary(md: &mut String, input: &ReportInput, kept: &KeptMetrics) -> Result<()> {
    let (cfg, m, ev) = (input.cfg, input.metrics, input.eval);
    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(md, "| quantity | value |\n|---|---|");
    let _ = writeln!(md, "| task | {} |", cfg.task);
    let _ = writeln!(md, "| units N | {} |", cfg.net.n);
    let _ = writeln!(
        md,
        "| seed of this network | {} (run seed {}) |",
        cfg.seed, m.seed
    );
    let _ = writeln!(
        md,
        "| networks trained | {} of at most {} (target spiking accuracy {}: {}) |",
        m.attempts.len(),
        cfg.attempts,
        f3(kept.target_accuracy),
        if kept.target_met { "met" } else { "NOT met" }
    );
    let _ = writeln!(
        md,
        "| training trials | {} (stopping rule met: {}) |",
        kept.train_trials, kept.train_success
    );
    let _ = writeln!(md, "| training time | {} s |", f3(kept.train_seconds));
    let _ = writeln!(
        md,
        "| rate accuracy | {} ({} fresh trials) |",
        f3(kept.rate_accuracy),
        cfg.eval.trials
    );
    let _ = writeln!(md, "| chosen lambda | {} |", kept.best_lambda);
    let _ = writeln!(
        md,
        "| spiking trials scored | {} |",
        cfg.scoring()?.describe()
    );
    let _ = writeln!(
        md,
        "| spiking accuracy | {} (95% CI {}–{}, {} fresh trials) |",
        f3(ev.overall.accuracy),
        f3(ev.ci95.0),
        f3(ev.ci95.1),
        ev.overall.n_trials
    );
    let readout = if ev.refit_readout {
        "refitted on the spiking rates at the chosen λ (docs/conversion.md, option b)"
    } else if cfg.search.output_bias {
        "(w_out/λ)·r + b_out"
    } else {
        "(w_out/λ)·r (the paper's)"
    };
    let _ = writeln!(md, "| spiking readout | {readout} |");
    let _ = writeln!(
        md,
        "| mean firing rate | E {} Hz, I {} Hz (mean over the {} evaluation trials) |",
        f3(ev.overall.exc_rate_hz),
        f3(ev.overall.inh_rate_hz),
        ev.overall.n_trials
    );
    let _ = writeln!(md, "| search time | {} s |", f3(kept.search_seconds));
    let _ = writeln!(
        md,
        "\nThe spiking output typically runs 1.5–2× the rate output's amplitude (see spiking_vs_rate); \
         trials are scored against thresholds, so this does not cost accuracy. {VOLLEY_NOTE} \
         Firing rates leave that first volley out (they count spikes from the 10th step on)."
    );
    Ok(())
}

fn per_type(md: &mut String, ev: &EvalResult) {
    let _ = writeln!(md, "\n## Spiking accuracy per trial type\n");
    let _ = writeln!(
        md,
        "| trial type | accuracy | trials | E rate (Hz) | I rate (Hz) |\n|---|---|---|---|---|"
    );
    for (k, v) in &ev.per_type {
        let _ = writeln!(
            md,
            "| {k} | {} | {} | {} | {} |",
            f3(v.accuracy),
            v.n_trials,
            f3(v.exc_rate_hz),
            f3(v.inh_rate_hz)
        );
    }
}

fn attempts(md: &mut String, m: &RunMetrics, max: usize) {
    if max <= 1 || m.attempts.len() <= 1 {
        return;
    }
    let _ = writeln!(
        md,
        "\n## Networks trained\n\nA network is accepted when the best spiking accuracy of its λ search reaches the target; otherwise another network is trained (the lower bound is that of the 95% Wilson interval over the search trials at the best λ).\n"
    );
    let _ = writeln!(
        md,
        "| attempt | seed | training trials | rate accuracy | best lambda | best spiking accuracy (trials) | 95% lower bound | accepted |\n|---|---|---|---|---|---|---|---|"
    );
    for (i, a) in m.attempts.iter().enumerate() {
        let s = a.search.as_ref();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} ({}) | {} | {} |",
            i + 1,
            a.seed,
            a.train_trials,
            f3(a.rate_accuracy),
            s.map_or("–".into(), |s| s.best_lambda.to_string()),
            f3(s.map_or(f64::NAN, |s| s.best_accuracy)),
            s.map_or("–".into(), |s| s.best_trials.to_string()),
            f3(s.map_or(f64::NAN, |s| s.best_lower_bound)),
            if a.accepted { "yes" } else { "no" }
        );
    }
}

/// One table of the λ search: every scored λ once, its pooled accuracy,
/// trials and 95 % interval, the chosen one marked, and why it was chosen.
fn lambda_section(md: &mut String, sr: &SearchResult) {
    let _ = writeln!(md, "\n## Lambda search\n");
    let _ = writeln!(md, "{}\n", sr.selection());
    let _ = writeln!(
        md,
        "| lambda | accuracy | trials | 95% interval | stage |\n|---|---|---|---|---|"
    );
    for p in sr.points() {
        let stage = p.stage.describe();
        let lambda = if p.lambda == sr.best_lambda {
            format!("**{} (chosen)**", p.lambda)
        } else {
            p.lambda.to_string()
        };
        let _ = writeln!(
            md,
            "| {lambda} | {} | {} | {}–{} | {stage} |",
            f3(p.accuracy),
            p.trials,
            f3(p.ci95.0),
            f3(p.ci95.1)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn searched() -> SearchResult {
        SearchResult::from_lists(
            (&[40.0, 45.0, 50.0], &[0.9, 0.99, 0.99]),
            (&[41.0, 42.0, 45.0], &[0.97, 0.98, 0.95], &[300, 100, 300]),
            (41.0, 0.97),
            100,
        )
    }

    #[test]
    fn one_lambda_table_shows_pooled_values_once() {
        let mut md = String::new();
        lambda_section(&mut md, &searched());
        // λ 45: its pooled 0.950 on 300 trials, not the coarse 0.990.
        let row45: Vec<&str> = md.lines().filter(|l| l.starts_with("| 45 ")).collect();
        assert_eq!(row45.len(), 1, "{md}");
        assert!(
            row45[0].contains("0.950") && row45[0].contains("300"),
            "{md}"
        );
        assert!(!md.contains("0.990 | 300"));
        assert!(md.contains("**41 (chosen)**"), "{md}");
        // Wilson interval of 291/300 at 95 %: centre ± half ≈ 0.944–0.984.
        assert!(md.contains("0.944–0.984"), "{md}");
        assert!(md.contains("best of the 2 finalists"), "{md}");
        assert!(md.contains("300 pooled trials"), "{md}");
    }

    #[test]
    fn html_renders_tables_and_escapes_text() {
        let h = markdown_to_html("# a & b\n\n| x | y |\n|---|---|\n| 1 | <b> |\n");
        assert!(h.contains("<h1>a &amp; b</h1>"), "{h}");
        assert!(
            h.contains("<table>") && h.contains("<td>&lt;b&gt;</td>"),
            "{h}"
        );
    }
}
