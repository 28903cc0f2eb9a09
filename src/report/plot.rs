//! Figures: training loss, network outputs, spike rasters, the lambda search,
//! synaptic time constants and firing rates.
//!
//! Every figure is written twice, as `<stem>.png` and `<stem>.svg`, from plain
//! data (slices and small structs); nothing here depends on the other modules.
//!
//! # Why plotters and an embedded font
//!
//! Figures are drawn with the pure-Rust [`plotters`] crate, so no external
//! program (gnuplot, Python, ImageMagick) is needed. Plotters' default text
//! path asks fontconfig for a system font, which is missing on many servers
//! and containers and makes PNGs render differently from machine to machine.
//! Instead, DejaVu Sans (`assets/DejaVuSans.ttf`, Bitstream Vera license in
//! `assets/DejaVuSans-LICENSE.txt`) is compiled into the binary and registered
//! once with plotters' `ab_glyph` text renderer under the family name
//! `"sans-serif"`. PNGs therefore look the same everywhere; SVGs contain real
//! `<text>` elements with `font-family="sans-serif"`, which any viewer renders
//! with its own sans-serif font (text widths were laid out with DejaVu Sans).
//!
//! # Files
//!
//! The SVG and the PNG are rendered into memory and written with
//! [`write_atomic`] (the crate's one atomic write), so a reader never sees a
//! half-written figure. The parent directory of `stem` is created if needed.
//! Long traces are decimated (minimum and maximum per bin, at most
//! [`MAX_TRACE_POINTS`] points per trace) and spikes that would fall on the
//! same pixel of the same unit are drawn once, to keep SVGs small.
//!
//! Empty inputs, NaN/infinite values and constant data never panic: non-finite
//! values are skipped, degenerate axis ranges are padded, and an empty plot is
//! drawn with a "no data" note.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

use crate::error::{Error, Result};
use crate::io::write_atomic;

/// DejaVu Sans 2.37, embedded so that PNG text needs no system font.
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Font family name under which the embedded font is registered.
const FONT: &str = "sans-serif";

/// Maximum number of points drawn per trace in [`output_panels`] and
/// [`training_loss`]; longer series are reduced to per-bin minima and maxima.
pub const MAX_TRACE_POINTS: usize = 2000;

/// Default figure size in pixels (width, height).
const DEFAULT_SIZE: (u32, u32) = (900, 500);

const TITLE_SIZE: f64 = 22.0;
const PANEL_TITLE_SIZE: f64 = 17.0;
const AXIS_DESC_SIZE: f64 = 15.0;
const TICK_SIZE: f64 = 13.0;
const LEGEND_SIZE: f64 = 14.0;

const EXC_COLOR: RGBColor = RGBColor(214, 39, 40);
const INH_COLOR: RGBColor = RGBColor(31, 100, 200);
const MAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
const SECONDARY_COLOR: RGBColor = RGBColor(255, 127, 14);
const GREEN_COLOR: RGBColor = RGBColor(44, 160, 44);
const GRAY_COLOR: RGBColor = RGBColor(110, 110, 110);
const THRESHOLD_COLOR: RGBColor = RGBColor(200, 40, 40);

type DrawResult<T = ()> = std::result::Result<T, String>;

/// Turns any displayable error (plotters' drawing errors) into a message.
trait OrMsg<T> {
    fn msg(self) -> DrawResult<T>;
}

impl<T, E: std::fmt::Display> OrMsg<T> for std::result::Result<T, E> {
    fn msg(self) -> DrawResult<T> {
        self.map_err(|e| e.to_string())
    }
}

// ---------------------------------------------------------------------------
// Public data types
// ---------------------------------------------------------------------------

/// How a [`Trace`] is drawn in [`output_panels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceStyle {
    /// Thick solid dark blue: the signal the figure is about (for example the
    /// spiking network's output, or the rate output against its target).
    Main,
    /// Solid, lighter orange: a signal shown for comparison (for example the
    /// rate network's output next to the spiking output).
    Secondary,
    /// Dashed black: the task's target.
    Target,
    /// Thin dashed red: a scoring threshold, drawn over the response window
    /// (a horizontal two-point trace from the window's start to its end).
    Threshold,
}

/// One time series of an output panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Legend text, e.g. `"spiking output"`. Traces with the same label and
    /// style in different panels share one legend entry.
    pub label: String,
    /// Sample times in milliseconds.
    pub t_ms: Vec<f64>,
    /// Sample values (same length as `t_ms`; extra samples are ignored), in
    /// the unit named by the figure's `y_label`.
    pub y: Vec<f64>,
    /// Line style.
    pub style: TraceStyle,
}

/// One panel (one trial type) of [`output_panels`].
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Panel title, e.g. `"Go"` or `"context 1, +/+"`.
    pub title: String,
    /// The series drawn in this panel.
    pub traces: Vec<Trace>,
}

/// One panel (one trial) of a spike raster, see [`raster`].
#[derive(Debug, Clone, PartialEq)]
pub struct RasterPanel {
    /// Panel title, e.g. `"Go trial"`.
    pub title: String,
    /// Number of units; grown automatically if a spike names a larger index.
    pub n_units: usize,
    /// End of the time axis in milliseconds (the simulated duration).
    pub t_max_ms: f64,
    /// Spikes as (unit index, time in ms).
    pub spikes: Vec<(u32, f64)>,
    /// `inh[i]` is true when unit `i` is inhibitory; missing entries count as
    /// excitatory.
    pub inh: Vec<bool>,
}

// ---------------------------------------------------------------------------
// Public figure functions
// ---------------------------------------------------------------------------

/// Training curve: loss of every training trial (thin line), its running mean
/// over 50 trials (thick line), the stopping rule's loss threshold
/// `stop_loss` as a dashed line and, if `evals` is not empty, the evaluation
/// loss as points plus a second panel with the evaluation accuracy (%) and
/// the 95 % criterion.
///
/// `losses[k]` is the (dimensionless) loss of training trial `k + 1`; `evals`
/// holds `(trial, mean evaluation loss, evaluation accuracy in [0, 1])`. The
/// loss axis is logarithmic for every task (losses ≤ 0 are left out).
/// Writes `<stem>.png` and `<stem>.svg`.
pub fn training_loss(
    stem: &Path,
    losses: &[f64],
    evals: &[(usize, f64, f64)],
    stop_loss: Option<f64>,
) -> Result<()> {
    let size = if evals.is_empty() {
        DEFAULT_SIZE
    } else {
        (900, 720)
    };
    render(
        stem,
        size,
        &LossFigure {
            losses,
            evals,
            stop_loss,
        },
    )
}

/// A grid of output panels, one per trial type (2 for Go-NoGo, 4 for XOR, 8
/// for the context-dependent task), with one shared legend under the title.
///
/// Used both for "rate output vs target" and "spiking vs rate output". Time
/// axes are in ms; `y_label` names the y quantity and its unit, e.g.
/// `"output (a.u.)"`. All panels share the same axis ranges. Traces longer
/// than [`MAX_TRACE_POINTS`] are decimated. The figure grows with the number
/// of panels (up to 4 columns). Writes `<stem>.png` and `<stem>.svg`.
pub fn output_panels(stem: &Path, title: &str, panels: &[Panel], y_label: &str) -> Result<()> {
    let (rows, cols) = grid(panels.len());
    let panel_h = if rows == 1 { 400 } else { 320 };
    let size = (900.max(cols as u32 * 450), 90 + rows as u32 * panel_h);
    render(
        stem,
        size,
        &OutputFigure {
            title,
            panels,
            y_label,
        },
    )
}

/// Spike rasters, one panel per trial, excitatory spikes red and inhibitory
/// spikes blue. Units are re-ordered so that excitatory units (in index order)
/// form the lower block and inhibitory units the upper block; the y label says
/// so. Time axis in ms from 0 to `t_max_ms`. Writes `<stem>.png` and
/// `<stem>.svg`.
pub fn raster(stem: &Path, panels: &[RasterPanel]) -> Result<()> {
    let (rows, cols) = grid(panels.len());
    let panel_h = if rows == 1 { 420 } else { 340 };
    let size = (900.max(cols as u32 * 450), 90 + rows as u32 * panel_h);
    render(stem, size, &RasterFigure { panels })
}

/// How a point of [`lambda_curve`] was scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LambdaKind {
    /// A point of the coarse grid.
    Grid,
    /// A refinement point off the coarse grid.
    Refined,
    /// A finalist, re-tested: its trials pooled.
    Finalist,
    /// Read from a model file's search record, whose stages are not stored.
    Stored,
}

/// One scored scaling factor of [`lambda_curve`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LambdaMark {
    /// Scaling factor λ (dimensionless).
    pub lambda: f64,
    /// Spiking accuracy, a fraction in `[0, 1]`.
    pub accuracy: f64,
    /// 95 % interval of `accuracy` (fractions), if known.
    pub ci95: Option<(f64, f64)>,
    /// How it was scored.
    pub kind: LambdaKind,
}

