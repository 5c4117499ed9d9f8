//! `instrument`: discover → baseline check → choose forms (skipping those the learned patterns say
//! fail in the same context) → apply → check once per round → attribute diagnostics to
//! constructs → capture every attempt → retry failures with the next form → verify → write.
//!
//! Invariants: the user's tree is only written at the end (and only with `--in-place`); the
//! output never holds a construct whose last check failed; diagnostics the original code already
//! had are never blamed on a construct; compiler runs grow with rounds, not with constructs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use serde::Serialize;
use teleforge_learning::lesson::{APPLIED_KEY, FILE_KEY, LEARNING_KEY, SIGNATURE_KEY, VARIANT_KEY};
use teleforge_learning::{
    AutoConsolidation, Learning, LearningConsolidator, LearningEngine, PreparedBatch, RunRecord, SUBJECT_KEY,
};

use crate::construct::{Construct, Edit, Form};
use crate::discover::{discover_then, DiscoverOptions, DiscoveredFile};
use crate::error::{Error, Result};
use crate::generate::llm::{Ask, FileProposals, LlmGenerator, LlmStats, Outcome, Proposal};
use crate::language::{line_of, LanguageSupport, SourceFile};
use crate::output::{write_output, OutputMode};
use crate::rewrite::apply;
use crate::validate::{for_language_with, Check, Diagnostic, Validator};

/// How to run.
#[derive(Debug, Clone)]
pub struct InstrumentOptions {
    pub root: PathBuf,
    pub discover: DiscoverOptions,
    pub validate: bool,
    pub max_attempts: u32,
    pub output: OutputMode,
    /// The user's own check (`go test ./...`), run with `sh -c` in a scratch copy of the
    /// instrumented result before anything is written.
    pub validate_cmd: Option<String>,
    /// Recorded with every learning.
    pub run_id: String,
    /// How learned lessons steer the run.
    pub learning: LearningOptions,
    /// Longest a toolchain process or `--validate-cmd` may run before it is killed.
    pub check_timeout: std::time::Duration,
    /// `--in-place` on a git work tree whose files to be touched have uncommitted changes.
    pub allow_dirty: bool,
}

/// The default for [`InstrumentOptions::check_timeout`].
pub const DEFAULT_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// How learned lessons steer a run (`--no-learning`, `teleforge.toml` `[learning]`).
#[derive(Debug, Clone, PartialEq)]
pub struct LearningOptions {
    /// Read and apply lessons; `--no-learning` turns this off (every attempt is still captured).
    pub apply: bool,
    /// Fewest failures of one form in one context, from more than one file or run, before a lesson
    /// moves that form later in the ladder.
    pub min_failures: u64,
    /// Share of constructs (0 to 1) that try a demoted form first anyway, so a lesson that stopped
    /// being true is found out.
    pub explore_share: f64,
    /// Consolidate automatically after a run that captured at least this many new learnings;
    /// `None` never does.
    pub consolidate_every: Option<u64>,
}

impl Default for LearningOptions {
    fn default() -> Self {
        LearningOptions { apply: true, min_failures: 2, explore_share: 0.1, consolidate_every: Some(1) }
    }
}

/// A construct left uninstrumented, and why.
#[derive(Debug, Clone, Serialize)]
pub struct LeftOut {
    pub file: String,
    pub line: usize,
    pub construct_type: &'static str,
    pub function: String,
    pub reason: String,
}

/// What a run did, for the summary line and `--json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub files_seen: usize,
    pub files_instrumented: usize,
    pub files_skipped: BTreeMap<String, usize>,
    pub constructs_found: usize,
    pub constructs_instrumented: usize,
    pub left_out: Vec<LeftOut>,
    /// Attempts made (a construct that validated on its second form counts 2).
    pub attempts: usize,
    /// Constructs that validated on their first attempt.
    pub first_attempt_successes: usize,
    /// Constructs whose forms were tried in an order lessons decided.
    pub constructs_reordered_by_learning: usize,
    /// Constructs that kept the ladder's order although lessons would have reordered it, to test
    /// whether the lessons still hold (`explore_share`).
    pub constructs_exploring: usize,
    /// Compiler runs spent isolating diagnostics that pointed at no single insertion (included in
    /// `compiler_runs`).
    pub isolation_runs: usize,
    /// Compiler runs spent checking the original code (included in `compiler_runs`): only for
    /// files where the instrumented check reported diagnostics.
    pub baseline_runs: usize,
    /// Whether lessons were read and applied (`--no-learning` turns it off).
    pub learning_applied: bool,
    /// Constructs the model was asked about that went to the template forms instead.
    pub constructs_fallen_back: usize,
    /// Constructs the model never answered for (token budget spent, request failed, too large).
    pub llm_not_reached: usize,
    /// Learnings captured per language.
    pub captured_by_language: BTreeMap<String, usize>,
    /// What automatic consolidation did after the run, per language.
    pub consolidation: BTreeMap<String, AutoConsolidation>,
    pub compiler_runs: usize,
    pub validation_seconds: f64,
    pub validated: bool,
    pub learnings_captured: usize,
    pub runtime_files: Vec<String>,
    /// Requests, tokens and failures of the model, with an LLM generator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmStats>,
    /// Whether `--validate-cmd` passed (absent when none was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validate_cmd_passed: Option<bool>,
    /// The unified diff, with `--diff`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Status {
    Pending,
    Passed,
    Failed(String),
    /// Its file cannot be validated (the baseline found the original unparsable): counted with
    /// the skipped files, neither instrumented nor left out.
    Skipped,
}

struct State {
    file: usize,
    index: usize,
    /// The construct's forms in the order they are tried: the ladder, with forms that lessons
    /// say fail in this context moved to the end (never removed).
    order: Vec<usize>,
    /// Position in `order` of the form being tried.
    pos: usize,
    /// Attempts allowed: `--max-attempts`, plus one for each form a lesson moved back, so a
    /// lesson never stops a form a fresh store would have tried from being tried.
    budget: u32,
    /// Ids (`language/pattern`) of the lessons applied to this construct: those that ordered its
    /// forms, or the patterns its prompt carried.
    applied: Vec<String>,
    /// The lessons would have reordered this construct's forms, but it tries them in ladder order
    /// to find out whether they still hold.
    explored: bool,
    attempts: u32,
    status: Status,
    last_pattern: Option<String>,
    tried: Vec<usize>,
    /// A snippet written by the model for this round, in place of the template forms.
    custom: Option<Form>,
    /// Whether the model writes this construct's snippets (its language offers a slot).
    by_model: bool,
    /// The model's last snippet and its diagnostics, for the retry prompt.
    previous: Option<(String, Vec<String>)>,
    /// The model's description of its fix.
    fix: Option<String>,
    /// Learned pattern ids and token usage of the prompt behind `custom`.
    carried: Vec<String>,
    usage: (u64, u64),
    /// Why a construct the model was asking about went back to the template forms.
    fallback: Option<String>,
}

impl State {
    fn new(file: usize, index: usize, forms: usize, by_model: bool, max_attempts: u32) -> Self {
        State {
            file,
            index,
            order: (0..forms).collect(),
            pos: 0,
            budget: max_attempts,
            applied: Vec::new(),
            explored: false,
            attempts: 0,
            status: Status::Pending,
            last_pattern: None,
            tried: Vec::new(),
            custom: None,
            by_model,
            previous: None,
            fix: None,
            carried: Vec::new(),
            usage: (0, 0),
            fallback: None,
        }
    }

    /// The index in the ladder of the form being tried.
    fn form_index(&self) -> usize {
        self.order.get(self.pos).copied().unwrap_or(0)
    }

    fn form<'c>(&'c self, c: &'c Construct) -> &'c Form {
        self.custom.as_ref().unwrap_or(&c.forms[self.form_index()])
    }
}

/// Where a run is, for a progress display.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    Discovered { files: usize, constructs: usize },
    Baseline { language: &'a str },
    Round { language: &'a str, round: usize, constructs: usize },
    Writing,
}

/// Who writes the snippets.
#[derive(Clone, Copy)]
pub enum Generator<'a> {
    /// The offline template generator: each language module's ladder of forms.
    Template,
    /// A model; constructs whose language has no slot for model snippets use the templates.
    Llm(&'a LlmGenerator),
}

impl Generator<'_> {
    fn label(&self) -> String {
        match self {
            Generator::Template => "template".into(),
            Generator::Llm(g) => g.label(),
        }
    }
}

