//! Draws every figure of `spikernn::report::plot` from synthetic data, to look at them.
//!
//! ```text
//! cargo run --release --example plot_gallery -- /tmp/gallery
//! ```
//!
//! Writes `<dir>/<name>.png` and `<dir>/<name>.svg` for each figure.

use std::path::{Path, PathBuf};

use spikernn::report::plot::{
    firing_rates, lambda_curve, output_panels, raster, tau_histogram, training_loss, LambdaKind,
    LambdaMark, Panel, RasterPanel, Trace, TraceStyle,
};

/// A small deterministic pseudo-random generator (xorshift64*), in [0, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal via Box-Muller.
    fn normal(&mut self) -> f64 {
        let u = self.next().max(1e-12);
        let v = self.next();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// First-order low-pass response (time constant `tau` ms) to a target.
fn smooth(t: &[f64], target: &[f64], tau: f64) -> Vec<f64> {
    let mut y = 0.0;
    let mut out = Vec::with_capacity(t.len());
    for k in 0..t.len() {
        let dt = if k == 0 { 0.0 } else { t[k] - t[k - 1] };
        y += dt / tau * (target[k] - y);
        out.push(y);
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "plot_gallery".to_string()),
    );
    std::fs::create_dir_all(&dir)?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    loss_figures(&dir, &mut rng)?;
    output_figures(&dir, &mut rng)?;
    spiking_figures(&dir, &mut rng)?;
    let inh = raster_figure(&dir, &mut rng)?;
    lambda_figure(&dir, &mut rng)?;
    histograms(&dir, &mut rng)?;
    degenerate_figures(&dir, &inh)?;
    println!("figures written to {}", dir.display());
    Ok(())
}

/// Training loss: 2200 trials, evaluation every 100.
fn loss_figures(dir: &Path, rng: &mut Rng) -> Result<(), Box<dyn std::error::Error>> {
    // Training loss: 2200 trials, evaluation every 100.
    let losses: Vec<f64> = (0..2200)
        .map(|k| {
            let base = 60.0 * (-(k as f64) / 350.0).exp() + 3.0;
            base * (1.0 + 0.35 * rng.normal()).abs()
        })
        .collect();
    let evals: Vec<(usize, f64, f64)> = (1..=22)
        .map(|k| {
            let tr = k * 100;
            let loss = 60.0 * (-(tr as f64) / 350.0).exp() + 3.0;
            let acc = (1.0 - (-(tr as f64) / 400.0).exp()).min(0.99);
            (tr, loss, acc)
        })
        .collect();
    training_loss(&dir.join("training_loss"), &losses, &evals, Some(7.0))?;
    training_loss(
        &dir.join("training_loss_noeval"),
        &losses[..800],
        &[],
        Some(7.0),
    )?;

    Ok(())
}

/// Rate output vs target (Go-NoGo).
fn output_figures(dir: &Path, rng: &mut Rng) -> Result<(), Box<dyn std::error::Error>> {
    // Go-NoGo: rate output vs target (rate steps of 5 ms, 200 steps).
    let t_rate: Vec<f64> = (0..199).map(|k| (k + 1) as f64 * 5.0).collect();
    let go_target: Vec<f64> = t_rate
        .iter()
        .map(|&t| if t >= 375.0 { 1.0 } else { 0.0 })
        .collect();
    let nogo_target = vec![0.0; t_rate.len()];
    let rate_panels: Vec<Panel> = [("Go", &go_target), ("NoGo", &nogo_target)]
        .iter()
        .map(|(name, target)| {
            let mut y = smooth(&t_rate, target, 40.0);
            for v in &mut y {
                *v += 0.03 * rng.normal();
            }
            Panel {
                title: format!("{name} trial"),
                traces: vec![
                    Trace {
                        label: "rate output".into(),
                        t_ms: t_rate.clone(),
                        y,
                        style: TraceStyle::Main,
                    },
                    Trace {
                        label: "target".into(),
                        t_ms: t_rate.clone(),
                        y: target.to_vec(),
                        style: TraceStyle::Target,
                    },
                ],
            }
        })
        .collect();
    output_panels(
        &dir.join("rate_output"),
        "Go-NoGo: rate network output vs target",
        &rate_panels,
        "network output (a.u.)",
    )?;

    Ok(())
}

