//! Built-in list prices, per provider kind, for the current models of each
//! vendor. An environment's `prices:` overrides them.
//!
//! Prices are micro-USD per million tokens (`2_500_000` is 2.50 USD per
//! million), standard on-demand tier, text tokens. Not modelled: batch and
//! flex discounts, prompt-cache reads and writes (cached prompt tokens are
//! charged at the full input price, so costs are an upper bound when caching
//! applies), audio input, regional surcharges.
//!
//! Matching: the exact upstream model name first; otherwise the longest
//! listed name that the model starts with, **only** when what follows is a
//! snapshot or version suffix (`-2024-07-18`, `-20250514`, `@20250514`,
//! `-001`, `-v1:0`, `-latest`, or a date followed by a version). So
//! `gpt-4o-mini-2024-07-18` is priced as `gpt-4o-mini`, but `o3-mini` is not
//! priced as `o3`, nor `claude-opus-4-7` as `claude-opus-4`. A model that
//! does not match has no price: its requests record no cost rather than a
//! guess.
//!
//! Sources (each entry's comment says which), all read 2026-11-27:
//! - OpenAI: platform.openai.com/docs/pricing (as tabulated by
//!   aumiqx.com "OpenAI API Pricing 2026", April 2026, and goitreels.com
//!   "OpenAI API Pricing Guide 2026"); o3 after the June 2025 80% cut
//!   (codeswap.net/models/o3, calcis.dev/models/o3).
//! - Anthropic: platform.claude.com/docs/about-claude/pricing (the official
//!   table: Opus 4.6/4.5, Sonnet 4.6/4.5/4, Haiku 4.5, …).
//! - Gemini: ai.google.dev/gemini-api/docs/pricing (as tabulated by
//!   morphllm.com/gemini-api-pricing and deploybase.ai, 2026).
//! - Bedrock: aws.amazon.com/bedrock/pricing, us-east-1 on-demand (Nova as
//!   tabulated by pristren.com and the Presidentlin pricing calculator; Claude
//!   at Anthropic's list prices, as in LangChain's Bedrock cost table).
//!
//! Update by editing the tables; the tests check that every entry is within
//! the accepted range and that names never shadow each other by accident.

use sentinel_core::Price;

/// Anthropic's context window: larger prompts need the 1M-token beta, which
/// is priced higher (Sonnet: 6 / 22.50), so the list price stops here.
const CLAUDE_PROMPT_LIMIT: u64 = 200_000;
/// Gemini 2.5 Pro charges more (2.50 / 15.00) for prompts above this.
const GEMINI_PRO_PROMPT_LIMIT: u64 = 200_000;

/// USD cents per million tokens → micro-USD per million tokens, so the
/// tables below read like the vendors' price lists.
const fn cents(input: u64, output: u64) -> Price {
    Price::new(input * 10_000, output * 10_000)
}

/// OpenAI (`openai`) and Azure OpenAI (`azure_openai`, whose targets name
/// the OpenAI model; Azure's Global deployments are priced like OpenAI,
/// Data Zone and Regional deployments carry a premium: override them in
/// `prices:`).
const OPENAI: &[(&str, Price)] = &[
    // platform.openai.com/docs/pricing, 2026-04: 2.50 / 10.00.
    ("gpt-4o", cents(250, 1_000)),
    // The first gpt-4o snapshot kept its launch price: 5.00 / 15.00
    // (llmcloudhub.com and llmpricing.site, as of 2026-05).
    ("gpt-4o-2024-05-13", cents(500, 1_500)),
    // 0.15 / 0.60.
    ("gpt-4o-mini", cents(15, 60)),
    // 2.00 / 8.00; 0.40 / 1.60; 0.10 / 0.40.
    ("gpt-4.1", cents(200, 800)),
    ("gpt-4.1-mini", cents(40, 160)),
    ("gpt-4.1-nano", cents(10, 40)),
    // o3 after the June 2025 cut: 2.00 / 8.00 (reasoning tokens are billed
    // as output and are included in completion_tokens).
    ("o3", cents(200, 800)),
    // 1.10 / 4.40 each.
    ("o3-mini", cents(110, 440)),
    ("o4-mini", cents(110, 440)),
    // Embeddings: input only. 0.02, 0.13, 0.10.
    ("text-embedding-3-small", cents(2, 0)),
    ("text-embedding-3-large", cents(13, 0)),
    ("text-embedding-ada-002", cents(10, 0)),
];

