//! Durations and sizes as pipeline files write them: a whole number and a unit.

use std::time::Duration;

use serde::Deserialize;

const SPAN_UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

const SIZE_UNITS: [(&str, u64); 4] = [
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("B", 1),
];

/// Reads `<number><unit>` against a unit table; `bare` is the scale of a number without a
/// unit, if one is allowed.
fn parse_quantity(
    text: &str,
    units: &[(&str, u64)],
    bare: Option<u64>,
    example: &str,
) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a {example}"))?;
    let unit = unit.trim();
    let scale = match units.iter().find(|(name, _)| *name == unit) {
        Some((_, scale)) => *scale,
        None if unit.is_empty() && bare.is_some() => bare.unwrap_or(1),
        None => {
            let names: Vec<&str> = units.iter().map(|(name, _)| *name).collect();
            return Err(format!(
                "unknown unit {unit:?} in {text:?} (use {})",
                names.join(", ")
            ));
        }
    };
    Ok(number.saturating_mul(scale))
}

/// Writes a quantity in the largest unit that divides it exactly.
fn format_quantity(value: u64, units: &[(&str, u64)]) -> String {
    let (name, scale) = units
        .iter()
        .find(|(_, scale)| value > 0 && value.is_multiple_of(*scale))
        .or(units.last())
        .copied()
        .unwrap_or(("", 1));
    format!("{}{name}", value / scale)
}

/// A duration written as a number and a unit: `250ms`, `30s`, `15m`, `2h`, `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

impl Span {
    /// Parses `<number><unit>`.
    pub fn parse(text: &str) -> Result<Span, String> {
        let millis = parse_quantity(text, &SPAN_UNITS, None, "duration such as 30s or 15m")?;
        Ok(Span(Duration::from_millis(millis)))
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let millis = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        f.write_str(&format_quantity(millis, &SPAN_UNITS))
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let text = String::deserialize(d)?;
        Span::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Reads a [`Span`], or `"off"` for none.
pub(super) fn optional_span<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Span>, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim() == "off" {
        return Ok(None);
    }
    Span::parse(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// A size in bytes, written as a whole number or with a unit: `512KiB`, `64MiB`, `1GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses a number with an optional binary unit.
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        parse_quantity(text, &SIZE_UNITS, Some(1), "size such as 512KiB or 64MiB").map(ByteSize)
    }
}

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_quantity(self.0, &SIZE_UNITS))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ByteSize, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(t) => ByteSize::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_sizes_read_and_print_alike() {
        for text in ["250ms", "30s", "15m", "2h", "1d", "0ms"] {
            assert_eq!(
                Span::parse(text).map(|s| s.to_string()),
                Ok(text.to_string())
            );
        }
        for text in ["512KiB", "64MiB", "1GiB", "100B"] {
            assert_eq!(
                ByteSize::parse(text).map(|s| s.to_string()),
                Ok(text.to_string())
            );
        }
        assert_eq!(ByteSize::parse("2048").map(|s| s.0), Ok(2048));
        assert!(Span::parse("15").is_err_and(|e| e.contains("unknown unit")));
        assert!(ByteSize::parse("5XB").is_err_and(|e| e.contains("use GiB, MiB, KiB, B")));
    }
}
