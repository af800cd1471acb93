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
