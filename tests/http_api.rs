//! The HTTP API on a real Azurite with a worker: every route's status codes and bodies
//! (`reference/http-api.md`), keys, bad input. Every body is checked to be empty or JSON.

mod common;
mod http_common;

use std::time::Duration;

use http_common::{Reply, TestServer, WEBHOOK};
use serde_json::{json, Value};
use taskhub::client::StartRequest;
use taskhub::core::{EventKind, OrchestrationStatus};
use taskhub::http::HttpOptions;

const MANAGEMENT_KEYS: [&str; 9] = [
    "id",
    "statusQueryGetUri",
    "sendEventPostUri",
    "terminatePostUri",
    "rewindPostUri",
    "purgeHistoryDeleteUri",
    "restartPostUri",
    "suspendPostUri",
    "resumePostUri",
];

/// `2024-05-01T10:00:05Z`.
fn is_seconds_time(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    s.len() == 20
        && s.ends_with('Z')
        && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

fn assert_check_status(r: &Reply, origin: &str, hub: &str, id: &str) {
    r.expect(202);
    let body = r.json.as_object().expect("check-status body is an object");
    for k in MANAGEMENT_KEYS {
        assert!(
            body.get(k).is_some_and(Value::is_string),
            "{k} missing: {body:?}"
        );
    }
    assert_eq!(body.len(), MANAGEMENT_KEYS.len(), "{body:?}");
    assert_eq!(body["id"], id);
    let q = format!("taskHub={hub}&connection=Storage");
    let base = format!("{origin}{WEBHOOK}/instances/{}", http_common::encode(id));
    assert_eq!(body["statusQueryGetUri"], format!("{base}?{q}"));
    assert_eq!(
        body["sendEventPostUri"],
        format!("{base}/raiseEvent/{{eventName}}?{q}")
    );
    assert_eq!(
        body["terminatePostUri"],
        format!("{base}/terminate?reason={{text}}&{q}")
    );
    assert_eq!(
        body["rewindPostUri"],
        format!("{base}/rewind?reason={{text}}&{q}")
    );
    assert_eq!(body["purgeHistoryDeleteUri"], format!("{base}?{q}"));
    assert_eq!(body["restartPostUri"], format!("{base}/restart?{q}"));
    assert_eq!(
        body["suspendPostUri"],
        format!("{base}/suspend?reason={{text}}&{q}")
    );
    assert_eq!(
        body["resumePostUri"],
        format!("{base}/resume?reason={{text}}&{q}")
    );
    assert_eq!(r.header("location"), body["statusQueryGetUri"].as_str());
    assert_eq!(r.header("retry-after"), Some("10"));
}

#[tokio::test]
async fn starter_route_answers_check_status_and_the_status_url_reports_completion() {
    let s = TestServer::start("httpstarter").await;
    let hub = s.hub.hub.names().hub().as_str().to_string();

    // The seed's starter with a JSON body; URLs use the request's host.
    let r = s
        .post_json(
            &s.url("/api/orchestrators/Echo"),
            r#"{"rawDataPath":"raw","numFiles":"2"}"#,
        )
        .await;
    let id = r.json["id"].as_str().expect("id").to_string();
    assert_eq!(id.len(), 32, "generated ids are 32 hex digits: {id}");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_check_status(&r, &s.base, &hub, &id);

    let status_url = r.json["statusQueryGetUri"].as_str().unwrap().to_string();
    let done = http_common::wait_until_status(&s, &status_url, "Completed").await;
    done.expect(200);
    assert!(done.header("location").is_none());
    let body = &done.json;
    assert_eq!(body["name"], "Echo");
    assert_eq!(body["instanceId"], id.as_str());
    assert_eq!(
        body["input"],
        json!({"rawDataPath": "raw", "numFiles": "2"})
    );
    assert_eq!(
        body["output"],
        json!({"rawDataPath": "raw", "numFiles": "2"})
    );
    assert_eq!(body["customStatus"], Value::Null);
    assert!(is_seconds_time(&body["createdTime"]), "{body}");
    assert!(is_seconds_time(&body["lastUpdatedTime"]), "{body}");
    assert!(body.get("historyEvents").is_none());

    // Host and scheme come from the request (a proxy's X-Forwarded-Proto included); an id in
    // the path is used and percent-encoded in the URLs.
    let r = s
        .send(
            s.http
                .post(s.url("/api/orchestrators/Echo/a%20b+c%25%C3%A9"))
                .header("host", "example.com:8080")
                .header("x-forwarded-proto", "https"),
        )
        .await;
    assert_check_status(&r, "https://example.com:8080", &hub, "a b+c%é");
    assert!(r.json["statusQueryGetUri"].as_str().unwrap().starts_with(
        "https://example.com:8080/runtime/webhooks/durabletask/instances/a%20b%2Bc%25%C3%A9?"
    ));
    s.wait_status(&http_common::encode("a b+c%é"), "Completed")
        .await;

    // Without a Host header the URLs name the bound address.
    let (status, body) = http_common::raw(
        &s.base,
        b"POST /api/orchestrators/Echo/no-host HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["statusQueryGetUri"].as_str().unwrap(),
        format!(
            "{}{WEBHOOK}/instances/no-host?taskHub={hub}&connection=Storage",
            s.base
        )
    );
}

#[tokio::test]
async fn start_with_id_waits_events_and_refuses_a_live_duplicate() {
    let s = TestServer::start("httpstartid").await;
    let hub = s.hub.hub.names().hub().as_str().to_string();
    let r = s
        .post_json(&s.api("/orchestrators/WaitForGo/wait-1"), r#"{"a": 1}"#)
        .await;
    assert_check_status(&r, &s.base, &hub, "wait-1");

    // Running: 202 with the status, Location = the request URL, Retry-After 5.
    let running = s.wait_status("wait-1", "Running").await;
    running.expect(202);
    assert_eq!(
        running.header("location"),
        Some(s.api("/instances/wait-1").as_str())
    );
    assert_eq!(running.header("retry-after"), Some("5"));
    assert_eq!(running.json["input"], json!({"a": 1}));
    assert_eq!(running.json["output"], Value::Null);
    let status = http_common::wait_until_json(&s, &s.api("/instances/wait-1"), |j| {
        j["customStatus"] == json!({"waiting": "Go"})
    })
    .await;
    assert_eq!(status["runtimeStatus"], "Running");

    // A second start of the live id: 409 with a JSON body, and nothing changed.
    let before = s.client.status("wait-1", true).await.unwrap().unwrap();
    let dup = s
        .post_json(&s.api("/orchestrators/WaitForGo/wait-1"), r#"{"a": 2}"#)
        .await;
    dup.expect(409);
    assert!(dup.json["Message"].is_string(), "{}", dup.text);
    assert!(dup.json["ExceptionMessage"]
        .as_str()
        .unwrap()
        .contains("wait-1"));
    let after = s.client.status("wait-1", true).await.unwrap().unwrap();
    assert_eq!(before.execution_id, after.execution_id);
    assert_eq!(after.input.as_deref(), Some(r#"{"a":1}"#));

    // Raise the event: 202 and no body; the orchestration sees the data.
    s.post_json(&s.api("/instances/wait-1/raiseEvent/Go"), r#"{"ok": true}"#)
        .await
        .expect_empty(202);
    let done = s.wait_status("wait-1", "Completed").await;
    done.expect(200);
    assert_eq!(
        done.json["output"],
        json!({"input": {"a": 1}, "event": {"ok": true}})
    );

    // Raising on a finished instance is 410; starting the finished id again is allowed.
    s.post_json(&s.api("/instances/wait-1/raiseEvent/Go"), "1")
        .await
        .expect_empty(410);
    let again = s.post(&s.api("/orchestrators/Echo/wait-1")).await;
    assert_check_status(&again, &s.base, &hub, "wait-1");
    let done = s.wait_status("wait-1", "Completed").await;
    assert_eq!(done.json["name"], "Echo");
    assert_eq!(done.json["input"], Value::Null);
}

#[tokio::test]
async fn start_can_wait_for_the_result() {
    let s = TestServer::start("httpwait").await;
    // Completed within the timeout: 200 with the output itself.
    let r = s
        .post_json(
            &s.api("/orchestrators/Echo?timeout=30&pollingInterval=0.1"),
            r#"{"x": [1, 2]}"#,
        )
        .await;
    r.expect(200);
    assert_eq!(r.json, json!({"x": [1, 2]}));
    // Failed: 200 with the status object.
    let r = s
        .post(&s.api("/orchestrators/Fails/f-1?timeout=30&pollingInterval=0.1"))
        .await;
    r.expect(200);
    assert_eq!(r.json["runtimeStatus"], "Failed");
    // Still running at the timeout: the 202 check-status reply.
    let r = s
        .post(&s.api("/orchestrators/WaitForGo/w-1?timeout=0.3&pollingInterval=0.1"))
        .await;
    r.expect(202);
    assert_eq!(r.json["id"], "w-1");
}

#[tokio::test]
async fn status_shows_input_history_and_failures_as_asked() {
    let s = TestServer::start("httpstatus").await;
    s.post_json(&s.api("/orchestrators/HelloCities/hello-1"), "null")
        .await
        .expect(202);
    s.wait_status("hello-1", "Completed").await;

    let plain = s.get(&s.api("/instances/hello-1")).await;
    plain.expect(200);
    assert_eq!(
        plain.json["output"],
        json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"])
    );
    assert!(plain.json.get("historyEvents").is_none());

    let no_input = s.get(&s.api("/instances/hello-1?showInput=false")).await;
    assert_eq!(no_input.json["input"], Value::Null);

    let h = s
        .get(&s.api("/instances/hello-1?showHistory=True&showHistoryOutput=TRUE"))
        .await;
    h.expect(200);
    let events = h.json["historyEvents"].as_array().expect("historyEvents");
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["EventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "TaskCompleted",
            "TaskCompleted",
            "TaskCompleted",
            "ExecutionCompleted"
        ],
        "{events:#?}"
    );
    assert_eq!(events[0]["FunctionName"], "HelloCities");
    assert_eq!(events[1]["FunctionName"], "SayHello");
    assert_eq!(events[1]["Result"], "Hello Tokyo!");
    // As the host shows it: the TaskScheduled input, DurableTask's parameter array.
    assert_eq!(events[1]["Input"], "[\"Tokyo\"]");
    assert!(events[1]["ScheduledTime"].is_string());
    assert_eq!(events[4]["OrchestrationStatus"], "Completed");
    assert_eq!(events[4]["Result"], plain.json["output"]);
    for e in events {
        assert!(e.get("EventId").is_none(), "{e}");
        let ts = e["Timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), 28, "seven fractional digits: {ts}");
    }
    let quiet = s
        .get(&s.api("/instances/hello-1?showHistory=true&showInput=false"))
        .await;
    for e in quiet.json["historyEvents"].as_array().unwrap() {
        assert!(e.get("Result").is_none() && e.get("Input").is_none(), "{e}");
    }

    // A failed instance: 200 with the failure text as output, or 500 when asked.
    s.post(&s.api("/orchestrators/Fails/fail-1"))
        .await
        .expect(202);
    let failed = s.wait_status("fail-1", "Failed").await;
    failed.expect(200);
    let output = failed.json["output"].as_str().expect("failure text");
    assert!(
        output.contains("Broken") && output.contains("it broke"),
        "{output}"
    );
    let r = s
        .get(&s.api("/instances/fail-1?returnInternalServerErrorOnFailure=true"))
        .await;
    r.expect(500);
    assert_eq!(r.json["runtimeStatus"], "Failed");
}

#[tokio::test]
async fn unknown_instances_get_empty_404s() {
    let s = TestServer::start("http404").await;
    s.get(&s.api("/instances/nope")).await.expect_empty(404);
    s.delete(&s.api("/instances/nope")).await.expect_empty(404);
    s.post_json(&s.api("/instances/nope/raiseEvent/Go"), "1")
        .await
        .expect_empty(404);
    for op in ["terminate", "suspend", "resume", "rewind"] {
        s.post(&s.api(&format!("/instances/nope/{op}?reason=x")))
            .await
            .expect_empty(404);
    }
    // Restart of an unknown id is 400 with a message, as in the host.
    let r = s.post(&s.api("/instances/nope/restart")).await;
    r.expect(400);
    assert!(r.json["Message"].as_str().unwrap().contains("InstanceId"));
    s.get(&s.api("/entities/session_handler/nobody"))
        .await
        .expect_empty(404);
    s.get(&s.api("/entities/session_handler/$"))
        .await
        .expect_empty(404);
}

#[tokio::test]
async fn terminate_suspend_resume_rewind_restart() {
    let s = TestServer::start("httpcontrol").await;
    let hub = s.hub.hub.names().hub().as_str().to_string();
    s.post(&s.api("/orchestrators/WaitForGo/c-1"))
        .await
        .expect(202);
    s.wait_status("c-1", "Running").await;

    // Suspend, then suspend again (500, the host's answer), resume, resume again (500).
    s.post(&s.api("/instances/c-1/suspend?reason=pause%20it"))
        .await
        .expect_empty(202);
    s.wait_status("c-1", "Suspended").await.expect(202);
    let again = s.post(&s.api("/instances/c-1/suspend")).await;
    again.expect(500);
    assert!(again.json["ExceptionMessage"]
        .as_str()
        .unwrap()
        .contains("suspended"));
    s.post(&s.api("/instances/c-1/resume?reason=go"))
        .await
        .expect_empty(202);
    s.wait_status("c-1", "Running").await;
    s.post(&s.api("/instances/c-1/resume")).await.expect(500);

    // Rewind is only for failed instances; we cannot rewind those either (500 with a reason).
    let r = s.post(&s.api("/instances/c-1/rewind?reason=r")).await;
    r.expect(500);
    assert!(r.json["ExceptionMessage"]
        .as_str()
        .unwrap()
        .contains("failed"));

    // Terminate: 202, then Terminated with the reason as output; again → 410.
    s.post(&s.api("/instances/c-1/terminate?reason=bye%20now%20%26%20then"))
        .await
        .expect_empty(202);
    let t = s.wait_status("c-1", "Terminated").await;
    t.expect(200);
    assert_eq!(t.json["output"], "bye now & then");
    s.post(&s.api("/instances/c-1/terminate"))
        .await
        .expect_empty(410);
    s.post(&s.api("/instances/c-1/suspend"))
        .await
        .expect_empty(410);
    s.post(&s.api("/instances/c-1/resume"))
        .await
        .expect_empty(410);
    s.post(&s.api("/instances/c-1/rewind"))
        .await
        .expect_empty(410);

    s.post(&s.api("/orchestrators/Fails/c-2")).await.expect(202);
    s.wait_status("c-2", "Failed").await;
    // Rewound, it runs again (and, its code failing every time, fails again).
    s.post(&s.api("/instances/c-2/rewind?reason=fixed+it"))
        .await
        .expect_empty(202);
    common::wait_until("c-2 ran again and failed", http_common::WAIT, || async {
        let history = s.client.history("c-2").await.unwrap();
        let woken = history.iter().any(
            |e| matches!(&e.kind, EventKind::GenericEvent { data: Some(d), .. } if d == "fixed it"),
        );
        let status = s.client.get("c-2").await.unwrap().runtime_status;
        (woken && status == OrchestrationStatus::Failed).then_some(())
    })
    .await;

    // Restart: a new id by default, the same id on request; the input comes along.
    s.post_json(&s.api("/orchestrators/Echo/c-3"), r#"{"n": 3}"#)
        .await
        .expect(202);
    s.wait_status("c-3", "Completed").await;
    let r = s.post(&s.api("/instances/c-3/restart")).await;
    let new_id = r.json["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, "c-3");
    assert_check_status(&r, &s.base, &hub, &new_id);
    let done = s.wait_status(&new_id, "Completed").await;
    assert_eq!(done.json["output"], json!({"n": 3}));
    let r = s
        .post(&s.api("/instances/c-3/restart?restartWithNewInstanceId=false"))
        .await;
    assert_check_status(&r, &s.base, &hub, "c-3");
    s.wait_status("c-3", "Completed").await;
    // Restarting a running instance under its own id is refused like a duplicate start.
    s.post(&s.api("/orchestrators/WaitForGo/c-4"))
        .await
        .expect(202);
    s.wait_status("c-4", "Running").await;
    let r = s.post(&s.api("/instances/c-4/rewind")).await;
    r.expect(500);
    assert!(r.json["ExceptionMessage"]
        .as_str()
        .unwrap()
        .contains("only supported on failed"));
    s.post(&s.api("/instances/c-4/restart?restartWithNewInstanceId=false"))
        .await
        .expect(409);
}

#[tokio::test]
async fn list_filters_and_pages() {
    let s = TestServer::start("httplist").await;
    for i in 0..5 {
        s.post_json(
            &s.api(&format!("/orchestrators/Echo/lst-{i}")),
            &i.to_string(),
        )
        .await
        .expect(202);
    }
    s.post(&s.api("/orchestrators/WaitForGo/other-1"))
        .await
        .expect(202);
    for i in 0..5 {
        s.wait_status(&format!("lst-{i}"), "Completed").await;
    }
    s.wait_status("other-1", "Running").await;

    // All of them (the Python client's `instances/` with the trailing slash).
    let all = s.get(&s.api("/instances/")).await;
    all.expect(200);
    assert_eq!(all.json.as_array().unwrap().len(), 6);
    assert_eq!(all.header("x-ms-continuation-token"), Some(""));
    for item in all.json.as_array().unwrap() {
        assert!(item.get("historyEvents").is_none());
        assert!(is_seconds_time(&item["createdTime"]));
    }

    // Pages of two, following the continuation header.
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let mut req = s.http.get(s.api("/instances?instanceIdPrefix=lst-&top=2"));
        if !token.is_empty() {
            req = req.header("x-ms-continuation-token", &token);
        }
        let page = s.send(req).await;
        page.expect(200);
        let items = page.json.as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|i| i["instanceId"].as_str().unwrap().to_string()),
        );
        token = page.header("x-ms-continuation-token").unwrap().to_string();
        pages += 1;
        if token.is_empty() {
            break;
        }
        assert!(pages < 10, "paging does not end");
    }
    seen.sort();
    assert_eq!(seen, ["lst-0", "lst-1", "lst-2", "lst-3", "lst-4"]);
    assert!(pages >= 3);

    // Status filters: comma-separated and repeated, case-sensitive names, unknown ones dropped.
    let r = s
        .get(&s.api("/instances?runtimeStatus=Running,Pending"))
        .await;
    let ids: Vec<&str> = r
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instanceId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["other-1"]);
    let r = s
        .get(&s.api("/instances?runtimeStatus=Completed&runtimeStatus=Bogus&instanceIdPrefix=lst-&showInput=false"))
        .await;
    assert_eq!(r.json.as_array().unwrap().len(), 5);
    assert!(r
        .json
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["input"].is_null() && !i["output"].is_null()));

    // Time filters, in the Python client's format.
    let r = s
        .get(&s.api("/instances/?createdTimeFrom=2000-01-01T00:00:00.000000Z&createdTimeTo=2000-12-31T23:59:59.000000Z"))
        .await;
    assert_eq!(r.json, json!([]));
    let r = s
        .get(
            &s.api("/instances/?createdTimeFrom=2000-01-01T00:00:00.000000Z&instanceIdPrefix=lst-"),
        )
        .await;
    assert_eq!(r.json.as_array().unwrap().len(), 5);

    // A token we never issued is refused.
    let r = s
        .send(
            s.http
                .get(s.api("/instances"))
                .header("x-ms-continuation-token", "garbage!"),
        )
        .await;
    r.expect(400);
}

#[tokio::test]
async fn purge_one_and_by_filter() {
    let s = TestServer::start("httppurge").await;
    for id in ["p-1", "p-2", "p-3"] {
        s.post(&s.api(&format!("/orchestrators/Echo/{id}")))
            .await
            .expect(202);
    }
    s.post(&s.api("/orchestrators/WaitForGo/p-live"))
        .await
        .expect(202);
    for id in ["p-1", "p-2", "p-3"] {
        s.wait_status(id, "Completed").await;
    }
    s.wait_status("p-live", "Running").await;

    // A running instance is not purged (400), a finished one is; then it is gone (404).
    let r = s.delete(&s.api("/instances/p-live")).await;
    r.expect(400);
    assert!(r.json["ExceptionMessage"].is_string());
    s.delete(&s.api("/instances/p-1")).await.expect(200);
    assert!(s.client.status("p-1", false).await.unwrap().is_none());
    s.get(&s.api("/instances/p-1")).await.expect_empty(404);
    s.delete(&s.api("/instances/p-1")).await.expect_empty(404);

    // By filter: createdTimeFrom is required (400, a JSON string), then n, then 404.
    let r = s.delete(&s.api("/instances/")).await;
    r.expect(400);
    assert!(r.json.as_str().unwrap().contains("createdTimeFrom"));
    let r = s
        .delete(&s.api("/instances/?createdTimeFrom=2000-01-01T00:00:00.000000Z&runtimeStatus=Completed,Failed"))
        .await;
    r.expect(200);
    assert_eq!(r.json, json!({"instancesDeleted": 2, "isComplete": true}));
    assert_eq!(r.header("x-ms-continuation-token"), Some(""));
    s.delete(&s.api("/instances/?createdTimeFrom=2000-01-01T00:00:00Z&runtimeStatus=Completed"))
        .await
        .expect_empty(404);
    // The running one was left alone.
    assert!(s.client.status("p-live", false).await.unwrap().is_some());
}

/// A purge by filter answers within its `timeout` with what it deleted and a continuation
/// header; called again (with the token, or without: the deleted ones are gone) it goes on until
/// `isComplete`. Known to catch a budget that is not applied: checked once with the budget
/// ignored, when the first answer took 6 s and deleted all 300.
#[tokio::test]
async fn purge_by_filter_answers_within_its_timeout_and_goes_on_when_called_again() {
    let s = TestServer::start("httppurgebudget").await;
    let hour = Duration::from_secs(3600);
    common::hub::write_finished(
        &s.hub.hub,
        "old-",
        300,
        OrchestrationStatus::Completed,
        hour,
    )
    .await;
    let url = s.api(
        "/instances/?createdTimeFrom=2000-01-01T00:00:00Z&runtimeStatus=Completed&timeout=0.1",
    );

    // A wide margin (a loaded machine slows every storage call); that the timeout bounds the
    // call is shown by it deleting some but not all (below).
    let start = std::time::Instant::now();
    let r = s.delete(&url).await;
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    r.expect(200);
    let first = r.json["instancesDeleted"].as_u64().unwrap();
    assert!(first > 0 && first < 300, "{}", r.json);
    assert_eq!(r.json["isComplete"], false);
    let token = r.header("x-ms-continuation-token").unwrap().to_string();
    assert!(!token.is_empty());

    // A token it did not issue: 400, nothing deleted.
    s.send(
        s.http
            .delete(&url)
            .header("x-ms-continuation-token", "garbage!"),
    )
    .await
    .expect(400);
    // Again without the token: it starts over and finds the rest.
    let r = s.delete(&url).await;
    r.expect(200);
    let mut total = first + r.json["instancesDeleted"].as_u64().unwrap();
    let mut token = r
        .header("x-ms-continuation-token")
        .unwrap_or_default()
        .to_string();
    while !token.is_empty() {
        let r = s
            .send(
                s.http
                    .delete(&url)
                    .header("x-ms-continuation-token", &token),
            )
            .await;
        r.expect(200);
        total += r.json["instancesDeleted"].as_u64().unwrap();
        assert_eq!(r.json["isComplete"], token_is_empty(&r));
        token = r
            .header("x-ms-continuation-token")
            .unwrap_or_default()
            .to_string();
    }
    assert_eq!(total, 300);
    s.delete(&url).await.expect_empty(404);
}

fn token_is_empty(r: &Reply) -> bool {
    r.header("x-ms-continuation-token")
        .unwrap_or_default()
        .is_empty()
}

#[tokio::test]
async fn recursive_suspend_resume_terminate_and_purge() {
    let s = TestServer::start("httptree").await;
    s.post(&s.api("/orchestrators/Tree/t1")).await.expect(202);
    for id in ["t1-a", "t1-b"] {
        s.wait_status(id, "Running").await;
    }
    // Without recursive=true only the parent is touched (Durable Functions' default).
    s.post(&s.api("/instances/t1/suspend"))
        .await
        .expect_empty(202);
    s.wait_status("t1", "Suspended").await;
    s.post(&s.api("/instances/t1/resume"))
        .await
        .expect_empty(202);
    s.wait_status("t1", "Running").await;
    for id in ["t1-a", "t1-b"] {
        assert_eq!(
            s.get(&s.api(&format!("/instances/{id}"))).await.json["runtimeStatus"],
            "Running"
        );
    }

    s.post(&s.api("/instances/t1/suspend?recursive=true"))
        .await
        .expect_empty(202);
    for id in ["t1", "t1-a", "t1-b"] {
        s.wait_status(id, "Suspended").await;
    }
    s.post(&s.api("/instances/t1/resume?recursive=true"))
        .await
        .expect_empty(202);
    for id in ["t1", "t1-a", "t1-b"] {
        s.wait_status(id, "Running").await;
    }

    // A finished parent with a live child: the recursive purge is refused and deletes nothing.
    s.post(&s.api("/instances/t1/terminate?reason=stop"))
        .await
        .expect_empty(202);
    s.wait_status("t1", "Terminated").await;
    let r = s.delete(&s.api("/instances/t1?recursive=true")).await;
    r.expect(400);
    assert!(
        r.json["ExceptionMessage"]
            .as_str()
            .unwrap()
            .contains("t1-a"),
        "{r:?}"
    );
    for id in ["t1", "t1-a", "t1-b"] {
        assert!(s.client.status(id, false).await.unwrap().is_some(), "{id}");
    }

    // A second tree, terminated recursively, then purged recursively.
    s.post(&s.api("/orchestrators/Tree/t2")).await.expect(202);
    for id in ["t2-a", "t2-b"] {
        s.wait_status(id, "Running").await;
    }
    s.post(&s.api("/instances/t2/terminate?recursive=true&reason=stop"))
        .await
        .expect_empty(202);
    for id in ["t2", "t2-a", "t2-b"] {
        s.wait_status(id, "Terminated").await;
    }
    let r = s.delete(&s.api("/instances/t2?recursive=true")).await;
    r.expect(200);
    assert_eq!(r.json, json!({"instancesDeleted": 3}));
    for id in ["t2", "t2-a", "t2-b"] {
        assert!(s.client.status(id, false).await.unwrap().is_none(), "{id}");
        assert!(s.client.history(id).await.unwrap().is_empty(), "{id}");
    }
}

#[tokio::test]
async fn entities_signal_read_list_and_delete() {
    let s = TestServer::start("httpentities").await;
    // The name is case-insensitive, the key is not; a JSON body is the input.
    s.post_json(&s.api("/entities/Session_Handler/k1?op=add"), "5")
        .await
        .expect_empty(202);
    // Text that is not application/json is the input as a string.
    s.send(
        s.http
            .post(s.api("/entities/session_handler/k1?op=append"))
            .header("content-type", "text/plain")
            .body("hello there"),
    )
    .await
    .expect_empty(202);
    let state = http_common::wait_until_json(&s, &s.api("/entities/session_handler/k1"), |j| {
        j["log"] == json!(["hello there"])
    })
    .await;
    assert_eq!(state, json!({"count": 5, "log": ["hello there"]}));
    s.get(&s.api("/entities/session_handler/K1"))
        .await
        .expect_empty(404);

    s.post_json(&s.api("/entities/session_handler/k2?op=add"), "7")
        .await
        .expect(202);
    http_common::wait_until_json(&s, &s.api("/entities/session_handler/k2"), |j| {
        j["count"] == 7
    })
    .await;

    let list = s.get(&s.api("/entities")).await;
    list.expect(200);
    assert_eq!(list.header("x-ms-continuation-token"), Some(""));
    let items = list.json.as_array().unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(
        items[0]["entityId"],
        json!({"name": "session_handler", "key": "k1"})
    );
    assert_eq!(items[0]["state"], Value::Null);
    assert_eq!(items[0]["lastOperationTime"].as_str().unwrap().len(), 28);
    let list = s
        .get(&s.api("/entities/Session_Handler?fetchState=true"))
        .await;
    assert_eq!(list.json[1]["state"], json!({"count": 7}));
    let list = s.get(&s.api("/entities/other")).await;
    assert_eq!(list.json, json!([]));
    let list = s
        .get(&s.api("/entities?lastOperationTimeFrom=2999-01-01T00:00:00Z"))
        .await;
    assert_eq!(list.json, json!([]));

    // Entities stay out of the instance list.
    let r = s.get(&s.api("/instances")).await;
    assert_eq!(r.json, json!([]));

    // Any entity name is signalled (only the workers know what they run); missing keys and bad
    // JSON are 400 and send nothing.
    s.post_json(&s.api("/entities/nosuch/k?op=add"), "1")
        .await
        .expect(202);
    s.post_json(&s.api("/entities/session_handler?op=add"), "1")
        .await
        .expect(400);
    let r = s
        .post_json(&s.api("/entities/session_handler/k3?op=add"), "{oops")
        .await;
    r.expect(400);
    assert!(r.json["Message"]
        .as_str()
        .unwrap()
        .starts_with("Could not parse JSON content"));

    // DELETE signals `delete`: 202 (the sample entity does not know that operation, so its
    // state stays).
    s.delete(&s.api("/entities/session_handler/k2"))
        .await
        .expect_empty(202);
    s.post(&s.api("/entities/session_handler/k2?op=reset"))
        .await
        .expect_empty(202);
    http_common::wait_until_reply(&s, &s.api("/entities/session_handler/k2"), |r| {
        r.status == 404
    })
    .await
    .expect_empty(404);
}

#[tokio::test]
async fn keys_are_required_and_carried_in_the_urls() {
    let options = HttpOptions {
        key: Some("s3cret/+key".into()),
        ..HttpOptions::default()
    };
    assert!(!format!("{options:?}").contains("s3cret"));
    let s = TestServer::start_with("httpkeys", options).await;
    let hub = s.hub.hub.names().hub().as_str().to_string();

    // Without the key, or with a wrong one: 401 with a JSON body; nothing started.
    let r = s.post(&s.url("/api/orchestrators/Echo/k-1")).await;
    r.expect(401);
    assert!(r.json["Message"].is_string());
    s.post(&s.api("/orchestrators/Echo/k-1?code=wrong"))
        .await
        .expect(401);
    s.send(
        s.http
            .post(s.api("/orchestrators/Echo/k-1"))
            .header("x-functions-key", "nope"),
    )
    .await
    .expect(401);
    s.get(&s.api("/instances")).await.expect(401);
    assert!(s.client.status("k-1", false).await.unwrap().is_none());

    // With code= (URL-encoded) the URLs handed out carry it.
    let r = s
        .post(&s.url("/api/orchestrators/Echo/k-1?code=s3cret%2F%2Bkey"))
        .await;
    r.expect(202);
    let status_url = r.json["statusQueryGetUri"].as_str().unwrap().to_string();
    assert_eq!(
        status_url,
        format!(
            "{}{WEBHOOK}/instances/k-1?taskHub={hub}&connection=Storage&code=s3cret%2F%2Bkey",
            s.base
        )
    );
    for k in MANAGEMENT_KEYS.iter().skip(1) {
        assert!(
            r.json[k]
                .as_str()
                .unwrap()
                .ends_with("&code=s3cret%2F%2Bkey"),
            "{k}"
        );
    }
    // The handed-out URL works as is; so does the header.
    let done = http_common::wait_until_status(&s, &status_url, "Completed").await;
    done.expect(200);
    let r = s
        .send(
            s.http
                .get(s.api("/instances/k-1"))
                .header("x-functions-key", "s3cret/+key"),
        )
        .await;
    r.expect(200);

    // The RPC prefix lets a loopback peer in without a key (the Python client sends none).
    let r = s.get(&s.url("/durabletask/instances/k-1")).await;
    r.expect(200);
    assert_eq!(r.json["runtimeStatus"], "Completed");
    // Not through a proxy on this machine, though.
    s.send(
        s.http
            .get(s.url("/durabletask/instances/k-1"))
            .header("x-forwarded-for", "203.0.113.9"),
    )
    .await
    .expect(401);
}

#[tokio::test]
async fn bad_input_gets_json_4xx_and_writes_nothing() {
    let options = HttpOptions {
        max_body_bytes: 1024,
        ..HttpOptions::default()
    };
    let s = TestServer::start_with("httpbad", options).await;

    // Malformed JSON input: 400 with ExceptionMessage (what the Python client raises).
    let r = s
        .post_json(&s.api("/orchestrators/Echo/b-1"), "{not json")
        .await;
    r.expect(400);
    assert_eq!(r.json["Message"], "Invalid JSON content");
    assert!(r.json["ExceptionMessage"].is_string());
    // Oversize body: 413.
    let big = format!("\"{}\"", "x".repeat(2000));
    let r = s.post_json(&s.api("/orchestrators/Echo/b-2"), &big).await;
    r.expect(413);
    assert!(r.json["Message"].as_str().unwrap().contains("1024"));
    // The same without a Content-Length (chunked): still 413.
    let chunked = format!(
        "POST {WEBHOOK}/orchestrators/Echo/b-3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    let (status, body) = http_common::raw(&s.base, chunked.as_bytes()).await;
    assert_eq!(status, 413, "{body}");
    assert!(serde_json::from_str::<Value>(&body).is_ok(), "{body}");
    // Ids the host refuses.
    for bad in ["%40b-5", "b%2F6", "b%3F7", "b%0A8"] {
        let r = s.post(&s.api(&format!("/orchestrators/Echo/{bad}"))).await;
        r.expect(400);
        assert!(r.json["ExceptionMessage"].is_string(), "{bad}");
    }
    // Another hub than ours.
    s.post(&s.api("/orchestrators/Echo/b-9?taskHub=SomeOtherHub"))
        .await
        .expect(400);
    // Nothing of the above was written.
    let listed = s
        .client
        .list(&Default::default(), None, None)
        .await
        .unwrap();
    assert!(listed.instances.is_empty(), "{:?}", listed.instances);

    // Any orchestrator name is started, as the Durable Functions client API does (the client
    // cannot know what the workers register). This worker leaves it for one that registers it
    // (Reject, the default), so it stays Pending, and a terminate needs none of its code.
    s.post(&s.url("/api/orchestrators/NoSuchOrch/b-4"))
        .await
        .expect(202);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    s.wait_status("b-4", "Pending").await;
    s.post(&s.api("/instances/b-4/terminate?reason=unknown"))
        .await
        .expect(202);
    s.wait_status("b-4", "Terminated").await;

    // Raise event: content type and JSON are checked after the instance.
    s.client
        .start(StartRequest::new("WaitForGo").with_id("b-live"))
        .await
        .unwrap();
    s.wait_status("b-live", "Running").await;
    let url = s.api("/instances/b-live/raiseEvent/Go");
    let r = s
        .send(
            s.http
                .post(&url)
                .header("content-type", "text/plain")
                .body("1"),
        )
        .await;
    r.expect(400);
    assert_eq!(
        r.json["Message"],
        "Only application/json request content is supported"
    );
    s.post_json(&url, "").await.expect(400);
    s.post_json(&url, "{bad").await.expect(400);
    s.post_json(&url, &big).await.expect(413);
    // None of them reached the instance: it is still waiting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let st = s.client.status("b-live", false).await.unwrap().unwrap();
    assert_ne!(st.runtime_status, OrchestrationStatus::Completed);

    // Unknown routes and methods: 404 / 405 with JSON bodies.
    let r = s.get(&s.url("/nothing/here")).await;
    r.expect(404);
    assert!(r.json["Message"].is_string());
    s.get(&s.api("/instances/b-live/unknownOp"))
        .await
        .expect(405);
    s.post(&s.api("/instances/b-live/unknownOp"))
        .await
        .expect(404);
    s.post(&s.api("/instances/b-live/raiseEvent"))
        .await
        .expect(404);
    let r = s.get(&s.api("/orchestrators/Echo")).await;
    r.expect(405);
    assert!(r.json["Message"].as_str().unwrap().contains("GET"));
    s.send(s.http.put(s.api("/instances"))).await.expect(405);
    s.send(s.http.patch(s.url("/api/orchestrators/Echo")))
        .await
        .expect(405);
    // Paths with invalid UTF-8 escapes.
    s.get(&s.api("/instances/%FF%FE")).await.expect(400);
}

#[tokio::test]
async fn without_a_key_a_public_address_falls_back_to_loopback() {
    let options = HttpOptions {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..HttpOptions::default()
    };
    assert!(options.effective_listen().ip().is_loopback());
    let with_key = HttpOptions {
        key: Some("k".into()),
        ..options.clone()
    };
    assert!(!with_key.effective_listen().ip().is_loopback());
    let anonymous = HttpOptions {
        allow_anonymous: true,
        ..options
    };
    assert!(!anonymous.effective_listen().ip().is_loopback());
}

#[tokio::test]
async fn odd_requests_get_empty_or_json_replies_and_the_server_keeps_serving() {
    let s = TestServer::start("httpodd").await;
    let requests: Vec<Vec<u8>> = vec![
        format!("GET {WEBHOOK}/instances?runtimeStatus=%ZZ&top=%FF&showInput=%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes(),
        format!("GET {WEBHOOK}/instances/x HTTP/1.1\r\nHost: bad host!\r\nConnection: close\r\n\r\n").into_bytes(),
        format!("GET {WEBHOOK}/instances/{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "a".repeat(300)).into_bytes(),
        [format!("POST {WEBHOOK}/orchestrators/Echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n").into_bytes(), vec![0xff, 0xfe, 0xfd, 0xfc, 0xfb]].concat(),
        [format!("POST {WEBHOOK}/entities/session_handler/k?op=add HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n").into_bytes(), vec![0xff, 0xfe]].concat(),
        format!("DELETE {WEBHOOK}/instances?createdTimeFrom=not-a-date HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes(),
        format!("GET {WEBHOOK}/instances HTTP/1.1\r\nHost: x\r\nx-ms-continuation-token: \u{00e9}\r\nConnection: close\r\n\r\n").into_bytes(),
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
    ];
    for req in requests {
        let (status, body) = http_common::raw(&s.base, &req).await;
        assert!(
            (200..500).contains(&status),
            "{status} for {}: {body}",
            String::from_utf8_lossy(&req)
        );
        assert!(
            body.is_empty() || serde_json::from_str::<Value>(&body).is_ok(),
            "{status}: body is neither empty nor JSON: {body:?}"
        );
    }
    // Still serving.
    s.get(&s.api("/instances")).await.expect(200);
}