/// Runs the pipeline. `on_capture` sees every captured learning (for `--verbose`).
pub fn instrument(
    engine: Option<&LearningEngine>,
    opts: &InstrumentOptions,
    on_capture: &mut dyn FnMut(&Learning),
) -> Result<Summary> {
    instrument_with_progress(engine, opts, on_capture, &mut |_| {})
}

/// [`instrument`], reporting where it is to `on_progress`.
pub fn instrument_with_progress(
    engine: Option<&LearningEngine>,
    opts: &InstrumentOptions,
    on_capture: &mut dyn FnMut(&Learning),
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Summary> {
    instrument_with(engine, opts, Generator::Template, on_capture, on_progress)
}

/// [`instrument`] with a chosen generator.
pub fn instrument_with(
    engine: Option<&LearningEngine>,
    opts: &InstrumentOptions,
    generator: Generator<'_>,
    on_capture: &mut dyn FnMut(&Learning),
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Summary> {
    let started = teleforge_learning::now_timestamp();
    // Toolchains print absolute paths; one canonical root makes every path comparable.
    let root = opts.root.canonicalize().map_err(|e| Error::io("reading", &opts.root, e))?;
    let opts = &InstrumentOptions { root, ..opts.clone() };
    // The validators of the languages the walk found start their toolchains while files are
    // parsed (a checker process's start-up then costs no wall time).
    let mut validators: HashMap<&'static str, Box<dyn Validator>> = HashMap::new();
    let files = discover_then(&opts.root, &opts.discover, &mut |paths| {
        if !opts.validate {
            return;
        }
        let asked = |p: &&std::path::PathBuf| {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            opts.discover.extensions.is_empty()
                || opts.discover.extensions.iter().any(|e| e.trim_start_matches('.') == ext)
        };
        for lang in paths.iter().filter(asked).filter_map(|p| crate::language::for_path(p)) {
            if !validators.contains_key(lang.name()) {
                if let Some(v) = for_language_with(lang.name(), opts.check_timeout) {
                    v.warm_up();
                    validators.insert(lang.name(), v);
                }
            }
        }
    })?;
    let mut summary = Summary { files_seen: files.len(), validated: opts.validate, ..Default::default() };
    for f in &files {
        if let Some(why) = &f.skipped {
            *summary.files_skipped.entry(why.clone()).or_default() += 1;
        }
        summary.constructs_found += f.constructs.len();
    }
    on_progress(Progress::Discovered { files: files.len(), constructs: summary.constructs_found });
    let mut outputs: BTreeMap<String, String> = BTreeMap::new();
    let mut languages: Vec<&'static dyn LanguageSupport> = Vec::new();
    for f in &files {
        if !f.constructs.is_empty() && !languages.iter().any(|l| l.name() == f.language.name()) {
            languages.push(f.language);
        }
    }
    // Learnings are stored on a thread of their own: the store's transactions overlap with the
    // next rounds and with writing the output. Consolidation and the run record wait for them.
    std::thread::scope(|scope| -> Result<Summary> {
        let (to_store, storing) = match engine {
            Some(e) => {
                let (tx, rx) = std::sync::mpsc::channel::<PreparedBatch>();
                (Some(tx), Some(scope.spawn(move || store_batches(e, rx))))
            }
            None => (None, None),
        };
        for lang in &languages {
            let group: Vec<&DiscoveredFile> =
                files.iter().filter(|f| f.language.name() == lang.name() && !f.constructs.is_empty()).collect();
            let sink = Sink { engine, to_store: to_store.as_ref(), on_capture: &mut *on_capture };
            let validator = validators.remove(lang.name());
            run_language(sink, validator, opts, generator, *lang, &group, &mut summary, &mut outputs, on_progress)?;
        }
        drop(to_store);
        let mut storing = storing;
        let mut stored = || -> Result<()> {
            match storing.take() {
                Some(h) => h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                None => Ok(()),
            }
        };
        summary.files_instrumented = outputs.keys().filter(|k| !summary.runtime_files.contains(k)).count();
        summary.learning_applied = opts.learning.apply;
        if opts.output == OutputMode::InPlace {
            // The user's tree is written only once everything learned is stored.
            stored()?;
        }
        on_progress(Progress::Writing);
        if let Some(cmd) = &opts.validate_cmd {
            run_user_check(&opts.root, cmd, &outputs, &files, opts.check_timeout)?;
            summary.validate_cmd_passed = Some(true);
        }
        if opts.output == OutputMode::InPlace && !opts.allow_dirty {
            crate::output::refuse_uncommitted(&opts.root, |rel| outputs.contains_key(rel), opts.check_timeout)?;
        }
        summary.diff = write_output(&opts.root, &opts.output, &outputs, &files)?;
        stored()?;
        // The seed's "automatic consolidation every N learnings": the lessons the next run reads.
        if let (Some(engine), Some(every)) = (engine, opts.learning.consolidate_every) {
            let consolidator = LearningConsolidator::new(engine);
            for (language, _) in summary.captured_by_language.clone().into_iter().filter(|(_, n)| *n > 0) {
                let outcome =
                    consolidator.consolidate_if_due(&language, every, teleforge_learning::DEFAULT_MIN_OCCURRENCES)?;
                summary.consolidation.insert(language, outcome);
            }
        }
        if let Generator::Llm(g) = generator {
            summary.llm = Some(g.stats());
        }
        if let (Some(engine), true) = (engine, opts.validate) {
            engine.store().record_run(&run_record(opts, generator, &summary, started))?;
        }
        Ok(summary)
    })
}

/// Stores the batches sent to it, in order, until the sender is dropped; the first error stops it
/// (senders then find the channel closed and go on: the error is reported when it is joined).
fn store_batches(engine: &LearningEngine, batches: std::sync::mpsc::Receiver<PreparedBatch>) -> Result<()> {
    for batch in batches {
        engine.store_batch(&batch)?;
    }
    Ok(())
}

/// Where a round's learnings go: prepared here, stored by the storing thread, shown to the caller.
struct Sink<'a, 'c> {
    engine: Option<&'a LearningEngine>,
    to_store: Option<&'a std::sync::mpsc::Sender<PreparedBatch>>,
    on_capture: &'c mut dyn FnMut(&Learning),
}

/// Why a file the toolchain does not compile as it is was skipped.
const NOT_COMPILED: &str =
    "not compiled by the toolchain (build constraints, or it does not parse before instrumenting)";

/// Runs one language: prepares its run, then steps it round by round until it is done.
#[allow(clippy::too_many_arguments)]
fn run_language(
    sink: Sink<'_, '_>,
    validator: Option<Box<dyn Validator>>,
    opts: &InstrumentOptions,
    generator: Generator<'_>,
    lang: &'static dyn LanguageSupport,
    group: &[&DiscoveredFile],
    summary: &mut Summary,
    outputs: &mut BTreeMap<String, String>,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<()> {
    let mut run = match LanguageRun::prepare(sink, validator, opts, generator, lang, group, summary)? {
        Prepared::Unvalidated(states, group) => {
            // `--no-validate`: every construct takes its first form.
            let file_edits: Vec<Vec<Edit>> = group.iter().map(|f| f.file_edits.clone()).collect();
            summary.attempts += states.len();
            finish(lang, &group, &file_edits, &states, summary, outputs);
            return Ok(());
        }
        Prepared::Validated(run) => run,
    };
    while run.step(summary, on_progress)? == Next::Round {}
    summary.validation_seconds += run.checks.elapsed.as_secs_f64();
    finish(lang, &run.group, &run.file_edits, &run.states, summary, outputs);
    Ok(())
}

/// What [`LanguageRun::prepare`] leads to.
enum Prepared<'r, 'c> {
    /// Nothing to check: the constructs (all passed) and their files.
    Unvalidated(Vec<State>, Vec<&'r DiscoveredFile>),
    Validated(Box<LanguageRun<'r, 'c>>),
}

/// What a round leads to.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Another round: something changed (a form failed and the next is to be tried).
    Round,
    /// Every construct passed or was left out, or a round changed nothing.
    Done,
}

/// One language's run with validation: the state every round reads and changes. A round
/// ([`LanguageRun::step`]) goes: ask the model (LLM generator) → render → check → baseline of files
/// with unknown diagnostics → blame → settle each construct → capture the round's learnings.
struct LanguageRun<'r, 'c> {
    sink: Sink<'r, 'c>,
    opts: &'r InstrumentOptions,
    generator: Generator<'r>,
    lang: &'static dyn LanguageSupport,
    /// The files whose constructs can be validated.
    group: Vec<&'r DiscoveredFile>,
    /// Each file's own edits (the runtime import), computed by discovery from its tree.
    file_edits: Vec<Vec<Edit>>,
    states: Vec<State>,
    validator: Box<dyn Validator>,
    checks: CheckMemory,
    round: usize,
    /// The model's attempts, then (on fallback) the template forms' budget, then one more check.
    max_rounds: usize,
}

/// What earlier checks of one language's run said, so later rounds do not ask again.
#[derive(Default)]
struct CheckMemory {
    /// Diagnostics the original code already has: (file, line, message with numbers masked).
    known: HashSet<(String, usize, String)>,
    /// Files whose original was checked.
    baselined: HashSet<String>,
    /// Files the baseline found unparsable as they are: skipped.
    unparsable: HashSet<String>,
    /// What a per-file checker last saw, and said, per file.
    seen: BTreeMap<String, String>,
    seen_diags: BTreeMap<String, Vec<Diagnostic>>,
    /// The files and diagnostics of the last check.
    last_check: Option<(BTreeMap<String, String>, Vec<Diagnostic>)>,
    /// Time spent in the toolchains.
    elapsed: std::time::Duration,
}

impl<'r, 'c> LanguageRun<'r, 'c> {
    /// The toolchain, the files it can validate, one state per construct with its forms ordered
    /// by the lessons learned.
    fn prepare(
        sink: Sink<'r, 'c>,
        validator: Option<Box<dyn Validator>>,
        opts: &'r InstrumentOptions,
        generator: Generator<'r>,
        lang: &'static dyn LanguageSupport,
        group: &[&'r DiscoveredFile],
        summary: &mut Summary,
    ) -> Result<Prepared<'r, 'c>> {
        let states_of = |group: &[&DiscoveredFile]| -> Vec<State> {
            let mut states = Vec::new();
            for (fi, f) in group.iter().enumerate() {
                for (ci, c) in f.constructs.iter().enumerate() {
                    let by_model = matches!(generator, Generator::Llm(_)) && f.language.slot(c).is_some();
                    states.push(State::new(fi, ci, c.forms.len(), by_model, opts.max_attempts));
                }
            }
            states
        };
        if !opts.validate {
            let mut states = states_of(group);
            for s in &mut states {
                s.status = Status::Passed;
            }
            return Ok(Prepared::Unvalidated(states, group.to_vec()));
        }
        let validator = validator.or_else(|| for_language_with(lang.name(), opts.check_timeout)).ok_or_else(|| {
            Error::Usage(format!(
                "validation of {} is not built yet; pass --no-validate to instrument without it",
                lang.name()
            ))
        })?;
        validator.available()?;
        // Files the toolchain does not compile (build constraints) cannot be validated: skip them.
        // Nor can files of packages that do not build before instrumentation.
        let compiled = validator.compiled_files(&opts.root)?;
        let unbuildable = validator.unbuildable_files(&opts.root)?;
        let mut kept: Vec<&DiscoveredFile> = group.to_vec();
        kept.retain(|f| {
            let why = if unbuildable.contains(&f.source.rel) {
                Some("its package does not build before instrumentation")
            } else if compiled.as_ref().is_some_and(|c| !c.contains(&f.source.rel)) {
                Some(NOT_COMPILED)
            } else {
                None
            };
            if let Some(why) = why {
                *summary.files_skipped.entry(why.into()).or_default() += 1;
                summary.constructs_found -= f.constructs.len();
            }
            why.is_none()
        });
        let mut states = states_of(&kept);
        // `go list -export` (which files the toolchain compiles) compiles every package: it counts.
        let (prep_runs, elapsed) = validator.preparation_cost();
        summary.compiler_runs += prep_runs;

        // Lessons reorder the ladder; they never remove a form.
        let lessons: HashMap<(String, String), String> = match sink.engine {
            Some(e) if opts.learning.apply => e
                .variant_lessons(lang.name(), opts.learning.min_failures)?
                .into_iter()
                .map(|l| ((l.signature, l.variant), l.lesson))
                .collect(),
            _ => HashMap::new(),
        };
        if !lessons.is_empty() {
            for s in states.iter_mut().filter(|s| !s.by_model) {
                let f = kept[s.file];
                order_forms(s, &f.constructs[s.index], &f.source.rel, &lessons, opts);
                summary.constructs_reordered_by_learning += usize::from(!s.applied.is_empty());
                summary.constructs_exploring += usize::from(s.explored);
            }
        }
        let model_rounds = if matches!(generator, Generator::Llm(_)) { opts.max_attempts as usize } else { 0 };
        let max_rounds = model_rounds + states.iter().map(|s| s.budget as usize).max().unwrap_or(0) + 1;
        let file_edits = kept.iter().map(|f| f.file_edits.clone()).collect();
        Ok(Prepared::Validated(Box::new(LanguageRun {
            sink,
            opts,
            generator,
            lang,
            group: kept,
            file_edits,
            states,
            validator,
            checks: CheckMemory { elapsed, ..Default::default() },
            round: 0,
            max_rounds,
        })))
    }

    fn construct(&self, i: usize) -> &'r Construct {
        let s = &self.states[i];
        &self.group[s.file].constructs[s.index]
    }

    /// One round.
    fn step(&mut self, summary: &mut Summary, on_progress: &mut dyn FnMut(Progress<'_>)) -> Result<Next> {
        self.round += 1;
        if self.round > self.max_rounds {
            // Out of rounds: what is still pending is left out; the rounds that follow only
            // re-check what passed until a check changes nothing.
            for s in self.states.iter_mut().filter(|s| s.status == Status::Pending) {
                s.status = Status::Failed(format!("no form validated within {} rounds", self.max_rounds));
            }
        }
        let active: Vec<usize> = (0..self.states.len())
            .filter(|&i| matches!(self.states[i].status, Status::Pending | Status::Passed))
            .collect();
        if active.is_empty() {
            return Ok(Next::Done);
        }
        on_progress(Progress::Round { language: self.lang.name(), round: self.round, constructs: active.len() });
        let mut batch: Vec<(usize, Learning)> = Vec::new();
        let mut changed = false;
        if let Generator::Llm(llm) = self.generator {
            changed |= self.ask_model(llm, &mut batch, summary)?;
        }
        let active: Vec<usize> = active
            .into_iter()
            .filter(|&i| match self.states[i].status {
                Status::Passed => true,
                Status::Pending => !self.states[i].by_model || self.states[i].custom.is_some(),
                Status::Failed(_) | Status::Skipped => false,
            })
            .collect();
        let (files, spans) = render(self.lang, &self.group, &self.file_edits, &self.states, &active);
        let check = self.check(&files, !active.is_empty())?;
        summary.compiler_runs += check.runs;
        self.checks.elapsed += check.elapsed;
        self.baseline(&check, summary, on_progress)?;
        let active: Vec<usize> = active.into_iter().filter(|&i| self.states[i].status != Status::Skipped).collect();
        let memory = &self.checks;
        let new: Vec<&Diagnostic> = check
            .diagnostics
            .iter()
            .filter(|d| !memory.unparsable.contains(&d.file))
            .filter(|d| {
                !memory.known.contains(&(d.file.clone(), original_line(&spans, &files, d), numbers_masked(&d.message)))
            })
            .collect();
        let ctx = BlameContext {
            lang: self.lang,
            group: &self.group,
            file_edits: &self.file_edits,
            validator: self.validator.as_ref(),
            root: &self.opts.root,
        };
        let verdict = ctx.blame(&self.states, &active, &spans, &files, &new, &memory.known)?;
        summary.compiler_runs += verdict.runs;
        summary.isolation_runs += verdict.runs;
        self.checks.elapsed += verdict.elapsed;
        for &i in &active {
            changed |= self.settle(i, &verdict, &mut batch, summary);
        }
        self.capture(batch, summary)?;
        Ok(if changed { Next::Round } else { Next::Done })
    }

    /// Checks the rendered `files`. Nothing is compiled when every answer this round was unusable
    /// (`any` false); a check of exactly what the last check saw reuses its diagnostics; a
    /// per-file checker sees only the files that changed since, the others keep theirs.
    fn check(&mut self, files: &BTreeMap<String, String>, any: bool) -> Result<Check> {
        let memory = &mut self.checks;
        let check = if !any {
            return Ok(Check::default());
        } else if memory.last_check.as_ref().is_some_and(|(f, _)| f == files) {
            // The round only settled answers that never compiled: the diagnostics still hold.
            let diagnostics = memory.last_check.as_ref().map(|(_, d)| d.clone()).unwrap_or_default();
            Check { diagnostics, ..Default::default() }
        } else if self.validator.per_file() {
            let changed: BTreeMap<String, String> = files
                .iter()
                .filter(|(k, v)| memory.seen.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut check = self.validator.check(&self.opts.root, &changed)?;
            for rel in changed.keys() {
                let mine = check.diagnostics.iter().filter(|d| &d.file == rel).cloned().collect();
                memory.seen_diags.insert(rel.clone(), mine);
            }
            memory.seen.extend(changed);
            check.diagnostics =
                files.keys().flat_map(|k| memory.seen_diags.get(k).cloned().unwrap_or_default()).collect();
            check
        } else {
            self.validator.check(&self.opts.root, files)?
        };
        memory.last_check = Some((files.clone(), check.diagnostics.clone()));
        Ok(check)
    }

    /// Checks the originals of the files `check` reported something in that were not checked
    /// before (every file, when a diagnostic names none); files the toolchain cannot parse as
    /// they are are skipped.
    fn baseline(
        &mut self,
        check: &Check,
        summary: &mut Summary,
        on_progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<()> {
        let memory = &mut self.checks;
        let targets = || self.group.iter().map(|f| f.source.rel.clone());
        let mut unknown: Vec<String> = if check.diagnostics.iter().any(|d| d.file.is_empty()) {
            // A diagnostic without a file could be anywhere: the whole original is checked.
            targets().filter(|t| !memory.baselined.contains(t)).collect()
        } else {
            // Files teleforge changed, and files it did not change (a whole-tree checker reports
            // their errors too; they may predate the run): not the runtime files it wrote.
            check
                .diagnostics
                .iter()
                .map(|d| d.file.clone())
                .filter(|f| !self.lang.is_runtime_file(f) && !memory.baselined.contains(f))
                .collect()
        };
        unknown.sort();
        unknown.dedup();
        if unknown.is_empty() {
            return Ok(());
        }
        on_progress(Progress::Baseline { language: self.lang.name() });
        let baseline = self.validator.baseline(&self.opts.root, &unknown)?;
        summary.compiler_runs += baseline.runs;
        summary.baseline_runs += baseline.runs;
        memory.elapsed += baseline.elapsed;
        memory.known.extend(baseline.diagnostics.iter().map(|d| (d.file.clone(), d.line, numbers_masked(&d.message))));
        // A file the toolchain cannot parse as it is hides any error an insertion adds behind
        // its own: it is skipped, as if discovery had, and blames nobody.
        for (fi, f) in self.group.iter().enumerate().filter(|(_, f)| baseline.unparsable.contains(&f.source.rel)) {
            memory.unparsable.insert(f.source.rel.clone());
            *summary.files_skipped.entry(NOT_COMPILED.into()).or_default() += 1;
            summary.constructs_found -= f.constructs.len();
            for s in self.states.iter_mut().filter(|s| s.file == fi) {
                if s.status == Status::Passed && s.attempts == 1 {
                    summary.first_attempt_successes -= 1;
                }
                if !s.by_model {
                    summary.constructs_reordered_by_learning -= usize::from(!s.applied.is_empty());
                    summary.constructs_exploring -= usize::from(s.explored);
                }
                s.status = Status::Skipped;
            }
        }
        if self.validator.per_file() {
            memory.baselined.extend(unknown);
        } else {
            // A whole-tree checker (Go) reported every original diagnostic at once.
            memory.baselined.extend(targets());
        }
        Ok(())
    }

    /// Settles construct `i` after the round's verdict: passed (its attempt captured as a
    /// success the first time), or blamed (its failure captured, the next form or a new snippet
    /// queued, or left out). Returns whether the construct needs another round.
    fn settle(
        &mut self,
        i: usize,
        verdict: &Verdict,
        batch: &mut Vec<(usize, Learning)>,
        summary: &mut Summary,
    ) -> bool {
        if let Some(why) = verdict.broken.get(&self.states[i].file) {
            // The file does not compile with the runtime import alone: no form of any of its
            // constructs is to blame, so none is captured as a failure or moved on.
            self.states[i].status = Status::Failed(why.clone());
            return false;
        }
        let (opts, generator, round, max_rounds) = (self.opts, self.generator, self.round, self.max_rounds);
        let c = self.construct(i);
        let form = &self.states[i].form(c).clone();
        let Some((diags, how)) = verdict.blamed.get(&i) else {
            if self.states[i].status == Status::Pending {
                let s = &mut self.states[i];
                s.attempts += 1;
                s.tried.push(s.form_index());
                s.status = Status::Passed;
                summary.attempts += 1;
                if s.attempts == 1 {
                    summary.first_attempt_successes += 1;
                }
                let fix = if s.by_model {
                    (s.attempts > 1).then(|| {
                        s.fix.clone().unwrap_or_else(|| match &s.previous {
                            Some((old, _)) => format!("Replaced `{old}` with `{}`", form.code()),
                            None => format!("Wrote `{}`", form.code()),
                        })
                    })
                } else {
                    (s.tried.len() > 1).then(|| {
                        let old = &c.forms[s.tried[s.tried.len() - 2]];
                        format!(
                            "Used form {} ({}) instead of {} ({}), which failed with {}",
                            form.id,
                            form.summary,
                            old.id,
                            old.summary,
                            s.last_pattern.as_deref().unwrap_or("an error")
                        )
                    })
                };
                let pattern = self.states[i].last_pattern.clone();
                let mut l = self.learning(i, form, true, vec![], pattern, fix);
                annotate(&mut l, generator, &self.states[i], opts, None);
                batch.push((i, l));
            }
            return false;
        };
        let errors: Vec<String> = diags.iter().map(Diagnostic::render).collect();
        {
            let s = &mut self.states[i];
            // A construct that had passed and is now blamed was counted right first time.
            if s.status == Status::Passed && s.attempts == 1 {
                summary.first_attempt_successes -= 1;
            }
            s.attempts += 1;
            s.tried.push(s.form_index());
        }
        summary.attempts += 1;
        let mut l = self.learning(i, form, false, errors.clone(), None, None);
        annotate(&mut l, generator, &self.states[i], opts, Some(how));
        batch.push((i, l));
        let first_error = errors.first().cloned().unwrap_or_else(|| "validation failed".into());
        let s = &mut self.states[i];
        if s.by_model {
            s.previous = Some((form.code(), errors));
            s.custom = None;
            s.fix = None;
            if s.attempts < opts.max_attempts && round < max_rounds {
                s.status = Status::Pending;
            } else if let (Generator::Llm(llm), true) = (generator, round < max_rounds) {
                let why = format!("the model's snippets failed {} times: {first_error}", s.attempts);
                fall_back(s, opts, llm, &why, summary);
            } else {
                s.status = Status::Failed(first_error);
            }
        } else if s.pos + 1 < s.order.len() && s.attempts < s.budget && round < max_rounds {
            s.pos += 1;
            s.status = Status::Pending;
        } else {
            s.status = Status::Failed(first_error);
        }
        true
    }

    /// The attempt of construct `i` with `form` as a learning.
    fn learning(
        &self,
        i: usize,
        form: &Form,
        success: bool,
        errors: Vec<String>,
        pattern: Option<String>,
        fix: Option<String>,
    ) -> Learning {
        let s = &self.states[i];
        let (source, c) = (&self.group[s.file].source, self.construct(i));
        let mut context = BTreeMap::new();
        context
            .insert(SUBJECT_KEY.to_string(), format!("{}:{}:{}:{}", source.rel, c.line, c.kind.as_str(), c.function));
        context.insert(VARIANT_KEY.into(), form.id.to_string());
        context.insert(SIGNATURE_KEY.into(), c.signature());
        context.insert(FILE_KEY.into(), source.rel.clone());
        Learning {
            language: self.lang.name().to_string(),
            construct_type: c.kind.as_str().to_string(),
            attempt_number: s.attempts,
            success,
            generated_code: crate::rewrite::strip_markers_only(&form.code()),
            validation_errors: errors,
            error_pattern: pattern,
            fix_applied: fix,
            run_id: Some(self.opts.run_id.clone()),
            generator: Some(if form.id == LLM_FORM { "llm".into() } else { "template".into() }),
            context,
            ..Default::default()
        }
    }

    /// Prepares the round's learnings, shows them to the caller, and hands them to the storing
    /// thread; each failure's pattern goes into the next attempt's learning.
    fn capture(&mut self, batch: Vec<(usize, Learning)>, summary: &mut Summary) -> Result<()> {
        let Some(engine) = self.sink.engine else { return Ok(()) };
        let (idx, learnings): (Vec<usize>, Vec<Learning>) = batch.into_iter().unzip();
        let prepared = engine.prepare_batch(learnings)?;
        summary.learnings_captured += prepared.len();
        *summary.captured_by_language.entry(self.lang.name().to_string()).or_default() += prepared.len();
        for (i, l) in idx.into_iter().zip(prepared.learnings()) {
            if !l.success {
                self.states[i].last_pattern = l.error_pattern.clone();
            }
            (self.sink.on_capture)(l);
        }
        if let Some(tx) = self.sink.to_store {
            // A storing thread that stopped has its error reported when it is joined.
            let _ = tx.send(prepared);
        }
        Ok(())
    }
}

impl LanguageRun<'_, '_> {
    /// Asks the model for every pending construct without a snippet: one call per file (the
    /// generator splits a file into requests that fit the model), several files at once. Unusable
    /// answers are failed attempts, captured like compiler failures; a construct the model never
    /// reached is no attempt at all and falls back to the template forms. Returns whether anything
    /// changed.
    fn ask_model(
        &mut self,
        llm: &LlmGenerator,
        batch: &mut Vec<(usize, Learning)>,
        summary: &mut Summary,
    ) -> Result<bool> {
        let engine = self.sink.engine.filter(|_| self.opts.learning.apply);
        let opts = self.opts;
        let group = &self.group;
        let mut by_file: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, s) in self.states.iter().enumerate() {
            if s.by_model && s.status == Status::Pending && s.custom.is_none() {
                by_file.entry(s.file).or_default().push(i);
            }
        }
        let mut jobs: Vec<(usize, Vec<usize>, Vec<Ask<'_>>)> = Vec::new();
        for (fi, idxs) in by_file {
            let f = group[fi];
            let mut asks = Vec::new();
            let mut kept = Vec::new();
            for &i in &idxs {
                let c = &f.constructs[self.states[i].index];
                // by_model is only set where the language offers a slot.
                let Some(slot) = f.language.slot(c) else { continue };
                asks.push(Ask { id: format!("c{i}"), construct: c, slot, previous: self.states[i].previous.clone() });
                kept.push(i);
            }
            jobs.push((fi, kept, asks));
        }
        // Files are asked in parallel; the generator caps the requests in flight across all of them.
        let workers = llm.concurrency().clamp(1, 16).min(jobs.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let answers: Vec<std::sync::Mutex<Option<Result<FileProposals>>>> =
            jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((fi, _, asks)) = jobs.get(n) else { break };
                    let answer = llm.propose_file(engine, group[*fi].language, &group[*fi].source, asks);
                    *answers[n].lock().unwrap_or_else(|e| e.into_inner()) = Some(answer);
                });
            }
        });
        let mut changed = false;
        for ((_, idxs, asks), answer) in jobs.iter().zip(answers) {
            let answer = match answer.into_inner().unwrap_or_else(|e| e.into_inner()) {
                Some(a) => a?,
                None => continue,
            };
            for ((&i, ask), outcome) in idxs.iter().zip(asks).zip(answer.outcomes) {
                let s = &mut self.states[i];
                s.carried = answer.pattern_ids.clone();
                match outcome {
                    Outcome::Answered { proposal: Proposal::Snippet { code, fix, .. }, usage } => {
                        s.usage = (usage.input_tokens, usage.output_tokens);
                        let edits = vec![ask.slot.edit(&code)];
                        s.custom = Some(Form { id: LLM_FORM, summary: "snippet written by the model", edits });
                        s.fix = fix;
                    }
                    Outcome::Answered { proposal: Proposal::Invalid { code, error, pattern }, usage } => {
                        s.usage = (usage.input_tokens, usage.output_tokens);
                        changed = true;
                        s.attempts += 1;
                        summary.attempts += 1;
                        let form = Form { id: LLM_FORM, summary: "unusable answer", edits: Vec::new() };
                        let mut l = self.learning(i, &form, false, vec![error.clone()], Some(pattern), None);
                        l.generated_code = code.clone();
                        let s = &mut self.states[i];
                        annotate(&mut l, Generator::Llm(llm), s, opts, Some("answer"));
                        batch.push((i, l));
                        s.previous = Some((code, vec![error.clone()]));
                        if s.attempts >= opts.max_attempts {
                            let why = format!("the model's answers failed {} times: {error}", s.attempts);
                            fall_back(s, opts, llm, &why, summary);
                        }
                    }
                    Outcome::NotReached(why) => {
                        changed = true;
                        summary.llm_not_reached += 1;
                        fall_back(s, opts, llm, &format!("the model never answered: {why}"), summary);
                    }
                }
            }
        }
        Ok(changed)
    }
}

/// The run's summary as the store keeps it.
fn run_record(opts: &InstrumentOptions, generator: Generator<'_>, s: &Summary, started: String) -> RunRecord {
    let mut counts = BTreeMap::new();
    for (k, v) in [
        ("files_seen", s.files_seen),
        ("files_instrumented", s.files_instrumented),
        ("constructs_found", s.constructs_found),
        ("constructs_instrumented", s.constructs_instrumented),
        ("left_out", s.left_out.len()),
        ("attempts", s.attempts),
        ("first_attempt_successes", s.first_attempt_successes),
        ("compiler_runs", s.compiler_runs),
        ("isolation_runs", s.isolation_runs),
        ("learnings_captured", s.learnings_captured),
        ("constructs_reordered_by_learning", s.constructs_reordered_by_learning),
        ("constructs_fallen_back", s.constructs_fallen_back),
    ] {
        counts.insert(k.to_string(), k_u64(v));
    }
    if let Some(llm) = &s.llm {
        counts.insert("requests".into(), llm.requests);
        counts.insert("input_tokens".into(), llm.input_tokens);
        counts.insert("output_tokens".into(), llm.output_tokens);
    }
    counts.insert("validation_ms".into(), (s.validation_seconds * 1000.0).round() as u64);
    RunRecord {
        run_id: opts.run_id.clone(),
        started,
        finished: teleforge_learning::now_timestamp(),
        generator: generator.label(),
        learning: opts.learning.apply,
        languages: s.captured_by_language.keys().cloned().collect(),
        counts,
    }
}

fn k_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Moves the forms that lessons say fail in this construct's context to the end of its ladder,
/// unless the construct is one of the few (`explore_share`) that keep the ladder's order to test
/// the lessons. Each moved form adds an attempt to the construct's budget.
fn order_forms(
    s: &mut State,
    c: &Construct,
    rel: &str,
    lessons: &HashMap<(String, String), String>,
    opts: &InstrumentOptions,
) {
    let sig = c.signature();
    let demoted: Vec<usize> =
        (0..c.forms.len()).filter(|&i| lessons.contains_key(&(sig.clone(), c.forms[i].id.to_string()))).collect();
    let mut order: Vec<usize> = (0..c.forms.len()).filter(|i| !demoted.contains(i)).collect();
    order.extend(&demoted);
    if order.iter().enumerate().all(|(p, &i)| p == i) {
        return;
    }
    let subject = format!("{}|{rel}:{}:{}", opts.run_id, c.line, c.kind.as_str());
    if share_of(&subject) < opts.learning.explore_share {
        s.explored = true;
        return;
    }
    let mut applied: Vec<String> =
        demoted.iter().filter_map(|&i| lessons.get(&(sig.clone(), c.forms[i].id.to_string())).cloned()).collect();
    applied.sort();
    applied.dedup();
    s.applied = applied;
    s.budget = s.budget.saturating_add(demoted.len() as u32);
    s.order = order;
}

/// A number in [0, 1) fixed by `key` (FNV-1a): which constructs explore is reproducible for a run.
fn share_of(key: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs the user's check in a scratch copy of the result; an error if it fails.
fn run_user_check(
    root: &std::path::Path,
    cmd: &str,
    outputs: &BTreeMap<String, String>,
    files: &[DiscoveredFile],
    timeout: std::time::Duration,
) -> Result<()> {
    // The scratch copy goes beside the tree when the temp folder lies inside it (a copy into
    // the tree being copied is refused).
    let temp = std::env::temp_dir();
    let parent = match temp.canonicalize() {
        Ok(t) if t.starts_with(root) => root.parent().unwrap_or(root).to_path_buf(),
        _ => temp,
    };
    let scratch = tempfile::Builder::new()
        .prefix("teleforge-check-")
        .tempdir_in(&parent)
        .map_err(|e| Error::io("creating", &parent, e))?;
    let copy = scratch.path().join("tree");
    write_output(root, &OutputMode::Copy(copy.clone()), outputs, files)?;
    let mut command = std::process::Command::new("sh");
    command.arg("-c").arg(cmd).current_dir(&copy);
    let out = crate::process::run(&mut command, None, timeout).map_err(|e| match e {
        crate::process::RunError::Spawn { source, .. } => Error::io("running", "sh", source),
        other => Error::Process(other),
    })?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
    Err(Error::ValidateCmd { cmd: cmd.to_string(), status: out.status.code().unwrap_or(-1), last_line: last })
}

/// The line in the original file of a diagnostic reported in the rendered one: forms that add
/// lines (Python's new-line forms) shift what follows them.
fn original_line(spans: &Spans, rendered: &BTreeMap<String, String>, d: &Diagnostic) -> usize {
    let (Some(file_spans), Some(text)) = (spans.get(&d.file), rendered.get(&d.file)) else { return d.line };
    let line_start = text.split_inclusive('\n').take(d.line.saturating_sub(1)).map(str::len).sum::<usize>();
    let added: usize =
        file_spans.iter().filter(|s| s.2 <= line_start).map(|s| text[s.1..s.2].matches('\n').count()).sum();
    d.line.saturating_sub(added)
}

/// A message with its numbers masked: an error the original already had still matches when the
/// message quotes a line that moved ("redefinition of unused 'f' from line 206" → "... line 209").
pub(crate) fn numbers_masked(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_number = false;
    for c in message.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// The state index recorded for a file's own edits, which belong to every construct of the file.
const FILE_EDIT: usize = usize::MAX;

/// Byte spans of the inserted text in each rendered file, per construct: (state index, start, end).
type Spans = BTreeMap<String, Vec<(usize, usize, usize)>>;

/// The instrumented text of every file with active constructs, plus the runtime files.
fn render(
    lang: &dyn LanguageSupport,
    group: &[&DiscoveredFile],
    file_edits: &[Vec<crate::construct::Edit>],
    states: &[State],
    active: &[usize],
) -> (BTreeMap<String, String>, Spans) {
    let mut by_file: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &i in active {
        by_file.entry(states[i].file).or_default().push(i);
    }
    let mut files = BTreeMap::new();
    let mut spans: Spans = BTreeMap::new();
    let mut sources: Vec<&SourceFile> = Vec::new();
    for (fi, idxs) in by_file {
        let f = group[fi];
        let (text, file_spans) = render_file(f, &file_edits[fi], states, &idxs);
        files.insert(f.source.rel.clone(), text);
        spans.insert(f.source.rel.clone(), file_spans);
        sources.push(&f.source);
    }
    for r in lang.runtime_files(&sources) {
        files.insert(r.rel, r.text);
    }
    (files, spans)
}

/// One file with its own edits and the current forms of the constructs `idxs` (states), and the
/// spans of what was inserted.
fn render_file(
    f: &DiscoveredFile,
    file_edits: &[crate::construct::Edit],
    states: &[State],
    idxs: &[usize],
) -> (String, Vec<(usize, usize, usize)>) {
    // The file's own edits (an import of the runtime) come first at equal offsets. An edit
    // several constructs ask for (the same import) is applied once and belongs to each of them.
    let mut edits: Vec<(Vec<usize>, &crate::construct::Edit)> =
        file_edits.iter().map(|e| (vec![FILE_EDIT], e)).collect();
    // Where each (offset, text) already is, so finding a shared edit costs no scan of the list.
    let mut at: HashMap<(usize, &str), usize> =
        edits.iter().enumerate().map(|(n, (_, e))| ((e.offset, e.text.as_str()), n)).collect();
    for &i in idxs {
        let c = &f.constructs[states[i].index];
        for e in &states[i].form(c).edits {
            match at.get(&(e.offset, e.text.as_str())) {
                Some(&n) => edits[n].0.push(i),
                None => {
                    at.insert((e.offset, e.text.as_str()), edits.len());
                    edits.push((vec![i], e));
                }
            }
        }
    }
    edits.sort_by_key(|(_, e)| e.offset);
    let mut shift = 0;
    let mut file_spans = Vec::new();
    for (owners, e) in &edits {
        let start = e.offset + shift;
        for &i in owners {
            file_spans.push((i, start, start + e.text.len()));
        }
        shift += e.text.len();
    }
    let refs: Vec<&crate::construct::Edit> = edits.iter().map(|(_, e)| *e).collect();
    (apply(&f.source.text, &refs), file_spans)
}

/// What one round's diagnostics say about its constructs.
#[derive(Default)]
struct Verdict {
    /// The constructs at fault, with the diagnostics that show it and how they were found
    /// (`pointed`: the diagnostic points into the construct's inserted text; `isolated`: checking
    /// its insertion without the others reproduces a failure).
    blamed: BTreeMap<usize, (Vec<Diagnostic>, &'static str)>,
    /// Files (indexes into the group) that fail with none of their constructs inserted: their
    /// runtime import, or the runtime beside them, does not compile there.
    broken: BTreeMap<usize, String>,
    /// Compiler runs spent isolating, and their time.
    runs: usize,
    elapsed: std::time::Duration,
}

/// What blaming needs besides one round's results.
struct BlameContext<'a> {
    lang: &'static dyn LanguageSupport,
    group: &'a [&'a DiscoveredFile],
    file_edits: &'a [Vec<crate::construct::Edit>],
    validator: &'a dyn Validator,
    root: &'a std::path::Path,
}

/// One isolation check: a file with only some of its constructs' insertions.
struct Probe {
    file: usize,
    set: Vec<usize>,
}

impl BlameContext<'_> {
    /// Exact blame. A new diagnostic that points into one insertion's text fails that
    /// construct. Every other one (no column, a column between insertions that share a line, a
    /// file-level or runtime-file error) makes its file a suspect: the file is checked with none
    /// of its constructs (a failure there is the file's, not a construct's), and then its suspects
    /// are split in halves and re-checked until single culprits remain (or a group that fails only
    /// together). The probes of every file go into the same checks, one probe per file per check,
    /// so compiler runs grow with the rounds of splitting, not with constructs.
    fn blame(
        &self,
        states: &[State],
        active: &[usize],
        spans: &Spans,
        rendered: &BTreeMap<String, String>,
        diags: &[&Diagnostic],
        known: &HashSet<(String, usize, String)>,
    ) -> Result<Verdict> {
        let mut verdict = Verdict::default();
        let file_of = |i: usize| self.group[states[i].file].source.rel.as_str();
        let folder = |rel: &str| rel.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        let mut unplaced: BTreeMap<usize, Vec<Diagnostic>> = BTreeMap::new();
        let mut line_cache: BTreeMap<String, Vec<(usize, usize, usize, usize)>> = BTreeMap::new();
        for d in diags {
            let in_file: Vec<usize> = active.iter().copied().filter(|&i| file_of(i) == d.file).collect();
            let Some(&first) = in_file.first() else {
                // A runtime file, no file at all, or a file without insertions: every file with
                // insertions in that folder (every file, when none is named) is a suspect.
                let dir = folder(&d.file);
                for &i in active {
                    if d.file.is_empty() || folder(file_of(i)) == dir {
                        unplaced.entry(states[i].file).or_default().push((*d).clone());
                    }
                }
                continue;
            };
            let text = rendered.get(&d.file).map(String::as_str).unwrap_or("");
            let line_spans = line_cache.entry(d.file.clone()).or_insert_with(|| line_spans(spans.get(&d.file), text));
            let owners: Vec<usize> = match d.column {
                Some(col) => {
                    line_spans.iter().filter(|s| s.1 == d.line && s.2 <= col && col < s.3).map(|s| s.0).collect()
                }
                None => Vec::new(),
            };
            if owners.is_empty() || owners.contains(&FILE_EDIT) {
                unplaced.entry(states[first].file).or_default().push((*d).clone());
            } else {
                for o in owners {
                    let e = verdict.blamed.entry(o).or_insert_with(|| (Vec::new(), "pointed"));
                    e.0.push((*d).clone());
                }
            }
        }
        if unplaced.is_empty() {
            return Ok(verdict);
        }
        // The suspects of each file, in source order; constructs already pointed at are out.
        let mut suspects: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &i in active {
            if unplaced.contains_key(&states[i].file) && !verdict.blamed.contains_key(&i) {
                suspects.entry(states[i].file).or_default().push(i);
            }
        }
        for set in suspects.values_mut() {
            set.sort_by_key(|&i| self.group[states[i].file].constructs[states[i].index].start);
        }
        // First: each file with none of its constructs, and, where some construct was pointed at,
        // the file without that one (the rest may be fine).
        let mut probes: Vec<Probe> = Vec::new();
        for &f in unplaced.keys() {
            probes.push(Probe { file: f, set: Vec::new() });
            let pointed_here = verdict.blamed.keys().any(|&i| states[i].file == f);
            if pointed_here && suspects.get(&f).is_some_and(|s| !s.is_empty()) {
                probes.push(Probe { file: f, set: suspects[&f].clone() });
            }
        }
        let results = self.run_probes(states, &probes, known, &mut verdict)?;
        let mut failing: Vec<(usize, Vec<usize>, Vec<Diagnostic>)> = Vec::new();
        for (&f, diags) in &unplaced {
            let alone =
                probes.iter().zip(&results).find(|(p, _)| p.file == f && p.set.is_empty()).and_then(|(_, r)| r.clone());
            if let Some(ds) = alone {
                let first = ds.first().map(Diagnostic::render).unwrap_or_default();
                verdict.broken.insert(f, format!("the file does not compile with none of its constructs inserted (only the runtime and its import): {first}"));
                continue;
            }
            let Some(set) = suspects.get(&f).filter(|s| !s.is_empty()) else { continue };
            let rest = probes.iter().zip(&results).find(|(p, _)| p.file == f && !p.set.is_empty());
            match rest {
                Some((_, Some(ds))) => failing.push((f, set.clone(), ds.clone())),
                Some((_, None)) => {}
                None => failing.push((f, set.clone(), diags.clone())),
            }
        }
        while !failing.is_empty() {
            let mut probes = Vec::new();
            let mut parents = Vec::new();
            for (f, set, diags) in failing.drain(..) {
                if set.len() == 1 {
                    verdict.blamed.insert(set[0], (diags, "isolated"));
                    continue;
                }
                let (a, b) = set.split_at(set.len() / 2);
                probes.push(Probe { file: f, set: a.to_vec() });
                probes.push(Probe { file: f, set: b.to_vec() });
                parents.push((f, set, diags));
            }
            if probes.is_empty() {
                break;
            }
            let results = self.run_probes(states, &probes, known, &mut verdict)?;
            for (n, (f, set, diags)) in parents.into_iter().enumerate() {
                let (ra, rb) = (&results[2 * n], &results[2 * n + 1]);
                if ra.is_none() && rb.is_none() {
                    // Each half checks clean alone: the failure needs insertions from both.
                    for &i in &set {
                        verdict.blamed.insert(i, (diags.clone(), "isolated"));
                    }
                    continue;
                }
                for (probe, r) in [(&probes[2 * n], ra), (&probes[2 * n + 1], rb)] {
                    if let Some(ds) = r {
                        failing.push((f, probe.set.clone(), ds.clone()));
                    }
                }
            }
        }
        Ok(verdict)
    }

    /// Runs the probes, one probe per file in each check; for each probe, the new diagnostics of
    /// its file (or of its folder's runtime files), `None` when it checks clean.
    fn run_probes(
        &self,
        states: &[State],
        probes: &[Probe],
        known: &HashSet<(String, usize, String)>,
        verdict: &mut Verdict,
    ) -> Result<Vec<Option<Vec<Diagnostic>>>> {
        let mut results: Vec<Option<Vec<Diagnostic>>> = vec![None; probes.len()];
        for slot in one_per_file(probes.iter().map(|p| p.file)) {
            let mut files = BTreeMap::new();
            let mut spans: Spans = BTreeMap::new();
            let mut sources = Vec::new();
            for &n in &slot {
                let p = &probes[n];
                let f = self.group[p.file];
                let (text, file_spans) = render_file(f, &self.file_edits[p.file], states, &p.set);
                files.insert(f.source.rel.clone(), text);
                spans.insert(f.source.rel.clone(), file_spans);
                sources.push(&f.source);
            }
            for r in self.lang.runtime_files(&sources) {
                files.insert(r.rel, r.text);
            }
            let check = self.validator.check(self.root, &files)?;
            verdict.runs += check.runs;
            verdict.elapsed += check.elapsed;
            for d in &check.diagnostics {
                if known.contains(&(d.file.clone(), original_line(&spans, &files, d), numbers_masked(&d.message))) {
                    continue;
                }
                let dir = d.file.rsplit_once('/').map_or("", |(d, _)| d);
                for &n in &slot {
                    let rel = &self.group[probes[n].file].source.rel;
                    let same = *rel == d.file
                        || (!spans.contains_key(&d.file)
                            && (d.file.is_empty() || rel.rsplit_once('/').map_or("", |(d, _)| d) == dir));
                    if same {
                        results[n].get_or_insert_with(Vec::new).push(d.clone());
                    }
                }
            }
        }
        Ok(results)
    }
}

/// Groups items (given by the file each belongs to) into checks holding at most one item per
/// file: the k-th item of a file goes into the k-th check. Returns item indexes per check.
pub(crate) fn one_per_file(files: impl IntoIterator<Item = usize>) -> Vec<Vec<usize>> {
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let mut slots: Vec<Vec<usize>> = Vec::new();
    for (n, file) in files.into_iter().enumerate() {
        let k = seen.entry(file).or_insert(0);
        if *k == slots.len() {
            slots.push(Vec::new());
        }
        slots[*k].push(n);
        *k += 1;
    }
    slots
}

/// (state, line, start column, end column) of every insertion of one rendered file; 1-based
/// columns in bytes.
fn line_spans(spans: Option<&Vec<(usize, usize, usize)>>, text: &str) -> Vec<(usize, usize, usize, usize)> {
    spans
        .map(|v| {
            v.iter()
                .map(|&(i, s, e)| {
                    let line = line_of(text, s);
                    let line_start = text[..s].rfind('\n').map_or(0, |p| p + 1);
                    (i, line, s - line_start + 1, e - line_start + 1)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Applies the passed constructs' forms and records what was left out.
fn finish(
    lang: &dyn LanguageSupport,
    group: &[&DiscoveredFile],
    file_edits: &[Vec<crate::construct::Edit>],
    states: &[State],
    summary: &mut Summary,
    outputs: &mut BTreeMap<String, String>,
) {
    let passed: Vec<usize> = (0..states.len()).filter(|&i| states[i].status == Status::Passed).collect();
    summary.constructs_instrumented += passed.len();
    for s in states {
        if let Status::Failed(reason) = &s.status {
            let c = &group[s.file].constructs[s.index];
            summary.left_out.push(LeftOut {
                file: group[s.file].source.rel.clone(),
                line: c.line,
                construct_type: c.kind.as_str(),
                function: c.function.clone(),
                reason: reason.clone(),
            });
        }
    }
    let (files, _) = render(lang, group, file_edits, states, &passed);
    for (rel, text) in files {
        if lang.is_runtime_file(&rel) {
            // JavaScript and TypeScript files of one folder share the runtime file.
            if !summary.runtime_files.contains(&rel) {
                summary.runtime_files.push(rel.clone());
            }
        }
        outputs.insert(rel, text);
    }
}

/// The form id of snippets written by a model.
pub const LLM_FORM: &str = "llm";

/// Records on a learning what steered the attempt: the lessons applied (or that learning was
/// off, or that the construct explored), how a failure was blamed, and for a model's snippet the
/// generator, the patterns its prompt carried and its token usage.
fn annotate(l: &mut Learning, generator: Generator<'_>, s: &State, opts: &InstrumentOptions, blame: Option<&str>) {
    if !opts.learning.apply {
        l.context.insert(LEARNING_KEY.into(), "off".into());
    }
    let applied = if s.by_model { &s.carried } else { &s.applied };
    if !applied.is_empty() {
        l.context.insert(APPLIED_KEY.into(), serde_json::to_string(applied).unwrap_or_default());
    }
    if s.explored {
        l.context.insert("explore".into(), "1".into());
    }
    if let Some(how) = blame {
        l.context.insert("blame".into(), how.into());
    }
    if let Some(why) = &s.fallback {
        l.generator = Some(format!("template (fallback from {})", generator.label()));
        l.context.insert("fallback".into(), why.clone());
    }
    if s.by_model {
        l.generator = Some(generator.label());
        l.context.insert("patterns".into(), s.carried.join(","));
        l.context.insert("tokens".into(), format!("{}/{}", s.usage.0, s.usage.1));
    }
}

/// A construct the model did not get right within its attempts (or never answered) is tried with
/// the template forms, so an LLM run never instruments less than an offline one; with
/// `--no-fallback` it is left out with `why`.
fn fall_back(s: &mut State, opts: &InstrumentOptions, llm: &LlmGenerator, why: &str, summary: &mut Summary) {
    s.custom = None;
    if !llm.fallback() {
        s.status = Status::Failed(why.to_string());
        return;
    }
    s.by_model = false;
    s.fallback = Some(why.to_string());
    s.pos = 0;
    s.budget = s.attempts.saturating_add(opts.max_attempts);
    s.status = Status::Pending;
    summary.constructs_fallen_back += 1;
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::path::Path;

    use super::*;
    use crate::validate::Check;

    /// A per-file checker that reports, for every file where `culprit`'s insertion is present,
    /// one diagnostic no insertion owns (line 1, no column), as a syntax error far from its cause
    /// does; and optionally one diagnostic pointing into the culprit's inserted text.
    struct FakeChecker {
        culprit: &'static str,
        pointed: bool,
        broken: bool,
        calls: Cell<usize>,
    }

    impl Validator for FakeChecker {
        fn language(&self) -> &'static str {
            "python"
        }
        fn available(&self) -> Result<()> {
            Ok(())
        }
        fn compiled_files(&self, _root: &Path) -> Result<Option<std::collections::BTreeSet<String>>> {
            Ok(None)
        }
        fn per_file(&self) -> bool {
            true
        }
        fn check(&self, _root: &Path, files: &BTreeMap<String, String>) -> Result<Check> {
            self.calls.set(self.calls.get() + 1);
            let mut diagnostics = Vec::new();
            for (rel, text) in files.iter().filter(|(k, _)| k.ends_with("app.py")) {
                if self.broken && text.contains("import") && text.contains("_teleforge") {
                    diagnostics.push(Diagnostic { file: rel.clone(), line: 1, column: None, message: "broken".into() });
                }
                // The name appears once in the original (`def culprit_fn`); more means inserted.
                if text.matches(self.culprit).count() > 1 {
                    diagnostics.push(Diagnostic {
                        file: rel.clone(),
                        line: 1,
                        column: None,
                        message: "SyntaxError: invalid syntax".into(),
                    });
                    if self.pointed {
                        let at = text.rfind(self.culprit).unwrap_or(0);
                        let line = line_of(text, at);
                        let col = at - text[..at].rfind('\n').map_or(0, |p| p + 1) + 1;
                        diagnostics.push(Diagnostic {
                            file: rel.clone(),
                            line,
                            column: Some(col),
                            message: "NameError: pointed".into(),
                        });
                    }
                }
            }
            Ok(Check { diagnostics, runs: 1, ..Default::default() })
        }
    }

    fn app(functions: usize) -> (tempfile::TempDir, Vec<DiscoveredFile>) {
        let tmp = tempfile::tempdir().unwrap();
        let mut src = String::new();
        for i in 0..functions {
            let name = if i == functions / 3 { "culprit_fn".to_string() } else { format!("fine_{i}") };
            src.push_str(&format!("def {name}(a):\n    b = a + 1\n    return b\n\n\n"));
        }
        std::fs::write(tmp.path().join("app.py"), src).unwrap();
        let files = crate::discover::discover(tmp.path(), &Default::default()).unwrap();
        (tmp, files)
    }

    fn blame_all(checker: &FakeChecker, files: &[DiscoveredFile]) -> (Vec<State>, Verdict) {
        let group: Vec<&DiscoveredFile> = files.iter().collect();
        let lang = group[0].language;
        let file_edits: Vec<Vec<crate::construct::Edit>> = group.iter().map(|f| f.file_edits.clone()).collect();
        let states: Vec<State> =
            group[0].constructs.iter().enumerate().map(|(ci, c)| State::new(0, ci, c.forms.len(), false, 3)).collect();
        let active: Vec<usize> = (0..states.len()).collect();
        let (rendered, spans) = render(lang, &group, &file_edits, &states, &active);
        let check = checker.check(Path::new("."), &rendered).unwrap();
        let known = HashSet::new();
        let ctx =
            BlameContext { lang, group: &group, file_edits: &file_edits, validator: checker, root: Path::new(".") };
        let diags: Vec<&Diagnostic> = check.diagnostics.iter().collect();
        let verdict = ctx.blame(&states, &active, &spans, &rendered, &diags, &known).unwrap();
        (states, verdict)
    }

    fn culprits(files: &[DiscoveredFile], states: &[State], verdict: &Verdict) -> Vec<String> {
        verdict.blamed.keys().map(|&i| files[0].constructs[states[i].index].function.clone()).collect()
    }

    #[test]
    fn a_diagnostic_no_insertion_owns_is_isolated_to_its_culprit_in_log_n_checks() {
        let (_tmp, files) = app(40);
        let n = files[0].constructs.len();
        let checker = FakeChecker { culprit: "culprit_fn", pointed: false, broken: false, calls: Cell::new(0) };
        let (states, verdict) = blame_all(&checker, &files);
        let blamed = culprits(&files, &states, &verdict);
        // Every construct of culprit_fn's insertions that carries the name; nothing else.
        assert!(!blamed.is_empty() && blamed.iter().all(|f| f.ends_with("culprit_fn")), "{blamed:?}");
        assert!(verdict.blamed.values().all(|(_, how)| *how == "isolated"));
        assert!(verdict.broken.is_empty());
        // One check of the file alone, then two per level of halving per culprit.
        let levels = (n as f64).log2().ceil() as usize;
        assert!(verdict.runs <= 1 + 2 * levels * blamed.len(), "{} runs for {n} constructs", verdict.runs);
        assert!(verdict.runs < n / 2, "{} runs for {n} constructs", verdict.runs);
    }

    #[test]
    fn a_diagnostic_pointing_into_an_insertion_blames_that_insertion_only() {
        let (_tmp, files) = app(12);
        let checker = FakeChecker { culprit: "culprit_fn", pointed: true, broken: false, calls: Cell::new(0) };
        let (states, verdict) = blame_all(&checker, &files);
        let blamed = culprits(&files, &states, &verdict);
        assert!(blamed.iter().all(|f| f.ends_with("culprit_fn")), "{blamed:?}");
        assert!(
            verdict.blamed.values().any(|(_, how)| *how == "pointed"),
            "{:?}",
            verdict.blamed.values().map(|v| v.1).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_file_that_fails_with_no_construct_inserted_blames_none() {
        let (_tmp, files) = app(8);
        let checker = FakeChecker { culprit: "no_such_name", pointed: false, broken: true, calls: Cell::new(0) };
        let (_, verdict) = blame_all(&checker, &files);
        assert!(verdict.blamed.is_empty(), "{:?}", verdict.blamed.keys().collect::<Vec<_>>());
        assert_eq!(verdict.broken.len(), 1);
        assert_eq!(verdict.runs, 1, "one check of the file with nothing inserted decides it");
    }

    #[test]
    fn checks_hold_at_most_one_item_per_file_and_as_few_checks_as_the_busiest_file_needs() {
        assert_eq!(one_per_file([0, 0, 1, 0, 2, 1]), vec![vec![0, 2, 4], vec![1, 5], vec![3]]);
        assert!(one_per_file(std::iter::empty()).is_empty());
    }

    #[test]
    fn exploration_share_is_reproducible_and_roughly_the_share_asked() {
        let n = 10_000;
        let exploring = (0..n).filter(|i| share_of(&format!("run-1|a.py:{i}:function")) < 0.1).count();
        assert!((800..1200).contains(&exploring), "{exploring}");
        assert_eq!(share_of("x"), share_of("x"));
    }
}
