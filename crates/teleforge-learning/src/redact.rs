//! Secret redaction, applied to every text before it is stored or sent to an LLM.
//!
//! # Why
//!
//! Everything this crate captures (code snippets, validator output, prompts) ends up in the
//! learning store and, later, in prompts sent to a model provider. The store is shared and its
//! content is treated as untrusted, and a provider is a third party. A secret that a user pasted
//! into code (an API key, a password, a private key) must therefore never reach either. Every text
//! goes through [`redact`] first, which replaces each secret with a visible marker
//! `[REDACTED:<kind>]`: the surrounding code stays readable (and a model can still see that a
//! value was there), but the secret itself is gone. Redaction is deliberately biased towards
//! over-redacting: hiding a harmless value costs a little context, leaking a secret cannot be
//! undone.
//!
//! # Kinds
//!
//! Provider formats, recognised by their shape wherever they appear:
//!
//! | kind              | what                                                                  |
//! |-------------------|-----------------------------------------------------------------------|
//! | `private-key`     | PEM `-----BEGIN … PRIVATE KEY-----` … `-----END … PRIVATE KEY-----`   |
//! |                   | (any lines in between; a truncated block without END is redacted too) |
//! | `anthropic-key`   | `sk-ant-…` (wins over `openai-key`)                                   |
//! | `openai-key`      | `sk-…`, `sk-proj-…`, `sk-svcacct-…`, `sk-admin-…` (random-looking)   |
//! | `github-token`    | `ghp_` `gho_` `ghu_` `ghs_` `ghr_` + 36 alnum, `github_pat_…`         |
//! | `gitlab-token`    | `glpat-…`                                                             |
//! | `slack-token`     | `xoxb-` `xoxp-` `xoxa-` `xoxr-` `xoxs-` tokens, `hooks.slack.com` URLs |
//! | `jwt`             | `eyJ….eyJ….<signature>`                                               |
//! | `aws-access-key`  | `AKIA`/`ASIA` + 16 upper-case alphanumerics                           |
//! | `aws-secret-key`  | 40-char value of `aws_secret_access_key`, `SecretAccessKey`, …        |
//! | `url-credentials` | the password in `scheme://user:password@host` (user and host stay)    |
//! | `token`           | the credential in `Authorization: Bearer <credential>` (also `Basic`, `Token`) |
//! | `stripe-key`      | `sk_live_`, `rk_live_` (and `_test_`) + a body mixing letters and digits |
//! | `google-api-key`  | `AIza` + 35 characters                                                |
//! | `huggingface-token` | `hf_` + 34–40 letters of both cases (digits allowed)                |
//! | `npm-token`       | `npm_` + 36 characters mixing letters and digits                      |
//! | `pypi-token`      | `pypi-AgE…` (a PyPI macaroon)                                         |
//! | `sendgrid-key`    | `SG.<22>.<43>`                                                        |
//! | `sentry-dsn`      | the key(s) in `https://<32 hex>[:<32 hex>]@host/…/<project id>`       |
//!
//! Generic assignments (only the VALUE is replaced; key, operator and quotes stay, so
//! `password = "hunter2"` becomes `password = "[REDACTED:password]"`):
//!
//! | kind       | key ends with (case-insensitive, `_` `-` `.` separators or camelCase) |
//! |------------|-----------------------------------------------------------------------|
//! | `password` | `password`, `passwd`, `pwd`                                           |
//! | `secret`   | `secret`, `secret_key` (so also `client_secret`)                      |
//! | `token`    | `token` (so also `auth_token`, `access_token`, `GITHUB_TOKEN`)        |
//! | `api-key`  | `api_key`, `apikey`, `access_key`                                     |
//! | `private-key` | `private_key`, `privateKey` (a PEM value is caught whole by the PEM rule) |
//!
//! When a generic value is itself a recognised provider secret, the provider kind wins
//! (`token = "[REDACTED:github-token]"`).
//!
//! # Heuristics of the generic rule
//!
//! * **Key**: an identifier (letters, digits, `_`, `.`, `-`) that *ends* with one of the words
//!   above, optionally followed by a closing quote and `]` (`"password":`, `'token':`,
//!   `params["token"] =`). So `tokenizer`, `passwordField`, `max_tokens` or `validatePassword(`
//!   are not keys. The shell variables `PWD`/`OLDPWD` (working directory) are excluded.
//! * **Operator**: `=`, `:=`, `:`, `=>`, and the annotated forms `token: str = …` /
//!   `let password: &str = …`. Never `==`, `!=`, `<=`. Key, operator and value are on one line.
//! * **Quoted value** (`"…"`, `'…'`, `` `…` ``, with Python prefixes `b` `r` `f`): redacted unless
//!   empty, whitespace, a placeholder (`null`, `none`, `true`, `xxx`, `****`, `<your-token>`,
//!   `your_api_key_here`), or a reference/template (`${VAR}`, `$VAR`, `{{ .Values.x }}`,
//!   `%s`, `{}`).
//! * **Unquoted value** (up to whitespace, a quote, `,` or `;`, or `&` in a URL query; unbalanced
//!   trailing `)]}` and a trailing `:`/`.` are dropped). In code, an unquoted value is usually an
//!   expression, so it is NOT redacted when: it is shorter than 3 characters or a number of fewer than 6 digits; it starts with
//!   `$ % { < & * # ! @ : | > ~ ( [ \` (variables, templates, SQL/YAML syntax, pointers); it
//!   contains `(`, `[`, `{`, `::` or `->` (calls, indexing, paths: `os.environ["X"]`,
//!   `getToken()`); it is a dotted path of letters (`process.env.SECRET`, `self.password`); it is
//!   a keyword/placeholder (`None`, `null`, `nil`, …) or a type (`str`, `string`, `String`,
//!   `Option<String>`, `SecretStr`); or it is a plain identifier without digits
//!   (`token = auth_token`) — except in *config context*, where literals are unquoted:
//!   `KEY=value` with no spaces at the start of a line (`.env`, `export`, `.properties`), after
//!   `-`/`--` (CLI flags) or with an upper-case environment-variable name anywhere
//!   (`docker run -e DB_PASSWORD=x`), and `key: value` at the start of a line with nothing after
//!   the value but a comment (YAML). There a plain identifier is redacted unless it contains
//!   `pass`/`pwd`/`secret`/`token`/`key`/`cred` (`password: db_password` is a reference).
//!   Identifiers with digits (`password = hunter2`) are always redacted: an INI-style value
//!   looks exactly like a Python variable, and `hunter2` is more likely a secret than a name.
//!   Known gap, accepted: an INI value of letters only with spaces around `=`
//!   (`password = changeme`) reads as a variable reference and is kept.
//!
//! # Markers and idempotence
//!
//! Anything overlapping an existing `[REDACTED:…]` marker is left alone, so markers are never
//! re-redacted and `redact(&redact(x)) == redact(x)`.
//!
//! # Cost
//!
//! Redaction runs on every captured snippet, and almost none contains a secret. All patterns
//! are compiled once into a [`RegexSet`]; one pass of the set over the text decides whether any
//! rule can apply at all. When none can (the common case), [`redact`] returns
//! [`Cow::Borrowed`] without allocating and no capture group is ever computed. Only the rules
//! the set reported are then run individually, with captures.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use regex::{Captures, Regex, RegexSet};