/// Spiking accuracy against the scaling factor λ (dimensionless): every
/// point once, joined by a line in λ order, its marker telling how it was
/// scored, its 95 % interval as a bar, the `chosen` λ ringed with its value,
/// and a dashed line at the 95 % criterion. Accuracies are shown in %.
/// Writes `<stem>.png` and `<stem>.svg`.
pub fn lambda_curve(stem: &Path, points: &[LambdaMark], chosen: f64) -> Result<()> {
    render(stem, DEFAULT_SIZE, &LambdaFigure { points, chosen })
}

/// Histogram of the units' synaptic decay time constants in ms, the trained
/// values and, if given, the initial ones overlaid (semi-transparent, same
/// bins). Writes `<stem>.png` and `<stem>.svg`.
pub fn tau_histogram(stem: &Path, taus_ms: &[f64], initial_ms: Option<&[f64]>) -> Result<()> {
    let mut groups = vec![HistGroup {
        name: "trained",
        color: MAIN_COLOR,
        values: taus_ms,
    }];
    if let Some(init) = initial_ms {
        groups.push(HistGroup {
            name: "initial",
            color: SECONDARY_COLOR,
            values: init,
        });
    }
    render(
        stem,
        DEFAULT_SIZE,
        &HistFigure {
            title: "Synaptic decay time constants",
            x_desc: "synaptic decay time constant τd (ms)",
            unit: "ms",
            groups,
            from_zero: false,
        },
    )
}

/// Distributions of the firing rates (Hz) of excitatory (red) and inhibitory
/// (blue) units, overlaid histograms with the same bins; the legend gives each
/// population's size and mean rate, and dashed vertical lines mark the means.
/// `basis` says what the rates were computed from (e.g. `"one trial per
/// trial type, 2 trials"`) and goes into the title.
/// Writes `<stem>.png` and `<stem>.svg`.
pub fn firing_rates(stem: &Path, exc_hz: &[f64], inh_hz: &[f64], basis: &str) -> Result<()> {
    render(
        stem,
        DEFAULT_SIZE,
        &HistFigure {
            title: &format!("Firing rates of the spiking network ({basis})"),
            x_desc: "firing rate (Hz)",
            unit: "Hz",
            groups: vec![
                HistGroup {
                    name: "excitatory",
                    color: EXC_COLOR,
                    values: exc_hz,
                },
                HistGroup {
                    name: "inhibitory",
                    color: INH_COLOR,
                    values: inh_hz,
                },
            ],
            from_zero: true,
        },
    )
}

// ---------------------------------------------------------------------------
// Rendering to files
// ---------------------------------------------------------------------------

/// A figure that can be drawn on any plotters backend.
trait Figure {
    /// Draws the figure; returns mark sets that [`render`] draws itself.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<Vec<Marks>>;
}

/// Many short vertical line segments of one colour, in backend pixels (for
/// spike rasters). [`render`] draws them as ordinary lines in the PNG and as
/// one `<path>` in the SVG (about 12 bytes per mark instead of about 100 for
/// one plotters element each), so that rasters with many thousands of spikes
/// stay small.
struct Marks {
    color: RGBColor,
    /// `(x, y_top, y_bottom)` in pixels of the whole figure.
    ticks: Vec<(i32, i32, i32)>,
}

/// The marks as one SVG path element.
fn marks_svg(marks: &Marks) -> String {
    use std::fmt::Write;
    let RGBColor(r, g, b) = marks.color;
    let mut d = String::with_capacity(12 * marks.ticks.len());
    for &(x, y0, y1) in &marks.ticks {
        let _ = write!(d, "M{x} {y0}v{}", (y1 - y0).max(1));
    }
    format!(
        "<path fill=\"none\" stroke=\"#{r:02X}{g:02X}{b:02X}\" stroke-width=\"1\" d=\"{d}\"/>\n"
    )
}

/// Registers the embedded font once; reports failure on every call.
fn ensure_font() -> DrawResult {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok =
        *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, DEJAVU_SANS).is_ok());
    if ok {
        Ok(())
    } else {
        Err("the embedded DejaVu Sans font could not be loaded".into())
    }
}

/// `stem` with `suffix` appended (not replacing any dot in the file name).
fn with_suffix(stem: &Path, suffix: &str) -> PathBuf {
    let mut s = stem.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn plot_error(path: &Path, msg: impl Into<String>) -> Error {
    Error::Plot {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// Draws `fig` into `<stem>.svg` and `<stem>.png`, each rendered in memory
/// and written with [`write_atomic`].
fn render<F: Figure>(stem: &Path, size: (u32, u32), fig: &F) -> Result<()> {
    let png = with_suffix(stem, ".png");
    let svg = with_suffix(stem, ".svg");
    if stem.file_name().is_none() {
        return Err(plot_error(stem, "the figure path has no file name"));
    }
    ensure_font().map_err(|m| plot_error(&png, m))?;
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }

    // SVG: render into a string, then write it atomically.
    let mut text = String::new();
    let marks = {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        let marks = draw_root(&root, fig, false).map_err(|m| plot_error(&svg, m))?;
        root.present()
            .map_err(|e| plot_error(&svg, e.to_string()))?;
        marks
    };
    if !marks.is_empty() {
        let at = text.rfind("</svg>").unwrap_or(text.len());
        let paths: String = marks.iter().map(marks_svg).collect();
        text.insert_str(at, &paths);
    }
    write_atomic(&svg, text.as_bytes())?;

    // PNG: render into memory, encode, write atomically.
    let bytes = png_bytes(size, fig).map_err(|m| plot_error(&png, m))?;
    write_atomic(&png, &bytes)
}

/// `fig` rendered at `size` and encoded as PNG (8-bit RGB).
fn png_bytes<F: Figure>(size: (u32, u32), fig: &F) -> DrawResult<Vec<u8>> {
    use image::ImageEncoder;
    let mut rgb = vec![0u8; 3 * size.0 as usize * size.1 as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        draw_root(&root, fig, true)?;
        root.present().msg()?;
    }
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&rgb, size.0, size.1, image::ColorType::Rgb8)
        .msg()?;
    Ok(out)
}

/// Fills the background and draws `fig`; with `draw_marks` its [`Marks`] too,
/// otherwise they are returned for the caller.
fn draw_root<DB: DrawingBackend, F: Figure>(
    root: &DrawingArea<DB, Shift>,
    fig: &F,
    draw_marks: bool,
) -> DrawResult<Vec<Marks>> {
    root.fill(&WHITE).msg()?;
    let marks = fig.draw(root)?;
    if !draw_marks {
        return Ok(marks);
    }
    for m in &marks {
        for &(x, y0, y1) in &m.ticks {
            root.draw(&PathElement::new(
                vec![(x, y0), (x, y1.max(y0 + 1))],
                m.color.stroke_width(1),
            ))
            .msg()?;
        }
    }
    Ok(Vec::new())
}

// ---------------------------------------------------------------------------
// Data helpers
// ---------------------------------------------------------------------------

/// (min, max) of the finite values, or `None` if there are none.
fn finite_bounds(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// An axis range around `bounds`, widened by `pad` (fraction of the span) on
/// each side; constant data get a unit-sized range, no data `default`.
fn padded(bounds: Option<(f64, f64)>, pad: f64, default: Range<f64>) -> Range<f64> {
    match bounds {
        Some((lo, hi)) if (hi - lo).is_finite() => {
            let span = hi - lo;
            if span <= f64::EPSILON * lo.abs().max(hi.abs()).max(1e-300) {
                let d = if lo.abs() > 0.0 { lo.abs() * 0.1 } else { 0.5 };
                (lo - d)..(hi + d)
            } else {
                (lo - pad * span)..(hi + pad * span)
            }
        }
        _ => default,
    }
}

/// Finite `(t, y)` pairs, reduced to at most `max_points` by keeping the
/// minimum and maximum of each bin (in time order).
fn decimate(t: &[f64], y: &[f64], max_points: usize) -> Vec<(f64, f64)> {
    let pts: Vec<(f64, f64)> = t
        .iter()
        .zip(y)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(&a, &b)| (a, b))
        .collect();
    let bins = (max_points / 2).max(1);
    if pts.len() <= max_points.max(2) {
        return pts;
    }
    let n = pts.len();
    let mut out = Vec::with_capacity(2 * bins);
    for b in 0..bins {
        let chunk = &pts[b * n / bins..(b + 1) * n / bins];
        if chunk.is_empty() {
            continue;
        }
        let (mut imin, mut imax) = (0, 0);
        for (i, p) in chunk.iter().enumerate() {
            if p.1 < chunk[imin].1 {
                imin = i;
            }
            if p.1 > chunk[imax].1 {
                imax = i;
            }
        }
        let (a, c) = (imin.min(imax), imin.max(imax));
        out.push(chunk[a]);
        if c != a {
            out.push(chunk[c]);
        }
    }
    out
}

/// Trailing running mean over `window` samples, skipping non-finite values;
/// returns `(trial number, mean)` with trials counted from 1.
fn running_mean(values: &[f64], window: usize) -> Vec<(f64, f64)> {
    let window = window.max(1);
    let mut out = Vec::with_capacity(values.len());
    let (mut sum, mut count) = (0.0, 0usize);
    for (i, &v) in values.iter().enumerate() {
        if v.is_finite() {
            sum += v;
            count += 1;
        }
        if i >= window {
            let old = values[i - window];
            if old.is_finite() {
                sum -= old;
                count -= 1;
            }
        }
        if count > 0 {
            out.push(((i + 1) as f64, sum / count as f64));
        }
    }
    out
}

/// Rows and columns of a panel grid: 1×1, 1×2, 2×2, then 4 columns.
fn grid(n: usize) -> (usize, usize) {
    let cols = match n {
        0 | 1 => 1,
        2..=4 => 2,
        _ => 4,
    };
    let rows = n.max(1).div_ceil(cols);
    (rows, cols)
}

fn mean(values: &[f64]) -> Option<f64> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        None
    } else {
        Some(finite.iter().sum::<f64>() / finite.len() as f64)
    }
}

