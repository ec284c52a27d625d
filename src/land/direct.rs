//! Small landing files written column by column, without Parquet's general writer.
//!
//! For every column of every file, the general writer prepares a column writer with its own
//! encoders, buffers, metrics and, for a compressed column, a new zstd compressor and
//! decompressor. In a webhook flush of a dozen rows that setup costs more than the data.
//! This encoder writes the layout that the small-file settings ask of the general writer:
//! one row group, one PLAIN data page per column with RLE levels, chunk statistics
//! truncated the same way, and each column compressed as the writer properties say. It
//! keeps its zstd compressors from file to file. The parquet crate still writes the page
//! headers, the column-chunk metadata and the footer, so only the page bodies and the
//! statistics are this module's own.
//!
//! It covers the Arrow types of landing tables: 64-bit integers, dates, microsecond
//! timestamps, booleans, UTF-8, binary, and lists and structs of these. A schema with
//! another type, or a property it does not implement (data pages v2, another encoding,
//! dictionaries, bloom filters, page statistics or offset indexes, another codec), is
//! declined when the encoder is made, and the general writer is used.

use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Field, Int64Type, SchemaRef, TimeUnit,
    TimestampMicrosecondType,
};
use bytes::Bytes;
use parquet::basic::{Compression, Encoding, Type as PhysicalType};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::{ColumnDescPtr, SchemaDescriptor};

/// How one leaf column is written.
#[derive(Debug, Clone, Copy)]
struct LeafPlan {
    /// The zstd level of the column's page, or `None` for no compression.
    zstd: Option<i32>,
    statistics: bool,
}

/// Encodes small batches of one schema as whole Parquet files.
pub(super) struct DirectEncoder {
    schema: SchemaRef,
    parquet: SchemaDescriptor,
    properties: Arc<WriterProperties>,
    leaves: Vec<LeafPlan>,
    truncate: Option<usize>,
    /// Compressors kept between files, one per file being encoded at once.
    compressors: Mutex<Vec<zstd::bulk::Compressor<'static>>>,
}

impl std::fmt::Debug for DirectEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectEncoder")
            .field("columns", &self.leaves.len())
            .finish_non_exhaustive()
    }
}

impl DirectEncoder {
    /// The encoder of `schema` (converted to `parquet`) under `properties`, or `None` when
    /// the schema or the properties ask for something only the general writer does.
    pub(super) fn new(
        schema: SchemaRef,
        parquet: SchemaDescriptor,
        properties: WriterProperties,
    ) -> Option<DirectEncoder> {
        let layout = properties.writer_version() == WriterVersion::PARQUET_1_0
            && properties.offset_index_disabled();
        if !layout || !schema.fields().iter().all(|f| supported(f.data_type())) {
            return None;
        }
        let mut leaves = Vec::with_capacity(parquet.num_columns());
        for column in parquet.columns() {
            let path = column.path();
            let plain = matches!(properties.encoding(path), None | Some(Encoding::PLAIN));
            if !plain
                || properties.dictionary_enabled(path)
                || properties.bloom_filter_properties(path).is_some()
            {
                return None;
            }
            let statistics = match properties.statistics_enabled(path) {
                EnabledStatistics::None => false,
                EnabledStatistics::Chunk => true,
                EnabledStatistics::Page => return None,
            };
            let zstd = match properties.compression(path) {
                Compression::UNCOMPRESSED => None,
                Compression::ZSTD(level) => Some(level.compression_level()),
                _ => return None,
            };
            leaves.push(LeafPlan { zstd, statistics });
        }
        Some(DirectEncoder {
            schema,
            parquet,
            truncate: properties.statistics_truncate_length(),
            properties: Arc::new(properties),
            leaves,
            compressors: Mutex::new(Vec::new()),
        })
    }

