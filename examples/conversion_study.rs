//! What makes the spiking conversion reliable? (docs/conversion.md)
//!
//!     cargo run --release --example conversion_study -- GROUP SEEDS [REC_NOISE INPUT_NOISE]
//!
//! GROUP: gng (Go-NoGo, `train` defaults), s3 (Go-NoGo, P_inh 0.33, 20 SOM),
//! xor (N 200), mante (N 250), gngnoise / s3noise (gng / s3 trained with
//! REC_NOISE / INPUT_NOISE SDs per rate step). SEEDS: e.g. 1-10.
//!
//! Per network: train once (cached in study/models/), simulate every
//! (λ, trial) once and score every variant from the same trials:
//! protocols strict / paper × readout without / with b_out, λ chosen by
//! the search's peak rule (grid_search's: coarse first max, ±4 window, top 3
//! finalists +200 trials) or by the margin rule
//! (`spiking::search::margin_lambda`, radius 1); then 200 fresh trials
//! (`evaluate`'s streams) at every chosen λ, read out by the original
//! readout (± b_out) and by a readout refitted on 100 separate fitting
//! trials (`spiking::readout::fit_readout`, streams `rng::tag::REFIT`). One
//! JSON line per network in study/GROUP.jsonl; tables and figure:
//! `python3 scripts/conversion_study.py study docs`.
//!
//! The CLI offers each option on its own: `search --refit-readout`,
//! `--lambda-rule margin`, `--output-bias`, `train --rec-noise`.

use std::collections::HashMap;
use std::path::PathBuf;

use rayon::prelude::*;
use serde_json::json;
use spikernn::config::RunConfig;
use spikernn::io::model_file;
use spikernn::observe::Silent;
use spikernn::rate::bptt::Loss;
use spikernn::rate::{train, RateModel};
use spikernn::rng::{self, tag};
use spikernn::spiking::eval::wilson_interval;
use spikernn::spiking::readout::{fit_readout, mse, FitTrial, FittedReadout, SpikingReadout};
use spikernn::spiking::search::margin_lambda;
use spikernn::spiking::{ConversionOptions, LifNetwork, SimOptions};
use spikernn::task::{extend_stimulus, task_with_nogo_rule, NoGoRule, Task};

const N_SEARCH: usize = 100;
const N_EVAL: usize = 200;
const N_FIT: usize = 100;

/// Window max/min/mean of an output trace for the [strict, paper] windows.
#[derive(Clone, Copy, Debug, Default)]
struct Sum {
    kind: usize,
    mx: [f64; 2],
    mn: [f64; 2],
    mean: [f64; 2],
}

struct Acc {
    starts: [usize; 2],
    mx: [f64; 2],
    mn: [f64; 2],
    s: [f64; 2],
    c: [f64; 2],
}
impl Acc {
    fn new(starts: [usize; 2]) -> Self {
        Acc {
            starts,
            mx: [f64::NEG_INFINITY; 2],
            mn: [f64::INFINITY; 2],
            s: [0.0; 2],
            c: [0.0; 2],
        }
    }
    fn push(&mut self, k: usize, v: f64) {
        for p in 0..2 {
            if k >= self.starts[p] {
                self.mx[p] = self.mx[p].max(v);
                self.mn[p] = self.mn[p].min(v);
                self.s[p] += v;
                self.c[p] += 1.0;
            }
        }
    }
    fn sum(&self, kind: usize) -> Sum {
        Sum {
            kind,
            mx: self.mx,
            mn: self.mn,
            mean: [self.s[0] / self.c[0], self.s[1] / self.c[1]],
        }
    }
}

struct Ctx {
    model: RateModel,
    tasks: [Box<dyn Task>; 2], // strict, paper
    starts: [usize; 2],
    seed: u64,
    conv: ConversionOptions,
}

