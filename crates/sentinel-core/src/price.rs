//! Prices and costs in exact integers: money is counted in micro-USD
//! (1 USD = 1 000 000), prices in micro-USD per million tokens. No float
//! ever touches a price or a cost, so sums never drift.
//!
//! The one rounding step is at the very end of [`cost_micros`]: the exact
//! sum of `tokens × price` (in micro-USD per million, computed in `u128`) is
//! divided by one million, rounding half up.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Micro-USD in one USD.
pub const MICROS_PER_USD: u64 = 1_000_000;

/// The largest price accepted anywhere, per million tokens: 10 000 USD.
pub const MAX_USD_PER_MTOK: u64 = 10_000;

/// Decimal places a USD amount may carry (one micro-USD).
pub const USD_DECIMALS: usize = 6;

/// What one model costs per million tokens, in micro-USD.
///
/// `max_prompt_tokens` bounds the prompts the price is known for: some
/// vendors charge more above a prompt size (e.g. Gemini 2.5 Pro above
/// 200 000 tokens); a request with a larger prompt gets no cost rather
/// than a wrong one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Price {
    /// Micro-USD per million prompt (input) tokens.
    pub input_per_mtok: u64,
    /// Micro-USD per million completion (output) tokens.
    pub output_per_mtok: u64,
    /// Prompts above this many tokens are not covered by this price.
    pub max_prompt_tokens: Option<u64>,
}

impl Price {
    /// A flat price (no prompt-size limit), in micro-USD per million tokens.
    pub const fn new(input_per_mtok: u64, output_per_mtok: u64) -> Self {
        Self {
            input_per_mtok,
            output_per_mtok,
            max_prompt_tokens: None,
        }
    }

    /// The same price, valid only for prompts up to `tokens` tokens.
    #[must_use]
    pub const fn up_to_prompt_tokens(mut self, tokens: u64) -> Self {
        self.max_prompt_tokens = Some(tokens);
        self
    }

    /// The cost of one request, or `None` when its prompt is larger than
    /// this price covers.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> Option<u64> {
        if self
            .max_prompt_tokens
            .is_some_and(|max| prompt_tokens > max)
        {
            return None;
        }
        Some(cost_micros(self, prompt_tokens, completion_tokens))
    }
}

/// The cost in micro-USD of `prompt_tokens` input and `completion_tokens`
/// output tokens at `price`, ignoring `max_prompt_tokens`.
///
/// Computed exactly in `u128` (each product of two `u64` fits), then divided
/// by one million with one rounding, half up. A result beyond `u64::MAX`
/// saturates (about 18 million million USD; unreachable with bounded prices
/// and real token counts).
pub fn cost_micros(price: &Price, prompt_tokens: u64, completion_tokens: u64) -> u64 {
    let input = u128::from(prompt_tokens) * u128::from(price.input_per_mtok);
    let output = u128::from(completion_tokens) * u128::from(price.output_per_mtok);
    // Only a sum beyond 2^128 fails, far beyond what saturates below anyway.
    let Some(exact) = input.checked_add(output) else {
        return u64::MAX;
    };
    let per_million = u128::from(1_000_000u32);
    let rounded = exact / per_million + u128::from(exact % per_million >= per_million / 2);
    u64::try_from(rounded).unwrap_or(u64::MAX)
}

/// A decimal number kept as the text it was written as (`0.15`, `"2.50"`),
/// so that it can be read exactly, never through a binary float.
///
/// The YAML reader hands a plain scalar's text (`0.15`) to
/// `deserialize_str` as written, and a quoted string as its content. It is
/// serialized as a string, so a round trip through JSON keeps the text
/// (JSON input must write prices as strings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DecimalText(pub String);

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = DecimalText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a decimal number of USD, e.g. 0.15")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_owned()))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

/// Why a USD amount was refused by [`parse_usd_micros`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountError {
    /// Not a plain decimal number such as `0.15` or `3`.
    NotDecimal,
    /// Below zero.
    Negative,
    /// More than [`USD_DECIMALS`] non-zero decimal places.
    TooPrecise,
    /// Above the given limit (in whole USD).
    TooLarge(u64),
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotDecimal => f.write_str(
                "must be a plain decimal number of USD, e.g. 0.15 or \"2.50\" (no exponent, sign or separators)",
            ),
            Self::Negative => f.write_str("must not be negative"),
            Self::TooPrecise => write!(
                f,
                "has more than {USD_DECIMALS} decimal places; prices are counted in micro-USD"
            ),
            Self::TooLarge(max) => write!(f, "must be at most {max} USD"),
        }
    }
}

impl std::error::Error for AmountError {}

