//! The pipeline's data: fake personal records for the raw files, files of random integers for
//! step 1, and row sampling for steps 2–4. Pure functions over bytes (CSV through the `csv`
//! crate), so the activities only move blobs.
//!
//! Each function reads its input once and writes its output into one buffer: no file is held
//! more than once in memory, and sampling keeps only the sampled rows (reservoir sampling).

use fake::faker::address::en::{CityName, StateName, ZipCode};
use fake::faker::internet::en::SafeEmail;
use fake::faker::name::en::Name;
use fake::faker::phone_number::en::CellNumber;
use fake::Fake;
use rand::Rng;
use time::format_description::well_known::Iso8601;
use time::OffsetDateTime;

/// The ten columns of the raw files.
pub const COLUMNS: [&str; 10] = [
    "pii_name",
    "pii_email",
    "pii_mobile",
    "attribute1",
    "attribute2",
    "attribute3",
    "attribute4",
    "attribute5",
    "attribute6",
    "attribute7",
];

/// Rows step 1 writes, whatever it read.
pub const STEP1_ROWS: usize = 100_000;
/// Step 1's values are in `0..STEP1_MAX` (the seed's `randint(0, 99999)`).
pub const STEP1_MAX: u32 = 99_999;
/// Rows sampled by steps 2, 3 and 4.
pub const SAMPLE_ROWS: [usize; 3] = [100, 10, 5];

const BLOOD_TYPES: [&str; 8] = ["A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-"];
const NATIONALITIES: [&str; 24] = [
    "American",
    "Argentine",
    "Australian",
    "Brazilian",
    "British",
    "Canadian",
    "Chinese",
    "Dutch",
    "Egyptian",
    "French",
    "German",
    "Ghanaian",
    "Indian",
    "Indonesian",
    "Irish",
    "Italian",
    "Japanese",
    "Kenyan",
    "Mexican",
    "Nigerian",
    "Polish",
    "Spanish",
    "Swedish",
    "Vietnamese",
];

/// What a CSV file held: its column count and its data rows (the header not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// The number of columns.
    pub col_count: usize,
    /// The number of data rows (the header not counted).
    pub row_count: usize,
}

/// Why a file could not be read as CSV.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CsvError(String);

impl From<csv::Error> for CsvError {
    fn from(e: csv::Error) -> Self {
        CsvError(e.to_string())
    }
}

fn writer(capacity: usize) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::with_capacity(capacity))
}

fn finish(w: csv::Writer<Vec<u8>>) -> Vec<u8> {
    // Flushing into a Vec cannot fail.
    w.into_inner().unwrap_or_default()
}

/// A raw file: the header and `rows` records of fake personal data.
pub fn fake_people<R: Rng>(rows: usize, rng: &mut R) -> Vec<u8> {
    let mut w = writer(64 + rows * 160);
    // Random times between 2000-01-01 and 2025-01-01.
    let (from, to) = (946_684_800_i64, 1_735_689_600_i64);
    let write = |w: &mut csv::Writer<Vec<u8>>, rng: &mut R| -> Result<(), csv::Error> {
        w.write_record(COLUMNS)?;
        for _ in 0..rows {
            let name: String = Name().fake_with_rng(rng);
            let email: String = SafeEmail().fake_with_rng(rng);
            let mobile: String = CellNumber().fake_with_rng(rng);
            let age = rng.gen_range(18..=90u32).to_string();
            let blood = BLOOD_TYPES[rng.gen_range(0..BLOOD_TYPES.len())];
            let city: String = CityName().fake_with_rng(rng);
            let state: String = StateName().fake_with_rng(rng);
            let when = OffsetDateTime::from_unix_timestamp(rng.gen_range(from..to))
                .ok()
                .and_then(|t| t.format(&Iso8601::DEFAULT).ok())
                .unwrap_or_default();
            let nationality = NATIONALITIES[rng.gen_range(0..NATIONALITIES.len())];
            let postal: String = ZipCode().fake_with_rng(rng);
            w.write_record([
                name.as_str(),
                &email,
                &mobile,
                &age,
                blood,
                &city,
                &state,
                &when,
                nationality,
                &postal,
            ])?;
        }
        Ok(())
    };
    // Writing to a Vec cannot fail.
    let _ = write(&mut w, rng);
    finish(w)
}

fn reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes)
}

/// The header and the number of data rows of a CSV file (every row must have as many fields as
/// the header).
pub fn shape(bytes: &[u8]) -> Result<(csv::ByteRecord, Shape), CsvError> {
    let mut r = reader(bytes);
    let header = r.byte_headers()?.clone();
    let mut record = csv::ByteRecord::new();
    let mut rows = 0;
    while r.read_byte_record(&mut record)? {
        rows += 1;
    }
    Ok((
        header.clone(),
        Shape {
            col_count: header.len(),
            row_count: rows,
        },
    ))
}

/// Step 1's output: `header` and `rows` rows of random integers in `0..STEP1_MAX`.
pub fn random_integers<R: Rng>(header: &csv::ByteRecord, rows: usize, rng: &mut R) -> Vec<u8> {
    let cols = header.len();
    let mut w = writer(header.as_slice().len() + 16 + rows * cols * 6);
    let mut write = || -> Result<(), csv::Error> {
        w.write_byte_record(header)?;
        let mut buf = itoa_buf::Buf::default();
        for _ in 0..rows {
            for _ in 0..cols {
                w.write_field(buf.format(rng.gen_range(0..STEP1_MAX)))?;
            }
            w.write_record(None::<&[u8]>)?;
        }
        Ok(())
    };
    let _ = write();
    finish(w)
}