/// Compact number formatting for tick labels and legends.
fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 || (v - v.round()).abs() < 1e-9 * a.max(1.0) {
        format!("{v:.0}")
    } else {
        let s = if a >= 10.0 {
            format!("{v:.1}")
        } else if a >= 1.0 {
            format!("{v:.2}")
        } else {
            format!("{v:.3}")
        };
        let s = s.trim_end_matches('0');
        s.trim_end_matches('.').to_string()
    }
}

/// The legend corner that covers the fewest data points. `pts` are positions
/// as fractions of the plotting area (0..1, y upwards); ties go to the
/// earlier entry of `preferred`.
fn legend_corner(
    pts: impl IntoIterator<Item = (f64, f64)>,
    preferred: &[SeriesLabelPosition],
) -> SeriesLabelPosition {
    let mut counts = [0usize; 4]; // UR, UL, LR, LL
    for (fx, fy) in pts {
        if !(fx.is_finite() && fy.is_finite()) {
            continue;
        }
        let (right, left) = (fx > 0.5, fx < 0.5);
        let (upper, lower) = (fy > 0.68, fy < 0.32);
        counts[0] += (upper && right) as usize;
        counts[1] += (upper && left) as usize;
        counts[2] += (lower && right) as usize;
        counts[3] += (lower && left) as usize;
    }
    let index = |p: &SeriesLabelPosition| match p {
        SeriesLabelPosition::UpperRight => 0,
        SeriesLabelPosition::UpperLeft => 1,
        SeriesLabelPosition::LowerRight => 2,
        _ => 3,
    };
    let mut best = SeriesLabelPosition::UpperRight;
    let mut best_count = usize::MAX;
    for p in preferred {
        let c = counts[index(p)];
        if c < best_count {
            best_count = c;
            best = p.clone();
        }
    }
    best
}

/// Fraction of `v` along `r` (0 at the start, 1 at the end).
fn frac(v: f64, r: &Range<f64>) -> f64 {
    (v - r.start) / (r.end - r.start)
}

const CORNERS: [SeriesLabelPosition; 4] = [
    SeriesLabelPosition::UpperRight,
    SeriesLabelPosition::LowerRight,
    SeriesLabelPosition::UpperLeft,
    SeriesLabelPosition::LowerLeft,
];

// ---------------------------------------------------------------------------
// Drawing helpers
// ---------------------------------------------------------------------------

fn text_style(size: f64) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).color(&BLACK)
}

/// A sample mark in a hand-drawn legend.
#[derive(Clone, Copy)]
enum Mark {
    Line(RGBAColor, u32),
    Dashed(RGBAColor, u32),
    Tick(RGBColor),
}

/// Colour, line width (px) and dash (length, gap in px; `None`: solid) of a
/// trace style, shared by the plot and its legend.
fn trace_look(style: TraceStyle) -> (RGBAColor, u32, Option<(u32, u32)>) {
    match style {
        TraceStyle::Main => (MAIN_COLOR.to_rgba(), 2, None),
        TraceStyle::Secondary => (SECONDARY_COLOR.mix(0.8), 2, None),
        TraceStyle::Target => (BLACK.to_rgba(), 2, Some((8, 5))),
        TraceStyle::Threshold => (THRESHOLD_COLOR.to_rgba(), 1, Some((4, 4))),
    }
}

fn trace_mark(style: TraceStyle) -> Mark {
    match trace_look(style) {
        (c, w, None) => Mark::Line(c, w),
        (c, w, Some(_)) => Mark::Dashed(c, w),
    }
}

/// A legend strip: marks and labels in one centred row.
fn draw_legend_strip<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    items: &[(String, Mark)],
) -> DrawResult {
    if items.is_empty() {
        return Ok(());
    }
    let style = text_style(LEGEND_SIZE);
    let (sample, gap, spacing) = (34i32, 8i32, 30i32);
    let widths: Vec<i32> = items
        .iter()
        .map(|(l, _)| {
            area.estimate_text_size(l, &style)
                .map(|(w, _)| w as i32)
                .unwrap_or(8 * l.len() as i32)
        })
        .collect();
    let total: i32 =
        widths.iter().map(|w| sample + gap + w).sum::<i32>() + spacing * (items.len() as i32 - 1);
    let (w, h) = area.dim_in_pixel();
    let mut x = ((w as i32 - total) / 2).max(4);
    let y = h as i32 / 2;
    for ((label, mark), tw) in items.iter().zip(&widths) {
        match *mark {
            Mark::Line(c, width) => area
                .draw(&PathElement::new(
                    vec![(x, y), (x + sample, y)],
                    c.stroke_width(width),
                ))
                .msg()?,
            Mark::Dashed(c, width) => {
                for k in 0..3 {
                    let x0 = x + k * 13;
                    area.draw(&PathElement::new(
                        vec![(x0, y), (x0 + 8, y)],
                        c.stroke_width(width),
                    ))
                    .msg()?;
                }
            }
            Mark::Tick(c) => {
                for k in 0..4 {
                    let x0 = x + 4 + k * 9;
                    area.draw(&PathElement::new(
                        vec![(x0, y - 7), (x0, y + 7)],
                        c.stroke_width(2),
                    ))
                    .msg()?;
                }
            }
        }
        area.draw(&Text::new(
            label.clone(),
            (x + sample + gap, y),
            style.pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .msg()?;
        x += sample + gap + tw + spacing;
    }
    Ok(())
}

/// Writes `note` in the middle of a chart's plotting area.
fn note_center<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    note: &str,
) -> DrawResult {
    let plain = area.strip_coord_spec();
    let (w, h) = plain.dim_in_pixel();
    plain
        .draw(&Text::new(
            note.to_string(),
            (w as i32 / 2, h as i32 / 2),
            text_style(16.0)
                .color(&GRAY_COLOR)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))
        .msg()
}

/// Splits off a title and a legend strip; returns the remaining body.
fn title_and_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    legend: &[(String, Mark)],
) -> DrawResult<DrawingArea<DB, Shift>> {
    let body = root
        .margin(8, 0, 0, 0)
        .titled(title, text_style(TITLE_SIZE))
        .msg()?
        .margin(0, 0, 6, 6);
    if legend.is_empty() {
        return Ok(body);
    }
    let (strip, body) = body.split_vertically(30);
    draw_legend_strip(&strip, legend)?;
    Ok(body)
}

/// The dashed grey line at the 95 % accuracy criterion, with its legend entry.
fn draw_criterion_line<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    x: &Range<f64>,
) -> DrawResult<()> {
    draw_hline(chart, x, 95.0, "95 % criterion".into())
}

/// A standard cartesian chart with labelled axes and light grid.
fn plain_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: Option<&str>,
    x: Range<f64>,
    y: Range<f64>,
    x_desc: &str,
    y_desc: &str,
) -> DrawResult<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>> {
    let mut builder = ChartBuilder::on(area);
    if let Some(c) = caption {
        builder.caption(c, text_style(PANEL_TITLE_SIZE));
    }
    let mut chart = builder
        .margin(8)
        .margin_right(18)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x, y)
        .msg()?;
    configure_mesh(&mut chart, x_desc, y_desc)?;
    Ok(chart)
}

fn configure_mesh<DB, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    x_desc: &str,
    y_desc: &str,
) -> DrawResult
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    // Tick values that are zero up to rounding (e.g. 5.6e-17) print as 0.
    let (xr, yr) = (chart.x_range(), chart.y_range());
    let (xs, ys) = ((xr.end - xr.start).abs(), (yr.end - yr.start).abs());
    let fx = move |v: &f64| fmt_num(if v.abs() < 1e-9 * xs { 0.0 } else { *v });
    let fy = move |v: &f64| fmt_num(if v.abs() < 1e-9 * ys { 0.0 } else { *v });
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(8)
        .y_labels(7)
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .axis_desc_style(text_style(AXIS_DESC_SIZE))
        .label_style(text_style(TICK_SIZE))
        .light_line_style(BLACK.mix(0.04))
        .bold_line_style(BLACK.mix(0.12))
        .draw()
        .msg()
}

fn draw_series_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(position)
        .margin(10)
        .legend_area_size(30)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .label_font(text_style(LEGEND_SIZE))
        .draw()
        .msg()
}

// ---------------------------------------------------------------------------
// Training loss
// ---------------------------------------------------------------------------

