//! Line control end to end, against a real server: packs rendered with a known fault (a print
//! that fades pack by pack, no-reads, a repeated serial, a camera that stops) raise the alarm
//! their rule names, stop the line where the rule says STOP, and acknowledgement restarts it;
//! alarms and the line's state survive a restart; a long run of good packs raises nothing.

use crate::support::{Server, blank_png, config, data_dir, gs1_text, image_request, pack_png};
use bytes::Bytes;
use rayon::prelude::*;
use std::io::Cursor;
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;
use tonic::Code;
use verigrade::control::Monitor;
use verigrade::control::rules::AlarmRules;
use verigrade::proto::alarms_client::AlarmsClient;
use verigrade::proto::{
    AcknowledgeAlarmRequest, Alarm, FreezeLimitsRequest, GetControlChartRequest,
    GetLineStateRequest, ListAlarmsRequest, RunState, Verdict, VerifyRequest, WatchAlarmsRequest,
};
use verigrade::serve::engine::Engine;
use verigrade::synth::{GenSpec, render};

async fn alarms_client(server: &Server) -> AlarmsClient<tonic::transport::Channel> {
    AlarmsClient::connect(server.url.clone()).await.unwrap()
}

/// Sends frames one at a time (each answered, so stored, before the next is sent).
async fn verify_each(server: &Server, requests: Vec<VerifyRequest>) -> Vec<Verdict> {
    let mut client = server.verifier().await;
    let mut verdicts = Vec::new();
    for request in requests {
        verdicts.push(client.verify(request).await.unwrap().into_inner());
    }
    verdicts
}

