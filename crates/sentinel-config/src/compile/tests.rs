use super::*;
use crate::document::MAX_DOCUMENT_BYTES;
use crate::testing::test_context;

/// Paths of every error `doc` produces (empty when it compiles).
fn paths_in(doc: &str, protected: bool) -> Vec<String> {
    match compile(doc, &test_context(protected)) {
        Ok(_) => vec![],
        Err(errors) => errors.into_iter().map(|e| e.path).collect(),
    }
}

#[track_caller]
fn check(doc: &str, expected: &[&str]) {
    assert_eq!(paths_in(doc, false), expected, "document:\n{doc}");
}

#[track_caller]
fn check_protected(doc: &str, expected: &[&str]) {
    assert_eq!(
        paths_in(doc, true),
        expected,
        "document (protected):\n{doc}"
    );
}

/// The full error text for `doc`.
fn message(doc: &str) -> String {
    compile(doc, &test_context(false))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

/// A document with one `openai_compatible` provider `p` carrying `fields`,
/// used by one route plan.
fn prov(fields: &str) -> String {
    format!(
        "providers: {{p: {{kind: openai_compatible, {fields}}}}}\n\
         route_plans: {{r: {{models: [m], targets: [{{provider: p, model: x}}]}}}}\n"
    )
}

/// `prov` with a base URL.
fn url(base_url: &str) -> String {
    prov(&format!("base_url: '{base_url}'"))
}

/// A document with a mock provider `p` and one route plan `r` with `fields`.
fn plan(fields: &str) -> String {
    format!("providers: {{p: {{kind: mock}}}}\nroute_plans: {{r: {{{fields}}}}}\n")
}

const TARGET: &str = "targets: [{provider: p, model: x}]";

#[test]
fn empty_documents_are_empty_configs() {
    for doc in [
        "",
        "   \n",
        "# nothing yet\n",
        "---\n",
        "providers:\nroute_plans:\n",
        "providers: {}\n",
    ] {
        let (config, warnings) = compile(doc, &test_context(true)).unwrap();
        assert_eq!(config, EnvConfig::default(), "{doc:?}");
        assert!(warnings.is_empty());
    }
}

#[test]
fn spec_example_restricted_to_providers_and_route_plans() {
    let doc = r#"
providers:
  openai-main:
    kind: openai
    base_url: https://api.openai.com/v1
    credential: secret:openai-staging
  local-vllm:
    kind: openai_compatible
    base_url: http://10.0.0.5:8000/v1
    allow_private_network: true
    headers: { X-Extra: value, x-team: "42" }
route_plans:
  chat:
    models: [chat-default, gpt-4o-mini]
    strategy: fallback            # or weighted
    targets:
      - { provider: openai-main, model: gpt-4o-mini }
  local:
    models: [llama]
    targets:
      - { provider: local-vllm, model: llama-3.1-8b-instruct, weight: 3 }
"#;
    let (config, warnings) = compile(doc, &test_context(false)).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.models(), ["chat-default", "gpt-4o-mini", "llama"]);
    let chat = config.route_for_model("chat-default").unwrap();
    assert_eq!(chat.name.as_str(), "chat");
    assert_eq!(chat.strategy, Strategy::Fallback);
    assert_eq!(chat.targets[0].provider.as_str(), "openai-main");
    assert_eq!(chat.targets[0].model, "gpt-4o-mini");
    assert_eq!(chat.targets[0].weight.get(), 1);
    assert_eq!(
        config.route_for_model("llama").unwrap().targets[0]
            .weight
            .get(),
        3
    );
    assert!(config.route_for_model("gpt-4o").is_none());
    assert!(config.route_plan("local").is_some());

    let openai = config.provider("openai-main").unwrap();
    assert_eq!(openai.kind, "openai");
    assert_eq!(
        openai.base_url.as_ref().map(Url::as_str),
        Some("https://api.openai.com/v1")
    );
    assert_eq!(
        openai
            .credential
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("secret:openai-staging")
    );
    assert!(!openai.allow_private_network);
    let vllm = config.provider("local-vllm").unwrap();
    assert!(vllm.allow_private_network);
    assert_eq!(
        vllm.headers,
        [
            ("x-extra".to_owned(), "value".to_owned()),
            ("x-team".to_owned(), "42".to_owned())
        ]
    );

    // The same document in a protected environment: plain http is refused.
    check_protected(doc, &["providers.local-vllm.base_url"]);
}

#[test]
fn options_reach_the_compiled_provider() {
    let doc = "providers: {p: {kind: mock, options: {latency_ms: 25}}}\n";
    let (config, warnings) = compile(doc, &test_context(false)).unwrap();
    assert_eq!(config.provider("p").unwrap().options["latency_ms"], 25);
    assert_eq!(
        warnings,
        [ConfigWarning::new(
            "providers.p",
            "no route plan uses this provider"
        )]
    );
}