const RUNNING_WINDOW: usize = 50;

struct LossFigure<'a> {
    losses: &'a [f64],
    evals: &'a [(usize, f64, f64)],
    stop_loss: Option<f64>,
}

impl Figure for LossFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<Vec<Marks>> {
        let body = title_and_legend(root, "Training of the rate network", &[])?;
        let (top, bottom) = if self.evals.is_empty() {
            (body, None)
        } else {
            let (_, h) = body.dim_in_pixel();
            let (a, b) = body.split_vertically((h as f64 * 0.58) as u32);
            (a, Some(b))
        };
        let n = self.losses.len();
        let max_trial = self
            .evals
            .iter()
            .map(|e| e.0)
            .max()
            .unwrap_or(0)
            .max(n)
            .max(10) as f64;
        let x = 0.0..max_trial * 1.02;
        self.draw_losses(&top, &x)?;
        if let Some(bottom) = bottom {
            self.draw_accuracy(&bottom, &x)?;
        }
        Ok(Vec::new())
    }
}

impl LossFigure<'_> {
    /// The loss panel, on a log scale for every task (non-positive losses
    /// cannot be shown and are left out).
    fn draw_losses<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        x: &Range<f64>,
    ) -> DrawResult {
        let n = self.losses.len();
        let positive = |p: &(f64, f64)| p.1.is_finite() && p.1 > 0.0;
        let evals: Vec<(f64, f64)> = self
            .evals
            .iter()
            .map(|&(t, l, _)| (t as f64, l))
            .filter(positive)
            .collect();
        let trials: Vec<f64> = (1..=n).map(|i| i as f64).collect();
        let mut raw = decimate(&trials, self.losses, MAX_TRACE_POINTS);
        raw.retain(positive);
        let window = RUNNING_WINDOW.min(n.max(1));
        let mut run = decimate_pairs(&running_mean(self.losses, window));
        run.retain(positive);
        let stop = self.stop_loss.filter(|v| v.is_finite() && *v > 0.0);
        let (lo, hi) = finite_bounds(raw.iter().chain(&evals).map(|p| p.1).chain(stop))
            .unwrap_or((0.1, 100.0));
        let y = lo / 1.5..hi * 1.5;
        let ly = y.start.ln()..y.end.ln();
        let pts = raw.iter().chain(&run).chain(&evals);
        let corner = legend_corner(pts.map(|p| (frac(p.0, x), frac(p.1.ln(), &ly))), &CORNERS);
        let series = LossSeries {
            raw: &raw,
            run: &run,
            evals: &evals,
            window,
            stop,
            empty: raw.is_empty() && evals.is_empty(),
            corner,
        };
        series.draw(area, x.clone(), y.log_scale())
    }

    /// The evaluation-accuracy panel with the 95 % criterion.
    fn draw_accuracy<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        x: &Range<f64>,
    ) -> DrawResult {
        let acc: Vec<(f64, f64)> = self
            .evals
            .iter()
            .map(|&(t, _, a)| (t as f64, 100.0 * a))
            .filter(|p| p.1.is_finite())
            .collect();
        let hi = finite_bounds(acc.iter().map(|p| p.1)).map_or(100.0, |b| b.1.max(100.0));
        let lo = finite_bounds(acc.iter().map(|p| p.1)).map_or(0.0, |b| b.0.min(0.0));
        let y = lo..hi + 5.0;
        let corner = legend_corner(
            acc.iter()
                .map(|p| (frac(p.0, x), frac(p.1, &y)))
                .chain((0..=20).map(|k| (k as f64 / 20.0, frac(95.0, &y)))),
            &[
                SeriesLabelPosition::LowerRight,
                SeriesLabelPosition::LowerLeft,
                SeriesLabelPosition::UpperLeft,
                SeriesLabelPosition::UpperRight,
            ],
        );
        let mut chart = plain_chart(
            area,
            None,
            x.clone(),
            y,
            "training trial",
            "evaluation accuracy (%)",
        )?;
        draw_criterion_line(&mut chart, x)?;
        chart
            .draw_series(LineSeries::new(
                acc.iter().copied(),
                GREEN_COLOR.stroke_width(2),
            ))
            .msg()?;
        chart
            .draw_series(acc.iter().map(|&p| Circle::new(p, 4, GREEN_COLOR.filled())))
            .msg()?
            .label("accuracy on evaluation trials")
            .legend(|(x, y)| Circle::new((x + 10, y), 4, GREEN_COLOR.filled()));
        if acc.is_empty() {
            note_center(chart.plotting_area(), "no evaluation data")?;
        }
        draw_series_legend(&mut chart, corner)
    }
}

fn decimate_pairs(pts: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let t: Vec<f64> = pts.iter().map(|p| p.0).collect();
    let y: Vec<f64> = pts.iter().map(|p| p.1).collect();
    decimate(&t, &y, MAX_TRACE_POINTS)
}

struct LossSeries<'a> {
    raw: &'a [(f64, f64)],
    run: &'a [(f64, f64)],
    evals: &'a [(f64, f64)],
    window: usize,
    /// The stopping rule's loss threshold, drawn dashed.
    stop: Option<f64>,
    empty: bool,
    corner: SeriesLabelPosition,
}

impl LossSeries<'_> {
    fn draw<DB, YS>(&self, area: &DrawingArea<DB, Shift>, x: Range<f64>, y: YS) -> DrawResult
    where
        DB: DrawingBackend,
        YS: AsRangedCoord<Value = f64>,
        YS::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let mut chart = ChartBuilder::on(area)
            .margin(8)
            .margin_right(18)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x.clone(), y)
            .msg()?;
        configure_mesh(
            &mut chart,
            "training trial",
            "loss (dimensionless, log scale)",
        )?;
        let light = MAIN_COLOR.mix(0.35);
        chart
            .draw_series(LineSeries::new(
                self.raw.iter().copied(),
                light.stroke_width(1),
            ))
            .msg()?
            .label("loss per training trial")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], light.stroke_width(2))
            });
        chart
            .draw_series(LineSeries::new(
                self.run.iter().copied(),
                MAIN_COLOR.stroke_width(3),
            ))
            .msg()?
            .label(format!("running mean ({} trials)", self.window))
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], MAIN_COLOR.stroke_width(3))
            });
        if !self.evals.is_empty() {
            chart
                .draw_series(
                    self.evals
                        .iter()
                        .map(|&p| Circle::new(p, 4, SECONDARY_COLOR.filled())),
                )
                .msg()?
                .label("mean loss on evaluation trials")
                .legend(|(x, y)| Circle::new((x + 10, y), 4, SECONDARY_COLOR.filled()));
        }
        if let Some(v) = self.stop {
            draw_hline(
                &mut chart,
                &x,
                v,
                format!("stopping rule: loss < {}", fmt_num(v)),
            )?;
        }
        if self.empty {
            note_center(chart.plotting_area(), "no data")?;
        } else {
            draw_series_legend(&mut chart, self.corner.clone())?;
        }
        Ok(())
    }
}

/// A dashed grey horizontal line at `y` across `x`, with a legend entry.
fn draw_hline<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, Y>>,
    x: &Range<f64>,
    y: f64,
    label: String,
) -> DrawResult {
    chart
        .draw_series(DashedLineSeries::new(
            vec![(x.start, y), (x.end, y)],
            8,
            5,
            GRAY_COLOR.stroke_width(2),
        ))
        .msg()?
        .label(label)
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GRAY_COLOR.stroke_width(2)));
    Ok(())
}

// ---------------------------------------------------------------------------
// Output panels
// ---------------------------------------------------------------------------

/// A decimated trace with its style.
type StyledPoints = (TraceStyle, Vec<(f64, f64)>);

struct OutputFigure<'a> {
    title: &'a str,
    panels: &'a [Panel],
    y_label: &'a str,
}

impl Figure for OutputFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<Vec<Marks>> {
        // One legend entry per distinct (label, style), in order of appearance.
        let mut seen = HashSet::new();
        let mut legend = Vec::new();
        for tr in self.panels.iter().flat_map(|p| &p.traces) {
            if seen.insert((tr.label.clone(), tr.style)) {
                legend.push((tr.label.clone(), trace_mark(tr.style)));
            }
        }
        let body = title_and_legend(root, self.title, &legend)?;

        // Decimate once; shared axis ranges over all panels.
        let data: Vec<Vec<StyledPoints>> = self
            .panels
            .iter()
            .map(|p| {
                p.traces
                    .iter()
                    .map(|tr| (tr.style, decimate(&tr.t_ms, &tr.y, MAX_TRACE_POINTS)))
                    .collect()
            })
            .collect();
        let all_pts = || data.iter().flatten().flat_map(|(_, pts)| pts.iter());
        let mut x = padded(finite_bounds(all_pts().map(|p| p.0)), 0.0, 0.0..1.0);
        // Time usually starts at (nearly) zero: show the origin.
        if x.start > 0.0 && x.start < 0.1 * x.end {
            x.start = 0.0;
        }
        let y = padded(finite_bounds(all_pts().map(|p| p.1)), 0.08, -1.0..1.0);