/// Replaces every secret in `input` with a visible marker `[REDACTED:<kind>]`.
/// Returns Cow::Borrowed when nothing was found (the common case must not allocate).
pub fn redact(input: &str) -> Cow<'_, str> {
    let found = find_secrets(input);
    if found.is_empty() {
        return Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len() + 16 * found.len());
    let mut last = 0;
    for f in &found {
        out.push_str(&input[last..f.span.start]);
        out.push_str("[REDACTED:");
        out.push_str(f.kind);
        out.push(']');
        last = f.span.end;
    }
    out.push_str(&input[last..]);
    Cow::Owned(out)
}

/// The kinds of secret found in `input` (for tests and reporting), in order of appearance.
pub fn secret_kinds(input: &str) -> Vec<&'static str> {
    find_secrets(input).into_iter().map(|f| f.kind).collect()
}

/// One secret to replace: the byte range of the secret itself (never the key) and its kind.
struct Found {
    span: Range<usize>,
    kind: &'static str,
}

/// Decides whether a match is a secret; returns the range to replace and the kind.
type Accept = fn(&Captures<'_>, &str, &'static str) -> Option<(Range<usize>, &'static str)>;

struct Rule {
    /// Kind reported by the rule (the generic rule derives its kind from the key instead).
    kind: &'static str,
    pattern: &'static str,
    accept: Accept,
}

// Conventions in the patterns: `(?-u:\b)` is an ASCII word boundary (a Unicode `\b` would make
// the lazy DFA give up on non-ASCII text and fall back to a slower engine); group `s` is the
// secret; group `key` (generic rule) is where the search resumes after a rejected match.
/// The rules, highest priority first: when two matches overlap, the earlier rule wins.
static RULES: &[Rule] = &[
    Rule {
        kind: "private-key",
        pattern: r"-----BEGIN[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----(?:(?s:.*?)-----END[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----|(?:(?:\r?\n|\\n|[ \t])*(?:[A-Za-z0-9+/=]{16,}|[A-Za-z][A-Za-z-]*:[^\r\n]*))*)",
        accept: whole,
    },
    Rule { kind: "anthropic-key", pattern: r"(?-u:\b)sk-ant-(?P<b>[A-Za-z0-9_-]{20,})", accept: anthropic },
    Rule {
        kind: "openai-key",
        pattern: r"(?-u:\b)sk-(?:proj-|svcacct-|admin-)?(?P<b>[A-Za-z0-9_-]{20,})",
        accept: openai,
    },
    Rule {
        kind: "github-token",
        pattern: r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?-u:\b)",
        accept: whole,
    },
    Rule { kind: "gitlab-token", pattern: r"(?-u:\b)glpat-[A-Za-z0-9_-]{20,}", accept: whole },
    Rule {
        kind: "stripe-key",
        pattern: r"(?-u:\b)[sr]k_(?:live|test)_(?P<b>[A-Za-z0-9]{20,247})(?-u:\b)",
        accept: mixed_body,
    },
    Rule { kind: "google-api-key", pattern: r"(?-u:\b)AIza[0-9A-Za-z_-]{35}(?-u:\b)", accept: whole },
    Rule {
        kind: "huggingface-token",
        pattern: r"(?-u:\b)hf_(?P<b>[A-Za-z0-9]{34,40})(?-u:\b)",
        accept: mixed_case_body,
    },
    Rule { kind: "npm-token", pattern: r"(?-u:\b)npm_(?P<b>[A-Za-z0-9]{36})(?-u:\b)", accept: mixed_body },
    Rule { kind: "pypi-token", pattern: r"(?-u:\b)pypi-AgE[A-Za-z0-9_-]{50,}", accept: whole },
    Rule { kind: "sendgrid-key", pattern: r"(?-u:\b)SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?-u:\b)", accept: whole },
    Rule {
        kind: "sentry-dsn",
        pattern: r"(?-u:\b)https?://(?P<s>[0-9a-f]{32}(?::[0-9a-f]{32})?)@[A-Za-z0-9.-]+(?::[0-9]+)?/(?:[A-Za-z0-9._-]+/)*[0-9]+",
        accept: whole,
    },
    Rule {
        kind: "slack-token",
        pattern: r"(?-u:\b)xox[bpars]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{8,}",
        accept: whole,
    },
    Rule {
        kind: "jwt",
        pattern: r"(?-u:\b)eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        accept: whole,
    },
    Rule { kind: "aws-access-key", pattern: r"(?-u:\b)(?:AKIA|ASIA)[A-Z0-9]{16}(?-u:\b)", accept: whole },
    Rule {
        kind: "aws-secret-key",
        pattern: r#"(?-u:\b)(?i:(?:aws[_.-]?)?secret[_.-]?access[_.-]?key|aws[_.-]?secret[_.-]?key)["'`]?\]?[ \t]*(?::=|=>|=|:)[ \t]*["'`]?(?P<s>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        accept: whole,
    },
    Rule {
        kind: "url-credentials",
        pattern: r#"(?-u:\b)[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@"'<>\[\]]*:(?P<s>[^\s/?#@"'<>]+)@"#,
        accept: url_credentials,
    },
    Rule {
        kind: "token",
        pattern: r#"(?-u:\b)(?i:authorization)["'`]?[ \t]*[:=][ \t]*["'`]?(?i:bearer|basic|token)[ \t]+(?P<s>[A-Za-z0-9._~+/=-]{8,})"#,
        accept: whole,
    },
    Rule {
        kind: "generic",
        pattern: r#"(?x)
            (?-u:\b)
            (?P<key>[A-Za-z0-9_.-]*?(?i:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key))
            ["'`]?\]?
            (?:
                [\ \t]*:[\ \t]*(?P<ann>[A-Za-z_&*\[][A-Za-z0-9_.&*'<>\[\]|,\ ]{0,60}?)[\ \t]+(?P<aop>=)
              | [\ \t]*(?P<op>:=|=>|=|:)
            )
            [\ \t]*
            (?:
                [bBrRuUfF]{0,2}"(?P<dq>(?:[^"\\\r\n]|\\.)*)"
              | [bBrRuUfF]{0,2}'(?P<sq>(?:[^'\\\r\n]|\\.)*)'
              | `(?P<bq>[^`\r\n]*)`
              | (?P<bare>[^\s"'`,;=][^\s"'`,;]*)
            )
        "#,
        accept: generic,
    },
];

static SET: LazyLock<RegexSet> =
    LazyLock::new(|| RegexSet::new(RULES.iter().map(|r| r.pattern)).expect("redaction patterns compile"));

