//! Generators: who writes the snippets. The offline template generator is the ladder of forms each
//! language module offers (chosen in `pipeline`); [`llm`] asks a model for one-line snippets that
//! the language module places in its slots, after [`allow`] has checked that they only call the
//! telemetry runtime.

pub mod allow;
pub mod llm;