        let (rows, cols) = grid(self.panels.len());
        let areas = body.split_evenly((rows, cols));
        if self.panels.is_empty() {
            let chart = plain_chart(&areas[0], None, x, y, "time (ms)", self.y_label)?;
            note_center(chart.plotting_area(), "no data")?;
            return Ok(Vec::new());
        }
        for ((panel, traces), area) in self.panels.iter().zip(&data).zip(&areas) {
            let mut chart = plain_chart(
                area,
                Some(&panel.title),
                x.clone(),
                y.clone(),
                "time (ms)",
                self.y_label,
            )?;
            draw_output_traces(&mut chart, traces, &x, &y)?;
        }
        Ok(Vec::new())
    }
}

/// One panel's traces: a zero line, then the main trace under the
/// comparison, the target and the thresholds.
fn draw_output_traces<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    traces: &[StyledPoints],
    x: &Range<f64>,
    y: &Range<f64>,
) -> DrawResult {
    if y.start < 0.0 && y.end > 0.0 {
        chart
            .draw_series(LineSeries::new(
                vec![(x.start, 0.0), (x.end, 0.0)],
                BLACK.mix(0.25).stroke_width(1),
            ))
            .msg()?;
    }
    for order in [
        TraceStyle::Main,
        TraceStyle::Secondary,
        TraceStyle::Target,
        TraceStyle::Threshold,
    ] {
        for (style, pts) in traces.iter().filter(|(s, _)| *s == order) {
            let (color, width, dash) = trace_look(*style);
            let st = color.stroke_width(width);
            let pts = pts.iter().copied();
            match dash {
                None => chart.draw_series(LineSeries::new(pts, st)),
                Some((size, gap)) => chart.draw_series(DashedLineSeries::new(pts, size, gap, st)),
            }
            .map(|_| ())
            .msg()?;
        }
    }
    if traces.iter().all(|(_, pts)| pts.is_empty()) {
        note_center(chart.plotting_area(), "no data")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Raster
// ---------------------------------------------------------------------------

struct RasterFigure<'a> {
    panels: &'a [RasterPanel],
}

impl Figure for RasterFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<Vec<Marks>> {
        let legend = [
            ("excitatory".to_string(), Mark::Tick(EXC_COLOR)),
            ("inhibitory".to_string(), Mark::Tick(INH_COLOR)),
        ];
        let body = title_and_legend(root, "Spike rasters", &legend)?;
        let (rows, cols) = grid(self.panels.len());
        let areas = body.split_evenly((rows, cols));
        let y_desc = "unit (sorted: excitatory below, inhibitory above)";
        if self.panels.is_empty() {
            let chart = plain_chart(&areas[0], None, 0.0..1.0, 0.0..1.0, "time (ms)", y_desc)?;
            note_center(chart.plotting_area(), "no data")?;
            return Ok(Vec::new());
        }
        let mut exc = Marks {
            color: EXC_COLOR,
            ticks: Vec::new(),
        };
        let mut inh = Marks {
            color: INH_COLOR,
            ticks: Vec::new(),
        };
        for (panel, area) in self.panels.iter().zip(&areas) {
            draw_raster_panel(area, panel, y_desc, &mut exc.ticks, &mut inh.ticks)?;
        }
        Ok(vec![exc, inh])
    }
}

fn draw_raster_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &RasterPanel,
    y_desc: &str,
    exc: &mut Vec<(i32, i32, i32)>,
    inh: &mut Vec<(i32, i32, i32)>,
) -> DrawResult {
    let max_unit = p
        .spikes
        .iter()
        .filter(|s| s.1.is_finite())
        .map(|s| s.0 as usize + 1)
        .max()
        .unwrap_or(0);
    let n = p.n_units.max(max_unit);
    let is_inh = |i: usize| p.inh.get(i).copied().unwrap_or(false);
    // Rank: excitatory units first (bottom), then inhibitory, each in index order.
    let mut rank = vec![0usize; n];
    let mut next = 0;
    for pass_inh in [false, true] {
        for (i, r) in rank.iter_mut().enumerate() {
            if is_inh(i) == pass_inh {
                *r = next;
                next += 1;
            }
        }
    }
    let n_exc = (0..n).filter(|&i| !is_inh(i)).count();

    let t_end = if p.t_max_ms.is_finite() && p.t_max_ms > 0.0 {
        p.t_max_ms
    } else {
        finite_bounds(p.spikes.iter().map(|s| s.1))
            .map_or(1.0, |(_, hi)| if hi > 0.0 { hi } else { 1.0 })
    };
    let x = 0.0..t_end;
    let y = 0.0..(n.max(1) as f64);
    let mut chart = plain_chart(area, Some(&p.title), x, y, "time (ms)", y_desc)?;

    // Ticks in figure pixels, most of a row high (at least 1 px); marks that
    // would land on the same pixels are kept once, which bounds the SVG size.
    let (_, h_px) = chart.plotting_area().dim_in_pixel();
    let row_px = h_px as f64 / n.max(1) as f64;
    let frac = if row_px >= 3.0 { 0.8 } else { 1.0 };
    let mut seen: HashSet<(i32, i32, i32)> = HashSet::new();
    let (n_exc0, n_inh0) = (exc.len(), inh.len());
    for &(u, t) in &p.spikes {
        if !t.is_finite() || t < 0.0 || t > t_end {
            continue;
        }
        let u = u as usize;
        let y0 = rank[u] as f64 + 0.5 + frac / 2.0;
        let (x, top) = chart.backend_coord(&(t, y0));
        let (_, bottom) = chart.backend_coord(&(t, y0 - frac));
        let tick = (x, top, bottom.max(top + 1));
        if seen.insert(tick) {
            if is_inh(u) {
                inh.push(tick);
            } else {
                exc.push(tick);
            }
        }
    }
    if n_exc > 0 && n_exc < n {
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, n_exc as f64), (t_end, n_exc as f64)],
                BLACK.mix(0.35).stroke_width(1),
            ))
            .msg()?;
    }
    if exc.len() == n_exc0 && inh.len() == n_inh0 {
        note_center(chart.plotting_area(), "no spikes")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Lambda curve
// ---------------------------------------------------------------------------

struct LambdaFigure<'a> {
    points: &'a [LambdaMark],
    chosen: f64,
}

/// Marker colour, size (px) and legend text of a kind of λ point.
fn lambda_look(kind: LambdaKind) -> (RGBColor, i32, &'static str) {
    match kind {
        LambdaKind::Grid => (MAIN_COLOR, 5, "coarse grid"),
        LambdaKind::Refined => (SECONDARY_COLOR, 6, "refinement"),
        LambdaKind::Finalist => (GREEN_COLOR, 6, "finalist (trials pooled)"),
        LambdaKind::Stored => (MAIN_COLOR, 5, "stored search record"),
    }
}

/// A λ point in % with its interval in %.
type PctPoint = (f64, f64, Option<(f64, f64)>, LambdaKind);

impl Figure for LambdaFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<Vec<Marks>> {
        let body = title_and_legend(root, "Spiking accuracy vs scaling factor λ", &[])?;
        let mut pts: Vec<PctPoint> = self
            .points
            .iter()
            .filter(|p| p.lambda.is_finite() && p.accuracy.is_finite())
            .map(|p| {
                let ci = p.ci95.map(|(a, b)| (100.0 * a, 100.0 * b));
                (p.lambda, 100.0 * p.accuracy, ci, p.kind)
            })
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let chosen = pts.iter().find(|p| p.0 == self.chosen).map(|p| (p.0, p.1));
        let ys = || {
            pts.iter()
                .flat_map(|p| [Some(p.1), p.2.map(|c| c.0)])
                .flatten()
        };
        let x = padded(finite_bounds(pts.iter().map(|p| p.0)), 0.06, 0.0..100.0);
        let ylo = finite_bounds(ys()).map_or(0.0, |b| b.0.min(0.0));
        let yhi = finite_bounds(ys()).map_or(100.0, |b| b.1.max(100.0));
        let y = ylo..yhi + 8.0;
        let corner = legend_corner(
            pts.iter()
                .map(|p| (frac(p.0, &x), frac(p.1, &y)))
                .chain((0..=20).map(|k| (k as f64 / 20.0, frac(95.0, &y)))),
            &[
                SeriesLabelPosition::LowerRight,
                SeriesLabelPosition::LowerLeft,
                SeriesLabelPosition::UpperRight,
                SeriesLabelPosition::UpperLeft,
            ],
        );
        let mut chart = plain_chart(
            &body,
            None,
            x.clone(),
            y,
            "scaling factor λ (dimensionless)",
            "spiking accuracy (%)",
        )?;
        draw_criterion_line(&mut chart, &x)?;
        draw_lambda_points(&mut chart, &pts)?;
        if let Some(b) = chosen {
            let label = format!("chosen: λ = {}, accuracy {:.1} %", fmt_num(b.0), b.1);
            chart
                .draw_series(std::iter::once(Circle::new(
                    b,
                    10,
                    EXC_COLOR.stroke_width(3),
                )))
                .msg()?
                .label(label)
                .legend(|(x, y)| Circle::new((x + 10, y), 6, EXC_COLOR.stroke_width(2)));
        }
        if pts.is_empty() {
            note_center(chart.plotting_area(), "no data")?;
        }
        draw_series_legend(&mut chart, corner)?;
        Ok(Vec::new())
    }
}

