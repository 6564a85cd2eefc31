//! dockerd's `Loading layer` progress lines, with the pre-rendered bar it still sends.

use berth_api::image::{ProgressDetail, ProgressMessage};

/// `{"status":"Loading layer","progressDetail":{..},"progress":"[==>  ] 1kB/2kB","id":..}`.
pub(super) fn loading_layer(id: &str, current: u64, total: u64) -> ProgressMessage {
    let current = i64::try_from(current).unwrap_or(i64::MAX);
    let total = i64::try_from(total).unwrap_or(i64::MAX);
    ProgressMessage {
        status: "Loading layer".to_owned(),
        progress_detail: Some(ProgressDetail { current, total, ..ProgressDetail::default() }),
        progress: bar(current, total),
        id: id.to_owned(),
        ..ProgressMessage::default()
    }
}

/// Go's `JSONProgress.String` at the daemon's default width (200 columns: bar shown).
fn bar(current: i64, total: i64) -> String {
    if current <= 0 && total <= 0 {
        return String::new();
    }
    if total <= 0 {
        return format!("{:>8}", human_size(current as f64));
    }
    let percentage = ((current as f64 / total as f64 * 100.0) as i64 / 2).clamp(0, 50) as usize;
    let bar = format!("[{}>{}] ", "=".repeat(percentage), " ".repeat(50 - percentage));
    let numbers = if current > total {
        format!("{:>8}", human_size(current as f64))
    } else {
        format!("{:>8}/{}", human_size(current as f64), human_size(total as f64))
    };
    bar + &numbers
}

/// go-units' `HumanSize`: decimal units, four significant digits (`10.24kB`, `512B`, `1MB`).
fn human_size(mut size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", four_significant(size), UNITS[unit])
}

/// `%.4g` for values below 10000: four significant digits, trailing zeros dropped.
fn four_significant(value: f64) -> String {
    let integer_digits = if value < 1.0 { 1 } else { value.log10().floor() as i32 + 1 };
    let decimals = (4 - integer_digits).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_render_like_dockerd() {
        // Captured from dockerd 20.10 loading a 10240-byte layer.
        assert_eq!(
            loading_layer("f2bc77864562", 10240, 10240).progress,
            "[==================================================>]  10.24kB/10.24kB"
        );
        assert_eq!(bar(2048, 2048), format!("[{}>]  2.048kB/2.048kB", "=".repeat(50)));
        assert_eq!(human_size(512.0), "512B");
        assert_eq!(human_size(1_000_000.0), "1MB");
        assert_eq!(human_size(1_234_567.0), "1.235MB");
        assert_eq!(bar(0, 0), "");
    }
}