static REGEXES: LazyLock<Vec<Regex>> =
    LazyLock::new(|| RULES.iter().map(|r| Regex::new(r.pattern).expect("redaction patterns compile")).collect());

static MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[REDACTED:[a-z0-9-]+\]").expect("marker pattern compiles"));

fn find_secrets(input: &str) -> Vec<Found> {
    // Fast path: one pass of the set. Text without anything secret-shaped stops here.
    let hits = SET.matches(input);
    if !hits.matched_any() {
        return Vec::new();
    }
    let markers: Vec<Range<usize>> = MARKER.find_iter(input).map(|m| m.range()).collect();
    let overlaps = |a: &Range<usize>, b: &Range<usize>| a.start < b.end && b.start < a.end;
    let mut found: Vec<Found> = Vec::new();
    for idx in hits.iter() {
        let (rule, re) = (&RULES[idx], &REGEXES[idx]);
        let mut pos = 0;
        while pos < input.len() {
            let Some(c) = re.captures_at(input, pos) else {
                break;
            };
            let whole = c.get(0).expect("group 0 always participates");
            let key = c.name("key").map(|k| k.range());
            let in_marker = key.as_ref().is_some_and(|k| markers.iter().any(|m| overlaps(k, m)));
            let verdict = if in_marker { None } else { (rule.accept)(&c, input, rule.kind) };
            let resume = match verdict {
                Some((span, kind)) => {
                    let clash = span.is_empty()
                        || markers.iter().any(|m| overlaps(&span, m))
                        || found.iter().any(|f| overlaps(&span, &f.span));
                    if !clash {
                        found.push(Found { span, kind });
                    }
                    whole.end()
                }
                // A rejected key/value pair: look for another key inside the rejected value.
                None => key.map_or(whole.end(), |k| k.end),
            };
            pos = if resume > pos { resume } else { next_char(input, pos) };
        }
    }
    found.sort_by_key(|f| f.span.start);
    found
}

fn next_char(s: &str, pos: usize) -> usize {
    s[pos..].chars().next().map_or(s.len(), |c| pos + c.len_utf8())
}

/// The secret is group `s` if the pattern has one, else the whole match.
fn whole(c: &Captures<'_>, _: &str, kind: &'static str) -> Option<(Range<usize>, &'static str)> {
    let m = c.name("s").or_else(|| c.get(0))?;
    Some((m.range(), kind))
}

/// Keys whose prefix is also an ordinary word (`sk_live_`, `npm_`): the body of a real key mixes
/// letters and digits, so `npm_install_dependencies_for_the_workspace` is not one.
fn mixed_body(c: &Captures<'_>, input: &str, kind: &'static str) -> Option<(Range<usize>, &'static str)> {
    let body = c.name("b")?.as_str();
    let looks_random = body.bytes().any(|b| b.is_ascii_digit()) && body.bytes().any(|b| b.is_ascii_alphabetic());
    looks_random.then(|| whole(c, input, kind)).flatten()
}

/// Hugging Face tokens are letters of both cases (often with digits); a long lower-case
/// identifier after `hf_` is a name.
fn mixed_case_body(c: &Captures<'_>, input: &str, kind: &'static str) -> Option<(Range<usize>, &'static str)> {
    let body = c.name("b")?.as_str();
    let looks_random = body.bytes().any(|b| b.is_ascii_uppercase()) && body.bytes().any(|b| b.is_ascii_lowercase());
    looks_random.then(|| whole(c, input, kind)).flatten()
}

fn anthropic(c: &Captures<'_>, input: &str, kind: &'static str) -> Option<(Range<usize>, &'static str)> {
    let body = c.name("b")?.as_str();
    let looks_random = body.bytes().any(|b| b.is_ascii_digit()) && body.bytes().any(|b| b.is_ascii_alphabetic());
    looks_random.then(|| whole(c, input, kind)).flatten()
}

/// `sk-` is also the start of ordinary kebab-case words (`sk-learn-…`): the body of a real key
/// mixes digits, upper and lower case.
fn openai(c: &Captures<'_>, input: &str, kind: &'static str) -> Option<(Range<usize>, &'static str)> {
    let body = c.name("b")?.as_str();
    let looks_random = !body.starts_with("ant-")
        && body.bytes().any(|b| b.is_ascii_digit())
        && body.bytes().any(|b| b.is_ascii_uppercase())
        && body.bytes().any(|b| b.is_ascii_lowercase());
    looks_random.then(|| whole(c, input, kind)).flatten()
}

fn url_credentials(c: &Captures<'_>, _: &str, kind: &'static str) -> Option<(Range<usize>, &'static str)> {
    let pass = c.name("s")?;
    let v = pass.as_str();
    let reference = v.starts_with(['$', '%', '{', '<', '*']) || is_placeholder(v);
    (!reference).then(|| (pass.range(), kind))
}

/// Kind of a generic key, from the sensitive word it ends with.
fn generic_kind(key: &str) -> Option<&'static str> {
    if key == "PWD" || key == "OLDPWD" {
        return None; // the shell's working directory
    }
    let k: String = key.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    let kind = if k.ends_with("privatekey") {
        "private-key"
    } else if k.ends_with("apikey") || k.ends_with("accesskey") {
        "api-key"
    } else if k.ends_with("secretkey") || k.ends_with("secret") {
        "secret"
    } else if k.ends_with("token") {
        "token"
    } else {
        "password" // the pattern guarantees password, passwd or pwd
    };
    Some(kind)
}

fn generic(c: &Captures<'_>, input: &str, _: &'static str) -> Option<(Range<usize>, &'static str)> {
    let key = c.name("key")?;
    let kind = generic_kind(key.as_str())?;
    if let Some(v) = c.name("dq").or_else(|| c.name("sq")).or_else(|| c.name("bq")) {
        let s = v.as_str().trim();
        let reference = s.is_empty()
            || is_placeholder(s)
            || is_variable_reference(s)
            || s.contains("${")
            || s.contains("{{")
            || (s.starts_with('{') && s.ends_with('}'))
            || is_format_verb(s);
        return (!reference).then(|| (v.range(), kind));
    }

    let raw = c.name("bare")?;
    let mut v = raw.as_str();
    if key.start() > 0 && matches!(input.as_bytes()[key.start() - 1], b'?' | b'&') {
        v = v.split('&').next().unwrap_or(v); // a URL query parameter ends at the next `&`
    }
    let v = trim_unbalanced_closers(v);
    let span = raw.start()..raw.start() + v.len();
    let expression = v.len() < 3
        || (v.len() < 6 && v.bytes().all(|b| b.is_ascii_digit()))
        || v.starts_with(['$', '%', '{', '<', '&', '*', '#', '!', '@', ':', '|', '>', '~', '(', '[', '\\'])
        || v.contains(['(', '[', '{'])
        || v.contains("::")
        || v.contains("->")
        || is_dotted_path(v)
        || is_placeholder(v)
        || is_type(v);
    if expression {
        return None;
    }
    let is_ident = v.starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_')
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if is_ident && !v.bytes().any(|b| b.is_ascii_digit()) {
        // A name. In code it is a variable; in config it is a literal unless it is obviously
        // named after the secret (`password: db_password`).
        if !config_context(c, input, key.as_str(), key.start(), span.end) {
            return None;
        }
        let lower = v.to_ascii_lowercase();
        if ["pass", "pwd", "secret", "token", "key", "cred"].iter().any(|w| lower.contains(w)) {
            return None;
        }
    }
    Some((span, kind))
}