async fn list(client: &mut AlarmsClient<tonic::transport::Channel>, line: &str) -> Vec<Alarm> {
    client
        .list_alarms(ListAlarmsRequest {
            line_id: line.into(),
            ..ListAlarmsRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
        .alarms
}

/// The line's alarms once `wanted` says they are complete (alarms are stored just after the
/// verdict that raised them is answered).
async fn wait_for_alarms(
    client: &mut AlarmsClient<tonic::transport::Channel>,
    line: &str,
    wanted: impl Fn(&[Alarm]) -> bool,
) -> Vec<Alarm> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let alarms = list(client, line).await;
        if wanted(&alarms) || Instant::now() > deadline {
            return alarms;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn state(
    client: &mut AlarmsClient<tonic::transport::Channel>,
    line: &str,
) -> (RunState, String) {
    let state = client
        .get_line_state(GetLineStateRequest {
            line_id: line.into(),
        })
        .await
        .unwrap()
        .into_inner();
    (state.state(), state.stopping_alarm_id)
}

fn png(spec: &GenSpec) -> Bytes {
    let image = render(spec).unwrap().image;
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    Bytes::from(png)
}

/// A pack of the line: its own serial, printed with these reflectances, seen by a camera with
/// a little blur and noise.
fn pack(serial: usize, light: f64, dark: f64, seed: u64) -> GenSpec {
    GenSpec {
        text: gs1_text(&format!("TR{serial:05}")),
        gs1: true,
        module_px: 6.0,
        light,
        dark,
        blur: 0.7,
        noise: 3.0,
        canvas: Some((320, 240)),
        seed,
        ..GenSpec::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fading_print_warns_of_its_trend_before_the_first_pack_fails() {
    let dir = data_dir("control-fade");
    let server = Server::start(config(&dir)).await;
    // The ink fades: dark reflectance rises 0.006 a pack, so symbol contrast falls from 0.80
    // through C (0.55) to below 0.40, where the default profile (minimum 1.5) fails.
    let requests: Vec<VerifyRequest> = (0..90)
        .into_par_iter()
        .map(|i| {
            let spec = pack(i, 0.85, 0.05 + 0.006 * i as f64, i as u64);
            image_request("F1", &format!("f{i}"), png(&spec))
        })
        .collect();
    let verdicts = verify_each(&server, requests).await;
    let first_fail = verdicts
        .iter()
        .position(|v| !v.pass)
        .expect("the print fades below the profile's minimum");
    let mut client = alarms_client(&server).await;
    let alarms = wait_for_alarms(&mut client, "F1", |a| a.iter().any(|a| a.rule == "trend")).await;
    let trend = alarms
        .iter()
        .filter(|a| a.rule == "trend" && a.parameter == "symbol_contrast")
        .min_by_key(|a| a.sequence)
        .unwrap_or_else(|| panic!("no symbol contrast trend among {alarms:#?}"));
    let raised_at: usize = trend.frame_ids[0][1..].parse().unwrap();
    eprintln!(
        "trend raised at pack {raised_at}, first failing pack {first_fail}: {}",
        trend.message
    );
    assert!(
        raised_at < first_fail,
        "the trend warning (pack {raised_at}) must come before the first failure (pack {first_fail})"
    );
    assert_eq!(trend.severity(), verigrade::proto::Severity::Warn);
    assert!(
        trend.message.starts_with("symbol contrast 0.")
            && trend.message.contains("trending down")
            && trend.message.contains("C→D in ~"),
        "{}",
        trend.message
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_failures_in_a_row_stop_the_line_and_acknowledgement_restarts_it() {
    let dir = data_dir("control-stop");
    let server = Server::start(config(&dir)).await;
    let mut client = alarms_client(&server).await;
    assert_eq!(state(&mut client, "S1").await.0, RunState::Idle);
    let mut requests = vec![image_request("S1", "good-1", pack_png("ST1"))];
    requests.extend((1..=3).map(|i| image_request("S1", &format!("blank-{i}"), blank_png())));
    requests.push(image_request("S1", "while-stopped", pack_png("ST2")));
    let verdicts = verify_each(&server, requests).await;
    assert!(verdicts[0].pass && !verdicts[0].line_stopped);
    assert!(verdicts[1..4].iter().all(|v| !v.pass && !v.line_stopped));
    assert!(
        verdicts[4].pass && verdicts[4].line_stopped,
        "a verdict made while stopped is stored and marked"
    );
    let (run, stopping) = state(&mut client, "S1").await;
    assert_eq!(run, RunState::Stopped);
    // The good pack after the three ended their run: the alarm's condition has gone (stored
    // just after that pack was answered).
    let alarm = wait_for_alarms(&mut client, "S1", |a| {
        a.iter().all(|a| a.returned_unix_ms > 0)
    })
    .await
    .into_iter()
    .find(|a| a.alarm_id == stopping)
    .unwrap();
    assert_eq!(alarm.rule, "consecutive_failures");
    assert_eq!(alarm.severity(), verigrade::proto::Severity::Stop);
    assert_eq!(alarm.frame_ids, ["blank-1", "blank-2", "blank-3"]);
    assert!(
        alarm
            .message
            .starts_with("3 failed verdicts in a row on line S1"),
        "{}",
        alarm.message
    );
    assert_eq!(alarm.state, "active", "not acknowledged yet");
    assert!(
        alarm.returned_unix_ms > 0,
        "the good pack after them ended the run"
    );

    let refused = client
        .acknowledge_alarm(AcknowledgeAlarmRequest {
            alarm_id: stopping.clone(),
            user: "ana".into(),
            comment: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("comment"),
        "{}",
        refused.message()
    );
    let unknown = client
        .acknowledge_alarm(AcknowledgeAlarmRequest {
            alarm_id: "999".into(),
            user: "ana".into(),
            comment: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    let acknowledged = client
        .acknowledge_alarm(AcknowledgeAlarmRequest {
            alarm_id: stopping.clone(),
            user: "ana".into(),
            comment: "cleared a jam at the printer".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acknowledged.state, "cleared");
    assert_eq!(acknowledged.acknowledged_by, "ana");
    assert_eq!(state(&mut client, "S1").await.0, RunState::Running);
    let again = client
        .acknowledge_alarm(AcknowledgeAlarmRequest {
            alarm_id: stopping,
            user: "bo".into(),
            comment: "again".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert!(again.message().contains("already acknowledged by ana"));
    let after = verify_each(&server, vec![image_request("S1", "after", pack_png("ST3"))]).await;
    assert!(!after[0].line_stopped);
    server.stop().await;
}

/// The next message of an alarm feed, within a deadline.
async fn next_alarm(feed: &mut tonic::Streaming<Alarm>) -> Alarm {
    tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .expect("an alarm within 10 s")
        .expect("the feed is open")
        .expect("not an error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicates_stop_the_line_a_watcher_sees_them_and_they_survive_a_restart() {
    let dir = data_dir("control-duplicate");
    let server = Server::start(config(&dir)).await;
    let mut client = alarms_client(&server).await;
    let mut watch = client
        .watch_alarms(WatchAlarmsRequest::default())
        .await
        .unwrap()
        .into_inner();
    verify_each(
        &server,
        vec![
            image_request("D1", "first", pack_png("DUP7")),
            image_request("D1", "again", pack_png("DUP7")),
            image_request("D1", "third", pack_png("DUP7")),
        ],
    )
    .await;
    let (one, two) = (next_alarm(&mut watch).await, next_alarm(&mut watch).await);
    for (alarm, frame) in [(&one, "again"), (&two, "third")] {
        assert_eq!(alarm.rule, "duplicate_serial");
        assert_eq!(alarm.frame_ids, [frame]);
        assert!(alarm.message.contains("(21)DUP7"), "{}", alarm.message);
        assert_eq!(alarm.state, "active");
    }
    assert_eq!(
        state(&mut client, "D1").await,
        (RunState::Stopped, one.alarm_id.clone())
    );
    server.stop().await;

    let server = Server::start(config(&dir)).await;
    let mut client = alarms_client(&server).await;
    assert_eq!(
        state(&mut client, "D1").await,
        (RunState::Stopped, one.alarm_id.clone()),
        "a restart keeps the line stopped by the same alarm"
    );
    // A watcher that asks for what came after the first alarm gets the second one first.
    let mut replay = client
        .watch_alarms(WatchAlarmsRequest {
            line_id: "D1".into(),
            after_sequence: one.sequence,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_alarm(&mut replay).await.alarm_id, two.alarm_id);
    for alarm in [&one, &two] {
        client
            .acknowledge_alarm(AcknowledgeAlarmRequest {
                alarm_id: alarm.alarm_id.clone(),
                user: "qa".into(),
                comment: "pack removed, serial investigated".into(),
            })
            .await
            .unwrap();
        let acknowledged = next_alarm(&mut replay).await;
        assert_eq!(
            (acknowledged.alarm_id.as_str(), acknowledged.state.as_str()),
            (alarm.alarm_id.as_str(), "cleared")
        );
    }
    assert_eq!(state(&mut client, "D1").await.0, RunState::Running);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_camera_that_falls_silent_warns_and_sending_again_ends_it() {
    let dir = data_dir("control-silent");
    let mut settings = config(&dir);
    settings.alarms.camera_silent.seconds = 1;
    let server = Server::start(settings).await;
    let frame = |id: &str| VerifyRequest {
        camera_id: "top".into(),
        ..image_request("C1", id, pack_png(&format!("CS{id}")))
    };
    verify_each(&server, vec![frame("1")]).await;
    let mut client = alarms_client(&server).await;
    let alarms = wait_for_alarms(&mut client, "C1", |a| !a.is_empty()).await;
    assert_eq!(alarms.len(), 1, "{alarms:#?}");
    let silent = &alarms[0];
    assert_eq!(
        (silent.rule.as_str(), silent.camera_id.as_str()),
        ("camera_silent", "top")
    );
    assert_eq!(silent.severity(), verigrade::proto::Severity::Warn);
    assert!(
        silent
            .message
            .contains("camera top on line C1 has sent no frame for 1 s"),
        "{}",
        silent.message
    );
    assert_eq!(silent.returned_unix_ms, 0);
    assert_eq!(
        state(&mut client, "C1").await.0,
        RunState::Running,
        "a WARN does not stop"
    );
    verify_each(&server, vec![frame("2")]).await;
    let alarms = wait_for_alarms(&mut client, "C1", |a| a[0].returned_unix_ms > 0).await;
    assert!(alarms[0].returned_unix_ms > 0, "{alarms:#?}");
    server.stop().await;
}

/// A baseline of four points, so a short test completes it.
fn settings_for(dir: &std::path::Path) -> verigrade::serve::config::Config {
    let mut settings = config(dir);
    settings.alarms.spc.baseline_points = 4;
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_control_chart_has_limits_once_its_baseline_is_complete_and_an_operator_can_freeze_them()
{
    let dir = data_dir("control-chart");
    let server = Server::start(settings_for(&dir)).await;
    let requests: Vec<VerifyRequest> = (0..30)
        .into_par_iter()
        .map(|i| image_request("K1", &format!("k{i}"), png(&pack(i, 0.85, 0.08, i as u64))))
        .collect();
    verify_each(&server, requests).await;
    let mut client = alarms_client(&server).await;
    // The line monitor sees each verdict just after it is answered.
    let deadline = Instant::now() + Duration::from_secs(20);
    let chart = loop {
        let chart = client
            .get_control_chart(GetControlChartRequest {
                line_id: "K1".into(),
                parameter: "symbol_contrast".into(),
                ..GetControlChartRequest::default()
            })
            .await
            .unwrap()
            .into_inner();
        if chart.points.len() == 6 || Instant::now() > deadline {
            break chart;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(chart.points.len(), 6, "30 packs in subgroups of 5");
    assert_eq!(chart.points[0].first_frame_id, "k0");
    let (lower, centre, upper) = (
        chart.lower_limit.unwrap(),
        chart.centre.unwrap(),
        chart.upper_limit.unwrap(),
    );
    assert!(lower < centre && centre < upper);
    assert!(
        (centre - 0.77).abs() < 0.05,
        "contrast 0.85 − 0.08: {centre}"
    );
    assert_eq!(chart.failing_at, Some(0.40));
    for (bad, code) in [
        ("contrast", Code::InvalidArgument),
        ("", Code::InvalidArgument),
    ] {
        let err = client
            .get_control_chart(GetControlChartRequest {
                line_id: "K1".into(),
                parameter: bad.into(),
                ..GetControlChartRequest::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{bad:?}");
    }
    let err = client
        .get_control_chart(GetControlChartRequest {
            line_id: "nowhere".into(),
            parameter: "modulation".into(),
            ..GetControlChartRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // An operator freezes the limits from all six points: the centre becomes their mean,
    // and stays after a restart.
    let frozen = client
        .freeze_limits(FreezeLimitsRequest {
            line_id: "K1".into(),
            parameter: "symbol_contrast".into(),
            points: 6,
            ..FreezeLimitsRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(frozen.limits.len(), 1);
    let mean = chart.points.iter().map(|p| p.value).sum::<f64>() / 6.0;
    assert!((frozen.limits[0].centre - mean).abs() < 1e-9, "{frozen:?}");
    for (line, parameter, code) in [
        ("K1", "contrast", Code::InvalidArgument),
        ("nowhere", "", Code::NotFound),
    ] {
        let err = client
            .freeze_limits(FreezeLimitsRequest {
                line_id: line.into(),
                parameter: parameter.into(),
                ..FreezeLimitsRequest::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{line} {parameter}");
    }
    server.stop().await;
    let server = Server::start(settings_for(&dir)).await;
    let mut client = alarms_client(&server).await;
    let after = client
        .get_control_chart(GetControlChartRequest {
            line_id: "K1".into(),
            parameter: "symbol_contrast".into(),
            ..GetControlChartRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!((after.centre.unwrap() - mean).abs() < 1e-9, "{after:?}");
    assert_eq!(after.points.len(), 6, "replayed from the store");
    server.stop().await;
}

/// Packs of a line in control: the same print, with the pack-to-pack variation of a real line
/// (reflectance, position, tilt, focus, sensor noise).
fn good_pack(i: usize) -> GenSpec {
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed ^ i as u64);
    let mut normal = |mean: f64, sd: f64| Normal::new(mean, sd).unwrap().sample(&mut rng);
    GenSpec {
        text: gs1_text(&format!("OK{i:06}")),
        gs1: true,
        module_px: 6.0,
        light: normal(0.86, 0.01),
        dark: normal(0.08, 0.01),
        rotation_deg: normal(0.0, 2.0),
        offset: (normal(0.0, 6.0), normal(0.0, 6.0)),
        blur: normal(0.8, 0.08).max(0.3),
        noise: normal(3.0, 0.5).max(0.5),
        canvas: Some((320, 240)),
        seed: i as u64,
        ..GenSpec::default()
    }
}

/// Packs in the false-alarm run; `VERIGRADE_FALSE_ALARM_PACKS` asks for more (the README's
/// figure is for 10 000).
fn false_alarm_packs() -> usize {
    std::env::var("VERIGRADE_FALSE_ALARM_PACKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

#[test]
fn a_long_run_of_good_packs_raises_no_alarm() {
    let packs = false_alarm_packs();
    let dir = data_dir("control-false-alarms");
    let engine = Engine::new(config(&dir), dir.join("evidence")).unwrap();
    // Every chart but the decode time's: how long a frame takes depends on what else the
    // machine running the tests does, which is not held steady the way a line's PC is.
    let mut rules = AlarmRules::default();
    rules.spc.metrics.retain(|m| m != "decode_time_ms");
    let mut monitor = Monitor::new(rules, engine.min_grades()).unwrap();
    let started = Instant::now();
    let mut alarms = Vec::new();
    let mut verdicts = 0;
    for chunk in (0..packs).collect::<Vec<_>>().chunks(256) {
        let graded: Vec<Verdict> = chunk
            .par_iter()
            .map(|&i| {
                let request = image_request("G1", &format!("g{i}"), png(&good_pack(i)));
                let mut verdict = engine.verify(&request, Instant::now()).unwrap().verdict;
                verdict.sequence = i as u64 + 1;
                verdict.stored_unix_ms = i as i64;
                verdict
            })
            .collect();
        for verdict in &graded {
            assert!(
                verdict.pass,
                "pack {}: {:?}",
                verdict.frame_id, verdict.reasons
            );
            alarms.extend(
                monitor
                    .observe(verdict, false)
                    .into_iter()
                    .filter_map(|c| match c {
                        verigrade::control::Change::Raise(alarm) => Some(alarm),
                        _ => None,
                    }),
            );
            verdicts += 1;
        }
    }
    eprintln!(
        "{verdicts} good packs graded in {:.1} s: {} alarms{}",
        started.elapsed().as_secs_f64(),
        alarms.len(),
        alarms
            .iter()
            .map(|a| format!(
                "\n  {} {}: {}",
                a.key.rule.name(),
                a.key.parameter,
                a.message
            ))
            .collect::<String>()
    );
    assert!(alarms.is_empty(), "a line in control raised alarms");
}