/// Anthropic (`anthropic`), platform.claude.com/docs/about-claude/pricing.
const ANTHROPIC: &[(&str, Price)] = &[
    // Opus 4.6 and 4.5: 5 / 25.
    (
        "claude-opus-4-6",
        cents(500, 2_500).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
    ),
    (
        "claude-opus-4-5",
        cents(500, 2_500).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
    ),
    // Opus 4.1 and 4: 15 / 75.
    (
        "claude-opus-4-1",
        cents(1_500, 7_500).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
    ),
    (
        "claude-opus-4",
        cents(1_500, 7_500).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
    ),
    // Sonnet 4.6, 4.5, 4 and 3.7: 3 / 15.
    (
        "claude-sonnet-4-6",
        cents(300, 1_500).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
    ),
    (
        "claude-sonnet-4-5",
        cents(300, 1_500).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
    ),
    (
        "claude-sonnet-4",
        cents(300, 1_500).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
    ),
    (
        "claude-3-7-sonnet",
        cents(300, 1_500).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
    ),
    // Haiku 4.5: 1 / 5; Haiku 3.5: 0.80 / 4; Haiku 3: 0.25 / 1.25.
    (
        "claude-haiku-4-5",
        cents(100, 500).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
    ),
    (
        "claude-3-5-haiku",
        cents(80, 400).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
    ),
    (
        "claude-3-haiku",
        cents(25, 125).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
    ),
];

/// Gemini API (`gemini`), ai.google.dev/gemini-api/docs/pricing, standard
/// tier, text/image/video input.
const GEMINI: &[(&str, Price)] = &[
    // 1.25 / 10.00 for prompts up to 200k tokens.
    (
        "gemini-2.5-pro",
        cents(125, 1_000).up_to_prompt_tokens(GEMINI_PRO_PROMPT_LIMIT),
    ),
    // 0.30 / 2.50 (thinking tokens are output; the gemini kind counts them
    // in completion_tokens).
    ("gemini-2.5-flash", cents(30, 250)),
    // 0.10 / 0.40.
    ("gemini-2.5-flash-lite", cents(10, 40)),
    // 0.10 / 0.40 (deprecated by Google).
    ("gemini-2.0-flash", cents(10, 40)),
];

/// Gemini on Vertex AI (`vertex`): the 2.5 family has the same list price
/// as the Gemini API. Older models are priced differently on Vertex and are
/// left out rather than guessed.
const VERTEX: &[(&str, Price)] = &[
    (
        "gemini-2.5-pro",
        cents(125, 1_000).up_to_prompt_tokens(GEMINI_PRO_PROMPT_LIMIT),
    ),
    ("gemini-2.5-flash", cents(30, 250)),
    ("gemini-2.5-flash-lite", cents(10, 40)),
];

/// Bedrock (`bedrock`) model ids, us-east-1 on-demand. Prices vary by AWS
/// region: override them in `prices:` for other regions.
///
/// The flag says whether a cross-region inference profile (`us.`, `eu.`,
/// `apac.`, …) has the same price as the model itself. For the Claude 4.5
/// generation AWS prices geographic profiles above the global one, so only
/// the model id and its `global.` profile are priced.
const BEDROCK: &[(&str, Price, bool)] = &[
    // Amazon Nova: 0.035 / 0.14, 0.06 / 0.24, 0.80 / 3.20, 2.50 / 12.50.
    ("amazon.nova-micro", Price::new(35_000, 140_000), true),
    ("amazon.nova-lite", cents(6, 24), true),
    ("amazon.nova-pro", cents(80, 320), true),
    ("amazon.nova-premier", cents(250, 1_250), true),
    // Anthropic on Bedrock, at Anthropic's list prices.
    (
        "anthropic.claude-opus-4-5",
        cents(500, 2_500).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
        false,
    ),
    (
        "anthropic.claude-opus-4-1",
        cents(1_500, 7_500).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
        true,
    ),
    (
        "anthropic.claude-opus-4",
        cents(1_500, 7_500).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
        true,
    ),
    (
        "anthropic.claude-sonnet-4-5",
        cents(300, 1_500).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
        false,
    ),
    (
        "anthropic.claude-sonnet-4",
        cents(300, 1_500).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
        true,
    ),
    (
        "anthropic.claude-3-7-sonnet",
        cents(300, 1_500).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
        true,
    ),
    (
        "anthropic.claude-haiku-4-5",
        cents(100, 500).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
        false,
    ),
    (
        "anthropic.claude-3-5-haiku",
        cents(80, 400).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
        true,
    ),
    (
        "anthropic.claude-3-haiku",
        cents(25, 125).up_to_prompt_tokens(CLAUDE_PROMPT_LIMIT),
        true,
    ),
];