/// Whether an unquoted value is a literal by the syntax of the line: `.env`/`export`/properties
/// (`KEY=value`, no spaces, key first on the line), CLI flags (`--password=value`), environment
/// variables anywhere (`docker run -e DB_PASSWORD=value`), or YAML (`key: value`, key first on
/// the line, nothing but a comment after the value).
fn config_context(c: &Captures<'_>, input: &str, key: &str, key_start: usize, value_end: usize) -> bool {
    // Look at most LINE_WINDOW bytes either way, so that a huge single-line input (minified
    // code) cannot make this quadratic. A longer line counts as "not at the start of a line".
    const LINE_WINDOW: usize = 256;
    let from = char_floor(input, key_start.saturating_sub(LINE_WINDOW));
    let (before, key_leads_line) = match input[from..key_start].rfind('\n') {
        Some(i) => (&input[from + i + 1..key_start], true),
        None => (&input[from..key_start], from == 0),
    };
    let lead = before.trim();
    let key_leads_line =
        key_leads_line && (lead.is_empty() || matches!(lead, "-" | "export" | "set" | "ENV" | "ARG" | "$env:"));
    let to = char_floor(input, (value_end + LINE_WINDOW).min(input.len()));
    let rest = match input[value_end..to].find('\n') {
        Some(i) => input[value_end..value_end + i].trim(),
        None if to == input.len() => input[value_end..].trim(),
        None => "…", // the line goes on
    };
    let Some(op) = c.name("op") else { return false }; // annotated `name: T = value` is code
    match op.as_str() {
        "=" => {
            let key_end = key_start + key.len();
            let tight =
                !input[key_end..op.start()].contains([' ', '\t']) && !input[op.end()..].starts_with([' ', '\t']);
            let env_name = key.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            tight && (key_leads_line || before.ends_with('-') || env_name)
        }
        ":" => key_leads_line && (rest.is_empty() || rest.starts_with('#')),
        _ => false,
    }
}

/// The largest char boundary of `s` at or below `i`.
fn char_floor(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Drops closing brackets that close something opened before the value (`f(password=pw)`),
/// and a trailing `:` or `.` (`def f(token=None):`, end of a sentence).
fn trim_unbalanced_closers(mut v: &str) -> &str {
    while let Some(last) = v.chars().last() {
        let open = match last {
            ')' => '(',
            ']' => '[',
            '}' => '{',
            ':' | '.' => {
                v = &v[..v.len() - 1];
                continue;
            }
            _ => break,
        };
        if v.matches(last).count() <= v.matches(open).count() {
            break;
        }
        v = &v[..v.len() - 1];
    }
    v
}

/// `process.env.SECRET`, `self.password`, `cfg.Token`: member access, not a literal.
/// Segments with digits are not paths (`ya29.a0Af…` is a Google token).
fn is_dotted_path(v: &str) -> bool {
    let mut parts = v.split('.');
    let n = parts.clone().count();
    n >= 2 && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'$'))
}

/// Null-ish keywords, documentation placeholders, and values made of one repeated character.
fn is_placeholder(v: &str) -> bool {
    const WORDS: &[&str] = &[
        "none",
        "null",
        "nil",
        "undefined",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "n/a",
        "na",
        "tbd",
        "todo",
        "empty",
        "required",
        "optional",
        "redacted",
        "hidden",
        "masked",
        "secret",
        "string",
        "bearer",
        "basic",
        "example",
        "dummy",
        "placeholder",
    ];
    let lower = v.to_ascii_lowercase();
    let mut chars = v.chars();
    let first = chars.next();
    WORDS.contains(&lower.as_str())
        || first.is_some_and(|f| "*xX.-_#?•".contains(f) && chars.all(|c| c == f))
        || (v.starts_with('<') && v.ends_with('>'))
        || (v.starts_with("[REDACTED") && v.ends_with(']'))
        || ((lower.starts_with("your_") || lower.starts_with("your-") || lower.starts_with("your "))
            && !v.bytes().any(|b| b.is_ascii_digit()))
}

