//! The training cache of a sweep directory: `DIR/trained/<key>/`, one
//! trained (not yet searched) rate network per training key, shared by the
//! jobs that differ only in spiking, search or evaluation settings (e.g. a
//! refractory-period or synapse sweep: every value of the axis reuses the
//! network of its seed instead of training it again).
//!
//! **Key**: a 64-bit FNV-1a hash of the canonical TOML of exactly what
//! [`train_network`] reads: the task as resolved (a built-in's name and DMS
//! delay, or a task file's `name`, path and text — the model file records
//! them), the seed, the whole `[net]` and `[train]` sections, plus
//! [`FORMAT`] and the crate version. Not in the key: `attempts`,
//! `target_accuracy`, `[search]`, `[eval]`. The directory name is
//! `seed<seed>-<16 hex digits>`; `train.json` keeps the canonical text,
//! which a job checks before using an entry.
//!
//! **Attempts**: [`train_until_converts`] with `attempts > 1` trains seed,
//! seed + 1, … until one network converts, so *which* network a job keeps
//! depends on its search settings — but each attempt's network depends only
//! on its own configuration (with the attempt's seed). The cache therefore
//! holds networks per attempt (per key, the key containing the attempt's
//! seed), and the attempt loop itself (search, acceptance, the next seed)
//! runs exactly as without the cache; `attempts > 1` is cached too.
//!
//! **Not cached**: the rate accuracy on `eval.trials` fresh trials. The job
//! computes it from the network as an uncached job does (a few rate trials),
//! so `eval.trials` need not be in the key.
//!
//! **Entry**: `model.mat` ([`model_file::save_model`] of the trained
//! network, training record included) and `train.json` ([`TrainedEntry`]:
//! key text, training trials, stopping rule, training time). `model.mat`
//! does not record `net.dale` (a reader infers it from the inhibitory
//! units, and a small Dale network may draw none): it is restored from the
//! configuration. A network that still does not come back from `model.mat`
//! equal, field by field, is not cached (a warning says so), so a job that
//! uses an entry gets the very network training would give it.
//!
//! **Writing** is atomic like a job's: the entry is built in
//! `DIR/trained/.<key>.<n>.tmp-<host>-<pid>/` and renamed to
//! `DIR/trained/<key>/`. Two jobs that miss the same key at once (parallel
//! local jobs, SLURM tasks on other hosts) both train — training is
//! deterministic, so both networks are identical — and the rename of the
//! second fails on the existing entry and its copy is discarded.
//!
//! **Reading**: an entry that cannot be read, or whose key text differs, is
//! reported to the observer ([`Event::Warning`]), removed and retrained.
//! Deleting `DIR/trained/` (or any entry) is always safe: the jobs that need
//! it train again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::io::{model_file, write_atomic};
use crate::observe::{Event, Observer};
use crate::pipeline::train_network;
#[cfg(doc)]
use crate::pipeline::train_until_converts;
use crate::rate::train::TrainOutcome;
use crate::rate::RateModel;
use crate::task::{Task, TaskSpec};

use super::job::host;
use super::spec::fnv1a64;

/// Version of the key and entry layout; raising it retires old entries.
pub const FORMAT: i64 = 1;

/// `train.json` of a cache entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainedEntry {
    /// The canonical TOML the key hashes ([`key`]).
    pub key: String,
    /// Training trials used.
    pub train_trials: usize,
    /// Whether the network met the rate stopping rule.
    pub train_success: bool,
    /// Wall time of the training that made the entry (s).
    pub train_seconds: f64,
}

/// The training cache `DIR/trained` of a sweep directory.
#[derive(Debug, Clone)]
pub struct TrainCache {
    /// `DIR/trained`.
    pub dir: PathBuf,
}

