//! MATLAB level-5 `.mat` files: a reader and a writer for the numeric,
//! logical and char arrays that `scipy.io.savemat` and MATLAB's `save`
//! produce (docs/model.md#model-files).
//!
//! # Why hand-written
//! The format is small and the crates surveyed did not fit: `matrw` 0.1.4
//! needs header patching, can panic through `unimplemented!` on unusual
//! input and drops write errors; `mat5` 0.1.0 cannot handle strings;
//! `matfile` cannot write and fails on int32 scalars. This module sits on
//! `flate2` (zlib) only.
//!
//! # What is supported
//! - Reading: classes double, single, int8…int64, uint8…uint64, logical and
//!   char (UTF-8, UTF-16/uint16 and byte char data); plain and zlib-compressed
//!   (`miCOMPRESSED`) elements; MATLAB's narrow storage (e.g. a double array
//!   whose data element is `miUINT8`); the 4-byte "small data element" form;
//!   any number of dimensions; empty arrays; little- ("IM") and big-endian
//!   ("MI") files. Cell arrays, structs, sparse and complex arrays, function
//!   handles and objects are skipped with a warning naming the variable (see
//!   [`MatFile::warnings`]); the file is still read.
//! - Writing: double, single, integer, logical (uint8 class with the logical
//!   flag, as MATLAB and scipy store it) and char (UTF-8 data, as scipy
//!   writes it) arrays,
//!   zlib-compressed by default, little-endian, with a 128-byte header like
//!   scipy's. Files are always written to a temporary file in the same
//!   directory and then renamed over the target, so a failure never leaves a
//!   partial file behind.
//! - [`update`] adds or replaces variables in an existing file and keeps every
//!   other top-level element byte for byte, including ones this module cannot
//!   parse.
//!
//! Malformed input gives [`Error::MatFormat`] and never panics. Sizes are
//! checked against the bytes actually present before anything is allocated,
//! and decompression is incremental and bounded by [`MAX_ELEMENT_BYTES`].
//!
//! Data are column-major (MATLAB order) throughout: element (i, j) of an
//! r×c matrix is `data[i + j·r]`.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;

use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;

/// Largest decompressed size accepted for one compressed element, in bytes
/// (2 GiB). Larger claims are refused before decompressing.
pub const MAX_ELEMENT_BYTES: u64 = 1 << 31;

// Data element types (MAT-file format, table 1-1).
const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
const MI_UTF8: u32 = 16;
const MI_UTF16: u32 = 17;
const MI_UTF32: u32 = 18;

// Array classes.
const MX_CELL: u32 = 1;
const MX_STRUCT: u32 = 2;
const MX_OBJECT: u32 = 3;
const MX_CHAR: u32 = 4;
const MX_SPARSE: u32 = 5;
const MX_DOUBLE: u32 = 6;
const MX_SINGLE: u32 = 7;
const MX_INT8: u32 = 8;
const MX_UINT8: u32 = 9;
const MX_INT16: u32 = 10;
const MX_UINT16: u32 = 11;
const MX_INT32: u32 = 12;
const MX_UINT32: u32 = 13;
const MX_INT64: u32 = 14;
const MX_UINT64: u32 = 15;
const MX_FUNCTION: u32 = 16;
const MX_OPAQUE: u32 = 17;

const FLAG_COMPLEX: u32 = 0x0800;
const FLAG_LOGICAL: u32 = 0x0200;

/// The values of one variable, column-major, in the variable's MATLAB class.
#[derive(Debug, Clone, PartialEq)]
pub enum MatData {
    /// Class double.
    F64(Vec<f64>),
    /// Class single.
    F32(Vec<f32>),
    /// Class int8.
    I8(Vec<i8>),
    /// Class int16.
    I16(Vec<i16>),
    /// Class int32.
    I32(Vec<i32>),
    /// Class int64.
    I64(Vec<i64>),
    /// Class uint8 (without the logical flag).
    U8(Vec<u8>),
    /// Class uint16.
    U16(Vec<u16>),
    /// Class uint32.
    U32(Vec<u32>),
    /// Class uint64.
    U64(Vec<u64>),
    /// Class logical (stored as uint8 with the logical flag).
    Bool(Vec<bool>),
    /// Class char. The rows of a multi-row char array are joined with `'\n'`.
    Char(String),
}

macro_rules! numeric_map {
    ($data:expr, $v:ident => $body:expr, bool $b:ident => $bbody:expr, char => $cbody:expr) => {
        match $data {
            MatData::F64($v) => $body,
            MatData::F32($v) => $body,
            MatData::I8($v) => $body,
            MatData::I16($v) => $body,
            MatData::I32($v) => $body,
            MatData::I64($v) => $body,
            MatData::U8($v) => $body,
            MatData::U16($v) => $body,
            MatData::U32($v) => $body,
            MatData::U64($v) => $body,
            MatData::Bool($b) => $bbody,
            MatData::Char(_) => $cbody,
        }
    };
}