/// `$VAR`, `$(cmd)`, `${VAR}` (but not a bcrypt hash `$2b$12$…`, which is a literal).
fn is_variable_reference(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('$') else { return false };
    rest.starts_with(['(', '{'])
        || (rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'))
}

/// printf-style verbs and friends used where a value is interpolated (`"%s"`, `"%v"`).
fn is_format_verb(v: &str) -> bool {
    v.len() <= 4 && v.starts_with('%')
}

/// A type in an annotation or a field declaration: `token: str`, `password: String`.
fn is_type(v: &str) -> bool {
    const TYPES: &[&str] = &[
        "str",
        "string",
        "String",
        "int",
        "integer",
        "bool",
        "boolean",
        "bytes",
        "bytearray",
        "any",
        "Any",
        "object",
        "Object",
        "number",
        "unknown",
        "char",
        "float",
        "double",
        "u8",
        "i32",
        "i64",
        "u32",
        "u64",
        "usize",
        "Str",
        "SecretStr",
        "SecretString",
        "SecretBytes",
        "Secret",
        "Token",
        "Password",
        "Credentials",
        "Optional",
        "Option",
        "Vec",
        "Box",
        "Arc",
        "Rc",
        "Cow",
    ];
    if TYPES.contains(&v) {
        return true;
    }
    // Generic types: `Option<String>`, `Secret<str>`.
    v.starts_with(|c: char| c.is_ascii_alphabetic()) && v.contains('<') && v.ends_with('>')
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fake secrets only. Strings that would match a real provider's format are built with
    // concat!() so that no scanner sees a provider-shaped literal in this file.
    const AWS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
    const AWS_SECRET: &str = concat!("wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYEXAMPLEKEY");
    const GH_TOKEN: &str = concat!("ghp_", "0123456789abcdefghijklmnopqrstuvwxyzAB");
    const GH_PAT: &str = concat!(
        "github_",
        "pat_",
        "11FAKE0000000000000000",
        "_fakeFAKEfakeFAKEfake0123456789fakeFAKEfake0123456789fakeFAKEf"
    );
    const GL_TOKEN: &str = concat!("glpat-", "FAKEfake0123456789xx");
    const SLACK_TOKEN: &str = concat!("xoxb-", "000000000000-0000000000000-", "FAKEfakeFAKEfakeFAKEfake");
    const SLACK_HOOK: &str =
        concat!("https://hooks.slack", ".com/services/", "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX");
    const OPENAI_KEY: &str = concat!("sk-", "proj-", "FAKEfake0123456789FAKEfake0123456789_FAKEfake");
    const OPENAI_LEGACY: &str = concat!("sk-", "FAKEfake0123456789", "T3BlbkFJ", "FAKEfake0123456789");
    const ANTHROPIC_KEY: &str = concat!("sk-", "ant-", "api03-", "FAKEfake0123456789FAKEfake0123456789-FAKEAA");
    const JWT: &str = concat!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        ".",
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkZha2UifQ",
        ".",
        "ZmFrZXNpZ25hdHVyZUZBS0VzaWduYXR1cmU"
    );
    const PEM_BEGIN: &str = concat!("-----BEGIN ", "RSA PRIVATE", " KEY-----");
    const PEM_END: &str = concat!("-----END ", "RSA PRIVATE", " KEY-----");

    fn pem() -> String {
        format!(
            "{PEM_BEGIN}\nMIIEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE\nFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE==\n{PEM_END}"
        )
    }

    /// Asserts that `input` is left untouched, borrowed.
    #[track_caller]
    fn clean(input: &str) {
        let out = redact(input);
        assert!(matches!(out, Cow::Borrowed(_)), "unexpected redaction of {input:?}: {out:?}");
        assert!(secret_kinds(input).is_empty(), "unexpected kinds for {input:?}");
    }

    /// Asserts the exact redaction, the kinds, and idempotence.
    #[track_caller]
    fn check(input: &str, expected: &str, kinds: &[&str]) {
        let once = redact(input);
        assert_eq!(once, expected, "input: {input:?}");
        assert_eq!(secret_kinds(input), kinds, "input: {input:?}");
        let twice = redact(&once);
        assert!(matches!(twice, Cow::Borrowed(_)), "second pass changed {once:?} into {twice:?}");
    }

    // ---- provider formats -------------------------------------------------------------------

    #[test]
    fn aws_access_key_id() {
        check(
            &format!("aws_access_key_id = {AWS_KEY_ID}"),
            "aws_access_key_id = [REDACTED:aws-access-key]",
            &["aws-access-key"],
        );
        check(&format!("creds: ASIA{}", "FAKEFAKE01234567"), "creds: [REDACTED:aws-access-key]", &["aws-access-key"]);
    }

    #[test]
    fn aws_secret_key_in_ini_env_and_json() {
        check(
            &format!("[default]\naws_secret_access_key = {AWS_SECRET}\n"),
            "[default]\naws_secret_access_key = [REDACTED:aws-secret-key]\n",
            &["aws-secret-key"],
        );
        check(
            &format!("export AWS_SECRET_ACCESS_KEY={AWS_SECRET}"),
            "export AWS_SECRET_ACCESS_KEY=[REDACTED:aws-secret-key]",
            &["aws-secret-key"],
        );
        check(
            &format!(r#"{{"SecretAccessKey": "{AWS_SECRET}"}}"#),
            r#"{"SecretAccessKey": "[REDACTED:aws-secret-key]"}"#,
            &["aws-secret-key"],
        );
    }

    #[test]
    fn github_tokens() {
        check(
            &format!("git clone https://{GH_TOKEN}@github.com/org/repo"),
            "git clone https://[REDACTED:github-token]@github.com/org/repo",
            &["github-token"],
        );
        check(&format!("GH={GH_PAT}"), "GH=[REDACTED:github-token]", &["github-token"]);
        for prefix in ["gho_", "ghu_", "ghs_", "ghr_"] {
            let t = format!("{prefix}{}", &GH_TOKEN[4..]);
            check(&format!("t {t} t"), "t [REDACTED:github-token] t", &["github-token"]);
        }
    }

    #[test]
    fn gitlab_token() {
        check(
            &format!("curl --header 'PRIVATE-TOKEN: {GL_TOKEN}' https://gitlab.example.com/api/v4/projects"),
            "curl --header 'PRIVATE-TOKEN: [REDACTED:gitlab-token]' https://gitlab.example.com/api/v4/projects",
            &["gitlab-token"],
        );
    }

    #[test]
    fn slack_tokens_and_webhooks() {
        check(
            &format!("client = WebClient({SLACK_TOKEN:?})"),
            r#"client = WebClient("[REDACTED:slack-token]")"#,
            &["slack-token"],
        );
        check(
            &format!("requests.post(\"{SLACK_HOOK}\", json=payload)"),
            "requests.post(\"[REDACTED:slack-token]\", json=payload)",
            &["slack-token"],
        );
        for p in ["xoxp-", "xoxa-", "xoxr-", "xoxs-"] {
            let t = format!("{p}{}", &SLACK_TOKEN[5..]);
            check(&t, "[REDACTED:slack-token]", &["slack-token"]);
        }
    }

    #[test]
    fn openai_keys() {
        check(
            &format!("client = OpenAI(api_key={OPENAI_KEY:?})"),
            r#"client = OpenAI(api_key="[REDACTED:openai-key]")"#,
            &["openai-key"],
        );
        check(&format!("key {OPENAI_LEGACY}."), "key [REDACTED:openai-key].", &["openai-key"]);
    }

    #[test]
    fn anthropic_key_wins_over_openai() {
        check(
            &format!("ANTHROPIC_API_KEY={ANTHROPIC_KEY}"),
            "ANTHROPIC_API_KEY=[REDACTED:anthropic-key]",
            &["anthropic-key"],
        );
        check(&format!("x-api-key: {ANTHROPIC_KEY}"), "x-api-key: [REDACTED:anthropic-key]", &["anthropic-key"]);
    }

    #[test]
    fn jwt() {
        check(&format!("const session = \"{JWT}\";"), "const session = \"[REDACTED:jwt]\";", &["jwt"]);
    }

    #[test]
    fn authorization_header() {
        check(
            "curl -H 'Authorization: Bearer abc123DEF456ghi789' https://api.example.com",
            "curl -H 'Authorization: Bearer [REDACTED:token]' https://api.example.com",
            &["token"],
        );
        check(&format!("Authorization: Bearer {JWT}"), "Authorization: Bearer [REDACTED:jwt]", &["jwt"]);
        clean("headers = {\"Authorization\": f\"Bearer {token}\"}");
        clean("req.Header.Set(\"Authorization\", \"Bearer \"+tok)");
    }

    #[test]
    fn private_key_multiline() {
        let text = format!("key = '''\n{}\n'''\nprint(key)", pem());
        check(&text, "key = '''\n[REDACTED:private-key]\n'''\nprint(key)", &["private-key"]);
        // Escaped newlines inside a JSON string.
        let json = format!("{{\"private_key\": \"{}\\n\"}}", pem().replace('\n', "\\n"));
        check(&json, "{\"private_key\": \"[REDACTED:private-key]\\n\"}", &["private-key"]);
        // OpenSSH and PKCS#8 headers.
        let ssh = format!(
            "{}\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n{}",
            concat!("-----BEGIN ", "OPENSSH PRIVATE", " KEY-----"),
            concat!("-----END ", "OPENSSH PRIVATE", " KEY-----")
        );
        check(&ssh, "[REDACTED:private-key]", &["private-key"]);
    }

    #[test]
    fn truncated_private_key_is_still_redacted() {
        let text =
            format!("{PEM_BEGIN}\nMIIEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE\nFAKEFAKEFAKEFAKEFAKEFAKE\n... (truncated)");
        check(&text, "[REDACTED:private-key]\n... (truncated)", &["private-key"]);
    }

    #[test]
    fn url_credentials() {
        check(
            "DATABASE_URL=postgres://app:s3cr3t-pa55@db.internal:5432/app",
            "DATABASE_URL=postgres://app:[REDACTED:url-credentials]@db.internal:5432/app",
            &["url-credentials"],
        );
        check(
            "r = redis.from_url(\"redis://:hunter2@cache:6379/0\")",
            "r = redis.from_url(\"redis://:[REDACTED:url-credentials]@cache:6379/0\")",
            &["url-credentials"],
        );
        check(
            &format!("https://x-access-token:{GH_TOKEN}@github.com/o/r.git"),
            "https://x-access-token:[REDACTED:github-token]@github.com/o/r.git",
            &["github-token"],
        );
        clean("url := fmt.Sprintf(\"postgres://%s:%s@%s/db\", user, pass, host)");
        clean("DSN=postgres://app:${DB_PASSWORD}@db:5432/app");
        clean("see https://example.com:8080/users/@me and git@github.com:org/repo.git");
        clean("mongodb+srv://<user>:<password>@cluster0.example.net");
    }

    // ---- generic assignments ----------------------------------------------------------------

    #[test]
    fn generic_python() {
        check("password = \"hunter2\"", "password = \"[REDACTED:password]\"", &["password"]);
        check("DB_PASSWORD = 'correct horse'", "DB_PASSWORD = '[REDACTED:password]'", &["password"]);
        check("self.api_key = \"abcd1234efgh\"", "self.api_key = \"[REDACTED:api-key]\"", &["api-key"]);
        check("token: str = \"t0k3n-value\"", "token: str = \"[REDACTED:token]\"", &["token"]);
        check("conn = connect(password=b\"pa55\")", "conn = connect(password=b\"[REDACTED:password]\")", &["password"]);
        check(
            "config = {'client_secret': 'abc-def-ghi', 'user': 'bob'}",
            "config = {'client_secret': '[REDACTED:secret]', 'user': 'bob'}",
            &["secret"],
        );
        check("password = hunter2", "password = [REDACTED:password]", &["password"]);
        check("os.environ[\"TOKEN\"] = \"abc123\"", "os.environ[\"TOKEN\"] = \"[REDACTED:token]\"", &["token"]);
    }

    #[test]
    fn generic_go() {
        check("password := \"s3cr3t\"", "password := \"[REDACTED:password]\"", &["password"]);
        check(
            "cfg := Config{\n\tUser:     \"admin\",\n\tPassword: \"s3cr3t\",\n\tAPIKey:   `abcdef123456`,\n}",
            "cfg := Config{\n\tUser:     \"admin\",\n\tPassword: \"[REDACTED:password]\",\n\tAPIKey:   `[REDACTED:api-key]`,\n}",
            &["password", "api-key"],
        );
        check("const authToken = \"tok-1234\"", "const authToken = \"[REDACTED:token]\"", &["token"]);
    }

    #[test]
    fn generic_javascript() {
        check(
            "const config = { apiKey: 'abc123', secret: \"shh-it-is\" };",
            "const config = { apiKey: '[REDACTED:api-key]', secret: \"[REDACTED:secret]\" };",
            &["api-key", "secret"],
        );
        check("let accessToken = `tok_live_123`;", "let accessToken = `[REDACTED:token]`;", &["token"]);
        check("$password = 'hunter2';", "$password = '[REDACTED:password]';", &["password"]);
        check("['password' => 'hunter2']", "['password' => '[REDACTED:password]']", &["password"]);
    }

    #[test]
    fn generic_yaml_env_json() {
        check(
            "database:\n  user: app\n  password: changeme\n  port: 5432\n",
            "database:\n  user: app\n  password: [REDACTED:password]\n  port: 5432\n",
            &["password"],
        );
        check(
            "DB_HOST=db\nDB_PASSWORD=changeme\nSECRET_KEY=django-insecure-abc\nexport GITHUB_TOKEN=notreal\n",
            "DB_HOST=db\nDB_PASSWORD=[REDACTED:password]\nSECRET_KEY=[REDACTED:secret]\nexport GITHUB_TOKEN=[REDACTED:token]\n",
            &["password", "secret", "token"],
        );
        check(
            "{\"username\": \"bob\", \"password\": \"p@ss w0rd\", \"access_key\": \"AK-123\"}",
            "{\"username\": \"bob\", \"password\": \"[REDACTED:password]\", \"access_key\": \"[REDACTED:api-key]\"}",
            &["password", "api-key"],
        );
        check("spring.datasource.password=hunter", "spring.datasource.password=[REDACTED:password]", &["password"]);
        check(
            "mysql --user=root --password=hunter db",
            "mysql --user=root --password=[REDACTED:password] db",
            &["password"],
        );
        check("api_key: 12345678 # prod", "api_key: [REDACTED:api-key] # prod", &["api-key"]);
        check("pwd: \"q\"", "pwd: \"[REDACTED:password]\"", &["password"]);
    }

    #[test]
    fn generic_shell_http_and_hashes() {
        check(
            "docker run -e POSTGRES_PASSWORD=hunter -p 5432:5432 postgres",
            "docker run -e POSTGRES_PASSWORD=[REDACTED:password] -p 5432:5432 postgres",
            &["password"],
        );
        check(
            "GET /v1/items?api_key=abc123&limit=10",
            "GET /v1/items?api_key=[REDACTED:api-key]&limit=10",
            &["api-key"],
        );
        check(
            "Cookie: session_token=abc123def; theme=dark",
            "Cookie: session_token=[REDACTED:token]; theme=dark",
            &["token"],
        );
        check(
            "hashed_password = \"$2b$12$abcdefghijklmnopqrstuv\"",
            "hashed_password = \"[REDACTED:password]\"",
            &["password"],
        );
        clean("$env:API_TOKEN = \"$env:FALLBACK_TOKEN\"");
        clean("token: ${{ secrets.GITHUB_TOKEN }}");
        clean("password = var.db_password");
    }

    #[test]
    fn long_single_line_stays_linear_and_correct() {
        let filler = "f(a,b);".repeat(20_000);
        let text = format!("{filler}var password=hunter;{filler}x.password=passwordValue;{filler}");
        // Not at the start of a line and not an env-style name: a name, kept.
        assert!(matches!(redact(&text), Cow::Borrowed(_)));
        let text = format!("{filler}var password=hunter2;{filler}");
        assert_eq!(secret_kinds(&text), ["password"]);
    }

    #[test]
    fn generic_value_escapes() {
        check(r#"password = "a\"b\\c""#, r#"password = "[REDACTED:password]""#, &["password"]);
    }

    #[test]
    fn provider_kind_wins_inside_generic_assignment() {
        check(&format!("token = \"{GH_TOKEN}\""), "token = \"[REDACTED:github-token]\"", &["github-token"]);
        check(&format!("OPENAI_API_KEY={OPENAI_KEY}"), "OPENAI_API_KEY=[REDACTED:openai-key]", &["openai-key"]);
    }

    // ---- several, idempotence, markers ------------------------------------------------------

    #[test]
    fn several_secrets_in_one_text() {
        let text = format!(
            "# deploy.py\nAWS_KEY = \"{AWS_KEY_ID}\"\npassword = \"hunter2\"\nslack = \"{SLACK_TOKEN}\"\n{}\nurl = \"https://u:pw123@h/\"\nheaders = {{\"Authorization\": \"Bearer {JWT}\"}}\n",
            pem()
        );
        let out = redact(&text);
        assert_eq!(
            out,
            "# deploy.py\nAWS_KEY = \"[REDACTED:aws-access-key]\"\npassword = \"[REDACTED:password]\"\nslack = \"[REDACTED:slack-token]\"\n[REDACTED:private-key]\nurl = \"https://u:[REDACTED:url-credentials]@h/\"\nheaders = {\"Authorization\": \"Bearer [REDACTED:jwt]\"}\n"
        );
        assert_eq!(
            secret_kinds(&text),
            ["aws-access-key", "password", "slack-token", "private-key", "url-credentials", "jwt"]
        );
    }

    #[test]
    fn idempotent_on_all_positive_samples() {
        let samples = [
            format!("a {AWS_KEY_ID} b {AWS_SECRET}"),
            format!("aws_secret_access_key={AWS_SECRET}"),
            format!("{GH_TOKEN} {GH_PAT} {GL_TOKEN} {SLACK_TOKEN} {SLACK_HOOK}"),
            format!("{OPENAI_KEY} {OPENAI_LEGACY} {ANTHROPIC_KEY} {JWT}"),
            pem(),
            "token = \"abc123\"; password: hunter2 secret=shh123".to_string(),
            "https://user:pa:ss@host https://user:p%40ss@host".to_string(),
            format!("password = \"{GH_TOKEN}-suffix\" token=pre-{GH_TOKEN}"),
        ];
        for s in &samples {
            let once = redact(s).into_owned();
            assert_ne!(&once, s, "nothing redacted in {s:?}");
            assert_eq!(redact(&once), once, "not idempotent for {s:?}");
            assert!(secret_kinds(&once).is_empty(), "secrets left in {once:?}");
        }
    }

    #[test]
    fn markers_are_never_re_redacted() {
        clean("password = \"[REDACTED:password]\"");
        clean("token: [REDACTED:token]");
        clean("DB_PASSWORD=[REDACTED:password]");
        clean("postgres://app:[REDACTED:url-credentials]@db/app");
        clean("[REDACTED:token] = [REDACTED:password]");
        clean("[REDACTED:private-key]\n[REDACTED:aws-secret-key]");
        clean("password = \"Bearer [REDACTED:jwt]\"");
    }

    // ---- negatives --------------------------------------------------------------------------

    #[test]
    fn values_read_from_environment_or_functions() {
        clean("password = os.environ[\"DB_PASSWORD\"]");
        clean("password = os.getenv(\"DB_PASSWORD\", \"\")");
        clean("token := getToken()");
        clean("token := os.Getenv(\"TOKEN\")");
        clean("const secret = process.env.SECRET");
        clean("const apiKey = process.env[\"API_KEY\"];");
        clean("let password = std::env::var(\"PASSWORD\")?;");
        clean("token = await fetchToken(user)");
        clean("self.password = password");
        clean("cfg := Config{\n\tPassword: cfg.Password,\n\tToken: tok,\n}");
        clean("conn = connect(host=h, password=pw)");
        clean("conn = connect(\n    password=db_password,\n)");
        clean("PASSWORD=$(cat /run/secrets/pw)");
        clean("password: ${DB_PASSWORD}");
        clean("password: \"{{ .Values.db.password }}\"");
        clean("SELECT * FROM users WHERE password = ? AND token = $1");
        clean("token = token if token else default_token");
    }

    #[test]
    fn empty_and_placeholder_values() {
        clean("password = \"\"");
        clean("token: null");
        clean("secret = None");
        clean("token = nil");
        clean("password: ''");
        clean("api_key: <your-api-key>");
        clean("API_KEY=your_api_key_here");
        clean("password = \"********\"");
        clean("DB_PASSWORD=");
        clean("log.Printf(\"token=%s\", tok)");
        clean("fmt.Errorf(\"invalid password: %w\", err)");
        clean("print(f\"token={token!r}\")");
        clean("msg = \"password: must be at least 8 characters\"");
    }

    #[test]
    fn identifiers_that_merely_contain_the_words() {
        clean("tokenizer = AutoTokenizer.from_pretrained(\"bert-base-uncased\")");
        clean("passwordField := input.Value");
        clean("func validatePassword(p string) error {");
        clean("max_tokens = 1024");
        clean("token_count: 17");
        clean("if password == \"\" || token != expected {");
        clean("PWD=/home/dev/project\nOLDPWD=/home/dev");
    }

    #[test]
    fn type_annotations_and_declarations() {
        clean("token: str");
        clean("def login(user: str, password: str) -> bool:");
        clean("type User struct {\n\tName     string\n\tpassword string\n\tToken    string `json:\"token\"`\n}");
        clean("pub struct Creds { pub password: String, token: Option<String>, key: &'static str }");
        clean("interface Creds { password: string; apiKey?: string }");
        clean("def f(token: Optional[str] = None):");
        clean("class Settings(BaseSettings):\n    secret_key: SecretStr\n");
    }

    #[test]
    fn short_ordinary_words() {
        clean("pip install sk-learn scikit-learn; ask-me anything; task-runner disk-usage");
        clean("sk-learn-model-selection-helpers-and-utilities");
    }

    #[test]
    fn telemetry_code() {
        clean("defer Tel.FuncExit(Tel.FuncEntry(\"auth.Login\", map[string]any{\"user\": user}))");
        clean("defer Tel.FuncExit(Tel.FuncEntry(\"auth.Login\", map[string]any{\"token\": token}))");
        clean("with tel.span(\"auth.login\", {\"user\": user, \"password_len\": len(password)}):");
        clean("tel.funcEntry('auth.login', { user, token: redactedToken });");
    }

    #[test]
    fn git_shas_and_uuids() {
        clean("commit 3f786850e387550fdab836ed7e6dc881de23001b\nparent 89e6c98d92887913cadf06b2adb97f26cde4849b");
        clean("request_id = \"550e8400-e29b-41d4-a716-446655440000\"");
        clean("id: 7c9e6679-7425-40de-944b-e07fc1f90ae7, sha: da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn base64_data_uri() {
        clean(concat!(
            "<img src=\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA",
            "60e6kgAAAABJRU5ErkJggg==\" alt=\"dot\">"
        ));
        clean("background: url(data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7);");
    }

    // ---- fast path --------------------------------------------------------------------------

    /// The common case: ordinary code. It must come back borrowed (no allocation); the set
    /// pre-check answers after one pass without running any capture search.
    #[test]
    fn ordinary_code_is_borrowed() {
        let code = r#"
package auth

import (
	"errors"
	"fmt"
)

// Login checks a user's credentials. Überprüft die Anmeldedaten — 認証.
func Login(user string, password string) (*Session, error) {
	defer Tel.FuncExit(Tel.FuncEntry("auth.Login", map[string]any{"user": user}))
	if password == "" {
		return nil, errors.New("empty password")
	}
	token, err := issueToken(user)
	if err != nil {
		return nil, fmt.Errorf("issue token: %w", err)
	}
	return &Session{User: user, Token: token}, nil
}
"#;
        for _ in 0..3 {
            assert!(matches!(redact(code), Cow::Borrowed(_)));
        }
        assert!(!SET.is_match("fn main() { let x = 1; println!(\"{x}\"); }"));
        assert!(matches!(redact(""), Cow::Borrowed("")));
    }

    #[test]
    fn non_ascii_text_around_secrets() {
        check("Passwort — password = \"hünter2\" ✓", "Passwort — password = \"[REDACTED:password]\" ✓", &["password"]);
    }

    // ---- the families of issue 9: a corpus with recall and false-positive counts -------------

    /// Per family: texts holding one secret of that kind (positives) and look-alikes that hold
    /// none (near misses). Fake values, assembled with concat!() so no scanner sees a real shape.
    fn family_corpus() -> Vec<(&'static str, Vec<String>, Vec<String>)> {
        let stripe = concat!("sk_", "live_", "51HfAKEfake0123456789FAKEfakeXYZ");
        let stripe_r = concat!("rk_", "live_", "51HfAKEfake0123456789FAKEfakeXYZ");
        let google = concat!("AI", "zaSyFAKEfake0123456789FAKEfake0123456");
        let hf = concat!("hf_", "FAKEfakeFAKEfakeFAKEfakeFAKEfakeQZ");
        let npm = concat!("npm_", "FAKEfake0123456789FAKEfake0123456789");
        let pypi = concat!("pypi-", "AgEIcHlwaS5vcmc", "CJDFAKEfake0123456789FAKEfake0123456789FAKEfake012345");
        let sendgrid = concat!("SG", ".FAKEfake0123456789FAKE", ".FAKEfake0123456789FAKEfake0123456789FAKEfak");
        let sentry_key = "0123456789abcdef0123456789abcdef";
        let slack = concat!("https://hooks.slack", ".com/services/", "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX");
        vec![
            (
                "stripe-key",
                vec![
                    format!("stripe.api_key = \"{stripe}\""),
                    format!("const stripe = require('stripe')('{stripe_r}');"),
                    format!("STRIPE={stripe}"),
                ],
                vec![
                    "sk_live_ is the prefix of live keys".into(),
                    "mask_live_feed_for_the_dashboard_view_widget = 1".into(),
                    "rk_live_short1".into(),
                ],
            ),
            (
                "google-api-key",
                vec![format!("key={google}&q=maps"), format!("GOOGLE = '{google}'")],
                vec!["AIzaShort123".into(), "AIzaSy is how keys start".into()],
            ),
            (
                "huggingface-token",
                vec![format!("login(token_value)  # {hf}"), format!("HF_HOME_ACCESS {hf}")],
                vec!["hf_hub_download(repo_id, filename)".into(), "hf_thisisalowercaseidentifiernamexyz = 2".into()],
            ),
            (
                "npm-token",
                vec![format!("//registry.npmjs.org/:_authToken {npm}"), format!("echo {npm}")],
                vec!["npm_config_registry_for_the_private_mirror_x = 1".into(), "npm_package_version".into()],
            ),
            (
                "pypi-token",
                vec![format!("twine upload -u __token__ -p {pypi}"), format!("TWINE = \"{pypi}\"")],
                vec!["pypi-simple-index".into(), "pypi-AgEshort".into()],
            ),
            (
                "sendgrid-key",
                vec![format!("sg = SendGridAPIClient('{sendgrid}')")],
                vec!["SG.Config.load()".into(), "SG.short.value".into()],
            ),
            (
                "sentry-dsn",
                vec![
                    format!("sentry_sdk.init(\"https://{sentry_key}@o1.ingest.sentry.io/42\")"),
                    format!("Sentry.init({{ dsn: 'https://{sentry_key}@sentry.example.com/7' }})"),
                ],
                vec![
                    "https://docs.sentry.io/platforms/python/".into(),
                    "https://example.com/0123456789abcdef/42".into(),
                ],
            ),
            (
                "slack-token",
                vec![format!("requests.post('{slack}', json=m)")],
                vec!["https://hooks.slack.com/".into(), "see https://api.slack.com/messaging/webhooks".into()],
            ),
            (
                "secret",
                vec!["client_secret = \"f4k3-cl13nt-s3cr3t\"".into(), "{\"client_secret\": \"abc123xyz789\"}".into()],
                vec!["client_secret = os.environ[\"CLIENT_SECRET\"]".into(), "client_secret_file = path".into()],
            ),
            (
                "private-key",
                vec!["private_key = \"f4k3pr1v4t3k3yv4lu3\"".into(), "privateKey: 'abcd1234efgh5678'".into()],
                vec!["private_key = load_key(path)".into(), "private_key_path = \"/etc/key.pem\"".into()],
            ),
        ]
    }

    #[test]
    fn issue_9_families_recall_and_false_positives() {
        let mut misses = Vec::new();
        let mut false_positives = Vec::new();
        for (kind, positives, negatives) in family_corpus() {
            let found = positives.iter().filter(|p| secret_kinds(p).contains(&kind)).count();
            for p in positives.iter().filter(|p| !secret_kinds(p).contains(&kind)) {
                misses.push(format!("{kind}: {p}"));
            }
            let fp: Vec<&String> = negatives.iter().filter(|n| !secret_kinds(n).is_empty()).collect();
            eprintln!("{kind:18} recall {found}/{} false positives {}/{}", positives.len(), fp.len(), negatives.len());
            false_positives.extend(fp.into_iter().map(|n| format!("{kind}: {n} -> {:?}", secret_kinds(n))));
        }
        assert!(misses.is_empty(), "missed: {misses:#?}");
        assert!(false_positives.is_empty(), "false positives: {false_positives:#?}");
    }
}
