//! The generic MAT v5 reader against files written by scipy
//! (tests/fixtures/make_fixtures.py) and the writer/update round trip.

use std::path::{Path, PathBuf};

use spikernn::io::mat::{self, MatData, MatVar, WriteOptions};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn var<'a>(f: &'a mat::MatFile, name: &str) -> &'a MatVar {
    f.get(name)
        .unwrap_or_else(|| panic!("variable {name} missing; have {:?}", f.names()))
}

fn check_scipy_fixture(file: &str) {
    let f = mat::read(&fixture(file)).unwrap();
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    assert!(!f.big_endian);
    assert!(f.header_text.starts_with("MATLAB 5.0 MAT-file"));
    let expect = |name: &str, dims: &[usize], data: MatData| {
        let v = var(&f, name);
        assert_eq!(v.dims, dims, "{file}: dims of {name}");
        assert_eq!(v.data, data, "{file}: data of {name}");
    };
    expect(
        "a_f64",
        &[2, 3],
        MatData::F64(vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]),
    );
    expect(
        "a_f32",
        &[3, 2],
        MatData::F32(vec![0.0, 0.5, 1.0, 0.25, 0.75, 1.25]),
    );
    expect(
        "v_row",
        &[1, 5],
        MatData::F64(vec![0.0, 1.5, 3.0, 4.5, 6.0]),
    );
    expect(
        "flags",
        &[1, 4],
        MatData::Bool(vec![true, false, true, true]),
    );
    expect("codes", &[1, 3], MatData::U8(vec![1, 2, 255]));
    expect("n_i64", &[1, 1], MatData::I64(vec![200]));
    expect("big", &[1, 1], MatData::I64(vec![-(1i64 << 40)]));
    expect("i8", &[1, 3], MatData::I8(vec![-128, 0, 127]));
    expect("i16", &[1, 2], MatData::I16(vec![-300, 300]));
    expect("i32", &[1, 2], MatData::I32(vec![-70000, 70000]));
    expect("u16", &[1, 2], MatData::U16(vec![0, 65535]));
    expect("u32", &[1, 1], MatData::U32(vec![4_000_000_000]));
    expect("u64", &[1, 1], MatData::U64(vec![u64::MAX]));
    expect("name", &[1, 7], MatData::Char("sigmoid".into()));
    expect("uni", &[1, 8], MatData::Char("tau µs ✓".into()));
    expect("empty", &[0, 0], MatData::F64(vec![]));
    // numpy arange(24).reshape(2, 3, 4): element (i, j, k) = 12i + 4j + k,
    // stored column-major (i fastest).
    let mut nd = Vec::new();
    for k in 0..4 {
        for j in 0..3 {
            for i in 0..2 {
                nd.push((12 * i + 4 * j + k) as f64);
            }
        }
    }
    expect("nd", &[2, 3, 4], MatData::F64(nd));
    assert_eq!(f.vars.len(), 17);
    // Conveniences.
    assert_eq!(var(&f, "flags").to_f64().unwrap(), vec![1.0, 0.0, 1.0, 1.0]);
    assert_eq!(var(&f, "codes").to_f64().unwrap(), vec![1.0, 2.0, 255.0]);
    assert_eq!(var(&f, "name").as_str(), Some("sigmoid"));
    assert_eq!(var(&f, "name").to_f64(), None);
    assert_eq!(var(&f, "nd").numel(), Some(24));
    assert_eq!(var(&f, "a_f64").matrix_dims(), Some((2, 3)));
    assert_eq!(var(&f, "nd").matrix_dims(), None);
    assert_eq!(var(&f, "flags").data.class_name(), "logical");
}

#[test]
fn mat_reads_scipy_uncompressed() {
    check_scipy_fixture("scipy_plain.mat");
}

#[test]
fn mat_reads_scipy_compressed() {
    check_scipy_fixture("scipy_zlib.mat");
}

#[test]
fn mat_reads_column_vector() {
    let f = mat::read(&fixture("scipy_col.mat")).unwrap();
    let v = var(&f, "v_col");
    assert_eq!(v.dims, vec![5, 1]);
    assert_eq!(v.data, MatData::F64(vec![0.0, 1.5, 3.0, 4.5, 6.0]));
}