impl MatData {
    /// MATLAB class name: `double`, `single`, `int8` … `uint64`, `logical`,
    /// `char`.
    pub fn class_name(&self) -> &'static str {
        match self {
            MatData::F64(_) => "double",
            MatData::F32(_) => "single",
            MatData::I8(_) => "int8",
            MatData::I16(_) => "int16",
            MatData::I32(_) => "int32",
            MatData::I64(_) => "int64",
            MatData::U8(_) => "uint8",
            MatData::U16(_) => "uint16",
            MatData::U32(_) => "uint32",
            MatData::U64(_) => "uint64",
            MatData::Bool(_) => "logical",
            MatData::Char(_) => "char",
        }
    }

    /// Number of stored values (for char: UTF-16 code units of the text,
    /// so a multi-row array also counts its joining newlines).
    pub fn len(&self) -> usize {
        match self {
            MatData::Char(s) => s.encode_utf16().count(),
            d => numeric_map!(d, v => v.len(), bool b => b.len(), char => 0),
        }
    }

    /// Whether no values are stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f64 (column-major) for every numeric or logical class
    /// (true = 1); `None` for char. Integers beyond 2^53 lose precision.
    #[allow(clippy::unnecessary_cast)] // the macro casts every class, f64 too
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        numeric_map!(self, v => Some(v.iter().map(|&x| x as f64).collect()),
            bool b => Some(b.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect()),
            char => None)
    }

    /// The text of a char array; `None` for other classes.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MatData::Char(s) => Some(s),
            _ => None,
        }
    }
}

/// One named array: `dims` (MATLAB order, at least 2 when read from a file)
/// and column-major `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct MatVar {
    /// Variable name.
    pub name: String,
    /// Dimensions, e.g. `[rows, cols]` or `[200, 200, 1]`.
    pub dims: Vec<usize>,
    /// Values, column-major.
    pub data: MatData,
}

impl MatVar {
    /// A variable from its parts (no checks; [`write()`] checks consistency).
    pub fn new(name: impl Into<String>, dims: Vec<usize>, data: MatData) -> Self {
        MatVar {
            name: name.into(),
            dims,
            data,
        }
    }

    /// A `rows`×`cols` double matrix from column-major data.
    pub fn f64_matrix(name: impl Into<String>, rows: usize, cols: usize, data: Vec<f64>) -> Self {
        Self::new(name, vec![rows, cols], MatData::F64(data))
    }

    /// A 1×n double row vector.
    pub fn f64_row(name: impl Into<String>, data: Vec<f64>) -> Self {
        let n = data.len();
        Self::f64_matrix(name, 1, n, data)
    }

    /// An n×1 double column vector.
    pub fn f64_col(name: impl Into<String>, data: Vec<f64>) -> Self {
        let n = data.len();
        Self::f64_matrix(name, n, 1, data)
    }

    /// A 1×1 double.
    pub fn scalar(name: impl Into<String>, v: f64) -> Self {
        Self::f64_matrix(name, 1, 1, vec![v])
    }

    /// A 1×1 int64 (what scipy writes for a Python int).
    pub fn i64_scalar(name: impl Into<String>, v: i64) -> Self {
        Self::new(name, vec![1, 1], MatData::I64(vec![v]))
    }

    /// An n×1 logical column.
    pub fn bool_col(name: impl Into<String>, v: &[bool]) -> Self {
        Self::new(name, vec![v.len(), 1], MatData::Bool(v.to_vec()))
    }

    /// A 1×n char array (n = UTF-16 code units; 0×0 when empty).
    pub fn string(name: impl Into<String>, s: &str) -> Self {
        let n = s.encode_utf16().count();
        let dims = if n == 0 { vec![0, 0] } else { vec![1, n] };
        Self::new(name, dims, MatData::Char(s.to_string()))
    }

    /// Product of the dimensions (`None` on overflow).
    pub fn numel(&self) -> Option<usize> {
        self.dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
    }

    /// The values as f64; see [`MatData::to_f64`].
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        self.data.to_f64()
    }

    /// The text of a char variable.
    pub fn as_str(&self) -> Option<&str> {
        self.data.as_str()
    }

    /// `(rows, cols)` when the variable is a matrix: two dimensions, or more
    /// with every dimension after the second equal to 1.
    pub fn matrix_dims(&self) -> Option<(usize, usize)> {
        match self.dims.as_slice() {
            [] => None,
            [n] => Some((*n, 1)),
            [r, c, rest @ ..] if rest.iter().all(|&d| d == 1) => Some((*r, *c)),
            _ => None,
        }
    }
}

/// A top-level element as it appears in the file, kept so that [`update`]
/// can write it back unchanged.
#[derive(Debug, Clone)]
struct RawElement {
    /// Variable name, when it could be read.
    name: Option<String>,
    /// Tag and data (plus zero padding for uncompressed elements).
    bytes: Vec<u8>,
    /// Index into [`MatFile::vars`] when parsed.
    var: Option<usize>,
}

/// A parsed `.mat` file.
#[derive(Debug, Clone)]
pub struct MatFile {
    /// The descriptive text of the header (trailing spaces removed).
    pub header_text: String,
    /// The file was big-endian ("MI").
    pub big_endian: bool,
    /// Variables read, in file order.
    pub vars: Vec<MatVar>,
    /// One message per element that was skipped (naming the variable).
    pub warnings: Vec<String>,
    elements: Vec<RawElement>,
}

impl MatFile {
    /// The variable called `name` (the last one if the name repeats, as
    /// `scipy.io.loadmat` does).
    pub fn get(&self, name: &str) -> Option<&MatVar> {
        self.vars.iter().rev().find(|v| v.name == name)
    }

    /// Names of the variables read, in file order.
    pub fn names(&self) -> Vec<&str> {
        self.vars.iter().map(|v| v.name.as_str()).collect()
    }

    /// Names of elements that were skipped (unsupported classes), where known.
    pub fn skipped_names(&self) -> Vec<&str> {
        self.elements
            .iter()
            .filter(|e| e.var.is_none())
            .filter_map(|e| e.name.as_deref())
            .collect()
    }
}

/// Options for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// zlib-compress each variable (`miCOMPRESSED`, MATLAB v7 style).
    pub compress: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions { compress: true }
    }
}