    /// Encodes `batch`, which must be of the encoder's schema, as one Parquet file.
    pub(super) fn encode(&self, batch: &RecordBatch) -> Result<Bytes, ParquetError> {
        let leaves = self.leaves_of(batch)?;
        let mut compressor = self.compressors.lock().ok().and_then(|mut c| c.pop());
        let mut chunks = TrackedWrite::new(Vec::new());
        let mut body = Vec::new();
        let mut closed = Vec::with_capacity(leaves.len());
        for (i, (leaf, plan)) in leaves.iter().zip(&self.leaves).enumerate() {
            let column = Column {
                descr: self.parquet.column(i),
                plan: *plan,
                rows: batch.num_rows(),
            };
            closed.push(column.write(
                leaf,
                &mut body,
                &mut compressor,
                self.truncate,
                &mut chunks,
            )?);
        }
        if let (Some(compressor), Ok(mut pool)) = (compressor, self.compressors.lock()) {
            pool.push(compressor);
        }
        let chunks = Bytes::from(chunks.into_inner()?);

        let mut file = SerializedFileWriter::new(
            Vec::with_capacity(chunks.len() + 4096),
            self.parquet.root_schema_ptr(),
            Arc::clone(&self.properties),
        )?;
        let mut group = file.next_row_group()?;
        for column in closed {
            group.append_column(&chunks, column)?;
        }
        group.close()?;
        // Writes the footer.
        Ok(Bytes::from(file.into_inner()?))
    }

    /// The leaf columns of `batch`, in the Parquet schema's order.
    fn leaves_of<'a>(&self, batch: &'a RecordBatch) -> Result<Vec<Leaf<'a>>, ParquetError> {
        if batch.schema().fields() != self.schema.fields() {
            return Err(ParquetError::General(
                "batch is not of the encoder's schema".into(),
            ));
        }
        let rows: Vec<Slot> = (0..batch.num_rows())
            .map(|i| Slot {
                index: Some(i),
                def: 0,
                rep: 0,
            })
            .collect();
        let mut leaves = Vec::with_capacity(self.leaves.len());
        for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
            flatten(field, column, rows.clone(), 0, 0, &mut leaves)?;
        }
        if leaves.len() != self.leaves.len() {
            return Err(ParquetError::General(format!(
                "{} leaf columns for a schema of {}",
                leaves.len(),
                self.leaves.len()
            )));
        }
        Ok(leaves)
    }
}

/// One leaf column of the file being written.
struct Column {
    descr: ColumnDescPtr,
    plan: LeafPlan,
    rows: usize,
}

impl Column {
    /// Writes `leaf` as one data page into `chunks` (`body` is scratch space) and returns
    /// what the row group needs to know of it.
    fn write(
        &self,
        leaf: &Leaf,
        body: &mut Vec<u8>,
        compressor: &mut Option<zstd::bulk::Compressor<'static>>,
        truncate: Option<usize>,
        chunks: &mut TrackedWrite<Vec<u8>>,
    ) -> Result<ColumnCloseResult, ParquetError> {
        body.clear();
        let statistics = leaf.encode(&self.descr, body, self.plan.statistics, truncate)?;
        let (buf, codec) = match self.plan.zstd {
            None => (Bytes::copy_from_slice(body), Compression::UNCOMPRESSED),
            Some(level) => {
                let compressor = match compressor {
                    Some(c) => c,
                    None => compressor.insert(zstd::bulk::Compressor::new(level)?),
                };
                compressor.set_compression_level(level)?;
                let codec = Compression::ZSTD(parquet::basic::ZstdLevel::try_new(level)?);
                (Bytes::from(compressor.compress(body)?), codec)
            }
        };
        let values = leaf.slots.len();
        let page = Page::DataPage {
            buf,
            num_values: u32::try_from(values)
                .map_err(|_| ParquetError::General("too many values for one page".into()))?,
            encoding: Encoding::PLAIN,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        let spec =
            SerializedPageWriter::new(chunks).write_page(CompressedPage::new(page, body.len()))?;
        let mut metadata = ColumnChunkMetaData::builder(self.descr.clone())
            .set_compression(codec)
            .set_encodings(vec![Encoding::PLAIN, Encoding::RLE])
            .set_num_values(values as i64)
            .set_total_compressed_size(spec.bytes_written as i64)
            .set_total_uncompressed_size(spec.uncompressed_size as i64)
            .set_data_page_offset(spec.offset as i64);
        if let Some(statistics) = statistics {
            metadata = metadata.set_statistics(statistics);
        }
        Ok(ColumnCloseResult {
            bytes_written: spec.bytes_written,
            rows_written: self.rows as u64,
            metadata: metadata.build()?,
            bloom_filter: None,
            column_index: None,
            offset_index: None,
        })
    }
}

/// Whether this encoder writes columns of `data_type`.
fn supported(data_type: &DataType) -> bool {
    match data_type {
        DataType::Int64
        | DataType::Date32
        | DataType::Boolean
        | DataType::Utf8
        | DataType::Binary
        | DataType::Timestamp(TimeUnit::Microsecond, _) => true,
        DataType::List(item) => supported(item.data_type()),
        DataType::Struct(fields) => fields.iter().all(|f| supported(f.data_type())),
        _ => false,
    }
}

/// One value position of a leaf column: its definition and repetition levels, and the
/// index of its value in the leaf array, or `None` where a null or an empty list above
/// (or the value itself) leaves no value.
#[derive(Debug, Clone, Copy)]
struct Slot {
    index: Option<usize>,
    def: i16,
    rep: i16,
}

/// A leaf column of a batch, its values and levels.
struct Leaf<'a> {
    array: &'a dyn Array,
    slots: Vec<Slot>,
    max_def: i16,
    max_rep: i16,
}