/// The λ points: a line in λ order, interval bars, a marker per kind (one
/// legend entry each).
fn draw_lambda_points<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    pts: &[PctPoint],
) -> DrawResult {
    chart
        .draw_series(LineSeries::new(
            pts.iter().map(|p| (p.0, p.1)),
            MAIN_COLOR.mix(0.5).stroke_width(2),
        ))
        .msg()?;
    let bars = pts.iter().filter_map(|p| p.2.map(|c| (p.0, c)));
    let mut any_bar = false;
    for (l, (lo, hi)) in bars {
        any_bar = true;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(l, lo), (l, hi)],
                GRAY_COLOR.stroke_width(1),
            )))
            .msg()?;
    }
    if any_bar {
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
            .msg()?
            .label("95 % interval")
            .legend(|(x, y)| {
                PathElement::new(
                    vec![(x + 10, y - 7), (x + 10, y + 7)],
                    GRAY_COLOR.stroke_width(1),
                )
            });
    }
    for kind in [
        LambdaKind::Grid,
        LambdaKind::Stored,
        LambdaKind::Refined,
        LambdaKind::Finalist,
    ] {
        let of_kind: Vec<(f64, f64)> = pts
            .iter()
            .filter(|p| p.3 == kind)
            .map(|p| (p.0, p.1))
            .collect();
        if of_kind.is_empty() {
            continue;
        }
        let (color, size, label) = lambda_look(kind);
        let style = color.filled();
        let square = move |c: (f64, f64)| {
            EmptyElement::at(c) + Rectangle::new([(-size, -size), (size, size)], style)
        };
        match kind {
            LambdaKind::Refined => chart
                .draw_series(
                    of_kind
                        .iter()
                        .map(|&c| TriangleMarker::new(c, size + 1, style)),
                )
                .msg()?
                .label(label)
                .legend(move |(x, y)| TriangleMarker::new((x + 10, y), size + 1, style)),
            LambdaKind::Finalist => chart
                .draw_series(of_kind.iter().map(|&c| square(c)))
                .msg()?
                .label(label)
                .legend(move |(x, y)| {
                    EmptyElement::at((x + 10, y))
                        + Rectangle::new([(-size, -size), (size, size)], style)
                }),
            LambdaKind::Grid | LambdaKind::Stored => chart
                .draw_series(of_kind.iter().map(|&c| Circle::new(c, size, style)))
                .msg()?
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 10, y), size, style)),
        };
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Histograms (tau, firing rates)
// ---------------------------------------------------------------------------

struct HistGroup<'a> {
    name: &'a str,
    color: RGBColor,
    values: &'a [f64],
}

struct HistFigure<'a> {
    title: &'a str,
    x_desc: &'a str,
    unit: &'a str,
    groups: Vec<HistGroup<'a>>,
    /// The quantity is nonnegative: start the x axis at 0 when possible.
    from_zero: bool,
}

impl HistFigure<'_> {
    /// The bin range, bin width and each group's counts (same bins).
    fn bins(&self) -> (Range<f64>, f64, Vec<Vec<usize>>) {
        let values = || {
            self.groups
                .iter()
                .flat_map(|g| g.values.iter().copied())
                .filter(|v| v.is_finite())
        };
        let n_max = self
            .groups
            .iter()
            .map(|g| g.values.len())
            .max()
            .unwrap_or(0);
        let n_bins = ((n_max as f64).sqrt() * 1.5).clamp(10.0, 40.0) as usize;
        let bounds = finite_bounds(values());
        let mut range = padded(bounds, 0.0, 0.0..1.0);
        if let (true, Some((lo, hi))) = (self.from_zero, bounds) {
            // Nonnegative quantity: keep the axis at 0 and above.
            if hi <= 0.0 && lo >= 0.0 {
                range = 0.0..1.0;
            } else if lo >= 0.0 && lo <= 0.5 * hi {
                range.start = 0.0;
            }
        }
        let width = (range.end - range.start) / n_bins as f64;
        let counts: Vec<Vec<usize>> = self
            .groups
            .iter()
            .map(|g| {
                let mut c = vec![0usize; n_bins];
                for &v in g.values.iter().filter(|v| v.is_finite()) {
                    let k = ((v - range.start) / width)
                        .floor()
                        .clamp(0.0, (n_bins - 1) as f64);
                    c[k as usize] += 1;
                }
                c
            })
            .collect();
        (range, width, counts)
    }
}

impl Figure for HistFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<Vec<Marks>> {
        let body = title_and_legend(root, self.title, &[])?;
        let values = || {
            self.groups
                .iter()
                .flat_map(|g| g.values.iter().copied())
                .filter(|v| v.is_finite())
        };
        let (range, width, counts) = self.bins();
        let c_max = counts.iter().flatten().copied().max().unwrap_or(0).max(1);
        let x = (range.start - width)..(range.end + width);
        let y = 0.0..(c_max as f64 * 1.25).max(c_max as f64 + 1.0);
        // Bars as sample points (bottom to top) for choosing the legend corner.
        let mut samples = Vec::new();
        for c in &counts {
            for (i, &k) in c.iter().enumerate() {
                let fx = frac(range.start + (i as f64 + 0.5) * width, &x);
                samples.extend((0..=4).map(|j| (fx, frac(k as f64 * j as f64 / 4.0, &y))));
            }
        }
        let corner = legend_corner(samples, &CORNERS);
        let mut chart = plain_chart(
            &body,
            None,
            x.clone(),
            y.clone(),
            self.x_desc,
            "number of units",
        )?;

        let mut means = Vec::new();
        for (g, c) in self.groups.iter().zip(&counts) {
            let fill = g.color.mix(0.45);
            let edge = g.color;
            let m = mean(g.values);
            let label = match m {
                Some(m) => format!(
                    "{} (n = {}, mean {} {})",
                    g.name,
                    g.values.iter().filter(|v| v.is_finite()).count(),
                    fmt_num(m),
                    self.unit
                ),
                None => format!("{} (no data)", g.name),
            };
            let bars = || {
                c.iter().enumerate().filter(|(_, &k)| k > 0).map(|(i, &k)| {
                    let x0 = range.start + i as f64 * width;
                    [(x0, 0.0), (x0 + width, k as f64)]
                })
            };
            chart
                .draw_series(bars().map(|r| Rectangle::new(r, fill.filled())))
                .msg()?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x + 2, y - 6), (x + 18, y + 6)], fill.filled())
                });
            chart
                .draw_series(bars().map(|r| Rectangle::new(r, edge.stroke_width(1))))
                .msg()?;
            if let Some(m) = m {
                means.push((m, edge));
            }
        }
        draw_means(&mut chart, &means, c_max as f64 * 1.05)?;
        if values().next().is_none() {
            note_center(chart.plotting_area(), "no data")?;
        }
        draw_series_legend(&mut chart, corner)?;
        Ok(Vec::new())
    }
}

