//! dockerd's JSON progress messages, the stream that carries them, and the lease guard that
//! outlives a dropped stream.

use std::future::Future;
use std::time::{Duration, Instant};

use berth_api::Error;
use berth_api::image::{ProgressDetail, ProgressMessage};
use berth_backend::ProgressStream;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::containerd::Containerd;
use crate::lease::Lease;

/// How often a transfer reports its bytes (dockerd: every 100 ms).
const EVERY: Duration = Duration::from_millis(100);

/// Where an operation writes its progress.
#[derive(Clone)]
pub(crate) struct Progress {
    tx: mpsc::UnboundedSender<berth_api::Result<ProgressMessage>>,
}

impl Progress {
    fn send(&self, message: ProgressMessage) {
        // The receiver only goes away with the stream, which also drops the operation.
        let _ = self.tx.send(Ok(message));
    }

    /// `{"status": status}` (with `id` when not empty).
    pub(crate) fn status(&self, id: &str, status: &str) {
        self.send(ProgressMessage::status(id, status));
    }

    /// `{"status": status, "progressDetail": {}, "id": id}`: a layer's state change.
    pub(crate) fn layer(&self, id: &str, status: &str) {
        let mut m = ProgressMessage::status(id, status);
        m.progress_detail = Some(ProgressDetail::default());
        self.send(m);
    }

    /// A transfer step with its counters and dockerd's pre-rendered bar.
    pub(crate) fn bar(&self, id: &str, action: &str, current: i64, total: i64) {
        let mut m = ProgressMessage::status(id, action);
        m.progress_detail = Some(ProgressDetail { current, total, ..ProgressDetail::default() });
        m.progress = render_bar(current, total);
        self.send(m);
    }

    /// `{"progressDetail": {}, "aux": aux}`.
    pub(crate) fn aux(&self, aux: serde_json::Value) {
        self.send(ProgressMessage {
            progress_detail: Some(ProgressDetail::default()),
            aux: Some(aux),
            ..ProgressMessage::default()
        });
    }
}

/// Rate-limits byte counters to one message per [`EVERY`], plus the last one.
pub(crate) struct Ticker {
    last: Option<Instant>,
}

impl Ticker {
    pub(crate) fn new() -> Self {
        Self { last: None }
    }

    /// True when a message is due (always for the final count).
    pub(crate) fn due(&mut self, done: bool) -> bool {
        let now = Instant::now();
        if done || self.last.is_none_or(|t| now.duration_since(t) >= EVERY) {
            self.last = Some(now);
            return true;
        }
        false
    }
}

/// Runs `operation` as the stream's producer. The operation is polled by the stream itself, so
/// dropping the stream (the client went away) drops the operation at its next await: downloads
/// and uploads stop, and nothing keeps running detached. A failure becomes the stream's last
/// item.
pub(crate) fn run<F, Fut>(operation: F) -> ProgressStream
where
    F: FnOnce(Progress) -> Fut,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let progress = Progress { tx: tx.clone() };
    let work = operation(progress);
    let driver = futures_util::stream::once(async move {
        if let Err(e) = work.await {
            let _ = tx.send(Err(e));
        }
    })
    .filter_map(|()| async { None });
    futures_util::stream::select(UnboundedReceiverStream::new(rx), driver).boxed()
}

/// The lease of a pull or push. Dropping the operation mid-way drops the lease, which releases
/// itself (see [`Lease`]'s `Drop`).
pub(crate) struct LeaseGuard(Option<Lease>);

impl LeaseGuard {
    pub(crate) async fn create(conn: &Containerd) -> Result<Self, Error> {
        Ok(Self(Some(Lease::create(conn).await?)))
    }

    /// The connection whose calls are made inside the lease.
    pub(crate) fn conn(&self) -> Result<&Containerd, Error> {
        self.0.as_ref().map(Lease::conn).ok_or_else(|| Error::system("lease already released"))
    }

    pub(crate) async fn release(mut self) {
        if let Some(lease) = self.0.take() {
            lease.release().await;
        }
    }
}

/// `units.HumanSize`: decimal units, four significant digits (`2.151MB`).
pub(crate) fn human_size(size: i64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut value = size.max(0) as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let digits = if value < 1.0 { 1 } else { value.log10().floor() as usize + 1 };
    let decimals = 4usize.saturating_sub(digits);
    let mut text = format!("{value:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{text}{}", UNITS[unit])
}

/// `JSONProgress.String()` at dockerd's width: `[=====>     ]  1.2MB/2.3MB`.
pub(crate) fn render_bar(current: i64, total: i64) -> String {
    if total <= 0 {
        return format!("{:>8}", human_size(current));
    }
    let percent = ((current as f64 / total as f64 * 100.0) as i64 / 2).clamp(0, 50) as usize;
    let bar = format!("[{}>{}] ", "=".repeat(percent), " ".repeat(50 - percent));
    if current > total {
        return format!("{bar}{:>8}", human_size(current));
    }
    format!("{bar}{:>8}/{}", human_size(current), human_size(total))
}

/// dockerd's short ID of a digest: the first 12 hex characters.
pub(crate) fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_bars_render_like_jsonmessage() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(2_151_000), "2.151MB");
        assert_eq!(human_size(1_500), "1.5kB");
        assert_eq!(human_size(32_000_000), "32MB");
        let bar = render_bar(1_000, 2_000);
        assert_eq!(bar, format!("[{}>{}]      1kB/2kB", "=".repeat(25), " ".repeat(25)));
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
    }
}
