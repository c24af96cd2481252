use crate::support::*;

#[tokio::test]
async fn health_and_metrics() {
    let server = start_server().await;
    let api = server.api();
    let (status, body) = api.call(reqwest::Method::GET, "/healthz", None, None).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(body, serde_json::json!({"status": "ok"}));

    let (alice, _bob, conversation) = api.pair("ops").await;
    let socket = connect(&server.url, &alice.token).await.unwrap();
    send(&socket, conversation, "counted").await;
    let text = reqwest::get(format!("{}/metrics", server.url)).await.unwrap().text().await.unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{name} missing in:\n{text}"))
    };
    assert_eq!(value("confab_connected_sockets "), 1.0);
    assert_eq!(value("confab_messages_stored_total "), 1.0);
    assert_eq!(value("confab_event_duration_seconds_count{event=\"sendMessage\"} "), 1.0);
}