/// Reads a decimal USD amount exactly into micro-USD: `0.15` → `150000`.
///
/// Accepts digits with an optional fractional part (`3`, `0.15`, `2.`,
/// `.5`); surrounding spaces are ignored. Refuses signs, exponents, digit
/// separators, more than six significant decimal places (trailing zeros
/// beyond them are fine) and amounts above `max_usd`.
pub fn parse_usd_micros(text: &str, max_usd: u64) -> Result<u64, AmountError> {
    let text = text.trim();
    let unsigned = match text.strip_prefix('-') {
        Some(rest) if is_decimal(rest) => return Err(AmountError::Negative),
        Some(_) => return Err(AmountError::NotDecimal),
        None => text,
    };
    if !is_decimal(unsigned) {
        return Err(AmountError::NotDecimal);
    }
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > USD_DECIMALS {
        return Err(AmountError::TooPrecise);
    }
    let whole = whole.trim_start_matches('0');
    // More digits than the limit has cannot be within it (and would
    // overflow below).
    if whole.len() > 19 {
        return Err(AmountError::TooLarge(max_usd));
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| AmountError::TooLarge(max_usd))?
    };
    if whole > max_usd {
        return Err(AmountError::TooLarge(max_usd));
    }
    let mut micros_fraction: u64 = 0;
    for (i, digit) in fraction.bytes().enumerate() {
        let place = 10u64.pow(u32::try_from(USD_DECIMALS - 1 - i).unwrap_or(0));
        micros_fraction += u64::from(digit - b'0') * place;
    }
    let micros = whole.saturating_mul(MICROS_PER_USD) + micros_fraction;
    if micros > max_usd.saturating_mul(MICROS_PER_USD) {
        return Err(AmountError::TooLarge(max_usd));
    }
    Ok(micros)
}

/// `D+`, `D+.D*` or `.D+`, ASCII digits only.
fn is_decimal(text: &str) -> bool {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    digits(whole)
        && fraction.is_none_or(digits)
        && !(whole.is_empty() && fraction.is_none_or(str::is_empty))
}

/// Writes micro-USD as an exact decimal, e.g. `58` → `0.000058`,
/// `2500000` → `2.50`. At least two decimal places; more only when needed.
pub fn format_usd(micros: u64) -> String {
    let whole = micros / MICROS_PER_USD;
    let fraction = format!("{:06}", micros % MICROS_PER_USD);
    let trimmed = fraction.trim_end_matches('0');
    let shown = if trimmed.len() < 2 {
        &fraction[..2]
    } else {
        trimmed
    };
    format!("{whole}.{shown}")
}

/// Where the price used for a request's cost came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PriceSource {
    /// Sentinel's built-in list price for the provider kind and model.
    Builtin,
    /// The environment document's `prices:`.
    Environment,
}

impl PriceSource {
    /// The name written on request records: `builtin` or `environment`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Builtin => "builtin",
            Self::Environment => "environment",
        }
    }
}