/// Dashed vertical lines at the groups' means (on top of all bars, up to
/// `top`), with one legend entry.
fn draw_means<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    means: &[(f64, RGBColor)],
    top: f64,
) -> DrawResult {
    for &(m, color) in means {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(m, 0.0), (m, top)],
                6,
                4,
                color.stroke_width(2),
            ))
            .msg()?;
    }
    if !means.is_empty() {
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
            .msg()?
            .label("dashed lines: means")
            .legend(|(x, y)| {
                plotters::element::DashedPathElement::new(
                    vec![(x, y), (x + 20, y)],
                    5,
                    3,
                    GRAY_COLOR.stroke_width(2),
                )
            });
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks both files of a figure: the PNG's magic and IHDR size, and that
    /// the SVG is well-formed enough and contains `needles`.
    fn check(stem: &Path, size: (u32, u32), needles: &[&str]) {
        let png = std::fs::read(with_suffix(stem, ".png")).expect("png written");
        assert!(png.len() > 1000, "png too small: {} bytes", png.len());
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert_eq!((w, h), size);
        let svg = std::fs::read_to_string(with_suffix(stem, ".svg")).expect("svg written");
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.len() < 1_000_000, "svg is {} bytes", svg.len());
        assert!(svg.contains(&format!("width=\"{}\"", size.0)));
        for n in needles {
            assert!(svg.contains(n), "svg lacks {n:?}");
        }
        // No temporary files left behind.
        let dir = stem.parent().unwrap();
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            assert!(
                name.ends_with(".png") || name.ends_with(".svg") || name == "plain_file",
                "left over {name}"
            );
        }
    }

    fn square(t: &[f64], on: f64, off: f64) -> Vec<f64> {
        t.iter()
            .map(|&x| if x >= on && x < off { 1.0 } else { 0.0 })
            .collect()
    }

    #[test]
    fn training_loss_writes_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let losses: Vec<f64> = (0..3000)
            .map(|k| 40.0 * (-(k as f64) / 600.0).exp() + 2.0 + (k % 7) as f64 * 0.3)
            .collect();
        let evals: Vec<(usize, f64, f64)> = (1..=30)
            .map(|k| {
                (
                    k * 100,
                    40.0 * (-(k as f64) / 6.0).exp() + 2.0,
                    (k as f64 / 30.0).min(1.0),
                )
            })
            .collect();
        let stem = dir.path().join("loss");
        training_loss(&stem, &losses, &evals, Some(7.0)).unwrap();
        check(
            &stem,
            (900, 720),
            &[
                "training trial",
                "loss (dimensionless, log scale)",
                "evaluation accuracy (%)",
                "stopping rule: loss &lt; 7",
            ],
        );
        let stem = dir.path().join("loss_only");
        training_loss(&stem, &losses, &[], None).unwrap();
        check(
            &stem,
            DEFAULT_SIZE,
            &["training trial", "loss (dimensionless, log scale)"],
        );
    }

    #[test]
    fn output_panels_writes_both_files_and_decimates() {
        let dir = tempfile::tempdir().unwrap();
        let t: Vec<f64> = (0..20_000).map(|i| i as f64 * 0.05).collect();
        let panels: Vec<Panel> = (0..8)
            .map(|p| Panel {
                title: format!("type {p}"),
                traces: vec![
                    Trace {
                        label: "spiking output".into(),
                        t_ms: t.clone(),
                        y: t.iter().map(|x| (x / 50.0 + p as f64).sin()).collect(),
                        style: TraceStyle::Main,
                    },
                    Trace {
                        label: "rate output".into(),
                        t_ms: t.clone(),
                        y: t.iter().map(|x| (x / 60.0).cos()).collect(),
                        style: TraceStyle::Secondary,
                    },
                    Trace {
                        label: "target".into(),
                        t_ms: t.clone(),
                        y: square(&t, 375.0, 1000.0),
                        style: TraceStyle::Target,
                    },
                ],
            })
            .collect();
        let stem = dir.path().join("out8");
        output_panels(&stem, "Spiking vs rate", &panels, "output (a.u.)").unwrap();
        check(
            &stem,
            (1800, 730),
            &["time (ms)", "output (a.u.)", "spiking output"],
        );
        let stem = dir.path().join("out2");
        output_panels(&stem, "Go-NoGo", &panels[..2], "output (a.u.)").unwrap();
        check(&stem, (900, 490), &["time (ms)", "output (a.u.)"]);
    }

    #[test]
    fn decimation_keeps_extremes_and_bounds_size() {
        let t: Vec<f64> = (0..20_000).map(|i| i as f64).collect();
        let mut y = vec![0.0; 20_000];
        y[12_345] = 5.0;
        y[777] = -3.0;
        y[100] = f64::NAN;
        let d = decimate(&t, &y, MAX_TRACE_POINTS);
        assert!(d.len() <= MAX_TRACE_POINTS);
        assert!(d.contains(&(12_345.0, 5.0)));
        assert!(d.contains(&(777.0, -3.0)));
        assert!(d.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(
            decimate(&[1.0, 2.0], &[f64::NAN, 1.0], 10),
            vec![(2.0, 1.0)]
        );
    }

    #[test]
    fn raster_writes_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let inh: Vec<bool> = (0..200).map(|i| i % 5 == 0).collect();
        let spikes: Vec<(u32, f64)> = (0..6000)
            .map(|k| ((k * 37 % 200) as u32, (k * 7919 % 10_000) as f64 / 10.0))
            .collect();
        let panels = vec![
            RasterPanel {
                title: "Go trial".into(),
                n_units: 200,
                t_max_ms: 1000.0,
                spikes: spikes.clone(),
                inh: inh.clone(),
            },
            RasterPanel {
                title: "NoGo trial".into(),
                n_units: 200,
                t_max_ms: 1000.0,
                spikes,
                inh,
            },
        ];
        let stem = dir.path().join("raster");
        raster(&stem, &panels).unwrap();
        check(
            &stem,
            (900, 510),
            &["time (ms)", "excitatory below", "inhibitory"],
        );
    }

    #[test]
    fn lambda_curve_writes_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut pts: Vec<LambdaMark> = (0..12)
            .map(|k| {
                let l = 20.0 + 5.0 * k as f64;
                let a = (1.0 - ((l - 37.0) / 30.0).powi(2)).clamp(0.5, 1.0);
                LambdaMark {
                    lambda: l,
                    accuracy: a,
                    ci95: Some((a - 0.05, (a + 0.03).min(1.0))),
                    kind: LambdaKind::Grid,
                }
            })
            .collect();
        for (l, a, kind) in [
            (33.0, 0.96, LambdaKind::Refined),
            (36.0, 0.99, LambdaKind::Finalist),
        ] {
            pts.push(LambdaMark {
                lambda: l,
                accuracy: a,
                ci95: Some((a - 0.03, 1.0)),
                kind,
            });
        }
        let stem = dir.path().join("lambda");
        lambda_curve(&stem, &pts, 36.0).unwrap();
        check(
            &stem,
            DEFAULT_SIZE,
            &[
                "scaling factor",
                "spiking accuracy (%)",
                "95 % criterion",
                "finalist",
                "chosen: λ = 36",
                "95 % interval",
            ],
        );
        // From a model file: no stages, never called "coarse grid".
        for p in &mut pts {
            p.kind = LambdaKind::Stored;
            p.ci95 = None;
        }
        let stem = dir.path().join("lambda_stored");
        lambda_curve(&stem, &pts, 36.0).unwrap();
        let svg = std::fs::read_to_string(with_suffix(&stem, ".svg")).unwrap();
        assert!(svg.contains("stored search record") && !svg.contains("coarse grid"));
        assert!(!svg.contains("95 % interval"));
    }

    #[test]
    fn histograms_write_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let taus: Vec<f64> = (0..200).map(|i| 20.0 + (i * 13 % 31) as f64).collect();
        let init: Vec<f64> = (0..200).map(|i| 20.0 + (i * 7 % 29) as f64).collect();
        let stem = dir.path().join("tau");
        tau_histogram(&stem, &taus, Some(&init)).unwrap();
        check(&stem, DEFAULT_SIZE, &["(ms)", "number of units", "initial"]);
        let stem = dir.path().join("tau1");
        tau_histogram(&stem, &taus, None).unwrap();
        check(&stem, DEFAULT_SIZE, &["(ms)", "trained"]);

        let exc: Vec<f64> = (0..160).map(|i| (i % 23) as f64).collect();
        let inh: Vec<f64> = (0..40).map(|i| 10.0 + (i % 31) as f64).collect();
        let stem = dir.path().join("rates");
        firing_rates(&stem, &exc, &inh, "one trial per trial type, 2 trials").unwrap();
        check(
            &stem,
            DEFAULT_SIZE,
            &[
                "firing rate (Hz)",
                "number of units",
                "(one trial per trial type, 2 trials)",
                "excitatory",
                "inhibitory",
            ],
        );
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let nan = f64::NAN;
        let inf = f64::INFINITY;

        training_loss(&d.join("l0"), &[], &[], Some(7.0)).unwrap();
        training_loss(&d.join("l1"), &[nan, nan], &[(0, nan, nan)], Some(7.0)).unwrap();
        training_loss(&d.join("l2"), &[3.0; 10], &[(10, 3.0, 0.5)], Some(7.0)).unwrap();
        training_loss(&d.join("l3"), &[0.0, 1e-12, inf, 5.0, -1.0], &[], Some(7.0)).unwrap();

        output_panels(&d.join("o0"), "empty", &[], "output (a.u.)").unwrap();
        let flat = Panel {
            title: "flat".into(),
            traces: vec![
                Trace {
                    label: "constant".into(),
                    t_ms: vec![5.0; 3],
                    y: vec![2.0; 3],
                    style: TraceStyle::Main,
                },
                Trace {
                    label: "nan".into(),
                    t_ms: vec![nan, 1.0],
                    y: vec![1.0, nan],
                    style: TraceStyle::Target,
                },
                Trace {
                    label: "empty".into(),
                    t_ms: vec![],
                    y: vec![],
                    style: TraceStyle::Secondary,
                },
            ],
        };
        let empty = Panel {
            title: "nothing".into(),
            traces: vec![],
        };
        output_panels(&d.join("o1"), "flat", &[flat, empty], "output (a.u.)").unwrap();

        for stem in ["l0", "l1", "o0", "o1"] {
            assert!(d.join(format!("{stem}.png")).metadata().unwrap().len() > 0);
            assert!(d.join(format!("{stem}.svg")).metadata().unwrap().len() > 0);
        }
    }

    #[test]
    fn degenerate_rasters_lambdas_and_histograms_do_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (nan, inf) = (f64::NAN, f64::INFINITY);
        raster(&d.join("r0"), &[]).unwrap();
        raster(
            &d.join("r1"),
            &[
                RasterPanel {
                    title: "silent".into(),
                    n_units: 0,
                    t_max_ms: 0.0,
                    spikes: vec![],
                    inh: vec![],
                },
                RasterPanel {
                    title: "odd".into(),
                    n_units: 2,
                    t_max_ms: nan,
                    spikes: vec![(5, 1.0), (0, nan), (1, -3.0), (1, inf)],
                    inh: vec![true],
                },
            ],
        )
        .unwrap();

        lambda_curve(&d.join("la0"), &[], nan).unwrap();
        let one = LambdaMark {
            lambda: 35.0,
            accuracy: 0.5,
            ci95: Some((nan, 0.6)),
            kind: LambdaKind::Refined,
        };
        lambda_curve(&d.join("la1"), &[one], 35.0).unwrap();

        tau_histogram(&d.join("t0"), &[], None).unwrap();
        tau_histogram(&d.join("t1"), &[25.0; 50], Some(&[nan, inf])).unwrap();
        firing_rates(&d.join("f0"), &[], &[], "no trials").unwrap();
        firing_rates(&d.join("f1"), &[0.0; 10], &[nan], "test").unwrap();

        for stem in ["r0", "r1", "la0", "t0", "f0", "f1"] {
            assert!(d.join(format!("{stem}.png")).metadata().unwrap().len() > 0);
            assert!(d.join(format!("{stem}.svg")).metadata().unwrap().len() > 0);
        }
    }

    #[test]
    fn bad_path_is_a_plot_or_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain_file");
        std::fs::write(&file, b"x").unwrap();
        // A stem below a regular file cannot be created.
        let err = firing_rates(&file.join("rates"), &[1.0], &[2.0], "test").unwrap_err();
        assert!(
            matches!(err, Error::Io { .. } | Error::Plot { .. }),
            "{err}"
        );
    }

    #[test]
    fn helpers_handle_degenerate_ranges() {
        assert_eq!(padded(None, 0.1, 0.0..1.0), 0.0..1.0);
        let r = padded(Some((0.0, 0.0)), 0.1, 0.0..1.0);
        assert!(r.start < r.end);
        let r = padded(Some((1e9, 1e9)), 0.1, 0.0..1.0);
        assert!(r.start < r.end);
        let r = padded(Some((f64::MIN, f64::MAX)), 0.1, 0.0..1.0);
        assert_eq!(r, 0.0..1.0);
        assert_eq!(grid(8), (2, 4));
        assert_eq!(grid(4), (2, 2));
        assert_eq!(grid(2), (1, 2));
        assert_eq!(grid(0), (1, 1));
        assert_eq!(
            running_mean(&[1.0, f64::NAN, 3.0], 2),
            vec![(1.0, 1.0), (2.0, 1.0), (3.0, 3.0)]
        );
        assert_eq!(fmt_num(35.0), "35");
        assert_eq!(fmt_num(0.25), "0.25");
    }
}