/// Walks `array` of `field` down to its leaves, given the positions its parent leaves it
/// at; `def` and `rep` are the levels of a present value at the parent.
fn flatten<'a>(
    field: &Field,
    array: &'a ArrayRef,
    slots: Vec<Slot>,
    def: i16,
    rep: i16,
    out: &mut Vec<Leaf<'a>>,
) -> Result<(), ParquetError> {
    let nullable = field.is_nullable();
    let def = def + i16::from(nullable);
    let mut present = Vec::with_capacity(slots.len());
    for slot in slots {
        present.push(match slot.index {
            Some(i) if array.is_null(i) => {
                if !nullable {
                    return Err(ParquetError::General(format!(
                        "null in non-nullable field {}",
                        field.name()
                    )));
                }
                Slot {
                    index: None,
                    ..slot
                }
            }
            Some(_) => Slot { def, ..slot },
            None => slot,
        });
    }
    match field.data_type() {
        DataType::List(item) => {
            let list = array.as_list::<i32>();
            let offsets = list.value_offsets();
            let mut children = Vec::with_capacity(list.values().len() + present.len());
            for slot in present {
                let Some(i) = slot.index else {
                    children.push(slot);
                    continue;
                };
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                if start == end {
                    children.push(Slot {
                        index: None,
                        ..slot
                    });
                }
                for j in start..end {
                    children.push(Slot {
                        index: Some(j),
                        def: def + 1,
                        rep: if j == start { slot.rep } else { rep + 1 },
                    });
                }
            }
            flatten(item, list.values(), children, def + 1, rep + 1, out)
        }
        DataType::Struct(fields) => {
            let columns = array.as_struct().columns();
            for (field, column) in fields.iter().zip(columns) {
                flatten(field, column, present.clone(), def, rep, out)?;
            }
            Ok(())
        }
        _ => {
            out.push(Leaf {
                array: array.as_ref(),
                slots: present,
                max_def: def,
                max_rep: rep,
            });
            Ok(())
        }
    }
}

