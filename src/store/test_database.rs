//! A fresh PostgreSQL database per test, on the server `VERIGRADE_TEST_POSTGRES` names (a URL
//! whose role may create databases; `.ci/postgres` starts one). Without it the PostgreSQL half
//! of the store's tests is skipped, and says so; with `VERIGRADE_REQUIRE_POSTGRES=1` (CI) it
//! fails instead.

/// A database that lives as long as the test holds it.
pub struct TestDatabase {
    admin: String,
    name: String,
    pub url: String,
}

impl TestDatabase {
    /// A new, empty database for test `name`; `None` when no server is configured.
    pub fn create(name: &str) -> Option<TestDatabase> {
        let Ok(admin) = std::env::var("VERIGRADE_TEST_POSTGRES") else {
            assert!(
                std::env::var("VERIGRADE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "VERIGRADE_REQUIRE_POSTGRES=1 but VERIGRADE_TEST_POSTGRES names no server"
            );
            eprintln!(
                "skipped: {name} on PostgreSQL (set VERIGRADE_TEST_POSTGRES to a server URL; .ci/postgres starts one)"
            );
            return None;
        };
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let name = format!("vg_{safe}_{}", std::process::id()).to_lowercase();
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("VERIGRADE_TEST_POSTGRES={admin}: {e}"));
        // One statement per call: neither may run inside the transaction a batch makes.
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        Some(TestDatabase { admin, name, url })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
