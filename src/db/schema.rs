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
);