/// Samples `k` data rows of a CSV file uniformly without replacement (all of them when it has
/// fewer), keeping the header and the rows' original order. Returns the new file and the shape
/// of the one read.
pub fn sample_rows<R: Rng>(
    bytes: &[u8],
    k: usize,
    rng: &mut R,
) -> Result<(Vec<u8>, Shape), CsvError> {
    let mut r = reader(bytes);
    let header = r.byte_headers()?.clone();
    // Reservoir sampling (algorithm R): keep (row index, row) pairs.
    let mut kept: Vec<(usize, csv::ByteRecord)> = Vec::with_capacity(k);
    let mut record = csv::ByteRecord::new();
    let mut seen = 0usize;
    while r.read_byte_record(&mut record)? {
        if kept.len() < k {
            kept.push((seen, record.clone()));
        } else {
            let j = rng.gen_range(0..=seen);
            if j < k {
                kept[j] = (seen, record.clone());
            }
        }
        seen += 1;
    }
    kept.sort_unstable_by_key(|(i, _)| *i);
    let size: usize = kept.iter().map(|(_, r)| r.as_slice().len() + r.len()).sum();
    let mut w = writer(header.as_slice().len() + header.len() + size);
    let mut write = || -> Result<(), csv::Error> {
        w.write_byte_record(&header)?;
        for (_, rec) in &kept {
            w.write_byte_record(rec)?;
        }
        Ok(())
    };
    let _ = write();
    Ok((
        finish(w),
        Shape {
            col_count: header.len(),
            row_count: seen,
        },
    ))
}

/// Formatting integers without an allocation per field.
mod itoa_buf {
    #[derive(Default)]
    pub struct Buf([u8; 10]);

    impl Buf {
        pub fn format(&mut self, mut n: u32) -> &[u8] {
            let mut i = self.0.len();
            loop {
                i -= 1;
                self.0[i] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            &self.0[i..]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn fake_people_have_ten_columns_and_the_asked_rows() {
        let mut rng = StdRng::seed_from_u64(7);
        let bytes = fake_people(25, &mut rng);
        let (header, s) = shape(&bytes).unwrap();
        assert_eq!(
            header.iter().collect::<Vec<_>>(),
            COLUMNS.map(str::as_bytes)
        );
        assert_eq!(
            s,
            Shape {
                col_count: 10,
                row_count: 25
            }
        );
        let text = String::from_utf8(bytes).unwrap();
        let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
        assert!(row[1].contains('@'), "{row:?}");
        let age: u32 = row[3].parse().unwrap();
        assert!((18..=90).contains(&age));
        assert!(BLOOD_TYPES.contains(&row[4]));
        assert!(
            row[7].starts_with("20") && row[7].contains('T'),
            "{}",
            row[7]
        );
        // An empty file still has its header.
        let (_, s) = shape(&fake_people(0, &mut rng)).unwrap();
        assert_eq!(s.row_count, 0);
    }

    #[test]
    fn random_integers_keep_the_header() {
        let mut rng = StdRng::seed_from_u64(1);
        let (header, _) = shape(&fake_people(3, &mut rng)).unwrap();
        let bytes = random_integers(&header, 1000, &mut rng);
        let (h2, s) = shape(&bytes).unwrap();
        assert_eq!(h2, header);
        assert_eq!(s.row_count, 1000);
        let text = String::from_utf8(bytes).unwrap();
        for line in text.lines().skip(1) {
            for v in line.split(',') {
                let n: u32 = v.parse().unwrap();
                assert!(n < STEP1_MAX);
            }
        }
    }

    #[test]
    fn sampling_keeps_order_and_handles_short_files() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut text = String::from("a,b\n");
        for i in 0..500 {
            text.push_str(&format!("{i},{}\n", i * 2));
        }
        let (out, s) = sample_rows(text.as_bytes(), 10, &mut rng).unwrap();
        assert_eq!(
            s,
            Shape {
                col_count: 2,
                row_count: 500
            }
        );
        let out = String::from_utf8(out).unwrap();
        let rows: Vec<u32> = out
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(out.lines().next(), Some("a,b"));
        assert_eq!(rows.len(), 10);
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "{rows:?}");
        // Fewer rows than asked: all of them.
        let (out, s) = sample_rows(b"a,b\n1,2\n3,4\n", 5, &mut rng).unwrap();
        assert_eq!(s.row_count, 2);
        assert_eq!(out, b"a,b\n1,2\n3,4\n");
    }

    #[test]
    fn ragged_rows_are_an_error() {
        let e = shape(b"a,b\n1,2\n3\n").unwrap_err();
        assert!(e.to_string().contains("fields"), "{e}");
    }

    #[test]
    fn integer_formatting() {
        let mut b = itoa_buf::Buf::default();
        for n in [0, 7, 10, 99_998, u32::MAX] {
            assert_eq!(b.format(n), n.to_string().as_bytes());
        }
    }
}
