//! A log record's key-value pairs as strings, for test loggers that
//! capture what the crate logs.

/// The key-value pairs of `record`, in order, values as displayed.
pub fn pairs(record: &log::Record<'_>) -> Vec<(String, String)> {
    struct Collect(Vec<(String, String)>);
    impl<'kvs> log::kv::VisitSource<'kvs> for Collect {
        fn visit_pair(
            &mut self,
            key: log::kv::Key<'kvs>,
            value: log::kv::Value<'kvs>,
        ) -> Result<(), log::kv::Error> {
            self.0.push((key.to_string(), value.to_string()));
            Ok(())
        }
    }
    let mut collect = Collect(Vec::new());
    let _ = record.key_values().visit(&mut collect);
    collect.0
}

/// One captured record: its level, message and key-value pairs.
#[derive(Clone)]
pub struct Captured {
    pub level: log::Level,
    pub msg: String,
    pub pairs: Vec<(String, String)>,
}

static CAPTURED: std::sync::Mutex<Vec<Captured>> = std::sync::Mutex::new(Vec::new());

struct CapturingLogger;

impl log::Log for CapturingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let captured = Captured {
            level: record.level(),
            msg: record.args().to_string(),
            pairs: pairs(record),
        };
        CAPTURED.lock().unwrap().push(captured);
    }

    fn flush(&self) {}
}

/// Installs the capturing logger at debug level (once per test binary).
pub fn capture() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        log::set_logger(&CapturingLogger).expect("first logger");
        log::set_max_level(log::LevelFilter::Debug);
    });
}

/// Every record captured so far, oldest first.
pub fn captured() -> Vec<Captured> {
    CAPTURED.lock().unwrap().clone()
}
