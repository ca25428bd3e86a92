//! Captures every log line (all crates, TRACE level, JSON) written while a future runs on the
//! current thread — the handlers' tasks included, on a current-thread runtime.

use std::io::Write;
use std::sync::{Arc, Mutex, Once};

use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber, span};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Runs `f` with every log event captured.
    pub async fn capture<F: std::future::Future>(&self, f: F) -> F::Output {
        install_global_subscriber();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(self.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        f.await
    }
}

/// The process-wide subscriber, installed once before any capture: the test-writer logger when
/// `TEST_LOG` is set, otherwise one that records nothing.
///
/// Either way it must exist. tracing caches each callsite's interest process-wide, and while a
/// capture is the only registered dispatcher, a callsite first reached on a thread without a
/// subscriber is cached as `never` — and the capturing thread then loses that line
/// (tokio-rs/tracing#3611). With a second, permanent dispatcher the interest is computed over
/// both: `sometimes`, asked again at every event.
pub fn install_global_subscriber() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init()
                .map_err(|_| ())
        } else {
            tracing::subscriber::set_global_default(RecordsNothing).map_err(|_| ())
        };
    });
}

/// Interested in every callsite `sometimes`, enabled for none.
struct RecordsNothing;

impl Subscriber for RecordsNothing {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::CapturedLogs;

    fn probe() {
        tracing::info!("probe line");
    }

    /// A line first reached on a thread without a subscriber, while a capture is live on
    /// another, still reaches the capture when the capturing thread logs it.
    #[test]
    fn a_line_first_logged_on_a_bare_thread_is_still_captured() {
        let logs = CapturedLogs::default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(logs.capture(async {
            std::thread::spawn(probe).join().unwrap();
            probe();
        }));
        assert!(logs.text().contains("probe line"), "{}", logs.text());
    }
}