#[test]
fn parse_errors_name_the_field() {
    // Unknown fields, at every level.
    check("alerting: []\n", &["alerting"]);
    check(
        "policies: {environment: {max_token: 5}}\n",
        &["policies.environment.max_token"],
    );
    check("providers: {}\nretention: {days: 3}\n", &["retention.days"]);
    check(
        "retention: {requests_days: 0}\n",
        &["retention.requests_days"],
    );
    check("retention: {bodies: partial}\n", &["retention.bodies"]);
    check("retention: {audit_days: 0}\n", &["retention.audit_days"]);
    check(
        "retention: {requests_days: 3, bodies: full, bodies_days: 7}\n",
        &["retention.bodies_days"],
    );
    check(&prov("bogus: 1"), &["providers.p.bogus"]);
    check(
        &prov("base-url: 'https://x.example'"),
        &["providers.p.base-url"],
    );
    check(
        &plan(&format!(
            "models: [m], {TARGET}, retry: {{max_attempts: 3, tries: 2}}"
        )),
        &["route_plans.r.retry.tries"],
    );
    check(
        &plan("models: [m], targets: [{provider: p, model: x, priority: 1}]"),
        &["route_plans.r.targets[0].priority"],
    );
    // Wrong types.
    check("providers: [a, b]\n", &["providers"]);
    check("- providers\n", &[""]);
    check("providers: {p: {kind: [mock]}}\n", &["providers.p.kind"]);
    check("providers: {p: mock}\n", &["providers.p"]);
    check(&prov("allow_http: yes"), &["providers.p.allow_http"]);
    check(
        &prov("allow_private_network: 1"),
        &["providers.p.allow_private_network"],
    );
    check(&prov("headers: [a]"), &["providers.p.headers"]);
    check(&prov("headers: {X-A: [1]}"), &["providers.p.headers.X-A"]);
    check(&prov("options: [1]"), &["providers.p.options"]);
    check(
        &plan(&format!("models: m, {TARGET}")),
        &["route_plans.r.models"],
    );
    check(
        &plan(&format!("models: [[m]], {TARGET}")),
        &["route_plans.r.models[0]"],
    );
    check(
        &plan("models: [m], targets: {provider: p}"),
        &["route_plans.r.targets"],
    );
    check(
        &plan("models: [m], targets: [{provider: p, model: x, weight: -1}]"),
        &["route_plans.r.targets[0].weight"],
    );
    check(
        &plan("models: [m], targets: [{provider: p, model: x, weight: heavy}]"),
        &["route_plans.r.targets[0].weight"],
    );
    check(
        &plan("models: [m], targets: [{provider: p, model: x, weight: 4294967296}]"),
        &["route_plans.r.targets[0].weight"],
    );
    // Missing required fields.
    check("providers: {p: {}}\n", &["providers.p"]);
    check(&plan("models: [m]"), &["route_plans.r"]);
    check(
        &plan("models: [m], targets: [{provider: p}]"),
        &["route_plans.r.targets[0]"],
    );
    // Not YAML, several documents, tags.
    check("providers: {p: \n", &["providers"]);
    check("providers: {}\n---\nproviders: {}\n", &[""]);
    check("providers: {p: {kind: !secret mock}}\n", &["providers.p"]);
    assert!(message("providers: {p: {kind: !secret mock}}\n").contains("secret"));
    check("providers: !!map {p: {kind: mock}}\n", &[]);
}

#[test]
fn parse_errors_carry_line_and_column() {
    let err = compile(
        "providers:\n  p:\n    kind: mock\n    bogus: 1\n",
        &test_context(false),
    )
    .unwrap_err();
    let location = err.errors[0].location.unwrap();
    assert_eq!((location.line, location.column), (4, 5));
    assert!(
        err.to_string()
            .starts_with("providers.p.bogus: unknown field `bogus`"),
        "{err}"
    );
}

#[test]
fn duplicate_keys_are_errors() {
    check(
        "providers:\n  p:\n    kind: mock\n    kind: openai\n",
        &["providers.p.kind"],
    );
    check(
        "providers:\n  p: {kind: mock}\n  p: {kind: openai}\n",
        &["providers.p"],
    );
    check("providers: {}\nproviders: {}\n", &["providers"]);
    check(
        "providers: {p: {kind: mock, kind: mock}}\n",
        &["providers.p.kind"],
    );
    check(
        &prov("headers: {X-A: '1', X-A: '2'}"),
        &["providers.p.headers.X-A"],
    );
    check(&prov("options: {a: 1, a: 2}"), &["providers.p.options.a"]);
    assert!(message("providers: {}\nproviders: {}\n").contains("more than once"));
}