impl Ctx {
    fn correct(&self, p: usize, s: &Sum, bias: f64) -> bool {
        self.tasks[p].is_correct(s.kind, &[s.mx[p] + bias, s.mn[p] + bias])
    }
    fn n_correct(&self, p: usize, v: &[Sum], bias: f64) -> usize {
        v.iter().filter(|s| self.correct(p, s, bias)).count()
    }
    fn search_trials(&self, lambda: f64, range: std::ops::Range<usize>) -> Vec<Sum> {
        let net = LifNetwork::from_rate(&self.model, lambda, &self.conv).unwrap();
        let sim = SimOptions::default();
        range
            .into_par_iter()
            .map(|t| {
                let mut s = rng::stream(self.seed, &[lambda.to_bits(), t as u64]);
                let trial = self.tasks[0].sample(&mut s);
                let u = extend_stimulus(&trial.u, 1);
                let res = net.simulate(&u, &sim, &mut s).unwrap();
                let mut a = Acc::new(self.starts);
                for (k, &v) in res.out.iter().enumerate() {
                    a.push(k, v);
                }
                a.sum(trial.kind)
            })
            .collect()
    }
}

/// The search's trials, simulated lazily and shared by every curve.
struct Cache<'a> {
    ctx: &'a Ctx,
    done: HashMap<u64, Vec<Sum>>,
}
impl Cache<'_> {
    fn get(&mut self, l: f64, n: usize) -> &[Sum] {
        let have = self.done.get(&l.to_bits()).map_or(0, |v| v.len());
        if have < n {
            let more = self.ctx.search_trials(l, have..n);
            self.done.entry(l.to_bits()).or_default().extend(more);
        }
        &self.done[&l.to_bits()][..n]
    }
}

#[derive(Debug, Clone)]
struct Curve {
    p: usize,
    bias: f64,
    coarse: Vec<f64>,
    window: Vec<f64>,
    window_acc: Vec<f64>,
    window_n: Vec<usize>,
    window_k: Vec<usize>,
    peak: f64,
    peak_acc: f64,
    peak_n: usize,
    margin: f64,
}

fn search_curve(cache: &mut Cache, lambdas: &[f64], p: usize, bias: f64) -> Curve {
    let ctx = cache.ctx;
    let coarse: Vec<f64> = lambdas
        .iter()
        .map(|&l| ctx.n_correct(p, cache.get(l, N_SEARCH), bias) as f64 / N_SEARCH as f64)
        .collect();
    let mut ib = 0;
    for (i, &a) in coarse.iter().enumerate() {
        if a > coarse[ib] {
            ib = i;
        }
    }
    let cb = lambdas[ib];
    let window: Vec<f64> = (-4..=4)
        .map(|k| cb + k as f64)
        .filter(|&l| l > 0.0)
        .collect();
    let acc100: Vec<f64> = window
        .iter()
        .map(|&l| ctx.n_correct(p, cache.get(l, N_SEARCH), bias) as f64 / N_SEARCH as f64)
        .collect();
    let mut order: Vec<usize> = (0..window.len()).collect();
    order.sort_by(|&a, &b| {
        acc100[b]
            .total_cmp(&acc100[a])
            .then((window[a] - cb).abs().total_cmp(&(window[b] - cb).abs()))
            .then(window[a].total_cmp(&window[b]))
    });
    let fin: Vec<usize> = order.into_iter().take(3).collect();
    let mut window_n = vec![N_SEARCH; window.len()];
    for &f in &fin {
        window_n[f] = 3 * N_SEARCH;
    }
    let window_k: Vec<usize> = window
        .iter()
        .zip(&window_n)
        .map(|(&l, &n)| ctx.n_correct(p, cache.get(l, n), bias))
        .collect();
    let window_acc: Vec<f64> = window_k
        .iter()
        .zip(&window_n)
        .map(|(&k, &n)| k as f64 / n as f64)
        .collect();
    let mut best = fin[0];
    for &f in &fin[1..] {
        if window_acc[f] > window_acc[best] {
            best = f;
        }
    }
    let pts: Vec<(f64, usize, usize)> = window
        .iter()
        .zip(window_k.iter().zip(&window_n))
        .map(|(&l, (&k, &n))| (l, k, n))
        .collect();
    let margin = margin_lambda(&pts, &window, 1.0).unwrap().0;
    Curve {
        p,
        bias,
        coarse,
        peak: window[best],
        peak_acc: window_acc[best],
        peak_n: window_n[best],
        window,
        window_acc,
        window_n,
        window_k,
        margin,
    }
}

/// Output traces of one evaluation trial (every 20th step): kind, original
/// readout, refitted readout.
type Traces = (usize, Vec<f64>, Vec<f64>);