/// Counter that makes temporary entry names unique within this process
/// (parallel local jobs may write the same key).
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TrainCache {
    /// The cache of sweep directory `sweep_dir`.
    pub fn of(sweep_dir: &Path) -> Self {
        TrainCache {
            dir: sweep_dir.join("trained"),
        }
    }

    /// The directory of entry `name` (see [`key`]).
    pub fn entry(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The network [`train_network`] gives for `cfg` on `task`: the cached
    /// one if its entry is valid (then its `seconds` is 0 and the flag is
    /// true), else trained now and stored. A corrupt entry is reported to
    /// `obs`, removed and retrained.
    pub fn get_or_train(
        &self,
        cfg: &RunConfig,
        task: &dyn Task,
        obs: &dyn Observer,
    ) -> Result<(TrainOutcome, bool)> {
        let (name, text) = key(cfg, &task.spec())?;
        let dir = self.entry(&name);
        if dir.exists() {
            match load(&dir, &text, cfg.net.dale) {
                Ok(o) => return Ok((o, true)),
                Err(why) => {
                    obs.event(&Event::Warning(format!(
                        "corrupt training cache entry {} ({why}); the network is trained again",
                        dir.display()
                    )));
                    remove_dir(&dir)?;
                }
            }
        }
        let o = train_network(cfg, task, obs)?;
        self.store((&name, &text), &o, cfg.net.dale, obs)?;
        Ok((o, false))
    }

    /// Write `o` (trained with `net.dale` = `dale`) as entry `name` (key
    /// text `text`) atomically; losing the race to another writer of the
    /// same key discards this copy.
    fn store(
        &self,
        (name, text): (&str, &str),
        o: &TrainOutcome,
        dale: bool,
        obs: &dyn Observer,
    ) -> Result<()> {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!(".{name}.{n}.tmp-{}-{}", host(), std::process::id()));
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let written = write_entry(&tmp, text, o);
        let exact = match written {
            Ok(()) => round_trips(&tmp, o, dale),
            Err(e) => {
                remove_dir(&tmp)?;
                return Err(e);
            }
        };
        if !exact {
            obs.event(&Event::Warning(format!(
                "the trained network {name} does not come back from model.mat exactly; not cached"
            )));
            return remove_dir(&tmp);
        }
        let done = self.entry(name);
        if let Err(e) = std::fs::rename(&tmp, &done) {
            remove_dir(&tmp)?;
            // Another job stored the same key first: its network is this one.
            if !done.join("train.json").exists() {
                return Err(Error::io(&done, e));
            }
        }
        Ok(())
    }
}

/// `model.mat` and `train.json` of `o` into `dir`, synced.
fn write_entry(dir: &Path, text: &str, o: &TrainOutcome) -> Result<()> {
    model_file::save_model(&dir.join("model.mat"), &o.model)?;
    let entry = TrainedEntry {
        key: text.to_string(),
        train_trials: o.trials,
        train_success: o.success,
        train_seconds: o.seconds,
    };
    let json = serde_json::to_string_pretty(&entry).expect("plain data serialises");
    write_atomic(&dir.join("train.json"), json.as_bytes())?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Whether the model in `dir` (read as [`read_model`] does) equals `o`'s,
/// every field.
fn round_trips(dir: &Path, o: &TrainOutcome, dale: bool) -> bool {
    read_model(dir, dale).is_ok_and(|m| same_model(&m, &o.model))
}

/// `dir/model.mat`, with `dale` (`net.dale`) restored: the file does not
/// record it, and a Dale network that drew no inhibitory unit would come
/// back without it.
fn read_model(dir: &Path, dale: bool) -> Result<RateModel> {
    let mut m = model_file::load_model(&dir.join("model.mat"))?;
    m.dale = dale;
    Ok(m)
}

/// `a == b`, where the training record's last-evaluation means (NaN
/// without an evaluation) count as equal when their bits are.
fn same_model(a: &RateModel, b: &RateModel) -> bool {
    let split = |m: &RateModel| {
        let mut m = m.clone();
        let bits = m.training.as_mut().map(|t| {
            let b = (t.eval_perf_mean.to_bits(), t.eval_loss_mean.to_bits());
            (t.eval_perf_mean, t.eval_loss_mean) = (0.0, 0.0);
            b
        });
        (m, bits)
    };
    split(a) == split(b)
}

/// The cached network in `dir` if its key text is `text`, as training
/// returns it (`seconds` 0); else why not.
fn load(dir: &Path, text: &str, dale: bool) -> std::result::Result<TrainOutcome, String> {
    let json = dir.join("train.json");
    let entry: TrainedEntry = std::fs::read(&json)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .map_err(|e| format!("{}: {e}", json.display()))?;
    if entry.key != text {
        return Err(format!("{} is for other settings", json.display()));
    }
    let model = read_model(dir, dale).map_err(|e| e.to_string())?;
    let record = model
        .training
        .clone()
        .filter(|t| t.trials == entry.train_trials)
        .ok_or_else(|| "model.mat has no matching training record".to_string())?;
    Ok(TrainOutcome {
        model,
        success: entry.train_success,
        trials: record.trials,
        evals: record.evals,
        seconds: 0.0,
    })
}

/// Remove `dir` and its contents; already gone (removed by another job) is
/// fine.
fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(dir, e)),
        _ => Ok(()),
    }
}

