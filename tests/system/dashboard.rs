//! The dashboard in a real browser: headless Chromium loads the overview and a line page while
//! frames stream, sees a new verdict and the new counts arrive without a reload, opens a
//! failed verdict and finds the symbol's grid drawn on its frame (every module, the modules of
//! the codewords read in error ringed), and acknowledges an alarm from its form — which the
//! Alarms service then reports, with the user and comment given. Screenshots of each page are
//! written under `target/tmp/dashboard/` for review.

use crate::support::browser::{self, Browser};
use crate::support::{Process, blank_png, data_dir, first_alarm, image_request, pack_png};
use bytes::Bytes;
use serde_json::json;
use std::path::PathBuf;
use verigrade::proto::alarms_client::AlarmsClient;
use verigrade::proto::verifier_client::VerifierClient;
use verigrade::proto::{ListAlarmsRequest, VerifyRequest};

const LINE: &str = "DASH";

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard")
}

/// Sends frames and waits for their verdicts.
fn send(runtime: &tokio::runtime::Runtime, server: &Process, frames: Vec<VerifyRequest>) {
    runtime.block_on(async {
        let mut verifier = VerifierClient::connect(server.url.clone()).await.unwrap();
        for frame in frames {
            verifier.verify(frame).await.unwrap();
        }
    });
}

