//! The throwaway PostgreSQL of tests/common/pg.rs works: the cluster starts, every fresh database
//! is empty and apart from the others, and an immediate stop and a start leave it serving again.

use crate::common::pg;

#[test]
fn fresh_databases_are_apart() {
    let a = pg::fresh_database();
    let b = pg::fresh_database();
    assert_ne!(a.name, b.name);
    assert_ne!(a.url, b.url);
    let c = pg::cluster();
    c.psql(&a.name, "CREATE TABLE t (x INT); INSERT INTO t VALUES (7)");
    assert_eq!(c.psql(&a.name, "SELECT x FROM t"), "7");
    // b is another database: the table made in a is not there.
    let err = c.try_psql(&b.name, "SELECT x FROM t").unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(
        c.psql(
            &b.name,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ),
        "0"
    );
}

#[test]
fn an_immediate_stop_then_a_start_serves_again_with_the_data() {
    // A cluster of its own: stopping the shared one would cut the other tests of this binary off.
    let c = pg::private_cluster();
    let db = c.fresh_database();
    c.psql(&db.name, "CREATE TABLE t (x INT); INSERT INTO t VALUES (1)");
    c.stop_immediate();
    assert!(c.try_psql(&db.name, "SELECT 1").is_err(), "stopped");
    c.start();
    // Committed before the stop: still there after crash recovery.
    assert_eq!(c.psql(&db.name, "SELECT x FROM t"), "1");
}
