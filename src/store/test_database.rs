//! A fresh PostgreSQL database per test, on the server `VERIGRADE_TEST_POSTGRES` names (a URL
//! whose role may create databases; `.ci/postgres` starts one). Without it the PostgreSQL half
//! of the store's tests is skipped, and says so; with `VERIGRADE_REQUIRE_POSTGRES=1` (CI) it
//! fails instead. Test support, shared by the library's tests and the system tests.

/// The test server's URL; `None`, said on stderr, when there is none and none is required.
pub fn server(test: &str) -> Option<String> {
    match std::env::var("VERIGRADE_TEST_POSTGRES") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("VERIGRADE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "VERIGRADE_REQUIRE_POSTGRES=1 but VERIGRADE_TEST_POSTGRES names no server"
            );
            eprintln!(
                "skipped: {test} on PostgreSQL (set VERIGRADE_TEST_POSTGRES to a server URL; .ci/postgres starts one)"
            );
            None
        }
    }
}

/// A database that lives as long as the test holds it.
pub struct TestDatabase {
    admin: String,
    name: String,
    pub url: String,
}

impl TestDatabase {
    /// A new, empty database for test `name` on the test server; `None` when there is none.
    pub fn create(name: &str) -> Option<TestDatabase> {
        Some(TestDatabase::on(&server(name)?, name))
    }

    /// A new, empty database for test `name` on the server at `admin`.
    pub fn on(admin: &str, name: &str) -> TestDatabase {
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let name = format!("vg_{safe}_{}", std::process::id()).to_lowercase();
        let mut client = postgres::Client::connect(admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
        // One statement per call: neither may run inside the transaction a batch makes.
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
        let url = format!("{base}/{name}");
        TestDatabase {
            admin: admin.to_owned(),
            name,
            url,
        }
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