/// Spiking vs rate output: the context task (8 panels) and XOR (4).
fn spiking_figures(dir: &Path, rng: &mut Rng) -> Result<(), Box<dyn std::error::Error>> {
    // Mante-like: spiking (20 000 points at 0.05 ms... here 2.5 s) vs rate.
    let t_spk: Vec<f64> = (0..50_000).map(|k| k as f64 * 0.05).collect();
    let mut mante = Vec::new();
    for ctx in 1..=2 {
        for (s0, s1) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
            let sign: f64 = if ctx == 1 { s0 } else { s1 };
            let target: Vec<f64> = t_spk
                .iter()
                .map(|&t| if t >= 1250.0 { sign } else { 0.0 })
                .collect();
            let rate = smooth(&t_spk, &target, 60.0);
            let mut spk = smooth(&t_spk, &target, 80.0);
            let mut noise = 0.0;
            for v in &mut spk {
                noise = 0.995 * noise + 0.02 * rng.normal();
                *v = 0.9 * *v + noise;
            }
            let sgn = |s: f64| if s > 0.0 { "+" } else { "−" };
            mante.push(Panel {
                title: format!("context {ctx}, offsets {}/{}", sgn(s0), sgn(s1)),
                traces: vec![
                    Trace {
                        label: "spiking output".into(),
                        t_ms: t_spk.clone(),
                        y: spk,
                        style: TraceStyle::Main,
                    },
                    Trace {
                        label: "rate output".into(),
                        t_ms: t_spk.clone(),
                        y: rate,
                        style: TraceStyle::Secondary,
                    },
                    Trace {
                        label: "target".into(),
                        t_ms: t_spk.clone(),
                        y: target,
                        style: TraceStyle::Target,
                    },
                ],
            });
        }
    }
    output_panels(
        &dir.join("spiking_vs_rate_mante"),
        "Context-dependent task: spiking vs rate output",
        &mante,
        "network output (a.u.)",
    )?;
    output_panels(
        &dir.join("spiking_vs_rate_xor"),
        "XOR: spiking vs rate output",
        &mante[..4],
        "network output (a.u.)",
    )?;

    Ok(())
}

/// Spike rasters of a Go and a NoGo trial; returns which units are inhibitory.
fn raster_figure(dir: &Path, rng: &mut Rng) -> Result<Vec<bool>, Box<dyn std::error::Error>> {
    // Raster: 200 units, 1 s, E ~ 10 Hz, I ~ 25 Hz, more activity after 250 ms in Go.
    let n = 200;
    let inh: Vec<bool> = (0..n).map(|_| rng.next() < 0.2).collect();
    let mut raster_panels = Vec::new();
    for (name, go) in [("Go trial", true), ("NoGo trial", false)] {
        let mut spikes = Vec::new();
        for (u, &is_inh) in inh.iter().enumerate() {
            let base = if is_inh { 25.0 } else { 8.0 } * (0.3 + 1.4 * rng.next());
            let mut t = 0.0;
            loop {
                let rate = if go && t > 250.0 { base * 1.8 } else { base };
                t += -(1.0 - rng.next()).ln() / rate * 1000.0;
                if t >= 1000.0 {
                    break;
                }
                spikes.push((u as u32, t));
            }
        }
        raster_panels.push(RasterPanel {
            title: name.into(),
            n_units: n,
            t_max_ms: 1000.0,
            spikes,
            inh: inh.clone(),
        });
    }
    raster(&dir.join("raster"), &raster_panels)?;

    Ok(inh)
}

