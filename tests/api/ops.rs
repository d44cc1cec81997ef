use crate::helpers::{spawn_app, spawn_app_with};

#[actix_web::test]
async fn health_readiness_and_metrics() {
    let token = "test-metrics-token-0123456789";
    let app = spawn_app_with(&[("AIDMART_METRICS_TOKEN", token)]).await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["database"], "ok");
    let expected_redis = if app.config.redis_url.is_some() { "ok" } else { "not_configured" };
    assert_eq!(body["redis"], expected_redis);

    app.get("/api/v1/counties").await;
    let res = app.client.get(app.url("/metrics")).bearer_auth(token).send().await.expect("metrics");
    let metrics = res.text().await.unwrap_or_default();
    assert!(
        metrics.contains("aidmart_http_requests_total{method=\"GET\",route=\"/api/v1/counties\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("aidmart_http_request_duration_seconds_count"));
}

#[actix_web::test]
async fn openapi_describes_every_api_route() {
    let app = spawn_app().await;
    let (status, doc) = app.get_json("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for (path, method) in [
        ("/counties", "get"),
        ("/products", "get"),
        ("/products/{id}", "get"),
        ("/campaigns", "get"),
        ("/auth/login", "post"),
        ("/auth/logout", "post"),
        ("/me", "get"),
        ("/admin/users", "get"),
        ("/openapi.json", "get"),
        ("/orders", "post"),
        ("/orders", "get"),
        ("/orders/{order_no}", "get"),
        ("/orders/{order_no}/cancel", "post"),
        ("/orders/{order_no}/refunds", "post"),
        ("/payments/sandbox/webhook", "post"),
        ("/payments/sandbox/{payment_id}/complete", "post"),
        ("/admin/points/grants", "post"),
        ("/coop/skus", "get"),
        ("/coop/skus/{id}/stock", "patch"),
        ("/coop/skus/{id}/history", "get"),
        ("/coop/stock/bulk", "post"),
        ("/coop/shipments/pending", "get"),
        ("/coop/shipments/pick-list.csv", "get"),
        ("/coop/shipments", "post"),
        ("/coop/reports/sales", "get"),
        ("/coop/products", "post"),
        ("/coop/products/{id}", "get"),
        ("/coop/products/{id}", "patch"),
        ("/coop/products/{id}/skus", "post"),
        ("/coop/skus/{id}", "patch"),
        ("/coop/shipments/bulk", "post"),
        ("/coop/products/{id}/images", "post"),
        ("/orders/{order_no}/parts/{part_id}/receipt", "post"),
        ("/photos", "post"),
        ("/orders/{order_no}/after-sales", "post"),
        ("/orders/{order_no}/after-sales/{id}", "get"),
        ("/orders/{order_no}/after-sales/{id}/return-shipment", "post"),
        ("/orders/{order_no}/after-sales/{id}/escalate", "post"),
        ("/coop/after-sales", "get"),
        ("/coop/after-sales/{id}/accept", "post"),
        ("/coop/after-sales/{id}/reject", "post"),
        ("/coop/after-sales/{id}/confirm-return", "post"),
        ("/admin/after-sales", "get"),
        ("/admin/after-sales/{id}/decide", "post"),
        ("/admin/orders/{order_no}/refunds", "post"),
        ("/orders/{order_no}/lines/{line_id}/review", "post"),
        ("/products/{id}/reviews", "get"),
        ("/coop/reviews/{id}/reply", "post"),
        ("/admin/reviews/{id}/hide", "post"),
        ("/orgs/{id}", "get"),
        ("/orgs/{id}/orders", "get"),
        ("/orgs/{id}/orders/{order_no}", "get"),
        ("/orgs/{id}/approvals", "get"),
        ("/orders/{order_no}/approve", "post"),
        ("/orders/{order_no}/reject", "post"),
        ("/orgs/{id}/distributions/preview", "post"),
        ("/orgs/{id}/distributions", "post"),
        ("/orgs/{id}/schedules", "get"),
        ("/orgs/{id}/schedules", "post"),
        ("/orgs/{id}/statements", "get"),
        ("/orgs/{id}/members", "get"),
        ("/orgs/{id}/invites", "post"),
        ("/orgs/{id}/members/import", "post"),
        ("/orgs/{id}/members/{user_id}", "delete"),
        ("/invites/{token}/accept", "post"),
        ("/orgs/{id}/points-grants", "post"),
        ("/orgs/{id}/points-grants", "get"),
        ("/orgs/{id}/points-grants/{grant_id}/approve", "post"),
        ("/orgs/{id}/points-grants/{grant_id}/reject", "post"),
        ("/orgs/{id}/budget", "post"),
        ("/cart", "get"),
        ("/cart/items", "post"),
        ("/cart/items/{sku_id}", "put"),
        ("/cart/items/{sku_id}", "delete"),
        ("/auth/register", "post"),
        ("/auth/logout-everywhere", "post"),
        ("/admin/points/grants", "get"),
        ("/coop/earnings", "get"),
        ("/coop/statements", "get"),
        ("/coop/statements/{id}", "get"),
        ("/coop/statements/{id}/confirm", "post"),
        ("/coop/statements/{id}/dispute", "post"),
        ("/admin/settlements/run", "post"),
        ("/coop/bank-account", "put"),
        ("/admin/payouts", "get"),
        ("/admin/payouts.csv", "get"),
        ("/admin/payouts/{id}/paid", "post"),
        ("/admin/payouts/{id}/failed", "post"),
        ("/orgs/{id}/schedules/{schedule_id}", "put"),
        ("/orgs/{id}/schedules/{schedule_id}/pause", "post"),
        ("/orgs/{id}/schedules/{schedule_id}/resume", "post"),
        ("/orgs/{id}/schedules/{schedule_id}/cancel", "post"),
        ("/orgs/{id}/canteen-products", "get"),
        ("/me/points/lots", "get"),
        ("/me/invoice-titles", "post"),
        ("/orgs/{id}/invoice-titles", "get"),
        ("/orders/{order_no}/invoice-requests", "post"),
        ("/orgs/{id}/invoice-requests", "post"),
        ("/coop/invoice-requests", "get"),
        ("/coop/invoice-requests/{id}/invoice", "post"),
        ("/invoices/{id}/file", "get"),
        ("/orgs/{id}/procurement-targets/{year}", "put"),
        ("/orgs/{id}/procurement-report", "get"),
        ("/orgs/{id}/statements/{month}/confirm", "post"),
        ("/orgs/{id}/statements/{month}/dispute", "post"),
        ("/coop/statement-disputes", "get"),
        ("/flash-sales", "post"),
        ("/flash-sales", "get"),
        ("/flash-sales/{id}", "get"),
        ("/flash-sales/{id}/orders", "post"),
        ("/adoptions", "get"),
        ("/adoptions/{id}", "get"),
        ("/adoptions/{id}/adopt", "post"),
        ("/adopted-units/{id}", "get"),
        ("/me/adoptions", "get"),
        ("/me/adoptions/{id}/address", "put"),
        ("/coop/adoptions", "get"),
        ("/coop/adoptions", "post"),
        ("/coop/adoptions/{id}", "get"),
        ("/coop/adoptions/{id}/updates", "post"),
        ("/coop/adoptions/{id}/deliveries/{delivery_id}/fail", "post"),
        ("/admin/statements", "get"),
        ("/admin/statements/{id}", "get"),
        ("/admin/statements/{id}/uphold", "post"),
        ("/admin/statements/{id}/void", "post"),
        ("/admin/settlement/producers", "get"),
        ("/admin/producers/{id}/settlement-period", "put"),
        ("/orgs/{id}/funding-statements/{month}", "get"),
        ("/coop/skus/{id}/presale", "put"),
        ("/coop/skus/{id}/presale", "delete"),
        ("/orders/{order_no}/presale-cancel", "post"),
        ("/draws", "post"),
        ("/draws", "get"),
        ("/draws/{id}", "get"),
        ("/draws/{id}/close", "post"),
    ] {
        assert!(
            paths.get(&format!("/api/v1{path}")).is_some_and(|p| p.get(method).is_some()),
            "{method} {path} missing from {:?}",
            paths.keys()
        );
    }
    // Routes and their documentation are registered by the same call, so nothing else is there.
    assert_eq!(paths.len(), 133, "{:?}", paths.keys());
    assert!(doc["components"]["schemas"]["ProductPage"].is_object());
    assert!(doc["components"]["schemas"]["FundingStatement"].is_object());
}
