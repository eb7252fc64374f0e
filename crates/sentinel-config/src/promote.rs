//! Promotion: sections of one environment's document carried into
//! another's. The promoted sections replace the target's; everything else
//! (alerts, retention, and providers unless promoted) stays as the target
//! has it. Documents hold secret names, never values, and keys are not in
//! documents at all, so nothing secret can travel this way.
//!
//! The result keeps the target's text (comments, order, layout) where it
//! can: top-level sections are spliced as text, and the splice is checked to
//! read back as the intended document; otherwise the merged document is
//! written out fresh.

use std::collections::BTreeSet;

use crate::{ConfigError, ConfigErrors, RawEnvDocument, parse_document};

/// The sections `promote --only` accepts.
pub const PROMOTABLE_SECTIONS: [&str; 4] = ["route_plans", "policies", "providers", "prices"];

/// The sections promoted when none are named (SPEC §2: route plans and
/// policies cross environments; secrets and keys never do).
pub const DEFAULT_PROMOTED_SECTIONS: [&str; 2] = ["route_plans", "policies"];

/// A reference in the promoted parts that the target environment cannot
/// satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissingReference {
    /// A route plan target names a provider the merged document lacks.
    Provider { path: String, name: String },
    /// A promoted provider's credential names a secret the target lacks.
    Secret { path: String, name: String },
}

impl MissingReference {
    /// The field path of the reference.
    pub fn path(&self) -> &str {
        match self {
            Self::Provider { path, .. } | Self::Secret { path, .. } => path,
        }
    }

    /// What is missing and what to do about it.
    pub fn message(&self) -> String {
        match self {
            Self::Provider { name, .. } => format!(
                "provider {name:?} does not exist in the target environment; promote providers too or define it there first"
            ),
            Self::Secret { name, .. } => format!(
                "secret {name:?} does not exist in the target environment; set it there first (secrets are never promoted)"
            ),
        }
    }
}

impl std::fmt::Display for MissingReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path(), self.message())
    }
}

/// The merged document, and what it references that the target lacks.
#[derive(Debug, Clone)]
pub struct Promoted {
    pub document: String,
    pub missing: Vec<MissingReference>,
}

/// Checks `--only`: every name a promotable section, at least one, no
/// repeats. The error names the field and the sections allowed.
pub fn parse_sections(names: &[String]) -> Result<Vec<&'static str>, ConfigError> {
    if names.is_empty() {
        return Ok(DEFAULT_PROMOTED_SECTIONS.to_vec());
    }
    let mut out = Vec::new();
    for name in names {
        let found = PROMOTABLE_SECTIONS
            .iter()
            .find(|s| **s == name.trim())
            .ok_or_else(|| {
                ConfigError::new(
                    "only",
                    format!(
                        "{name:?} cannot be promoted; choose among {}",
                        PROMOTABLE_SECTIONS.join(", ")
                    ),
                )
            })?;
        if !out.contains(found) {
            out.push(*found);
        }
    }
    Ok(out)
}

/// Replaces `sections` of `target` with those of `source`; a section absent
/// from the source is removed from the result. `secret_exists` answers for
/// the target environment.
pub fn promote(
    source: &str,
    target: &str,
    sections: &[&str],
    secret_exists: &dyn Fn(&str) -> bool,
) -> Result<Promoted, ConfigErrors> {
    let from = parse_document(source)?;
    let to = parse_document(target)?;
    let mut merged = to.clone();
    for section in sections {
        match *section {
            "route_plans" => merged.route_plans = from.route_plans.clone(),
            "policies" => merged.policies = from.policies.clone(),
            "providers" => merged.providers = from.providers.clone(),
            "prices" => merged.prices = from.prices.clone(),
            other => {
                return Err(ConfigErrors::single(ConfigError::new(
                    "only",
                    format!("{other:?} cannot be promoted"),
                )));
            }
        }
    }
    let missing = missing_references(&merged, sections, secret_exists);
    let document = splice(source, target, sections)
        .filter(|text| parse_document(text).is_ok_and(|doc| doc == merged))
        .map_or_else(|| render(&merged), Ok)?;
    Ok(Promoted { document, missing })
}

fn missing_references(
    merged: &RawEnvDocument,
    sections: &[&str],
    secret_exists: &dyn Fn(&str) -> bool,
) -> Vec<MissingReference> {
    let mut missing = Vec::new();
    if sections.contains(&"route_plans") {
        for (plan, raw) in &merged.route_plans {
            for (i, target) in raw.targets.iter().enumerate() {
                if !merged.providers.contains_key(&target.provider) {
                    missing.push(MissingReference::Provider {
                        path: format!("route_plans.{plan}.targets[{i}].provider"),
                        name: target.provider.clone(),
                    });
                }
            }
        }
    }
    if sections.contains(&"providers") {
        for (name, provider) in &merged.providers {
            if let Some(secret) = provider
                .credential
                .as_deref()
                .and_then(|c| c.strip_prefix("secret:"))
                && !secret_exists(secret)
            {
                missing.push(MissingReference::Secret {
                    path: format!("providers.{name}.credential"),
                    name: secret.to_owned(),
                });
            }
        }
    }
    missing
}

fn render(doc: &RawEnvDocument) -> Result<String, ConfigErrors> {
    serde_saphyr::to_string(doc).map_err(|e| {
        ConfigErrors::single(ConfigError::new(
            "",
            format!("the promoted document cannot be written: {e}"),
        ))
    })
}

