//! Diesel table definitions. Only SQL types that both PostgreSQL and SQLite support
//! (`diesel::MultiConnection` requires it): ids and money are BigInt, times are UTC Timestamps.

diesel::table! {
    organisations (id) {
        id -> BigInt,
        slug -> Text,
        kind -> Text,
        parent_id -> Nullable<BigInt>,
        name_zh -> Text,
        name_en -> Text,
        invoice_title -> Text,
        uscc -> Text,
        address -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    provinces (id) {
        id -> BigInt,
        code -> Text,
        name_zh -> Text,
        name_en -> Text,
    }
}

diesel::table! {
    counties (id) {
        id -> BigInt,
        code -> Text,
        province_id -> BigInt,
        name_zh -> Text,
        name_en -> Text,
        aided -> Bool,
        pairing_org_id -> Nullable<BigInt>,
        description_zh -> Text,
        description_en -> Text,
    }
}

diesel::table! {
    producers (id) {
        id -> BigInt,
        code -> Text,
        county_id -> BigInt,
        kind -> Text,
        name_zh -> Text,
        name_en -> Text,
        description_zh -> Text,
        description_en -> Text,
        settlement_period -> Text,
    }
}

diesel::table! {
    products (id) {
        id -> BigInt,
        code -> Text,
        producer_id -> BigInt,
        name_zh -> Text,
        name_en -> Text,
        description_zh -> Text,
        description_en -> Text,
        aid_cert_no -> Nullable<Text>,
        aid_cert_expires -> Nullable<Date>,
        listed -> Bool,
        search_text -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    skus (id) {
        id -> BigInt,
        code -> Text,
        product_id -> BigInt,
        name_zh -> Text,
        name_en -> Text,
        unit_zh -> Text,
        unit_en -> Text,
        price_fen -> BigInt,
        stock -> BigInt,
        max_points_pct -> Integer,
        low_stock_threshold -> BigInt,
        charity_donation_fen -> BigInt,
        listed -> Bool,
        charity_project_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    sku_price_tiers (id) {
        id -> BigInt,
        sku_id -> BigInt,
        min_quantity -> BigInt,
        price_fen -> BigInt,
    }
}

diesel::table! {
    campaigns (id) {
        id -> BigInt,
        slug -> Text,
        organiser_org_id -> Nullable<BigInt>,
        name_zh -> Text,
        name_en -> Text,
        description_zh -> Text,
        description_en -> Text,
        starts_on -> Date,
        ends_on -> Nullable<Date>,
        year_round -> Bool,
        target_fen -> BigInt,
    }
}

diesel::table! {
    campaign_products (campaign_id, product_id) {
        campaign_id -> BigInt,
        product_id -> BigInt,
    }
}

diesel::table! {
    campaign_prices (campaign_id, sku_id) {
        campaign_id -> BigInt,
        sku_id -> BigInt,
        price_fen -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        password_hash -> Text,
        display_name -> Text,
        province_id -> Nullable<BigInt>,
        disabled -> Bool,
        created_at -> Timestamp,
        verified -> Bool,
    }
}

diesel::table! {
    user_roles (user_id, role) {
        user_id -> BigInt,
        role -> Text,
    }
}

diesel::table! {
    memberships (user_id, org_id) {
        user_id -> BigInt,
        org_id -> BigInt,
        is_admin -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    producer_managers (user_id, producer_id) {
        user_id -> BigInt,
        producer_id -> BigInt,
    }
}

diesel::table! {
    points_accounts (id) {
        id -> BigInt,
        user_id -> Nullable<BigInt>,
        org_id -> Nullable<BigInt>,
        balance -> BigInt,
    }
}

diesel::table! {
    points_lots (id) {
        id -> BigInt,
        account_id -> BigInt,
        granted -> BigInt,
        remaining -> BigInt,
        expires_at -> Timestamp,
        reason -> Text,
        granted_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        funder -> Text,
        funder_org_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    points_entries (id) {
        id -> BigInt,
        account_id -> BigInt,
        kind -> Text,
        points -> BigInt,
        lot_id -> Nullable<BigInt>,
        reference -> Text,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(counties -> provinces (province_id));
diesel::joinable!(counties -> organisations (pairing_org_id));
diesel::joinable!(producers -> counties (county_id));
diesel::joinable!(products -> producers (producer_id));
diesel::joinable!(skus -> products (product_id));
diesel::joinable!(sku_price_tiers -> skus (sku_id));
diesel::joinable!(campaigns -> organisations (organiser_org_id));
diesel::joinable!(campaign_products -> campaigns (campaign_id));
diesel::joinable!(campaign_products -> products (product_id));
diesel::joinable!(campaign_prices -> campaigns (campaign_id));
diesel::joinable!(campaign_prices -> skus (sku_id));
diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(memberships -> organisations (org_id));
diesel::joinable!(producer_managers -> users (user_id));
diesel::joinable!(producer_managers -> producers (producer_id));
diesel::joinable!(points_lots -> points_accounts (account_id));
diesel::joinable!(points_entries -> points_accounts (account_id));

diesel::table! {
    orders (id) {
        id -> BigInt,
        order_no -> Text,
        buyer_id -> BigInt,
        org_id -> Nullable<BigInt>,
        channel -> Text,
        category -> Text,
        campaign_id -> BigInt,
        status -> Text,
        total_fen -> BigInt,
        points_used -> BigInt,
        points_value_fen -> BigInt,
        cash_due_fen -> BigInt,
        refunded_cash_fen -> BigInt,
        refunded_points -> BigInt,
        address -> Text,
        payment_deadline -> Timestamp,
        created_at -> Timestamp,
        paid_at -> Nullable<Timestamp>,
        received_at -> Nullable<Timestamp>,
        stock_reserved -> Bool,
    }
}

diesel::table! {
    order_lines (id) {
        id -> BigInt,
        order_id -> BigInt,
        sku_id -> BigInt,
        producer_id -> BigInt,
        quantity -> BigInt,
        unit_price_fen -> BigInt,
        line_total_fen -> BigInt,
        points -> BigInt,
        points_value_fen -> BigInt,
        cash_fen -> BigInt,
        refunded_quantity -> BigInt,
        recipient_id -> Nullable<BigInt>,
        refunded_cash_fen -> BigInt,
        refunded_points -> BigInt,
        refunded_pv_fen -> BigInt,
    }
}

diesel::table! {
    order_recipients (id) {
        id -> BigInt,
        order_id -> BigInt,
        name -> Text,
        mobile -> Text,
        address -> Text,
    }
}

diesel::table! {
    order_events (id) {
        id -> BigInt,
        order_id -> BigInt,
        from_status -> Nullable<Text>,
        to_status -> Text,
        note -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    payments (id) {
        id -> BigInt,
        payment_id -> Text,
        order_id -> BigInt,
        gateway -> Text,
        amount_fen -> BigInt,
        status -> Text,
        created_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    payment_events (event_id) {
        event_id -> Text,
        payment_id -> Text,
        outcome -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    refunds (id) {
        id -> BigInt,
        order_id -> BigInt,
        cash_fen -> BigInt,
        points -> BigInt,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    refund_lines (refund_id, order_line_id) {
        refund_id -> BigInt,
        order_line_id -> BigInt,
        quantity -> BigInt,
        cash_fen -> BigInt,
        points -> BigInt,
    }
}

diesel::table! {
    stock_movements (id) {
        id -> BigInt,
        sku_id -> BigInt,
        delta -> BigInt,
        reason -> Text,
        order_id -> Nullable<BigInt>,
        user_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        stock_before -> Nullable<BigInt>,
        stock_after -> Nullable<BigInt>,
    }
}

diesel::table! {
    idempotency_keys (user_id, idem_key) {
        user_id -> BigInt,
        idem_key -> Text,
        request_hash -> Text,
        response_status -> Integer,
        response_body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        template -> Text,
        recipient -> Text,
        context -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

// Cooperative portal
diesel::table! {
    shipments (id) {
        id -> BigInt,
        order_id -> BigInt,
        producer_id -> BigInt,
        recipient_id -> Nullable<BigInt>,
        carrier -> Text,
        tracking_no -> Text,
        shipped_by -> BigInt,
        shipped_at -> Timestamp,
        received_at -> Nullable<Timestamp>,
        received_by -> Nullable<BigInt>,
        after_sales_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    product_images (id) {
        id -> BigInt,
        product_id -> BigInt,
        file_name -> Text,
        content_type -> Text,
        bytes -> BigInt,
        uploaded_by -> BigInt,
        created_at -> Timestamp,
        width -> Integer,
        widths -> Text,
    }
}

diesel::joinable!(order_lines -> orders (order_id));
diesel::joinable!(order_lines -> skus (sku_id));
diesel::joinable!(order_lines -> producers (producer_id));
diesel::joinable!(order_recipients -> orders (order_id));
diesel::joinable!(order_lines -> order_recipients (recipient_id));
diesel::joinable!(order_events -> orders (order_id));
diesel::joinable!(payments -> orders (order_id));
diesel::joinable!(refunds -> orders (order_id));
diesel::joinable!(orders -> campaigns (campaign_id));
diesel::joinable!(orders -> users (buyer_id));

// Credits: the verifiable ledger, donations, charity hours.

diesel::table! {
    donation_projects (id) {
        id -> BigInt,
        slug -> Text,
        campaign_id -> BigInt,
        name_zh -> Text,
        name_en -> Text,
        description_zh -> Text,
        description_en -> Text,
        milestone_fen -> BigInt,
        organiser_email -> Text,
        active -> Bool,
    }
}

diesel::table! {
    donations (id) {
        id -> BigInt,
        project_id -> BigInt,
        user_id -> BigInt,
        points -> BigInt,
        value_fen -> BigInt,
        province_id -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    donation_milestones (project_id, milestone) {
        project_id -> BigInt,
        milestone -> BigInt,
        donation_id -> BigInt,
        reached_at -> Timestamp,
    }
}

diesel::table! {
    credit_entries (seq) {
        seq -> BigInt,
        kind -> Text,
        campaign_id -> Nullable<BigInt>,
        producer_id -> Nullable<BigInt>,
        county_id -> Nullable<BigInt>,
        org_id -> Nullable<BigInt>,
        project_id -> Nullable<BigInt>,
        channel -> Text,
        category -> Text,
        amount_fen -> BigInt,
        order_line_id -> Nullable<BigInt>,
        refund_id -> Nullable<BigInt>,
        donation_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        prev_hash -> Text,
        hash -> Text,
        payout_id -> Nullable<BigInt>,
        period_end -> Nullable<Date>,
        reference_hash -> Nullable<Text>,
    }
}

diesel::table! {
    ledger_head (id) {
        id -> BigInt,
        entries -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    ledger_checkpoints (entries) {
        entries -> BigInt,
        head -> Text,
        signed_at -> Timestamp,
        public_key -> Text,
        signature -> Text,
    }
}

diesel::table! {
    charity_hours (id) {
        id -> BigInt,
        user_id -> BigInt,
        tenths -> BigInt,
        order_id -> Nullable<BigInt>,
        donation_id -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(donation_projects -> campaigns (campaign_id));
diesel::joinable!(donations -> donation_projects (project_id));
diesel::joinable!(donations -> users (user_id));
diesel::joinable!(donations -> provinces (province_id));
diesel::joinable!(credit_entries -> campaigns (campaign_id));
diesel::joinable!(credit_entries -> producers (producer_id));
diesel::joinable!(credit_entries -> counties (county_id));
diesel::joinable!(credit_entries -> organisations (org_id));
diesel::joinable!(credit_entries -> donation_projects (project_id));
diesel::joinable!(credit_entries -> order_lines (order_line_id));
diesel::joinable!(charity_hours -> users (user_id));

// ---- organisation buying (orgs) ----

diesel::table! {
    org_budgets (org_id) {
        org_id -> BigInt,
        period_start -> Date,
        period_end -> Date,
        budget_total_fen -> BigInt,
        budget_used_fen -> BigInt,
        approval_threshold_fen -> Nullable<BigInt>,
    }
}

diesel::table! {
    org_orders (order_id) {
        order_id -> BigInt,
        org_id -> BigInt,
        placed_by -> BigInt,
        delivery_date -> Nullable<Date>,
        budget_fen -> BigInt,
        budget_released -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    order_approvals (order_id) {
        order_id -> BigInt,
        org_id -> BigInt,
        status -> Text,
        placed_by -> BigInt,
        decided_by -> Nullable<BigInt>,
        reason -> Text,
        expires_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    canteen_schedules (id) {
        id -> BigInt,
        org_id -> BigInt,
        created_by -> BigInt,
        cadence -> Text,
        next_delivery -> Date,
        end_date -> Date,
        lead_days -> Integer,
        lines -> Text,
        address -> Text,
        campaign_id -> Nullable<BigInt>,
        active -> Bool,
        created_at -> Timestamp,
        status -> Text,
    }
}

diesel::table! {
    schedule_runs (id) {
        id -> BigInt,
        schedule_id -> BigInt,
        delivery_date -> Date,
        status -> Text,
        order_id -> Nullable<BigInt>,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    org_invites (id) {
        id -> BigInt,
        org_id -> BigInt,
        email -> Text,
        token_hash -> Text,
        invited_by -> BigInt,
        expires_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
        revoked -> Bool,
        created_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    organisations,
    provinces,
    counties,
    producers,
    products,
    skus,
    sku_price_tiers,
    campaigns,
    campaign_products,
    campaign_prices,
    users,
    user_roles,
    memberships,
    producer_managers,
    points_accounts,
    points_lots,
    points_entries,
    orders,
    order_lines,
    order_recipients,
    order_events,
    payments,
    payment_events,
    refunds,
    refund_lines,
    stock_movements,
    idempotency_keys,
    outbox,
    donation_projects,
    donations,
    donation_milestones,
    credit_entries,
    ledger_head,
    ledger_checkpoints,
    charity_hours,
    shipments,
    product_images,
    org_budgets,
    org_orders,
    order_approvals,
    canteen_schedules,
    schedule_runs,
    org_invites,
);

// ---- security (issue 11) ----

diesel::table! {
    user_sessions (id) {
        id -> Text,
        user_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    email_verifications (token_hash) {
        token_hash -> Text,
        user_id -> BigInt,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    charity_hour_reversals (id) {
        id -> BigInt,
        user_id -> BigInt,
        order_id -> BigInt,
        tenths -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    org_points_grants (id) {
        id -> BigInt,
        org_id -> BigInt,
        granted_by -> BigInt,
        status -> Text,
        members -> BigInt,
        points -> BigInt,
        cost_fen -> BigInt,
        rows_json -> Text,
        decided_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Low-stock crossings and sell-outs seen by `take_stock_for_sale` (PostgreSQL), waiting for
    /// the "stock alerts sent" job.
    stock_alerts (id) {
        id -> BigInt,
        sku_id -> BigInt,
        stock_before -> BigInt,
        stock_after -> BigInt,
        threshold -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(user_sessions, users);
diesel::allow_tables_to_appear_in_same_query!(charity_hour_reversals, orders);

// The storefront's own tables: read on their own, never joined, so not in the list above.
diesel::table! {
    cart_items (user_id, sku_id) {
        user_id -> BigInt,
        sku_id -> BigInt,
        quantity -> BigInt,
        position -> BigInt,
    }
}

diesel::table! {
    addresses (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        mobile -> Text,
        province -> Text,
        city -> Text,
        district -> Text,
        detail -> Text,
        division_code -> Text,
        is_default -> Bool,
    }
}

// ---- after the parcel leaves: after-sales cases, photos, reviews (issue 13) ----

diesel::table! {
    photos (file_name) {
        file_name -> Text,
        content_type -> Text,
        bytes -> BigInt,
        uploaded_by -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    after_sales (id) {
        id -> BigInt,
        order_id -> BigInt,
        buyer_id -> BigInt,
        producer_id -> BigInt,
        kind -> Text,
        status -> Text,
        reason -> Text,
        text -> Text,
        amount_fen -> BigInt,
        agreed_fen -> Nullable<BigInt>,
        reply -> Nullable<Text>,
        return_carrier -> Nullable<Text>,
        return_tracking_no -> Nullable<Text>,
        refund_id -> Nullable<BigInt>,
        admin_note -> Nullable<Text>,
        decided_by -> Nullable<BigInt>,
        reply_due_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    after_sales_lines (case_id, order_line_id) {
        case_id -> BigInt,
        order_line_id -> BigInt,
        quantity -> BigInt,
    }
}

diesel::table! {
    after_sales_photos (case_id, position) {
        case_id -> BigInt,
        position -> Integer,
        file_name -> Text,
    }
}

diesel::table! {
    after_sales_events (id) {
        id -> BigInt,
        case_id -> BigInt,
        from_status -> Nullable<Text>,
        to_status -> Text,
        actor_id -> Nullable<BigInt>,
        note -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    reviews (id) {
        id -> BigInt,
        order_line_id -> BigInt,
        product_id -> BigInt,
        buyer_id -> BigInt,
        stars -> Integer,
        text -> Text,
        reply -> Nullable<Text>,
        replied_by -> Nullable<BigInt>,
        replied_at -> Nullable<Timestamp>,
        hidden_reason -> Nullable<Text>,
        hidden_by -> Nullable<BigInt>,
        hidden_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    review_photos (review_id, position) {
        review_id -> BigInt,
        position -> Integer,
        file_name -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(after_sales, after_sales_lines);
diesel::allow_tables_to_appear_in_same_query!(after_sales, orders);
diesel::allow_tables_to_appear_in_same_query!(after_sales_lines, order_lines);
diesel::allow_tables_to_appear_in_same_query!(reviews, users);

// Invoices (`invoices/`): read on their own, never joined.
diesel::table! {
    invoice_titles (id) {
        id -> BigInt,
        user_id -> Nullable<BigInt>,
        org_id -> Nullable<BigInt>,
        kind -> Text,
        name -> Text,
        uscc -> Text,
        address -> Text,
        phone -> Text,
        bank -> Text,
        account -> Text,
        is_default -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    invoice_requests (id) {
        id -> BigInt,
        title_id -> BigInt,
        requested_by -> BigInt,
        org_id -> Nullable<BigInt>,
        order_id -> Nullable<BigInt>,
        month -> Nullable<Text>,
        producer_id -> BigInt,
        status -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    invoice_request_parts (order_id, producer_id) {
        order_id -> BigInt,
        producer_id -> BigInt,
        request_id -> BigInt,
    }
}

diesel::table! {
    invoices (id) {
        id -> BigInt,
        request_id -> BigInt,
        kind -> Text,
        number -> Text,
        issued_on -> Date,
        amount_fen -> BigInt,
        file_name -> Text,
        media_type -> Text,
        uploaded_by -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    procurement_targets (org_id, year) {
        org_id -> BigInt,
        year -> Integer,
        canteen_budget_fen -> BigInt,
        welfare_budget_fen -> BigInt,
        canteen_target_pct -> Integer,
        welfare_target_pct -> Integer,
        updated_by -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    statement_reviews (id) {
        id -> BigInt,
        org_id -> BigInt,
        month -> Text,
        status -> Text,
        note -> Text,
        decided_by -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    statement_dispute_lines (review_id, order_id) {
        review_id -> BigInt,
        order_id -> BigInt,
    }
}

// ---- settlement with the cooperatives (issue 14) ----

diesel::table! {
    settlement_line_terms (order_line_id) {
        order_line_id -> BigInt,
        fee_bps -> BigInt,
    }
}

diesel::table! {
    earnings_accounts (producer_id) {
        producer_id -> BigInt,
        fee_bps -> BigInt,
        pending_fen -> BigInt,
        available_fen -> BigInt,
        in_payout_fen -> BigInt,
        paid_out_fen -> BigInt,
        fees_fen -> BigInt,
        account_name -> Nullable<Text>,
        bank -> Nullable<Text>,
        account_no -> Nullable<Text>,
        bank_changed_at -> Nullable<Timestamp>,
        payouts_held_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    settlement_statements (id) {
        id -> BigInt,
        producer_id -> BigInt,
        period_start -> Nullable<Date>,
        period_end -> Date,
        opening_fen -> BigInt,
        closing_fen -> BigInt,
        payable_fen -> BigInt,
        status -> Text,
        note -> Nullable<Text>,
        created_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        decided_by -> Nullable<BigInt>,
        resolution -> Nullable<Text>,
        resolution_note -> Nullable<Text>,
        resolved_at -> Nullable<Timestamp>,
        resolved_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    payouts (id) {
        id -> BigInt,
        statement_id -> BigInt,
        producer_id -> BigInt,
        amount_fen -> BigInt,
        status -> Text,
        account_name -> Nullable<Text>,
        bank -> Nullable<Text>,
        account_no -> Nullable<Text>,
        bank_reference -> Nullable<Text>,
        reason -> Nullable<Text>,
        created_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        decided_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    earnings_entries (id) {
        id -> BigInt,
        producer_id -> BigInt,
        kind -> Text,
        campaign_id -> Nullable<BigInt>,
        order_line_id -> Nullable<BigInt>,
        refund_id -> Nullable<BigInt>,
        statement_id -> Nullable<BigInt>,
        payout_id -> Nullable<BigInt>,
        amount_fen -> BigInt,
        pending_fen -> BigInt,
        available_fen -> BigInt,
        in_payout_fen -> BigInt,
        paid_out_fen -> BigInt,
        fees_fen -> BigInt,
        cash_fen -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    statement_lines (statement_id, entry_id) {
        statement_id -> BigInt,
        entry_id -> BigInt,
    }
}

diesel::joinable!(statement_lines -> earnings_entries (entry_id));
diesel::joinable!(payouts -> settlement_statements (statement_id));
diesel::allow_tables_to_appear_in_same_query!(
    statement_lines,
    earnings_entries,
    settlement_statements,
    payouts,
    earnings_accounts,
    settlement_line_terms,
);
diesel::allow_tables_to_appear_in_same_query!(earnings_entries, order_lines);
diesel::allow_tables_to_appear_in_same_query!(earnings_entries, orders);
diesel::allow_tables_to_appear_in_same_query!(earnings_entries, shipments);
diesel::allow_tables_to_appear_in_same_query!(order_lines, settlement_line_terms);
diesel::allow_tables_to_appear_in_same_query!(earnings_accounts, order_lines);
diesel::allow_tables_to_appear_in_same_query!(payouts, producers);
diesel::allow_tables_to_appear_in_same_query!(settlement_statements, producers);
diesel::allow_tables_to_appear_in_same_query!(earnings_accounts, producers);

// Pre-sale and lucky draws.

diesel::table! {
    sku_presales (sku_id) {
        sku_id -> BigInt,
        ends_at -> Timestamp,
        ships_from -> Date,
        ship_by -> Date,
        per_buyer_limit -> BigInt,
    }
}

diesel::table! {
    presale_late_notices (order_id) {
        order_id -> BigInt,
        notified_at -> Timestamp,
    }
}

diesel::table! {
    draws (id) {
        id -> BigInt,
        campaign_id -> BigInt,
        org_id -> Nullable<BigInt>,
        created_by -> BigInt,
        title -> Text,
        entry_rule -> Text,
        min_points -> Nullable<BigInt>,
        opens_at -> Timestamp,
        closes_at -> Timestamp,
        seed -> Text,
        commitment -> Text,
        status -> Text,
        closed_at -> Nullable<Timestamp>,
        ledger_entries -> Nullable<BigInt>,
        ledger_head -> Nullable<Text>,
        entries_hash -> Nullable<Text>,
        budget_fen -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    draw_prizes (draw_id, position) {
        draw_id -> BigInt,
        position -> Integer,
        kind -> Text,
        points -> Nullable<BigInt>,
        sku_id -> Nullable<BigInt>,
        count -> BigInt,
    }
}

diesel::table! {
    draw_entries (draw_id, number) {
        draw_id -> BigInt,
        number -> BigInt,
        kind -> Text,
        ref_id -> BigInt,
        user_id -> BigInt,
        masked_name -> Text,
    }
}

diesel::table! {
    draw_winners (draw_id, rank) {
        draw_id -> BigInt,
        rank -> BigInt,
        entry_number -> BigInt,
        prize_position -> Integer,
        lot_id -> Nullable<BigInt>,
        order_id -> Nullable<BigInt>,
        note -> Nullable<Text>,
    }
}

diesel::joinable!(sku_presales -> skus (sku_id));
diesel::joinable!(draw_prizes -> draws (draw_id));
diesel::joinable!(draw_entries -> draws (draw_id));
diesel::joinable!(draw_winners -> draws (draw_id));
diesel::allow_tables_to_appear_in_same_query!(sku_presales, skus);
diesel::allow_tables_to_appear_in_same_query!(sku_presales, campaigns);
diesel::allow_tables_to_appear_in_same_query!(sku_presales, campaign_products);
diesel::allow_tables_to_appear_in_same_query!(sku_presales, campaign_prices);
diesel::allow_tables_to_appear_in_same_query!(sku_presales, sku_price_tiers);
diesel::allow_tables_to_appear_in_same_query!(sku_presales, products);
diesel::allow_tables_to_appear_in_same_query!(sku_presales, order_lines);
diesel::allow_tables_to_appear_in_same_query!(sku_presales, orders);
diesel::allow_tables_to_appear_in_same_query!(presale_late_notices, orders);
diesel::allow_tables_to_appear_in_same_query!(presale_late_notices, order_lines);
diesel::allow_tables_to_appear_in_same_query!(presale_late_notices, sku_presales);
diesel::allow_tables_to_appear_in_same_query!(draws, draw_prizes, draw_entries, draw_winners);

// Flash sales (直播秒杀).

diesel::table! {
    flash_sales (id) {
        id -> BigInt,
        sku_id -> BigInt,
        campaign_id -> BigInt,
        price_fen -> BigInt,
        quantity -> BigInt,
        sold -> BigInt,
        per_buyer_limit -> BigInt,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        stream_url -> Nullable<Text>,
        generation -> BigInt,
        closed_at -> Nullable<Timestamp>,
        returned -> BigInt,
        created_by -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    flash_orders (order_id) {
        order_id -> BigInt,
        sale_id -> BigInt,
        buyer_id -> BigInt,
        quantity -> BigInt,
        cancelled -> Bool,
        created_at -> Timestamp,
    }
}

diesel::joinable!(flash_sales -> skus (sku_id));
diesel::joinable!(flash_orders -> flash_sales (sale_id));
diesel::allow_tables_to_appear_in_same_query!(flash_sales, flash_orders);
diesel::allow_tables_to_appear_in_same_query!(flash_sales, skus);
diesel::allow_tables_to_appear_in_same_query!(flash_sales, products);

// Cloud adoption (云认养)
diesel::table! {
    adoption_offers (id) {
        id -> BigInt,
        producer_id -> BigInt,
        product_id -> BigInt,
        kind -> Text,
        title -> Text,
        season_start -> Date,
        season_end -> Date,
        price_fen -> BigInt,
        units -> BigInt,
        units_taken -> BigInt,
        units_numbered -> BigInt,
        created_by -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    adoption_deliveries (id) {
        id -> BigInt,
        offer_id -> BigInt,
        seq -> Integer,
        due_on -> Date,
        sku_id -> BigInt,
        quantity -> BigInt,
        share_fen -> BigInt,
    }
}

diesel::table! {
    adoptions (id) {
        id -> BigInt,
        offer_id -> BigInt,
        order_id -> BigInt,
        user_id -> BigInt,
        org_id -> Nullable<BigInt>,
        units -> BigInt,
        certificate_name -> Text,
        address -> Text,
        status -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    adopted_units (id) {
        id -> BigInt,
        offer_id -> BigInt,
        adoption_id -> BigInt,
        number -> Nullable<BigInt>,
    }
}

diesel::table! {
    adoption_parcels (id) {
        id -> BigInt,
        adoption_id -> BigInt,
        delivery_id -> BigInt,
        order_line_id -> BigInt,
        recipient_id -> BigInt,
        status -> Text,
        released_at -> Nullable<Timestamp>,
        failed_reason -> Nullable<Text>,
        failed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    adoption_updates (id) {
        id -> BigInt,
        offer_id -> BigInt,
        author_id -> BigInt,
        text -> Text,
        photos -> Text,
        all_units -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    adoption_update_units (update_id, unit_id) {
        update_id -> BigInt,
        unit_id -> BigInt,
    }
}

diesel::joinable!(adoption_deliveries -> adoption_offers (offer_id));
diesel::joinable!(adoptions -> adoption_offers (offer_id));
diesel::joinable!(adopted_units -> adoptions (adoption_id));
diesel::joinable!(adoption_parcels -> adoptions (adoption_id));
diesel::joinable!(adoption_parcels -> adoption_deliveries (delivery_id));
diesel::joinable!(adoption_offers -> producers (producer_id));
diesel::joinable!(adoption_offers -> products (product_id));
diesel::joinable!(adoption_update_units -> adoption_updates (update_id));
diesel::allow_tables_to_appear_in_same_query!(
    adoption_offers,
    adoption_deliveries,
    adoptions,
    adopted_units,
    adoption_parcels,
    adoption_updates,
    adoption_update_units,
);
diesel::allow_tables_to_appear_in_same_query!(adoption_offers, producers);
diesel::allow_tables_to_appear_in_same_query!(adoption_offers, products);
diesel::allow_tables_to_appear_in_same_query!(adoption_offers, counties);
diesel::allow_tables_to_appear_in_same_query!(adoption_deliveries, skus);
diesel::allow_tables_to_appear_in_same_query!(adoption_deliveries, products);
diesel::allow_tables_to_appear_in_same_query!(adoption_parcels, order_lines);
diesel::allow_tables_to_appear_in_same_query!(adoption_parcels, orders);
diesel::allow_tables_to_appear_in_same_query!(adoption_parcels, shipments);
diesel::allow_tables_to_appear_in_same_query!(adoption_parcels, skus);
diesel::allow_tables_to_appear_in_same_query!(adoption_parcels, products);
diesel::allow_tables_to_appear_in_same_query!(adoption_parcels, order_recipients);
diesel::allow_tables_to_appear_in_same_query!(adoptions, orders);
diesel::allow_tables_to_appear_in_same_query!(adoptions, users);
diesel::allow_tables_to_appear_in_same_query!(adopted_units, users);
diesel::allow_tables_to_appear_in_same_query!(adopted_units, orders);