// ---------------------------------------------------------------- reading

fn fmt_err(path: &Path, msg: impl Into<String>) -> Error {
    Error::MatFormat {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

#[inline]
fn rd_u32(b: &[u8], be: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

/// Next multiple of 8 (saturating).
#[inline]
fn pad8(n: usize) -> usize {
    n.checked_add(7).map_or(usize::MAX, |v| v & !7)
}

/// One data element: its type, its data, and where the next element starts.
struct Elem<'a> {
    ty: u32,
    data: &'a [u8],
    next: usize,
    /// End of the element's data (before padding).
    end: usize,
}

/// Read the data element at `pos` of `buf`.
fn read_elem(buf: &[u8], pos: usize, be: bool) -> std::result::Result<Elem<'_>, String> {
    let tag = pos
        .checked_add(8)
        .and_then(|e| buf.get(pos..e))
        .ok_or_else(|| format!("truncated element tag at offset {pos}"))?;
    let first = rd_u32(&tag[0..4], be);
    if first >> 16 != 0 {
        // Small data element: size and type share the first word, the data
        // sits in the second.
        let ty = first & 0xffff;
        let n = (first >> 16) as usize;
        if n > 4 {
            return Err(format!(
                "small data element at offset {pos} claims {n} bytes (at most 4)"
            ));
        }
        // Either byte order keeps the data in the second word.
        return Ok(Elem {
            ty,
            data: &tag[4..4 + n],
            next: pos + 8,
            end: pos + 8,
        });
    }
    let ty = first;
    let size = rd_u32(&tag[4..8], be) as usize;
    let start = pos + 8;
    let end = start
        .checked_add(size)
        .filter(|&e| e <= buf.len())
        .ok_or_else(|| {
            format!(
                "element at offset {pos} claims {size} bytes but only {} remain",
                buf.len() - start
            )
        })?;
    let next = if ty == MI_COMPRESSED {
        end
    } else {
        start.saturating_add(pad8(size)).min(buf.len())
    };
    Ok(Elem {
        ty,
        data: &buf[start..end],
        next,
        end,
    })
}

/// Bytes per value of a numeric data type.
fn width(ty: u32) -> Option<usize> {
    Some(match ty {
        MI_INT8 | MI_UINT8 | MI_UTF8 => 1,
        MI_INT16 | MI_UINT16 | MI_UTF16 => 2,
        MI_INT32 | MI_UINT32 | MI_SINGLE | MI_UTF32 => 4,
        MI_DOUBLE | MI_INT64 | MI_UINT64 => 8,
        _ => return None,
    })
}

macro_rules! decode_as {
    ($data:expr, $be:expr, $t:ty, $n:expr) => {
        $data
            .chunks_exact($n)
            .map(|c| {
                let mut a = [0u8; $n];
                a.copy_from_slice(c);
                if $be {
                    <$t>::from_be_bytes(a)
                } else {
                    <$t>::from_le_bytes(a)
                }
            })
            .collect::<Vec<$t>>()
    };
}

/// Decode a numeric data element. The caller has checked that `data.len()`
/// is a multiple of the width.
fn decode_raw(ty: u32, data: &[u8], be: bool) -> Option<MatData> {
    Some(match ty {
        MI_INT8 => MatData::I8(data.iter().map(|&b| b as i8).collect()),
        MI_UINT8 | MI_UTF8 => MatData::U8(data.to_vec()),
        MI_INT16 => MatData::I16(decode_as!(data, be, i16, 2)),
        MI_UINT16 | MI_UTF16 => MatData::U16(decode_as!(data, be, u16, 2)),
        MI_INT32 => MatData::I32(decode_as!(data, be, i32, 4)),
        MI_UINT32 | MI_UTF32 => MatData::U32(decode_as!(data, be, u32, 4)),
        MI_SINGLE => MatData::F32(decode_as!(data, be, f32, 4)),
        MI_DOUBLE => MatData::F64(decode_as!(data, be, f64, 8)),
        MI_INT64 => MatData::I64(decode_as!(data, be, i64, 8)),
        MI_UINT64 => MatData::U64(decode_as!(data, be, u64, 8)),
        _ => return None,
    })
}

/// The numbers of a decoded data element (in its storage type, one of
/// `MatData`'s numeric variants) cast to `$t`.
macro_rules! cast_raw {
    ($raw:expr, $t:ty) => {
        match $raw {
            MatData::F64(v) => v.into_iter().map(|x| x as $t).collect::<Vec<$t>>(),
            MatData::F32(v) => v.into_iter().map(|x| x as $t).collect(),
            MatData::I8(v) => v.into_iter().map(|x| x as $t).collect(),
            MatData::I16(v) => v.into_iter().map(|x| x as $t).collect(),
            MatData::I32(v) => v.into_iter().map(|x| x as $t).collect(),
            MatData::I64(v) => v.into_iter().map(|x| x as $t).collect(),
            MatData::U8(v) => v.into_iter().map(|x| x as $t).collect(),
            MatData::U16(v) => v.into_iter().map(|x| x as $t).collect(),
            MatData::U32(v) => v.into_iter().map(|x| x as $t).collect(),
            MatData::U64(v) => v.into_iter().map(|x| x as $t).collect(),
            MatData::Bool(_) | MatData::Char(_) => unreachable!("decode_raw gives numbers"),
        }
    };
}

/// Convert stored numbers to the array's class (MATLAB stores values in the
/// narrowest type that holds them exactly).
#[allow(clippy::unnecessary_cast)] // the macro casts every pair of types
fn to_class(raw: MatData, class: u32, logical: bool) -> Option<MatData> {
    if logical {
        return Some(MatData::Bool(
            cast_raw!(raw, f64).into_iter().map(|x| x != 0.0).collect(),
        ));
    }
    Some(match class {
        MX_DOUBLE => MatData::F64(cast_raw!(raw, f64)),
        MX_SINGLE => MatData::F32(cast_raw!(raw, f32)),
        MX_INT8 => MatData::I8(cast_raw!(raw, i8)),
        MX_UINT8 => MatData::U8(cast_raw!(raw, u8)),
        MX_INT16 => MatData::I16(cast_raw!(raw, i16)),
        MX_UINT16 => MatData::U16(cast_raw!(raw, u16)),
        MX_INT32 => MatData::I32(cast_raw!(raw, i32)),
        MX_UINT32 => MatData::U32(cast_raw!(raw, u32)),
        MX_INT64 => MatData::I64(cast_raw!(raw, i64)),
        MX_UINT64 => MatData::U64(cast_raw!(raw, u64)),
        _ => return None,
    })
}

/// Char data → text. Multi-row arrays (column-major) become rows joined by
/// `'\n'`.
fn decode_char(ty: u32, data: &[u8], dims: &[usize], be: bool) -> String {
    // Code units, column-major.
    let units: Vec<u32> = match ty {
        MI_UTF8 => {
            let s = String::from_utf8_lossy(data);
            // UTF-8 data: one unit per character.
            s.chars().map(|c| c as u32).collect()
        }
        _ => match decode_raw(ty, data, be) {
            Some(MatData::U8(v)) => v.into_iter().map(u32::from).collect(),
            Some(MatData::I8(v)) => v.into_iter().map(|x| u32::from(x as u8)).collect(),
            Some(MatData::U16(v)) => v.into_iter().map(u32::from).collect(),
            Some(MatData::I16(v)) => v.into_iter().map(|x| u32::from(x as u16)).collect(),
            Some(MatData::U32(v)) => v,
            Some(MatData::I32(v)) => v.into_iter().map(|x| x as u32).collect(),
            _ => Vec::new(),
        },
    };
    let rows = dims.first().copied().unwrap_or(0);
    let ordered: Vec<u32> = if rows > 1 && units.len().is_multiple_of(rows) {
        let cols = units.len() / rows;
        let mut o = Vec::with_capacity(units.len() + rows);
        for i in 0..rows {
            if i > 0 {
                o.push(u32::from(b'\n'));
            }
            o.extend((0..cols).map(|j| units[i + j * rows]));
        }
        o
    } else {
        units
    };
    // UTF-16 code units (surrogate pairs included) or UTF-32 code points.
    if ordered.iter().all(|&u| u <= 0xffff) {
        let u16s: Vec<u16> = ordered.into_iter().map(|u| u as u16).collect();
        String::from_utf16_lossy(&u16s)
    } else {
        ordered
            .into_iter()
            .map(|u| char::from_u32(u).unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    }
}

fn class_label(class: u32) -> String {
    match class {
        MX_CELL => "cell arrays are".into(),
        MX_STRUCT => "structs are".into(),
        MX_OBJECT => "objects are".into(),
        MX_SPARSE => "sparse matrices are".into(),
        MX_FUNCTION => "function handles are".into(),
        MX_OPAQUE => "MATLAB objects (opaque class) are".into(),
        c => format!("array class {c} is"),
    }
}

enum Parsed {
    Var(MatVar),
    Skipped {
        name: Option<String>,
        reason: String,
    },
}

/// Parse the data of a `miMATRIX` element.
fn parse_matrix(body: &[u8], be: bool) -> std::result::Result<Parsed, String> {
    let (class, complex, logical, p) = read_flags(body, be)?;
    if class == MX_OPAQUE {
        let name = read_name(body, p, be).ok().map(|(n, _)| n);
        return Ok(Parsed::Skipped {
            name,
            reason: class_label(class),
        });
    }
    let (dims, p) = read_dims(body, p, be)?;
    let (name, p) = read_name(body, p, be)?;
    let ctx = |m: String| format!("variable '{name}': {m}");
    if let Some(&d) = dims.iter().find(|&&d| d < 0) {
        return Err(ctx(format!("negative dimension {d}")));
    }
    let dims: Vec<usize> = dims.into_iter().map(|d| d as usize).collect();
    let is_numeric = (MX_DOUBLE..=MX_UINT64).contains(&class);
    if !(is_numeric || class == MX_CHAR) || complex {
        let reason = if complex && (is_numeric || class == MX_CHAR) {
            "complex arrays are".into()
        } else {
            class_label(class)
        };
        return Ok(Parsed::Skipped {
            name: Some(name),
            reason,
        });
    }
    let numel = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| ctx(format!("dimensions {dims:?} overflow")))?;
    let (ty, data) = if p >= body.len() && numel == 0 {
        (MI_DOUBLE, &body[0..0])
    } else {
        let e = read_elem(body, p, be).map_err(|e| ctx(format!("data: {e}")))?;
        (e.ty, e.data)
    };
    let data = decode_data(class, logical, &dims, numel, ty, data, be).map_err(ctx)?;
    Ok(Parsed::Var(MatVar { name, dims, data }))
}

/// The array-flags element: (class, complex, logical, next position).
fn read_flags(body: &[u8], be: bool) -> std::result::Result<(u32, bool, bool, usize), String> {
    let flags = read_elem(body, 0, be).map_err(|e| format!("array flags: {e}"))?;
    if !(flags.ty == MI_UINT32 || flags.ty == MI_INT32) || flags.data.len() < 4 {
        return Err(format!(
            "bad array flags element (type {}, {} bytes)",
            flags.ty,
            flags.data.len()
        ));
    }
    let fw = rd_u32(flags.data, be);
    let class = fw & 0xff;
    Ok((
        class,
        fw & FLAG_COMPLEX != 0,
        fw & FLAG_LOGICAL != 0,
        flags.next,
    ))
}

/// The array-name element at `p`: (name, next position).
fn read_name(body: &[u8], p: usize, be: bool) -> std::result::Result<(String, usize), String> {
    let e = read_elem(body, p, be).map_err(|e| format!("array name: {e}"))?;
    if e.ty != MI_INT8 && e.ty != MI_UINT8 && e.ty != MI_UTF8 {
        return Err(format!("array name has data type {}", e.ty));
    }
    let s = String::from_utf8_lossy(e.data)
        .trim_end_matches('\0')
        .to_string();
    Ok((s, e.next))
}

/// The dimensions element at `p` (signed, as stored): (dims, next position).
fn read_dims(body: &[u8], p: usize, be: bool) -> std::result::Result<(Vec<i32>, usize), String> {
    let de = read_elem(body, p, be).map_err(|e| format!("dimensions: {e}"))?;
    if de.ty != MI_INT32 || !de.data.len().is_multiple_of(4) || de.data.is_empty() {
        return Err(format!(
            "bad dimensions element (type {}, {} bytes)",
            de.ty,
            de.data.len()
        ));
    }
    let dims = de
        .data
        .chunks_exact(4)
        .map(|c| rd_u32(c, be) as i32)
        .collect();
    Ok((dims, de.next))
}

/// The data element of a char or numeric array of `numel` elements, checked
/// against the bytes present before anything is allocated.
fn decode_data(
    class: u32,
    logical: bool,
    dims: &[usize],
    numel: usize,
    ty: u32,
    data: &[u8],
    be: bool,
) -> std::result::Result<MatData, String> {
    let w = width(ty).ok_or_else(|| format!("unsupported data type {ty}"))?;
    if class == MX_CHAR {
        if ty != MI_UTF8 && numel.checked_mul(w) != Some(data.len()) {
            return Err(format!(
                "dimensions {dims:?} need {numel} characters but the data holds {} bytes of {w}-byte units",
                data.len()
            ));
        }
        return Ok(MatData::Char(decode_char(ty, data, dims, be)));
    }
    if matches!(ty, MI_UTF8 | MI_UTF16 | MI_UTF32) {
        return Err(format!("text data type {ty} in a numeric array"));
    }
    if numel.checked_mul(w) != Some(data.len()) {
        return Err(format!(
            "dimensions {dims:?} ({numel} elements) do not match the data ({} bytes of {w}-byte values)",
            data.len()
        ));
    }
    let raw = decode_raw(ty, data, be).ok_or_else(|| format!("unsupported data type {ty}"))?;
    to_class(raw, class, logical).ok_or_else(|| format!("unsupported class {class}"))
}

/// Inflate a compressed element: its first 8 bytes are a tag that gives the
/// size; at most that many bytes (bounded by [`MAX_ELEMENT_BYTES`]) are
/// decompressed, incrementally.
fn inflate(data: &[u8], be: bool) -> std::result::Result<Vec<u8>, String> {
    let mut dec = ZlibDecoder::new(data);
    let mut tag = [0u8; 8];
    dec.read_exact(&mut tag)
        .map_err(|e| format!("corrupt compressed element: {e}"))?;
    if rd_u32(&tag[0..4], be) >> 16 != 0 {
        return Err("compressed element holds a small data element".into());
    }
    let size = u64::from(rd_u32(&tag[4..8], be));
    if size > MAX_ELEMENT_BYTES {
        return Err(format!(
            "compressed element claims {size} bytes, more than the {MAX_ELEMENT_BYTES}-byte limit"
        ));
    }
    // Capacity from what is plausible, not from the claim.
    let guess = (data.len() as u64).saturating_mul(4).min(size) as usize;
    let mut out = Vec::with_capacity(guess.saturating_add(8));
    out.extend_from_slice(&tag);
    (&mut dec)
        .take(size)
        .read_to_end(&mut out)
        .map_err(|e| format!("corrupt compressed element: {e}"))?;
    if (out.len() as u64) < size + 8 {
        return Err(format!(
            "compressed element ends after {} of {size} bytes",
            out.len() - 8
        ));
    }
    Ok(out)
}

/// Parse a whole file held in memory; `path` is used in messages only.
pub fn parse(bytes: &[u8], path: &Path) -> Result<MatFile> {
    let be = read_header(bytes, path)?;
    let header_text = String::from_utf8_lossy(&bytes[..116])
        .trim_end_matches([' ', '\0'])
        .to_string();
    let mut file = MatFile {
        header_text,
        big_endian: be,
        vars: Vec::new(),
        warnings: Vec::new(),
        elements: Vec::new(),
    };
    let mut pos = 128;
    while pos < bytes.len() {
        let e = read_elem(bytes, pos, be).map_err(|m| fmt_err(path, m))?;
        let mut raw = bytes[pos..e.end].to_vec();
        if e.ty != MI_COMPRESSED {
            raw.resize(pad8(raw.len()), 0);
        }
        let parsed = parse_top_element(&e, pos, be, path, &mut file.warnings)?;
        let mut el = RawElement {
            name: None,
            bytes: raw,
            var: None,
        };
        match parsed {
            Some(Ok(Parsed::Var(v))) => {
                el.name = Some(v.name.clone());
                el.var = Some(file.vars.len());
                file.vars.push(v);
            }
            Some(Ok(Parsed::Skipped { name, reason })) => {
                file.warnings.push(format!(
                    "{}: skipped variable '{}': {reason} not supported",
                    path.display(),
                    name.as_deref().unwrap_or("?")
                ));
                el.name = name;
            }
            Some(Err(m)) => return Err(fmt_err(path, m)),
            None => {}
        }
        file.elements.push(el);
        pos = e.next;
    }
    Ok(file)
}

/// Check the 128-byte header; returns whether the file is big-endian.
fn read_header(bytes: &[u8], path: &Path) -> Result<bool> {
    if bytes.len() < 128 {
        return Err(fmt_err(
            path,
            format!(
                "truncated header ({} bytes, a MAT v5 header has 128)",
                bytes.len()
            ),
        ));
    }
    if bytes.starts_with(b"MATLAB 7.3") {
        return Err(fmt_err(
            path,
            "MATLAB v7.3 (HDF5) files are not supported; save with -v7",
        ));
    }
    match &bytes[126..128] {
        b"IM" => Ok(false),
        b"MI" => Ok(true),
        _ => Err(fmt_err(
            path,
            "not a MATLAB level-5 file (no IM/MI endian indicator at byte 126)",
        )),
    }
}

/// A top-level element at offset `pos`: a matrix (plain or compressed) is
/// parsed; anything else is skipped with a warning (`None`).
fn parse_top_element(
    e: &Elem<'_>,
    pos: usize,
    be: bool,
    path: &Path,
    warnings: &mut Vec<String>,
) -> Result<Option<std::result::Result<Parsed, String>>> {
    Ok(match e.ty {
        MI_MATRIX => Some(parse_matrix(e.data, be)),
        MI_COMPRESSED => {
            let inner = inflate(e.data, be)
                .map_err(|m| fmt_err(path, format!("element at offset {pos}: {m}")))?;
            let ie = read_elem(&inner, 0, be).map_err(|m| fmt_err(path, m))?;
            if ie.ty == MI_MATRIX {
                Some(parse_matrix(ie.data, be))
            } else {
                warnings.push(format!(
                    "{}: skipped compressed element of type {} at offset {pos}",
                    path.display(),
                    ie.ty
                ));
                None
            }
        }
        t => {
            warnings.push(format!(
                "{}: skipped top-level element of type {t} at offset {pos}",
                path.display()
            ));
            None
        }
    })
}

/// Read a `.mat` file. Unsupported variables are skipped and reported in
/// [`MatFile::warnings`].
pub fn read(path: &Path) -> Result<MatFile> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&bytes, path)
}

