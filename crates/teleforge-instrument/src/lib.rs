//! # teleforge-instrument
//!
//! Inserts telemetry into source trees and proves every insertion with the real toolchain:
//! tree-sitter discovery ([`discover`]), one module per language behind
//! [`language::LanguageSupport`] that owns where snippets go and offers a ladder of forms (the
//! offline template generator), validators that check a whole tree per round
//! ([`validate::Validator`]), and the retry loop ([`pipeline::instrument`]) that captures every
//! attempt through `teleforge-learning` and consults its consolidated patterns before choosing a
//! form.
//!
//! Languages: Go, Python and JavaScript (one module each under [`language`]).

pub mod construct;
pub mod discover;
mod error;
pub mod generate;
pub mod language;
pub mod output;
pub mod pipeline;
pub mod process;
pub mod replay;
pub mod rewrite;
pub mod strip;
pub mod validate;

pub use construct::{Construct, ConstructKind, Edit, Form};
pub use discover::{discover, DiscoverOptions};
pub use error::{Error, Result};
pub use output::OutputMode;
pub use pipeline::{
    instrument, instrument_with, instrument_with_progress, Generator, InstrumentOptions, LearningOptions, LeftOut,
    Progress, Summary,
};
pub use strip::{strip, StripSummary};
