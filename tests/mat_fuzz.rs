//! Malformed input never panics: mutations of the fixtures (proptest, a
//! bounded number of cases) and explicit malformed files.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use spikernn::io::mat::{self, MatVar, WriteOptions};
use spikernn::Error;

const CASES: u32 = 2000;

fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut v: Vec<(&'static str, Vec<u8>)> = [
        "scipy_plain.mat",
        "scipy_zlib.mat",
        "scipy_unsupported.mat",
        "tutorial_style.mat",
    ]
    .into_iter()
    .map(|n| (n, std::fs::read(dir.join(n)).unwrap()))
    .collect();
    // Rust-written files, compressed and not.
    let vars = vec![
        MatVar::f64_matrix("w", 3, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        MatVar::bool_col("inh", &[true, false, true]),
        MatVar::string("activation", "sigmoid"),
        MatVar::i64_scalar("N", 3),
    ];
    for compress in [false, true] {
        let b = mat::to_bytes(&vars, &WriteOptions { compress }).unwrap();
        v.push((if compress { "rust_zlib" } else { "rust_plain" }, b));
    }
    v
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Parse `bytes`; Ok or Err are both fine, a panic fails the property.
fn parse_any(bytes: &[u8]) {
    match mat::parse(bytes, Path::new("fuzz.mat")) {
        Ok(f) => {
            // Touch the data so lazy bugs would show.
            for v in &f.vars {
                let _ = v.to_f64();
                let _ = v.numel();
            }
        }
        Err(Error::MatFormat { .. }) => {}
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

fn run_property(name: &str, strat: impl Strategy<Value = (usize, Vec<u8>)>, count: &AtomicUsize) {
    let mut r = runner();
    r.run(&strat, |(_, bytes)| {
        parse_any(&bytes);
        count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{name}: {e}"));
}

#[test]
fn mat_fuzz_mutations_2000_cases_per_property() {
    let fx = fixtures();
    let n = fx.len();
    let count = AtomicUsize::new(0);
    let t0 = std::time::Instant::now();
    let pick = move |i: usize| fx[i % n].1.clone();

    // 1. Truncation at any point.
    let p = pick.clone();
    let trunc = (0..n, any::<prop::sample::Index>()).prop_map(move |(i, at)| {
        let mut b = p(i);
        let k = at.index(b.len() + 1);
        b.truncate(k);
        (i, b)
    });
    run_property("truncate", trunc, &count);

    // 2. Random byte flips (1..16 of them).
    let p = pick.clone();
    let flips = (
        0..n,
        prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..16),
    )
        .prop_map(move |(i, fl)| {
            let mut b = p(i);
            let len = b.len();
            for (at, x) in fl {
                b[at.index(len)] ^= x;
            }
            (i, b)
        });
    run_property("flip", flips, &count);

    // 3. Overwrite an aligned 4-byte word (tags and sizes sit there) with a
    //    random or extreme value.
    let p = pick.clone();
    let words = (
        0..n,
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                prop_oneof![
                    Just(0u32),
                    Just(u32::MAX),
                    Just(0x7fff_ffff),
                    Just(0x8000_0000),
                    Just(0x0004_0001),
                    1u32..20,
                    any::<u32>()
                ],
            ),
            1..4,
        ),
    )
        .prop_map(move |(i, ws)| {
            let mut b = p(i);
            let nw = b.len() / 4;
            for (at, w) in ws {
                let k = at.index(nw) * 4;
                b[k..k + 4].copy_from_slice(&w.to_le_bytes());
            }
            (i, b)
        });
    run_property("words", words, &count);

    // 4. Corrupt compressed payloads: flip bytes past the first compressed
    //    element's zlib header in the compressed fixtures.
    let compressed: Vec<Vec<u8>> = fixtures()
        .into_iter()
        .filter(|(n, _)| n.contains("zlib") || n.contains("unsupported"))
        .map(|(_, b)| b)
        .collect();
    let nc = compressed.len();
    let zl = (
        0..nc,
        prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    )
        .prop_map(move |(i, fl)| {
            let mut b = compressed[i].clone();
            let len = b.len();
            for (at, x) in fl {
                // Past header (128) + tag (8) + zlib header (2).
                let k = 138 + at.index(len - 138);
                b[k] ^= x;
            }
            (i, b)
        });
    run_property("zlib", zl, &count);

    let ran = count.load(Ordering::Relaxed);
    eprintln!(
        "mat fuzz: {ran} mutated inputs parsed without panic in {:.2?}",
        t0.elapsed()
    );
    assert_eq!(ran, 4 * CASES as usize);
}

#[test]
fn mat_fuzz_tf_file_truncations() {
    let b = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tf_sst_go_nogo_N200.mat"),
    )
    .unwrap();
    let mut r = TestRunner::new(Config {
        cases: 200,
        failure_persistence: None,
        ..Config::default()
    });
    let count = AtomicUsize::new(0);
    r.run(&any::<prop::sample::Index>(), |at| {
        let k = at.index(b.len());
        let res = mat::parse(&b[..k], Path::new("tf.mat"));
        // A strict prefix cuts some element (or stops between elements).
        if let Err(e) = res {
            assert!(matches!(e, Error::MatFormat { .. }));
        }
        count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    })
    .unwrap();
    eprintln!(
        "mat fuzz: {} truncations of the TF file",
        count.load(Ordering::Relaxed)
    );
}

fn err_msg(bytes: &[u8]) -> String {
    match mat::parse(bytes, Path::new("bad.mat")) {
        Err(e @ Error::MatFormat { .. }) => e.to_string(),
        Err(e) => panic!("wrong error kind {e}"),
        Ok(_) => panic!("malformed input accepted"),
    }
}

fn one_var_file(compress: bool) -> Vec<u8> {
    mat::to_bytes(
        &[MatVar::f64_matrix("x", 1, 1, vec![1.0])],
        &WriteOptions { compress },
    )
    .unwrap()
}

#[test]
fn mat_wrong_magic() {
    let mut b = one_var_file(false);
    b[126..128].copy_from_slice(b"XX");
    let m = err_msg(&b);
    assert!(m.contains("bad.mat") && m.contains("endian"), "{m}");
}

#[test]
fn mat_truncated_header() {
    let b = one_var_file(false);
    let m = err_msg(&b[..100]);
    assert!(m.contains("truncated header"), "{m}");
    assert!(err_msg(&[]).contains("truncated header"));
}

#[test]
fn mat_size_past_end() {
    let mut b = one_var_file(false);
    // The miMATRIX size field of the only element.
    b[132..136].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let m = err_msg(&b);
    assert!(m.contains("claims"), "{m}");
    // Truncated in the middle of the data.
    let b = one_var_file(false);
    assert!(err_msg(&b[..b.len() - 9]).contains("remain"));
}

#[test]
fn mat_corrupt_zlib() {
    let mut b = one_var_file(true);
    let len = b.len();
    for x in &mut b[140..len - 4] {
        *x ^= 0x5a;
    }
    let m = err_msg(&b);
    assert!(m.contains("compressed"), "{m}");
    // A stream that ends early.
    let b = one_var_file(true);
    let mut short = b[..b.len() - 10].to_vec();
    let n = (short.len() - 136) as u32;
    short[132..136].copy_from_slice(&n.to_le_bytes());
    let m = err_msg(&short);
    assert!(m.contains("compressed"), "{m}");
}

/// A file whose single 1×1 double claims dims 2^20 × 2^20 = 2^40 elements.
fn huge_dims(compress: bool) -> Vec<u8> {
    let mut b = one_var_file(false);
    // header 128 + matrix tag 8 + flags element 16 + dims tag 8 = 160.
    b[160..164].copy_from_slice(&(1u32 << 20).to_le_bytes());
    b[164..168].copy_from_slice(&(1u32 << 20).to_le_bytes());
    if !compress {
        return b;
    }
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&b[128..]).unwrap();
    let z = enc.finish().unwrap();
    let mut out = b[..128].to_vec();
    out.extend_from_slice(&15u32.to_le_bytes());
    out.extend_from_slice(&(z.len() as u32).to_le_bytes());
    out.extend_from_slice(&z);
    out
}