// ---------------------------------------------------------------- writing

fn push_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Append a data element (tag, data, zero padding to 8 bytes).
fn push_elem(out: &mut Vec<u8>, ty: u32, data: &[u8]) -> std::result::Result<(), String> {
    let n = u32::try_from(data.len())
        .map_err(|_| format!("{} bytes do not fit a data element", data.len()))?;
    push_u32(out, ty);
    push_u32(out, n);
    out.extend_from_slice(data);
    out.resize(out.len() + (pad8(data.len()) - data.len()), 0);
    Ok(())
}

fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic())
        && name.len() <= 63
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

macro_rules! le_bytes {
    ($v:expr) => {
        $v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()
    };
}

/// The `miMATRIX` element of one variable (tag included).
/// Char data as UTF-8 bytes, as scipy writes it (scipy decodes miUINT16
/// char data with the platform codec, which garbles non-ASCII text); MATLAB
/// reads both. A multi-row array holds its rows joined by '\n' and is
/// stored column-major.
fn encode_char(s: &str, dims: &[usize], numel: usize) -> std::result::Result<Vec<u8>, String> {
    let units: Vec<u16> = if dims.first().copied().unwrap_or(0) > 1 {
        let rows: Vec<Vec<u16>> = s.split('\n').map(|r| r.encode_utf16().collect()).collect();
        let cols = rows.first().map_or(0, Vec::len);
        if rows.len() != dims[0] || rows.iter().any(|r| r.len() != cols) {
            return Err(format!("char rows do not match dimensions {dims:?}"));
        }
        (0..cols)
            .flat_map(|j| rows.iter().map(move |r| r[j]))
            .collect()
    } else {
        s.encode_utf16().collect()
    };
    if units.len() != numel {
        return Err(format!(
            "dimensions {dims:?} ({numel} characters) but the text has {} UTF-16 units",
            units.len()
        ));
    }
    Ok(String::from_utf16_lossy(&units).into_bytes())
}