/// Eval trials at λ: summaries of the original readout (no bias) and of a
/// readout refitted at this λ, plus traces of the first Go/NoGo-like trials.
struct EvalAt {
    base: Vec<Sum>,
    refit: Vec<Sum>,
    fit: FittedReadout,
    /// Held-out MSE of the original readout w_out/λ (same trials as the fit's).
    holdout_mse_orig: f64,
    traces: Vec<Traces>,
}

fn eval_at(ctx: &Ctx, lambda: f64) -> EvalAt {
    let net = LifNetwork::from_rate(&ctx.model, lambda, &ctx.conv).unwrap();
    let sim = SimOptions::default();
    let t_rate = ctx.tasks[0].n_steps();
    // Fitting trials (their own streams).
    let fits: Vec<FitTrial> = (0..N_FIT)
        .into_par_iter()
        .map(|t| {
            let mut s = rng::stream(ctx.seed, &[tag::REFIT, lambda.to_bits(), t as u64]);
            let trial = ctx.tasks[0].sample(&mut s);
            let u = extend_stimulus(&trial.u, 1);
            let mut r = Vec::with_capacity(t_rate - 1);
            let mut keep = |k: usize, rr: &[f64]| {
                if (k + 1).is_multiple_of(100) && r.len() < t_rate - 1 {
                    r.push(rr.to_vec());
                }
            };
            net.simulate_observed(&u, &sim, &mut s, Some(&mut keep))
                .unwrap();
            FitTrial { r, z: trial.target }
        })
        .collect();
    let fit = fit_readout(&fits, 0.25).unwrap();
    let orig = SpikingReadout {
        w: net.w_out().to_vec(),
        b: 0.0,
    };
    let holdout_mse_orig = mse(&fits[N_FIT - N_FIT / 4..], &orig);
    let (wf, bf) = (fit.readout.w.clone(), fit.readout.b);
    let base_net = net;
    let res: Vec<(Sum, Sum, Option<Traces>)> = (0..N_EVAL)
        .into_par_iter()
        .map(|t| {
            let mut s = rng::stream(ctx.seed, &[tag::EVAL, lambda.to_bits(), t as u64]);
            let trial = ctx.tasks[0].sample(&mut s);
            let u = extend_stimulus(&trial.u, 1);
            let mut a2 = Acc::new(ctx.starts);
            let keep = t < 4;
            let mut tr2 = Vec::new();
            let mut refit = |k: usize, rr: &[f64]| {
                let o: f64 = rr.iter().zip(&wf).map(|(a, b)| a * b).sum::<f64>() + bf;
                a2.push(k, o);
                if keep && k.is_multiple_of(20) {
                    tr2.push(o);
                }
            };
            let res = base_net
                .simulate_observed(&u, &sim, &mut s, Some(&mut refit))
                .unwrap();
            let mut a1 = Acc::new(ctx.starts);
            for (k, &v) in res.out.iter().enumerate() {
                a1.push(k, v);
            }
            let tr = keep.then(|| {
                (
                    trial.kind,
                    res.out.iter().step_by(20).cloned().collect(),
                    tr2,
                )
            });
            (a1.sum(trial.kind), a2.sum(trial.kind), tr)
        })
        .collect();
    EvalAt {
        base: res.iter().map(|x| x.0).collect(),
        refit: res.iter().map(|x| x.1).collect(),
        traces: res.into_iter().filter_map(|x| x.2).collect(),
        fit,
        holdout_mse_orig,
    }
}