#[test]
fn the_dashboard_follows_a_line_live_shows_the_grid_on_a_failed_frame_and_acknowledges_alarms() {
    let Some(chromium) = browser::find() else {
        assert!(
            std::env::var_os("VERIGRADE_REQUIRE_BROWSER").is_none(),
            "VERIGRADE_REQUIRE_BROWSER is set and no Chromium was found"
        );
        eprintln!(
            "skipped: the dashboard's browser test needs Chromium (Debian: apt install \
             chromium; or set VERIGRADE_CHROMIUM to a Chrome or Chromium binary)"
        );
        return;
    };
    let dir = data_dir("dashboard");
    let server = Process::start(&dir, &[]);
    let http = server.printed_url("http://");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Three good packs, one whose print fails (8 codewords inverted), then frames without a
    // symbol: four failures in a row stop the line.
    let failing = Bytes::from(std::fs::read("samples/failing.png").unwrap());
    let mut frames: Vec<_> = (1..=3)
        .map(|i| image_request(LINE, &format!("good-{i}"), pack_png(&format!("DB{i}"))))
        .collect();
    frames.push(image_request(LINE, "failing-1", failing));
    frames.extend((1..=3).map(|i| image_request(LINE, &format!("blank-{i}"), blank_png())));
    send(&runtime, &server, frames);
    let mut alarms = runtime
        .block_on(AlarmsClient::connect(server.url.clone()))
        .unwrap();
    let list = || {
        tonic::Request::new(ListAlarmsRequest {
            line_id: LINE.into(),
            only_active: true,
            ..ListAlarmsRequest::default()
        })
    };
    runtime.block_on(first_alarm(&mut alarms, list));

    let mut page = Browser::start(&chromium, dir.join("chromium-profile"));
    // The overview: the line, stopped, with its counts.
    page.open(&http);
    let row = format!("document.getElementById('line-{LINE}')");
    page.wait_for("the line's row", &row);
    let text = page.eval(&format!("{row}.textContent"));
    let text = text.as_str().unwrap();
    assert!(text.contains("STOPPED") && text.contains("7"), "{text}");
    page.screenshot(&screenshots().join("overview.png"));

    // The line page, live: a frame sent now appears at the top, and the counts follow, while
    // the page stays the one loaded (a mark set on it survives).
    page.open(&format!("{http}lines/{LINE}"));
    page.wait_for(
        "the event stream to open",
        "document.body.classList.contains('live')",
    );
    page.eval("window.loadedOnce = true");
    assert_eq!(
        page.eval("document.querySelectorAll('#verdicts tr').length"),
        json!(7)
    );
    send(
        &runtime,
        &server,
        vec![image_request(LINE, "live-1", pack_png("DB9"))],
    );
    page.wait_for(
        "the new verdict at the top of the table",
        "document.querySelector('#verdicts tr').textContent.includes('live-1')",
    );
    page.wait_for(
        "the counts to follow",
        "document.querySelector('#stats .kpi b').textContent === '8'",
    );
    assert_eq!(
        page.eval("window.loadedOnce"),
        json!(true),
        "the page reloaded"
    );
    page.screenshot(&screenshots().join("line.png"));

    // The failed verdict, opened from its row: its frame with every module of the 24x24 symbol
    // and the 8 modules of each of its 8 codewords read in error ringed.
    page.eval(&format!(
        "document.querySelector('a[href=\"/lines/{LINE}/frames/failing-1\"]').click()"
    ));
    page.wait_for(
        "the verdict page",
        "location.pathname.endsWith('/frames/failing-1') && document.readyState === 'complete' \
         && document.getElementById('overlay')",
    );
    assert_eq!(
        page.eval("document.querySelectorAll('#overlay svg.picture circle').length"),
        json!(576)
    );
    assert_eq!(
        page.eval("document.querySelectorAll('#overlay svg.picture circle.error').length"),
        json!(64)
    );
    assert_eq!(
        page.eval("document.querySelectorAll('#overlay svg.picture polygon.outline').length"),
        json!(1)
    );
    // The picture's pixels came with the page and decoded.
    page.wait_for(
        "the frame's pixels",
        "document.querySelector('#overlay svg.picture image').getBBox().width > 0",
    );
    page.screenshot(&screenshots().join("verdict.png"));

    // Acknowledging the first open alarm from its form, as an operator would.
    page.open(&format!("{http}lines/{LINE}"));
    let alarm_id = page.eval("document.querySelector('#alarms tr.alarm').dataset.alarm");
    let alarm_id = alarm_id.as_str().unwrap().to_string();
    page.eval(
        "(() => { window.beforeAck = true; const f = document.querySelector('#alarms form.ack'); \
         f.user.value = 'olga'; f.comment.value = 'cleared the jam'; f.requestSubmit(); })()",
    );
    // Back on the line page (a new document), where the alarm has no form any more: it is
    // acknowledged, or cleared and gone from the open alarms since a good pack followed.
    page.wait_for(
        "the line page again, the alarm acknowledged",
        &format!(
            "window.beforeAck === undefined && document.readyState === 'complete' \
             && location.pathname === '/lines/{LINE}' && ![...document.querySelectorAll('#alarms \
             tr.alarm')].some(r => r.dataset.alarm === {id} && r.querySelector('form'))",
            id = json!(alarm_id)
        ),
    );
    page.screenshot(&screenshots().join("acknowledged.png"));
    let acknowledged = runtime
        .block_on(alarms.list_alarms(ListAlarmsRequest {
            line_id: LINE.into(),
            ..ListAlarmsRequest::default()
        }))
        .unwrap()
        .into_inner()
        .alarms
        .into_iter()
        .find(|a| a.alarm_id == alarm_id)
        .unwrap();
    assert_eq!(
        (
            acknowledged.acknowledged_by.as_str(),
            acknowledged.comment.as_str()
        ),
        ("olga", "cleared the jam")
    );
    assert_ne!(acknowledged.state, "active");
    // The batch page is the batch report, its failed frames linked to their verdict pages.
    page.eval("document.querySelector('a[href$=\"/batches/12AB34\"]').click()");
    page.wait_for(
        "the batch page",
        "location.pathname.endsWith('/batches/12AB34') && document.readyState === 'complete' \
         && document.getElementById('reconciliation')",
    );
    assert_eq!(
        page.eval(&format!(
            "!!document.querySelector('#failures a[href=\"/lines/{LINE}/frames/failing-1\"]')"
        )),
        json!(true)
    );
    page.screenshot(&screenshots().join("batch.png"));
    drop(page);
    let (status, printed) = server.terminate();
    assert!(status.success(), "{printed}");
}