fn encode_matrix(var: &MatVar) -> std::result::Result<Vec<u8>, String> {
    if !valid_name(&var.name) {
        return Err(format!(
            "invalid variable name '{}' (a letter, then letters, digits or '_', at most 63)",
            var.name
        ));
    }
    let ctx = |m: String| format!("variable '{}': {m}", var.name);
    let dims: Vec<usize> = match var.dims.len() {
        0 => vec![1, var.data.len()],
        1 => vec![1, var.dims[0]],
        _ => var.dims.clone(),
    };
    let numel = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| ctx(format!("dimensions {dims:?} overflow")))?;
    let (class, flags, ty, data): (u32, u32, u32, Vec<u8>) = match &var.data {
        MatData::F64(v) => (MX_DOUBLE, 0, MI_DOUBLE, le_bytes!(v)),
        MatData::F32(v) => (MX_SINGLE, 0, MI_SINGLE, le_bytes!(v)),
        MatData::I8(v) => (MX_INT8, 0, MI_INT8, le_bytes!(v)),
        MatData::I16(v) => (MX_INT16, 0, MI_INT16, le_bytes!(v)),
        MatData::I32(v) => (MX_INT32, 0, MI_INT32, le_bytes!(v)),
        MatData::I64(v) => (MX_INT64, 0, MI_INT64, le_bytes!(v)),
        MatData::U8(v) => (MX_UINT8, 0, MI_UINT8, v.clone()),
        MatData::U16(v) => (MX_UINT16, 0, MI_UINT16, le_bytes!(v)),
        MatData::U32(v) => (MX_UINT32, 0, MI_UINT32, le_bytes!(v)),
        MatData::U64(v) => (MX_UINT64, 0, MI_UINT64, le_bytes!(v)),
        MatData::Bool(v) => (
            MX_UINT8,
            FLAG_LOGICAL,
            MI_UINT8,
            v.iter().map(|&b| u8::from(b)).collect(),
        ),
        MatData::Char(s) => (
            MX_CHAR,
            0,
            MI_UTF8,
            encode_char(s, &dims, numel).map_err(ctx)?,
        ),
    };
    if !matches!(var.data, MatData::Char(_)) && numel != var.data.len() {
        return Err(ctx(format!(
            "dimensions {dims:?} ({numel} elements) but {} values",
            var.data.len()
        )));
    }
    let mut body = Vec::with_capacity(data.len() + 64);
    let mut fl = Vec::with_capacity(8);
    fl.extend_from_slice(&(class | flags).to_le_bytes());
    fl.extend_from_slice(&0u32.to_le_bytes());
    push_elem(&mut body, MI_UINT32, &fl)?;
    let mut db = Vec::with_capacity(dims.len() * 4);
    for &d in &dims {
        let d = i32::try_from(d).map_err(|_| ctx(format!("dimension {d} exceeds 2^31 − 1")))?;
        db.extend_from_slice(&d.to_le_bytes());
    }
    push_elem(&mut body, MI_INT32, &db)?;
    push_elem(&mut body, MI_INT8, var.name.as_bytes())?;
    push_elem(&mut body, ty, &data).map_err(ctx)?;
    let mut out = Vec::with_capacity(body.len() + 8);
    push_elem(&mut out, MI_MATRIX, &body).map_err(ctx)?;
    Ok(out)
}