/// Geographic cross-region inference profile prefixes on Bedrock.
const BEDROCK_GEO_PREFIXES: &[&str] = &["us.", "eu.", "apac.", "us-gov.", "jp.", "au.", "ca."];

/// The built-in price of `upstream_model` on a provider of kind `kind`, if
/// Sentinel knows it. Kinds whose models are not a vendor's catalogue
/// (`openai_compatible`, `mock`) have none.
pub(crate) fn builtin(kind: &str, upstream_model: &str) -> Option<Price> {
    match kind {
        "openai" | "azure_openai" => lookup(OPENAI, upstream_model),
        "anthropic" => lookup(ANTHROPIC, upstream_model),
        "gemini" => lookup(
            GEMINI,
            upstream_model
                .strip_prefix("models/")
                .unwrap_or(upstream_model),
        ),
        "vertex" => lookup(VERTEX, upstream_model),
        "bedrock" => bedrock(upstream_model),
        _ => None,
    }
}

/// A Bedrock model id, foundation-model ARN, or inference profile id.
fn bedrock(model: &str) -> Option<Price> {
    let id = match model.strip_prefix("arn:") {
        // Foundation models and system inference profiles name the id after
        // the slash; application inference profiles are opaque.
        Some(arn) if arn.contains(":foundation-model/") || arn.contains(":inference-profile/") => {
            arn.rsplit('/').next()?
        }
        Some(_) => return None,
        None => model,
    };
    let table: Vec<(&str, Price)> = BEDROCK.iter().map(|(n, p, _)| (*n, *p)).collect();
    if let Some(base) = id.strip_prefix("global.") {
        return lookup(&table, base);
    }
    if let Some(base) = BEDROCK_GEO_PREFIXES
        .iter()
        .find_map(|prefix| id.strip_prefix(prefix))
    {
        let same: Vec<(&str, Price)> = BEDROCK
            .iter()
            .filter(|(_, _, geo_same)| *geo_same)
            .map(|(n, p, _)| (*n, *p))
            .collect();
        // A profile of a model without the same price must not fall back to
        // a shorter name (`…claude-sonnet-4-5…` to `…claude-sonnet-4`).
        return lookup_entry(&table, base)
            .filter(|(name, _)| same.iter().any(|(n, _)| n == name))
            .map(|(_, price)| price);
    }
    lookup(&table, id)
}

fn lookup(table: &[(&str, Price)], model: &str) -> Option<Price> {
    lookup_entry(table, model).map(|(_, price)| price)
}

/// The entry for `model`: an exact name, else the longest listed name
/// followed only by a snapshot or version suffix.
fn lookup_entry<'t>(table: &[(&'t str, Price)], model: &str) -> Option<(&'t str, Price)> {
    if let Some((name, price)) = table.iter().find(|(name, _)| *name == model) {
        return Some((name, *price));
    }
    table
        .iter()
        .filter(|(name, _)| model.strip_prefix(name).is_some_and(is_snapshot_suffix))
        .max_by_key(|(name, _)| name.len())
        .map(|(name, price)| (*name, *price))
}