#[test]
fn mat_dims_product_2_pow_40() {
    for compress in [false, true] {
        let m = err_msg(&huge_dims(compress));
        assert!(m.contains("'x'") && m.contains("1048576"), "{m}");
    }
    // And dims whose product overflows usize: 7 dims of 2^31 − 1.
    let mut body = Vec::new();
    let push = |b: &mut Vec<u8>, ty: u32, d: &[u8]| {
        b.extend_from_slice(&ty.to_le_bytes());
        b.extend_from_slice(&(d.len() as u32).to_le_bytes());
        b.extend_from_slice(d);
        b.resize(b.len().div_ceil(8) * 8, 0);
    };
    push(&mut body, 6, &[6, 0, 0, 0, 0, 0, 0, 0]);
    let dims: Vec<u8> = (0..7).flat_map(|_| i32::MAX.to_le_bytes()).collect();
    push(&mut body, 5, &dims);
    push(&mut body, 1, b"y");
    push(&mut body, 9, &1.0f64.to_le_bytes());
    let mut f = one_var_file(false)[..128].to_vec();
    push(&mut f, 14, &body);
    let m = err_msg(&f);
    assert!(m.contains("'y'") && m.contains("overflow"), "{m}");
}

#[test]
fn mat_zlib_bomb_claim_is_refused() {
    // A compressed element whose inner tag claims 4 GiB.
    let mut inner = Vec::new();
    inner.extend_from_slice(&14u32.to_le_bytes());
    inner.extend_from_slice(&u32::MAX.to_le_bytes());
    inner.extend_from_slice(&[0u8; 64]);
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&inner).unwrap();
    let z = enc.finish().unwrap();
    let mut f = one_var_file(false)[..128].to_vec();
    f.extend_from_slice(&15u32.to_le_bytes());
    f.extend_from_slice(&(z.len() as u32).to_le_bytes());
    f.extend_from_slice(&z);
    let m = err_msg(&f);
    assert!(m.contains("limit"), "{m}");
}

#[test]
fn mat_v73_and_v4_rejected() {
    let mut b = one_var_file(false);
    b[..10].copy_from_slice(b"MATLAB 7.3");
    assert!(err_msg(&b).contains("7.3"));
    let v4 = vec![0u8; 200];
    assert!(err_msg(&v4).contains("level-5"));
}