#[test]
fn mat_skips_cells_structs_sparse_with_warnings() {
    let f = mat::read(&fixture("scipy_unsupported.mat")).unwrap();
    assert_eq!(f.names(), vec!["before", "after"]);
    assert_eq!(var(&f, "after").as_str(), Some("ok"));
    assert_eq!(f.warnings.len(), 3, "{:?}", f.warnings);
    for (w, name) in f.warnings.iter().zip(["'c'", "'s'", "'sp'"]) {
        assert!(w.contains(name), "{w}");
        assert!(w.contains("scipy_unsupported.mat"), "{w}");
    }
    assert!(f.warnings[0].contains("cell"));
    assert!(f.warnings[1].contains("struct"));
    assert!(f.warnings[2].contains("sparse"));
    assert_eq!(f.skipped_names(), vec!["c", "s", "sp"]);
}

#[test]
fn mat_update_keeps_unparsed_and_other_variables() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("u.mat");
    std::fs::copy(fixture("scipy_unsupported.mat"), &p).unwrap();
    let before = std::fs::read(&p).unwrap();
    let warns = mat::update(
        &p,
        &[
            MatVar::scalar("before", 7.0),
            MatVar::string("added", "new"),
        ],
        &WriteOptions::default(),
    )
    .unwrap();
    assert_eq!(warns.len(), 3);
    let f = mat::read(&p).unwrap();
    assert_eq!(f.names(), vec!["before", "after", "added"]);
    assert_eq!(f.skipped_names(), vec!["c", "s", "sp"]);
    assert_eq!(var(&f, "before").data, MatData::F64(vec![7.0]));
    assert_eq!(var(&f, "after").as_str(), Some("ok"));
    assert_eq!(var(&f, "added").as_str(), Some("new"));
    // The three unparsed elements are carried over byte for byte: the old
    // file's bytes after "before" up to "after" appear unchanged.
    let after = std::fs::read(&p).unwrap();
    let old = mat::parse(&before, &p).unwrap();
    assert_eq!(old.skipped_names().len(), 3);
    let tail = &before[128..];
    // Skip the first element ("before") in the old file: tag + size.
    let size0 = u32::from_le_bytes([tail[4], tail[5], tail[6], tail[7]]) as usize;
    let middle = &tail[8 + size0..];
    let window = &middle[..64.min(middle.len())];
    assert!(
        after.windows(window.len()).any(|w| w == window),
        "unparsed elements were not copied verbatim"
    );
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn mat_write_read_round_trip_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let vars = vec![
        MatVar::f64_matrix("w", 2, 2, vec![1.0, -2.0, 3.5, 1e-300]),
        MatVar::new("s", vec![1, 3], MatData::F32(vec![1.0, f32::NAN, -0.0])),
        MatVar::bool_col("inh", &[true, false]),
        MatVar::i64_scalar("N", 2),
        MatVar::string("activation", "sigmoid"),
        MatVar::new("nd", vec![1, 2, 3], MatData::U16((0..6).collect())),
        MatVar::f64_matrix("e", 0, 3, vec![]),
    ];
    for compress in [true, false] {
        let p = dir.path().join(format!("rt_{compress}.mat"));
        mat::write_with(&p, &vars, &WriteOptions { compress }).unwrap();
        let f = mat::read(&p).unwrap();
        assert_eq!(f.vars.len(), vars.len());
        for (a, b) in f.vars.iter().zip(&vars) {
            assert_eq!(a.name, b.name);
            assert_eq!(a.dims, b.dims);
            match (&a.data, &b.data) {
                (MatData::F32(x), MatData::F32(y)) => {
                    assert_eq!(x.len(), y.len());
                    for (u, v) in x.iter().zip(y) {
                        assert_eq!(u.to_bits(), v.to_bits());
                    }
                }
                _ => assert_eq!(a.data, b.data),
            }
        }
    }
}

#[test]
fn mat_write_failure_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.mat");
    std::fs::write(&p, b"old").unwrap();
    let bad = MatVar::f64_matrix("x", 3, 3, vec![1.0]);
    let e = mat::write(&p, &[bad]).unwrap_err();
    assert!(e.to_string().contains("'x'"), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), b"old");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // A directory that does not exist: an I/O error, no panic.
    let e = mat::write(&dir.path().join("no/such/dir.mat"), &[]).unwrap_err();
    assert!(e.to_string().contains("dir.mat"), "{e}");
}