/// `-latest`, or an optional date (`-YYYY-MM-DD`, `-YYYYMMDD`, `@YYYYMMDD`)
/// or three-digit version (`-001`) followed by an optional Bedrock version
/// (`-v1`, `-v1:0`), at least one of them.
fn is_snapshot_suffix(rest: &str) -> bool {
    if rest == "-latest" {
        return true;
    }
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let mut rest = rest;
    let mut matched = false;
    if let Some(after) = rest.strip_prefix('-').or_else(|| rest.strip_prefix('@')) {
        let date_end = after.find(|c: char| !c.is_ascii_digit() && c != '-');
        let (head, _) = after.split_at(date_end.unwrap_or(after.len()));
        // Try the longest date-like forms first.
        for len in [10, 8, 3] {
            if head.len() >= len {
                let candidate = &after[..len];
                let ok = match len {
                    10 => {
                        digits(&candidate[..4], 4)
                            && &candidate[4..5] == "-"
                            && digits(&candidate[5..7], 2)
                            && &candidate[7..8] == "-"
                            && digits(&candidate[8..], 2)
                    }
                    n => digits(candidate, n),
                };
                let tail = &after[len..];
                if ok && (tail.is_empty() || tail.starts_with("-v")) {
                    rest = tail;
                    matched = true;
                    break;
                }
            }
        }
    }
    if let Some(version) = rest.strip_prefix("-v") {
        let (major, minor) = version.split_once(':').unwrap_or((version, "0"));
        let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !(number(major) && number(minor)) {
            return false;
        }
        rest = "";
        matched = true;
    }
    matched && rest.is_empty()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use sentinel_core::price::{MAX_USD_PER_MTOK, MICROS_PER_USD, parse_usd_micros};

    use super::*;

    fn price(kind: &str, model: &str) -> Option<(u64, u64)> {
        builtin(kind, model).map(|p| (p.input_per_mtok, p.output_per_mtok))
    }

    /// Micro-USD per million from the decimal text of a price list.
    fn usd(input: &str, output: &str) -> Option<(u64, u64)> {
        Some((
            parse_usd_micros(input, MAX_USD_PER_MTOK).unwrap(),
            parse_usd_micros(output, MAX_USD_PER_MTOK).unwrap(),
        ))
    }

    #[test]
    fn exact_names_have_their_list_price() {
        assert_eq!(price("openai", "gpt-4o"), usd("2.50", "10"));
        assert_eq!(price("openai", "gpt-4o-mini"), usd("0.15", "0.60"));
        assert_eq!(price("openai", "gpt-4.1-nano"), usd("0.10", "0.40"));
        assert_eq!(price("openai", "o3"), usd("2", "8"));
        assert_eq!(price("openai", "o4-mini"), usd("1.10", "4.40"));
        assert_eq!(price("openai", "text-embedding-3-small"), usd("0.02", "0"));
        assert_eq!(price("azure_openai", "gpt-4.1-mini"), usd("0.40", "1.60"));
        assert_eq!(price("anthropic", "claude-haiku-4-5"), usd("1", "5"));
        assert_eq!(price("gemini", "gemini-2.5-flash"), usd("0.30", "2.50"));
        assert_eq!(price("gemini", "models/gemini-2.5-pro"), usd("1.25", "10"));
        assert_eq!(
            price("vertex", "gemini-2.5-flash-lite"),
            usd("0.10", "0.40")
        );
        assert_eq!(
            price("bedrock", "amazon.nova-micro-v1:0"),
            usd("0.035", "0.14")
        );
    }

    #[test]
    fn dated_snapshots_take_their_family_price() {
        assert_eq!(
            price("openai", "gpt-4o-mini-2024-07-18"),
            price("openai", "gpt-4o-mini")
        );
        assert_eq!(price("openai", "gpt-4.1-2025-04-14"), usd("2", "8"));
        assert_eq!(
            price("openai", "gpt-4.1-mini-2025-04-14"),
            usd("0.40", "1.60")
        );
        assert_eq!(price("openai", "o3-2025-04-16"), usd("2", "8"));
        // An exact snapshot entry beats its family.
        assert_eq!(price("openai", "gpt-4o-2024-05-13"), usd("5", "15"));
        assert_eq!(price("openai", "gpt-4o-2024-08-06"), usd("2.50", "10"));
        assert_eq!(
            price("anthropic", "claude-sonnet-4-5-20250929"),
            usd("3", "15")
        );
        assert_eq!(
            price("anthropic", "claude-opus-4-1-20250805"),
            usd("15", "75")
        );
        assert_eq!(
            price("anthropic", "claude-opus-4-20250514"),
            usd("15", "75")
        );
        assert_eq!(
            price("anthropic", "claude-3-5-haiku-latest"),
            usd("0.80", "4")
        );
        assert_eq!(price("gemini", "gemini-2.0-flash-001"), usd("0.10", "0.40"));
        assert_eq!(
            price("bedrock", "anthropic.claude-sonnet-4-20250514-v1:0"),
            usd("3", "15")
        );
    }

    #[test]
    fn unknown_models_and_kinds_have_no_price() {
        for (kind, model) in [
            ("openai", "o3-pro"),
            ("openai", "gpt-4o-audio-preview"),
            ("openai", "gpt-4o-mini-realtime-preview-2024-12-17"),
            ("openai", "gpt-5"),
            ("openai", "GPT-4O"),
            ("openai", "gpt-4o-"),
            ("openai", "gpt-4o-2024"),
            ("openai", "gpt-4o-v"),
            ("anthropic", "claude-opus-4-7"),
            ("anthropic", "claude-sonnet-4-7-20260101"),
            ("gemini", "gemini-2.5-flash-preview-05-20"),
            ("gemini", "gemini-3-pro"),
            ("vertex", "gemini-2.0-flash"),
            ("bedrock", "amazon.nova-2-lite-v1:0"),
            ("bedrock", "meta.llama3-70b-instruct-v1:0"),
            ("openai_compatible", "gpt-4o"),
            ("mock", "gpt-4o"),
            ("anthropic", "gpt-4o"),
            ("openai", "claude-sonnet-4"),
        ] {
            assert_eq!(price(kind, model), None, "{kind} {model}");
        }
    }

    #[test]
    fn bedrock_profiles_are_priced_only_when_the_price_is_the_same() {
        let sonnet4 = usd("3", "15");
        for model in [
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "global.anthropic.claude-sonnet-4-20250514-v1:0",
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-20250514-v1:0",
        ] {
            assert_eq!(price("bedrock", model), sonnet4, "{model}");
        }
        assert_eq!(
            price("bedrock", "us.amazon.nova-pro-v1:0"),
            usd("0.80", "3.20")
        );
        // Claude 4.5 on a geographic profile costs more than the list price.
        assert_eq!(
            price(
                "bedrock",
                "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
            ),
            usd("3", "15")
        );
        assert_eq!(
            price("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            None
        );
        assert_eq!(
            price("bedrock", "eu.anthropic.claude-haiku-4-5-20251001-v1:0"),
            None
        );
        assert_eq!(
            price(
                "bedrock",
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"
            ),
            None
        );
    }

    #[test]
    fn snapshot_suffixes() {
        for ok in [
            "-2024-07-18",
            "-20250514",
            "@20250514",
            "-001",
            "-v1",
            "-v1:0",
            "-20250514-v1:0",
            "-2024-07-18-v2:1",
            "-latest",
        ] {
            assert!(is_snapshot_suffix(ok), "{ok}");
        }
        for bad in [
            "",
            "-",
            "-mini",
            "-1",
            "-7",
            "-7-20260101",
            "-2024",
            "-2024-07",
            "-0001",
            "-v",
            "-v1:",
            "-vx",
            "-20250514-",
            "-preview",
            "-001-preview",
            "-latest-v1",
            "2024-07-18",
            "-2024-07-18x",
            "--20250514",
        ] {
            assert!(!is_snapshot_suffix(bad), "{bad}");
        }
    }

    #[test]
    fn every_entry_is_within_range_and_unique() {
        let cap = MAX_USD_PER_MTOK * MICROS_PER_USD;
        let bedrock: Vec<(&str, Price)> = BEDROCK.iter().map(|(n, p, _)| (*n, *p)).collect();
        for table in [OPENAI, ANTHROPIC, GEMINI, VERTEX, &bedrock[..]] {
            for (i, (name, price)) in table.iter().enumerate() {
                assert!(
                    price.input_per_mtok <= cap && price.output_per_mtok <= cap,
                    "{name}"
                );
                assert!(price.input_per_mtok > 0, "{name}");
                assert!(
                    table[..i].iter().all(|(other, _)| other != name),
                    "{name} is listed twice"
                );
                // Each entry is reachable by its own name.
                assert_eq!(lookup(table, name), Some(*price), "{name}");
            }
        }
    }
}
