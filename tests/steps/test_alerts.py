from mlpipeline.alerts import (
    LOG_TAIL_LINES,
    Alert,
    JsonlNotifier,
    Notifiers,
    SmtpNotifier,
    read_alerts,
)
from tests.smtp_sink import check_alert_mail, closed_port


def alert():
    return Alert("mock", "run-1", "train_model", "InjectedFault: boom", "/tmp/run.log")


def test_jsonl_notifier_appends_and_echoes(tmp_path, capsys):
    n = JsonlNotifier(tmp_path / "a" / "alerts.jsonl")
    n.notify(alert())
    n.notify(alert())
    rows = read_alerts(tmp_path / "a" / "alerts.jsonl")
    assert len(rows) == 2 and rows[0]["step"] == "train_model"
    assert "ALERT [mock] run run-1 failed at step train_model" in capsys.readouterr().err


def test_smtp_notifier_delivers_one_mail_with_the_log_tail(tmp_path, smtp_sink):
    log = tmp_path / "run.log"
    log.write_text("".join(f"line {i}\n" for i in range(500)))
    a = Alert("mock", "run-smtp", "train_model", "InjectedFault: boom\nsecond line", str(log))
    SmtpNotifier("127.0.0.1", smtp_sink.port, ("ops@example.org",)).notify(a)
    (mail,) = smtp_sink.messages_for("run-smtp")
    check_alert_mail(mail, engine="mock", run_id="run-smtp", step="train_model", error=a.error)
    (attachment,) = mail.iter_attachments()
    tail = attachment.get_content().splitlines()
    assert len(tail) == LOG_TAIL_LINES and tail[-1] == "line 499"


def test_a_log_the_notifier_cannot_read_is_named_not_attached(tmp_path, smtp_sink):
    a = Alert("prefect", "run-nolog", None, "boom", f"{tmp_path}/gone.log and http://ui/run")
    SmtpNotifier("127.0.0.1", smtp_sink.port, ("ops@example.org",)).notify(a)
    (mail,) = smtp_sink.messages_for("run-nolog")
    assert mail["Subject"] == "[prefect] pipeline run run-nolog failed at start"
    assert "log not readable here" in mail.get_body(("plain",)).get_content()
    assert list(mail.iter_attachments()) == []


def test_one_failing_channel_does_not_hide_the_others(tmp_path, capsys):
    log = tmp_path / "alerts.jsonl"
    down = SmtpNotifier("127.0.0.1", closed_port(), ("x@y",))  # nobody listens there
    Notifiers(down, JsonlNotifier(log)).notify(alert())
    assert len(read_alerts(log)) == 1
    assert "alert delivery failed: SmtpNotifier" in capsys.readouterr().err