// ---------------------------------------------------------------------------
// Sweep curves
// ---------------------------------------------------------------------------

/// One x value of a [`CurveSeries`]: a metric over the jobs at that point.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvePoint {
    /// The axis value as text (drawn as a tick label when not numeric).
    pub label: String,
    /// Horizontal position: the value, or its index for a non-numeric axis.
    pub x: f64,
    /// Number of values.
    pub n: usize,
    /// Their mean (NaN without values).
    pub mean: f64,
    /// Their sample standard deviation.
    pub sd: f64,
    /// How many are ≥ the target.
    pub n_ok: usize,
}

impl CurvePoint {
    /// The statistics of `vals` at axis value `label` (position `index`).
    pub fn of(label: String, index: usize, vals: &[f64], target: f64) -> Self {
        let n = vals.len();
        let mean = vals.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt()
        } else {
            0.0
        };
        CurvePoint {
            x: label.parse().unwrap_or(index as f64),
            label,
            n,
            mean,
            sd,
            n_ok: vals.iter().filter(|&&v| v >= target - 1e-12).count(),
        }
    }
}

/// One line of [`sweep_curve`].
#[derive(Debug, Clone, PartialEq)]
pub struct CurveSeries {
    /// Legend text, e.g. `search.tr_ms = 0`.
    pub label: String,
    /// Its points, in axis order.
    pub points: Vec<CurvePoint>,
}

/// A sweep's metric against an axis: mean ± sd per point (one line per
/// series) and, with a `target`, beside it the fraction of values ≥
/// `target` (%). A
/// non-numeric axis is drawn at positions 0, 1, … with its values as tick
/// labels. Writes `<stem>.png` and `<stem>.svg`.
pub fn sweep_curve(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[CurveSeries],
    target: Option<f64>,
) -> Result<()> {
    let mut series = series.to_vec();
    let numeric = series
        .iter()
        .flat_map(|s| &s.points)
        .all(|p| p.label.parse::<f64>().is_ok());
    if !numeric {
        for s in &mut series {
            for (i, p) in s.points.iter_mut().enumerate() {
                p.x = i as f64;
            }
        }
    }
    let fig = SweepFigure {
        title,
        x_label,
        y_label,
        series: &series,
        target,
        numeric,
    };
    render(stem, (if target.is_some() { 1200 } else { 800 }, 500), &fig)
}

struct SweepFigure<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    series: &'a [CurveSeries],
    target: Option<f64>,
    numeric: bool,
}

const SERIES_COLORS: [RGBColor; 6] = [
    MAIN_COLOR,
    SECONDARY_COLOR,
    GREEN_COLOR,
    EXC_COLOR,
    RGBColor(148, 103, 189),
    GRAY_COLOR,
];

impl Figure for SweepFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<Vec<Marks>> {
        let body = title_and_legend(root, self.title, &[])?;
        let split = if self.target.is_some() { 55 } else { 100 };
        let (left, right) = body.split_horizontally(body.dim_in_pixel().0 as i32 * split / 100);
        let pts = || self.series.iter().flat_map(|s| &s.points);
        let x = padded(finite_bounds(pts().map(|p| p.x)), 0.06, 0.0..1.0);
        let ys = pts()
            .filter(|p| p.mean.is_finite())
            .flat_map(|p| [p.mean - p.sd, p.mean + p.sd]);
        let y = padded(finite_bounds(ys), 0.08, 0.0..1.0);
        let labels: Vec<String> = self
            .series
            .first()
            .map(|s| s.points.iter().map(|p| p.label.clone()).collect())
            .unwrap_or_default();
        let ylab = format!("{} (mean ± sd)", self.y_label);
        let mut c = self.chart(&left, x.clone(), y, &ylab, &labels)?;
        for (k, s) in self.series.iter().enumerate() {
            let col = SERIES_COLORS[k % SERIES_COLORS.len()];
            let ok: Vec<&CurvePoint> = s.points.iter().filter(|p| p.mean.is_finite()).collect();
            for p in &ok {
                c.draw_series(std::iter::once(PathElement::new(
                    vec![(p.x, p.mean - p.sd), (p.x, p.mean + p.sd)],
                    col.stroke_width(1),
                )))
                .msg()?;
            }
            c.draw_series(LineSeries::new(
                ok.iter().map(|p| (p.x, p.mean)),
                col.stroke_width(2),
            ))
            .msg()?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
            c.draw_series(
                ok.iter()
                    .map(|p| Circle::new((p.x, p.mean), 4, col.filled())),
            )
            .msg()?;
        }
        draw_series_legend(&mut c, SeriesLabelPosition::LowerRight)?;
        let Some(target) = self.target else {
            return Ok(Vec::new());
        };
        let flab = format!("fraction ≥ {} (%)", fmt_num(target));
        let mut c = self.chart(&right, x, 0.0..105.0, &flab, &labels)?;
        for (k, s) in self.series.iter().enumerate() {
            let col = SERIES_COLORS[k % SERIES_COLORS.len()];
            let f: Vec<(f64, f64)> = s
                .points
                .iter()
                .filter(|p| p.n > 0)
                .map(|p| (p.x, 100.0 * p.n_ok as f64 / p.n as f64))
                .collect();
            c.draw_series(LineSeries::new(f.iter().copied(), col.stroke_width(2)))
                .msg()?;
            c.draw_series(f.iter().map(|&q| Circle::new(q, 4, col.filled())))
                .msg()?;
        }
        Ok(Vec::new())
    }
}

impl SweepFigure<'_> {
    fn chart<'a, DB: DrawingBackend>(
        &self,
        area: &'a DrawingArea<DB, Shift>,
        x: Range<f64>,
        y: Range<f64>,
        y_desc: &str,
        labels: &[String],
    ) -> DrawResult<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>> {
        let mut chart = ChartBuilder::on(area)
            .margin(8)
            .margin_right(18)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x, y)
            .msg()?;
        let numeric = self.numeric;
        let fx = move |v: &f64| {
            if numeric {
                fmt_num(*v)
            } else {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            }
        };
        let n_labels = if numeric { 10 } else { labels.len().max(1) };
        chart
            .configure_mesh()
            .x_desc(self.x_label)
            .y_desc(y_desc)
            .x_labels(n_labels)
            .y_labels(7)
            .x_label_formatter(&fx)
            .y_label_formatter(&|v| fmt_num(*v))
            .axis_desc_style(text_style(AXIS_DESC_SIZE))
            .label_style(text_style(TICK_SIZE))
            .light_line_style(BLACK.mix(0.04))
            .bold_line_style(BLACK.mix(0.12))
            .draw()
            .msg()?;
        Ok(chart)
    }
}