impl Leaf<'_> {
    /// Writes the page body (levels, then PLAIN values) into `body` and returns the chunk
    /// statistics, when asked for.
    fn encode(
        &self,
        descr: &ColumnDescPtr,
        body: &mut Vec<u8>,
        statistics: bool,
        truncate: Option<usize>,
    ) -> Result<Option<Statistics>, ParquetError> {
        if (self.max_def, self.max_rep) != (descr.max_def_level(), descr.max_rep_level()) {
            return Err(ParquetError::General(format!(
                "levels of {} do not match its schema",
                descr.path()
            )));
        }
        if self.max_rep > 0 {
            levels(body, self.slots.iter().map(|s| s.rep), self.max_rep);
        }
        if self.max_def > 0 {
            levels(body, self.slots.iter().map(|s| s.def), self.max_def);
        }
        let values: Vec<usize> = self.slots.iter().filter_map(|s| s.index).collect();
        let nulls = Some((self.slots.len() - values.len()) as u64);
        let physical = descr.physical_type();
        let mismatch = || {
            ParquetError::General(format!(
                "{} is {physical} in the schema but {} in the batch",
                descr.path(),
                self.array.data_type()
            ))
        };
        let stats = match (self.array.data_type(), physical) {
            (DataType::Int64, PhysicalType::INT64) => {
                let (min, max) = plain_numbers::<Int64Type, 8>(self.array, &values, body);
                Statistics::int64(min, max, None, nulls, false)
            }
            (DataType::Timestamp(TimeUnit::Microsecond, _), PhysicalType::INT64) => {
                let (min, max) =
                    plain_numbers::<TimestampMicrosecondType, 8>(self.array, &values, body);
                Statistics::int64(min, max, None, nulls, false)
            }
            (DataType::Date32, PhysicalType::INT32) => {
                let (min, max) = plain_numbers::<Date32Type, 4>(self.array, &values, body);
                Statistics::int32(min, max, None, nulls, false)
            }
            (DataType::Boolean, PhysicalType::BOOLEAN) => {
                let array = self.array.as_boolean();
                let bits: Vec<bool> = values.iter().map(|&i| array.value(i)).collect();
                let mut packed = vec![0u8; bits.len().div_ceil(8)];
                for (k, _) in bits.iter().enumerate().filter(|(_, b)| **b) {
                    packed[k / 8] |= 1 << (k % 8);
                }
                body.extend_from_slice(&packed);
                let min = bits.iter().copied().reduce(|a, b| a & b);
                let max = bits.iter().copied().reduce(|a, b| a | b);
                Statistics::boolean(min, max, None, nulls, false)
            }
            (DataType::Utf8, PhysicalType::BYTE_ARRAY) => {
                let array = self.array.as_string::<i32>();
                let texts = values.iter().map(|&i| array.value(i).as_bytes());
                byte_arrays(texts, body, nulls, truncate, true)
            }
            (DataType::Binary, PhysicalType::BYTE_ARRAY) => {
                let array = self.array.as_binary::<i32>();
                let blobs = values.iter().map(|&i| array.value(i));
                byte_arrays(blobs, body, nulls, truncate, false)
            }
            _ => return Err(mismatch()),
        };
        Ok(statistics.then_some(stats))
    }
}

/// Appends the PLAIN encoding of fixed-width numbers and returns their least and greatest.
fn plain_numbers<T, const N: usize>(
    array: &dyn Array,
    values: &[usize],
    body: &mut Vec<u8>,
) -> (Option<T::Native>, Option<T::Native>)
where
    T: ArrowPrimitiveType,
    T::Native: Ord + ToLe<N>,
{
    let numbers = array.as_primitive::<T>().values();
    let (mut min, mut max) = (None, None);
    for &i in values {
        let v = numbers[i];
        body.extend_from_slice(&v.to_le());
        min = Some(min.map_or(v, |m: T::Native| m.min(v)));
        max = Some(max.map_or(v, |m: T::Native| m.max(v)));
    }
    (min, max)
}

/// Little-endian bytes of a number of `N` bytes.
trait ToLe<const N: usize> {
    fn to_le(self) -> [u8; N];
}

impl ToLe<8> for i64 {
    fn to_le(self) -> [u8; 8] {
        self.to_le_bytes()
    }
}

impl ToLe<4> for i32 {
    fn to_le(self) -> [u8; 4] {
        self.to_le_bytes()
    }
}

