//! Logging: tracing-subscriber writing pretty or JSON lines, filtered by the configured directives.
//!
//! Field values may carry request input (ids from a path, a claimed key, an error's detail). In
//! text lines every control character in them is escaped, so that input can neither start a forged
//! line nor reach the reader's terminal as a command; JSON lines are escaped by their encoding.

use std::fmt;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};

use crate::config::{LogFormat, LogSettings};
use crate::escape::EscapingWriter;

/// Errors are reported as one line with their causes, the same way in every crate.
pub use userdir_core::report::error_chain;

/// Installs the global subscriber. Fails if the filter does not parse or one is already installed.
pub fn init(settings: &LogSettings) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&settings.filter)?;
    // Colour is for a person at a terminal, not for a file or a pipe.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    let installed = match settings.format {
        LogFormat::Pretty => builder.fmt_fields(EscapedFields::default()).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!(e))
}

/// The default `name=value` fields, with control characters escaped.
#[derive(Default)]
pub struct EscapedFields(DefaultFields);

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut escaping = EscapingWriter(&mut writer);
        self.0.format_fields(Writer::new(&mut escaping), fields)
    }
}