#[test]
fn yaml_bombs_are_refused_by_the_expansion_budget() {
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    let doc = format!(
        "providers:\n  p:\n    kind: mock\n    options:\n      {}",
        bomb.replace('\n', "\n      ")
    );
    // Refused by the reader's alias-expansion budget, which bounds the work
    // (an unbounded reader would expand 10^12 nodes); no wall-clock check.
    let err = compile(&doc, &test_context(false)).unwrap_err();
    assert!(
        err.to_string().contains("too large or too complex"),
        "{err}"
    );

    let deep = format!(
        "providers: {{p: {{kind: mock, options: {{a: {}1{}}}}}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    assert_eq!(paths_in(&deep, false).len(), 1);

    let huge = format!("# {}\n", "x".repeat(MAX_DOCUMENT_BYTES));
    assert!(message(&huge).contains("limit is 1048576 bytes"));
}

#[test]
fn aliases_within_limits_work() {
    let doc = "providers:\n  p: &base {kind: mock}\n  q: *base\n\
               route_plans:\n  r: {models: [m], targets: [{provider: p, model: x}]}\n  s: {models: [n], targets: [{provider: q, model: x}]}\n";
    let (config, _) = compile(doc, &test_context(false)).unwrap();
    assert_eq!(config.providers().len(), 2);

    let merged = "x-common: &common {kind: openai_compatible, headers: {X-Team: ml}}\n";
    check(merged, &["x-common"]);
    let merged = "providers:\n  a: &a {kind: openai_compatible, base_url: 'https://a.example', headers: {X-Team: ml}}\n  b:\n    <<: *a\n    base_url: 'https://b.example'\n\
                  route_plans: {r: {models: [m], targets: [{provider: a, model: x}]}, s: {models: [n], targets: [{provider: b, model: x}]}}\n";
    let (config, _) = compile(merged, &test_context(false)).unwrap();
    let b = config.provider("b").unwrap();
    assert_eq!(
        b.base_url.as_ref().map(Url::as_str),
        Some("https://b.example/")
    );
    assert_eq!(b.headers, [("x-team".to_owned(), "ml".to_owned())]);
}

#[test]
fn names_follow_the_name_grammar() {
    check(
        "providers: {Bad_Name: {kind: mock}}\n",
        &["providers.Bad_Name"],
    );
    check("providers: {9p: {kind: mock}}\n", &["providers.9p"]);
    check(
        &format!("providers: {{{}: {{kind: mock}}}}\n", "a".repeat(64)),
        &[&format!("providers.{}", "a".repeat(64))],
    );
    check(
        &format!(
            "providers: {{p: {{kind: mock}}}}\nroute_plans: {{Chat: {{models: [m], {TARGET}}}}}\n"
        ),
        &["route_plans.Chat"],
    );
    // A target naming a badly named provider is reported once, on the provider.
    check(
        "providers: {P: {kind: mock}}\nroute_plans: {r: {models: [m], targets: [{provider: P, model: x}]}}\n",
        &["providers.P"],
    );
    assert!(message("providers: {Bad: {kind: mock}}\n").contains("invalid provider name"));
}

#[test]
fn provider_kinds_and_catalog_checks() {
    check("providers: {p: {kind: openia}}\n", &["providers.p.kind"]);
    assert!(
        message("providers: {p: {kind: openia}}\n")
            .contains("known kinds: mock, openai, openai_compatible")
    );
    check(
        "providers: {p: {kind: openai}}\n",
        &["providers.p.base_url", "providers.p.credential"],
    );
    check(
        "providers: {p: {kind: mock, options: {latency_ms: slow}}}\n",
        &["providers.p.options.latency_ms"],
    );
    check(
        "providers: {p: {kind: mock, options: {latency_ms: 5, colour: red}}}\n",
        &["providers.p.options.colour"],
    );
    check(
        "providers: {p: {kind: mock, base_url: 'https://x.example'}}\n",
        &["providers.p.base_url"],
    );
}

#[test]
fn base_url_rules() {
    check(&url("https://api.openai.com/v1"), &[]);
    check(&url("http://api.example.com:8000/v1/"), &[]);
    check(&url("not a url"), &["providers.p.base_url"]);
    check(&url("api.openai.com/v1"), &["providers.p.base_url"]);
    check(&url("ftp://files.example.com/"), &["providers.p.base_url"]);
    check(&url("file:///etc/passwd"), &["providers.p.base_url"]);
    check(
        &url("https://user:pw@api.example.com/v1"),
        &["providers.p.base_url"],
    );
    check(
        &url("https://user@api.example.com/v1"),
        &["providers.p.base_url"],
    );
    check(
        &url("https://api.example.com/v1?key=x"),
        &["providers.p.base_url"],
    );
    check(
        &url("https://api.example.com/v1#top"),
        &["providers.p.base_url"],
    );
    check(
        &url("https://u:p@api.example.com/v1?k=1#f"),
        &[
            "providers.p.base_url",
            "providers.p.base_url",
            "providers.p.base_url",
        ],
    );
}

#[test]
fn private_and_special_endpoints_are_refused_unless_allowed() {
    for base in [
        "http://127.0.0.1:8000/v1",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0x7f000001/",
        "http://017700000001/",
        "http://0177.0.0.1/",
        "http://0/",
        "http://0.0.0.0:8080/",
        "http://[::1]/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[0:0:0:0:0:ffff:169.254.169.254]/",
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://10.0.0.5:8000/v1",
        "http://172.20.1.1/",
        "http://192.168.0.10/",
        "http://[fd12::1]/",
        "http://169.254.10.10/",
        "http://[fe80::1]/",
        "http://100.64.1.1/",
        "http://255.255.255.255/",
        "http://224.0.0.251/",
        "http://192.0.2.10/",
        "http://[2001:db8::1]/",
        "http://localhost:11434/v1",
        "http://LOCALHOST/",
        "http://localhost./",
        "http://LocalHost.:80/",
        "http://ollama.localhost/",
        "http://metadata.google.internal/computeMetadata/v1",
        "http://vllm.internal:8000/v1",
        "https://127.0.0.1.:443/",
    ] {
        assert_eq!(
            paths_in(&url(base), false),
            ["providers.p.base_url"],
            "{base}"
        );
        let allowed = prov(&format!("base_url: '{base}', allow_private_network: true"));
        assert_eq!(
            paths_in(&allowed, false),
            Vec::<String>::new(),
            "{base} allowed"
        );
    }
    for base in [
        "https://8.8.8.8/",
        "https://[2606:4700::1111]/",
        "https://localhost.example.com/",
        "https://127.0.0.1.nip.example/",
    ] {
        check(&url(base), &[]);
    }
    assert!(message(&url("http://127.0.0.1/")).contains(
        "providers.p.base_url: 127.0.0.1 is a loopback address; set allow_private_network: true to allow it"
    ));
    assert!(
        message(&url("http://169.254.169.254/"))
            .contains("169.254.169.254 is a cloud metadata address")
    );
}

#[test]
fn protected_environments_refuse_plain_http() {
    check_protected(&url("http://api.example.com/v1"), &["providers.p.base_url"]);
    check_protected(
        &prov("base_url: 'http://api.example.com/v1', allow_http: true"),
        &[],
    );
    check_protected(&url("https://api.example.com/v1"), &[]);
    check(&url("http://api.example.com/v1"), &[]);
    // Both rules apply, each reported.
    check_protected(
        &url("http://10.1.1.1/"),
        &["providers.p.base_url", "providers.p.base_url"],
    );
    check_protected(
        &prov("base_url: 'http://10.1.1.1/', allow_private_network: true, allow_http: true"),
        &[],
    );
}

#[test]
fn credentials_reference_existing_secrets() {
    check(
        &prov("base_url: 'https://x.example', credential: 'secret:openai-x'"),
        &[],
    );
    check(
        &prov("base_url: 'https://x.example', credential: openai-x"),
        &["providers.p.credential"],
    );
    check(
        &prov("base_url: 'https://x.example', credential: 'sk-live-123'"),
        &["providers.p.credential"],
    );
    check(
        &prov("base_url: 'https://x.example', credential: 'secret:Openai'"),
        &["providers.p.credential"],
    );
    check(
        &prov("base_url: 'https://x.example', credential: 'secret:'"),
        &["providers.p.credential"],
    );
    check(
        &prov("base_url: 'https://x.example', credential: 'secret:missing'"),
        &["providers.p.credential"],
    );
    assert!(
        message(&prov(
            "base_url: 'https://x.example', credential: 'secret:missing'"
        ))
        .contains(
            "secret missing does not exist in this environment; set it with `sentinel secrets set`"
        )
    );
}

#[test]
fn extra_headers() {
    let h = |headers: &str| {
        prov(&format!(
            "base_url: 'https://x.example', headers: {{{headers}}}"
        ))
    };
    check(&h("X-Extra: value, OpenAI-Organization: org-1"), &[]);
    check(&h("X-Num: 42, X-Bool: true"), &[]);
    for name in [
        "Authorization",
        "authorization",
        "X-Api-Key",
        "api-key",
        "x-goog-api-key",
        "Host",
        "Content-Length",
        "Transfer-Encoding",
        "Connection",
        "Keep-Alive",
        "TE",
        "Upgrade",
        "Cookie",
        "Proxy-Authorization",
        "proxy-foo",
    ] {
        assert_eq!(
            paths_in(&h(&format!("'{name}': x")), false),
            [format!("providers.p.headers.{name}")],
            "{name}"
        );
    }
    check(&h("'bad header': x"), &["providers.p.headers.bad header"]);
    check(&h("'X-A:': x"), &["providers.p.headers.X-A:"]);
    check(&h("X-A: \"a\\nb\""), &["providers.p.headers.X-A"]);
    check(&h("X-A: \"caf\u{e9}\""), &["providers.p.headers.X-A"]);
    check(&h("X-A: '1', x-a: '2'"), &["providers.p.headers.x-a"]);
    check(
        &h("Authorization: 'Bearer x', 'bad header': y, X-A: \"\\u0000\""),
        &[
            "providers.p.headers.Authorization",
            "providers.p.headers.X-A",
            "providers.p.headers.bad header",
        ],
    );
}

#[test]
fn route_plan_rules() {
    check(&plan(&format!("models: [m], {TARGET}")), &[]);
    check(
        &plan(&format!("models: [m], strategy: fallback, {TARGET}")),
        &[],
    );
    check(
        &plan(&format!("models: [m], strategy: weighted, {TARGET}")),
        &[],
    );
    check(
        &plan(&format!("models: [m], strategy: random, {TARGET}")),
        &["route_plans.r.strategy"],
    );
    check(
        &plan(&format!("models: [], {TARGET}")),
        &["route_plans.r.models"],
    );
    check(
        &plan(&format!("models: [''], {TARGET}")),
        &["route_plans.r.models[0]"],
    );
    check(
        &plan(&format!("models: [ok, \"tab\\there\"], {TARGET}")),
        &["route_plans.r.models[1]"],
    );
    check(
        &plan(&format!("models: [{}], {TARGET}", "m".repeat(257))),
        &["route_plans.r.models[0]"],
    );
    check(
        &plan(&format!("models: [{}], {TARGET}", "m".repeat(256))),
        &[],
    );
    check(
        &plan(&format!(
            "models: ['gpt-4o', 'org/model:tag v2', 'm\u{e9}'], {TARGET}"
        )),
        &[],
    );
    check(
        &plan(&format!("models: [m, n, m], {TARGET}")),
        &["route_plans.r.models[2]"],
    );
    check(
        &plan("models: [m], targets: []"),
        &["route_plans.r.targets"],
    );
    check(
        &plan("models: [m], targets: [{provider: p, model: x}, {provider: p, model: y}]"),
        &[],
    );
    check(
        &plan("models: [m], targets: [{provider: q, model: x}]"),
        &["route_plans.r.targets[0].provider"],
    );
    check(
        &plan("models: [m], targets: [{provider: p, model: ''}]"),
        &["route_plans.r.targets[0].model"],
    );
    check(
        &plan("models: [m], targets: [{provider: p, model: x, weight: 0}]"),
        &["route_plans.r.targets[0].weight"],
    );
    check(
        "route_plans: {r: {models: [m], targets: [{provider: p, model: x}]}}\n",
        &["route_plans.r.targets[0].provider"],
    );
    assert!(
        message(&plan("models: [m], targets: []")).contains("a route plan needs 1 to 16 targets")
    );
    check(
        &plan("models: [m], targets: [{provider: p, model: x}, {provider: p, model: x}]"),
        &["route_plans.r.targets[1]"],
    );
    assert!(
        message(&plan("models: [m], targets: [{provider: q, model: x}]")).contains("(defined: p)")
    );
}

#[test]
fn retries_timeouts_and_breakers_are_checked() {
    let full = format!(
        "models: [m], strategy: weighted, {TARGET}, retry: {{max_attempts: 3, backoff_ms: 100, max_backoff_ms: 2000, \
         on: [rate_limited, server_error, timeout, connect_error]}}, timeouts: {{connect_ms: 2000, first_byte_ms: 30000, \
         total_ms: 120000, stream_idle_ms: 30000}}, circuit_breaker: {{failure_ratio: 0.5, min_requests: 20, window_s: 30, open_s: 30}}"
    );
    check(&plan(&full), &[]);
    check(
        &plan(&format!(
            "models: [m], {TARGET}, retry: {{max_attempts: 0, on: [teapot], backoff_ms: 500, max_backoff_ms: 100}}"
        )),
        &[
            "route_plans.r.retry.max_attempts",
            "route_plans.r.retry.max_backoff_ms",
            "route_plans.r.retry.on[0]",
        ],
    );
    check(
        &plan(&format!(
            "models: [m], {TARGET}, timeouts: {{first_byte_ms: 5000, total_ms: 1000, connect_ms: 0}}"
        )),
        &[
            "route_plans.r.timeouts.connect_ms",
            "route_plans.r.timeouts.first_byte_ms",
        ],
    );
    check(
        &plan(&format!(
            "models: [m], {TARGET}, circuit_breaker: {{failure_ratio: 1.5, open_s: 0}}"
        )),
        &[
            "route_plans.r.circuit_breaker.failure_ratio",
            "route_plans.r.circuit_breaker.open_s",
        ],
    );
}

#[test]
fn a_model_belongs_to_one_route_plan() {
    let doc = "providers: {p: {kind: mock}}\nroute_plans:\n  a: {models: [m, n], targets: [{provider: p, model: x}]}\n  b: {models: [o, m], targets: [{provider: p, model: x}]}\n";
    check(doc, &["route_plans.b.models[1]"]);
    assert!(message(doc).contains("model \"m\" is served by both route plans a and b"));
}

#[test]
fn every_problem_is_reported_together() {
    let doc = r#"
providers:
  Main: {kind: mock}
  openai: {kind: openai, base_url: 'http://127.0.0.1/v1?x=1', credential: 'secret:nope', headers: {Authorization: x}}
  weird: {kind: weird}
route_plans:
  chat: {models: [a, ''], strategy: weighted, targets: [{provider: ghost, model: x, weight: 0}, {provider: openai, model: y}]}
  more: {models: [a], targets: [{provider: openai, model: ''}]}
"#;
    assert_eq!(
        paths_in(doc, true),
        [
            "providers.Main",
            "providers.openai.base_url",
            "providers.openai.base_url",
            "providers.openai.base_url",
            "providers.openai.credential",
            "providers.openai.headers.Authorization",
            "providers.weird.kind",
            "route_plans.chat.models[1]",
            "route_plans.chat.targets[0].provider",
            "route_plans.chat.targets[0].weight",
            "route_plans.more.models[0]",
            "route_plans.more.targets[0].model",
        ]
    );
    let text = compile(doc, &test_context(true)).unwrap_err().to_string();
    assert_eq!(text.lines().count(), 12, "{text}");
}

#[test]
fn warnings_flag_unused_providers() {
    let doc = "providers: {p: {kind: mock}, spare: {kind: mock}}\nroute_plans: {r: {models: [m], targets: [{provider: p, model: x}]}}\n";
    let (_, warnings) = compile(doc, &test_context(false)).unwrap();
    assert_eq!(
        warnings,
        [ConfigWarning::new(
            "providers.spare",
            "no route plan uses this provider"
        )]
    );
}

#[test]
fn raw_documents_round_trip_through_json() {
    let raw = parse_document(&prov(
        "base_url: 'https://x.example', headers: {X-A: b}, options: {k: [1, {z: null}]}",
    ))
    .unwrap();
    let json = serde_json::to_string(&raw).unwrap();
    let back: RawEnvDocument = serde_json::from_str(&json).unwrap();
    assert_eq!(raw, back);
    assert!(compile_raw(&back, &test_context(false)).is_ok());
}

/// A document with a mock provider serving model `x`, and `prices` as given.
fn priced(prices: &str) -> String {
    format!(
        "providers: {{p: {{kind: mock}}}}\n\
         route_plans: {{r: {{models: [m], targets: [{{provider: p, model: x}}]}}}}\n\
         prices:\n{prices}"
    )
}

#[test]
fn prices_are_read_exactly_from_numbers_and_strings() {
    let doc = priced(
        "  x: { input_per_mtok: 0.15, output_per_mtok: \"0.60\" }\n  \
         gpt-4.1-2025-04-14: { input_per_mtok: 2, output_per_mtok: 8.000000 }\n  \
         z: { input_per_mtok: 0.000001, output_per_mtok: 10000 }\n",
    );
    let (config, warnings) = compile(&doc, &test_context(false)).unwrap();
    assert_eq!(config.price("x"), Some(Price::new(150_000, 600_000)));
    assert_eq!(
        config.price("gpt-4.1-2025-04-14"),
        Some(Price::new(2_000_000, 8_000_000))
    );
    assert_eq!(config.price("z"), Some(Price::new(1, 10_000_000_000)));
    assert_eq!(config.price("unlisted"), None);
    // Exact names only: no prefix matching for environment prices.
    assert_eq!(config.price("gpt-4.1"), None);
    assert_eq!(config.prices().len(), 3);
    // Prices for models no target uses are allowed, with a warning.
    let paths: Vec<&str> = warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(paths, ["prices.gpt-4.1-2025-04-14", "prices.z"]);
}

#[test]
fn bad_prices_are_errors_with_field_paths() {
    let doc = priced(
        "  a: { input_per_mtok: -0.15, output_per_mtok: 0.1234567 }\n  \
         b: { input_per_mtok: 10000.01, output_per_mtok: 1e3 }\n  \
         c: { input_per_mtok: .inf, output_per_mtok: \"1,5\" }\n",
    );
    let errors = compile(&doc, &test_context(false)).unwrap_err();
    assert_eq!(
        errors.paths(),
        [
            "prices.a.input_per_mtok",
            "prices.a.output_per_mtok",
            "prices.b.input_per_mtok",
            "prices.b.output_per_mtok",
            "prices.c.input_per_mtok",
            "prices.c.output_per_mtok",
        ]
    );
    let text = errors.to_string();
    assert!(
        text.contains("prices.a.input_per_mtok: must not be negative"),
        "{text}"
    );
    assert!(text.contains("more than 6 decimal places"), "{text}");
    assert!(text.contains("must be at most 10000 USD"), "{text}");
}

#[test]
fn price_entries_refuse_unknown_and_missing_fields() {
    check(
        &priced("  x: { input_per_mtok: 1, output_per_mtok: 1, cached_per_mtok: 1 }\n"),
        &["prices.x.cached_per_mtok"],
    );
    let missing = paths_in(&priced("  x: { input_per_mtok: 1 }\n"), false);
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(missing[0].starts_with("prices.x"), "{missing:?}");
    check(
        &priced("  x: { input_per_mtok: null, output_per_mtok: 1 }\n"),
        &["prices.x.input_per_mtok"],
    );
    check(
        &priced("  x: { input_per_mtok: [1], output_per_mtok: 1 }\n"),
        &["prices.x.input_per_mtok"],
    );
    // An empty `prices:` is no prices.
    let (config, _) = compile(&priced(""), &test_context(false)).unwrap();
    assert!(config.prices().is_empty());
}

#[test]
fn priced_documents_round_trip_through_json() {
    let raw = parse_document(&priced(
        "  x: { input_per_mtok: 0.15, output_per_mtok: \"0.60\" }\n",
    ))
    .unwrap();
    assert_eq!(raw.prices["x"].input_per_mtok.0, "0.15");
    let json = serde_json::to_string(&raw).unwrap();
    assert!(json.contains(r#""input_per_mtok":"0.15""#), "{json}");
    let back: RawEnvDocument = serde_json::from_str(&json).unwrap();
    assert_eq!(raw, back);
    let (config, _) = compile_raw(&back, &test_context(false)).unwrap();
    assert_eq!(config.price("x"), Some(Price::new(150_000, 600_000)));
}

#[test]
fn policies_compile_with_the_document() {
    let doc = "policies:\n  environment:\n    allowed_models: [demo]\n    max_tokens: 0\n  app/checkout:\n    mode: shadow\n    budget: { usd_per_day: 5 }\n";
    check(doc, &["policies.environment.max_tokens"]);
    let doc = doc.replace("max_tokens: 0", "max_tokens: 100");
    let (config, _) = compile(&doc, &test_context(false)).unwrap();
    let set = config.policies().set();
    assert!(!set.is_empty());
    assert_eq!(
        set.applicable("checkout", "0123456789abcdef")
            .limits()
            .count(),
        1
    );
    // Equal documents give equal configs.
    let (again, _) = compile(&doc, &test_context(false)).unwrap();
    assert_eq!(config, again);
}

/// A document with one webhook destination `ops` and the given alert rules.
fn alerts_doc(rules: &str) -> String {
    format!(
        "alert_destinations:\n  ops: {{ kind: webhook, url: 'https://hooks.example.com/s', secret: 'secret:key' }}\n  team: {{ kind: slack, url: 'secret:openai-slack' }}\nalerts:\n{rules}"
    )
}

#[test]
fn alert_rules_compile() {
    let doc = alerts_doc(
        "  - { name: provider-failures, when: { signal: provider_error_rate, above: 0.05, for_s: 60, provider: p }, notify: [webhook:ops, team] }\n  - { name: slow, when: { signal: latency_p95, above: 2000 }, notify: [ops] }\n  - { name: budget, when: { signal: budget_threshold }, notify: [slack:team] }\n",
    );
    let (config, warnings) = compile(&doc, &test_context(false)).unwrap();
    let alerts = config.alerts();
    assert_eq!(alerts.rules.len(), 3);
    let rule = &alerts.rules[0];
    assert_eq!(rule.signal, crate::Signal::ProviderErrorRate);
    assert_eq!(rule.for_s, 60);
    assert_eq!(rule.provider.as_ref().map(Name::as_str), Some("p"));
    assert_eq!(rule.notify.len(), 2);
    assert_eq!(alerts.rules[1].for_s, 300);
    assert_eq!(alerts.rules[1].min_requests, 10);
    assert!(alerts.rules[2].above.abs() < f64::EPSILON);
    let team = alerts
        .destinations
        .values()
        .find(|d| d.name.as_str() == "team")
        .unwrap();
    assert!(matches!(team.url, crate::DestinationUrl::Secret(_)));
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn alert_problems_are_reported_with_paths() {
    let rule = |when: &str, notify: &str| {
        alerts_doc(&format!(
            "  - {{ name: r, when: {{ {when} }}, notify: [{notify}] }}\n"
        ))
    };
    check(
        &rule("signal: nope, above: 1", "ops"),
        &["alerts[0].when.signal"],
    );
    check(
        &rule("signal: error_rate", "ops"),
        &["alerts[0].when.above"],
    );
    check(
        &rule("signal: error_rate, above: 5", "ops"),
        &["alerts[0].when.above"],
    );
    check(
        &rule("signal: error_rate, above: -1", "ops"),
        &["alerts[0].when.above"],
    );
    check(
        &rule("signal: budget_threshold, above: 2.5", "ops"),
        &["alerts[0].when.above"],
    );
    check(&rule("signal: budget_threshold, above: 1.5", "ops"), &[]);
    check(
        &rule("signal: error_rate, above: 0.1, for_s: 0", "ops"),
        &["alerts[0].when.for_s"],
    );
    check(
        &rule("signal: error_rate, above: 0.1, provider: p", "ops"),
        &["alerts[0].when.provider"],
    );
    check(
        &rule("signal: breaker_open, min_requests: 5", "ops"),
        &["alerts[0].when.min_requests"],
    );
    check(
        &rule("signal: error_rate, above: 0.1", "ghost"),
        &["alerts[0].notify[0]"],
    );
    check(
        &rule("signal: error_rate, above: 0.1", "slack:ops"),
        &["alerts[0].notify[0]"],
    );
    check(
        &rule("signal: error_rate, above: 0.1", "ops, ops"),
        &["alerts[0].notify[1]"],
    );
    check(
        &rule("signal: error_rate, above: 0.1", ""),
        &["alerts[0].notify"],
    );
    check(
        &alerts_doc(
            "  - { name: a, when: { signal: breaker_open }, notify: [ops] }\n  - { name: a, when: { signal: breaker_open }, notify: [ops] }\n",
        ),
        &["alerts[1].name"],
    );
    check(
        &alerts_doc("  - { name: Bad_Name, when: { signal: breaker_open }, notify: [ops] }\n"),
        &["alerts[0].name"],
    );
    check(
        &alerts_doc("  - { name: a, when: { signal: breaker_open, bogus: 1 }, notify: [ops] }\n"),
        &["alerts[0].when.bogus"],
    );
}

#[test]
fn alert_destinations_are_checked_like_endpoints() {
    let dest = |fields: &str| {
        format!(
            "alert_destinations:\n  d: {{ {fields} }}\nalerts:\n  - {{ name: r, when: {{ signal: breaker_open }}, notify: [d] }}\n"
        )
    };
    check(
        &dest("kind: pager, url: 'https://x.example.com'"),
        &["alert_destinations.d.kind"],
    );
    check(
        &dest("kind: webhook, url: 'http://127.0.0.1:9/x'"),
        &["alert_destinations.d.url"],
    );
    check(
        &dest("kind: webhook, url: 'http://127.0.0.1:9/x', allow_private_network: true"),
        &[],
    );
    check(
        &dest("kind: webhook, url: 'http://169.254.169.254/'"),
        &["alert_destinations.d.url"],
    );
    check(
        &dest("kind: webhook, url: 'https://u:p@x.example.com/'"),
        &["alert_destinations.d.url"],
    );
    check(
        &dest("kind: webhook, url: 'ftp://x.example.com/'"),
        &["alert_destinations.d.url"],
    );
    check(
        &dest("kind: webhook, url: 'secret:missing'"),
        &["alert_destinations.d.url"],
    );
    check(
        &dest("kind: webhook, url: 'https://x.example.com', secret: 'secret:missing'"),
        &["alert_destinations.d.secret"],
    );
    check(
        &dest("kind: slack, url: 'secret:key', secret: 'secret:key'"),
        &["alert_destinations.d.secret"],
    );
    check_protected(
        &dest("kind: webhook, url: 'http://x.example.com/'"),
        &["alert_destinations.d.url"],
    );
    check_protected(
        &dest("kind: webhook, url: 'http://x.example.com/', allow_http: true"),
        &[],
    );
    // A URL that fails never appears in the message: it may carry a token.
    let text = message(&dest(
        "kind: slack, url: 'https://hooks.slack.com/services/T0/B0/TOKEN#frag'",
    ));
    assert!(text.contains("alert_destinations.d.url"), "{text}");
    assert!(!text.contains("TOKEN"), "{text}");
}

#[test]
fn unused_destinations_are_warnings() {
    let doc = "alert_destinations:\n  d: { kind: webhook, url: 'https://x.example.com' }\n";
    let (_, warnings) = compile(doc, &test_context(false)).unwrap();
    let paths: Vec<&str> = warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        paths,
        ["alert_destinations.d.secret", "alert_destinations.d"]
    );
}

#[test]
fn staged_rollouts_are_checked_with_their_paths() {
    let canary = |fields: &str| plan(&format!("models: [m], {TARGET}, canary: {{{fields}}}"));
    check(
        &canary("share: 0.1, applications: [checkout], targets: [{provider: p, model: y}]"),
        &[],
    );
    check(
        &canary("share: 1.5, applications: [Not A Name], targets: [{provider: q, model: y}]"),
        &[
            "route_plans.r.canary.targets[0].provider",
            "route_plans.r.canary.share",
            "route_plans.r.canary.applications[0]",
        ],
    );
    check(
        &canary("share: 0.5, targets: []"),
        &["route_plans.r.canary.targets"],
    );
    check(&canary("share: 0.5"), &["route_plans.r.canary"]);
    assert!(message(&canary("share: 0.5")).contains("targets"));

    let (config, _) = compile(
        &canary("share: 0.25, applications: [checkout], strategy: weighted, targets: [{provider: p, model: y}]"),
        &test_context(false),
    )
    .unwrap();
    let stable = config.route_plans().values().next().unwrap();
    let compiled = stable.canary.as_ref().unwrap();
    assert_eq!(compiled.share_permille, 250);
    assert_eq!(compiled.applications[0].as_str(), "checkout");
    assert_eq!(compiled.strategy, Strategy::Weighted);
    assert_eq!(compiled.targets[0].model, "y");
    assert_eq!(
        compiled.retry, stable.retry,
        "what the canary leaves out is the plan's"
    );

    let open = |apps: &str| {
        format!(
            "{}rollout: {{open_to: [{apps}]}}\n",
            plan(&format!("models: [m], {TARGET}"))
        )
    };
    check(&open("checkout, search"), &[]);
    check(&open("checkout, checkout"), &["rollout.open_to[1]"]);
    check(&open("Bad Name"), &["rollout.open_to[0]"]);
    let (config, _) = compile(&open("checkout"), &test_context(false)).unwrap();
    assert_eq!(
        config.rollout().open_to.as_ref().unwrap()[0].as_str(),
        "checkout"
    );
}