/// A document cut at its top-level keys: leading lines, then each
/// `key:` line with the lines under it.
struct Sections<'a> {
    preamble: String,
    blocks: Vec<(&'a str, String)>,
}

/// `None` when the document is not plain block YAML at the top level.
fn sections_of(text: &str) -> Option<Sections<'_>> {
    let mut out = Sections {
        preamble: String::new(),
        blocks: Vec::new(),
    };
    for line in text.lines() {
        let first = line.chars().next();
        let is_key = first.is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if is_key {
            let key = line.split(':').next()?.trim();
            if !line.contains(':') || key.contains(' ') {
                return None;
            }
            out.blocks.push((key, format!("{line}\n")));
        } else if first.is_some_and(|c| !c.is_whitespace() && c != '#') {
            // Flow mappings, document markers, lists at the top level.
            return None;
        } else if let Some((_, block)) = out.blocks.last_mut() {
            block.push_str(line);
            block.push('\n');
        } else {
            out.preamble.push_str(line);
            out.preamble.push('\n');
        }
    }
    Some(out)
}

fn splice(source: &str, target: &str, sections: &[&str]) -> Option<String> {
    let from = sections_of(source)?;
    let to = sections_of(target)?;
    let promoted: BTreeSet<&str> = sections.iter().copied().collect();
    let source_block = |key: &str| from.blocks.iter().find(|(k, _)| *k == key);
    let mut out = to.preamble.clone();
    for (key, block) in &to.blocks {
        if promoted.contains(key) {
            if let Some((_, replacement)) = source_block(key) {
                out.push_str(replacement);
            }
        } else {
            out.push_str(block);
        }
    }
    for section in sections {
        if !to.blocks.iter().any(|(k, _)| k == section)
            && let Some((_, block)) = source_block(section)
        {
            out.push_str(block);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAGING: &str = "# staging\nproviders:\n  main:\n    kind: mock\nroute_plans:\n  chat:\n    models: [m-new]\n    targets:\n      - { provider: main, model: new }\npolicies:\n  environment:\n    max_tokens: 100\nretention: { requests_days: 3 }\n";
    const PROD: &str = "# prod, keep me\nproviders:\n  main:\n    kind: mock\n  other:\n    kind: mock\nroute_plans:\n  chat:\n    models: [m-old]\n    targets:\n      - { provider: main, model: old }\nretention: { requests_days: 30 }\n";

    fn yes(_: &str) -> bool {
        true
    }

    #[test]
    fn promoted_sections_replace_and_the_rest_stays() {
        let out = promote(STAGING, PROD, &DEFAULT_PROMOTED_SECTIONS, &yes).unwrap();
        assert!(out.missing.is_empty());
        assert_eq!(
            out.document,
            "# prod, keep me\nproviders:\n  main:\n    kind: mock\n  other:\n    kind: mock\nroute_plans:\n  chat:\n    models: [m-new]\n    targets:\n      - { provider: main, model: new }\nretention: { requests_days: 30 }\npolicies:\n  environment:\n    max_tokens: 100\n"
        );
    }

    #[test]
    fn only_narrows_the_promotion() {
        let out = promote(STAGING, PROD, &["policies"], &yes).unwrap();
        let doc = parse_document(&out.document).unwrap();
        assert_eq!(doc.route_plans["chat"].models, ["m-old"]);
        assert_eq!(doc.policies.len(), 1);
        assert_eq!(doc.providers.len(), 2, "providers are not promoted");
    }

    #[test]
    fn missing_providers_and_secrets_are_named() {
        let source = "providers:\n  fresh:\n    kind: openai\n    credential: secret:fresh-key\nroute_plans:\n  chat:\n    models: [m]\n    targets:\n      - { provider: fresh, model: x }\n";
        let out = promote(source, PROD, &["route_plans"], &yes).unwrap();
        assert_eq!(
            out.missing,
            [MissingReference::Provider {
                path: "route_plans.chat.targets[0].provider".into(),
                name: "fresh".into()
            }]
        );
        let out = promote(source, PROD, &["route_plans", "providers"], &|_| false).unwrap();
        assert_eq!(
            out.missing,
            [MissingReference::Secret {
                path: "providers.fresh.credential".into(),
                name: "fresh-key".into()
            }]
        );
        assert!(out.missing[0].to_string().contains("fresh-key"));
    }

    #[test]
    fn flow_documents_are_written_fresh() {
        let out = promote(
            "{policies: {environment: {max_tokens: 5}}}",
            PROD,
            &["policies"],
            &yes,
        )
        .unwrap();
        let doc = parse_document(&out.document).unwrap();
        assert_eq!(doc.policies.len(), 1);
        assert_eq!(doc.route_plans["chat"].models, ["m-old"]);
    }

    #[test]
    fn only_names_what_can_be_promoted() {
        assert_eq!(parse_sections(&[]).unwrap(), DEFAULT_PROMOTED_SECTIONS);
        assert_eq!(
            parse_sections(&["policies".into(), "policies".into()]).unwrap(),
            ["policies"]
        );
        let error = parse_sections(&["secrets".into()]).unwrap_err();
        assert_eq!(error.path, "only");
        assert!(
            error.message.contains("\"secrets\" cannot be promoted"),
            "{}",
            error.message
        );
    }
}