/// The λ search.
fn lambda_figure(dir: &Path, rng: &mut Rng) -> Result<(), Box<dyn std::error::Error>> {
    // Lambda search: coarse grid (100 trials), a refinement window, three
    // finalists re-tested (300 trials pooled).
    let perf = |l: f64| (0.5 + 0.49 * (-((l - 37.0) / 14.0).powi(2)).exp()).min(1.0);
    let mark = |l: f64, a: f64, n: f64, kind| {
        let half = 1.96 * (a * (1.0 - a) / n).sqrt();
        LambdaMark {
            lambda: l,
            accuracy: a,
            ci95: Some(((a - half).max(0.0), (a + half).min(1.0))),
            kind,
        }
    };
    let mut pts: Vec<LambdaMark> = (0..12)
        .map(|k| 20.0 + 5.0 * k as f64)
        .filter(|l| !(32.0..=42.0).contains(l))
        .map(|l| mark(l, perf(l), 100.0, LambdaKind::Grid))
        .collect();
    for l in [32.0, 34.0, 36.0, 38.0, 40.0, 42.0] {
        let finalist = (36.0..=40.0).contains(&l);
        let (n, kind) = if finalist {
            (300.0, LambdaKind::Finalist)
        } else {
            (100.0, LambdaKind::Refined)
        };
        pts.push(mark(l, perf(l) - 0.01 * rng.next(), n, kind));
    }
    lambda_curve(&dir.join("lambda"), &pts, 38.0)?;
    Ok(())
}

/// Synaptic decay constants and firing rates.
fn histograms(dir: &Path, rng: &mut Rng) -> Result<(), Box<dyn std::error::Error>> {
    // Synaptic decay constants: initial sigmoid(N(0,1)) in [20, 50] ms, trained drift.
    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    let g0: Vec<f64> = (0..200).map(|_| rng.normal()).collect();
    let init: Vec<f64> = g0.iter().map(|&g| 20.0 + 30.0 * sig(g)).collect();
    let trained: Vec<f64> = g0
        .iter()
        .map(|&g| 20.0 + 30.0 * sig(g + 0.6 + 0.5 * rng.normal()))
        .collect();
    tau_histogram(&dir.join("taus"), &trained, Some(&init))?;

    // Firing rates.
    let exc: Vec<f64> = (0..160)
        .map(|_| (8.0 + 5.0 * rng.normal()).max(0.0))
        .collect();
    let inh_hz: Vec<f64> = (0..40)
        .map(|_| (25.0 + 9.0 * rng.normal()).max(0.0))
        .collect();
    firing_rates(
        &dir.join("firing_rates"),
        &exc,
        &inh_hz,
        "synthetic, 200 units",
    )?;

    Ok(())
}

/// Degenerate inputs: must draw sensible empty axes, not panic.
fn degenerate_figures(dir: &Path, inh: &[bool]) -> Result<(), Box<dyn std::error::Error>> {
    // Degenerate inputs: must draw sensible empty axes, not panic.
    let nan = f64::NAN;
    training_loss(&dir.join("degenerate_loss"), &[], &[], None)?;
    output_panels(
        &dir.join("degenerate_outputs"),
        "Degenerate outputs",
        &[
            Panel {
                title: "constant".into(),
                traces: vec![Trace {
                    label: "constant output".into(),
                    t_ms: vec![0.0, 500.0, 1000.0],
                    y: vec![0.3; 3],
                    style: TraceStyle::Main,
                }],
            },
            Panel {
                title: "only NaN".into(),
                traces: vec![Trace {
                    label: "target".into(),
                    t_ms: vec![0.0, 1.0],
                    y: vec![nan, nan],
                    style: TraceStyle::Target,
                }],
            },
        ],
        "network output (a.u.)",
    )?;
    raster(
        &dir.join("degenerate_raster"),
        &[RasterPanel {
            title: "silent network".into(),
            n_units: 200,
            t_max_ms: 1000.0,
            spikes: vec![],
            inh: inh.to_vec(),
        }],
    )?;
    lambda_curve(&dir.join("degenerate_lambda"), &[], nan)?;
    tau_histogram(&dir.join("degenerate_taus"), &[25.0; 50], None)?;
    firing_rates(&dir.join("degenerate_rates"), &[0.0; 160], &[], "silent")?;

    Ok(())
}