/// Appends the PLAIN encoding of byte arrays (length, then bytes) and returns their
/// statistics, bounds cut to `truncate` bytes the way readers expect.
fn byte_arrays<'v>(
    values: impl Iterator<Item = &'v [u8]>,
    body: &mut Vec<u8>,
    nulls: Option<u64>,
    truncate: Option<usize>,
    utf8: bool,
) -> Statistics {
    let (mut min, mut max): (Option<&[u8]>, Option<&[u8]>) = (None, None);
    for value in values {
        body.extend_from_slice(&(value.len() as u32).to_le_bytes());
        body.extend_from_slice(value);
        min = Some(min.map_or(value, |m| m.min(value)));
        max = Some(max.map_or(value, |m| m.max(value)));
    }
    let (Some(min), Some(max)) = (min, max) else {
        return Statistics::ByteArray(ValueStatistics::new(None, None, None, nulls, false));
    };
    let (low, low_exact) = match truncate.filter(|&limit| min.len() > limit) {
        Some(limit) => (lower_bound(min, limit, utf8), false),
        None => (min.to_vec(), true),
    };
    let (high, high_exact) = match truncate
        .filter(|&limit| max.len() > limit)
        .and_then(|limit| upper_bound(max, limit, utf8))
    {
        Some(bound) => (bound, false),
        None => (max.to_vec(), true),
    };
    Statistics::ByteArray(
        ValueStatistics::new(
            Some(ByteArray::from(low)),
            Some(ByteArray::from(high)),
            None,
            nulls,
            false,
        )
        .with_min_is_exact(low_exact)
        .with_max_is_exact(high_exact),
    )
}

/// A prefix of at most `limit` bytes of `value`, whole characters only for text.
fn lower_bound(value: &[u8], limit: usize, utf8: bool) -> Vec<u8> {
    match std::str::from_utf8(value) {
        Ok(text) if utf8 => {
            let end = (1..=limit).rev().find(|&n| text.is_char_boundary(n));
            value[..end.unwrap_or(limit)].to_vec()
        }
        _ => value[..limit].to_vec(),
    }
}

/// A value of at most `limit` bytes that sorts after every value starting with `value`'s
/// first `limit` bytes, or `None` when there is none (every byte or character at its top).
/// Text stays valid UTF-8, each character keeping its width.
fn upper_bound(value: &[u8], limit: usize, utf8: bool) -> Option<Vec<u8>> {
    if let (true, Ok(text)) = (utf8, std::str::from_utf8(value)) {
        let end = (limit.saturating_sub(3)..=limit)
            .rev()
            .find(|&n| text.is_char_boundary(n))?;
        let prefix = &text[..end];
        for (at, c) in prefix.char_indices().rev() {
            let next = char::from_u32(u32::from(c) + 1).filter(|n| n.len_utf8() == c.len_utf8());
            if let Some(next) = next {
                let mut bound = prefix.as_bytes()[..at].to_vec();
                let mut buf = [0u8; 4];
                bound.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
                return Some(bound);
            }
        }
        return None;
    }
    let mut bound = value[..limit].to_vec();
    while let Some(last) = bound.pop() {
        if last < u8::MAX {
            bound.push(last + 1);
            return Some(bound);
        }
    }
    None
}

/// Appends levels as a data page v1 level section: the byte length, then RLE runs at the
/// bit width of `max`.
fn levels(body: &mut Vec<u8>, values: impl Iterator<Item = i16>, max: i16) {
    let width = (16 - max.leading_zeros()) as usize;
    let value_bytes = width.div_ceil(8);
    let start = body.len();
    body.extend_from_slice(&[0; 4]);
    let mut run: Option<(i16, u64)> = None;
    let flush = |body: &mut Vec<u8>, level: i16, count: u64| {
        varint(body, count << 1);
        body.extend_from_slice(&level.to_le_bytes()[..value_bytes]);
    };
    for level in values {
        run = match run {
            Some((current, count)) if current == level => Some((current, count + 1)),
            Some((current, count)) => {
                flush(body, current, count);
                Some((level, 1))
            }
            None => Some((level, 1)),
        };
    }
    if let Some((current, count)) = run {
        flush(body, current, count);
    }
    let length = (body.len() - start - 4) as u32;
    body[start..start + 4].copy_from_slice(&length.to_le_bytes());
}