/// What a request record says when its target had no known price.
pub const PRICE_SOURCE_UNKNOWN: &str = "unknown";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    /// The cost by a slow, obviously correct method: exact decimal long
    /// division on the total, then half up.
    fn reference(price: &Price, prompt: u64, completion: u64) -> u64 {
        let Some(total) = (u128::from(prompt) * u128::from(price.input_per_mtok))
            .checked_add(u128::from(completion) * u128::from(price.output_per_mtok))
        else {
            return u64::MAX;
        };
        let quotient = total / 1_000_000;
        let remainder = total % 1_000_000;
        let rounded = if remainder >= 500_000 {
            quotient + 1
        } else {
            quotient
        };
        u64::try_from(rounded).unwrap_or(u64::MAX)
    }

    #[test]
    fn costs_round_half_up_once_at_the_end() {
        // gpt-4o at 2.50 / 10.00: 11 × 2.5 + 3 × 10 = 57.5 µUSD → 58.
        let gpt4o = Price::new(2_500_000, 10_000_000);
        assert_eq!(cost_micros(&gpt4o, 11, 3), 58);
        // gpt-4o-mini at 0.15 / 0.60: 1.65 + 1.8 = 3.45 µUSD → 3 (rounding
        // each part separately would give 2 + 2 = 4).
        let mini = Price::new(150_000, 600_000);
        assert_eq!(cost_micros(&mini, 11, 3), 3);
        // Exactly half rounds up; just below rounds down.
        assert_eq!(cost_micros(&Price::new(500_000, 0), 1, 0), 1);
        assert_eq!(cost_micros(&Price::new(499_999, 0), 1, 0), 0);
        // A million tokens cost exactly the per-million price.
        assert_eq!(cost_micros(&mini, 1_000_000, 1_000_000), 750_000);
        assert_eq!(cost_micros(&mini, 0, 0), 0);
    }

    #[test]
    fn costs_never_overflow() {
        let max = Price::new(u64::MAX, u64::MAX);
        assert_eq!(cost_micros(&max, u64::MAX, u64::MAX), u64::MAX);
        let cap = Price::new(
            MAX_USD_PER_MTOK * MICROS_PER_USD,
            MAX_USD_PER_MTOK * MICROS_PER_USD,
        );
        // 2^40 tokens at the highest accepted price still fits.
        let tokens = 1u64 << 40;
        assert_eq!(
            cost_micros(&cap, tokens, tokens),
            reference(&cap, tokens, tokens)
        );
    }

    /// Exhaustive over small token counts and a spread of prices, against
    /// the reference; and a deterministic pseudo-random sweep over the full
    /// range.
    #[test]
    fn costs_match_the_reference_everywhere() {
        let prices = [
            0, 1, 7, 499_999, 500_000, 150_000, 600_000, 2_500_000, 1_234_567,
        ];
        for &input in &prices {
            for &output in &prices {
                let price = Price::new(input, output);
                for prompt in 0..64 {
                    for completion in 0..64 {
                        assert_eq!(
                            cost_micros(&price, prompt, completion),
                            reference(&price, prompt, completion)
                        );
                    }
                }
            }
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..100_000 {
            let price = Price::new(next() >> (next() % 64), next() >> (next() % 64));
            let (prompt, completion) = (next() >> (next() % 64), next() >> (next() % 64));
            assert_eq!(
                cost_micros(&price, prompt, completion),
                reference(&price, prompt, completion)
            );
        }
    }

    #[test]
    fn cost_is_additive_within_rounding() {
        let price = Price::new(150_000, 600_000);
        for prompt in 0..200u64 {
            let split = cost_micros(&price, prompt, 0) + cost_micros(&price, 0, prompt);
            let whole = cost_micros(&price, prompt, prompt);
            assert!(split.abs_diff(whole) <= 1, "{prompt}");
        }
    }

    #[test]
    fn a_prompt_ceiling_withholds_the_cost() {
        let pro = Price::new(1_250_000, 10_000_000).up_to_prompt_tokens(200_000);
        assert_eq!(pro.cost(200_000, 0), Some(250_000));
        assert_eq!(pro.cost(200_001, 0), None);
        assert_eq!(Price::new(1, 1).cost(u64::MAX, 0), Some(18_446_744_073_710));
    }

    #[test]
    fn amounts_parse_exactly() {
        let ok = |t: &str| parse_usd_micros(t, MAX_USD_PER_MTOK).unwrap();
        assert_eq!(ok("0.15"), 150_000);
        assert_eq!(ok("0.60"), 600_000);
        assert_eq!(ok("2.5"), 2_500_000);
        assert_eq!(ok("3"), 3_000_000);
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("0.000001"), 1);
        assert_eq!(ok("0.1500000"), 150_000);
        assert_eq!(ok(".5"), 500_000);
        assert_eq!(ok("5."), 5_000_000);
        assert_eq!(ok(" 1.25 "), 1_250_000);
        assert_eq!(ok("10000"), 10_000_000_000);
        assert_eq!(ok("10000.000000"), 10_000_000_000);
        assert_eq!(ok("0000.1"), 100_000);
        // Decimals f64 cannot represent are still exact.
        assert_eq!(ok("0.1"), 100_000);
        assert_eq!(ok("9999.999999"), 9_999_999_999);
    }

    #[test]
    fn bad_amounts_are_refused_with_a_reason() {
        let err = |t: &str| parse_usd_micros(t, MAX_USD_PER_MTOK).unwrap_err();
        assert_eq!(err("-0.15"), AmountError::Negative);
        assert_eq!(err("0.0000001"), AmountError::TooPrecise);
        assert_eq!(err("0.1234567"), AmountError::TooPrecise);
        assert_eq!(err("10000.000001"), AmountError::TooLarge(10_000));
        assert_eq!(err("10001"), AmountError::TooLarge(10_000));
        assert_eq!(
            err("99999999999999999999999999"),
            AmountError::TooLarge(10_000)
        );
        for bad in [
            "", ".", "-", "+1", "1e3", "1E-3", "0x10", "1_000", "1,5", "NaN", ".inf", "abc",
            "1.2.3", "--1", "- 1", "١",
        ] {
            assert_eq!(err(bad), AmountError::NotDecimal, "{bad:?}");
        }
    }

    #[test]
    fn every_amount_round_trips_through_its_text() {
        for micros in (0..2_000_000u64).step_by(997).chain([10_000_000_000]) {
            let text = format_usd(micros);
            assert_eq!(
                parse_usd_micros(&text, MAX_USD_PER_MTOK),
                Ok(micros),
                "{text}"
            );
        }
    }

    #[test]
    fn amounts_format_exactly() {
        assert_eq!(format_usd(58), "0.000058");
        assert_eq!(format_usd(2_500_000), "2.50");
        assert_eq!(format_usd(0), "0.00");
        assert_eq!(format_usd(1_234_567), "1.234567");
        assert_eq!(format_usd(10_000_000), "10.00");
        assert_eq!(format_usd(150_000), "0.15");
    }
}