/// One top-level element for `var`, compressed or not.
fn encode_var(var: &MatVar, opts: &WriteOptions) -> std::result::Result<Vec<u8>, String> {
    let m = encode_matrix(var)?;
    if !opts.compress {
        return Ok(m);
    }
    let mut enc = ZlibEncoder::new(Vec::new(), Compression::default());
    enc.write_all(&m)
        .and_then(|_| enc.finish())
        .map_err(|e| format!("variable '{}': compression failed: {e}", var.name))
        .and_then(|z| {
            let n = u32::try_from(z.len())
                .map_err(|_| format!("variable '{}' is too large", var.name))?;
            let mut out = Vec::with_capacity(z.len() + 8);
            push_u32(&mut out, MI_COMPRESSED);
            push_u32(&mut out, n);
            out.extend_from_slice(&z);
            Ok(out)
        })
}

/// The 128-byte header: fixed text (so identical content gives identical
/// bytes), zero subsystem offset, version 0x0100, "IM".
fn header() -> Vec<u8> {
    let text = format!(
        "MATLAB 5.0 MAT-file, Platform: {}, Created by: spikernn {}",
        std::env::consts::OS,
        env!("CARGO_PKG_VERSION")
    );
    let mut h = text.into_bytes();
    h.truncate(116);
    h.resize(116, b' ');
    h.extend_from_slice(&[0u8; 8]);
    h.extend_from_slice(&0x0100u16.to_le_bytes());
    h.extend_from_slice(b"IM");
    h
}