/// Appends an unsigned LEB128 varint.
fn varint(body: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        body.push((value as u8) | 0x80);
        value >>= 7;
    }
    body.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Schema;
    use parquet::arrow::ArrowSchemaConverter;
    use parquet::file::properties::WriterPropertiesBuilder;

    #[test]
    fn properties_it_does_not_implement_are_declined() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Utf8, true)]));
        let parquet = ArrowSchemaConverter::new()
            .convert(&schema)
            .unwrap_or_else(|e| panic!("{e}"));
        let small = || {
            WriterProperties::builder()
                .set_compression(Compression::UNCOMPRESSED)
                .set_dictionary_enabled(false)
                .set_statistics_enabled(EnabledStatistics::Chunk)
                .set_offset_index_disabled(true)
        };
        let accepts = |properties: WriterPropertiesBuilder| {
            DirectEncoder::new(schema.clone(), parquet.clone(), properties.build()).is_some()
        };
        assert!(accepts(small()));
        assert!(accepts(
            small().set_statistics_enabled(EnabledStatistics::None)
        ));
        assert!(!accepts(small().set_dictionary_enabled(true)));
        assert!(!accepts(
            small().set_statistics_enabled(EnabledStatistics::Page)
        ));
        assert!(!accepts(small().set_offset_index_disabled(false)));
        assert!(!accepts(
            small().set_writer_version(WriterVersion::PARQUET_2_0)
        ));
        assert!(!accepts(small().set_compression(Compression::SNAPPY)));
        assert!(!accepts(
            small().set_encoding(Encoding::DELTA_BINARY_PACKED)
        ));
        assert!(!accepts(small().set_bloom_filter_enabled(true)));
    }

    #[test]
    fn lower_bounds_keep_whole_characters() {
        assert_eq!(lower_bound(b"abcdef", 4, true), b"abcd");
        // 'é' is two bytes: a cut at 4 would split it.
        assert_eq!(lower_bound("abcé".as_bytes(), 4, true), b"abc");
        assert_eq!(
            lower_bound("abcé".as_bytes(), 4, false),
            &"abcé".as_bytes()[..4]
        );
    }

    #[test]
    fn upper_bounds_sort_after_every_value_they_cut() {
        assert_eq!(upper_bound(b"abcdef", 4, true), Some(b"abce".to_vec()));
        assert_eq!(
            upper_bound(b"ab\xff\xff\xff", 4, false),
            Some(b"ac".to_vec())
        );
        assert_eq!(upper_bound(b"\xff\xff\xff", 2, false), None);
        // The last character cannot grow without changing width, so the one before does.
        let text = "a\u{7f}\u{10ffff}zz";
        let bound = upper_bound(text.as_bytes(), 6, true).map(String::from_utf8);
        assert_eq!(bound, Some(Ok("b".to_string())));
        let top = "\u{10ffff}\u{10ffff}";
        assert_eq!(upper_bound(top.as_bytes(), 4, true), None);
        for value in ["abcdef", "zzzzzé", "中文中文中文"] {
            let bound = upper_bound(value.as_bytes(), 5, true).unwrap_or_default();
            assert!(
                bound.len() <= 5 && bound.as_slice() > value.as_bytes(),
                "{value}"
            );
            assert!(std::str::from_utf8(&bound).is_ok(), "{value}");
        }
    }

    #[test]
    fn levels_are_run_length_encoded_after_their_length() {
        let mut body = Vec::new();
        levels(&mut body, [1, 1, 1, 0, 3].into_iter(), 3);
        // Runs of (count << 1) then the level in one byte: 3×1, 1×0, 1×3.
        assert_eq!(body, [6, 0, 0, 0, 6, 1, 2, 0, 2, 3]);
        let mut long = Vec::new();
        levels(&mut long, std::iter::repeat_n(1, 200), 1);
        // 200 << 1 = 400 takes two varint bytes.
        assert_eq!(long, [3, 0, 0, 0, 0x90, 0x03, 1]);
    }
}