fn parse_seeds(s: &str) -> Vec<u64> {
    if let Some((a, b)) = s.split_once('-') {
        (a.parse().unwrap()..=b.parse().unwrap()).collect()
    } else {
        s.split(',').map(|x| x.parse().unwrap()).collect()
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let group = args[0].clone();
    let seeds = parse_seeds(&args[1]);
    let rec_noise: f64 = args.get(2).map_or(0.1, |x| x.parse().unwrap());
    let input_noise: f64 = args.get(3).map_or(0.0, |x| x.parse().unwrap());
    let (task_name, n, p_inh, som_n, paper_start) = match group.as_str() {
        "gng" | "gngnoise" => ("go-nogo", 200, 0.2, 0, 10_000),
        "s3" | "s3noise" => ("go-nogo", 200, 0.33, 20, 10_000),
        "xor" => ("xor", 200, 0.2, 0, 20_000),
        "mante" => ("mante", 250, 0.2, 0, 26_000),
        g => anyhow::bail!("unknown group {g}"),
    };
    let noisy = group.ends_with("noise");
    let tag = if noisy {
        format!("{group}_r{rec_noise}_i{input_noise}")
    } else {
        group.clone()
    };
    let dir = PathBuf::from("study");
    std::fs::create_dir_all(dir.join("models"))?;
    let out_path = dir.join(format!("{tag}.jsonl"));
    for seed in seeds {
        let t0 = std::time::Instant::now();
        let mpath = dir.join("models").join(format!("{tag}_s{seed}.mat"));
        let mut train_info = json!(null);
        let model = if mpath.exists() {
            model_file::load_model(&mpath)?
        } else {
            let mut c = RunConfig::for_task(task_name)?;
            c.seed = seed;
            c.net.n = n;
            c.net.p_inh = p_inh;
            c.net.som_n = som_n;
            let net = c.net_config()?;
            let mut cfg = c.train_config()?;
            cfg.noise.rec_sd = rec_noise;
            cfg.noise.input_sd = input_noise;
            if noisy {
                cfg.n_trials = 3000;
            }
            let task = c.task()?;
            let o = train::train(&net, &cfg, task.as_ref(), &Silent)?;
            train_info = json!({"success": o.success, "trials": o.trials, "seconds": o.seconds});
            model_file::save_model(&mpath, &o.model)?;
            o.model
        };
        let tr = model.training.as_ref();
        let tasks: [Box<dyn Task>; 2] = [
            task_with_nogo_rule(task_name, NoGoRule::Abs)?,
            if task_name == "go-nogo" {
                task_with_nogo_rule(task_name, NoGoRule::Max)?
            } else {
                task_with_nogo_rule(task_name, NoGoRule::Abs)?
            },
        ];
        let strict_start = tasks[0].response_start() * 100;
        let rate_acc = train::evaluate_rate(&model, tasks[0].as_ref(), Loss::L2, 200, seed, 77);
        let ctx = Ctx {
            model: model.clone(),
            tasks,
            starts: [strict_start, paper_start],
            seed,
            conv: ConversionOptions::default(),
        };
        let mut cache = Cache {
            ctx: &ctx,
            done: HashMap::new(),
        };
        let lambdas: Vec<f64> = (0..12).map(|k| 20.0 + 5.0 * k as f64).collect();
        let b_out = model.b_out;
        let mut curves = Vec::new();
        for p in 0..2 {
            for bias in [0.0, b_out] {
                curves.push(search_curve(&mut cache, &lambdas, p, bias));
            }
        }
        let n_sim: usize = cache.done.values().map(|v| v.len()).sum();
        // Evaluate at every chosen λ.
        let mut eval_l: Vec<f64> = curves.iter().flat_map(|c| [c.peak, c.margin]).collect();
        eval_l.sort_by(f64::total_cmp);
        eval_l.dedup();
        let evals: HashMap<u64, EvalAt> = eval_l
            .iter()
            .map(|&l| (l.to_bits(), eval_at(&ctx, l)))
            .collect();
        let score = |p: usize, v: &[Sum], bias: f64| -> serde_json::Value {
            let k = ctx.n_correct(p, v, bias);
            let (lo, hi) = wilson_interval(k, v.len(), 1.96);
            let per: Vec<serde_json::Value> = (0..ctx.tasks[0].trial_types().len())
                .map(|kind| {
                    let g: Vec<Sum> = v.iter().filter(|s| s.kind == kind).cloned().collect();
                    json!({"n": g.len(), "correct": ctx.n_correct(p, &g, bias)})
                })
                .collect();
            // NoGo failure modes (Go-NoGo kind 1): dip below −θ vs rise ≥ θ.
            let nogo: Vec<&Sum> = v.iter().filter(|s| s.kind == 1).collect();
            let up = nogo.iter().filter(|s| s.mx[p] + bias >= 0.3).count();
            let dip = nogo
                .iter()
                .filter(|s| s.mx[p] + bias < 0.3 && s.mn[p] + bias <= -0.3)
                .count();
            let mean_nogo =
                nogo.iter().map(|s| s.mean[p] + bias).sum::<f64>() / nogo.len().max(1) as f64;
            json!({"acc": k as f64 / v.len() as f64, "n": v.len(), "ci95": [lo, hi],
                   "per_type": per, "nogo_up": up, "nogo_dip": dip, "nogo_mean_out": mean_nogo})
        };
        let mut variants = Vec::new();
        for p in 0..2 {
            let pname = ["strict", "paper"][p];
            let c0 = &curves[2 * p];
            let c1 = &curves[2 * p + 1];
            for (name, c, l, bias, refit) in [
                ("base", c0, c0.peak, 0.0, false),
                ("bias", c1, c1.peak, b_out, false),
                ("margin", c0, c0.margin, 0.0, false),
                ("bias_margin", c1, c1.margin, b_out, false),
                ("refit", c0, c0.peak, 0.0, true),
                ("refit_margin", c0, c0.margin, 0.0, true),
            ] {
                let e = &evals[&l.to_bits()];
                let (v, b) = if refit {
                    (&e.refit, 0.0)
                } else {
                    (&e.base, bias)
                };
                let i = c.window.iter().position(|&x| x == l).unwrap();
                variants.push(json!({
                    "protocol": pname, "option": name, "lambda": l,
                    "search_acc": c.window_acc[i], "search_n": c.window_n[i],
                    "eval": score(p, v, b),
                }));
            }
        }
        let fits: Vec<serde_json::Value> = eval_l
            .iter()
            .map(|&l| {
                let e = &evals[&l.to_bits()];
                let f = &e.fit;
                json!({"lambda": l, "alpha": f.alpha, "alpha_rel": f.alpha_rel,
                       "holdout_mse": f.holdout_mse, "holdout_mse_orig": e.holdout_mse_orig,
                       "b": f.readout.b})
            })
            .collect();
        let cj: Vec<serde_json::Value> = curves
            .iter()
            .map(|c| {
                let pn = ["strict", "paper"][c.p];
                let biased = c.bias != 0.0;
                json!({"protocol": pn, "bias": biased,
                       "coarse": c.coarse, "window": c.window, "window_acc": c.window_acc,
                       "window_n": c.window_n, "window_k": c.window_k,
                       "peak": c.peak, "peak_acc": c.peak_acc, "peak_n": c.peak_n,
                       "margin": c.margin})
            })
            .collect();
        let l_tr = curves[0].peak;
        let traces: Vec<serde_json::Value> = evals[&l_tr.to_bits()]
            .traces
            .iter()
            .map(|(k, a, b)| json!({"kind": k, "out": a, "refit": b}))
            .collect();
        let mut line = serde_json::Map::new();
        for (k, v) in [
            ("group", json!(tag)),
            ("task", json!(task_name)),
            ("seed", json!(seed)),
            ("n", json!(n)),
            ("p_inh", json!(p_inh)),
            ("som_n", json!(som_n)),
            ("rec_noise", json!(rec_noise)),
            ("input_noise", json!(input_noise)),
            ("train", train_info.clone()),
            ("train_trials", json!(tr.map(|t| t.trials))),
            ("rate_eval_acc_200", json!(rate_acc.1)),
            ("rate_eval_loss_200", json!(rate_acc.0)),
            ("b_out", json!(b_out)),
            ("search_trials_simulated", json!(n_sim)),
            ("curves", json!(cj)),
            ("variants", json!(variants)),
            ("fits", json!(fits)),
            ("traces_lambda", json!(l_tr)),
            ("traces", json!(traces)),
            ("seconds", json!(t0.elapsed().as_secs_f64())),
        ] {
            line.insert(k.to_string(), v);
        }
        let line = serde_json::Value::Object(line);
        let s = serde_json::to_string(&line)?;
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out_path)?;
        writeln!(f, "{s}")?;
        let brief: Vec<String> = line["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                format!(
                    "{}/{} λ{} {:.3}",
                    v["protocol"].as_str().unwrap(),
                    v["option"].as_str().unwrap(),
                    v["lambda"],
                    v["eval"]["acc"].as_f64().unwrap()
                )
            })
            .collect();
        eprintln!(
            "{tag} seed {seed}: b_out {b_out:.3}, {:.0}s; {}",
            t0.elapsed().as_secs_f64(),
            brief.join(", ")
        );
    }
    Ok(())
}