/// The entry name `seed<seed>-<hash>` and the canonical TOML it hashes:
/// [`FORMAT`], the crate version, the seed, the task `spec` (name, DMS
/// delay, task file path and text) and the `[net]` and `[train]` sections
/// of `cfg` — what training reads, nothing else.
pub fn key(cfg: &RunConfig, spec: &TaskSpec) -> Result<(String, String)> {
    let bad = |e: toml::ser::Error| Error::param("train-cache", e.to_string());
    let mut t = Table::new();
    t.insert("format".into(), Value::Integer(FORMAT));
    t.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    t.insert("seed".into(), cfg.seed.to_string().into());
    t.insert("task".into(), Value::Table(task_table(spec)));
    t.insert("net".into(), Value::try_from(&cfg.net).map_err(bad)?);
    t.insert("train".into(), Value::try_from(&cfg.train).map_err(bad)?);
    let text = toml::to_string(&t).map_err(bad)?;
    let name = format!("seed{}-{:016x}", cfg.seed, fnv1a64(text.as_bytes()));
    Ok((name, text))
}

/// The task of the key: everything the task and the model file's task keys
/// are made of.
fn task_table(spec: &TaskSpec) -> Table {
    let mut t = Table::new();
    match spec {
        TaskSpec::Builtin { name, delay_ms } => {
            t.insert("builtin".into(), name.as_str().into());
            if let Some(d) = delay_ms {
                t.insert("delay_ms".into(), (*d).into());
            }
        }
        TaskSpec::File { name, path, text } => {
            t.insert("file_name".into(), name.as_str().into());
            t.insert("file_path".into(), path.as_str().into());
            t.insert("file_text".into(), text.as_str().into());
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::Silent;

    fn tiny() -> RunConfig {
        let mut c = RunConfig::for_task("go-nogo").unwrap();
        c.net.n = 10;
        c.train.n_trials = 6;
        c.train.eval_freq = 3;
        c.train.eval_trials = 2;
        c
    }

    /// Search, eval, attempts and the target are not in the key; the seed,
    /// `[net]`, `[train]` and the task are.
    #[test]
    fn the_key_holds_exactly_the_training_settings() {
        let k = |c: &RunConfig| key(c, &c.task_spec().unwrap()).unwrap().0;
        let base = tiny();
        let mut same = base.clone();
        same.search.refractory_ms = Some(5.0);
        same.search.tr_ms = 0.0;
        same.eval.trials = 7;
        same.attempts = 4;
        same.target_accuracy = Some(0.5);
        assert_eq!(k(&base), k(&same));
        let changes: [fn(&mut RunConfig); 5] = [
            |c| c.seed += 1,
            |c| c.net.n = 11,
            |c| c.train.lr *= 2.0,
            |c| c.train.rec_noise_sd = 0.0,
            |c| c.task = "xor".into(),
        ];
        for (i, f) in changes.iter().enumerate() {
            let mut c = base.clone();
            f(&mut c);
            assert_ne!(k(&base), k(&c), "change {i}");
        }
        assert!(k(&base).starts_with(&format!("seed{}-", base.seed)));
    }

    /// A stored network comes back equal to the trained one (with no
    /// training time); a second store of the same key is harmless.
    #[test]
    fn a_stored_network_comes_back_exactly() {
        let d = tempfile::tempdir().unwrap();
        let cache = TrainCache::of(d.path());
        let cfg = tiny();
        let task = cfg.task().unwrap();
        let (fresh, hit) = cache.get_or_train(&cfg, task.as_ref(), &Silent).unwrap();
        assert!(!hit);
        let (cached, hit) = cache.get_or_train(&cfg, task.as_ref(), &Silent).unwrap();
        assert!(hit && cached.seconds == 0.0);
        assert!(same_model(&cached.model, &fresh.model));
        assert_eq!(cached.model.dale, fresh.model.dale);
        assert_eq!(
            (cached.trials, cached.success, &cached.evals),
            (fresh.trials, fresh.success, &fresh.evals)
        );
        let (name, text) = key(&cfg, &task.spec()).unwrap();
        cache
            .store((&name, &text), &fresh, cfg.net.dale, &Silent)
            .unwrap();
        let names: Vec<_> = std::fs::read_dir(&cache.dir).unwrap().collect();
        assert_eq!(names.len(), 1, "the losing copy is discarded");
    }
}