/// A complete little-endian file with `vars`, in memory.
pub fn to_bytes(vars: &[MatVar], opts: &WriteOptions) -> Result<Vec<u8>> {
    encode_file(vars, opts, Path::new("<memory>"))
}

fn encode_file(vars: &[MatVar], opts: &WriteOptions, path: &Path) -> Result<Vec<u8>> {
    let mut out = header();
    for v in vars {
        out.extend(encode_var(v, opts).map_err(|m| fmt_err(path, m))?);
    }
    Ok(out)
}

/// Write `vars` to `path` (zlib-compressed), atomically.
pub fn write(path: &Path, vars: &[MatVar]) -> Result<()> {
    write_with(path, vars, &WriteOptions::default())
}

/// Write `vars` to `path` with `opts`, atomically. Names must be valid
/// MATLAB identifiers (≤ 63 characters) and dims must match the data;
/// 1-D dims are written as 1×n.
pub fn write_with(path: &Path, vars: &[MatVar], opts: &WriteOptions) -> Result<()> {
    let bytes = encode_file(vars, opts, path)?;
    write_atomic(path, &bytes)
}

/// Add or replace `vars` in the existing file `path`, atomically: a variable
/// with the same name is replaced where it stood, new ones are appended, and
/// every other top-level element (parsed or not) is written back unchanged.
/// Returns the warnings of reading the old file. Big-endian files are
/// rewritten little-endian; they fail if they hold elements that could not
/// be parsed (those cannot be converted).
pub fn update(path: &Path, vars: &[MatVar], opts: &WriteOptions) -> Result<Vec<String>> {
    let old = read(path)?;
    let mut out = header();
    let mut placed = vec![false; vars.len()];
    let find = |name: &Option<String>| -> Option<usize> {
        let n = name.as_deref()?;
        vars.iter().rposition(|v| v.name == n)
    };
    for el in &old.elements {
        if let Some(i) = find(&el.name) {
            if !placed[i] {
                placed[i] = true;
                out.extend(encode_var(&vars[i], opts).map_err(|m| fmt_err(path, m))?);
            }
            continue;
        }
        if !old.big_endian {
            out.extend_from_slice(&el.bytes);
        } else if let Some(v) = el.var.and_then(|i| old.vars.get(i)) {
            out.extend(encode_var(v, opts).map_err(|m| fmt_err(path, m))?);
        } else {
            return Err(fmt_err(
                path,
                format!(
                    "cannot update a big-endian file holding an unsupported element ('{}')",
                    el.name.as_deref().unwrap_or("?")
                ),
            ));
        }
    }
    for (i, v) in vars.iter().enumerate() {
        // Later duplicates in `vars` win; write each name once.
        if !placed[i] && vars.iter().rposition(|w| w.name == v.name) == Some(i) {
            out.extend(encode_var(v, opts).map_err(|m| fmt_err(path, m))?);
        }
    }
    write_atomic(path, &out)?;
    Ok(old.warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(vars: &[MatVar], compress: bool) -> MatFile {
        let b = to_bytes(vars, &WriteOptions { compress }).unwrap();
        parse(&b, Path::new("mem")).unwrap()
    }

    #[test]
    fn mat_roundtrip_every_class() {
        let vars = vec![
            MatVar::f64_matrix("a", 2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            MatVar::new("b", vec![1, 2], MatData::F32(vec![1.5, -2.5])),
            MatVar::new("c", vec![1, 2], MatData::I8(vec![-1, 7])),
            MatVar::new("d", vec![1, 1], MatData::I16(vec![-300])),
            MatVar::new("e", vec![1, 1], MatData::I32(vec![-70000])),
            MatVar::i64_scalar("f", -(1 << 40)),
            MatVar::new("g", vec![1, 1], MatData::U8(vec![200])),
            MatVar::new("h", vec![1, 1], MatData::U16(vec![60000])),
            MatVar::new("i", vec![1, 1], MatData::U32(vec![4_000_000_000])),
            MatVar::new("j", vec![1, 1], MatData::U64(vec![u64::MAX])),
            MatVar::bool_col("k", &[true, false, true]),
            MatVar::string("l", "héllo ✓"),
            MatVar::string("empty_s", ""),
            MatVar::f64_matrix("z", 0, 0, vec![]),
            MatVar::new("nd", vec![2, 1, 2], MatData::F64(vec![1.0, 2.0, 3.0, 4.0])),
            MatVar::new("rows", vec![2, 3], MatData::Char("abc\ndef".into())),
        ];
        for compress in [false, true] {
            let f = rt(&vars, compress);
            assert!(f.warnings.is_empty());
            assert_eq!(f.vars, vars, "compress {compress}");
        }
    }

    #[test]
    fn mat_write_rejects_inconsistent_dims_and_names() {
        let bad = MatVar::f64_matrix("a", 2, 2, vec![1.0]);
        let e = to_bytes(&[bad], &WriteOptions::default()).unwrap_err();
        assert!(e.to_string().contains("'a'"), "{e}");
        let bad = MatVar::scalar("1x", 1.0);
        assert!(to_bytes(&[bad], &WriteOptions::default()).is_err());
    }

    #[test]
    fn mat_small_element_and_narrow_storage() {
        // Hand-built: double 1×2 stored as miUINT8 in a small element, name
        // "x" small too.
        let mut body = Vec::new();
        push_elem(&mut body, MI_UINT32, &[6, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        push_elem(&mut body, MI_INT32, &[1, 0, 0, 0, 2, 0, 0, 0]).unwrap();
        body.extend_from_slice(&((1u32 << 16) | MI_INT8).to_le_bytes());
        body.extend_from_slice(&[b'x', 0, 0, 0]);
        body.extend_from_slice(&((2u32 << 16) | MI_UINT8).to_le_bytes());
        body.extend_from_slice(&[7, 250, 0, 0]);
        let mut f = header();
        push_elem(&mut f, MI_MATRIX, &body).unwrap();
        let m = parse(&f, Path::new("mem")).unwrap();
        assert_eq!(m.get("x").unwrap().data, MatData::F64(vec![7.0, 250.0]));
    }

    #[test]
    fn mat_big_endian_header() {
        let mut body = Vec::new();
        let be = |v: u32| v.to_be_bytes();
        body.extend_from_slice(&be(MI_UINT32));
        body.extend_from_slice(&be(8));
        body.extend_from_slice(&be(MX_INT16));
        body.extend_from_slice(&be(0));
        body.extend_from_slice(&be(MI_INT32));
        body.extend_from_slice(&be(8));
        body.extend_from_slice(&be(1));
        body.extend_from_slice(&be(1));
        body.extend_from_slice(&be((1 << 16) | MI_INT8));
        body.extend_from_slice(&[b'q', 0, 0, 0]);
        body.extend_from_slice(&be(MI_INT16));
        body.extend_from_slice(&be(2));
        body.extend_from_slice(&(-2i16).to_be_bytes());
        body.extend_from_slice(&[0; 6]);
        let mut f = header();
        f[126..128].copy_from_slice(b"MI");
        f.extend_from_slice(&be(MI_MATRIX));
        f.extend_from_slice(&be(body.len() as u32));
        f.extend_from_slice(&body);
        let m = parse(&f, Path::new("mem")).unwrap();
        assert!(m.big_endian);
        assert_eq!(m.get("q").unwrap().data, MatData::I16(vec![-2]));
    }
}
