//! The store, one binary: the contract every store keeps, written once and run on SQLite (a temp
//! file) and on PostgreSQL (a fresh database on the throwaway cluster of `tests/common/pg.rs`,
//! directly and through PgBouncer in transaction mode);
//! what only one of them has (SQLite's schema check; PostgreSQL's replicas, counts and TLS
//! through real `ragkeys serve` processes); and the throwaway cluster itself.

#[path = "../common/mod.rs"]
mod common;

mod contract;
mod fixture;
mod pg_counts;
mod pg_harness;
mod pg_outbox;
mod pg_serve;
mod pg_tls;
mod sqlite_only;

/// One `#[tokio::test]` per contract case for the store that `$fresh` (an async fn returning a
/// [`fixture::Fixture`]) opens. The list of cases is here once, so that both stores run all of
/// them.
macro_rules! contract_suite {
    ($fresh:path) => {
        contract_suite!(@cases $fresh;
            the_key_cap_holds_under_concurrent_issues,
            keys_list_newest_first_and_delete_frees_the_slot,
            the_idempotency_record_commits_with_its_key,
            services_are_unique_capped_and_take_their_keys_along,
            tokens_are_found_by_digest_unique_by_name_and_revoked_by_name_or_listing,
            console_tokens_share_a_name_that_people_neither_take_nor_revoke,
            a_reopened_store_keeps_its_data_and_a_closed_one_refuses_work,
            first_time_setup_happens_once_across_connections,
            get_key_tells_a_live_key_from_a_deleted_one_and_a_gone_service,
            a_rotation_shares_the_slot_and_its_old_key_retires_once,
            a_patch_changes_only_what_differs_and_audits_each_kind_once,
            a_patch_refuses_what_the_lifecycle_forbids,
            a_rotation_keeps_the_name_and_the_lifetime_and_zero_grace_retires_at_once,
            a_rotation_with_the_successors_own_expiry_keeps_it,
            keys_are_counted_by_state_with_rotated_over_disabled_over_expired,
            a_use_is_recorded_never_backwards_and_the_newest_address_wins,
            usage_counts_add_up_per_bucket_and_old_buckets_are_pruned,
            usage_keeps_reasons_scopes_and_networks_per_day_and_prunes_them,
            the_whole_trail_pages_newest_first_and_keeps_deleted_services,
            a_key_is_found_by_its_digest_in_any_state_until_it_is_deleted,
            settings_are_set_again_or_initialised_once,
            a_policy_is_kept_changed_with_its_changes_audited_and_inherited,
            a_leak_report_disables_marks_retires_or_leaves_each_key,
            every_removal_leaves_a_tombstone_for_400_days,
            a_retired_key_stays_known_as_stopped_until_its_service_goes,
            a_leaked_stopped_key_rotates_without_grace,
            notices_fan_out_and_are_claimed_retried_and_finished,
            a_service_counts_the_keys_that_need_attention_as_the_api_rule_does,
        );
    };
    (@cases $fresh:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                crate::contract::$case($fresh().await).await;
            }
        )*
    };
}

/// The contract on SQLite.
mod on_sqlite {
    contract_suite!(crate::fixture::sqlite);
}

/// The contract on PostgreSQL.
mod on_postgres {
    contract_suite!(crate::fixture::postgres);
}

/// The contract on PostgreSQL through PgBouncer in transaction mode.
mod on_pgbouncer {
    contract_suite!(crate::fixture::pgbouncer);
}
